"""Every job request in the pipeline definition is one SageMaker accepts: botocore's own validator.

SageMaker Pipelines sends each step's Arguments as the body of the service call for its type
(CreateProcessingJob, CreateTrainingJob, CreateModelPackage, CreateModel) once the pipeline
expressions are resolved. Here each expression is replaced by a concrete value of the type the
API model expects at that place, the name SageMaker adds is filled in, and botocore's
ParamValidator (the check boto3 runs before any call) must find nothing wrong.
"""
from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

EXPRESSION_KEYS = {"Get", "Std:Join", "Std:JsonGet"}
# The name each job type gets from SageMaker Pipelines, and the call its Arguments are the body of.
CALLS = {"Processing": ("CreateProcessingJob", {"ProcessingJobName": "pipelines-abc-Preprocess"}),
         "Training": ("CreateTrainingJob", {"TrainingJobName": "pipelines-abc-TrainKMeans"}),
         "RegisterModel": ("CreateModelPackage", {}),
         "Model": ("CreateModel", {"ModelName": "pipelines-abc-Model"})}


@pytest.fixture(scope="module")
def sagemaker_model():
    return botocore.session.get_session().get_service_model("sagemaker")


@pytest.fixture(scope="module")
def steps(definition_json_once):
    definition = json.loads(definition_json_once("us-east-1", "arn:aws:iam::123456789012:role/myflix",
                                                 "myflix-bucket"))
    out = []

    def walk(items):
        for step in items:
            out.append(step)
            if step["Type"] == "Condition":
                walk(step["Arguments"].get("IfSteps", []))
                walk(step["Arguments"].get("ElseSteps", []))
    walk(definition["Steps"])
    return out


def is_expression(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS


def concrete(value, shape):
    """`value` with every pipeline expression replaced by a plausible value of `shape`'s type."""
    if is_expression(value):
        return sample(shape)
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: concrete(v, shape.members.get(k)) for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [concrete(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: concrete(v, shape.value) for k, v in value.items()}
    return value


def sample(shape):
    kind = shape.type_name
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        name = shape.name.lower()
        if "s3" in name or "url" in name or "uri" in name:
            return "s3://myflix-bucket/runs/myflix-movie-clusters/abc/Step/output"
        if "arn" in name:
            return "arn:aws:sagemaker:us-east-1:123456789012:model-package/myflix-movie-clusters/1"
        return "ml.m5.large" if "instance" in name else "value"
    if kind in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return True
    if kind == "list":
        return [sample(shape.member)]
    raise AssertionError(f"no sample for {shape.name} ({kind})")


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_every_step_request_validates_against_botocores_model(steps, sagemaker_model, kind):
    operation, added = CALLS[kind]
    input_shape = sagemaker_model.operation_model(operation).input_shape
    checked = [step for step in steps if step["Type"] == kind]
    if kind != "Model":
        assert checked, f"the definition has no {kind} step"
    for step in checked:
        request = {**concrete(step["Arguments"], input_shape), **added}
        report = ParamValidator().validate(request, input_shape)
        assert not report.has_errors(), f"{step['Name']} ({operation}):\n{report.generate_report()}"


def test_the_validator_would_catch_a_bad_request(steps, sagemaker_model):
    # The check itself can fail: a wrong type where CreateTrainingJob wants an integer.
    operation, added = CALLS["Training"]
    input_shape = sagemaker_model.operation_model(operation).input_shape
    step = next(s for s in steps if s["Type"] == "Training")
    request = {**concrete(step["Arguments"], input_shape), **added}
    request["ResourceConfig"]["VolumeSizeInGB"] = "thirty"
    assert ParamValidator().validate(request, input_shape).has_errors()


def test_compute_steps_are_network_isolated_and_callers_are_not(steps):
    by_name = {s["Name"]: s["Arguments"] for s in steps}
    isolation = {"Get": "Parameters.enable_network_isolation"}
    for name in ("Preprocess", "TuneKMeans"):
        assert by_name[name]["NetworkConfig"]["EnableNetworkIsolation"] == isolation
    for name in ("TrainScaler", "TrainKMeans", "TrainRecommender"):
        assert by_name[name]["EnableNetworkIsolation"] == isolation
    # they download, read the collected events, or call SageMaker/Glue
    for name in ("Ingest", "PrepareInteractions", "Evaluate", "Publish"):
        assert not (by_name[name].get("NetworkConfig") or {}).get("EnableNetworkIsolation")
