"""steps/tune_kmeans.py: the step script on real data with explicit paths, as the pipeline runs it.

Features come from Preprocess on the real vega movies (tests/imdb_fixtures.py); the scaler
artefact is written by steps/artifacts.py and packed into model.tar.gz, as TrainScaler's output
reaches this step in SageMaker.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sklearn.preprocessing import StandardScaler

from imdb_fixtures import cached_preprocess
from steps import artifacts, schema, tune_kmeans

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_KEYS = {"k", "inertia", "knee_k", "chosen_k", "method", "k_min", "k_max", "n_movies"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    features_dir = cached_preprocess("vega")["features"]
    features = artifacts.read_features(features_dir)
    files = tmp_path_factory.mktemp("scaler-files")
    artifacts.save_scaler(StandardScaler().fit(features.X), "standard", features.names, files)
    channel = tmp_path_factory.mktemp("scaler")     # what the processing input mounts: model.tar.gz
    with tarfile.open(channel / schema.MODEL_TARBALL, "w:gz") as tar:
        for name in (schema.SCALER_JOBLIB, schema.SCALER_JSON):
            tar.add(files / name, arcname=name)
    return {"features": features_dir, "scaler": channel, "n": len(features.X)}


def run(inputs, out: Path, *extra: str) -> int:
    return tune_kmeans.main(["--features", str(inputs["features"]), "--scaler", str(inputs["scaler"]),
                             "--output", str(out), "--k-min", "2", "--k-max", "12", "--seed", "7", *extra])


def test_main_writes_elbow_json(inputs, tmp_path, capsys):
    assert run(inputs, tmp_path) == 0
    record = json.loads((tmp_path / schema.ELBOW_JSON).read_text())
    assert set(record) == CONTRACT_KEYS
    assert record["k"] == list(range(2, 13)) and len(record["inertia"]) == 11
    assert (record["k_min"], record["k_max"]) == (2, 12)
    assert record["method"] in ("kneedle", "fallback")
    assert 2 <= record["chosen_k"] <= 12
    if record["method"] == "kneedle":
        assert record["chosen_k"] == record["knee_k"]
    assert all(a > b for a, b in zip(record["inertia"], record["inertia"][1:]))
    assert record["n_movies"] > 12 and not list(tmp_path.glob("*.png"))   # drawn outside the job
    out = capsys.readouterr().out
    assert "k=  2 inertia=" in out and "k= 12 inertia=" in out          # progress per k
    assert f"chosen k = {record['chosen_k']}" in out


def test_two_runs_give_the_same_outputs(inputs, tmp_path):
    assert run(inputs, tmp_path / "a") == 0
    assert run(inputs, tmp_path / "b") == 0
    a, b = ((tmp_path / d / schema.ELBOW_JSON).read_bytes() for d in "ab")
    assert a == b
    import reports
    assert [p.name for p in reports.render(tmp_path / "a")] == ["elbow.png"]
    reports.render(tmp_path / "b")
    assert (tmp_path / "a" / "elbow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "a" / "elbow.png").read_bytes() == (tmp_path / "b" / "elbow.png").read_bytes()


def test_override_is_used_and_recorded(inputs, tmp_path):
    assert run(inputs, tmp_path, "--k-override", "5") == 0
    record = json.loads((tmp_path / schema.ELBOW_JSON).read_text())
    assert (record["chosen_k"], record["method"]) == (5, "override")


@pytest.mark.parametrize("args,message", [
    (["--k-min", "1"], "k_min >= 2"),
    (["--k-min", "8", "--k-max", "5"], "smaller than --k-min"),
    (["--k-max", "100000"], "smaller than the number of movies"),
    (["--k-max", "12", "--k-override", "40"], "outside the swept range"),
])
def test_bad_arguments_fail_clearly(inputs, tmp_path, capsys, args, message):
    argv = ["--features", str(inputs["features"]), "--scaler", str(inputs["scaler"]),
            "--output", str(tmp_path), *args]
    assert tune_kmeans.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / schema.ELBOW_JSON).exists()


def test_a_changed_scaler_is_refused(inputs, tmp_path, capsys):
    folder = artifacts.open_model_dir(inputs["scaler"])
    tampered = tmp_path / "scaler"
    tampered.mkdir()
    (tampered / schema.SCALER_JSON).write_bytes((folder / schema.SCALER_JSON).read_bytes())
    (tampered / schema.SCALER_JOBLIB).write_bytes((folder / schema.SCALER_JOBLIB).read_bytes() + b"\0")
    argv = ["--features", str(inputs["features"]), "--scaler", str(tampered), "--output", str(tmp_path / "out")]
    assert tune_kmeans.main(argv) == 2
    assert "digest" in capsys.readouterr().err


def test_started_as_a_file_as_the_container_does(inputs, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "steps" / "tune_kmeans.py"), "--features", str(inputs["features"]),
         "--scaler", str(inputs["scaler"]), "--output", str(tmp_path), "--k-min", "2", "--k-max", "6"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / schema.ELBOW_JSON).read_text())["k"] == [2, 3, 4, 5, 6]
