"""TrainScaler's main() on real data, with SageMaker's training environment variables."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_artifacts import write_vega_dataset

from steps import artifacts, schema, train_scaler


@pytest.fixture
def features_dir(tmp_path):
    return write_vega_dataset(tmp_path / "data")[0]


@pytest.mark.parametrize("kind", ["standard", "minmax"])
def test_main_fits_and_writes_the_scaler_artefact(features_dir, tmp_path, monkeypatch, kind):
    model_dir = tmp_path / "model"
    monkeypatch.setenv("SM_CHANNEL_FEATURES", str(features_dir))
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    assert train_scaler.main(["--scaler", kind]) == 0
    meta = json.loads((model_dir / schema.SCALER_JSON).read_text())
    assert meta["kind"] == kind and len(meta["features"]) == 26
    scaler, _ = artifacts.load_scaler(model_dir)
    scaled = scaler.transform(artifacts.read_features(features_dir).X)
    if kind == "standard":
        assert np.allclose(scaled.mean(axis=0), 0, atol=1e-9)
    else:
        assert np.allclose(scaled.min(axis=0), 0) and np.allclose(scaled.max(axis=0)[scaled.max(axis=0) > 0], 1)


def test_unknown_scaler_and_missing_folders_are_clear_errors(features_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SM_CHANNEL_FEATURES", raising=False)
    monkeypatch.delenv("SM_MODEL_DIR", raising=False)
    with pytest.raises(SystemExit):
        train_scaler.main(["--scaler", "robust", "--features", str(features_dir), "--model-dir", str(tmp_path)])
    assert "invalid choice: 'robust'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_scaler.main([])
    assert "set SM_CHANNEL_FEATURES and SM_MODEL_DIR" in capsys.readouterr().err
    assert train_scaler.main(["--features", str(tmp_path / "none"), "--model-dir", str(tmp_path / "m")]) == 2
    assert "features.json is missing" in capsys.readouterr().err
