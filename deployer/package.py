"""The deployer Lambda's code bundle: `deployer/*.py` in a zip, the same bytes for the same sources.

`myflix deploy package` uploads it under `s3://<bucket>/code/deployer/<sha256>.zip` (a content
key, like the pipeline's code bundle) and prints the key that cfn/myflix-infra.yaml's
`DeployerCodeKey` parameter takes. The Lambda runtime brings boto3; nothing else is needed.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
KEY_PREFIX = "code/deployer"
# The modules the Lambda imports; backends' local half is imported lazily and never runs there.
MODULES = ("__init__.py", "release.py", "backends.py", "deployer.py", "lambda_handler.py")


def build_zip() -> bytes:
    """A deterministic zip (fixed timestamps and modes, sorted entries)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(MODULES):
            info = zipfile.ZipInfo(f"deployer/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (PACKAGE_DIR / name).read_bytes())
    return buffer.getvalue()


def code_key(body: bytes) -> str:
    return f"{KEY_PREFIX}/{hashlib.sha256(body).hexdigest()}.zip"
