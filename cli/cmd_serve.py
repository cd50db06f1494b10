"""`myflix serve` (the API, the MyFlix page and the Studio on one local port) and `myflix endpoint`
(the local model endpoint). The servers live in serving/server.py; this module parses and calls.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.server import DEFAULT_WORKDIR, serve, serve_endpoint


def cmd_serve(args: argparse.Namespace) -> int:
    serve(Path(args.workdir), args.host, args.port)
    return 0


def cmd_endpoint(args: argparse.Namespace) -> int:
    model = Path(args.model) if args.model else None
    serve_endpoint(Path(args.workdir), args.name, model, args.host, args.port)
    return 0


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="serve the API and the MyFlix page locally",
                              description="Serve the MyFlix API and web page on one local port, over the table "
                                          "that the local pipeline published into --workdir.")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR, help="the local runner's work folder (default: .myflix)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    e = subparsers.add_parser("endpoint", help="serve the deployed model locally on /ping and /invocations",
                              description="SageMaker's container contract on a local port, for the model the local "
                                          "deployer recorded for that endpoint (or --model).")
    e.add_argument("--workdir", default=DEFAULT_WORKDIR)
    e.add_argument("--name", default="myflix-movie-clusters", help="endpoint name (default: myflix-movie-clusters)")
    e.add_argument("--model", default=None, help="a model folder or model.tar.gz instead of the endpoint record")
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--port", type=int, default=8080)
    e.set_defaults(func=cmd_endpoint)
