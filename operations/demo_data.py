"""The bundled demo data: 12,569 real films converted to IMDb's file format, with nothing to download.

Source: the PyPI package bokeh-sampledata 2024.2 (a project dependency), file
`bokeh_sampledata/_data/movies.db`, SQLite table `omdb` (OMDb data, CC BY-NC 4.0; the package is
BSD-3-Clause). `write_demo_imdb(dest)` writes `title.basics.tsv.gz` and `title.ratings.tsv.gz`
exactly as IMDb lays them out, plus NOTICE.txt naming the source; the bytes are the same on
every run (rows in tconst order, gzip without a timestamp).

How the fields map:
- imdbID -> tconst; Title -> primaryTitle and originalTitle; Year -> startYear; endYear `\\N`;
  titleType `movie`, isAdult 0 (OMDb's table is films only and has no adult flag).
- Runtime -> runtimeMinutes; OMDb's 0 means unknown there, so it is written `\\N`.
- Genre "Drama, History, Romance" -> "Drama,History,Romance". IMDb keeps at most 3 genres,
  alphabetical: we keep the FIRST THREE as OMDb lists them (OMDb's order is IMDb's display order,
  most relevant first; 13 films have more than 3), then sort them alphabetically. No genre: `\\N`.
- imdbRating, imdbVotes -> a title.ratings row (rating with one decimal); no row when either is
  missing, as IMDb publishes no row for an unrated title.
"""
from __future__ import annotations

import gzip
import io
import sqlite3
from importlib import resources
from pathlib import Path

SOURCE_PACKAGE = "bokeh-sampledata"
SOURCE_VERSION = "2024.2"
BASICS_NAME = "title.basics.tsv.gz"
RATINGS_NAME = "title.ratings.tsv.gz"
NOTICE_NAME = "NOTICE.txt"
MAX_GENRES = 3
NULL = "\\N"

def demo_uris(bucket: str) -> dict[str, str]:
    """The pipeline parameters `myflix run` points at the demo data, with their values: a plain
    run's choice, not a change from the defaults (the Studio does not list them as changed)."""
    from steps import schema
    raw = f"s3://{bucket}/{schema.RAW_PREFIX}"
    return {"basics_uri": f"{raw}/{schema.BASICS_FILE_STEM}.gz",
            "ratings_uri": f"{raw}/{schema.RATINGS_FILE_STEM}.gz"}


NOTICE = f"""MyFlix demo data: {BASICS_NAME} and {RATINGS_NAME}

Converted to IMDb's title.basics / title.ratings file format by operations/demo_data.py from the
OMDb table (12,569 films, 1902-2014) in the Python package {SOURCE_PACKAGE} {SOURCE_VERSION}
(file bokeh_sampledata/_data/movies.db, table omdb).

Data: OMDb (the Open Movie Database), licensed CC BY-NC 4.0 (attribution, non-commercial use).
Package: {SOURCE_PACKAGE}, Copyright (c) Bokeh Contributors, BSD-3-Clause licence.

Changes made: columns renamed to IMDb's; titleType set to "movie" and isAdult to 0 for every row;
a runtime of 0 written as \\N (unknown); genres limited to the first three OMDb lists, sorted
alphabetically, without spaces; no ratings row for a film whose rating or votes are missing.
These files are not IMDb's own data.
"""


class DemoDataError(RuntimeError):
    """The source package is missing or not the expected version."""


def source_db() -> Path:
    """Path of movies.db inside the installed bokeh-sampledata package."""
    try:
        from importlib.metadata import version
        found = version(SOURCE_PACKAGE)
    except Exception:  # noqa: BLE001 - any failure means "not installed"
        found = None
    if found != SOURCE_VERSION:
        raise DemoDataError(
            f"the demo data needs the package {SOURCE_PACKAGE}=={SOURCE_VERSION} (found "
            f"{found or 'none'}): run `pip install {SOURCE_PACKAGE}=={SOURCE_VERSION}` (make install does)")
    db = Path(str(resources.files("bokeh_sampledata") / "_data" / "movies.db"))
    if not db.is_file():
        raise DemoDataError(f"{db} is missing from {SOURCE_PACKAGE}: reinstall it "
                            f"(`pip install --force-reinstall {SOURCE_PACKAGE}=={SOURCE_VERSION}`)")
    return db


def _clean_text(text: str) -> str:
    # A tab or newline inside a field would break IMDb's unquoted format.
    return " ".join(str(text).replace("\t", " ").splitlines()).strip()


def imdb_genres(genre: str | None) -> str:
    """'Drama, History, Romance, War' -> 'Drama,History,Romance' (first three, then alphabetical)."""
    names = [g.strip() for g in (genre or "").split(",") if g.strip() and g.strip() != "N/A"]
    return ",".join(sorted(names[:MAX_GENRES])) or NULL


def demo_rows(db: Path | None = None) -> tuple[list[tuple], list[tuple]]:
    """(basics rows, ratings rows) as tuples of IMDb column strings, in tconst order."""
    con = sqlite3.connect(f"file:{db or source_db()}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT imdbID, Title, Year, Runtime, Genre, imdbRating, imdbVotes "
                           "FROM omdb ORDER BY imdbID").fetchall()
    finally:
        con.close()
    basics, ratings = [], []
    for imdb_id, title, year, runtime, genre, rating, votes in rows:
        title = _clean_text(title) or NULL
        year_s = str(int(year)) if year else NULL
        runtime_s = str(int(runtime)) if runtime else NULL     # 0: OMDb's "N/A"
        basics.append((imdb_id, "movie", title, title, "0", year_s, NULL, runtime_s,
                       imdb_genres(genre)))
        if rating is not None and votes is not None:
            ratings.append((imdb_id, f"{float(rating):.1f}", str(int(votes))))
    return basics, ratings


def write_tsv_gz(path: Path, header: tuple[str, ...], rows: list[tuple]) -> Path:
    """IMDb-style TSV, gzip with mtime 0 and no file name inside: the same rows give the same bytes."""
    text = io.StringIO()
    text.write("\t".join(header) + "\n")
    for row in rows:
        text.write("\t".join(row) + "\n")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            gz.write(text.getvalue().encode("utf-8"))
    tmp.replace(path)
    return path


def write_demo_imdb(dest_dir: Path) -> tuple[Path, Path]:
    """Writes title.basics.tsv.gz, title.ratings.tsv.gz and NOTICE.txt into dest_dir."""
    from steps import schema
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    basics, ratings = demo_rows()
    b = write_tsv_gz(dest_dir / BASICS_NAME, schema.BASICS_COLUMNS, basics)
    r = write_tsv_gz(dest_dir / RATINGS_NAME, schema.RATINGS_COLUMNS, ratings)
    (dest_dir / NOTICE_NAME).write_text(NOTICE)
    return b, r


if __name__ == "__main__":
    import sys
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    for p in write_demo_imdb(out):
        print(p)
