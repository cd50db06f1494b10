"""`myflix run`: the whole pipeline on this machine (no AWS, no Docker), then the API and the page.

What `make run` calls (operations/local_run.py does the work). It checks the parameters, takes the
port, writes the bundled demo data into the local object store, builds the very definition that goes
to SageMaker (local bucket, region and role), uploads the code bundle to the local store, runs the
definition with the local runner, prints where every result went, then serves (serving/server.py)
unless --no-serve.

What a run releases, as on AWS: the model that passes the gate is registered
PendingManualApproval and production (the prod endpoint and the table the page serves) does not
change until a reviewer approves it (`myflix registry approve`, the Studio's registry page, or
`myflix run --approve`). Only the first run of a work folder with no production model yet
approves its own model, so a newcomer sees the page, and it says so. `-p model_approval_status=
Approved` registers it Approved, which deploys it as the registry's event does on AWS.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from cli import options
from operations import local_run
from operations.errors import UserError
from serving.server import open_server, serve_until_stopped


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run", help="run the whole pipeline locally on the bundled demo data, then serve MyFlix",
        description=_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  myflix run\n  myflix run --no-serve -p k_max=20 -p k_override=12\n"
               "  myflix run -p basics_uri=imdb/title.basics.tsv.gz -p ratings_uri=imdb/title.ratings.tsv.gz\n"
               "  myflix run -p interactions_uri=ml.csv.gz   (see myflix interactions import)\n"
               f"viewers: the events the page sent (this work folder's events/) and interactions_uri; with "
               f"neither,\n  {local_run.DEMO_SIMULATED_VIEWERS} simulated viewers, labelled so everywhere "
               f"(-p {local_run.SIMULATED_PARAMETER}=0: none)\n"
               "  myflix pipeline status --local   (the last execution, step by step)")
    parser.add_argument("--workdir", type=Path, default=Path(".myflix"),
                        help="work folder: object store, registry, catalog, executions (default .myflix)")
    options.params(parser, "override a pipeline parameter (repeatable), e.g. -p k_max=30")
    parser.add_argument("--approve", action="store_true",
                        help="approve the model this run registers (staging, smoke test, prod and the "
                             "table the page serves); without it the model waits for a reviewer, "
                             "except on the first run of an empty work folder")
    parser.add_argument("--display-name", default=None,
                        help="a name for this execution (shown by the Studio and `pipeline list`)")
    parser.add_argument("--execution-id", default=None, help=argparse.SUPPRESS)   # the Studio names its runs
    parser.add_argument("--no-serve", action="store_true", help="stop after the run; do not serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
    parser.add_argument("--no-cache", action="store_true",
                        help="run every step even when an earlier run with the same inputs is cached")
    parser.add_argument("--definition", type=Path, default=None,
                        help="run this pipeline definition JSON instead of building it from the code")
    parser.set_defaults(func=cmd_run)


def _description() -> str:
    """The module docstring's first and last paragraphs: what a run does and what it releases."""
    paragraphs = __doc__.strip().split("\n\n")
    return paragraphs[0] + "\n\n" + paragraphs[-1]


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    workdir = args.workdir.resolve()
    # Nothing here may reach AWS: no instance-metadata probing, no role validation call.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    overrides = local_run.check_overrides(args.param, definition_file=args.definition is not None)
    if args.approve and overrides.get(local_run.APPROVAL_PARAMETER) == "Rejected":
        raise UserError(f"--approve and -p {local_run.APPROVAL_PARAMETER}=Rejected contradict each other: "
                        "drop one")
    # The port next, before the seconds of bundle and definition: a taken port fails at once.
    live = None if args.no_serve else start_live_server(workdir, args.host, args.port)
    try:
        code, stop_requested = local_run.run(
            workdir, overrides, definition_file=args.definition, approve=args.approve,
            display_name=args.display_name, execution_id=getattr(args, "execution_id", None),
            use_cache=not args.no_cache, live_url=live.url if live is not None else None,
            folder_option="" if args.workdir == Path(".myflix") else f" --workdir {args.workdir}",
            started=started)
        if code is not None or live is None or stop_requested:
            return code or 0
        from inference.local_endpoint import stop_on_sigterm
        stop_on_sigterm()                      # from here SIGTERM stops the server (serve_until_stopped)
        print()
        serve_until_stopped(live)
        return 0
    finally:
        if live is not None and live.running:
            live.stop()


def start_live_server(workdir: Path, host: str, port: int) -> Any:
    """The page, the API and the Studio, serving before the run starts: the Studio follows the run
    live (the API answers 503 until Publish has written a table). A taken port fails here, at once."""
    server = open_server(workdir, host, port).start()
    print(f"follow the run live in the Studio: {server.url}/studio/", flush=True)
    return server
