"""The code bundle: `steps/` and `inference/` sources packed deterministically under a content hash.

The pipeline definition refers to code only through `s3://<bucket>/code/<sha256>/...` keys, so the
same sources always give the same definition (and SageMaker step caching can hit), and any change
to a script gives a new key. `uploads()` is the one list of objects to put in the bucket: the AWS
upsert and the local runner both iterate it (docs/CONTRACTS.md, "Code bundle").
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from local_aws.tarball import pack_files
from steps import schema

# The folders shipped to the containers; sources only (never caches, data or tests).
BUNDLED_DIRS = ("steps", "inference")
REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCEDIR_TARBALL = "sourcedir.tar.gz"


def _is_source(path: Path) -> bool:
    if any(part == "__pycache__" or part.startswith(".") for part in path.parts):
        return False
    if path.suffix == ".py":
        return True
    return path.suffix == ".txt" and path.name.startswith("requirements")


@dataclass(frozen=True)
class CodeBundle:
    """The bundled files (relative POSIX path -> bytes) and their content hash."""

    files: dict[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError("the code bundle is empty: no *.py files under steps/ or inference/")

    @cached_property
    def sha256(self) -> str:
        """Hash of the sorted (path, content) pairs: independent of tar/gzip details and mtimes."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.encode("utf-8") + b"\0")
            digest.update(hashlib.sha256(self.files[path]).hexdigest().encode("ascii") + b"\n")
        return digest.hexdigest()

    @property
    def prefix(self) -> str:
        """`code/<sha256>`: the key prefix of this bundle, relative to the bucket."""
        return f"{schema.CODE_PREFIX}/{self.sha256}"

    def sourcedir_key(self) -> str:
        return f"{self.prefix}/{SOURCEDIR_TARBALL}"

    def src_prefix(self) -> str:
        return f"{self.prefix}/src/"

    def sourcedir_uri(self, bucket: str) -> str:
        """What training's `sagemaker_submit_directory` hyperparameter points at."""
        return f"s3://{bucket}/{self.sourcedir_key()}"

    def src_uri(self, bucket: str) -> str:
        """What processing mounts at /opt/ml/processing/input/code (a prefix, trailing slash)."""
        return f"s3://{bucket}/{self.src_prefix()}"

    def sourcedir_tarball(self) -> bytes:
        """A gzipped tar of the files, byte-identical for identical contents (sorted, no times)."""
        return pack_files(self.files)

    def uploads(self) -> dict[str, bytes]:
        """Every object to put in the bucket: key (relative to the bucket) -> content, sorted."""
        objects = {self.sourcedir_key(): self.sourcedir_tarball()}
        for path in sorted(self.files):
            objects[f"{self.src_prefix()}{path}"] = self.files[path]
        return objects


def build_bundle(repo_root: Path | None = None) -> CodeBundle:
    """Read the bundled sources under `repo_root` (default: this checkout) into a CodeBundle."""
    root = Path(repo_root) if repo_root is not None else REPO_ROOT
    files: dict[str, bytes] = {}
    for folder in BUNDLED_DIRS:
        base = root / folder
        if not base.is_dir():
            raise FileNotFoundError(
                f"{base} is missing: the code bundle needs {' and '.join(BUNDLED_DIRS)}/ under "
                f"{root} (pass the repository root)")
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and _is_source(rel):
                files[rel.as_posix()] = path.read_bytes()
    return CodeBundle(files=files)
