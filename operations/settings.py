"""Where the `myflix pipeline` commands get region, role, bucket and pipeline name from.

Order, first found wins: the command-line option, then an environment variable, then the config
file (`MYFLIX_CONFIG`, default `~/.config/myflix/config.json`, written by `myflix config
from-stack` through `save_config`), then a default where one makes sense (pipeline name only).
A missing value is a `UserError` naming the option, the variable and the config key that set it.

Config file keys: `region`, `role_arn`, `bucket`, `pipeline_name` (other keys are kept as they are).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from local_aws.layout import write_json_atomic
from operations.errors import UserError
from steps import schema

CONFIG_ENV = "MYFLIX_CONFIG"
DEFAULT_CONFIG_PATH = Path("~/.config/myflix/config.json")

# setting -> (CLI option, environment variables in order, config file key)
SOURCES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "region": ("--region", ("MYFLIX_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"), "region"),
    "role": ("--role", ("MYFLIX_ROLE_ARN",), "role_arn"),
    "bucket": ("--bucket", ("MYFLIX_BUCKET",), "bucket"),
    "pipeline_name": ("--pipeline-name", ("MYFLIX_PIPELINE_NAME",), "pipeline_name"),
}
DEFAULTS: dict[str, str] = {"pipeline_name": schema.PIPELINE_NAME}


def config_path() -> Path:
    """The config file in use: $MYFLIX_CONFIG, else ~/.config/myflix/config.json."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH).expanduser()


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The config file's contents, or {} when there is none; a malformed file is a UserError."""
    path = Path(path) if path is not None else config_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the config file {path}: {err}; fix or delete it "
                        f"(or run `myflix config from-stack` to write it again)") from err
    if not isinstance(data, dict):
        raise UserError(f"the config file {path} must hold a JSON object, not "
                        f"{type(data).__name__}; fix or delete it")
    return data


def save_config(values: Mapping[str, Any], path: Path | None = None) -> Path:
    """Merge `values` into the config file (atomically: temp file + rename) and return its path.

    A value of None removes that key.
    """
    path = Path(path) if path is not None else config_path()
    data = load_config(path)
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    write_json_atomic(path, data, sort_keys=True)
    return path


@dataclass(frozen=True)
class Settings:
    """Resolved values; any of them may be None until `require` is asked for it."""

    region: str | None
    role: str | None
    bucket: str | None
    pipeline_name: str
    origin: dict[str, str]      # setting -> where its value came from (for messages)
    subnets: tuple[str, ...] = ()              # a VPC for the jobs: both, or neither
    security_group_ids: tuple[str, ...] = ()

    def require(self, *names: str) -> None:
        """Raise one UserError listing every setting in `names` that has no value."""
        missing = [name for name in names if not getattr(self, name)]
        if missing:
            raise UserError(missing_message(missing))


def how_to_set(name: str) -> str:
    option, env_vars, key = SOURCES[name]
    return (f"{option}, or the environment variable {' / '.join(env_vars)}, or \"{key}\" in "
            f"{config_path()} (`myflix config from-stack` writes it)")


def missing_message(names: list[str]) -> str:
    what = {"region": "AWS region", "role": "SageMaker execution role ARN",
            "bucket": "S3 bucket", "pipeline_name": "pipeline name"}
    parts = [f"no {what[name]}: set {how_to_set(name)}" for name in names]
    return "; ".join(parts)


def resolve(cli: Mapping[str, str | None] | None = None,
            env: Mapping[str, str] | None = None,
            config: Mapping[str, Any] | None = None) -> Settings:
    """Resolve every setting from CLI values (keys as in SOURCES), environment and config file."""
    cli = dict(cli or {})
    env = os.environ if env is None else env
    config = load_config() if config is None else config
    values: dict[str, str | None] = {}
    origin: dict[str, str] = {}
    for name, (option, env_vars, key) in SOURCES.items():
        value, where = cli.get(name), option
        if not value:
            for var in env_vars:
                if env.get(var):
                    value, where = env[var], f"${var}"
                    break
        if not value and config.get(key):
            value, where = str(config[key]), f"{config_path()}:{key}"
        if not value and name in DEFAULTS:
            value, where = DEFAULTS[name], "default"
        values[name] = value or None
        if value:
            origin[name] = where
    return Settings(region=values["region"], role=values["role"], bucket=values["bucket"],
                    pipeline_name=values["pipeline_name"] or schema.PIPELINE_NAME, origin=origin,
                    subnets=_ids(env.get("MYFLIX_SUBNETS") or config.get("subnets")),
                    security_group_ids=_ids(env.get("MYFLIX_SECURITY_GROUP_IDS")
                                            or config.get("security_group_ids")))


def _ids(value: Any) -> tuple[str, ...]:
    """Comma-separated ids (or a JSON list in the config file) -> a tuple, empties dropped."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


MLFLOW_TRACKING_ENV = "MYFLIX_MLFLOW_TRACKING_ARN"
MLFLOW_TRACKING_KEY = "mlflow_tracking_arn"


def mlflow_tracking_uri(env: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None) -> str | None:
    """The SageMaker managed MLflow tracking server's ARN for cloud executions ($MYFLIX_MLFLOW_TRACKING_ARN,
    else "mlflow_tracking_arn" in the config file), or None: the ARN is the tracking URI (sagemaker-mlflow)."""
    env = os.environ if env is None else env
    config = load_config() if config is None else config
    return env.get(MLFLOW_TRACKING_ENV) or config.get(MLFLOW_TRACKING_KEY) or None


def from_args(args: Any, *required: str) -> Settings:
    """Resolve from an argparse namespace carrying region/role/bucket/pipeline_name; every setting
    in `required` must have a value (one UserError naming each missing one and how to set it)."""
    resolved = resolve({name: getattr(args, name, None) for name in SOURCES})
    resolved.require(*required)
    return resolved
