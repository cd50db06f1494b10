"""The same release path locally: `myflix registry approve|reject` and `myflix deploy ...` over the
local stand-ins, with the smoke test going through the local endpoint server on 127.0.0.1."""
from __future__ import annotations

import json
import shutil

import pytest

from cli.main import main
from deployer_fixtures import package_request, stage_table
from local_aws import registry
from steps import schema

BUCKET = "myflix-local"


def register(workdir, models, execution, served, table_of=None):
    """What a local run leaves: the model in the store, the package, the staged table."""
    key = f"runs/{schema.PIPELINE_NAME}/{execution}/TrainKMeans/model/{schema.MODEL_TARBALL}"
    target = workdir / "s3" / BUCKET / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(models[served], target)
    table_uri = f"s3://{BUCKET}/{schema.TABLE_PREFIX}/{execution}/"
    package = registry.register(workdir, package_request(f"s3://{BUCKET}/{key}", table_uri, execution,
                                                         "PendingManualApproval"), "us-east-1")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MYFLIX_LOCAL_ROOT", str(workdir))
        stage_table(models, table_of or served, BUCKET, execution, package["ModelPackageArn"])
    return package


def record(workdir, name):
    return json.loads((workdir / "endpoints" / f"{name}.json").read_text())


def test_approve_reject_promote_rollback_locally(tmp_path, models, capsys):
    w = ["--workdir", str(tmp_path)]
    v1 = register(tmp_path, models, "e1", "a")
    assert main(["registry", "approve", "1", *w, "--no-promote"]) == 0
    assert record(tmp_path, schema.STAGING_ENDPOINT_NAME)["Tags"]["myflix:smoke"] == "passed"
    assert not (tmp_path / "endpoints" / f"{schema.ENDPOINT_NAME}.json").exists()
    assert not (tmp_path / "catalog").exists()
    assert main(["deploy", "promote", "--local", *w]) == 0
    assert record(tmp_path, schema.ENDPOINT_NAME)["ModelPackageArn"] == v1["ModelPackageArn"]
    table = json.loads((tmp_path / "catalog" / "myflix" / "movie_clusters.json").read_text())
    assert table["Parameters"]["myflix_model_package_arn"] == v1["ModelPackageArn"]

    # a model whose table disagrees with it: smoke test fails, prod and the table stay on v1
    v2 = register(tmp_path, models, "e2", "other", table_of="a")
    capsys.readouterr()
    assert main(["registry", "approve", "2", *w]) == 1
    assert "movies off their table cluster" in capsys.readouterr().out
    assert record(tmp_path, schema.STAGING_ENDPOINT_NAME)["Tags"]["myflix:smoke"] == "failed"
    assert record(tmp_path, schema.ENDPOINT_NAME)["ModelPackageArn"] == v1["ModelPackageArn"]
    assert main(["deploy", "status", "--local", *w]) == 0
    out = capsys.readouterr().out
    assert "smoke test failed" in out and "serve the same package" in out
    assert main(["deploy", "promote", "--local", *w]) == 2
    assert "did not pass its smoke test" in capsys.readouterr().err

    # a good v3 goes live; rejecting it rolls back to v1 (v2 failed and is skipped: prod's previous)
    v3 = register(tmp_path, models, "e3", "b")
    assert main(["registry", "approve", "3", *w]) == 0
    assert record(tmp_path, schema.ENDPOINT_NAME)["ModelPackageArn"] == v3["ModelPackageArn"]
    assert main(["registry", "reject", "3", *w]) == 0
    assert record(tmp_path, schema.ENDPOINT_NAME)["ModelPackageArn"] == v1["ModelPackageArn"]
    table = json.loads((tmp_path / "catalog" / "myflix" / "movie_clusters.json").read_text())
    assert table["StorageDescriptor"]["Location"].endswith("/e1/")
    assert main(["deploy", "rollback", "--local", "--to", "3", *w]) == 2
    assert "version 3 is Rejected" in capsys.readouterr().err
    assert main(["deploy", "status", "--local", "--json", *w]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["in_step"] and status["endpoints"][1]["previous"] == v3["ModelPackageArn"]
    assert v2["ModelApprovalStatus"] == "PendingManualApproval"
