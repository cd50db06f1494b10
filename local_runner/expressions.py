"""Pipeline definition expressions, evaluated locally: Get, Std:Join, Std:JsonGet and conditions.

The definition JSON carries values that are only known at run time: `{"Get": "Parameters.X"}`,
`{"Get": "Execution.PipelineExecutionId"}`, `{"Get": "Steps.S.<property path>"}` (a path into
the step's Describe*Job response, e.g. `ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri`),
`{"Std:Join": {"On", "Values"}}`, `{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.S.PropertyFiles.F"}
| "S3Uri": ..., "Path": "a.b[0]"}}`, and the ConditionStep's conditions. This module resolves them
against a `Context`; it does no I/O itself (property files are read through the context).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

GET = "Get"
JOIN = "Std:Join"
JSON_GET = "Std:JsonGet"


class ExpressionError(ValueError):
    """An expression that cannot be resolved: names the expression and what was missing."""


_TOKEN = re.compile(r"""\s*(?:\.?([A-Za-z0-9_\-:$@]+)|\[\s*(?:'([^']*)'|"([^"]*)"|(-?\d+))\s*\])""")


def parse_path(path: str) -> list[str | int]:
    """`A.B['x.y'].C[0]` -> ["A", "B", "x.y", "C", 0] (the SDK's property path and JsonGet path)."""
    tokens: list[str | int] = []
    pos = 0
    path = path.strip()
    if path.startswith("$"):
        path = path[1:].lstrip(".")
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot parse the path {path!r} at position {pos}")
        name, single, double, index = match.groups()
        if name is not None:
            tokens.append(name)
        elif index is not None:
            tokens.append(int(index))
        else:
            tokens.append(single if single is not None else double)
        pos = match.end()
    return tokens


def lookup(obj: Any, tokens: list[str | int], what: str) -> Any:
    """Follow `tokens` into nested dicts and lists.

    A string index into a list picks the element whose `...Name` field equals it, as the SDK's
    `Outputs['features']` picks the ProcessingOutput named "features".
    """
    current = obj
    for pos, token in enumerate(tokens):
        where = f"{what}: {'.'.join(map(str, tokens[:pos + 1]))}"
        if isinstance(current, dict):
            if token not in current:
                keys = ", ".join(map(str, list(current)[:20]))
                raise ExpressionError(f"{where} does not exist (there: {keys or 'nothing'})")
            current = current[token]
        elif isinstance(current, list):
            if isinstance(token, int):
                if not -len(current) <= token < len(current):
                    raise ExpressionError(f"{where}: index out of range (length {len(current)})")
                current = current[token]
            else:
                named = [item for item in current if isinstance(item, dict) and any(
                    key.endswith("Name") and value == token for key, value in item.items())]
                if not named:
                    raise ExpressionError(f"{where}: no element named {token!r}")
                current = named[0]
        else:
            raise ExpressionError(f"{where}: cannot index into {type(current).__name__}")
    return current


@dataclass
class Context:
    """What expressions are resolved against.

    `step_properties(name)` returns the step's properties (its Describe*Job-like response) or
    raises ExpressionError when the step has none (did not run); `property_file(step, name)` the
    parsed JSON of a step's PropertyFile; `read_json(uri)` a JSON object from the store.
    """

    parameters: dict[str, Any]
    execution: dict[str, Any]
    step_properties: Callable[[str], dict]
    property_file: Callable[[str, str], Any]
    read_json: Callable[[str], Any] | None = None
    # Execution variables that vary per step (ProcessingJobName, TrainingJobName).
    step_execution: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Any:
        head, _, rest = path.partition(".")
        if head == "Parameters":
            if rest not in self.parameters:
                raise ExpressionError(f"{{'Get': {path!r}}}: the definition has no parameter {rest!r}")
            return self.parameters[rest]
        if head == "Execution":
            if rest in self.step_execution:
                return self.step_execution[rest]
            if rest not in self.execution:
                raise ExpressionError(f"{{'Get': {path!r}}}: unknown execution variable {rest!r} "
                                      f"(known: {', '.join(sorted(self.execution))})")
            return self.execution[rest]
        if head == "Steps":
            tokens = parse_path(rest)
            if not tokens or not isinstance(tokens[0], str):
                raise ExpressionError(f"{{'Get': {path!r}}}: no step name")
            step = tokens[0]
            if len(tokens) >= 3 and tokens[1] == "PropertyFiles":
                return self.property_file(step, str(tokens[2]))
            return lookup(self.step_properties(step), tokens[1:], f"step {step} property")
        raise ExpressionError(f"{{'Get': {path!r}}}: unknown reference kind {head!r} "
                              "(expected Parameters., Execution. or Steps.)")


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in (GET, JOIN, JSON_GET)


def to_text(value: Any) -> str:
    """How SageMaker turns a value into a string (Join values, hyperparameters, arguments)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if value is None:
        return ""
    return str(value)


def resolve(value: Any, ctx: Context) -> Any:
    """`value` with every expression inside it replaced by its run-time value."""
    if isinstance(value, list):
        return [resolve(item, ctx) for item in value]
    if not isinstance(value, dict):
        return value
    if is_expression(value):
        kind, body = next(iter(value.items()))
        if kind == GET:
            return ctx.get(body)
        if kind == JOIN:
            values = [resolve(item, ctx) for item in body.get("Values", [])]
            return to_text(resolve(body.get("On", ""), ctx)).join(to_text(v) for v in values)
        return _json_get(body, ctx)
    return {key: resolve(item, ctx) for key, item in value.items()}


def _json_get(body: dict, ctx: Context) -> Any:
    path = body.get("Path")
    if not isinstance(path, str):
        raise ExpressionError(f"Std:JsonGet without a Path: {body}")
    if "PropertyFile" in body:
        ref = body["PropertyFile"]
        if isinstance(ref, dict) and GET in ref:
            document = ctx.get(ref[GET])
        else:  # an older form names the file directly: {"PropertyFile": "F", "Step": ...}
            raise ExpressionError(f"Std:JsonGet: unsupported PropertyFile reference {ref!r}")
        where = f"Std:JsonGet {ref[GET]} path {path!r}"
    elif "S3Uri" in body:
        uri = resolve(body["S3Uri"], ctx)
        if ctx.read_json is None:
            raise ExpressionError("Std:JsonGet with an S3Uri needs a store to read from")
        document = ctx.read_json(uri)
        where = f"Std:JsonGet {uri} path {path!r}"
    else:
        raise ExpressionError(f"Std:JsonGet needs a PropertyFile or an S3Uri: {body}")
    return lookup(document, parse_path(path), where)


# --- conditions ---------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _compare(kind: str, left: Any, right: Any) -> bool:
    lnum, rnum = _number(left), _number(right)
    if kind == "Equals":
        if lnum is not None and rnum is not None:
            return lnum == rnum
        return to_text(left) == to_text(right)
    if lnum is None or rnum is None:
        raise ExpressionError(f"{kind} compares numbers, got {left!r} and {right!r}")
    return {"GreaterThan": lnum > rnum, "GreaterThanOrEqualTo": lnum >= rnum,
            "LessThan": lnum < rnum, "LessThanOrEqualTo": lnum <= rnum}[kind]


COMPARISONS = ("Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")


def evaluate_condition(condition: dict, ctx: Context) -> bool:
    """One condition of a ConditionStep's `Conditions` list (all of them must hold)."""
    kind = condition.get("Type")
    if kind in COMPARISONS:
        return _compare(kind, resolve(condition.get("LeftValue"), ctx),
                        resolve(condition.get("RightValue"), ctx))
    if kind == "In":
        query = resolve(condition.get("QueryValue"), ctx)
        return any(_compare("Equals", query, resolve(v, ctx)) for v in condition.get("Values", []))
    if kind == "Not":
        return not evaluate_condition(condition["Condition"], ctx)
    if kind == "Or":
        return any(evaluate_condition(c, ctx) for c in condition.get("Conditions", []))
    if kind == "And":
        return all(evaluate_condition(c, ctx) for c in condition.get("Conditions", []))
    raise ExpressionError(f"unknown condition type {kind!r} in {condition}")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else to_text(value)


def describe_condition(condition: dict, ctx: Context) -> str:
    """`silhouette=0.12 >= 0.05`-like text of one condition with its resolved values (for reports)."""
    kind = condition.get("Type")
    symbols = {"Equals": "==", "GreaterThan": ">", "GreaterThanOrEqualTo": ">=",
               "LessThan": "<", "LessThanOrEqualTo": "<="}
    try:
        if kind in symbols:
            return (f"{_label(condition.get('LeftValue'))}={_short(resolve(condition.get('LeftValue'), ctx))} "
                    f"{symbols[kind]} {_short(resolve(condition.get('RightValue'), ctx))}")
        if kind == "In":
            return (f"{_short(resolve(condition.get('QueryValue'), ctx))} in "
                    f"{[resolve(v, ctx) for v in condition.get('Values', [])]}")
        if kind == "Not":
            return f"not ({describe_condition(condition['Condition'], ctx)})"
        if kind in ("Or", "And"):
            return f" {kind.lower()} ".join(f"({describe_condition(c, ctx)})"
                                            for c in condition.get("Conditions", []))
    except ExpressionError as err:
        return f"{kind}: {err}"
    return str(kind)


def _label(value: Any) -> str:
    """A short name for the left side of a comparison: the JsonGet path or the Get path."""
    if isinstance(value, dict):
        if JSON_GET in value:
            return str(value[JSON_GET].get("Path"))
        if GET in value:
            return str(value[GET]).split(".")[-1]
    return "value"


# --- references -----------------------------------------------------------------------------------
def referenced_steps(value: Any) -> set[str]:
    """Names of the steps whose properties or property files `value` reads."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for sub in item:
                walk(sub)
        elif isinstance(item, dict):
            get = item.get(GET) if len(item) == 1 else None
            if isinstance(get, str) and get.startswith("Steps."):
                tokens = parse_path(get[len("Steps."):])
                if tokens and isinstance(tokens[0], str):
                    found.add(tokens[0])
                return
            for sub in item.values():
                walk(sub)

    walk(value)
    return found

