"""Preprocess step (processing container): IMDb TSVs in; features, catalog and quality report out.

`main()` only reads arguments and container paths; the reading is steps/imdb.py, the rules are
steps/cleaning.py (pure). Outputs (docs/CONTRACTS.md): features.parquet (the training set) +
catalog_features.parquet (every valid film) + features.json, catalog.parquet (every valid film,
with whether it is in the training set and which fence kept it out), quality.json (with the
data of year_boxplot.png and runtime_bins.png, which reports/ draws outside the container:
the image has no matplotlib). The same input gives byte-identical files. The step fails only when
malformed lines exceed --max-bad-fraction, or when no movie is left after the filters; quality.json is
written first in both cases, so the reason can be read.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from steps import cleaning, imdb, schema  # noqa: E402

IN = f"{schema.PROCESSING_ROOT}/input"
OUT = f"{schema.PROCESSING_ROOT}/output"

FEATURES_SCHEMA_HEAD = [(schema.ID_COLUMN, pa.string())]
CATALOG_SCHEMA = pa.schema([("tconst", pa.string()), ("title", pa.string()), ("year", pa.int32()),
                            ("runtime", pa.int32()), ("genres", pa.string()),
                            ("rating", pa.float64()), ("votes", pa.int64()),
                            ("in_training", pa.bool_()), ("outside_training", pa.string())])


class PreprocessError(Exception):
    """The step cannot produce honest outputs; the message says what was wrong and what to do."""


def _int(text: str) -> int:
    # Pipeline parameters arrive as strings; "500.0" is as good as "500".
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = schema.DEFAULTS
    ap = argparse.ArgumentParser(prog="preprocess.py", description=__doc__.splitlines()[0])
    ap.add_argument("--basics", default=f"{IN}/basics",
                    help="title.basics.tsv[.gz], or the folder holding it")
    ap.add_argument("--ratings", default=f"{IN}/ratings",
                    help="title.ratings.tsv[.gz], or the folder holding it")
    ap.add_argument("--features-out", default=f"{OUT}/features")
    ap.add_argument("--catalog-out", default=f"{OUT}/catalog")
    ap.add_argument("--report-out", default=f"{OUT}/report")
    ap.add_argument("--title-type", default=d["title_type"])
    ap.add_argument("--year-iqr-multiplier", type=float, default=d["year_iqr_multiplier"],
                    help="IQR fence on startYear; 0 turns it off")
    ap.add_argument("--min-year", type=_int, default=d["min_year"],
                    help="> 0: keep startYear >= this instead of the IQR fence")
    ap.add_argument("--runtime-cap", type=_int, default=d["runtime_cap"],
                    help="drop movies longer than this (minutes); 0 turns it off")
    ap.add_argument("--runtime-bin-width", type=_int, default=d["runtime_bin_width"])
    ap.add_argument("--min-rating", type=float, default=d["min_rating"])
    ap.add_argument("--min-votes", type=_int, default=d["min_votes"])
    ap.add_argument("--dropped-genres", default=d["dropped_genres"],
                    help="comma-separated IMDb genres; a movie with one of them is dropped")
    ap.add_argument("--max-bad-fraction", type=float, default=d["max_bad_fraction"],
                    help="fail when more than this share of a file's lines is malformed")
    # bounds on the inputs, enforced while they stream (steps/imdb.py Limits)
    ap.add_argument("--max-line-bytes", type=_int, default=d["max_line_bytes"])
    ap.add_argument("--max-field-chars", type=_int, default=d["max_field_chars"])
    ap.add_argument("--max-rows", type=_int, default=d["max_rows"], help="lines per input file")
    ap.add_argument("--max-input-mb", type=_int, default=d["max_input_mb"], help="decompressed MiB per file")
    ap.add_argument("--max-memory-mb", type=_int, default=d["max_memory_mb"], help="peak memory, MiB")
    return ap.parse_args(argv)


def _say(message: str) -> None:
    print(message, flush=True)


def _bad_lines_problem(read: imdb.ReadReport, limit: float) -> str | None:
    if read.bad_fraction <= limit:
        return None
    reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(read.bad_by_reason.items()))
    lines = sorted(s["line"] for s in read.bad_samples)[:8]
    return (f"{read.file}: {read.bad_lines:,} of {read.lines:,} lines are malformed "
            f"({read.bad_fraction:.2%}; {reasons}; for example lines {', '.join(map(str, lines))}), "
            f"above --max-bad-fraction {limit:g}. Check that it is IMDb's file, whole and unmodified "
            f"(a truncated download, or a file re-saved by a spreadsheet, does this); quality.json "
            f"lists the lines and reasons. Raise --max-bad-fraction to go on anyway.")


def write_parquet(frame: pd.DataFrame, schema_: pa.Schema, path: Path) -> Path:
    """Parquet with a fixed schema and no pandas or time metadata: same frame, same bytes."""
    table = pa.Table.from_pandas(frame, schema=schema_, preserve_index=False)
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, compression="snappy", write_statistics=True)
    return path


def _write_json(obj: dict, path: Path) -> Path:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def run(basics: Path, ratings: Path, features_out: Path, catalog_out: Path, report_out: Path,
        params: dict, max_bad_fraction: float, limits: imdb.Limits | None = None) -> dict:
    """Reads, cleans and writes every output; returns the quality report. Raises PreprocessError."""
    limits = limits or imdb.Limits(max_bad_fraction=max_bad_fraction)
    if params["title_type"] not in imdb.KNOWN_TITLE_TYPES:
        raise PreprocessError(f"--title-type {params['title_type']!r} is not a title type IMDb uses; "
                              f"use one of {', '.join(imdb.KNOWN_TITLE_TYPES)}")
    for d in (features_out, catalog_out, report_out):
        d.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        basics_file = imdb.find_input(basics, schema.BASICS_FILE_STEM)
        ratings_file = imdb.find_input(ratings, schema.RATINGS_FILE_STEM)
        _say(f"preprocess: reading {basics_file.name} (keeping titleType {params['title_type']!r})")
        movies, basics_read = imdb.read_basics(basics_file, title_type=params["title_type"],
                                               progress=_say, limits=limits)
        _say(f"  {basics_read.lines:,} lines, {basics_read.rows_kept:,} {params['title_type']} rows, "
             f"{basics_read.bad_lines:,} malformed")
        _say(f"preprocess: reading {ratings_file.name}")
        ratings_frame, ratings_read = imdb.read_ratings(ratings_file, progress=_say, limits=limits)
        _say(f"  {ratings_read.lines:,} lines, {ratings_read.bad_lines:,} malformed")
    except imdb.ImdbLimitError as err:
        # a bound stopped the read: the report says which, so the reason can be read
        _write_json({"failed": str(err), "limits": limits.to_dict(), "max_bad_fraction": max_bad_fraction},
                    report_out / schema.QUALITY_JSON)
        raise PreprocessError(str(err)) from None
    except imdb.ImdbFormatError as err:
        raise PreprocessError(str(err)) from None

    report: dict = {"inputs": {"basics": basics_read.to_dict(), "ratings": ratings_read.to_dict()},
                    "max_bad_fraction": max_bad_fraction, "limits": limits.to_dict()}
    problems = [p for p in (_bad_lines_problem(basics_read, max_bad_fraction),
                            _bad_lines_problem(ratings_read, max_bad_fraction)) if p]
    if problems:
        report["failed"] = " ".join(problems)
        _write_json(report, report_out / schema.QUALITY_JSON)
        raise PreprocessError(" ".join(problems))

    try:
        result = cleaning.clean(movies, ratings_frame, params,
                                rows_before_title_filter=basics_read.rows_ok)
    except cleaning.CleaningError as err:
        raise PreprocessError(f"bad parameter: {err}") from None
    report.update(result.report)
    for rule in result.report["rules"]:
        _say(f"  {rule['rule']:<18} {rule['rows_in']:>10,} -> {rule['rows_out']:>10,}  {rule['description']}")
    training = result.report["training"]
    by_rule = ", ".join(f"{n:,} by {r}" for r, n in training["outside_by_rule"].items() if n) or "none"
    _say(f"  catalogue {training['catalogue']:,} films (all published); "
         f"training set {training['training']:,}; "
         f"outside the training fences {training['outside']:,} ({by_rule})")

    if len(result.features) == 0:
        emptied = next((r for r in result.report["rules"] if r["rows_out"] == 0), None)
        where = f"rule {emptied['rule']!r} ({emptied['description']}) left none" if emptied else ""
        report["failed"] = f"no movies left after the filters: {where}"
        _write_json(report, report_out / schema.QUALITY_JSON)
        raise PreprocessError(
            f"no movies left after the filters: {where}. quality.json has the rows in and out of every "
            f"rule: loosen that rule's parameter, or check that the input holds "
            f"{params['title_type']!r} titles with ratings.")

    write_parquet(result.features, pa.schema(
        FEATURES_SCHEMA_HEAD + [(c, pa.float64()) for c in result.feature_order["features"]]),
        features_out / schema.FEATURES_PARQUET)
    write_parquet(result.catalog_features, pa.schema(
        FEATURES_SCHEMA_HEAD + [(c, pa.float64()) for c in result.feature_order["features"]]),
        features_out / schema.CATALOG_FEATURES_PARQUET)
    _write_json(result.feature_order, features_out / schema.FEATURES_JSON)
    write_parquet(result.catalog, CATALOG_SCHEMA, catalog_out / schema.CATALOG_PARQUET)
    # The box plot is drawn outside the container (reports/): it needs the fence's input.
    report["year_fence"]["distribution"] = year_distribution(result.years_at_fence)
    _write_json(report, report_out / schema.QUALITY_JSON)
    _say(f"preprocess: {len(result.catalog_features):,} catalogue movies, {len(result.features):,} in "
         f"training, x {len(result.feature_order['features'])} features "
         f"in {time.perf_counter() - started:.1f} s")
    _say(f"  {features_out / schema.FEATURES_PARQUET}\n  {catalog_out / schema.CATALOG_PARQUET}\n"
         f"  {report_out / schema.QUALITY_JSON}")
    return report


def year_distribution(years: np.ndarray) -> dict:
    """The fence rule's input as {years, counts}: a few hundred numbers that rebuild every box plot."""
    values, counts = np.unique(np.asarray(years, dtype=float), return_counts=True)
    return {"years": [int(v) if float(v).is_integer() else float(v) for v in values],
            "counts": [int(c) for c in counts]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = {k: getattr(args, k) for k in ("title_type", "year_iqr_multiplier", "min_year",
                                            "runtime_cap", "runtime_bin_width", "min_rating",
                                            "min_votes", "dropped_genres")}
    limits = imdb.Limits(max_line_bytes=args.max_line_bytes, max_field_chars=args.max_field_chars,
                         max_rows=args.max_rows, max_input_mb=args.max_input_mb,
                         max_memory_mb=args.max_memory_mb, max_bad_fraction=args.max_bad_fraction)
    try:
        run(Path(args.basics), Path(args.ratings), Path(args.features_out), Path(args.catalog_out),
            Path(args.report_out), params, args.max_bad_fraction, limits)
    except PreprocessError as err:
        print(f"preprocess: ERROR: {err}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
