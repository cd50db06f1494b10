"""What an open Studio tab costs: the executions list (polled every 1.5 s) over N local executions.

Baseline, measured in the same run: every summary rebuilt on each request (what the list did
before it cached them per execution.json). Then the list with its per-record cache, and the
browser's revalidation (If-None-Match with the list's ETag: 304, no body). Figures per request,
median of `--repeat` requests; synthetic execution records (no pipeline run), so it measures the
Studio's own reading, not any model.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from local_aws.constants import ACCOUNT, LOCAL_REGION
from local_runner import executions
from studio import make_app, views


def write_records(work: Path, n: int) -> None:
    for i in range(n):
        eid = f"20261201{i:06d}abcd"
        folder = executions.execution_dir(work, eid)
        folder.mkdir(parents=True)
        (folder / executions.EXECUTION_FILE).write_text(json.dumps({
            "PipelineExecutionArn": f"arn:aws:sagemaker:{LOCAL_REGION}:{ACCOUNT}:pipeline/p/execution/{eid}",
            "PipelineExecutionId": eid, "PipelineExecutionStatus": "Succeeded", "PipelineName": "p",
            "StartTime": f"2026-12-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}", "EndTime": None,
            "PipelineParameters": [], "Steps": []}))


def timed(app, repeat: int, headers: dict | None = None, clear: bool = False) -> tuple[float, str]:
    times, status = [], ""
    for _ in range(repeat):
        if clear:
            views._SUMMARIES.clear()
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/studio/api/executions", "HTTP_HOST": "127.0.0.1:8000",
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "wsgi.input": io.BytesIO(b""),
                   **(headers or {})}
        seen: dict = {}
        started = time.perf_counter()
        b"".join(app(environ, lambda s, h: seen.update(status=s, headers=dict(h))))
        times.append(time.perf_counter() - started)
        status = seen["status"]
    return statistics.median(times) * 1000, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_studio")
    parser.add_argument("--executions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n, repeat = (20, 3) if args.quick else (args.executions, args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp:
        work = Path(tmp)
        write_records(work, n)
        app = make_app(work)
        rebuilt, _ = timed(app, repeat, clear=True)
        cached, _ = timed(app, repeat)
        etag = views.executions_etag(work)
        revalidated, status = timed(app, repeat, {"HTTP_IF_NONE_MATCH": etag})
    print(f"executions list over {n} executions, median of {repeat} requests:")
    print(f"  every summary rebuilt (baseline)  {rebuilt:8.1f} ms")
    print(f"  per-record cache                  {cached:8.1f} ms   ({rebuilt / cached:.1f}x less)")
    print(f"  If-None-Match -> {status[:3]}           {revalidated:8.1f} ms   ({rebuilt / revalidated:.1f}x less)")
    print(f"  one tab polling every 1.5 s: {cached / 1500:.1%} of a core (rebuilt: {rebuilt / 1500:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
