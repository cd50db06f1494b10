"""The `myflix` command line: the root parser. Each area adds its commands from its own module.

A command module exposes `add_commands(subparsers)`; each parser it adds sets `func=` to a
callable taking the parsed arguments and returning an exit code. Commands are thin (parse, call an
operation of operations/, print); no command module imports another. `UserError` lives in
operations/errors.py (re-exported here): printed as `myflix: <message>`, exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from operations.errors import UserError

# Areas that add commands; a module missing here is simply not loaded yet.
COMMAND_MODULES = (
    "cli.cmd_run",        # myflix run (local pipeline run, then serve)
    "cli.cmd_pipeline",   # myflix pipeline definition|upsert|start|status|wait|list|diff|dag|approve
    "cli.cmd_schedule",   # myflix pipeline schedule show|set|off (after cmd_pipeline: hangs off it)
    "cli.cmd_report",     # myflix pipeline report (the steps' reports and their plots, drawn here)
    "cli.cmd_registry",   # myflix registry list|approve|reject (local model registry; deploys)
    "cli.cmd_deploy",     # myflix deploy status|promote|rollback|package (releases)
    "cli.cmd_serve",      # myflix serve (API + UI), myflix endpoint (local endpoint)
    "cli.cmd_config",     # myflix config from-stack|show
    "cli.cmd_mlflow",     # myflix mlflow ui|log (executions as MLflow runs)
    "cli.cmd_interactions",   # myflix interactions import (MovieLens, MovieTweetings -> the format)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="myflix",
        description="MyFlix movie clusters: run the SageMaker pipeline locally or on AWS, and serve it.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.add_commands(subparsers)
    _describe_subcommands(parser)
    return parser


def _describe_subcommands(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command's `--help` opens with a description: its one-line help when its module
    gave none, so no `myflix X --help` starts with a bare usage line."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            if not sub.description and helps.get(name):
                text = str(helps[name])
                sub.description = text[:1].upper() + text[1:] + "."
            _describe_subcommands(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"myflix: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("myflix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
