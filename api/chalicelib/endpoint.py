"""The model endpoint client: a feature vector in, the movie's cluster and scaled vector out.

In AWS it calls SageMaker runtime's InvokeEndpoint. Locally it reads the local runner's
`<workdir>/endpoints/<name>.json`, finds the model.tar.gz its ModelDataUrl points at, and runs the
handler that the artefact carries (`code/inference.py`, what the SKLearn container would run)
in this process. Either way the answer is the handler's JSON: {"predictions": [{"cluster",
"distance", "scaled"}], "features", "k"}. A request the model rejects becomes a 400 naming the
field; an endpoint that cannot answer becomes a 502.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tarfile
import tempfile
import threading
from pathlib import Path

from chalicelib import local_layout  # copy of local_aws/layout.py: the API Lambda ships api/ only
from chalicelib.config import Settings
from chalicelib.errors import EndpointUnavailable, InvalidRequest
from chalicelib.tables import s3_to_local

MAX_MODEL_MESSAGE = 300   # the model's message may quote the caller's input: only its start goes back


# The handler's refusals (docs/CONTRACTS.md "Serving"): bad features 400, Content-Type 415, Accept 406.
MODEL_REFUSALS = (400, 406, 415)


class SageMakerEndpoint:
    def __init__(self, settings: Settings, client=None):
        self.settings = settings
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3
            self._client = boto3.client("sagemaker-runtime", region_name=self.settings.region)
        return self._client

    def predict(self, features: dict) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self.settings.endpoint_name
        try:
            response = self.client.invoke_endpoint(EndpointName=name, ContentType="application/json",
                                                   Accept="application/json", Body=json.dumps(features))
        except ClientError as err:
            error = err.response.get("Error", {})
            message = error.get("Message", str(err))
            # the handler's refusal (400/406/415) arrives as ModelError with OriginalStatusCode
            if err.response.get("OriginalStatusCode") in MODEL_REFUSALS or any(
                    f"client error ({status})" in message for status in MODEL_REFUSALS):
                original = err.response.get("OriginalMessage") or message
                raise InvalidRequest("the model rejected the features: "
                                     f"{_model_message(original)[:MAX_MODEL_MESSAGE]}") from None
            raise EndpointUnavailable(f"endpoint {name} failed: {error.get('Code', '')}: {message}") from None
        except BotoCoreError as err:
            raise EndpointUnavailable(f"endpoint {name} is unreachable: {err}") from None
        body = response["Body"].read()
        try:
            return json.loads(body)
        except ValueError:
            raise EndpointUnavailable(f"endpoint {name} answered something that is not JSON: {body[:200]!r}") from None


def _model_message(message: str) -> str:
    start = message.find("{")
    if start >= 0:
        try:
            return json.loads(message[start:message.rfind("}") + 1]).get("error", message)
        except ValueError:
            pass
    return message


def _safe_extract(tarball: Path, target: Path) -> None:
    """Unpack a model.tar.gz refusing links and paths that leave the target folder."""
    staging = Path(tempfile.mkdtemp(prefix=".unpack.", dir=target.parent))
    with tarfile.open(tarball, "r:*") as archive:
        members = archive.getmembers()
        for m in members:
            parts = Path(m.name).parts
            if m.name.startswith(("/", "\\")) or ".." in parts or not (m.isfile() or m.isdir()):
                raise EndpointUnavailable(f"{tarball} holds an unsafe entry {m.name!r}: refusing to unpack it")
        archive.extractall(staging, members=members, filter="data")
    os.replace(staging, target)


def load_handler(model_dir: Path):
    """The artefact's code/inference.py as a module (the project's own copy when it carries none)."""
    source = model_dir / "code" / "inference.py"
    if not source.is_file():
        try:
            from inference import inference as handler  # local checkout only; never in the Lambda
        except ImportError:
            raise EndpointUnavailable(f"{model_dir} carries no code/inference.py to serve it with") from None
        return handler
    spec = importlib.util.spec_from_file_location(f"myflix_endpoint_handler_{model_dir.name}", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalEndpoint:
    """The local runner's endpoint record, served in-process by the artefact's own handler."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._loaded: tuple[str, object, object] | None = None   # (ModelDataUrl, handler, model)

    @property
    def record_path(self) -> Path:
        return local_layout.endpoint_path(self.settings.workdir, self.settings.endpoint_name)

    def _model(self):
        path = self.record_path
        try:
            record = local_layout.read_endpoint(self.settings.workdir, self.settings.endpoint_name)
            if record is None:
                raise EndpointUnavailable(f"no endpoint {self.settings.endpoint_name} in {self.settings.workdir} "
                                          f"(missing {path}): run `myflix run`; approving its model deploys it")
            url = record["ModelDataUrl"]
        except (OSError, ValueError, KeyError) as err:
            raise EndpointUnavailable(f"{path} is not a usable endpoint record ({err}): "
                                      "deploy the approved model again (`myflix deploy stage`)") from None
        if record.get("EndpointStatus", "InService") != "InService":
            raise EndpointUnavailable(f"endpoint {self.settings.endpoint_name} is {record.get('EndpointStatus')}")
        with self._lock:
            if self._loaded is None or self._loaded[0] != url:
                self._loaded = (url, *self._load(url))
            return self._loaded[1], self._loaded[2]

    def _load(self, url: str):
        source = s3_to_local(url, self.settings.workdir)
        if source.is_dir():
            folder = source
        elif source.is_file():
            digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
            cache = local_layout.model_cache_dir(self.settings.workdir)
            cache.mkdir(parents=True, exist_ok=True)
            folder = cache / digest
            if not folder.is_dir():
                _safe_extract(source, folder)
        else:
            raise EndpointUnavailable(f"the endpoint's model {url} ({source}) does not exist: re-run the pipeline")
        handler = load_handler(folder)
        try:
            return handler, handler.model_fn(str(folder))
        except Exception as err:  # noqa: BLE001 - a broken artefact is the endpoint's failure, not the caller's
            raise EndpointUnavailable(f"the endpoint's model {url} does not load: {err}") from None

    def predict(self, features: dict) -> dict:
        handler, model = self._model()
        # respond() is what the container's transform_fn answers with: same statuses, same bodies
        answer = handler.respond(model, json.dumps(features), "application/json", "application/json")
        if answer.status in MODEL_REFUSALS:
            raise InvalidRequest("the model rejected the features: "
                                 f"{_model_message(answer.body.decode())[:MAX_MODEL_MESSAGE]}")
        if answer.status != 200:
            raise EndpointUnavailable(f"the endpoint's model answered {answer.status}: {answer.body[:200]!r}")
        return json.loads(answer.body)


def make_endpoint(settings: Settings):
    return LocalEndpoint(settings) if settings.local else SageMakerEndpoint(settings)
