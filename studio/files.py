"""The files of the local object store (`<workdir>/s3/`), served to the Studio page: nothing else.

A request names `<bucket>/<key>`; it is refused unless every segment is a plain name (no `..`,
no empty or hidden-dot segments, no backslash or control characters), no component on the way
is a symbolic link, the file resolves inside the store and is a regular file. The content type
comes from an allow-list by extension; anything else is a download (attachment,
application/octet-stream), so no stored file is ever rendered as a page or a script.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

SEGMENT = re.compile(r"^[A-Za-z0-9_=+@,-][A-Za-z0-9._=+@,-]{0,254}$")
MAX_SEGMENTS = 32
INLINE_TYPES = {
    ".json": "application/json", ".png": "image/png", ".log": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8", ".tsv": "text/plain; charset=utf-8",
    ".csv": "text/plain; charset=utf-8",
}
DOWNLOAD_TYPE = "application/octet-stream"
CHUNK = 64 * 1024


class FileRefused(ValueError):
    """A path that is not a regular file of the store: `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


def content_type(name: str) -> tuple[str, bool]:
    """(Content-Type, inline?) for a file name."""
    suffix = Path(name).suffix.lower()
    if suffix in INLINE_TYPES:
        return INLINE_TYPES[suffix], True
    return DOWNLOAD_TYPE, False


def safe_path(store_root: Path, relative: str) -> Path:
    """The regular file `relative` (`bucket/key`) names inside `store_root`, or FileRefused."""
    segments = relative.split("/")
    if not relative or len(segments) < 2 or len(segments) > MAX_SEGMENTS:
        raise FileRefused(f"{relative!r} is not BUCKET/KEY of the local store", 400)
    for segment in segments:
        if not SEGMENT.match(segment):
            raise FileRefused(f"path segment {segment!r} is not allowed (letters, digits, '._=+@,-'; "
                              "no '..', no empty or hidden segments)", 400)
    root = Path(store_root).resolve()
    current = root
    for segment in segments:
        current = current / segment
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise FileRefused(f"no file {relative} in the local store") from None
        except OSError as err:
            raise FileRefused(f"cannot read {relative}: {err.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            raise FileRefused(f"{relative} goes through a symbolic link: not served", 403)
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"{relative} is not a regular file", 404)
    resolved = current.resolve()
    if not resolved.is_relative_to(root):
        raise FileRefused(f"{relative} is outside the local store", 403)
    return resolved


def open_file(path: Path):
    """Open without following a link that appeared since the check (O_NOFOLLOW)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise FileRefused(f"{path.name} is not a regular file", 404)
    return os.fdopen(fd, "rb"), info.st_size


def iter_file(handle, chunk: int = CHUNK):
    with handle:
        while True:
            data = handle.read(chunk)
            if not data:
                return
            yield data
