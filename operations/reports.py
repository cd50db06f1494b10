"""The steps' report files: ONE list of them (which step writes which JSON into which output, and the
PNGs reports/ draws beside it), and fetching a cloud execution's reports to draw them here.

No job draws a plot (the SKLearn image has no matplotlib): Ingest, Preprocess, TuneKMeans,
PrepareInteractions and Evaluate write JSON; for a cloud execution `download` fetches those files
from `s3://<bucket>/runs/<pipeline>/<execution id>/<step>/<output>/` and `draw` renders the PNGs
with reports/, as the local runner does after each local step. MLflow tracking and the Studio read
the same list (reports/RENDERERS names the drawing module of each JSON that has PNGs).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import reports
from local_aws.store import LocalStore
from operations.errors import UserError
from steps import schema


@dataclass(frozen=True)
class ReportFile:
    """One report JSON: the step and processing output that hold it, and the PNGs drawn from it."""

    step: str
    output: str
    name: str
    plots: tuple[str, ...] = ()


REPORT_FILES: tuple[ReportFile, ...] = (
    ReportFile("Ingest", "raw", "ingest.json"),
    ReportFile("Preprocess", "report", schema.QUALITY_JSON, ("year_boxplot.png", "runtime_bins.png")),
    ReportFile("TuneKMeans", "elbow", schema.ELBOW_JSON, ("elbow.png",)),
    ReportFile("PrepareInteractions", "interactions", schema.INTERACTIONS_JSON),
    ReportFile("Evaluate", "evaluation", schema.EVALUATION_JSON, ("cluster_sizes.png",)),
    ReportFile("Evaluate", "evaluation", "drift.json", ("drift.png",)),
)
REPORT_NAMES: tuple[str, ...] = tuple(report.name for report in REPORT_FILES)
PLOTS: dict[str, tuple[str, ...]] = {report.name: report.plots for report in REPORT_FILES}


def report_keys(pipeline_name: str, execution_id: str) -> list[tuple[str, str, str]]:
    """(step, output, S3 key) of every report file an execution may have written (pure)."""
    return [(r.step, r.output, f"{schema.RUNS_PREFIX}/{pipeline_name}/{execution_id}/{r.step}/{r.output}/{r.name}")
            for r in REPORT_FILES]


def download(s3: Any, bucket: str, pipeline_name: str, execution_id: str, out: Path) -> list[Path]:
    """Fetch the report JSONs that exist into out/<step>/; returns the files written."""
    from botocore.exceptions import ClientError  # boto3 only for cloud executions: start-up speed
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


def draw(folders: list[Path], log: Callable[[str], None] = print) -> list[Path]:
    """Draw the PNGs of every report JSON in `folders`; a report that cannot be drawn is logged."""
    notes: list[str] = []
    drawn = [png for folder in folders for png in reports.render(folder, log=notes.append)]
    for note in notes:
        log(f"  {note}")
    return drawn


def local_folders(workdir: Path, steps: list[dict]) -> list[Path]:
    """The local store's folders of a local execution's step outputs (where its reports are)."""
    store = LocalStore(Path(workdir))
    return sorted({store.path_for(uri) for step in steps for uri in (step.get("Outputs") or {}).values()
                   if isinstance(uri, str) and uri.startswith("s3://") and store.path_for(uri).is_dir()})
