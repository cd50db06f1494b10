"""`myflix pipeline report`: an execution's step reports with their plots, on this machine.

No job draws a plot (the SKLearn image has no matplotlib): Preprocess, TuneKMeans and Evaluate
write their figures' data into JSON. For a cloud execution this command downloads those JSON
files from the execution's output prefix, `s3://<bucket>/runs/<pipeline>/<execution id>/<step>/
<output>/`, and draws the PNGs beside them with reports/, as the local runner does after
each local step. `--local` reads the local runner's work folder instead.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import reports
from cli.main import UserError
from steps import schema

# (step, output, files): where each step's report lands under the execution's prefix.
REPORT_FILES = (
    ("Ingest", "raw", ("ingest.json",)),
    ("Preprocess", "report", ("quality.json",)),
    ("TuneKMeans", "elbow", ("elbow.json",)),
    ("Evaluate", "evaluation", ("evaluation.json", "drift.json")),
)


def report_keys(pipeline_name: str, execution_id: str) -> list[tuple[str, str, str]]:
    """(step, output, S3 key) of every report file an execution may have written (pure)."""
    return [(step, output, f"{schema.RUNS_PREFIX}/{pipeline_name}/{execution_id}/{step}/{output}/{name}")
            for step, output, names in REPORT_FILES for name in names]


def download_reports(s3: Any, bucket: str, pipeline_name: str, execution_id: str, out: Path) -> list[Path]:
    """Fetch the report JSONs that exist into out/<step>/; returns the files written."""
    from botocore.exceptions import ClientError
    written = []
    for step, _output, key in report_keys(pipeline_name, execution_id):
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                continue            # that step did not run (or wrote no such report)
            raise UserError(f"reading s3://{bucket}/{key}: {err}") from err
        target = out / step / key.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        written.append(target)
    return written


def draw(folders: list[Path]) -> list[Path]:
    notes: list[str] = []
    drawn = [png for folder in folders for png in reports.render(folder, log=notes.append)]
    for note in notes:
        print(f"  {note}")
    return drawn


def cmd_report(args: argparse.Namespace) -> int:
    from cli import cmd_pipeline
    if args.local:
        execution, steps = cmd_pipeline._describe_local(Path(args.workdir), args.execution)
        from local_aws.store import LocalStore
        store = LocalStore(Path(args.workdir))
        folders = sorted({store.path_for(uri) for step in steps for uri in (step.get("Outputs") or {}).values()
                          if isinstance(uri, str) and uri.startswith("s3://") and store.path_for(uri).is_dir()})
        drawn = draw(folders)
        files = [p for folder in folders for p in sorted(folder.glob("*.json")) + sorted(folder.glob("*.png"))]
    else:
        resolved = cmd_pipeline._settings(args, "region", "bucket")
        client = cmd_pipeline._sagemaker(resolved)
        with cmd_pipeline._user_errors("finding the execution"):
            arn = cmd_pipeline._execution_arn(client, resolved, args.execution)
        execution_id = arn.rsplit("/", 1)[-1]
        from operations import aws
        out = Path(args.output or f"myflix-report-{execution_id}")
        with cmd_pipeline._user_errors("downloading the reports"):
            fetched = download_reports(aws.client(resolved.region, "s3"), resolved.bucket,
                                       resolved.pipeline_name, execution_id, out)
        if not fetched:
            raise UserError(f"execution {execution_id} has no reports under s3://{resolved.bucket}/"
                            f"{schema.RUNS_PREFIX}/{resolved.pipeline_name}/{execution_id}/ yet: has Preprocess run? "
                            "(`myflix pipeline status` shows its steps)")
        drawn = draw(sorted({p.parent for p in fetched}))
        files = fetched + drawn
    for path in files:
        print(path)
    print(f"{len(drawn)} plot(s) drawn")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.choices.get("pipeline")
    if top is None:          # cli.cmd_pipeline is not loaded: nothing to hang off
        return
    from cli import cmd_pipeline
    pipeline_sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    p = pipeline_sub.add_parser("report", help="an execution's reports (JSON) and their plots (PNG), here",
                                description=__doc__.splitlines()[0])
    cmd_pipeline._common(p)
    cmd_pipeline._local_opts(p)
    p.add_argument("execution", nargs="?", help="execution ARN or id (default: the latest)")
    p.add_argument("-o", "--output", help="folder for a cloud execution's reports (default myflix-report-<id>)")
    p.set_defaults(func=cmd_report)
