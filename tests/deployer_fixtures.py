"""What the deployer tests share: real models, their published tables, packages, and the event.

Models are trained by the TrainScaler/TrainKMeans scripts on the vega movies (Preprocess's real
output) with the real serving handler copied in; Publish's own main() stages each table with
its release manifest, locally or into moto's S3. `state_change_event` builds the EventBridge
event in the shape AWS documents for "SageMaker Model Package State Change" (field set, types
and nesting, including the example's second "source" key, which a JSON parser resolves to the
list): https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package
"""
from __future__ import annotations

import json
from pathlib import Path

from test_artifacts import tar_folder, write_vega_dataset

from steps import artifacts, publish, schema, train_kmeans, train_scaler

GROUP = schema.MODEL_PACKAGE_GROUP
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def train_models(root: Path, specs: dict[str, tuple[int, int]]) -> dict:
    """{"data": {features, catalog}, name: model.tar.gz} for each name -> (k, seed)."""
    features_dir, catalog_dir = write_vega_dataset(root / "data")
    assert train_scaler.main(["--features", str(features_dir), "--model-dir", str(root / "scaler")]) == 0
    out = {"features": features_dir, "catalog": catalog_dir}
    for name, (k, seed) in specs.items():
        model_dir = root / f"model-{name}"
        assert train_kmeans.main(["--k", str(k), "--seed", str(seed), "--features", str(features_dir),
                                  "--scaler-dir", str(root / "scaler"), "--model-dir", str(model_dir)]) == 0
        assert (model_dir / "code" / "inference.py").is_file()      # the real handler serves it
        out[name] = tar_folder(model_dir, root / f"channel-{name}" / schema.MODEL_TARBALL)
    return out


def stage_table(models: dict, table_model: str, bucket: str, execution: str, package_arn: str) -> str:
    """Publish's main(): the table of `table_model` under tables/<execution>/ with its manifest."""
    location = f"s3://{bucket}/{schema.TABLE_PREFIX}/{execution}/"
    code = publish.main(["--catalog", str(models["catalog"]), "--features", str(models["features"]),
                         "--model", str(models[table_model].parent), "--table-location", location,
                         "--execution-id", execution, "--model-package-arn", package_arn])
    assert code == 0
    return location


def package_request(model_data: str, table_uri: str, execution: str, status: str) -> dict:
    """The CreateModelPackage request the Register step makes (the fields the deployer reads)."""
    return {"ModelPackageGroupName": GROUP, "ModelApprovalStatus": status,
            "InferenceSpecification": {"Containers": [{"Image": IMAGE, "ModelDataUrl": model_data,
                                                       "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}}],
                                       "SupportedContentTypes": ["application/json"],
                                       "SupportedResponseMIMETypes": ["application/json"]},
            "CustomerMetadataProperties": {"myflix_execution_id": execution, "myflix_table_uri": table_uri}}


def state_change_event(package: dict, status: str) -> dict:
    """The documented event for this package and approval status (see the module docstring)."""
    arn = package["ModelPackageArn"]
    region, account = arn.split(":")[3], arn.split(":")[4]
    container = package["InferenceSpecification"]["Containers"][0]
    text = """{
      "version": "0", "id": "844e2571-85d4-695f-b930-0153b71dcb42",
      "detail-type": "SageMaker Model Package State Change", "source": "aws.sagemaker",
      "account": %(account)s, "time": "2026-12-01T17:00:14Z", "region": %(region)s,
      "resources": [%(arn)s], "source": ["aws.sagemaker"],
      "detail": {
        "ModelPackageGroupName": %(group)s, "ModelPackageVersion": %(version)d, "ModelPackageArn": %(arn)s,
        "CreationTime": "2026-12-01T17:00:14Z",
        "InferenceSpecification": {"Containers": [{"Image": %(image)s, "ImageDigest": "sha256:%(digest)s",
                                                   "ModelDataUrl": %(data)s}],
                                   "SupportedContentTypes": ["application/json"],
                                   "SupportedResponseMIMETypes": ["application/json"]},
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "CertifyForMarketplace": false, "ModelApprovalStatus": %(status)s,
        "MetadataProperties": {"GeneratedBy": %(generated)s},
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": %(metrics)s}}},
        "LastModifiedTime": "2026-12-01T17:00:14Z"
      }
    }""" % {"account": json.dumps(account), "region": json.dumps(region), "arn": json.dumps(arn),
            "group": json.dumps(package["ModelPackageGroupName"]), "version": int(arn.rsplit("/", 1)[1]),
            "image": json.dumps(container["Image"]), "digest": "0" * 64, "data": json.dumps(container["ModelDataUrl"]),
            "status": json.dumps(status),
            "generated": json.dumps(
                f"arn:aws:sagemaker:{region}:{account}:pipeline/{schema.PIPELINE_NAME}/execution/x"),
            "metrics": json.dumps(container["ModelDataUrl"].rsplit("/", 1)[0] + "/evaluation.json")}
    return json.loads(text)


def manifest_of(table_uri: str, read) -> dict:
    return json.loads(read(table_uri + publish.RELEASE_MANIFEST))


def model_predictions(model_tar: Path, cases: list[dict]) -> list[int]:
    model, meta = artifacts.load_model(model_tar.parent)
    import numpy as np
    X = np.array([[c["features"][n] for n in meta["features"]] for c in cases])
    return model.predict(X).tolist()
