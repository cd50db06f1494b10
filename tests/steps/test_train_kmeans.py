"""TrainKMeans's main() on real data: the one model artefact, hyperparameters as SageMaker passes them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from test_artifacts import tar_folder, write_vega_dataset

from steps import artifacts, schema, train_kmeans, train_scaler


@pytest.fixture
def inference_source(tmp_path, monkeypatch):
    """The real inference/inference.py when it exists; a placeholder in tmp until then."""
    real = artifacts.default_inference_source()
    if real.is_file():
        return real
    placeholder = tmp_path / "placeholder" / "inference.py"
    placeholder.parent.mkdir()
    placeholder.write_text('"""placeholder for the serving handler (test only)."""\n')
    monkeypatch.setattr(artifacts, "default_inference_source", lambda: placeholder)
    return placeholder


@pytest.fixture
def channels(tmp_path, inference_source, monkeypatch):
    """features channel + scaler channel (holding model.tar.gz, as SageMaker delivers it)."""
    features_dir, _ = write_vega_dataset(tmp_path / "data")
    assert train_scaler.main(["--features", str(features_dir), "--model-dir", str(tmp_path / "scaler_out")]) == 0
    tar_folder(tmp_path / "scaler_out", tmp_path / "scaler_channel" / schema.MODEL_TARBALL)
    monkeypatch.setenv("SM_CHANNEL_FEATURES", str(features_dir))
    monkeypatch.setenv("SM_CHANNEL_SCALER", str(tmp_path / "scaler_channel"))
    return features_dir


def train(tmp_path, monkeypatch, name, *argv):
    model_dir = tmp_path / name
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    assert train_kmeans.main(list(argv)) == 0
    return model_dir


def test_main_writes_one_servable_artefact(channels, tmp_path, monkeypatch, inference_source):
    model_dir = train(tmp_path, monkeypatch, "model", "--k", "8", "--seed", "42")
    assert (model_dir / artifacts.INFERENCE_CODE).read_bytes() == inference_source.read_bytes()
    meta = json.loads((model_dir / schema.MODEL_JSON).read_text())
    assert meta["k"] == 8 and meta["seed"] == 42 and meta["inertia"] > 0 and len(meta["features"]) == 26
    # Served as SageMaker would: model.tar.gz with the files at its root, needing no repack.
    tarball = tar_folder(model_dir, tmp_path / "packed" / schema.MODEL_TARBALL)
    with tarfile.open(tarball) as archive:
        assert {"model.joblib", "model.json", "code/inference.py"} <= set(archive.getnames())
    model, _ = artifacts.load_model(tarball.parent)
    assert list(model.named_steps) == ["scaler", "kmeans"]
    X = artifacts.read_features(channels).X
    labels = model.predict(X)
    assert set(labels) == set(range(8))


@pytest.mark.parametrize("k_text", ["6", "6.0", "6 "])
def test_k_as_sagemaker_or_jsonget_spells_it(channels, tmp_path, monkeypatch, k_text):
    model_dir = train(tmp_path, monkeypatch, "model", "--k", k_text)
    assert json.loads((model_dir / schema.MODEL_JSON).read_text())["k"] == 6


def test_bad_k_is_a_clear_error(channels, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "m"))
    with pytest.raises(SystemExit):
        train_kmeans.main(["--k", "6.5"])
    assert "'6.5' is not a whole number" in capsys.readouterr().err
    assert train_kmeans.main(["--k", "1"]) == 2
    assert "at least 2 clusters" in capsys.readouterr().err


def test_same_input_same_predictions(channels, tmp_path, monkeypatch):
    X = artifacts.read_features(channels).X
    first, _ = artifacts.load_model(train(tmp_path, monkeypatch, "a", "--k", "7", "--seed", "3"))
    second, _ = artifacts.load_model(train(tmp_path, monkeypatch, "b", "--k", "7", "--seed", "3"))
    assert np.array_equal(first.predict(X), second.predict(X))
    assert np.array_equal(first.named_steps["kmeans"].cluster_centers_, second.named_steps["kmeans"].cluster_centers_)


def test_tampered_model_is_refused(channels, tmp_path, monkeypatch):
    model_dir = train(tmp_path, monkeypatch, "model", "--k", "5")
    with open(model_dir / schema.MODEL_JOBLIB, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01")
    with pytest.raises(artifacts.ArtifactError, match="model.joblib does not match the digest"):
        artifacts.load_model(model_dir)


def test_missing_inference_handler_fails_clearly(channels, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(artifacts, "default_inference_source", lambda: tmp_path / "gone" / "inference.py")
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "m"))
    assert train_kmeans.main(["--k", "5"]) == 2
    assert "inference.py is missing" in capsys.readouterr().err


def test_scaler_from_another_feature_order_is_refused(channels, tmp_path, monkeypatch, capsys):
    scaler_dir = artifacts.open_model_dir(tmp_path / "scaler_channel")
    meta = json.loads((scaler_dir / schema.SCALER_JSON).read_text())
    meta["features"] = list(reversed(meta["features"]))
    (scaler_dir / schema.SCALER_JSON).write_text(json.dumps(meta))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "m"))
    assert train_kmeans.main(["--k", "5"]) == 2
    assert "feature order differs" in capsys.readouterr().err


def test_started_as_a_file_like_the_training_container(channels, tmp_path):
    """`python steps/train_kmeans.py --k "5"` from another folder, env vars only, as the toolkit runs it."""
    script = Path(train_kmeans.__file__).resolve()
    env = {**os.environ, "SM_MODEL_DIR": str(tmp_path / "container_model")}
    done = subprocess.run([sys.executable, str(script), "--k", "5", "--seed", "42"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "train_kmeans: inertia" in done.stdout
    meta = json.loads((tmp_path / "container_model" / schema.MODEL_JSON).read_text())
    assert meta["k"] == 5 and "Drama" in meta["genres"]
