"""Options several commands share (no command of its own): the account's settings, `--local`, `-p`."""
from __future__ import annotations

import argparse

from steps import schema


def account(parser: argparse.ArgumentParser) -> None:
    """--region, --role, --bucket, --pipeline-name (else environment variables, else the config file)."""
    group = parser.add_argument_group("account (else environment variables, else the config file)")
    group.add_argument("--region", help="AWS region ($MYFLIX_REGION, $AWS_REGION, $AWS_DEFAULT_REGION)")
    group.add_argument("--role", help="SageMaker execution role ARN ($MYFLIX_ROLE_ARN)")
    group.add_argument("--bucket", help="S3 bucket for code, data and outputs ($MYFLIX_BUCKET)")
    group.add_argument("--pipeline-name",
                       help=f"pipeline name ($MYFLIX_PIPELINE_NAME; default {schema.PIPELINE_NAME})")


def local_executions(parser: argparse.ArgumentParser) -> None:
    """--local and --workdir: read the local runner's executions instead of SageMaker's."""
    parser.add_argument("--local", action="store_true",
                        help="read the local runner's executions instead of SageMaker")
    parser.add_argument("--workdir", default=".myflix", help="local runner work folder (default .myflix)")


def params(parser: argparse.ArgumentParser,
           help_text: str = "override a pipeline parameter (repeatable)") -> None:
    """-p/--param NAME=VALUE, repeatable: the same spelling on every command that takes parameters
    (checked by pipeline/parameters.py's one parser)."""
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help=help_text)


def subcommands_of(subparsers: argparse._SubParsersAction, name: str) -> argparse._SubParsersAction | None:
    """The subcommands of top-level command `name` (None when its module is not loaded): how
    `pipeline report` and `pipeline schedule` hang off `pipeline` without importing its module."""
    top = subparsers.choices.get(name)
    if top is None:
        return None
    return next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
