"""The API's settings, read from environment variables (Lambda's configuration, or `myflix serve`).

MYFLIX_WORKDIR set: local mode, reading the local runner's stand-ins under that folder (catalog,
object store, endpoints). Otherwise AWS: the Glue table and the SageMaker endpoint named below, and
the events' Firehose stream and bucket (MYFLIX_EVENTS_STREAM, MYFLIX_BUCKET).
The default names repeat steps/schema.py's on purpose (this package is deployed without `steps`);
`tests/test_api.py` checks that they agree.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE = "myflix"
DEFAULT_TABLE = "movie_clusters"
DEFAULT_ENDPOINT = "myflix-movie-clusters"
# copy of local_aws.constants.LOCAL_BUCKET (the local runner's bucket): the API Lambda ships api/ only;
# tests/test_local_aws.py checks that they agree.
DEFAULT_LOCAL_BUCKET = "myflix-local"
DEFAULT_NPROBE = 1          # clusters searched for similar movies: the movie's own (recall@10 0.998 in bench_api)
MAX_NPROBE = 64
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 10_000_000
YEAR_RANGE = (0, 3000)     # the /movies year filter
MAX_CLUSTER_ID = 10_000


@dataclass(frozen=True)
class Settings:
    workdir: Path | None = None            # local mode when set
    database: str = DEFAULT_DATABASE
    table: str = DEFAULT_TABLE
    endpoint_name: str = DEFAULT_ENDPOINT
    cors_origin: str = "*"
    reload_seconds: float = 60.0            # how often (at most) the table's location is checked
    region: str | None = None
    bucket: str | None = None               # events/ and forget records (locally: the stand-in's bucket)
    events_stream: str | None = None        # the Firehose delivery stream (AWS); unset: /events answers 503

    @property
    def local(self) -> bool:
        return self.workdir is not None


def _float(env: dict, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None


def from_env(env: dict | None = None) -> Settings:
    env = os.environ if env is None else env
    workdir = env.get("MYFLIX_WORKDIR") or None
    return Settings(
        workdir=Path(workdir).resolve() if workdir else None,
        database=env.get("MYFLIX_GLUE_DATABASE") or DEFAULT_DATABASE,
        table=env.get("MYFLIX_GLUE_TABLE") or DEFAULT_TABLE,
        endpoint_name=env.get("MYFLIX_ENDPOINT_NAME") or DEFAULT_ENDPOINT,
        cors_origin=env.get("MYFLIX_CORS_ORIGIN") or "*",
        reload_seconds=_float(env, "MYFLIX_RELOAD_SECONDS", 60.0),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        bucket=env.get("MYFLIX_BUCKET") or (DEFAULT_LOCAL_BUCKET if workdir else None),
        events_stream=env.get("MYFLIX_EVENTS_STREAM") or None,
    )
