"""The code bundle: what goes in, deterministic bytes, content-hash keys (docs/CONTRACTS.md)."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from pipeline.code_bundle import CodeBundle, build_bundle


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "steps" / "__pycache__").mkdir(parents=True)
    (root / "inference").mkdir()
    (root / "steps" / "preprocess.py").write_text("print('pre')\n")
    (root / "steps" / "schema.py").write_text("X = 1\n")
    (root / "steps" / "requirements.txt").write_text("kneed>=0.8.5\n")
    (root / "steps" / "__pycache__" / "schema.cpython-311.pyc").write_bytes(b"\0\1")
    (root / "steps" / "notes.md").write_text("not shipped\n")
    (root / "steps" / "data.parquet").write_bytes(b"PAR1")
    (root / "inference" / "inference.py").write_text("def model_fn(d):\n    return d\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("assert True\n")
    return root


def test_bundle_holds_sources_and_requirements_only(tmp_path):
    bundle = build_bundle(_repo(tmp_path))
    assert sorted(bundle.files) == ["inference/inference.py", "steps/preprocess.py",
                                    "steps/requirements.txt", "steps/schema.py"]
    assert bundle.files["steps/schema.py"] == b"X = 1\n"


def test_tarball_is_deterministic_and_carries_no_times_or_owners(tmp_path):
    root = _repo(tmp_path)
    first = build_bundle(root).sourcedir_tarball()
    # Touching files (new mtimes) must not change a byte.
    for path in root.rglob("*.py"):
        path.touch()
    assert build_bundle(root).sourcedir_tarball() == first
    raw = gzip.decompress(first)
    assert first[4:8] == b"\0\0\0\0"          # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == sorted(m.name for m in members)
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
        assert tar.extractfile("steps/preprocess.py").read() == b"print('pre')\n"


def test_hash_follows_content_not_location(tmp_path):
    root = _repo(tmp_path)
    bundle = build_bundle(root)
    assert build_bundle(root).sha256 == bundle.sha256
    (root / "steps" / "preprocess.py").write_text("print('changed')\n")
    changed = build_bundle(root)
    assert changed.sha256 != bundle.sha256
    # A renamed file is a change too, even with the same bytes.
    renamed = CodeBundle({("steps/other.py" if k == "steps/schema.py" else k): v
                          for k, v in bundle.files.items()})
    assert renamed.sha256 != bundle.sha256


def test_uploads_are_content_hash_keys(tmp_path):
    bundle = build_bundle(_repo(tmp_path))
    uploads = bundle.uploads()
    prefix = f"code/{bundle.sha256}"
    assert uploads[f"{prefix}/sourcedir.tar.gz"] == bundle.sourcedir_tarball()
    assert uploads[f"{prefix}/src/steps/preprocess.py"] == b"print('pre')\n"
    assert len(uploads) == len(bundle.files) + 1
    assert all(key.startswith(prefix + "/") for key in uploads)
    assert bundle.sourcedir_uri("b1") == f"s3://b1/{prefix}/sourcedir.tar.gz"
    assert bundle.src_uri("b1") == f"s3://b1/{prefix}/src/"


def test_this_checkout_bundles_the_step_scripts():
    bundle = build_bundle()
    assert "steps/schema.py" in bundle.files
    assert not any("__pycache__" in name or name.startswith("tests/") for name in bundle.files)


def test_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "steps").mkdir()
    with pytest.raises(FileNotFoundError, match="inference"):
        build_bundle(tmp_path)


def test_empty_bundle_is_refused():
    with pytest.raises(ValueError, match="empty"):
        CodeBundle({})
