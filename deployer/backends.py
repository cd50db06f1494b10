"""Where a release goes: SageMaker + Glue + S3 through boto3, or the local stand-ins under `<workdir>`.

Both offer the same small interface (`Backend`): read a model package and the group, create or
update an endpoint from a package (model, endpoint config, endpoint; wait for InService), read and
write the endpoint's tags, invoke it, read the release manifest, point the table. The one
implementation of create-model / endpoint-config / update-endpoint is `SageMakerBackend.deploy`.
Locally an endpoint is `<workdir>/endpoints/<name>.json` and it is invoked through the local
endpoint server (inference/local_endpoint.py, a real HTTP server on 127.0.0.1) for the duration
of a smoke test.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from deployer.release import DeployConfig, DeployError, ManifestMissing, package_version

POLL_SECONDS = 15.0
Invoke = Callable[[bytes], Any]


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def deployment_names(endpoint: str, package: dict[str, Any], variant_spec: str) -> tuple[str, str]:
    """(model name, endpoint config name), fixed by endpoint, package and variant: a retry reuses them.

    Both start with `<endpoint>-` (the roles allow exactly that); SageMaker names allow 63
    characters of letters, digits and hyphens.
    """
    digest = hashlib.sha256(f"{package['ModelPackageArn']}|{variant_spec}".encode()).hexdigest()[:8]
    stem = re.sub(r"[^A-Za-z0-9-]", "-", endpoint)[:40].strip("-")
    suffix = f"v{package.get('ModelPackageVersion') or package_version(package['ModelPackageArn'])}-{digest}"
    return f"{stem}-{suffix}", f"{stem}-cfg-{suffix}"


class Backend(Protocol):
    def describe_package(self, arn: str) -> dict[str, Any]: ...
    def list_packages(self, group: str) -> list[dict[str, Any]]: ...
    def deploy(self, endpoint: str, package: dict[str, Any], log: Callable[[str], None],
               deadline: float) -> dict[str, Any]: ...
    def endpoint(self, name: str) -> dict[str, Any] | None: ...
    def set_tags(self, name: str, tags: dict[str, str]) -> None: ...
    def invoker(self, name: str) -> contextlib.AbstractContextManager[Invoke]: ...
    def read_json(self, uri: str) -> dict[str, Any]: ...
    def get_table(self) -> dict[str, Any] | None: ...
    def point_table(self, table_input: dict[str, Any]) -> dict[str, Any]: ...
    def check_table(self, manifest: dict[str, Any]) -> str: ...
    def release_lock(self, deadline: float) -> contextlib.AbstractContextManager[None]: ...


def table_location(manifest: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    table_input = manifest.get("TableInput") or {}
    return ((table_input.get("StorageDescriptor") or {}).get("Location") or "",
            dict(table_input.get("Parameters") or {}))


def index_table(manifest: dict[str, Any], workdir: Path | None = None, region: str | None = None) -> str:
    """The API's own start-up over the release's table (chalicelib.tables.read_rows + MovieIndex):
    every data file read, every row indexed. Needs the API's code and pandas/pyarrow (a checkout:
    `myflix` commands, local releases); raises ImportError where they are absent (the Lambda)."""
    import sys
    api_dir = str(Path(__file__).resolve().parents[1] / "api")
    if api_dir not in sys.path:
        sys.path.insert(0, api_dir)
    from chalicelib import config as api_config
    from chalicelib import tables
    from chalicelib.errors import TableUnavailable
    from chalicelib.index import MovieIndex

    location, parameters = table_location(manifest)
    ref = tables.TableRef(location=location, parameters=parameters)
    settings = api_config.Settings(workdir=workdir, region=region)
    try:
        frame, embeddings = tables.read_rows(ref, settings)
        index = MovieIndex.build(frame, embeddings, ref.features, meta=ref.parameters)
    except TableUnavailable as err:
        raise DeployError(str(err)[:300]) from None
    except (MemoryError, ValueError, KeyError, TypeError) as err:
        raise DeployError(f"the API cannot index the table under {location}: "
                          f"{type(err).__name__}: {err}") from None
    if len(index) == 0:
        raise DeployError(f"the table under {location} holds no servable movie "
                          f"({index.skipped or 'no rows'})")
    if ref.features is not None and index.emb.shape[1] != len(ref.features):
        raise DeployError(f"the table's embeddings have {index.emb.shape[1]} values, its myflix_features "
                          f"{len(ref.features)}")
    skipped = f", {sum(index.skipped.values())} rows skipped" if index.skipped else ""
    return f"{len(index)} movies in {len(index.cluster_ids)} clusters read and indexed{skipped}"


def _s3_parts(uri: str) -> tuple[str, str]:
    """("bucket", "key") of an object's URI. A copy of local_aws.layout.s3_key_parts (plus: the key may
    not be empty), because the deployer Lambda's zip ships deployer/ only; tests/test_local_aws.py
    checks that the two agree."""
    match = re.match(r"^s3://([^/]{3,})/(.+)$", uri or "")
    if not match or ".." in match.group(2).split("/"):
        raise DeployError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


# --- AWS ----------------------------------------------------------------------------------------------
class SageMakerBackend:
    """SageMaker, SageMaker runtime, Glue and S3 clients of one region (what the Lambda's role allows)."""

    def __init__(self, config: DeployConfig, session: Any = None, poll_seconds: float = POLL_SECONDS):
        import boto3
        self.config = config
        session = session or boto3.session.Session(region_name=config.region)
        self.sagemaker = session.client("sagemaker")
        self.runtime = session.client("sagemaker-runtime")
        self.glue = session.client("glue")
        self.s3 = session.client("s3")
        self.poll_seconds = poll_seconds

    @staticmethod
    def _code(err: Exception) -> str:
        return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))

    def describe_package(self, arn: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError
        package_version(arn)
        try:
            return self.sagemaker.describe_model_package(ModelPackageName=arn)
        except ClientError as err:
            raise DeployError(f"cannot read the model package {arn}: {err}") from err

    def list_packages(self, group: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        kwargs = {"ModelPackageGroupName": group, "ModelPackageType": "Versioned", "SortBy": "CreationTime",
                  "SortOrder": "Descending", "MaxResults": 100}
        while True:
            page = self.sagemaker.list_model_packages(**kwargs)
            found += page.get("ModelPackageSummaryList", [])
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]

    def _exists(self, call: Callable[[], Any]) -> bool:
        from botocore.exceptions import ClientError
        try:
            call()
            return True
        except ClientError as err:
            if self._code(err) in ("ValidationException", "ResourceNotFound"):
                return False
            raise

    def _describe_endpoint(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError
        try:
            return self.sagemaker.describe_endpoint(EndpointName=name)
        except ClientError as err:
            if self._code(err) in ("ValidationException", "ResourceNotFound"):
                return None
            raise

    def deploy(self, endpoint: str, package: dict[str, Any], log: Callable[[str], None],
               deadline: float) -> dict[str, Any]:
        """Create the endpoint from the package, or update it to a new config; wait for InService."""
        variant = self.config.variant("")
        model_name, config_name = deployment_names(endpoint, package, json.dumps(variant, sort_keys=True))
        variant["ModelName"] = model_name
        arn = package["ModelPackageArn"]
        if not self.config.role_arn:
            raise DeployError("no execution role for the endpoint's model (MYFLIX_ROLE_ARN is empty)")
        if not self._exists(lambda: self.sagemaker.describe_model(ModelName=model_name)):
            log(f"deploy: creating model {model_name} from {arn}")
            self.sagemaker.create_model(ModelName=model_name, ExecutionRoleArn=self.config.role_arn,
                                        Containers=[{"ModelPackageName": arn}])
        if not self._exists(lambda: self.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)):
            log(f"deploy: creating endpoint config {config_name}")
            self.sagemaker.create_endpoint_config(EndpointConfigName=config_name, ProductionVariants=[variant])
        current = self._describe_endpoint(endpoint)
        if current is None:
            log(f"deploy: creating endpoint {endpoint}")
            self.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        elif current.get("EndpointConfigName") == config_name and current.get("EndpointStatus") == "InService":
            log(f"deploy: endpoint {endpoint} already serves {config_name}; nothing to change")
            return current
        else:
            # An endpoint mid-change refuses UpdateEndpoint: let it settle first.
            self._wait(endpoint, log, deadline, accept_failed=True)
            log(f"deploy: updating endpoint {endpoint} to {config_name}")
            self.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        return self._wait(endpoint, log, deadline)

    def _wait(self, endpoint: str, log: Callable[[str], None], deadline: float,
              accept_failed: bool = False) -> dict[str, Any]:
        started, last = time.monotonic(), None
        while True:
            described = self.sagemaker.describe_endpoint(EndpointName=endpoint)
            status = described.get("EndpointStatus")
            if status != last:
                log(f"deploy: endpoint {endpoint} is {status} ({time.monotonic() - started:.0f}s)")
                last = status
            if status == "InService" or (accept_failed and status == "Failed"):
                return described
            if status == "Failed":
                raise DeployError(f"endpoint {endpoint} failed: {described.get('FailureReason', 'no reason given')}; "
                                  f"see its CloudWatch logs (/aws/sagemaker/Endpoints/{endpoint})")
            if time.monotonic() + self.poll_seconds > deadline:
                raise DeployError(f"endpoint {endpoint} still {status} when the deployer ran out of time: "
                                  "check it in the SageMaker console, then run `myflix deploy status`")
            time.sleep(self.poll_seconds)

    def endpoint(self, name: str) -> dict[str, Any] | None:
        described = self._describe_endpoint(name)
        if described is None:
            return None
        tags = self.sagemaker.list_tags(ResourceArn=described["EndpointArn"]).get("Tags", [])
        return {**described, "Tags": {t["Key"]: t["Value"] for t in tags}}

    def set_tags(self, name: str, tags: dict[str, str]) -> None:
        described = self._describe_endpoint(name)
        if described is None:
            raise DeployError(f"no endpoint {name} to record the release on")
        self.sagemaker.add_tags(ResourceArn=described["EndpointArn"],
                                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])

    @contextlib.contextmanager
    def invoker(self, name: str) -> Iterator[Invoke]:
        from botocore.exceptions import ClientError

        def invoke(body: bytes) -> Any:
            try:
                response = self.runtime.invoke_endpoint(EndpointName=name, ContentType="application/json",
                                                        Accept="application/json", Body=body)
            except ClientError as err:
                return {"error": f"{self._code(err)}: {err}"}
            raw = response["Body"].read()
            try:
                return json.loads(raw)
            except ValueError:
                return {"error": f"not JSON: {raw[:80]!r}"}
        yield invoke

    def read_json(self, uri: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError
        bucket, key = _s3_parts(uri)
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            code = self._code(err)
            # Without s3:ListBucket a missing key answers AccessDenied, not NoSuchKey.
            kind = ManifestMissing if code in ("NoSuchKey", "404", "AccessDenied", "403") else DeployError
            raise kind(f"cannot read {uri} ({code}): has the pipeline's Publish step "
                       "finished for this package?") from err
        try:
            return json.loads(body)
        except ValueError as err:
            raise DeployError(f"{uri} is not JSON: run the pipeline again") from err

    def get_table(self) -> dict[str, Any] | None:
        try:
            return self.glue.get_table(DatabaseName=self.config.database, Name=self.config.table)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            return None

    def check_table(self, manifest: dict[str, Any]) -> str:
        """The release's data files: read and indexed as the API does where its code is at hand
        (`myflix deploy` commands); in the Lambda (boto3 only) each file Publish lists is fetched
        and must be a whole parquet file (PAR1 at both ends, a footer that fits)."""
        import tempfile

        from botocore.exceptions import ClientError
        location, _ = table_location(manifest)
        files = manifest.get("Files") or []
        if not files:
            raise DeployError(f"the release manifest under {location} lists no data files: publish it again")
        bodies = {}
        for uri in files:
            bucket, key = _s3_parts(uri)
            try:
                bodies[uri] = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as err:
                raise DeployError(f"cannot read the table's data file {uri} ({self._code(err)})") from None
            if bodies[uri][:4] != b"PAR1" or bodies[uri][-4:] != b"PAR1":
                raise DeployError(f"the table's data file {uri} is not a whole parquet file")
        # the files as the local stand-in lays them out, so the API's own reader indexes them
        with tempfile.TemporaryDirectory(prefix="myflix-smoke-") as tmp:
            try:
                layout = _layout()
                for uri, body in bodies.items():
                    target = layout.s3_path(tmp, uri)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(body)
                return index_table(manifest, workdir=Path(tmp))
            except ImportError:     # the Lambda: boto3 only, no pandas/pyarrow
                return f"{len(files)} parquet file(s) present and whole"

    def release_lock(self, deadline: float) -> contextlib.AbstractContextManager[None]:
        """On AWS the guard is the endpoint's state: deploy() waits for an endpoint mid-change, and
        a smoke verdict counts only when staging still serves the config deployed for it."""
        return contextlib.nullcontext()

    def point_table(self, table_input: dict[str, Any]) -> dict[str, Any]:
        """One UpdateTable (CreateTable the first time): readers see the old location or the new one."""
        if self.get_table() is None:
            self.glue.create_table(DatabaseName=self.config.database, TableInput=table_input)
        else:
            self.glue.update_table(DatabaseName=self.config.database, TableInput=table_input)
        return self.get_table() or {}


# --- local ----------------------------------------------------------------------------------------------
def _layout():
    """local_aws.layout, imported when a local backend runs: the Lambda's zip has no local_aws/."""
    from local_aws import layout
    return layout


class LocalBackend:
    """The local runner's stand-ins (docs/CONTRACTS.md, "Local AWS stand-ins") under `workdir`."""

    def __init__(self, config: DeployConfig, workdir: Path):
        self.config = config
        self.workdir = Path(workdir).resolve()
        self._lock_depth = 0

    @contextlib.contextmanager
    def release_lock(self, deadline: float) -> Iterator[None]:
        """One release at a time across processes: an exclusive flock on <workdir>/endpoints/.release.lock
        (reentrant in this backend). A second approval waits for the first, up to the deadline."""
        import fcntl
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        path = _layout().release_lock_path(self.workdir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            waited = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise DeployError(f"another release still holds {path}: wait for it "
                                          "(`myflix deploy status`), then try again") from None
                    if not waited:
                        print(f"deploy: another release is under way; waiting for it ({path})", flush=True)
                        waited = True
                    time.sleep(0.1)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check_table(self, manifest: dict[str, Any]) -> str:
        return index_table(manifest, workdir=self.workdir)

    def _path(self, uri: str) -> Path:
        _s3_parts(uri)                           # the deployer's own message for a URI it refuses
        return _layout().s3_path(self.workdir, uri)

    def describe_package(self, arn: str) -> dict[str, Any]:
        from local_aws import registry
        package_version(arn)
        try:
            return registry.describe(self.workdir, arn)
        except registry.RegistryError as err:
            raise DeployError(str(err)) from None

    def list_packages(self, group: str) -> list[dict[str, Any]]:
        from local_aws import registry
        return registry.list_packages(self.workdir, group)

    def _record_path(self, name: str) -> Path:
        return _layout().endpoint_path(self.workdir, name)

    def _write(self, path: Path, record: dict[str, Any]) -> None:
        _layout().write_json_atomic(path, record, sort_keys=True)

    def deploy(self, endpoint: str, package: dict[str, Any], log: Callable[[str], None],
               deadline: float) -> dict[str, Any]:
        model_data = ((package.get("InferenceSpecification") or {}).get("Containers") or [{}])[0].get("ModelDataUrl")
        if not self._path(model_data).exists():
            raise DeployError(f"the package's model {model_data} is not in the local store "
                              f"({self._path(model_data)}): run the pipeline again")
        variant = self.config.variant("")
        model_name, config_name = deployment_names(endpoint, package, json.dumps(variant, sort_keys=True))
        path = self._record_path(endpoint)
        previous = self.endpoint(endpoint)
        if previous and previous.get("EndpointConfigName") == config_name:
            log(f"deploy: local endpoint {endpoint} already serves {config_name}; nothing to change")
            return previous
        now = now_iso()
        record = {"EndpointName": endpoint, "EndpointStatus": "InService", "EndpointConfigName": config_name,
                  "ModelName": model_name, "ModelPackageArn": package["ModelPackageArn"], "ModelDataUrl": model_data,
                  "ProductionVariant": {**variant, "ModelName": model_name},
                  "CreationTime": (previous or {}).get("CreationTime", now), "LastModifiedTime": now,
                  "Tags": (previous or {}).get("Tags", {})}
        self._write(path, record)
        log(f"deploy: local endpoint {endpoint} {'updated' if previous else 'created'} -> "
            f"{package['ModelPackageArn']} ({path})")
        return record

    def endpoint(self, name: str) -> dict[str, Any] | None:
        layout = _layout()
        try:
            return layout.read_endpoint(self.workdir, name)
        except layout.LayoutError as err:
            raise DeployError(f"{err}: remove it and deploy again") from None

    def set_tags(self, name: str, tags: dict[str, str]) -> None:
        record = self.endpoint(name)
        if record is None:
            raise DeployError(f"no local endpoint {name} to record the release on")
        record["Tags"] = {**record.get("Tags", {}), **tags}
        self._write(self._record_path(name), record)

    @contextlib.contextmanager
    def invoker(self, name: str) -> Iterator[Invoke]:
        """The endpoint's model served by the local endpoint server on 127.0.0.1 while the block runs."""
        import urllib.error
        import urllib.request

        from inference.local_endpoint import LocalEndpoint
        record = self.endpoint(name)
        if record is None:
            raise DeployError(f"no local endpoint {name}")
        server = LocalEndpoint(self._path(record["ModelDataUrl"])).start()

        def invoke(body: bytes) -> Any:
            request = urllib.request.Request(f"{server.url}/invocations", data=body, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "Accept": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                return {"error": f"HTTP {err.code}: {err.read()[:200]!r}"}
        try:
            yield invoke
        finally:
            server.stop()

    def read_json(self, uri: str) -> dict[str, Any]:
        path = self._path(uri)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestMissing(f"nothing at {uri} ({path}): has the pipeline's Publish step finished "
                                  "for this package?") from None
        except ValueError as err:
            raise DeployError(f"{uri} is not JSON ({err}): run the pipeline again") from None

    def get_table(self) -> dict[str, Any] | None:
        layout = _layout()
        try:
            return layout.read_record(layout.catalog_path(self.workdir, self.config.database, self.config.table))
        except layout.LayoutError as err:
            raise DeployError(f"{err}: promote a release again") from None

    def point_table(self, table_input: dict[str, Any]) -> dict[str, Any]:
        """The local catalog entry in Glue's GetTable shape, replaced in one rename (the one local
        Glue write, local_aws.layout.put_table, that the Publish step's local path makes too)."""
        self.get_table()                         # a damaged entry: the deployer's message
        return _layout().put_table(self.workdir, self.config.database, self.config.table, table_input,
                                   now=now_iso())
