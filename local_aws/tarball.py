"""The one deterministic tar.gz writer: the same files give the same bytes, whoever packs them.

Sorted names, zero times, no owners and no name or time in the gzip header. The code bundle's
sourcedir.tar.gz (pipeline/code_bundle.py) and the local runner's model.tar.gz / output.tar.gz
(SageMaker packs SM_MODEL_DIR so: the folder's files at the archive root) are both written here.
Standard library only.
"""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Iterable

Member = tuple[str, "bytes | None", int]     # (archive name, bytes or None for a folder, mode)


def tar_gz(members: Iterable[Member], compresslevel: int = 9) -> bytes:
    """A gzipped PAX tar of `members`, in the order given (callers sort), with no times or owners."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name=name)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = 0, mode, 0, 0, "", ""
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of names and times.
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=compresslevel) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def pack_folder(folder: Path) -> bytes:
    """model.tar.gz as SageMaker packs SM_MODEL_DIR: every file and folder under `folder` at the
    archive root (sorted), each with its permission bits."""
    folder = Path(folder)
    members: list[Member] = []
    for path in sorted(folder.rglob("*")):
        mode = path.stat().st_mode & 0o7777
        data = path.read_bytes() if path.is_file() else None
        members.append((path.relative_to(folder).as_posix(), data, mode))
    return tar_gz(members)


def pack_files(files: dict[str, bytes], mode: int = 0o644) -> bytes:
    """The files (archive name -> bytes) at the archive root, sorted by name, all with `mode`."""
    return tar_gz((name, files[name], mode) for name in sorted(files))
