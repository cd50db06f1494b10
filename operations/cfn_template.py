"""The infra stack's template as CloudFormation receives it: cfn/myflix-infra.yaml as compact JSON.

CloudFormation takes at most 51,200 bytes of template inline (TemplateBody, and `aws
cloudformation deploy --template-file` without --s3-bucket); a larger one must come from S3,
and before the first stack there is no bucket of ours to put it in. The YAML keeps its comments
(why each statement is there); the compact JSON drops them and the indentation, the same
template in about two thirds of the bytes. TEMPLATE_BUDGET is what we allow ourselves, below the
limit, so that additions (a delivery stream, another table) have room: tests/test_cfn.py holds it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

INLINE_LIMIT = 51_200                  # CloudFormation's TemplateBody limit, bytes
TEMPLATE_BUDGET = INLINE_LIMIT - 10_240  # headroom kept for what later issues add
SOURCE = Path("cfn") / "myflix-infra.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form functions (!Ref, !Sub, !GetAtt, !If, ...)."""


def _function(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _function)
# CloudFormation reads YAML 1.2-ish: dates and times stay strings ("2012-10-17").
_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load(path: Path = SOURCE) -> dict[str, Any]:
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - safe loader


def compact(path: Path = SOURCE) -> str:
    """The template as compact JSON: what `aws cloudformation deploy --template-file` sends."""
    return json.dumps(load(path), separators=(",", ":"), ensure_ascii=False)
