"""The docs say which steps are cached, and the definition agrees (a doc that lists a cached step the
definition does not cache, or misses one, fails here)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local_runner.plan import plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cached(definition_json_once) -> dict[str, str]:
    """Step name -> ExpireAfter of every step whose CacheConfig is enabled (branches included)."""
    definition = json.loads(definition_json_once("us-east-1", "arn:aws:iam::000000000000:role/r", "bucket-name"))
    return {p.step["Name"]: p.step["CacheConfig"]["ExpireAfter"] for p in plan(definition)
            if (p.step.get("CacheConfig") or {}).get("Enabled")}


def test_local_md_names_exactly_the_cached_steps(cached):
    assert cached["Ingest"] == "PT12H" and "Evaluate" not in cached
    text = " ".join((ROOT / "docs" / "local.md").read_text().split())
    sentence = re.search(r"enables `CacheConfig` \(([^)]*)\)", text).group(1)
    named = set(re.findall(r"\b[A-Z][A-Za-z]+\b", sentence))
    assert named == set(cached)


def test_pipeline_md_names_exactly_the_cached_steps(cached):
    text = " ".join((ROOT / "docs" / "pipeline.md").read_text().split())
    sentence = re.search(r"(Preprocess, [^.]*?) are cached for 30 days", text).group(1)
    thirty_days = set(re.findall(r"\b[A-Z][A-Za-z]+\b", sentence))
    assert thirty_days == {name for name, expiry in cached.items() if expiry == "P30D"}
    assert "Ingest for 12 hours" in text and cached["Ingest"] == "PT12H"
