"""The local stand-ins' account: the one region, bucket, role and account id every local run uses."""
from __future__ import annotations

LOCAL_REGION = "us-east-1"
LOCAL_BUCKET = "myflix-local"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/myflix-local"
ACCOUNT = "000000000000"
