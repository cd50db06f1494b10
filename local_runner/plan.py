"""The definition, planned: its JSON loaded, its steps ordered, its parameters resolved.

The local runner reads the very JSON that `pipeline.definition.definition_json()` gives SageMaker
(no second description of the DAG): `plan` flattens the Condition branches and orders the steps by
DependsOn and by the step properties their arguments read; `resolve_parameters` gives each declared
parameter its default or the override (strings from `-p NAME=VALUE` typed as the definition
declares them). Pure: no files, no processes.
"""
from __future__ import annotations

import difflib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from local_runner.expressions import referenced_steps


class DefinitionError(ValueError):
    """The definition (or a parameter override) cannot be run: says what and how to fix it."""


@dataclass
class PlannedStep:
    step: dict
    index: int                                       # position in the flattened definition
    branch: tuple[str, bool] | None = None           # (condition step, outcome) that must hold
    deps: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.step["Name"]

    @property
    def type(self) -> str:
        return self.step.get("Type", "?")


# --- the definition ----------------------------------------------------------------------------
def load_definition(definition: str | dict | Path) -> dict:
    if isinstance(definition, Path):
        definition = definition.read_text(encoding="utf-8")
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except json.JSONDecodeError as err:
            raise DefinitionError(f"the pipeline definition is not valid JSON: {err}") from err
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise DefinitionError("the pipeline definition has no Steps list: is this the JSON from "
                              "pipeline.definition()?")
    return definition


def plan(definition: dict) -> list[PlannedStep]:
    """Every step (branch steps included), in an order that respects every dependency."""
    flat: list[PlannedStep] = []

    def add(steps: list[dict], branch: tuple[str, bool] | None) -> None:
        for step in steps:
            if not isinstance(step, dict) or "Name" not in step:
                raise DefinitionError(f"a step without a Name in the definition: {str(step)[:200]}")
            planned = PlannedStep(step=step, index=len(flat), branch=branch)
            flat.append(planned)
            if step.get("Type") == "Condition":
                args = step.get("Arguments", {})
                add(args.get("IfSteps", []), (step["Name"], True))
                add(args.get("ElseSteps", []), (step["Name"], False))

    add(definition["Steps"], None)
    by_name: dict[str, PlannedStep] = {}
    for planned in flat:
        if planned.name in by_name:
            raise DefinitionError(f"two steps are named {planned.name!r}: step names must be unique")
        by_name[planned.name] = planned
    for planned in flat:
        step = planned.step
        args = step.get("Arguments", {})
        if planned.type == "Condition":
            args = {"Conditions": args.get("Conditions", [])}
        deps = set(step.get("DependsOn") or []) | referenced_steps(args)
        if planned.branch:
            deps.add(planned.branch[0])
        for dep in sorted(deps):
            if dep not in by_name:
                raise DefinitionError(f"step {planned.name} depends on {dep!r}, which is not a step "
                                      "of this definition")
        deps.discard(planned.name)
        planned.deps = deps
    ordered: list[PlannedStep] = []
    done: set[str] = set()
    pending = list(flat)
    while pending:
        ready = [p for p in pending if p.deps <= done]
        if not ready:
            cycle = ", ".join(f"{p.name} <- {sorted(p.deps - done)}" for p in pending)
            raise DefinitionError(f"the steps' dependencies form a cycle: {cycle}")
        nxt = min(ready, key=lambda p: p.index)
        ordered.append(nxt)
        done.add(nxt.name)
        pending.remove(nxt)
    return ordered


def resolve_parameters(definition: dict, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults from the definition, overridden by `overrides` (strings from the command line
    are converted to the parameter's declared type)."""
    declared = {p["Name"]: p for p in definition.get("Parameters") or []}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        hints = [f"{name} (did you mean {' or '.join(close)}?)" if close else name for name in unknown
                 for close in [difflib.get_close_matches(name, declared, n=2)]]
        raise DefinitionError(f"unknown parameter(s) {', '.join(hints)}: the definition has "
                              f"{', '.join(sorted(declared))}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        kind = spec.get("Type", "String")
        if name in overrides:
            values[name] = _convert(name, kind, overrides[name])
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise DefinitionError(f"parameter {name} has no default: give it with -p {name}=VALUE")
    return values


def _convert(name: str, kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if kind == "Integer":
            return int(value)
        if kind == "Float":
            return float(value)
    except ValueError:
        raise DefinitionError(f"parameter {name} is {kind}: {value!r} is not a valid "
                              f"{'integer' if kind == 'Integer' else 'number'}") from None
    if kind == "Boolean":
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise DefinitionError(f"parameter {name} is Boolean: use true or false, not {value!r}")
    return value


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """["name=value", ...] (from `-p`) -> {name: value}."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DefinitionError(f"-p {item!r}: write parameters as NAME=VALUE")
        out[name.strip()] = value
    return out


def new_execution_id() -> str:
    """Sortable and unique: time to the second plus 4 random characters (an id, not data)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"{stamp}{secrets.token_hex(2)}"


def job_name(execution_id: str, step_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9-]", "-", f"pipelines-{execution_id}-{step_name}")
    return name[:63].rstrip("-")
