"""Step caching, as SageMaker Pipelines does it, kept in `<workdir>/cache/<key>.json`.

A Processing or Training step whose CacheConfig is enabled is keyed on the attributes SageMaker
keys on (Processing: AppSpecification, Environment, ProcessingInputs; Training:
AlgorithmSpecification, CheckpointConfig, DebugHookConfig, DebugRuleConfigurations, Environment,
HyperParameters, InputDataConfig), after every expression is resolved. Locally the key also
covers the *contents* of the inputs and of every s3:// URI given as an argument (SageMaker trusts
the URIs; in the cloud `myflix pipeline start` passes an `input_version` for that, see
operations/inputs.py), so new data under the same URI runs the step again. A hit reuses the
earlier run's properties (its output URIs), as SageMaker
does, but only while those outputs are still there unchanged. Within ExpireAfter.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from local_aws.layout import write_json_atomic
from local_aws.store import LocalStore

KEY_ATTRIBUTES = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": ("AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig",
                 "DebugRuleConfigurations", "Environment", "HyperParameters", "InputDataConfig"),
}

_DURATION = re.compile(
    r"^P?(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$", re.IGNORECASE)


def parse_duration(text: str | None) -> timedelta | None:
    """ISO 8601 duration ("P30D", "PT1H", "30d", "T16m") -> timedelta; None for no expiry."""
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if not match or not any(match.groupdict().values()):
        raise ValueError(f"CacheConfig ExpireAfter {text!r} is not an ISO 8601 duration (e.g. P30D, PT1H)")
    part = {k: int(v or 0) for k, v in match.groupdict().items()}
    return timedelta(days=part["y"] * 365 + part["mo"] * 30 + part["w"] * 7 + part["d"],
                     hours=part["h"], minutes=part["mi"], seconds=part["s"])


def cache_key(pipeline_name: str, step_name: str, step_type: str, arguments: dict,
              input_digests: dict[str, str]) -> str:
    keyed = {name: arguments.get(name) for name in KEY_ATTRIBUTES[step_type]}
    document = {"pipeline": pipeline_name, "step": step_name, "type": step_type,
                "arguments": keyed, "inputs": input_digests}
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class StepCache:
    def __init__(self, workdir: Path, store: LocalStore):
        self.dir = Path(workdir) / "cache"
        self.store = store

    def lookup(self, key: str, expire_after: timedelta | None) -> dict | None:
        """The cached run for `key`, or None when absent, expired or its outputs changed."""
        path = self.dir / f"{key}.json"
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        created = datetime.fromisoformat(entry["CreationTime"])
        if expire_after is not None and datetime.now(timezone.utc) - created > expire_after:
            return None
        for uri, digest in entry.get("OutputDigests", {}).items():
            if not self.store.exists(uri) or self.store.digest(uri) != digest:
                return None
        return entry

    def save(self, key: str, *, step_name: str, execution_arn: str, properties: dict,
             property_files: dict[str, Any], outputs: dict[str, str], metadata: dict) -> None:
        entry = {
            "Key": key, "StepName": step_name, "SourcePipelineExecutionArn": execution_arn,
            "CreationTime": datetime.now(timezone.utc).isoformat(), "Properties": properties,
            "PropertyFiles": property_files, "Metadata": metadata, "Outputs": outputs,
            "OutputDigests": {uri: self.store.digest(uri) for uri in outputs.values()},
        }
        write_json_atomic(self.dir / f"{key}.json", entry)
