"""The guard that makes `chalice package` / `chalice deploy` refuse a layer built for another Python.

Chalice sets the Lambda runtime from the Python it runs under; numpy, pandas and pyarrow come from
the AWS SDK for pandas layer, built per Python version (`AWSSDKPandas-Python311`). Packaged under
another Python, the function's runtime and its layer disagree, numpy cannot import and every
route is a 502. app.py calls `check()` at import: it acts only inside the chalice command packaging
or deploying (never on Lambda, in tests or under `myflix serve`) and stops it with what to do.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
_LAYER_PYTHON = re.compile(r":layer:AWSSDKPandas-Python(\d)(\d+):")


def _stage(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--stage" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--stage="):
            return arg.split("=", 1)[1]
    return "dev"


def mismatch(argv: list[str], python: tuple[int, int], project: Path = PROJECT) -> str | None:
    """Why packaging must stop (None: not packaging, or the layers fit this Python)."""
    if Path(argv[0]).name != "chalice" or not {"package", "deploy"} & set(argv[1:]):
        return None
    try:
        config = json.loads((project / ".chalice" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None                      # chalice itself reports a missing or broken config
    stage = _stage(argv)
    layers = (config.get("stages") or {}).get(stage, {}).get("layers", config.get("layers") or [])
    for arn in layers:
        found = _LAYER_PYTHON.search(arn)
        if found and (int(found.group(1)), int(found.group(2))) != tuple(python):
            built = f"{found.group(1)}.{found.group(2)}"
            return (f"myflix api: stage {stage} uses the layer {arn}, built for Python {built}, but chalice "
                    f"runs under Python {python[0]}.{python[1]} and would set the Lambda runtime "
                    f"python{python[0]}.{python[1]}: numpy would not import there. Package with Python "
                    f"{built}, or give the stage the AWSSDKPandas-Python{python[0]}{python[1]} layer "
                    f"(`myflix config chalice-stage --layer ARN`; docs/aws.md says where to find it).")
    return None


def check() -> None:
    reason = mismatch(sys.argv, sys.version_info[:2])
    if reason:
        raise SystemExit(reason)
