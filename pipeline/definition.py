"""The MyFlix SageMaker pipeline: `get_pipeline(...)` and `definition_json(...)`.

Built with the SageMaker Python SDK v3 (`sagemaker.mlops.workflow`). The definition is generated
offline and deterministically: a session with static dummy credentials (no credential chain, no
instance metadata lookups), role validation off, the user's SDK config files ignored, telemetry
off, and code referenced only by content-hash S3 keys (pipeline/code_bundle.py). Steps are built
by pipeline/step_builders.py, one function per step; the parameters are pipeline/parameters.py's
specs, made SDK parameters here.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from pipeline.code_bundle import CodeBundle, build_bundle
from pipeline.parameters import PIPELINE_NAME, parameter_specs

if TYPE_CHECKING:  # the SDK is imported lazily, under the environment set by _offline_sdk()
    from sagemaker.mlops.workflow.pipeline import Pipeline



class Params(dict):
    """Parameter name -> SDK Parameter object; attribute access for the builders."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def make_parameters(bucket: str) -> Params:
    from sagemaker.core.workflow.parameters import ParameterBoolean, ParameterFloat, ParameterInteger, ParameterString
    params = Params()
    for spec in parameter_specs(bucket):
        kind = (ParameterBoolean if isinstance(spec.default, bool)
                else ParameterInteger if isinstance(spec.default, int)
                else ParameterFloat if isinstance(spec.default, float) else ParameterString)
        params[spec.name] = kind(name=spec.name, default_value=spec.default)
    return params


# --- offline, deterministic SDK use ------------------------------------------------------------
_OFFLINE_ENV = {
    "SAGEMAKER_VALIDATE_ROLE": "false",   # no IAM call to check the role
    "AWS_EC2_METADATA_DISABLED": "true",  # never probe instance metadata for credentials/region
}
# Telemetry off, and a config given explicitly so that no user/admin SDK config file (tags, KMS
# keys, subnets...) leaks into a definition that must be the same on every machine.
_SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


_SDK_CONFIG_VALID = False


def _skip_revalidating_our_config() -> tuple[Any, Any]:
    """Validate _SDK_CONFIG once instead of on every config lookup.

    The SDK checks the session's config against its JSON schema (and that schema against the
    metaschema) on each of the ~60 lookups a definition makes: about 12 s on a loaded machine.
    Our config is a constant, so one validation is enough; any other config is still validated.
    """
    from sagemaker.core.config.config_manager import SageMakerConfig

    global _SDK_CONFIG_VALID
    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    validate = original.__func__
    if not _SDK_CONFIG_VALID:
        validate(_SDK_CONFIG)
        _SDK_CONFIG_VALID = True

    def validate_unless_ours(sagemaker_config=None):
        if sagemaker_config is not _SDK_CONFIG:
            validate(sagemaker_config)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_unless_ours)
    return SageMakerConfig, original


@contextlib.contextmanager
def _offline_sdk(region: str) -> Iterator[None]:
    """Environment and logging the SDK needs to build a definition with no network and no creds."""
    env = dict(_OFFLINE_ENV)
    # The SDK resolves a region when its modules are imported (a module-level default session).
    env.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION") or region)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    # The SDK logs its defaults at INFO/DEBUG/WARNING on loggers it configures itself; a user of
    # `myflix pipeline definition` wants the JSON only. Errors still show.
    previous_disable = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        config_cls, original_validate = _skip_revalidating_our_config()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            config_cls.validate_sagemaker_config = original_validate
    finally:
        logging.disable(previous_disable)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_session(region: str, bucket: str) -> Any:
    """A PipelineSession that never needs the network: dummy static credentials, bucket preset."""
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    # Static dummy credentials: generating a definition calls no AWS API, and the credential
    # chain (profiles, SSO, instance metadata) could otherwise reach the network.
    boto_session = boto3.Session(region_name=region, aws_access_key_id="offline-definition",
                                 aws_secret_access_key="offline-definition")
    session = PipelineSession(boto_session=boto_session, default_bucket=bucket,
                              sagemaker_config=_SDK_CONFIG)
    # default_bucket() would check (and create) the bucket through S3; it is known already.
    session._default_bucket = bucket
    return session


@dataclass(frozen=True)
class Vpc:
    """Subnets and security groups every processing and training job runs in (no VPC: None)."""

    subnets: tuple[str, ...]
    security_group_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        bad = [s for s in self.subnets if not s.startswith("subnet-")]
        bad += [g for g in self.security_group_ids if not g.startswith("sg-")]
        if not self.subnets or not self.security_group_ids or bad:
            raise ValueError("a VPC needs subnet-... ids and sg-... security group ids, both (got "
                             f"subnets {list(self.subnets)}, "
                             f"security groups {list(self.security_group_ids)})")


def _validate(region: str, role: str, bucket: str, pipeline_name: str) -> None:
    problems = []
    if not region:
        problems.append("region is empty (e.g. us-east-1)")
    if not role or not role.startswith("arn:"):
        problems.append(f"role must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got {role!r}")
    if not bucket or len(bucket) < 3 or "/" in bucket or bucket.startswith("s3:"):
        problems.append(f"bucket must be a bare S3 bucket name (3+ characters, no s3:// or /), got {bucket!r}")
    if not pipeline_name:
        problems.append("pipeline name is empty")
    if problems:
        raise ValueError("cannot build the pipeline definition: " + "; ".join(problems))


def get_pipeline(region: str, role: str, bucket: str, pipeline_name: str = PIPELINE_NAME,
                 bundle: "CodeBundle | None" = None, vpc: Vpc | None = None) -> "Pipeline":
    """The MyFlix pipeline, built offline. `bundle` defaults to this checkout's steps/ + inference/.

    Call `.definition()` inside `offline()` (or use `definition_json`) to keep it offline.
    """
    _validate(region, role, bucket, pipeline_name)
    bundle = bundle or build_bundle()
    with _offline_sdk(region):
        from sagemaker.mlops.workflow.pipeline import Pipeline

        from pipeline import step_builders  # it imports the SDK: only under _offline_sdk()

        session = make_session(region, bucket)
        params = make_parameters(bucket)
        ctx = step_builders.BuildContext(region=region, role=role, bucket=bucket, bundle=bundle,
                                         session=session, params=params, vpc=vpc)
        top_level_steps = step_builders.build_steps(ctx)
        return Pipeline(name=pipeline_name, parameters=list(params.values()),
                        steps=top_level_steps, sagemaker_session=session,
                        pipeline_experiment_config=None)


def offline(region: str) -> contextlib.AbstractContextManager:
    """The context in which `Pipeline.definition()` runs offline and quietly."""
    return _offline_sdk(region)


def definition_json(region: str, role: str, bucket: str, pipeline_name: str = PIPELINE_NAME,
                    bundle: "CodeBundle | None" = None, vpc: Vpc | None = None) -> str:
    """`pipeline.definition()`: the JSON SageMaker receives, generated offline, deterministic."""
    pipeline = get_pipeline(region, role, bucket, pipeline_name, bundle, vpc)
    with _offline_sdk(region):
        return pipeline.definition()
