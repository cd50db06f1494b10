"""The preprocess step's rules, as pure functions over DataFrames (no I/O).

From the basics and ratings frames of steps/imdb.py to the CATALOGUE (every valid film: what
viewers can find) and the TRAINING SET (the catalogue films inside the fences: what the model
learns from), each as a features frame (tconst + the features in the order of features.json),
plus the catalog frame, the feature-order dict and the quality report.
Validity rules, in order (the defaults follow the source tutorial; see steps/schema.py DEFAULTS):
title type, not adult, one row per tconst, join ratings, no missing field, minimum rating, minimum
votes: what passes is the catalogue. Training fences, applied to the catalogue in order: startYear
fence (IQR, or a fixed minimum year), runtime cap, dropped genres. The fences keep outliers from
distorting the clusters; they never hide a film from viewers (Publish gives every catalogue film
the cluster the trained model predicts). Every rule records the rows in and out; the report says
why each row went, and which fence put each catalogue film outside the training set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from steps import schema

REQUIRED_FIELDS = ("primaryTitle", "startYear", "runtimeMinutes", "genres", "averageRating",
                   "numVotes")
SAMPLE_LINES = 20


class CleaningError(ValueError):
    """A parameter the rules cannot work with; the message says which and what to do."""


@dataclass
class CleanResult:
    features: pd.DataFrame           # the TRAINING SET: tconst + features, float64, feature order
    catalog: pd.DataFrame            # every valid film: schema.CATALOG_COLUMNS + CATALOG_TRAINING_COLUMNS
    catalog_features: pd.DataFrame   # every valid film's features (same columns as `features`)
    feature_order: dict              # the content of features.json
    report: dict                     # rules, fence, bins, genres: the cleaning part of quality.json
    years_at_fence: np.ndarray = field(repr=False, default_factory=lambda: np.array([]))
    runtime_before_cap: np.ndarray = field(repr=False, default_factory=lambda: np.array([]))
    runtime_after_cap: np.ndarray = field(repr=False, default_factory=lambda: np.array([]))


def parse_dropped_genres(text: str | list | tuple | None) -> tuple[str, ...]:
    """'Short,News' -> ('News', 'Short'); an unknown name is an error (a typo would drop nothing)."""
    if text is None:
        return ()
    names = [g.strip() for g in (text.split(",") if isinstance(text, str) else text)]
    names = [g for g in names if g]
    unknown = [g for g in names if g not in schema.ALL_IMDB_GENRES]
    if unknown:
        raise CleaningError(f"dropped genres {unknown} are not IMDb genres; use names from: "
                            f"{', '.join(schema.ALL_IMDB_GENRES)} (comma-separated, as IMDb spells them)")
    return tuple(sorted(set(names)))


def genre_columns(dropped: tuple[str, ...]) -> list[str]:
    """Every IMDb genre not dropped, alphabetical: the same columns whatever the data holds."""
    return sorted(set(schema.ALL_IMDB_GENRES) - set(dropped))


def feature_order(dropped: tuple[str, ...]) -> dict:
    """The content of features.json."""
    genres = genre_columns(dropped)
    numeric = [*schema.LEADING_NUMERIC_FEATURES, *schema.TRAILING_NUMERIC_FEATURES]
    return {"id_column": schema.ID_COLUMN,
            "features": [*schema.LEADING_NUMERIC_FEATURES, *genres, *schema.TRAILING_NUMERIC_FEATURES],
            "numeric": numeric, "genres": genres}


def _arrow_strings(values: pd.Series) -> pa.Array:
    return pa.array(values.astype("string").fillna(""), type=pa.string(), from_pandas=True)


def genre_matrix(genres: pd.Series, names) -> pd.DataFrame:
    """One boolean column per name: does the comma-separated genre list hold it."""
    padded = pc.binary_join_element_wise(",", _arrow_strings(genres), ",", "")
    return pd.DataFrame({g: pc.match_substring(padded, f",{g},").to_numpy(zero_copy_only=False)
                         for g in names}, index=genres.index)


def unknown_genres(genres: pd.Series) -> dict[str, int]:
    """Genre names that are not IMDb's (they get no column), with how many movies carry each."""
    names = pc.list_flatten(pc.split_pattern(_arrow_strings(genres.dropna()), ","))
    counts = pc.value_counts(names).to_pylist()
    return {c["values"]: int(c["counts"]) for c in sorted(counts, key=lambda c: c["values"])
            if c["values"] and c["values"] not in schema.ALL_IMDB_GENRES}


def id_keys(frame: pd.DataFrame) -> np.ndarray:
    """tconst as an int64 key ("tt0012345" -> 12345): joins and repeats on numbers, not strings.

    steps.imdb has checked every tconst is `tt` + digits; its frames bring the key as `tid`."""
    if "tid" in frame:
        return frame["tid"].to_numpy(dtype=np.int64)
    digits = pc.utf8_slice_codeunits(_arrow_strings(frame["tconst"]), 2)
    return pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False)


class _Log:
    """Rows in and out of every rule, in order."""

    def __init__(self) -> None:
        self.rules: list[dict] = []

    def add(self, rule: str, description: str, rows_in: int, rows_out: int, **extra) -> None:
        self.rules.append({"rule": rule, "description": description, "rows_in": int(rows_in),
                           "rows_out": int(rows_out), "dropped": int(rows_in - rows_out), **extra})


def _sample_lines(frame: pd.DataFrame) -> list[int]:
    if "line" not in frame:
        return []
    return [int(x) for x in frame["line"].head(SAMPLE_LINES)]


def year_fence(years: np.ndarray, multiplier: float, min_year: int) -> dict:
    """The startYear bounds: `min_year` > 0 wins (a fixed lower bound), else the IQR fence, else off."""
    if min_year and min_year > 0:
        return {"method": "min_year", "low": int(min_year), "high": None, "multiplier": multiplier}
    if multiplier and multiplier > 0 and years.size:
        q1, q3 = (float(v) for v in np.percentile(years.astype(np.float64), [25, 75]))
        iqr = q3 - q1
        return {"method": "iqr", "q1": q1, "q3": q3, "iqr": iqr, "multiplier": float(multiplier),
                "low": q1 - multiplier * iqr, "high": q3 + multiplier * iqr}
    return {"method": "off", "low": None, "high": None, "multiplier": multiplier}


def runtime_bins(runtimes: np.ndarray, width: int, cap: int) -> list[float]:
    """Bin edges 0, width, ... up to twice the cap (at least 360 min); one overflow bin above."""
    top = max(2 * cap, 360)
    edges = [float(e) for e in range(0, int(math.ceil(top / width)) * width + 1, width)]
    return edges + [float("inf")]


def bin_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    counts, _ = np.histogram(values.astype(np.float64), bins=np.asarray(edges))
    return [int(c) for c in counts]


def _check_params(params: dict) -> None:
    problems = []
    if float(params["year_iqr_multiplier"]) < 0:
        problems.append("year_iqr_multiplier must be >= 0 (0 turns the fence off)")
    if int(params["runtime_cap"]) < 0:
        problems.append("runtime_cap must be >= 0 minutes (0 turns the cap off)")
    if int(params["runtime_bin_width"]) <= 0:
        problems.append("runtime_bin_width must be a positive number of minutes")
    if int(params["min_votes"]) < 0:
        problems.append("min_votes must be >= 0")
    if problems:
        raise CleaningError("; ".join(problems))


def clean(basics: pd.DataFrame, ratings: pd.DataFrame, params: dict | None = None,
          rows_before_title_filter: int | None = None) -> CleanResult:
    """Applies every rule in order and builds the outputs.

    `basics` / `ratings` are the frames of steps.imdb (a `line` column is optional and only feeds
    the report's line samples). When the reader already kept one title type, pass the number of
    well-formed rows it saw as `rows_before_title_filter`, so the title-type rule reports it.
    `params` holds schema.DEFAULTS keys; missing ones take the defaults.
    """
    p = {**schema.DEFAULTS, **(params or {})}
    _check_params(p)
    dropped = parse_dropped_genres(p["dropped_genres"])
    order = feature_order(dropped)
    log = _Log()
    df = basics

    # 1. title type
    rows_in = len(df) if rows_before_title_filter is None else int(rows_before_title_filter)
    df = df[df["titleType"] == p["title_type"]]
    log.add("title_type", f"keep titleType == {p['title_type']!r}", rows_in, len(df),
            title_type=p["title_type"])

    # 2. adult titles
    n = len(df)
    df = df[~df["isAdult"].astype(bool)]
    log.add("not_adult", "drop isAdult == 1", n, len(df))

    # 3. one row per movie: IMDb never repeats a tconst, so a repeat is a damaged file
    n = len(df)
    df = df.assign(_key=id_keys(df))
    dup = df["_key"].duplicated(keep="first")
    log.add("unique_tconst", "drop a repeated tconst (the first line wins)", n, n - int(dup.sum()),
            sample_lines=_sample_lines(df[dup]))
    df = df[~dup]
    ratings = ratings.assign(_key=id_keys(ratings))
    rdup = ratings["_key"].duplicated(keep="first")
    ratings_dups = {"count": int(rdup.sum()), "sample_lines": _sample_lines(ratings[rdup])}
    ratings = ratings[~rdup]

    # 4. ratings: a movie without a ratings row has no rating and no votes
    n = len(df)
    rcols = ratings[["_key", "averageRating", "numVotes"]]
    # Both sides are unique by now: no `validate=` (it would factorize 800k keys again).
    df = df.merge(rcols, on="_key", how="inner", sort=False)
    log.add("join_ratings", "keep movies that have a row in title.ratings", n, len(df),
            ratings_rows=int(len(ratings)), ratings_duplicates=ratings_dups)

    # 5. missing fields (`\N`), counted per field; a row may miss several
    n = len(df)
    missing = {f: int(df[f].isna().sum()) for f in REQUIRED_FIELDS}
    any_missing = df[list(REQUIRED_FIELDS)].isna().any(axis=1)
    df = df[~any_missing]
    log.add("no_missing_field", f"drop rows with \\N in any of {', '.join(REQUIRED_FIELDS)}",
            n, len(df), missing_by_field=missing)

    # The year fence's quartiles are those of every rated movie with all its fields, as they always
    # were: the training set is the very one the fences gave before the catalogue was split off.
    years_at_fence = df["startYear"].to_numpy(dtype=np.int64)
    fence = year_fence(years_at_fence, float(p["year_iqr_multiplier"]), int(p["min_year"]))
    unknown = unknown_genres(df["genres"])

    # 6-7. rating and votes: the last validity rules; what passes is the catalogue
    n = len(df)
    df = df[df["averageRating"] >= float(p["min_rating"])]
    log.add("min_rating", f"keep averageRating >= {float(p['min_rating'])}", n, len(df),
            min_rating=float(p["min_rating"]), stage="catalogue")
    n = len(df)
    df = df[df["numVotes"] >= int(p["min_votes"])]
    log.add("min_votes", f"keep numVotes >= {int(p['min_votes'])}", n, len(df),
            min_votes=int(p["min_votes"]), stage="catalogue")
    df = df.reset_index(drop=True)
    for rule in log.rules:
        rule.setdefault("stage", "catalogue")

    # 8-10. the training fences, over the catalogue in order; `outside` names the first that hit
    outside = np.full(len(df), "", dtype=object)
    each_rule: dict[str, int] = {}

    def fence_rule(name: str, hit: np.ndarray, description: str, **extra) -> None:
        inside = outside == ""
        each_rule[name] = int(hit.sum())
        outside[inside & hit] = name
        log.add(name, description, int(inside.sum()), int((outside == "").sum()), stage="training", **extra)

    years = df["startYear"].to_numpy(dtype=np.int64)
    low = years < fence["low"] if fence["low"] is not None else np.zeros(len(df), dtype=bool)
    high = years > fence["high"] if fence["high"] is not None else np.zeros(len(df), dtype=bool)
    inside_before = outside == ""
    fence_rule("year_fence", low | high,
               {"iqr": f"train on startYear within the IQR fence (x{fence['multiplier']})",
                "min_year": f"train on startYear >= {fence['low']}",
                "off": "no startYear fence"}[fence["method"]],
               fence=fence, below=int((low & inside_before).sum()), above=int((high & inside_before).sum()))

    cap, width = int(p["runtime_cap"]), int(p["runtime_bin_width"])
    runtimes = df["runtimeMinutes"].to_numpy(dtype=np.int64)
    runtime_before = runtimes[outside == ""]
    fence_rule("runtime_cap", runtimes > cap if cap > 0 else np.zeros(len(df), dtype=bool),
               f"train on runtimeMinutes <= {cap}" if cap > 0 else "no runtime cap", cap=cap)
    runtime_after = runtimes[outside == ""]
    edges = runtime_bins(runtime_before, width, cap)
    bins = {"width": width, "cap": cap, "edges": [e if math.isfinite(e) else None for e in edges],
            "before_cap": bin_counts(runtime_before, edges),
            "after_cap": bin_counts(runtime_after, edges)}

    # a movie with a dropped genre is not a feature film for training; the column is not made
    if dropped:
        hit = genre_matrix(df["genres"], dropped)
        inside = outside == ""
        by_genre = {g: int((hit[g].to_numpy() & inside).sum()) for g in dropped}
        genre_hit = hit.any(axis=1).to_numpy()
    else:
        by_genre, genre_hit = {}, np.zeros(len(df), dtype=bool)
    fence_rule("dropped_genres", genre_hit,
               f"train on movies with none of {', '.join(dropped) or 'no genre'}",
               genres=list(dropped), movies_by_genre=by_genre)

    in_training = outside == ""
    onehot = genre_matrix(df["genres"], order["genres"])
    catalog_features = pd.DataFrame({schema.ID_COLUMN: df["tconst"].astype("string")})
    catalog_features["startYear"] = df["startYear"].astype("float64")
    catalog_features["runtimeMinutes"] = df["runtimeMinutes"].astype("float64")
    for g in order["genres"]:
        catalog_features[g] = onehot[g].astype("float64")
    catalog_features["averageRating"] = df["averageRating"].astype("float64")
    catalog_features["numVotes"] = df["numVotes"].astype("float64")
    assert list(catalog_features.columns[1:]) == order["features"]
    features = catalog_features[in_training].reset_index(drop=True)

    catalog = pd.DataFrame({
        "tconst": df["tconst"].astype("string"),
        "title": df["primaryTitle"].astype("string"),
        "year": df["startYear"].astype("int32"),
        "runtime": df["runtimeMinutes"].astype("int32"),
        "genres": df["genres"].astype("string"),
        "rating": df["averageRating"].astype("float64"),
        "votes": df["numVotes"].astype("int64"),
        "in_training": in_training,
        "outside_training": pd.array(outside, dtype="string"),
    })
    first_rule = {name: int((outside == name).sum()) for name in schema.TRAINING_FENCES}
    report = {
        "parameters": {k: p[k] for k in ("title_type", "year_iqr_multiplier", "min_year",
                                          "runtime_cap", "runtime_bin_width", "min_rating",
                                          "min_votes")} | {"dropped_genres": ",".join(dropped)},
        "rules": log.rules,
        "year_fence": fence,
        "runtime_bins": bins,
        "unknown_genres": unknown,
        "training": {"catalogue": int(len(df)), "training": int(in_training.sum()),
                     "outside": int((~in_training).sum()),
                     # the fence that put each film outside (the first, in rule order) ...
                     "outside_by_rule": first_rule,
                     # ... and how many catalogue films each fence alone would keep out
                     "outside_each_rule": each_rule},
        "output": {"movies": int(len(features)), "catalogue_movies": int(len(catalog_features)),
                   "features": len(order["features"]),
                   "genre_counts": {g: int(onehot[g][in_training].sum()) for g in order["genres"]}},
    }
    return CleanResult(features, catalog, catalog_features, order, report, years_at_fence, runtime_before,
                       runtime_after)
