"""Fixtures the step tests share: the local stand-ins' root a step reads and writes s3:// URIs under,
and a k-means model trained by the step scripts on a features folder (tests/steps/test_artifacts.py's
`write_vega_dataset` makes one from the real vega movies)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_artifacts import tar_folder

from steps import artifacts, aws_io, schema, train_kmeans, train_scaler


@pytest.fixture
def local_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder, tmp_path/work, as MYFLIX_LOCAL_ROOT: every s3:// URI a step touches lands under
    <root>/s3/<bucket>/, and its registry is empty (nothing in production)."""
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.setenv(aws_io.LOCAL_ROOT_ENV, str(root))
    return root


@pytest.fixture(scope="session")
def train_kmeans_channel() -> Callable[..., Path]:
    """A function (root, features_dir, k, prefix="") -> the model channel (a folder holding model.tar.gz).

    TrainScaler then TrainKMeans (their main()s, the scaler read from its model.tar.gz as SageMaker
    delivers it) on `features_dir`, with a placeholder serving handler in the artefact: under root,
    <prefix>scaler/, <prefix>scaler_channel/, <prefix>model/ and <prefix>model_channel/.
    """
    def train(root: Path, features_dir: Path, k: int, prefix: str = "") -> Path:
        scaler, scaler_channel = root / f"{prefix}scaler", root / f"{prefix}scaler_channel"
        model, model_channel = root / f"{prefix}model", root / f"{prefix}model_channel"
        assert train_scaler.main(["--features", str(features_dir), "--model-dir", str(scaler)]) == 0
        tar_folder(scaler, scaler_channel / schema.MODEL_TARBALL)
        placeholder = root / "inference.py"
        placeholder.write_text("# placeholder serving handler (test only)\n")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(artifacts, "default_inference_source", lambda: placeholder)
            assert train_kmeans.main(["--k", str(k), "--features", str(features_dir),
                                      "--scaler-dir", str(scaler_channel), "--model-dir", str(model)]) == 0
        tar_folder(model, model_channel / schema.MODEL_TARBALL)
        return model_channel
    return train
