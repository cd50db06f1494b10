"""Generates IMDb-format title.basics / title.ratings files of any size, for benchmarks only.

The shapes follow real IMDb data (../shared/data/README.md, "Shapes of real IMDb data", and the
tutorial's scaler statistics): most rows are not movies (tvEpisode dominates); among films about
25% have no runtime, 10% no genres and half no ratings row; 1-3 genres, alphabetical, with IMDb's
shares; runtime median 100 (IQR 91-113, a long tail, some 0); rating one decimal, mean 6.1
(sd 1.1), correlated (+0.25) with log10(votes) ~ N(1.9, 1.05) for films, N(1.6, 0.7) for the
rest, capped near 2.7 million; titles holding `"`
characters; and a few malformed lines of every kind steps/imdb.py reports. Nothing here is real
IMDb data.

Vectorised numpy + pyarrow, in chunks of a million rows, seeded: the same --seed and --rows give
the same bytes. `python -m benchmarks.generate_imdb --rows 12000000 --out benchmarks/out/imdb`.
"""
from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from steps import schema  # noqa: E402

CHUNK = 1_000_000
NULL = schema.IMDB_NULL

# Title types and their share of title.basics rows (late-2020s IMDb, rounded).
TITLE_TYPES = {"tvEpisode": 0.715, "short": 0.085, "movie": 0.063, "video": 0.027,
               "tvSeries": 0.024, "tvMovie": 0.013, "tvMiniSeries": 0.006, "tvSpecial": 0.005,
               "videoGame": 0.004, "tvShort": 0.0009, "tvPilot": 0.0001}
# Share of each type that has a ratings row (about half of the films; few episodes).
RATED_SHARE = {"movie": 0.5, "tvEpisode": 0.08, "short": 0.14, "video": 0.2, "tvSeries": 0.4,
               "tvMovie": 0.4, "tvMiniSeries": 0.4, "tvSpecial": 0.3, "videoGame": 0.4,
               "tvShort": 0.2, "tvPilot": 0.2}
# Genre shares among films (a film draws 1-3 distinct genres).
MOVIE_GENRES = {"Drama": 0.54, "Comedy": 0.33, "Action": 0.20, "Thriller": 0.18, "Crime": 0.17,
                "Romance": 0.16, "Horror": 0.14, "Adventure": 0.11, "Documentary": 0.09,
                "Mystery": 0.07, "Biography": 0.05, "Fantasy": 0.05, "Family": 0.045,
                "History": 0.04, "Music": 0.04, "Sci-Fi": 0.035, "Animation": 0.035, "War": 0.03,
                "Musical": 0.02, "Sport": 0.02, "Western": 0.018, "Film-Noir": 0.011,
                "Adult": 0.02, "Short": 0.003, "Reality-TV": 0.002, "News": 0.002,
                "Talk-Show": 0.001, "Game-Show": 0.0005}
TV_GENRES = {"Drama": 0.25, "Comedy": 0.25, "Reality-TV": 0.12, "Talk-Show": 0.1, "News": 0.08,
             "Documentary": 0.1, "Game-Show": 0.05, "Family": 0.05, "Animation": 0.06,
             "Crime": 0.05, "Adventure": 0.05, "Action": 0.04, "Romance": 0.04, "Music": 0.03,
             "Sport": 0.03, "Mystery": 0.02, "Fantasy": 0.02, "Sci-Fi": 0.02, "Horror": 0.02,
             "Thriller": 0.02, "History": 0.02, "Biography": 0.01, "War": 0.005, "Western": 0.005,
             "Adult": 0.01, "Musical": 0.005, "Short": 0.01, "Film-Noir": 0.0005}
# Malformed lines, per reason, per row (IMDb's own files have almost none; a few keep us honest).
BAD_RATE = 2e-6

_WORDS = ("Love Night Dark Last House Man Day Life Blood Girl Secret Dead Story Time City King "
          "World Home Red Black Lost Return Island Road Summer War Angel Heart Shadow Wild Fire "
          "River Moon Little Big Great Dream Journey Game Ghost Star Sea Song Boy Devil Death "
          "Christmas Family Killer Paradise Hotel Storm Queen Stranger Voice Edge Revenge").split()


def _title_pool(rng: np.random.Generator, size: int = 20_000) -> pa.Array:
    """Distinct-ish titles of 1-4 words; about 1 in 400 holds `"` characters, as real titles do."""
    words = np.array(_WORDS, dtype=object)
    n_words = rng.integers(1, 5, size)
    titles = []
    picks = rng.integers(0, len(words), (size, 4))
    quoted = rng.random(size) < 0.0025
    for i in range(size):
        t = " ".join(words[picks[i, :n_words[i]]])
        if i % 3 == 0:
            t = "The " + t
        if quoted[i]:
            t = f'"{t}"' if i % 2 else f'{t} "Part {i % 7 + 2}"'
        titles.append(t)
    return pa.array(titles, pa.string())


def _genre_strings(rng: np.random.Generator, n: int, shares: dict[str, float],
                   null_share: float) -> pa.Array:
    """Each genre independently with its share; at most 3 kept, alphabetical, comma-joined.

    A title with none (about e^-(sum of shares): ~10% of films) and `null_share` more are `\\N`.
    Above 3, the kept ones are those drawn "most strongly" (smallest u/share), so no genre is
    favoured beyond its share.
    """
    names = sorted(shares)
    share = np.array([shares[g] for g in names], dtype=np.float32)
    u = rng.random((n, len(names)), dtype=np.float32)
    score = np.where(u < share, u / share, np.inf).astype(np.float32)
    top = np.argpartition(score, 3, axis=1)[:, :3]
    picked = np.take_along_axis(score, top, axis=1)
    sentinel = len(names)
    top = np.where(np.isfinite(picked), top, sentinel)
    top.sort(axis=1)                                  # names are sorted: indices sort alphabetically
    return _join_genres(rng, names, top, null_share)


def _genre_draws(rng: np.random.Generator, n: int, weights: dict[str, float],
                 null_share: float) -> pa.Array:
    """Cheaper, rougher genres for TV rows (most of the file): 1-3 weighted draws, deduplicated."""
    names = sorted(weights)
    p = np.array([weights[g] for g in names])
    draws = rng.choice(len(names), size=(n, 3), p=p / p.sum())
    k = rng.choice([1, 2, 3], size=n, p=[0.4, 0.35, 0.25])
    sentinel = len(names)
    draws = np.where(np.arange(3)[None, :] < k[:, None], draws, sentinel)
    draws.sort(axis=1)
    draws[:, 1:][draws[:, 1:] == draws[:, :-1]] = sentinel
    draws.sort(axis=1)
    return _join_genres(rng, names, draws, null_share)


def _join_genres(rng: np.random.Generator, names: list[str], top: np.ndarray,
                 null_share: float) -> pa.Array:
    sentinel = len(names)
    table = pa.array(names + [None], pa.string())
    cols = [table.take(pa.array(top[:, j])) for j in range(3)]
    # (binary_join_element_wise's null_handling="skip" drops rows in pyarrow 25: build per count)
    k = (top != sentinel).sum(axis=1)
    two = pc.binary_join_element_wise(cols[0], cols[1], ",")
    three = pc.binary_join_element_wise(cols[0], cols[1], cols[2], ",")
    joined = pc.if_else(pa.array(k == 3), three, pc.if_else(pa.array(k == 2), two, cols[0]))
    missing = (k == 0) | (rng.random(len(top)) < null_share)
    return pc.if_else(pa.array(missing), pa.scalar(NULL), joined)


def _ints_or_null(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    text = pc.cast(pa.array(values.astype(np.int64)), pa.string())
    return pc.if_else(pa.array(missing), pa.scalar(NULL), text)


def _join_lines(columns: list[pa.Array]) -> bytes:
    """Rows -> IMDb TSV text (no quoting at all: values are written exactly as they are)."""
    lines = pc.binary_join_element_wise(*columns, "\t")
    lines = pc.binary_join_element_wise(lines, pa.scalar("\n"), "")
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset: lines.offset + len(lines) + 1]
    return lines.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]


def generate_chunk(rng: np.random.Generator, start: int, n: int, titles: pa.Array
                   ) -> tuple[bytes, bytes, dict]:
    """(basics text, ratings text, counts) for rows start..start+n-1 (tconst = start + row + 1)."""
    types = np.array(list(TITLE_TYPES))
    type_p = np.array(list(TITLE_TYPES.values()))
    type_idx = rng.choice(len(types), size=n, p=type_p / type_p.sum())
    is_movie = types[type_idx] == "movie"
    is_tvish = np.isin(types[type_idx], ["tvEpisode", "tvSeries", "tvMiniSeries", "tvSpecial"])

    ids = np.arange(start + 1, start + n + 1, dtype=np.int64)
    tconst = pc.binary_join_element_wise(
        "tt", pc.utf8_lpad(pc.cast(pa.array(ids), pa.string()), 7, "0"), "")
    ttype = pa.array(types).take(pa.array(type_idx))
    title = titles.take(pa.array(rng.integers(0, len(titles), n)))
    adult = np.where(is_movie, rng.random(n) < 0.02, rng.random(n) < 0.002).astype(np.int8)
    adult_s = pc.cast(pa.array(adult), pa.string())

    # startYear: mostly recent, a long tail back to 1894, a few announced future titles.
    year = 2025 - np.floor(rng.exponential(np.where(is_movie, 32.0, 22.0)))
    year = np.where(rng.random(n) < 0.005, rng.integers(2026, 2032, n), year)
    year = np.clip(year, 1894, 2031)
    year_missing = rng.random(n) < np.where(is_movie, 0.08, 0.12)
    end_year = np.where(types[type_idx] == "tvSeries", year + rng.integers(0, 12, n), 0)
    end_missing = (end_year == 0) | (rng.random(n) < 0.5)

    # runtime: films log-normal around 100 with a heavier tail; episodes and shorts shorter.
    body = np.exp(rng.normal(np.log(100), 0.16, n))
    tail = np.exp(rng.normal(np.log(110), 0.45, n))
    film_rt = np.where(rng.random(n) < 0.06, tail, body)
    film_rt = np.where(rng.random(n) < 0.002, 0, film_rt)
    film_rt = np.where(rng.random(n) < 0.0002, rng.integers(300, 6000, n), film_rt)
    other_rt = np.exp(rng.normal(np.log(np.where(is_tvish, 30, 12)), 0.5, n))
    runtime = np.round(np.where(is_movie, film_rt, other_rt))
    runtime_missing = rng.random(n) < np.where(is_movie, 0.25, 0.6)

    film_rows, tv_rows = np.flatnonzero(~is_tvish), np.flatnonzero(is_tvish)
    both = pa.concat_arrays([_genre_strings(rng, film_rows.size, MOVIE_GENRES, 0.04),
                             _genre_draws(rng, tv_rows.size, TV_GENRES, 0.2)])
    position = np.empty(n, dtype=np.int64)
    position[film_rows] = np.arange(film_rows.size)
    position[tv_rows] = film_rows.size + np.arange(tv_rows.size)
    genres = both.take(pa.array(position))

    columns = {
        "tconst": tconst, "titleType": ttype, "primaryTitle": title, "originalTitle": title,
        "isAdult": adult_s, "startYear": _ints_or_null(year, year_missing),
        "endYear": _ints_or_null(end_year, end_missing),
        "runtimeMinutes": _ints_or_null(runtime, runtime_missing), "genres": genres,
    }

    # A few malformed lines of each kind (the reader must count them with their line numbers).
    bad = {}
    for reason, column, value in (("bad_start_year", "startYear", "19x5"),
                                  ("bad_runtime", "runtimeMinutes", "90 min"),
                                  ("bad_is_adult", "isAdult", "2"),
                                  ("unknown_title_type", "titleType", "movei"),
                                  ("field_count", "genres", "Drama\tExtra")):
        where = np.flatnonzero(rng.random(n) < BAD_RATE)
        bad[reason] = int(where.size)
        if where.size:
            mask = np.zeros(n, dtype=bool)
            mask[where] = True
            columns[column] = pc.if_else(pa.array(mask), pa.scalar(value), columns[column])
    basics = _join_lines([columns[c] for c in schema.BASICS_COLUMNS])

    # ratings: a row for a share of each type; votes log-normal, rating correlated with them.
    rated_p = np.array([RATED_SHARE[t] for t in types])[type_idx]
    rated = rng.random(n) < rated_p
    m = int(rated.sum())
    # Films draw more votes, with a heavier tail (a few reach millions), than episodes do.
    film = is_movie[rated]
    mu, sd = np.where(film, 1.9, 1.6), np.where(film, 1.05, 0.7)
    log_votes = rng.normal(mu, sd)
    votes = np.clip(np.round(10 ** log_votes), 5, 2_700_000).astype(np.int64)
    z = (log_votes - mu) / sd
    rating = np.clip(np.round(6.1 + 1.1 * (0.25 * z + np.sqrt(1 - 0.25 ** 2) * rng.normal(0, 1, m)), 1),
                     1.0, 10.0)
    rated_idx = pa.array(np.flatnonzero(rated))
    rating_s = pc.utf8_slice_codeunits(pc.cast(pa.array(rating + 1e-9), pa.string()), 0, 3)
    rating_s = pc.if_else(pc.equal(rating_s, "10."), pa.scalar("10.0"), rating_s)
    ratings = _join_lines([tconst.take(rated_idx), rating_s,
                           pc.cast(pa.array(votes), pa.string())])
    counts = {"rows": n, "movies": int(is_movie.sum()), "ratings_rows": m, **bad}
    return basics, ratings, counts


def generate(out_dir: Path, rows: int, seed: int = 7, gzip_level: int = 1,
             progress=print) -> dict:
    """Writes title.basics.tsv.gz and title.ratings.tsv.gz with `rows` basics rows into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pool_rng = np.random.default_rng([seed, 0])
    titles = _title_pool(pool_rng)
    basics_path = out_dir / f"{schema.BASICS_FILE_STEM}.gz"
    ratings_path = out_dir / f"{schema.RATINGS_FILE_STEM}.gz"
    totals: dict[str, int] = {}
    with _GzipWriter(basics_path, gzip_level) as bw, _GzipWriter(ratings_path, gzip_level) as rw:
        bw.write(("\t".join(schema.BASICS_COLUMNS) + "\n").encode())
        rw.write(("\t".join(schema.RATINGS_COLUMNS) + "\n").encode())
        for chunk_no, start in enumerate(range(0, rows, CHUNK)):
            n = min(CHUNK, rows - start)
            rng = np.random.default_rng([seed, chunk_no + 1])
            basics, ratings, counts = generate_chunk(rng, start, n, titles)
            bw.write(basics)
            rw.write(ratings)
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            if progress and (chunk_no % 2 == 1 or start + n == rows):
                progress(f"  generated {start + n:,} / {rows:,} rows "
                         f"({time.perf_counter() - started:.1f} s)")
    totals["seconds"] = round(time.perf_counter() - started, 2)
    return {"basics": basics_path, "ratings": ratings_path, **totals}


class _GzipWriter:
    """gzip with mtime 0 and no name (same bytes every run), via zlib at a fast level."""

    def __init__(self, path: Path, level: int) -> None:
        self._fh = open(path, "wb")
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)   # 31: gzip header, mtime 0

    def write(self, data: bytes) -> None:
        self._fh.write(self._z.compress(data))

    def __enter__(self) -> "_GzipWriter":
        return self

    def __exit__(self, *exc) -> None:
        self._fh.write(self._z.flush())
        self._fh.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generate_imdb", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=12_000_000, help="title.basics rows (IMDb: ~12M)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "out" / "imdb")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--gzip-level", type=int, default=1, choices=range(1, 10), metavar="1-9")
    args = ap.parse_args(argv)
    if args.rows <= 0:
        ap.error("--rows must be positive")
    print(f"generating {args.rows:,} title.basics rows into {args.out} (seed {args.seed})", flush=True)
    result = generate(args.out, args.rows, args.seed, args.gzip_level,
                      progress=lambda m: print(m, flush=True))
    malformed = sum(result[k] for k in ("bad_start_year", "bad_runtime", "bad_is_adult", "unknown_title_type",
                                        "field_count"))
    print(f"{result['basics']} ({result['basics'].stat().st_size / 1e6:.1f} MB), "
          f"{result['ratings']} ({result['ratings'].stat().st_size / 1e6:.1f} MB): "
          f"{result['movies']:,} movies, {result['ratings_rows']:,} ratings rows, "
          f"{malformed} "
          f"malformed lines, {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
