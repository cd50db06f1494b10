"""Public ratings files -> the interactions format (docs/CONTRACTS.md "Interactions file format").

What `myflix interactions import` calls; no AWS. Two sources, both read in chunks (a 25M-row
MovieLens file never sits in memory whole), every malformed row counted by reason:
- MovieLens (GroupLens; research use only, never redistributed: convert your own download):
  `ratings.csv` (`userId,movieId,rating,timestamp`, 0.5-5 stars) joined to `links.csv`
  (`movieId,imdbId,tmdbId`): tconst = `tt` + imdbId zero-padded to 7 digits, value = stars * 2
  (IMDb's 0-10 scale); a movie with no IMDb link is counted `no_imdb_link`.
- MovieTweetings (MIT): `ratings.dat`, `user_id::movie_id::rating::rating_timestamp`, IMDb ids and
  0-10 ratings already.
Every row becomes a `rating` event of viewer `ml-<userId>` / `mt-<user_id>` with event_id
`<viewer>-<movie>` (one rating per viewer and film in both datasets; a repeat is a duplicate).
"""
from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from steps import interactions

CHUNK_ROWS = 1_000_000
OUTPUT_COLUMNS = ["viewer_id", "tconst", "event", "value", "timestamp", "event_id"]
SOURCES = ("movielens", "movietweetings")


class ImportFailed(ValueError):
    """The input cannot be converted at all (missing file, wrong header); the message says what to do."""


@dataclass
class ImportReport:
    source: str
    rows_read: int = 0
    rows_written: int = 0
    malformed: Counter = field(default_factory=Counter)
    viewers: set = field(default_factory=set)
    films: set = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"source": self.source, "rows_read": self.rows_read, "rows_written": self.rows_written,
                "malformed": {k: v for k, v in sorted(self.malformed.items()) if v},
                "malformed_total": int(sum(self.malformed.values())),
                "viewers": len(self.viewers), "films": len(self.films)}


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    raw = gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") if path.suffix == ".gz" \
        else open(path, encoding="utf-8", errors="replace", newline="")
    return raw


def _line_chunks(path: Path, skip_header: str | None) -> Iterator[pd.Series]:
    """The file's lines in chunks (a Series of str each), its header checked and dropped."""
    with _open_text(path) as handle:
        if skip_header is not None:
            header = handle.readline().strip().lstrip("\ufeff")
            if header.lower() != skip_header.lower():
                raise ImportFailed(f"{path}: the header is {header[:80]!r}, expected {skip_header!r}")
        while True:
            lines = [line.rstrip("\r\n") for _, line in zip(range(CHUNK_ROWS), handle)]
            if not lines:
                return
            yield pd.Series([line for line in lines if line.strip()], dtype=object)


def _split(lines: pd.Series, sep: str, n_fields: int, report: ImportReport) -> pd.DataFrame:
    parts = lines.str.split(sep, regex=False)
    good = (parts.str.len() == n_fields).to_numpy(dtype=bool)
    report.malformed["fields"] += int((~good).sum())
    return pd.DataFrame(parts[good].tolist(), columns=range(n_fields)) if good.any() else \
        pd.DataFrame(columns=range(n_fields))


def _ids(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(digits-only id strings, ok mask)."""
    stripped = text.astype(str).str.strip()
    ok = stripped.str.fullmatch(r"\d{1,12}").fillna(False).to_numpy(dtype=bool)
    return stripped.to_numpy(dtype=object), ok


def _convert_chunk(rows: pd.DataFrame, prefix: str, films: Callable[[np.ndarray], np.ndarray],
                   scale: float, value_range: tuple[float, float], report: ImportReport) -> pd.DataFrame:
    """Columns 0..3 = user, movie, rating, timestamp -> rating events; bad rows counted and dropped."""
    user, user_ok = _ids(rows[0])
    movie, movie_ok = _ids(rows[1])
    rating = pd.to_numeric(rows[2].astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)
    stamp = pd.to_numeric(rows[3].astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)
    ok = np.ones(len(rows), dtype=bool)
    low, high = value_range
    with np.errstate(invalid="ignore"):
        rating_ok = np.isfinite(rating) & (rating >= low) & (rating <= high)
        stamp_ok = np.isfinite(stamp) & (stamp >= 0) & (stamp <= interactions.MAX_EPOCH)
    checks = (("user", user_ok), ("movie", movie_ok), ("rating", rating_ok), ("timestamp", stamp_ok))
    for reason, good in checks:
        report.malformed[reason] += int((ok & ~good).sum())
        ok &= good
    tconst = np.full(len(rows), None, dtype=object)
    tconst[ok] = films(movie[ok])
    linked = np.array([t is not None for t in tconst], dtype=bool)
    report.malformed["no_imdb_link"] += int((ok & ~linked).sum())
    ok &= linked
    viewer = np.char.add(prefix, user[ok].astype(str)).astype(object)
    out = pd.DataFrame({"viewer_id": viewer, "tconst": tconst[ok], "event": "rating",
                        "value": np.round(rating[ok] * scale, 2), "timestamp": stamp[ok].astype(np.int64),
                        "event_id": np.char.add(np.char.add(viewer.astype(str), "-"),
                                                movie[ok].astype(str)).astype(object)})
    report.viewers.update(out["viewer_id"].unique().tolist())
    report.films.update(out["tconst"].unique().tolist())
    return out


def movielens_links(links: Path) -> dict[str, str]:
    """movieId -> tconst from MovieLens's links.csv (rows without an imdbId are left out)."""
    table = pd.read_csv(links, dtype=str, keep_default_na=False)
    if not {"movieId", "imdbId"} <= set(table.columns):
        raise ImportFailed(f"{links}: expected the columns movieId,imdbId,tmdbId (MovieLens's links.csv)")
    ok = table["imdbId"].str.fullmatch(r"\d{1,9}") & table["movieId"].str.fullmatch(r"\d{1,12}")
    table = table[ok]
    return dict(zip(table["movieId"], "tt" + table["imdbId"].str.zfill(7)))


def movielens_events(ratings: Path, links: Path, report: ImportReport) -> Iterator[pd.DataFrame]:
    mapping = movielens_links(links)
    lookup = np.vectorize(lambda m: mapping.get(m), otypes=[object])
    for lines in _line_chunks(ratings, "userId,movieId,rating,timestamp"):
        report.rows_read += len(lines)
        rows = _split(lines, ",", 4, report)
        if len(rows):
            yield _convert_chunk(rows, "ml-", lambda m: lookup(m) if len(m) else m, 2.0, (0.5, 5.0), report)


def movietweetings_events(ratings: Path, report: ImportReport) -> Iterator[pd.DataFrame]:
    def tconst(movie: np.ndarray) -> np.ndarray:
        return np.array(["tt" + m.zfill(7) if len(m) <= 9 else None for m in movie], dtype=object)

    for lines in _line_chunks(ratings, None):
        report.rows_read += len(lines)
        rows = _split(lines, "::", 4, report)
        if len(rows):
            yield _convert_chunk(rows, "mt-", tconst, 1.0, (0.0, 10.0), report)


def write_events(chunks: Iterator[pd.DataFrame], output: Path, report: ImportReport) -> Path:
    """Write the converted events as CSV (.csv, .csv.gz) or parquet (.parquet), via a temp name."""
    name = output.name
    if not name.endswith((".csv", ".csv.gz", ".parquet")):
        raise ImportFailed(f"{output}: the output must end in .csv, .csv.gz or .parquet")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{name}.tmp")
    try:
        if name.endswith(".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq
            schema = pa.schema([("viewer_id", pa.string()), ("tconst", pa.string()), ("event", pa.string()),
                                ("value", pa.float64()), ("timestamp", pa.int64()),
                                ("event_id", pa.string())])
            with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
                for chunk in chunks:
                    writer.write_table(pa.Table.from_pandas(chunk[OUTPUT_COLUMNS], schema=schema,
                                                            preserve_index=False))
                    report.rows_written += len(chunk)
        else:
            opener = (lambda p: gzip.open(p, "wt", encoding="utf-8", newline="")) if name.endswith(".gz") \
                else (lambda p: open(p, "w", encoding="utf-8", newline=""))
            with opener(tmp) as handle:
                handle.write(",".join(OUTPUT_COLUMNS) + "\n")
                for chunk in chunks:
                    chunk[OUTPUT_COLUMNS].to_csv(handle, header=False, index=False, quoting=csv.QUOTE_MINIMAL,
                                                 lineterminator="\n")
                    report.rows_written += len(chunk)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


def import_file(source: str, paths: list[Path], output: Path) -> ImportReport:
    """Convert `paths` of `source` (movielens: ratings.csv + links.csv, or the folder holding them;
    movietweetings: ratings.dat) to `output`; the report counts what was read, written and refused."""
    report = ImportReport(source)
    for path in paths:
        if not path.exists():
            raise ImportFailed(f"{path}: no such file or folder")
    if source == "movielens":
        if len(paths) == 1 and paths[0].is_dir():
            paths = [paths[0] / "ratings.csv", paths[0] / "links.csv"]
        if len(paths) != 2:
            raise ImportFailed("movielens takes its folder, or ratings.csv and links.csv")
        ratings, links = paths
        for path in paths:
            if not path.is_file():
                raise ImportFailed(f"{path}: no such file (MovieLens ships ratings.csv and links.csv)")
        chunks = movielens_events(ratings, links, report)
    elif source == "movietweetings":
        if len(paths) == 1 and paths[0].is_dir():
            paths = [paths[0] / "ratings.dat"]
        if len(paths) != 1 or not paths[0].is_file():
            raise ImportFailed(f"movietweetings takes its ratings.dat (or the folder holding it): {paths}")
        chunks = movietweetings_events(paths[0], report)
    else:
        raise ImportFailed(f"unknown source {source!r}: one of {', '.join(SOURCES)}")
    write_events(chunks, output, report)
    return report
