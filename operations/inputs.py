"""What the pipeline's input files are, as one fingerprint: the `input_version` parameter.

SageMaker keys a step's cache on its arguments, not on the data behind a URI, so new files under
the same `basics_uri` (or a new IMDb publication) would reuse the old Ingest for its 12 hours.
`myflix pipeline start` therefore asks, at start, what the inputs are and passes the answer to
Ingest as `--input-version`: for a given s3:// file its ETag and VersionId (every object's, for a
prefix), for a download the server's ETag, Last-Modified and Content-Length (a HEAD request). The
cache key then changes exactly when the data does. When nothing can be learnt (a server without
those headers, no network) the version is empty and the 12-hour expiry is what remains.
The local runner needs none of this: it keys on the contents of every s3:// argument itself.
"""
from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

from local_aws import layout

IMDB_FILES = ("title.basics.tsv.gz", "title.ratings.tsv.gz")
HEAD_TIMEOUT = 10.0


_split = layout.split_s3_uri      # ("bucket", "key"); a ValueError naming the URI otherwise


def s3_fingerprint(s3: Any, uri: str) -> str:
    """`key etag version` of the object `uri`, or of every object under the prefix `uri`."""
    bucket, key = _split(uri)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        return f"{key} {head.get('ETag', '')} {head.get('VersionId', '')}"
    except Exception as err:       # noqa: BLE001 - not one object: read it as a prefix
        if "404" not in str(err) and "Not Found" not in str(err) and "NoSuchKey" not in str(err):
            raise
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for obj in page.get("Contents", []):
            lines.append(f"{obj['Key']} {obj.get('ETag', '')} {obj.get('Size', '')}")
    return "\n".join(sorted(lines))


def head_fingerprint(url: str, opener: Callable[..., Any] = urllib.request.urlopen) -> str:
    """The server's ETag / Last-Modified / Content-Length of `url` ("" when it says nothing)."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "myflix-cli"})
    try:
        with opener(request, timeout=HEAD_TIMEOUT) as response:
            headers = response.headers
            parts = [headers.get("ETag") or "", headers.get("Last-Modified") or "",
                     headers.get("Content-Length") or ""]
    except (OSError, urllib.error.URLError, ValueError):
        return ""
    return " ".join(parts) if any(parts[:2]) else ""


def input_version(s3: Any, basics_uri: str, ratings_uri: str, base_url: str,
                  opener: Callable[..., Any] = urllib.request.urlopen) -> str:
    """`sha256:<hex>` over what each input is, or "" when a download's server tells nothing."""
    parts = []
    for uri, name in ((basics_uri, IMDB_FILES[0]), (ratings_uri, IMDB_FILES[1])):
        if uri.strip():
            parts.append(s3_fingerprint(s3, uri.strip()))
        else:
            url = urllib.parse.urljoin(base_url.strip().rstrip("/") + "/", name)
            found = head_fingerprint(url, opener)
            if not found:
                return ""
            parts.append(f"{url} {found}")
    return "sha256:" + hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()
