"""The local object store: `s3://<bucket>/<key>` is the file `<workdir>/s3/<bucket>/<key>`.

It follows S3's semantics where a step can tell the difference: a URI is a key *prefix* (so
`s3://b/raw/` holds every object under it, and `s3://b/raw/x.tsv.gz` names one object), objects
are whole files, and uploading a folder puts `folder/rel/path` at `<prefix>/rel/path`. The
runner downloads a step's inputs and uploads its outputs through this class only.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from local_aws import layout

S3_SCHEME = layout.S3_SCHEME


class StoreError(ValueError):
    """A URI the local store cannot map, or an input that is not there."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/part` -> ("bucket", "key/part") (layout.s3_key_parts, the one parser)."""
    try:
        return layout.s3_key_parts(uri)
    except layout.LayoutError as err:
        raise StoreError(f"{err}: the local runner maps only s3://<bucket>/<key> URIs to its object store") \
            from None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_partial(path: Path) -> bool:
    """A file being written (temp name): not an object yet."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


class LocalStore:
    """The folder `<workdir>/s3` seen as S3 buckets."""

    def __init__(self, workdir: Path):
        self.root = layout.s3_root(workdir)

    def path_for(self, uri: str) -> Path:
        """The local path of an object or prefix (it may not exist)."""
        bucket, key = split_s3_uri(uri)
        return self.root / bucket / key

    def uri_for(self, path: Path) -> str:
        rel = Path(path).resolve().relative_to(self.root.resolve())
        return S3_SCHEME + rel.as_posix()

    def exists(self, uri: str) -> bool:
        return bool(self.objects(uri))

    def put_bytes(self, uri: str, data: bytes) -> Path:
        """Write one object atomically (readers never see half a file)."""
        path = self.path_for(uri)
        if uri.endswith("/"):
            raise StoreError(f"{uri!r} ends with '/': an object key cannot be a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        return path

    def objects(self, uri: str) -> dict[str, Path]:
        """Objects under the key prefix `uri`: {path relative to the prefix's folder: file}.

        A prefix naming one object gives {basename: file}; a prefix naming a folder gives every
        file under it; a partial name (`raw/title.`) gives the files whose key starts with it,
        relative to the folder the prefix ends in, as SageMaker lays out an S3Prefix input.
        """
        bucket, key = split_s3_uri(uri)
        base = self.root / bucket
        path = base / key
        if key and not key.endswith("/") and path.is_file():
            return {path.name: path}
        if path.is_dir():
            return {f.relative_to(path).as_posix(): f for f in sorted(path.rglob("*"))
                    if f.is_file() and not _is_partial(f)}
        folder = path.parent if key and not key.endswith("/") else path
        if not folder.is_dir():
            return {}
        found: dict[str, Path] = {}
        for f in sorted(folder.rglob("*")):
            if f.is_file() and not _is_partial(f) and f.relative_to(base).as_posix().startswith(key):
                found[f.relative_to(folder).as_posix()] = f
        return found

    def download(self, uri: str, dest: Path) -> int:
        """Copy the objects under `uri` into the folder `dest` (SageMaker's S3Prefix input)."""
        found = self.objects(uri)
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for rel, src in found.items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        return len(found)

    def upload_dir(self, src: Path, uri: str) -> list[str]:
        """Copy every file under `src` to `<uri>/<relative path>`; returns the URIs written."""
        src = Path(src)
        prefix = uri.rstrip("/")
        written = []
        for f in sorted(src.rglob("*")):
            if f.is_file():
                target_uri = f"{prefix}/{f.relative_to(src).as_posix()}"
                target = self.path_for(target_uri)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                shutil.copyfile(f, tmp)
                os.replace(tmp, target)
                written.append(target_uri)
        return written

    def upload_file(self, src: Path, uri: str) -> str:
        target = self.path_for(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
        return uri

    def digest(self, uri: str) -> str:
        """A content digest of every object under `uri` (names and bytes): what caching compares."""
        digest = hashlib.sha256()
        for rel, path in sorted(self.objects(uri).items()):
            digest.update(rel.encode("utf-8") + b"\0" + file_digest(path).encode("ascii") + b"\n")
        return digest.hexdigest()
