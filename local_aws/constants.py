"""The local stand-ins' account, region, bucket and role: one copy for the runner, CLI and Studio."""
from __future__ import annotations

LOCAL_REGION = "us-east-1"
LOCAL_BUCKET = "myflix-local"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/myflix-local"
ACCOUNT = "000000000000"
