"""Checks of what a caller sends: query parameters, the JSON body, feature values. Pure functions.

Every check either returns the value the route uses or raises a 4xx error (chalicelib.errors)
whose message names the parameter, says what is allowed, and quotes at most a clipped piece of
what was sent. The bounds here are the ones `openapi.py` documents (tests/test_api_schemathesis.py
holds the two together). An empty query value (`?limit=`) means the parameter was not given.
"""
from __future__ import annotations

import json
import math
import re

from chalicelib.errors import InvalidRequest, PayloadTooLarge, clip, clip_list

# ASCII digits only: int() alone would take "１２" (full-width), "1_0" and " 12 "
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,15}")
# C0 and C1 control characters (NUL, newline, escape, ...): never part of a title
CONTROL_CHARS = "\u0000-\u001f\u007f-\u009f"
_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
MAX_BODY_BYTES = 64 * 1024          # /recommendations: 100 liked ids or 26 features fit many times over

# Sane ranges of the model's named numeric features (IMDb's own data sits well inside them): a
# value outside would be scaled to a point so far from every centre that distances overflow.
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "startYear": (1870, 2100),
    "runtimeMinutes": (1, 1000),
    "averageRating": (0, 10),
    "numVotes": (0, 1e8),
}


def int_param(params: dict, name: str, default: int | None, low: int | None = None, high: int | None = None):
    """A whole number from a query string (ASCII digits) or a JSON body (an int, not a bool)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if (isinstance(raw, bool) or not isinstance(raw, (int, str))
            or isinstance(raw, str) and not _WHOLE_NUMBER.fullmatch(raw)):
        raise InvalidRequest(f"'{name}' must be a whole number written in ASCII digits, got {clip(raw)}")
    value = int(raw)
    if low is not None and value < low or high is not None and value > high:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"'{name}' must be {bounds}, got {clip(value)}")
    return value


def check_known(params: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s) {clip_list(unknown)}; this route takes {list(allowed)}")


def text_param(params: dict, name: str, max_length: int) -> str | None:
    """Free text (a title search): at most `max_length` characters, no control characters; blank is None."""
    raw = params.get(name)
    if raw is None:
        return None
    if len(raw) > max_length:
        raise InvalidRequest(f"'{name}' is {len(raw)} characters long; at most {max_length}")
    bad = _CONTROL.search(raw)
    if bad:
        raise InvalidRequest(f"'{name}' holds the control character {bad.group()!r} at position {bad.start()}: "
                             "send plain text")
    return raw.strip() or None


def choice_param(params: dict, name: str, choices, default: str | None, what: str | None = None) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise InvalidRequest(f"unknown {what or name} {clip(raw)}; use one of {list(choices)}")
    return raw


def json_body(raw: bytes | str | None):
    """The request body parsed as JSON; 413 when too large, 400 when not JSON or nested too deeply."""
    if raw is None or len(raw) == 0:
        raise InvalidRequest('send a JSON body: {"liked": ["tt0133093", ...]} or {"features": {...}}')
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(raw)} bytes; this route takes at most {MAX_BODY_BYTES}")
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidRequest("the JSON body is nested too deeply; send a flat object") from None
    except ValueError as err:   # includes UnicodeDecodeError: not UTF-8
        raise InvalidRequest(f"the body is not valid JSON ({clip(err, 80)})") from None


def json_ints(body: dict, names: tuple[str, ...]) -> None:
    """Numbers in a JSON body are JSON integers: not strings ("5"), not booleans, not 5.5."""
    for name in names:
        if name in body and (isinstance(body[name], bool) or not isinstance(body[name], int)):
            raise InvalidRequest(f"'{name}' must be a JSON integer, got {clip(json.dumps(body[name]))}")


def feature_genres(features: list[str] | None, fallback) -> list[str]:
    """The model's genre columns: its features minus the named numeric ones (the table's genres when unknown)."""
    if not features:
        return list(fallback)
    return [f for f in features if f not in FEATURE_RANGES]


def check_features(features: dict, genre_names) -> None:
    """Each named feature a finite number inside its range; genre columns 0 or 1; `genres` a list of names."""
    genre_names = set(genre_names)
    for name, value in features.items():
        if name == "genres":
            if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
                raise InvalidRequest(f"'genres' must be a list of genre names, got {clip(value)}")
            continue
        if name in FEATURE_RANGES:
            low, high = FEATURE_RANGES[name]
        elif name in genre_names:
            low, high = 0, 1
        else:
            continue   # the model names what it does not know
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        try:
            ok = ok and math.isfinite(value)
        except OverflowError:     # a JSON integer of hundreds of digits: out of every range
            ok = False
        if name in genre_names:
            ok = ok and value in (0, 1)
        if not ok or not low <= value <= high:
            allowed = "0 or 1" if name in genre_names else f"a number from {low:g} to {high:g}"
            raise InvalidRequest(f"feature {clip(name)} must be {allowed}, got {clip(value)}")
