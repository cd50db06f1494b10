"""Releases that cannot interleave, crash or promote an unservable table (issue 21, items 7, 8, 9).

Locally, over the stand-ins: two approvals at once are serialised by the release lock (each
smoke test runs against its own package); a corrupted model artefact is a failed smoke test
with its reason (recorded, shown by `deploy status`), not a traceback; a table without data
files fails the smoke test, which reads the table and starts the API's index over it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_deployer_local import BUCKET, record, register

from cli.main import main
from deployer_fixtures import train_models
from operations.deploy import local_deployer
from steps import schema

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return train_models(tmp_path_factory.mktemp("hardening"), {"a": (6, 42), "b": (5, 3)})


def staging_tags(workdir):
    return record(workdir, schema.STAGING_ENDPOINT_NAME)["Tags"]


def test_a_table_with_no_data_files_fails_the_smoke_test(tmp_path, models, capsys):
    register(tmp_path, models, "e1", "a")
    for part in (tmp_path / "s3" / BUCKET / schema.TABLE_PREFIX / "e1").glob("*.parquet"):
        part.unlink()                                   # only the manifest is left
    assert main(["registry", "approve", "1", "--workdir", str(tmp_path)]) == 1
    assert "no parquet files" in capsys.readouterr().out
    assert staging_tags(tmp_path)["myflix:smoke"] == "failed"
    assert not (tmp_path / "endpoints" / f"{schema.ENDPOINT_NAME}.json").exists()      # never promoted
    assert not (tmp_path / "catalog").exists()


def test_a_corrupted_model_artefact_is_a_failed_smoke_test_with_its_reason(tmp_path, models, capsys):
    register(tmp_path, models, "e1", "a")
    tarball = next((tmp_path / "s3" / BUCKET / "runs").rglob(schema.MODEL_TARBALL))
    tarball.write_bytes(tarball.read_bytes()[:2000])           # truncated in the store
    assert main(["registry", "approve", "1", "--workdir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "smoke test failed" in out and "did not load or answer" in out
    assert staging_tags(tmp_path)["myflix:smoke"] == "failed"
    assert main(["deploy", "status", "--local", "--workdir", str(tmp_path)]) == 0
    assert "smoke test failed" in capsys.readouterr().out


def test_the_smoke_test_passes_with_the_tables_index(tmp_path, models, capsys):
    register(tmp_path, models, "e1", "a")
    assert main(["registry", "approve", "1", "--workdir", str(tmp_path), "--no-promote"]) == 0
    assert "clusters read and indexed" in staging_tags(tmp_path)["myflix:smoke-detail"]


def test_a_second_release_waits_for_the_first(tmp_path, models):
    register(tmp_path, models, "e1", "a")
    holder = local_deployer(tmp_path, auto_promote=False, log=lambda m: None)
    done = {}
    with holder.backend.release_lock(time.monotonic() + 60):
        worker = threading.Thread(target=lambda: done.setdefault(
            "code", main(["registry", "approve", "1", "--workdir", str(tmp_path), "--no-promote"])))
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive()                                     # waiting on the lock
        assert not (tmp_path / "endpoints" / f"{schema.STAGING_ENDPOINT_NAME}.json").exists()
    worker.join(120)
    assert done["code"] == 0 and staging_tags(tmp_path)["myflix:smoke"] == "passed"


def test_two_approvals_from_two_processes_each_smoke_test_their_own_package(tmp_path, models):
    v1 = register(tmp_path, models, "e1", "a")
    v2 = register(tmp_path, models, "e2", "b")
    code = "import sys; from cli.main import main; sys.exit(main(sys.argv[1:]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, "registry", "approve", str(v), "--no-promote",
                               "--workdir", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for v in (1, 2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for out, package in zip(outs, (v1, v2)):
        assert f"{package['ModelPackageArn']} on {schema.STAGING_ENDPOINT_NAME}: smoke test passed" in out, out
    tags = staging_tags(tmp_path)
    assert tags["myflix:smoke"] == "passed"
    assert record(tmp_path, schema.STAGING_ENDPOINT_NAME)["ModelPackageArn"] == tags["myflix:model-package-arn"]
    json.dumps(tags)
