"""The docs say which steps are cached, and the definition agrees (a doc that lists a cached step the
definition does not cache, or misses one, fails here)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.definition import definition_json

ROOT = Path(__file__).resolve().parents[2]


def _cached() -> dict[str, str]:
    definition = json.loads(definition_json("us-east-1", "arn:aws:iam::000000000000:role/r", "bucket-name"))

    def walk(steps):
        for step in steps:
            yield step
            for branch in ("IfSteps", "ElseSteps"):
                yield from walk(step.get("Arguments", {}).get(branch, []) if step["Type"] == "Condition" else [])
    return {s["Name"]: s["CacheConfig"]["ExpireAfter"] for s in walk(definition["Steps"])
            if (s.get("CacheConfig") or {}).get("Enabled")}


def test_local_md_names_exactly_the_cached_steps():
    cached = _cached()
    assert cached["Ingest"] == "PT12H" and "Evaluate" not in cached
    text = " ".join((ROOT / "docs" / "local.md").read_text().split())
    sentence = re.search(r"enables `CacheConfig` \(([^)]*)\)", text).group(1)
    named = set(re.findall(r"\b[A-Z][A-Za-z]+\b", sentence))
    assert named == set(cached)


def test_pipeline_md_names_exactly_the_cached_steps():
    cached = _cached()
    text = " ".join((ROOT / "docs" / "pipeline.md").read_text().split())
    sentence = re.search(r"(Preprocess, [^.]*?) are cached for 30 days", text).group(1)
    thirty_days = set(re.findall(r"\b[A-Z][A-Za-z]+\b", sentence))
    assert thirty_days == {name for name, expiry in cached.items() if expiry == "P30D"}
    assert "Ingest for 12 hours" in text and cached["Ingest"] == "PT12H"
