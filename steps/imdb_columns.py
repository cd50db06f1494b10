"""What a field of IMDb's title tables may hold: the per-column checks of `steps/imdb.py`.

Each takes an arrow column (or batch) and returns a mask of the malformed values, or the parsed
values with that mask; no I/O and no state. `steps/imdb.py` counts and samples what they find.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from steps import schema

IMDB_GENRES = frozenset(schema.ALL_IMDB_GENRES)


def bad_utf8(column: pa.Array, sanitized: bool = False) -> np.ndarray:
    """Mask of values that are not valid UTF-8 (the fast whole-column check first)."""
    if sanitized:       # the fallback read replaced every bad byte with U+FFFD
        return pc.fill_null(pc.match_substring(column, "\ufffd"), False).to_numpy(
            zero_copy_only=False).astype(bool)
    try:
        column.validate(full=True)
        return np.zeros(len(column), dtype=bool)
    except pa.ArrowInvalid:
        raw = column.cast(pa.binary()).to_pylist()
        bad = np.zeros(len(column), dtype=bool)
        for i, value in enumerate(raw):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    bad[i] = True
        return bad


def row_text(batch: pa.RecordBatch, i: int) -> str:
    values = []
    for column in batch.columns:
        v = column.slice(i, 1).cast(pa.binary())[0].as_py()
        values.append("\\N" if v is None else v.decode("utf-8", errors="replace"))
    return "\t".join(values)


def line_lengths(batch: pa.RecordBatch) -> np.ndarray:
    """Each line's bytes (without its newline): the fields (`\\N` for a null) plus the tabs."""
    total = np.full(batch.num_rows, batch.num_columns - 1, dtype=np.int64)
    for column in batch.columns:
        total += pc.fill_null(pc.binary_length(column), 2).to_numpy(zero_copy_only=False)
    return total


def too_long(column: pa.Array, max_chars: int) -> np.ndarray:
    return pc.fill_null(pc.greater(pc.utf8_length(column), max_chars), False).to_numpy(
        zero_copy_only=False).astype(bool)


def unknown_genres(genres: pa.Array) -> np.ndarray:
    """Rows whose comma-separated genres name one IMDb does not use (`<img ...>`, "", "drama").
    Checked once per distinct genres string (IMDb's files hold a few thousand)."""
    raw = genres.cast(pa.binary())           # as bytes: a value that is not UTF-8 is reported elsewhere
    bad = [g for g in pc.unique(raw).to_pylist()
           if g is not None and not IMDB_GENRES.issuperset(g.decode("utf-8", "replace").split(","))]
    if not bad:
        return np.zeros(len(genres), dtype=bool)
    return pc.fill_null(pc.is_in(raw, value_set=pa.array(bad, pa.binary())), False).to_numpy(
        zero_copy_only=False).astype(bool)


def bad_ids(tconst: pa.Array) -> np.ndarray:
    ok = pc.fill_null(pc.match_substring_regex(tconst, r"^tt[0-9]{1,15}$"), False)
    return ~ok.to_numpy(zero_copy_only=False).astype(bool)


def id_numbers(tconst: pa.Array) -> pa.Array:
    # "tt0012345" -> 12345 (ids are checked first): steps.cleaning joins on this int64 key.
    return pc.cast(pc.utf8_slice_codeunits(tconst, 2), pa.int64())


def whole_numbers(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(int64 values with nulls, mask of non-null strings that are not non-negative whole numbers)."""
    try:
        ints = pc.cast(values, pa.int64())
    except pa.ArrowInvalid:
        # 18 digits always fit int64: a longer number is malformed, never a raw overflow error
        ok = pc.fill_null(pc.match_substring_regex(values, r"^[0-9]{1,18}$"), False)
        ints = pc.cast(pc.if_else(ok, values, pa.scalar(None, pa.string())), pa.int64())
        bad = pc.and_(pc.is_valid(values), pc.invert(ok))
        ints = pc.if_else(pc.is_valid(values), ints, pa.scalar(None, pa.int64()))
        return ints, bad.to_numpy(zero_copy_only=False).astype(bool)
    # The cast accepts a sign: a negative count or year is malformed ("+5" is harmless).
    bad = pc.fill_null(pc.less(ints, 0), False)
    if pc.any(bad).as_py():
        ints = pc.if_else(bad, pa.scalar(None, pa.int64()), ints)
    return ints, bad.to_numpy(zero_copy_only=False).astype(bool)
