"""Viewer interactions: the one format (docs/CONTRACTS.md "Interactions file format"), checked,
folded into weighted (viewer, film) pairs and split per viewer in time. Pure: no I/O, no clock.

Input rows come from three places that share the format: the events the API stored (JSON lines,
`events_frame`), an `interactions_uri` file (CSV/parquet, read by steps/prepare_interactions.py
into a frame of strings) and the simulated viewers of the demo (steps/simulated_viewers.py).
`prepare(...)` turns them into interactions.parquet's rows and the counts of interactions.json:
- malformed rows are counted by reason (the first field that is wrong) and dropped, never fatal;
- films the catalogue does not hold are counted and dropped; forgotten viewers (sha256 of the
  viewer id in the forget set) are counted and dropped;
- duplicates (same event_id; rows without one: the same five fields) are counted and dropped;
- per (viewer, film), in time order, an `unlike` cancels the likes before it and a `list_remove`
  the list_adds before it; the pair's weight is the sum of its live signals (one play, one like,
  one list entry, one view, the latest rating mapped by value): play > like > list_add > view; a
  latest rating at or below `rating_neutral` makes the pair a dislike (no positive, dropped);
- viewers and films below the minimum counts are dropped (repeated until both hold);
- each viewer's latest positives go to `test`, the next latest to `validation`, the rest `train`.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any, Iterable

import numpy as np
import pandas as pd

from steps import schema

EVENT_TYPES = ("like", "unlike", "list_add", "list_remove", "view", "play", "rating")
REQUIRED_COLUMNS = ("viewer_id", "tconst", "event", "value", "timestamp")
OPTIONAL_COLUMNS = ("event_id",)
SPLITS = ("train", "validation", "test")
VIEWER_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")       # the file format: 1..64 printable chars
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TCONST = re.compile(r"^tt\d{7,9}$")
# Epoch seconds accepted: 1970 .. 2100 (anything else is a unit mistake: milliseconds, say).
MAX_EPOCH = 4_102_444_800
MALFORMED_REASONS = ("columns", "json", "viewer_id", "tconst", "event", "value", "timestamp", "event_id")
PARAM_NAMES = ("weight_play", "weight_like", "weight_list_add", "weight_view", "rating_neutral",
               "min_viewer_interactions", "min_film_interactions", "test_fraction", "validation_fraction")
DEFAULT_PARAMS = {name: schema.DEFAULTS[name] for name in PARAM_NAMES}


class InteractionsError(ValueError):
    """The input cannot be used at all (no usable column layout, too many malformed rows)."""


def viewer_sha256(viewer_id: str) -> str:
    """The forget records' key: the hex sha256 of the viewer id's UTF-8 bytes."""
    return hashlib.sha256(viewer_id.encode("utf-8")).hexdigest()


# --- parsing ------------------------------------------------------------------------------------
def _timestamps(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds int64, ok mask) from epoch numbers or ISO 8601 strings (naive = UTC).

    Numbers are parsed for every row at once; only the rows that are not numbers are stripped and
    tried as ISO 8601 (the costly path, taken by what the text form needs)."""
    out = np.zeros(len(values), dtype=np.int64)
    numeric = pd.to_numeric(values.to_numpy(dtype=object), errors="coerce")
    num_values = np.asarray(numeric, dtype=float)
    rest = np.flatnonzero(~np.isfinite(num_values))
    if len(rest):
        text = pd.Series(values.to_numpy(dtype=object)[rest], dtype="string").str.strip()
        again = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        num_values[rest] = again
        iso = ~np.isfinite(again) & text.str.contains(r"^\d{4}-\d{2}-\d{2}", na=False).to_numpy(dtype=bool)
        if iso.any():
            parsed = pd.to_datetime(text[iso], errors="coerce", utc=True, format="ISO8601")
            seconds = ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(
                dtype=float, na_value=np.nan)
            num_values[rest[iso]] = seconds
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(num_values) & (num_values >= 0) & (num_values <= MAX_EPOCH)
    out[ok] = np.floor(num_values[ok]).astype(np.int64)
    return out, ok


def normalize(frame: pd.DataFrame) -> tuple[pd.DataFrame, Counter]:
    """Check every row of a frame in the format; return (the good rows, malformed count by reason).

    The good rows have `viewer_id, tconst, event` (str), `value` (float, NaN but for ratings),
    `timestamp` (int64 epoch seconds) and `event_id` (str or None). A row is counted once, under
    the first field (in MALFORMED_REASONS order) that is wrong. A frame without the required
    columns is refused whole (InteractionsError), since no row of it could be read.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InteractionsError(
            f"the interactions have no column {', '.join(missing)}: the format is a header "
            f"{','.join(REQUIRED_COLUMNS)}[,event_id] (docs/CONTRACTS.md)")
    n = len(frame)
    bad = Counter()
    ok = np.ones(n, dtype=bool)

    def text(col: str) -> pd.Series:
        return frame[col].astype("string").str.strip()

    def by_unique(col: str, pattern: str, lower: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(stripped values, matches) checked once per distinct value: ids repeat across millions
        of rows, so this is the cheap way to check them all."""
        codes, uniques = pd.factorize(frame[col].to_numpy(dtype=object), use_na_sentinel=True)
        cleaned = pd.Series(uniques, dtype="string").str.strip()
        if lower:
            cleaned = cleaned.str.lower()
        matches = cleaned.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
        values = np.append(cleaned.to_numpy(dtype=object, na_value=None), None)[codes]     # -1 (NA) -> None
        return values, np.append(matches, False)[codes]

    def check(reason: str, good: np.ndarray) -> None:
        nonlocal ok
        newly = ok & ~good
        if newly.any():
            bad[reason] += int(newly.sum())
        ok &= good

    viewer, viewer_ok = by_unique("viewer_id", VIEWER_ID.pattern)
    check("viewer_id", viewer_ok)
    tconst, tconst_ok = by_unique("tconst", TCONST.pattern)
    check("tconst", tconst_ok)
    event, event_ok = by_unique("event", "|".join(EVENT_TYPES), lower=True)
    check("event", event_ok)
    # values repeat (empty, or a rating's few steps): parsed once per distinct value
    value_codes, value_uniques = pd.factorize(frame["value"].to_numpy(dtype=object), use_na_sentinel=True)
    raw_value = pd.Series(value_uniques, dtype="string").str.strip()
    unique_empty = (raw_value.isna() | (raw_value == "") | raw_value.str.lower().isin(["nan", "null", "none"])
                    ).fillna(True).to_numpy(dtype=bool)
    unique_value = pd.to_numeric(raw_value.where(~unique_empty), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan)
    empty_value = np.append(unique_empty, True)[value_codes]
    value = np.append(unique_value, np.nan)[value_codes]
    is_rating = event == "rating"
    with np.errstate(invalid="ignore"):
        rating_ok = np.isfinite(value) & (value >= 0) & (value <= 10)
    check("value", np.where(is_rating, rating_ok, empty_value))
    stamps, stamp_ok = _timestamps(frame["timestamp"])
    check("timestamp", stamp_ok)
    if "event_id" in frame.columns:
        event_id = text("event_id")
        no_id = (event_id.isna() | (event_id == "")).fillna(True).to_numpy(dtype=bool)
        check("event_id", no_id | event_id.str.fullmatch(EVENT_ID.pattern).fillna(False).to_numpy(dtype=bool))
        ids = np.where(no_id, None, event_id.astype(object).to_numpy())
    else:
        ids = np.full(n, None, dtype=object)
    good = pd.DataFrame({
        "viewer_id": viewer[ok], "tconst": tconst[ok],
        "event": event[ok], "value": np.where(is_rating, value, np.nan)[ok],
        "timestamp": stamps[ok], "event_id": ids[ok]})
    return good, bad


def events_frame(lines: Iterable[bytes | str]) -> tuple[pd.DataFrame, Counter]:
    """JSON-lines events (the API's stored objects) as a frame of the format's columns.

    A line that is not a JSON object is counted `json`; one whose keys are not the format's
    (missing a required key, or an unknown one) is counted `columns`. Blank lines are skipped.
    """
    bad = Counter()
    rows: list[dict[str, Any]] = []
    allowed = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    for line in lines:
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                bad["json"] += 1
                continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad["json"] += 1
            continue
        if not isinstance(record, dict):
            bad["json"] += 1
            continue
        keys = set(record)
        if not (set(REQUIRED_COLUMNS) - {"value"}) <= keys or keys - allowed:
            bad["columns"] += 1
            continue
        rows.append({key: (None if record.get(key) is None else str(record[key]))
                     for key in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)})
    frame = pd.DataFrame(rows, columns=[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS], dtype=object)
    return frame, bad


# --- folding events into weighted pairs ---------------------------------------------------------
def dedupe(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop repeated events: the same event_id (first kept), or, without one, the same five fields."""
    has_id = rows["event_id"].notna().to_numpy(dtype=bool)
    repeated = np.zeros(len(rows), dtype=bool)
    repeated[has_id] = rows.loc[has_id, "event_id"].duplicated().to_numpy(dtype=bool)
    fields = rows.loc[~has_id, ["viewer_id", "tconst", "event", "value", "timestamp"]].copy()
    fields["value"] = fields["value"].fillna(-1.0)          # NaN never equals NaN: a sentinel
    repeated[~has_id] = fields.duplicated().to_numpy(dtype=bool)
    first = ~repeated
    return rows[first].reset_index(drop=True), int((~first).sum())


def rating_weight(value: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """A rating's implicit weight: 0 at or below the neutral point, weight_like at 10, linear between."""
    neutral = float(params["rating_neutral"])
    span = max(10.0 - neutral, 1e-9)
    return np.clip((value - neutral) / span, 0.0, 1.0) * float(params["weight_like"])


def fold(rows: pd.DataFrame, params: dict[str, float]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per (viewer, film): apply cancels in time order and weigh the live signals (see module doc).

    Returns pairs `viewer_id, tconst, weight (float32 > 0), timestamp (int64: the latest live
    positive event)` and counts `cancelled` (likes and list entries cancelled) and `not_positive`
    (pairs left with no positive signal: everything cancelled, or a low latest rating).
    """
    # sorted codes (string order) instead of the strings: 25M ids as numpy strings would take GBs
    viewer_code, film_code, event_code = (pd.factorize(rows[c], sort=True)[0]
                                          for c in ("viewer_id", "tconst", "event"))
    order = np.lexsort((event_code, rows["timestamp"].to_numpy(), film_code, viewer_code))
    r = rows.iloc[order].reset_index(drop=True)
    viewer_code, film_code = viewer_code[order], film_code[order]
    new_pair = np.ones(len(r), dtype=bool)
    new_pair[1:] = (viewer_code[1:] != viewer_code[:-1]) | (film_code[1:] != film_code[:-1])
    group = np.cumsum(new_pair) - 1
    n_pairs = int(group[-1] + 1) if len(r) else 0
    event = r["event"].to_numpy(dtype=object)
    stamp = r["timestamp"].to_numpy(dtype=np.int64)
    # "Cancelled" state by counting: a like is live when no unlike follows it in the same pair.
    # Walk backwards: the latest unlike/list_remove time per pair, then likes before it are dead.
    last_unlike = np.full(n_pairs, -1, dtype=np.int64)
    last_remove = np.full(n_pairs, -1, dtype=np.int64)
    np.maximum.at(last_unlike, group[event == "unlike"], stamp[event == "unlike"])
    np.maximum.at(last_remove, group[event == "list_remove"], stamp[event == "list_remove"])
    # Same-second ties: sorted by event name, "like" < "unlike" and "list_add" < "list_remove", so
    # an unlike in the same second as a like cancels it (the later click wins).
    is_like, is_add = event == "like", event == "list_add"
    like_live = is_like & (stamp > last_unlike[group])
    add_live = is_add & (stamp > last_remove[group])
    cancelled = int((is_like & ~like_live).sum() + (is_add & ~add_live).sum())

    def any_per_pair(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n_pairs, dtype=bool)
        out[group[mask]] = True
        return out

    def latest_per_pair(mask: np.ndarray) -> np.ndarray:
        out = np.full(n_pairs, -1, dtype=np.int64)
        np.maximum.at(out, group[mask], stamp[mask])
        return out

    is_rating = event == "rating"
    # the latest rating of each pair (ties: the last row in the sort order)
    rating_value = np.full(n_pairs, np.nan)
    rating_rows = np.flatnonzero(is_rating)
    rating_value[group[rating_rows]] = r["value"].to_numpy(dtype=float)[rating_rows]
    rated_weight = np.where(np.isnan(rating_value), 0.0, rating_weight(np.nan_to_num(rating_value), params))
    disliked = ~np.isnan(rating_value) & (rated_weight <= 0)
    weight = (any_per_pair(event == "play") * params["weight_play"]
              + any_per_pair(like_live) * params["weight_like"]
              + any_per_pair(add_live) * params["weight_list_add"]
              + any_per_pair(event == "view") * params["weight_view"] + rated_weight)
    positive_rows = (event == "play") | like_live | add_live | (event == "view") | (is_rating & (
        rated_weight[group] > 0))
    latest = latest_per_pair(positive_rows)
    keep = (weight > 0) & ~disliked
    first_rows = np.flatnonzero(new_pair)
    pairs = pd.DataFrame({
        "viewer_id": r["viewer_id"].to_numpy(dtype=object)[first_rows][keep],
        "tconst": r["tconst"].to_numpy(dtype=object)[first_rows][keep],
        "weight": weight[keep].astype(np.float32),
        "timestamp": latest[keep].astype(np.int64)})
    return pairs, {"cancelled": cancelled, "not_positive": int(n_pairs - keep.sum())}


def min_counts(pairs: pd.DataFrame, min_viewer: int, min_film: int) -> tuple[pd.DataFrame, int]:
    """Keep viewers with >= min_viewer films and films with >= min_film viewers, until both hold."""
    before = len(pairs)
    for _ in range(20):               # converges in a few rounds on real data; bounded regardless
        per_viewer = pairs.groupby("viewer_id")["tconst"].transform("size")
        per_film = pairs.groupby("tconst")["viewer_id"].transform("size")
        ok = (per_viewer >= min_viewer) & (per_film >= min_film)
        if ok.all():
            break
        pairs = pairs[ok]
    return pairs.reset_index(drop=True), before - len(pairs)


def time_split(pairs: pd.DataFrame, test_fraction: float, validation_fraction: float) -> pd.Series:
    """Per viewer, latest first: round(test_fraction * n) pairs `test`, then round(validation_fraction
    * n) `validation`, the rest `train`; a viewer with 3 or more pairs has at least one of each, and
    viewers with fewer stay wholly `train` (nothing left to learn them from). Ties broken by tconst."""
    viewer_code, film_code = (pd.factorize(pairs[c], sort=True)[0] for c in ("viewer_id", "tconst"))
    order = np.lexsort((film_code, -pairs["timestamp"].to_numpy(), viewer_code))
    viewer = viewer_code[order]
    rank = pd.Series(viewer).groupby(viewer).cumcount().to_numpy()            # 0 = latest
    size = pd.Series(viewer).groupby(viewer).transform("size").to_numpy()
    n_test = np.where(size >= 3, np.clip(np.round(test_fraction * size), 1, size - 2), 0)
    n_val = np.where(size >= 3, np.clip(np.round(validation_fraction * size), 1, size - 1 - n_test), 0)
    split_sorted = np.where(rank < n_test, "test", np.where(rank < n_test + n_val, "validation", "train"))
    split = np.empty(len(pairs), dtype=object)
    split[order] = split_sorted
    return pd.Series(split, index=pairs.index, name="split")


def prepare(frames: Iterable[tuple[pd.DataFrame, Counter]], known_films: Iterable[str],
            forgotten: set[str], params: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every source's (raw frame, malformed-so-far) -> (interactions.parquet's frame, counts).

    `forgotten` holds the sha256 hex of forgotten viewer ids; `known_films` the catalogue's tconsts.
    """
    p = {**DEFAULT_PARAMS, **(params or {})}
    malformed: Counter = Counter()
    good_parts, rows_read = [], 0
    for frame, already_bad in frames:
        rows_read += len(frame) + sum(already_bad.values())
        malformed.update(already_bad)
        if len(frame):
            good, bad = normalize(frame)
            malformed.update(bad)
            good_parts.append(good)
    rows = (pd.concat(good_parts, ignore_index=True) if good_parts else normalize(
        pd.DataFrame(columns=list(REQUIRED_COLUMNS)))[0])
    counts: dict[str, Any] = {"rows_read": rows_read,
                              "malformed": {reason: int(malformed[reason]) for reason in MALFORMED_REASONS
                                            if malformed[reason]},
                              "malformed_total": int(sum(malformed.values()))}
    known = rows["tconst"].isin(set(known_films)).to_numpy(dtype=bool)
    counts["unknown_films"] = int((~known).sum())
    rows = rows[known]
    if forgotten:
        gone = [v for v in rows["viewer_id"].unique() if viewer_sha256(v) in forgotten]   # once per viewer
        hashed = rows["viewer_id"].isin(gone).to_numpy(dtype=bool)
    else:
        hashed = np.zeros(len(rows), dtype=bool)
    counts["forgotten"] = int(hashed.sum())
    counts["forgotten_viewers"] = int(rows.loc[hashed, "viewer_id"].nunique()) if hashed.any() else 0
    rows = rows[~hashed].reset_index(drop=True)
    rows, counts["duplicates"] = dedupe(rows)
    counts["events"] = {event: int(n) for event, n in rows["event"].value_counts().sort_index().items()}
    pairs, fold_counts = fold(rows, p)
    counts.update(fold_counts)
    pairs, counts["below_min_counts"] = min_counts(pairs, int(p["min_viewer_interactions"]),
                                                   int(p["min_film_interactions"]))
    pairs["split"] = time_split(pairs, float(p["test_fraction"]), float(p["validation_fraction"]))
    pairs = pairs.sort_values(["viewer_id", "timestamp", "tconst"], kind="stable").reset_index(drop=True)
    pairs["viewer_id"] = pairs["viewer_id"].astype(str)
    pairs["tconst"] = pairs["tconst"].astype(str)
    pairs["split"] = pairs["split"].astype(str)
    counts.update({
        "interactions": int(len(pairs)), "viewers": int(pairs["viewer_id"].nunique()),
        "films": int(pairs["tconst"].nunique()),
        "splits": {s: int((pairs["split"] == s).sum()) for s in SPLITS},
        "viewers_held_out": int(pairs.loc[pairs["split"] == "test", "viewer_id"].nunique()),
        "params": {k: (float(v) if isinstance(v, float) else int(v)) for k, v in p.items()},
    })
    return pairs[["viewer_id", "tconst", "weight", "timestamp", "split"]], counts


def bad_fraction(counts: dict[str, Any]) -> float:
    """Share of rows read that were malformed (0 when nothing was read)."""
    return counts["malformed_total"] / counts["rows_read"] if counts["rows_read"] else 0.0

