"""IMDb-format test data built from real movie tables, and a one-call preprocess for other steps' tests.

Plain functions (no pytest needed), for any test to import:
- `write_vega_imdb(dir)` -> (basics, ratings): the 3,201 real movies of
  tests/data/vega_movies.json.gz (a copy of ../shared/data/vega_movies.json: vega-datasets
  2.11.0, BSD-3-Clause, notice beside it) in IMDb's format, plus the rows listed in EXTRA_ROWS.
- `write_demo_imdb(dir)` -> (basics, ratings): the bundled demo data (operations/demo_data.py).
- `run_preprocess(tmp_dir, source="vega"|"demo", **params)` -> {"features", "catalog", "report",
  "raw"}: output folders of steps/preprocess.py's main(), called with explicit paths as the
  container contract says.
- `cached_preprocess(source)`: the same, run once per process into a temporary folder (read only!).

What the vega conversion does (the file has no IMDb ids, titleType or isAdult):
- tconst: synthetic ids `tt99<5 digits>` (row order), honest placeholders, not IMDb's ids.
- Title -> primaryTitle/originalTitle (a number title becomes text; a missing one `\\N`);
  "Release Date" "Jun 12 1998" -> startYear 1998 (the file's deliberate errors up to 2046 kept);
  "Running Time min" -> runtimeMinutes (62% null -> `\\N`); "Major Genre" mapped to IMDb names
  (GENRE_MAP); "IMDB Rating"/"IMDB Votes" -> a ratings row when both are present.
- EXTRA_ROWS, appended with ids `tt98<5 digits>`: non-movie rows, adult movies, movies with a
  dropped genre, and titles with `"` characters, so every rule and the no-quoting rule are hit.
"""
from __future__ import annotations

import atexit
import functools
import gzip
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from operations import demo_data  # noqa: E402
from steps import schema  # noqa: E402

# Copied in (with its licence notice) so that the suite needs nothing outside the repository
VEGA_JSON = REPO_ROOT / "tests" / "data" / "vega_movies.json.gz"
VEGA_NOTICE = ("Derived from vega-datasets 2.11.0 data/movies.json (BSD-3-Clause, Copyright (c) "
               "the Vega project authors); converted to IMDb's format by tests/imdb_fixtures.py "
               "with synthetic tconst ids. Not IMDb data.\n")
NULL = "\\N"

# vega's "Major Genre" -> IMDb genre names (one genre becomes one or two IMDb genres)
GENRE_MAP = {
    "Action": "Action", "Adventure": "Adventure", "Comedy": "Comedy", "Drama": "Drama",
    "Horror": "Horror", "Musical": "Musical", "Documentary": "Documentary", "Western": "Western",
    "Thriller/Suspense": "Thriller", "Romantic Comedy": "Comedy,Romance",
    "Black Comedy": "Comedy", "Concert/Performance": "Documentary,Music",
}

# (titleType, primaryTitle, isAdult, startYear, runtime, genres, rating, votes): every row would
# pass every later filter, so the rule named in the comment is the only one that removes it.
EXTRA_ROWS = (
    ("tvSeries", 'The "Wire"-like Series', "0", "2002", "60", "Crime,Drama", "8.0", "9000"),   # title_type
    ("tvEpisode", "Pilot", "0", "2003", "45", "Drama", "7.5", "800"),                           # title_type
    ("short", "A Short Film", "0", "2004", "12", "Comedy,Short", "7.0", "700"),                 # title_type
    ("video", '"Weird" Video Collection', "0", "2005", "90", "Comedy,Music", "6.5", "600"),     # title_type
    ("tvMovie", "A TV Movie", "0", "2006", "95", "Drama", "6.0", "1500"),                       # title_type
    ("movie", "Adult Movie One", "1", "2001", "90", "Drama", "6.0", "1000"),                    # not_adult
    ("movie", "Adult Movie Two", "1", "2002", "85", "Romance", "6.1", "1100"),                  # not_adult
    ("movie", "A Reality Movie", "0", "2003", "100", "Comedy,Reality-TV", "6.0", "900"),        # dropped_genres
    ("movie", "A News Feature", "0", "2004", "110", "Documentary,News", "7.0", "900"),          # dropped_genres
    ("movie", 'The "Quoted" Movie', "0", "2000", "100", "Comedy,Drama", "7.2", "5000"),         # kept
    ("movie", 'Say "Hello" to "Quotes', "0", "2001", "101", "Action", "6.8", "2500"),          # kept (odd quote)
    ("movie", '"', "0", "2002", "102", "Thriller", "6.6", "2200"),                              # kept (one-quote title)
)
EXTRA_KEPT_TITLES = ('The "Quoted" Movie', 'Say "Hello" to "Quotes', '"')
EXTRA_NON_MOVIES = 5
EXTRA_ADULT = 2
EXTRA_DROPPED_GENRE = 2


def _year(release) -> str:
    text = str(release or "").strip()
    return text[-4:] if len(text) >= 4 and text[-4:].isdigit() else NULL


def _text(value) -> str:
    if value is None:
        return NULL
    text = " ".join(str(value).replace("\t", " ").splitlines()).strip()
    return text or NULL


def vega_rows(path: Path = VEGA_JSON) -> tuple[list[tuple], list[tuple]]:
    """(basics rows, ratings rows): vega's movies in IMDb's columns, then EXTRA_ROWS."""
    movies = json.loads(gzip.decompress(Path(path).read_bytes()))
    basics, ratings = [], []
    for i, m in enumerate(movies):
        tconst = f"tt99{i:05d}"
        title = _text(m.get("Title"))
        runtime = m.get("Running Time min")
        genre = GENRE_MAP.get(m.get("Major Genre"), NULL) if m.get("Major Genre") else NULL
        basics.append((tconst, "movie", title, title, "0", _year(m.get("Release Date")), NULL,
                       NULL if runtime is None else str(int(runtime)), genre))
        rating, votes = m.get("IMDB Rating"), m.get("IMDB Votes")
        if rating is not None and votes is not None:
            ratings.append((tconst, f"{float(rating):.1f}", str(int(votes))))
    for j, (ttype, title, adult, year, runtime, genres, rating, votes) in enumerate(EXTRA_ROWS):
        tconst = f"tt98{j:05d}"
        basics.append((tconst, ttype, title, title, adult, year, NULL, runtime, genres))
        ratings.append((tconst, rating, votes))
    return basics, ratings


def write_vega_imdb(dest_dir: Path, gz: bool = True) -> tuple[Path, Path]:
    """Writes title.basics.tsv[.gz] and title.ratings.tsv[.gz] from vega_movies.json into dest_dir."""
    if not VEGA_JSON.is_file():
        raise FileNotFoundError(f"{VEGA_JSON} is missing: restore it from git (git checkout -- tests/data)")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    basics, ratings = vega_rows()
    suffix = ".gz" if gz else ""
    b = dest_dir / f"{schema.BASICS_FILE_STEM}{suffix}"
    r = dest_dir / f"{schema.RATINGS_FILE_STEM}{suffix}"
    if gz:
        demo_data.write_tsv_gz(b, schema.BASICS_COLUMNS, basics)
        demo_data.write_tsv_gz(r, schema.RATINGS_COLUMNS, ratings)
    else:
        for path, header, rows in ((b, schema.BASICS_COLUMNS, basics), (r, schema.RATINGS_COLUMNS, ratings)):
            path.write_text("".join("\t".join(row) + "\n" for row in [header, *rows]))
    (dest_dir / "NOTICE.txt").write_text(VEGA_NOTICE)
    return b, r


def write_demo_imdb(dest_dir: Path) -> tuple[Path, Path]:
    """The bundled demo data (12,569 OMDb films via bokeh-sampledata 2024.2) in IMDb's format."""
    return demo_data.write_demo_imdb(Path(dest_dir))


def write_source(dest_dir: Path, source: str) -> tuple[Path, Path]:
    if source == "vega":
        return write_vega_imdb(dest_dir)
    if source == "demo":
        return write_demo_imdb(dest_dir)
    raise ValueError(f"source must be 'vega' or 'demo', not {source!r}")


def run_preprocess(tmp_dir: Path, source: str = "vega", **params) -> dict[str, Path]:
    """Runs steps/preprocess.py main() on IMDb-format files built from `source`, with explicit paths.

    `params` are preprocess arguments by DEFAULTS name (e.g. min_votes=1000). Returns the folders:
    {"raw", "features" (features.parquet, features.json), "catalog" (catalog.parquet),
    "report" (quality.json, PNGs)}. Raises RuntimeError with the step's exit code if it fails.
    """
    from steps import preprocess
    tmp_dir = Path(tmp_dir)
    raw = tmp_dir / "raw"
    basics, ratings = write_source(raw, source)
    out = {"raw": raw, "features": tmp_dir / "features", "catalog": tmp_dir / "catalog",
           "report": tmp_dir / "report"}
    argv = ["--basics", str(basics), "--ratings", str(ratings),
            "--features-out", str(out["features"]), "--catalog-out", str(out["catalog"]),
            "--report-out", str(out["report"])]
    for name, value in params.items():
        if name not in schema.DEFAULTS:
            raise ValueError(f"unknown preprocess parameter {name!r}")
        argv += [f"--{name.replace('_', '-')}", str(value)]
    code = preprocess.main(argv)
    if code:
        raise RuntimeError(f"preprocess failed with exit code {code} on {source} data ({argv})")
    return out


@functools.lru_cache(maxsize=None)
def cached_preprocess(source: str = "vega") -> dict[str, Path]:
    """run_preprocess with default parameters, once per process; treat the outputs as read-only."""
    folder = Path(tempfile.mkdtemp(prefix=f"myflix-{source}-"))
    atexit.register(shutil.rmtree, folder, True)
    return run_preprocess(folder, source)
