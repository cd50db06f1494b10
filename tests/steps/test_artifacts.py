"""Tests of steps/artifacts.py: digests, safe unpacking, artefact round trips, features reading.

Also holds `write_vega_dataset`, the real-data fixture the other model-step tests use: Preprocess's
outputs on the real movies of ../shared/data/vega_movies.json (through tests/imdb_fixtures.py).
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from steps import artifacts, schema


def feature_names() -> list[str]:
    genres = [g for g in schema.ALL_IMDB_GENRES if g not in schema.DEFAULT_DROPPED_GENRES]
    return [*schema.LEADING_NUMERIC_FEATURES, *genres, *schema.TRAILING_NUMERIC_FEATURES]


def write_vega_dataset(root: Path) -> tuple[Path, Path]:
    """(features/, catalog/) under `root`: Preprocess's real outputs on the vega movies, copied so a
    test may change them. Preprocess runs once per test process (tests/imdb_fixtures.py)."""
    from imdb_fixtures import cached_preprocess
    out = cached_preprocess("vega")
    features_dir, catalog_dir = root / "features", root / "catalog"
    shutil.copytree(out["features"], features_dir)
    shutil.copytree(out["catalog"], catalog_dir)
    return features_dir, catalog_dir


def movie_count(features_dir: Path) -> int:
    return len(pd.read_parquet(features_dir / schema.FEATURES_PARQUET))


def tar_folder(folder: Path, tarball: Path) -> Path:
    """Pack a folder's files at the archive root, as SageMaker packs SM_MODEL_DIR."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return tarball


@pytest.fixture
def vega(tmp_path):
    return write_vega_dataset(tmp_path / "data")


def test_read_features_keeps_the_recorded_order(vega):
    features = artifacts.read_features(vega[0])
    assert features.names == feature_names()
    assert features.X.dtype == np.float64 and features.X.shape == (movie_count(vega[0]), 26) and len(features.X) > 900
    assert features.ids[0].startswith("tt")
    # Reordering the parquet's columns must not change what the model reads.
    frame = pd.read_parquet(vega[0] / schema.FEATURES_PARQUET)
    frame[list(reversed(frame.columns))].to_parquet(vega[0] / schema.FEATURES_PARQUET, index=False)
    assert np.array_equal(artifacts.read_features(vega[0]).X, features.X)


def test_read_features_reports_missing_values_and_columns(vega):
    frame = pd.read_parquet(vega[0] / schema.FEATURES_PARQUET)
    frame.loc[3, "runtimeMinutes"] = np.nan
    frame.to_parquet(vega[0] / schema.FEATURES_PARQUET, index=False)
    with pytest.raises(artifacts.ArtifactError, match=f"1 of {len(frame)} rows hold a missing"):
        artifacts.read_features(vega[0])
    frame.drop(columns=["Drama"]).to_parquet(vega[0] / schema.FEATURES_PARQUET, index=False)
    with pytest.raises(artifacts.ArtifactError, match="lacks the columns \\['Drama'\\]"):
        artifacts.read_features(vega[0])


def test_scaler_round_trip_through_tarball_and_digest_check(vega, tmp_path):
    features = artifacts.read_features(vega[0])
    scaler = StandardScaler().fit(features.X)
    out = tmp_path / "scaler"
    meta = artifacts.save_scaler(scaler, "standard", features.names, out)
    assert meta["sha256"][schema.SCALER_JOBLIB] == artifacts.sha256_file(out / schema.SCALER_JOBLIB)
    channel = tmp_path / "channel"
    tar_folder(out, channel / schema.MODEL_TARBALL)
    loaded, loaded_meta = artifacts.load_scaler(channel)
    assert np.allclose(loaded.transform(features.X), scaler.transform(features.X))
    assert loaded_meta["features"] == features.names
    # The tarball is unpacked once: a second open reuses the folder.
    unpacked = artifacts.open_model_dir(channel)
    marker = (unpacked / artifacts.UNPACK_MARKER).stat().st_mtime_ns
    assert artifacts.open_model_dir(channel) == unpacked == tmp_path / "channel.unpacked"
    assert (unpacked / artifacts.UNPACK_MARKER).stat().st_mtime_ns == marker
    # A changed file is refused with the digest message.
    with open(out / schema.SCALER_JOBLIB, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(artifacts.ArtifactError, match="does not match the digest recorded when it was written"):
        artifacts.load_scaler(out)


def test_plain_folder_is_returned_as_is(tmp_path):
    (tmp_path / "m").mkdir()
    assert artifacts.open_model_dir(tmp_path / "m") == tmp_path / "m"
    with pytest.raises(artifacts.ArtifactError, match="does not exist"):
        artifacts.open_model_dir(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_unsafe_tar_entries_are_refused(tmp_path, name):
    tarball = tmp_path / "in" / schema.MODEL_TARBALL
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.size = 4
        archive.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(artifacts.ArtifactError, match="unsafe path"):
        artifacts.open_model_dir(tarball.parent)
    assert not (tmp_path / "evil.txt").exists() and not Path("/abs/evil.txt").exists()
    assert not (tmp_path / "in.unpacked").exists()


def test_links_in_tarball_are_refused(tmp_path):
    tarball = tmp_path / "in" / schema.MODEL_TARBALL
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as archive:
        info = tarfile.TarInfo("model.joblib")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    with pytest.raises(artifacts.ArtifactError, match="neither a file nor a folder"):
        artifacts.open_model_dir(tarball.parent)


def test_model_without_recorded_digest_is_refused(tmp_path):
    import joblib
    joblib.dump({"x": 1}, tmp_path / schema.MODEL_JOBLIB)
    (tmp_path / schema.MODEL_JSON).write_text(json.dumps({"features": [], "k": 2}))
    with pytest.raises(artifacts.ArtifactError, match="no sha256 recorded"):
        artifacts.load_model(tmp_path)


def test_read_only_input_folder_unpacks_under_tmp(tmp_path, monkeypatch):
    """A container input mount may be read-only: the artefact is then unpacked under the temp folder."""
    src = tmp_path / "files"
    src.mkdir()
    (src / "model.json").write_text("{}")
    channel = tmp_path / "ro" / "channel"
    tar_folder(src, channel / schema.MODEL_TARBALL)
    real_mkdtemp = artifacts.tempfile.mkdtemp

    def refuse_beside_the_input(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == channel.parent:
            raise OSError(30, "Read-only file system")
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(artifacts.tempfile, "mkdtemp", refuse_beside_the_input)
    monkeypatch.setattr(artifacts.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder = artifacts.open_model_dir(channel)
    assert folder.parent == tmp_path / "tmp" and (folder / "model.json").is_file()
