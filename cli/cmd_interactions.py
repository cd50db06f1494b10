"""`myflix interactions import`: public ratings files (MovieLens, MovieTweetings) -> the interactions format.

The output is what the pipeline parameter `interactions_uri` takes (`myflix run -p
interactions_uri=<file>`, or an s3:// copy of it for a cloud execution). The conversion lives in
operations/interactions_import.py; this module parses, calls and prints.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from operations.errors import UserError


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser("interactions", help="viewer interactions: import public ratings files",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="interactions_command", metavar="COMMAND")
    imp = sub.add_parser(
        "import", help="convert MovieLens or MovieTweetings ratings into the interactions format",
        description="Convert a public ratings dataset into the interactions format (docs/CONTRACTS.md). "
                    "Malformed rows are counted by reason and left out, never fatal.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  myflix interactions import movielens ml-latest-small/ -o ml.csv.gz\n"
               "  myflix interactions import movielens ratings.csv links.csv -o ml.parquet\n"
               "  myflix interactions import movietweetings ratings.dat -o mt.csv\n"
               "  myflix run -p interactions_uri=ml.csv.gz\n"
               "MovieLens is for research use and may not be redistributed: convert your own copy "
               "and do not commit or publish the result.")
    imp.add_argument("source", choices=("movielens", "movietweetings"))
    imp.add_argument("paths", nargs="+", type=Path,
                     help="movielens: its folder, or ratings.csv links.csv; movietweetings: ratings.dat")
    imp.add_argument("-o", "--output", type=Path, required=True,
                     help="the file to write: .csv, .csv.gz or .parquet")
    imp.add_argument("--report", type=Path, default=None, help="also write the counts as JSON here")
    imp.set_defaults(func=cmd_import)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def cmd_import(args: argparse.Namespace) -> int:
    # function-local: the conversion loads pandas (a second of every other command's start-up)
    from operations.interactions_import import ImportFailed, import_file

    try:
        report = import_file(args.source, args.paths, args.output)
    except (ImportFailed, OSError) as err:
        raise UserError(f"interactions import: {err}") from None
    counts = report.as_dict()
    malformed = ", ".join(f"{k} {v:,}" for k, v in counts["malformed"].items() if v) or "none"
    print(f"{args.source}: {counts['rows_read']:,} rows read, {counts['rows_written']:,} written "
          f"({counts['viewers']:,} viewers, {counts['films']:,} films); malformed "
          f"{counts['malformed_total']:,} ({malformed}) -> {args.output}")
    if args.report:
        args.report.write_text(json.dumps(counts, indent=1) + "\n")
    if counts["rows_written"] == 0:
        raise UserError(f"interactions import: no usable row in {', '.join(map(str, args.paths))}")
    return 0
