"""PrepareInteractions (SageMaker processing step): viewer events in; weighted, split interactions out.

Sources, never mixed with made-up data (docs/steps.md "Interactions"):
- the collected events: JSON lines under `--events-uri` (s3://<bucket>/events/dt=.../*.jsonl[.gz],
  written by the API or Firehose), minus every viewer with a forget record under
  `--forgotten-uri` (events/forgotten/<sha256>.json): late copies of a forgotten viewer's events
  and their rows in an imported file are dropped here;
- `--interactions-uri`: a CSV (.csv, .csv.gz) or parquet file, or a prefix of them, in the format;
- only when NEITHER holds anything and `--simulated-viewers` > 0: simulated viewers
  (steps/simulated_viewers.py), labelled `"simulated": true` in interactions.json.
The catalogue (`--catalog`, Preprocess's catalog.parquet) says which films exist. The rules are
steps/interactions.py (pure); this script reads (bounded by --max-interaction-rows/-mb while
reading), checks the share of malformed rows against --max-bad-fraction, and writes
interactions.parquet + interactions.json to `--output`. It reads S3 at run time, so it is not
network-isolated and not cached (new events arrive between runs).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steps import artifacts, interactions, schema, simulated_viewers

IN = f"{schema.PROCESSING_ROOT}/input"
OUT = f"{schema.PROCESSING_ROOT}/output"
PARQUET_SCHEMA = pa.schema([("viewer_id", pa.string()), ("tconst", pa.string()), ("weight", pa.float32()),
                            ("timestamp", pa.int64()), ("split", pa.string())])
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
CSV_CHUNK_ROWS = 500_000
HEX = frozenset("0123456789abcdef")


class Budget:
    """What may still be read: rows and bytes over every source together (fails when exceeded)."""

    def __init__(self, max_rows: int, max_bytes: int):
        self.rows_left, self.bytes_left = max_rows, max_bytes
        self.max_rows, self.max_bytes = max_rows, max_bytes

    def take_bytes(self, n: int, where: str) -> None:
        self.bytes_left -= n
        if self.bytes_left < 0:
            raise interactions.InteractionsError(
                f"{where}: the interactions exceed max_interaction_mb={self.max_bytes >> 20}; raise the "
                "parameter (and the instance's memory) or give fewer files")

    def take_rows(self, n: int, where: str) -> None:
        self.rows_left -= n
        if self.rows_left < 0:
            raise interactions.InteractionsError(
                f"{where}: the interactions exceed max_interaction_rows={self.max_rows}; raise the "
                "parameter (and the instance's memory) or give fewer rows")


class CountedReader(io.RawIOBase):
    """A read-only stream that charges every byte it hands out to the budget."""

    def __init__(self, stream: Any, budget: Budget, where: str):
        self.stream, self.budget, self.where = stream, budget, where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        self.budget.take_bytes(len(data), self.where)
        buffer[:len(data)] = data
        return len(data)


def _counted(body: Any, uri: str, budget: Budget) -> Any:
    """The object's bytes, charged to the budget, gunzipped when they are gzip."""
    stream = io.BufferedReader(CountedReader(body, budget, uri), 1 << 20)
    # gzip by its magic bytes: Firehose names its objects without a suffix unless told otherwise
    return gzip.GzipFile(fileobj=stream) if stream.peek(2)[:2] == b"\x1f\x8b" else stream


# --- the sources ----------------------------------------------------------------------------------
def forgotten_viewers(forgotten_uri: str, region: str | None) -> set[str]:
    """The sha256 hex of every forgotten viewer: the names of events/forgotten/<sha256>.json."""
    from steps import aws_io
    found = set()
    for uri, _size in aws_io.list_objects(forgotten_uri.rstrip("/") + "/", region):
        stem = uri.rsplit("/", 1)[-1].removesuffix(".json")
        if len(stem) == 64 and set(stem) <= HEX:
            found.add(stem)
    return found


def read_events(events_uri: str, budget: Budget, region: str | None,
                log) -> Iterator[tuple[pd.DataFrame, Counter]]:
    """Each stored events object as (frame, malformed counts), skipping the forget records."""
    from steps import aws_io
    prefix = events_uri.rstrip("/") + "/"
    # only the date partitions: events/forgotten/ holds the forget records, not events
    objects = aws_io.list_objects(prefix + "dt=", region)
    log(f"prepare_interactions: {len(objects)} events objects under {prefix}")
    for uri, _size in objects:
        with aws_io.open_object(uri, region) as body:
            frame, bad = interactions.events_frame(_counted(body, uri, budget))
        budget.take_rows(len(frame) + sum(bad.values()), uri)
        yield frame, bad


def read_interactions_uri(uri: str, budget: Budget, region: str | None,
                          log) -> Iterator[tuple[pd.DataFrame, Counter]]:
    """The rows of an interactions file, or of every .csv[.gz]/.parquet under a prefix."""
    from steps import aws_io
    objects = [(u, s) for u, s in aws_io.list_objects(uri, region)
               if u.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)]
    if not objects:
        raise interactions.InteractionsError(
            f"interactions_uri={uri}: no .csv, .csv.gz or .parquet object there; give a file in the "
            "interactions format (docs/CONTRACTS.md) or a prefix holding some")
    for obj, size in objects:
        log(f"prepare_interactions: reading {obj} ({size:,} bytes)")
        if obj.endswith(PARQUET_SUFFIXES):
            budget.take_bytes(size, obj)
            folder = Path(tempfile.mkdtemp(prefix="myflix-interactions-"))
            try:
                local = aws_io.download_object(obj, folder / "part.parquet", region)
                table = artifacts.read_parquet_table(local)
                budget.take_rows(table.num_rows, obj)
                frame = table.to_pandas().astype(object)
            except (pa.ArrowException, OSError) as err:
                raise interactions.InteractionsError(f"{obj} is not a readable parquet file: {err}") from err
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            yield frame, Counter()
            continue
        with aws_io.open_object(obj, region) as body:
            for chunk, bad in csv_chunks(_counted(body, obj, budget)):
                budget.take_rows(len(chunk) + sum(bad.values()), obj)
                yield chunk, bad


def csv_chunks(stream: Any, chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[tuple[pd.DataFrame, Counter]]:
    """A CSV stream's rows as frames of strings (header = column names), a row whose number of
    fields differs from the header's (or that the csv module refuses) counted `columns`, never
    fatal. The csv module, not pandas' C reader: that one skips such rows without counting them."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    header = [h.strip().lstrip("\ufeff") for h in header]
    rows: list[list[str]] = []
    bad: Counter = Counter()
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:                       # e.g. a field beyond csv.field_size_limit()
            bad["columns"] += 1
            continue
        if not record:
            continue                            # a blank line
        if len(record) != len(header):
            bad["columns"] += 1
            continue
        rows.append(record)
        if len(rows) >= chunk_rows:
            yield pd.DataFrame(rows, columns=header, dtype=object), bad
            rows, bad = [], Counter()
    if rows or bad:
        yield pd.DataFrame(rows, columns=header, dtype=object), bad


def read_catalog(folder: str) -> pd.DataFrame:
    path = Path(folder)
    path = path / schema.CATALOG_PARQUET if path.is_dir() else path
    if not path.is_file():
        raise artifacts.ArtifactError(f"no {schema.CATALOG_PARQUET} at {folder}: Preprocess writes it")
    return artifacts.read_parquet(path)


def collaborative_status(counts: dict[str, Any], min_interactions: int) -> str:
    """interactions.json's `collaborative`: what TrainRecommender will do with these interactions."""
    if counts["interactions"] < min_interactions:
        return (f"skipped: {counts['interactions']} interactions, fewer than "
                f"min_interactions={min_interactions}")
    return "trained"


# --- the step -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = schema.DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=f"{IN}/catalog", help="Preprocess's catalog folder")
    parser.add_argument("--output", default=f"{OUT}/interactions")
    parser.add_argument("--events-uri", default="", help="s3://<bucket>/events/ (empty: no collected events)")
    parser.add_argument("--interactions-uri", default="", help="a file or prefix in the interactions format")
    parser.add_argument("--simulated-viewers", type=int, default=d["simulated_viewers"],
                        help="> 0: simulate this many viewers when there is no real event (the demo)")
    parser.add_argument("--seed", type=int, default=d["seed"])
    weights = "implicit weight of "
    parser.add_argument("--weight-play", type=float, default=d["weight_play"], help=weights + "a play")
    parser.add_argument("--weight-like", type=float, default=d["weight_like"], help=weights + "a like")
    parser.add_argument("--weight-list-add", type=float, default=d["weight_list_add"],
                        help=weights + "a list entry")
    parser.add_argument("--weight-view", type=float, default=d["weight_view"],
                        help=weights + "opening a film")
    parser.add_argument("--rating-neutral", type=float, default=d["rating_neutral"],
                        help="a rating above this (0-10) is a positive, at or below a dislike")
    parser.add_argument("--min-viewer-interactions", type=int, default=d["min_viewer_interactions"])
    parser.add_argument("--min-film-interactions", type=int, default=d["min_film_interactions"])
    parser.add_argument("--test-fraction", type=float, default=d["test_fraction"])
    parser.add_argument("--validation-fraction", type=float, default=d["validation_fraction"])
    parser.add_argument("--min-interactions", type=int, default=d["min_interactions"])
    parser.add_argument("--max-bad-fraction", type=float, default=d["max_bad_fraction"])
    parser.add_argument("--max-interaction-rows", type=int, default=d["max_interaction_rows"])
    parser.add_argument("--max-interaction-mb", type=int, default=d["max_interaction_mb"])
    parser.add_argument("--region", default="", help="AWS region of the bucket (empty: the job's)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, log=print) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read every source, apply the rules; (interactions frame, interactions.json)."""
    region = args.region or None
    catalog = read_catalog(args.catalog)
    budget = Budget(args.max_interaction_rows, args.max_interaction_mb << 20)
    forgotten: set[str] = set()
    frames: list[tuple[pd.DataFrame, Counter]] = []
    sources: list[str] = []
    if args.events_uri.strip():
        events_uri = args.events_uri.strip().rstrip("/") + "/"
        forgotten = forgotten_viewers(events_uri + schema.FORGOTTEN_PREFIX.split("/", 1)[1], region)
        events = list(read_events(events_uri, budget, region, log))
        if any(len(f) or sum(b.values()) for f, b in events):
            frames += events
            sources.append("events")
    if args.interactions_uri.strip():
        frames += list(read_interactions_uri(args.interactions_uri.strip(), budget, region, log))
        sources.append("interactions_uri")
    simulated = not sources and args.simulated_viewers > 0
    if simulated:
        log(f"prepare_interactions: no collected events and no interactions_uri: simulating "
            f"{args.simulated_viewers} viewers (labelled simulated; never mixed with real ones)")
        frames = [(simulated_viewers.simulate(catalog, args.simulated_viewers, args.seed), Counter())]
        sources.append("simulated")
    params = {name: getattr(args, name) for name in interactions.PARAM_NAMES}
    pairs, counts = interactions.prepare(frames, catalog["tconst"].astype(str), forgotten, params)
    report = {"source": "+".join(sources) or "none", "sources": sources, "simulated": simulated,
              **counts, "forget_records": len(forgotten)}
    if simulated:
        report["simulation"] = {"viewers": args.simulated_viewers, "seed": args.seed,
                                "model": simulated_viewers.MODEL}
    report["collaborative"] = collaborative_status(counts, args.min_interactions)
    report["min_interactions"] = args.min_interactions
    return pairs, report


def write_outputs(pairs: pd.DataFrame, report: dict[str, Any], output: str) -> Path:
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(pairs, schema=PARQUET_SCHEMA, preserve_index=False)
    pq.write_table(table, out / schema.INTERACTIONS_PARQUET, compression="snappy")
    artifacts.write_json(out / schema.INTERACTIONS_JSON, report)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    say = lambda m: print(m, flush=True)  # noqa: E731
    try:
        pairs, report = run(args, say)
    except (interactions.InteractionsError, artifacts.ArtifactError) as err:
        print(f"prepare_interactions: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - S3 refused: say so, exit 2
        from botocore.exceptions import BotoCoreError, ClientError

        from steps.aws_io import AwsIoError
        if not isinstance(err, (AwsIoError, BotoCoreError, ClientError)):
            raise
        print(f"prepare_interactions: cannot read the interactions: {err}. The execution role needs "
              "s3:ListBucket/GetObject on events/ and on interactions_uri", file=sys.stderr)
        return 2
    out = write_outputs(pairs, report, args.output)
    share = interactions.bad_fraction(report)
    malformed = ", ".join(f"{k} {v}" for k, v in report["malformed"].items()) or "none"
    label = " (SIMULATED viewers)" if report["simulated"] else ""
    say(f"prepare_interactions: source {report['source']}{label}: "
        f"{report['rows_read']:,} rows read, malformed {report['malformed_total']:,} ({malformed}), unknown "
        f"films {report['unknown_films']:,}, duplicates {report['duplicates']:,}, cancelled "
        f"{report['cancelled']:,}, forgotten {report['forgotten']:,}, below minimum counts "
        f"{report['below_min_counts']:,}")
    say(f"prepare_interactions: {report['interactions']:,} interactions, {report['viewers']:,} viewers, "
        f"{report['films']:,} films; splits {report['splits']}; collaborative {report['collaborative']}; "
        f"{time.monotonic() - started:.1f}s; wrote {out}")
    if share > args.max_bad_fraction:
        print(f"prepare_interactions: {share:.1%} of the rows are malformed, more than max_bad_fraction="
              f"{args.max_bad_fraction} (reasons in {out / schema.INTERACTIONS_JSON}): fix the source "
              "or raise the parameter", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
