"""The pipeline's parameters: ONE spec list (name, type by its default, allowed values, help) and
ONE `-p/--param NAME=VALUE` parser.

Read by the definition (pipeline/definition.py makes SDK parameters of them), the step builders,
`myflix run -p`, `myflix pipeline start -p`, `myflix pipeline schedule set -p` and the Studio's
form. Pure: no SDK, no I/O. The local runner types a definition's values from the JSON itself.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from steps import schema

PIPELINE_NAME = schema.PIPELINE_NAME
SKLEARN_FRAMEWORK_VERSION = "1.9-0"   # the SKLearn container matching scikit-learn 1.9 (setup.cfg)
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")

@dataclass(frozen=True)
class ParameterSpec:
    """One pipeline parameter: its name (also the step argument name, `_` as `-`), default, help,
    and the values it allows (`choices`, or a `minimum`/`maximum`): `check_parameters` holds every
    given value to them, for `myflix run -p`, `pipeline start -p`, `schedule set -p` and the Studio."""

    name: str
    default: Any          # str, int, float or bool: picks ParameterString/Integer/Float/Boolean
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None


class ParameterError(ValueError):
    """A parameter value the pipeline would refuse (or misread): the message names it and what is allowed."""


SEED_MAX = 2**32 - 1        # numpy's and scikit-learn's seeds
# What each parameter allows (the ranges that mean something; a value outside fails a step later,
# or worse, runs): name -> (choices, minimum, maximum)
ALLOWED: dict[str, tuple[tuple | None, float | None, float | None]] = {
    "year_iqr_multiplier": (None, 0, 100), "min_year": (None, 0, 3000), "runtime_cap": (None, 0, 100_000),
    "runtime_bin_width": (None, 1, 10_000), "min_rating": (None, 0, 10), "min_votes": (None, 0, None),
    "max_bad_fraction": (None, 0, 1), "max_line_bytes": (None, 64, 1 << 30),
    "max_field_chars": (None, 16, 1 << 30),
    "max_rows": (None, 1, None), "max_input_mb": (None, 1, None), "max_memory_mb": (None, 64, None),
    "scaler": (("standard", "minmax"), None, None), "k_min": (None, 2, 10_000), "k_max": (None, 2, 10_000),
    "k_override": (None, 0, 10_000), "seed": (None, 0, SEED_MAX), "silhouette_sample": (None, 0, None),
    "recall_queries": (None, 1, None), "recall_k": (None, 1, 1000),
    "min_silhouette": (None, -1, 1), "min_recall_at_k": (None, 0, 1), "max_cluster_share": (None, 0, 1),
    "max_similar_churn": (None, 0, 1), "max_feature_psi": (None, 0, None),
    "model_approval_status": (APPROVAL_STATUSES, None, None),
}


def parameter_specs(bucket: str) -> list[ParameterSpec]:
    """Every pipeline parameter, in the order Studio shows them."""
    d = schema.DEFAULTS
    specs = [
        ParameterSpec("imdb_base_url", d["imdb_base_url"],
                      "Ingest: where title.basics.tsv.gz and title.ratings.tsv.gz are downloaded from"),
        ParameterSpec("basics_uri", "",
                      "Ingest: a given title.basics.tsv[.gz] (s3:// file or prefix) used instead of "
                      "downloading; empty = download"),
        ParameterSpec("ratings_uri", "",
                      "Ingest: a given title.ratings.tsv[.gz] (s3:// file or prefix); empty = download"),
        ParameterSpec("input_version", "",
                      "Ingest: what the input files are (their ETags/versions or sha256; the download's "
                      "ETag/Last-Modified), filled in by `myflix pipeline start` and `myflix run` so "
                      "that the cache key changes when the data does"),
    ]
    helps = {
        "title_type": "IMDb titleType kept", "year_iqr_multiplier": "IQR fence on startYear (0: off)",
        "min_year": "fixed lowest startYear (> 0 replaces the IQR fence)",
        "runtime_cap": "longest runtime kept, minutes", "runtime_bin_width": "runtime bins, minutes",
        "min_rating": "lowest averageRating kept", "min_votes": "fewest numVotes kept",
        "dropped_genres": "comma-separated genres dropped",
        "max_bad_fraction": "share of malformed lines that fails Preprocess",
        "scaler": "standard or minmax", "k_min": "elbow sweep: smallest k",
        "k_max": "elbow sweep: largest k", "k_override": "> 0: use this k, not the knee",
        "seed": "random seed of every step", "silhouette_sample": "rows sampled for silhouette",
        "recall_queries": "queries of the recall check", "recall_k": "neighbours per recall query",
        "max_line_bytes": "a longer input line is malformed",
        "max_field_chars": "a longer title or genres field is malformed",
        "max_rows": "more lines in an input file fail Preprocess",
        "max_input_mb": "more MiB in an input file once decompressed fail Ingest and Preprocess",
        "max_memory_mb": "Preprocess fails when its peak memory passes this (MiB)",
    }
    for key in ("title_type", "year_iqr_multiplier", "min_year", "runtime_cap",
                "runtime_bin_width", "min_rating", "min_votes", "dropped_genres",
                "max_bad_fraction", "max_line_bytes", "max_field_chars", "max_rows", "max_input_mb",
                "max_memory_mb", "scaler", "k_min", "k_max", "k_override", "seed",
                "silhouette_sample", "recall_queries", "recall_k"):
        specs.append(ParameterSpec(key, d[key], helps[key]))
    specs += [
        ParameterSpec("min_silhouette", float(d["min_silhouette"]), "quality gate: lowest silhouette"),
        ParameterSpec("min_recall_at_k", float(d["min_recall_at_k"]), "quality gate: lowest recall@k"),
        ParameterSpec("max_cluster_share", float(d["max_cluster_share"]),
                      "quality gate: largest share of movies in one cluster"),
        ParameterSpec("max_similar_churn", float(d["max_similar_churn"]),
                      "quality gate: largest share of movies whose top-10 similar list changes by "
                      "more than half against production"),
        ParameterSpec("max_feature_psi", float(d["max_feature_psi"]),
                      "quality gate: largest population stability index of a feature against production"),
        ParameterSpec("min_ndcg_lift_over_popularity", float(d["min_ndcg_lift_over_popularity"]),
                      "quality gate: the served hybrid's NDCG@ranking_k on held-out viewers must reach "
                      "popularity's * (1 + this) and production's (skipped with no collaborative model "
                      "or simulated viewers)"),
        ParameterSpec("baseline_package", "",
                      "Evaluate: compare with this model package ARN; empty = the newest Approved "
                      "one; none = no comparison"),
        ParameterSpec("interactions_uri", "",
                      "PrepareInteractions: viewer interactions in the interactions format (s3:// CSV or "
                      "parquet file, or a prefix), read with the collected events; empty = none"),
        ParameterSpec("simulated_viewers", d["simulated_viewers"],
                      "PrepareInteractions: > 0 simulates this many viewers when there is no collected "
                      "event and no interactions_uri (the local demo; labelled simulated); 0 = never"),
        ParameterSpec("weight_play", float(d["weight_play"]),
                      "PrepareInteractions: implicit weight of a play"),
        ParameterSpec("weight_like", float(d["weight_like"]),
                      "PrepareInteractions: weight of a like (and of a 10/10 rating)"),
        ParameterSpec("weight_list_add", float(d["weight_list_add"]),
                      "PrepareInteractions: weight of a My list entry"),
        ParameterSpec("weight_view", float(d["weight_view"]),
                      "PrepareInteractions: weight of opening a film"),
        ParameterSpec("rating_neutral", float(d["rating_neutral"]),
                      "PrepareInteractions: a rating (0-10) above this is a positive, at or below a dislike"),
        ParameterSpec("min_viewer_interactions", d["min_viewer_interactions"],
                      "PrepareInteractions: fewest films a viewer needs to be kept"),
        ParameterSpec("min_film_interactions", d["min_film_interactions"],
                      "PrepareInteractions: fewest viewers a film needs to be kept"),
        ParameterSpec("test_fraction", float(d["test_fraction"]),
                      "PrepareInteractions: share of each viewer's latest positives held out for Evaluate"),
        ParameterSpec("validation_fraction", float(d["validation_fraction"]),
                      "PrepareInteractions: share of the next latest, for tuning TrainRecommender"),
        ParameterSpec("max_interaction_rows", d["max_interaction_rows"],
                      "PrepareInteractions: most rows read over every source (fails beyond)"),
        ParameterSpec("max_interaction_mb", d["max_interaction_mb"],
                      "PrepareInteractions: most MiB read over every source (fails beyond)"),
        ParameterSpec("min_interactions", d["min_interactions"],
                      "TrainRecommender: fewer interactions skip the collaborative model (content and "
                      "popularity only, said in every report)"),
        ParameterSpec("ranking_k", d["ranking_k"],
                      "TrainRecommender/Evaluate: list length of HR@k and NDCG@k"),
        ParameterSpec("enable_network_isolation", True,
                      "Preprocess, TrainScaler, TuneKMeans, TrainKMeans, TrainRecommender: no network at "
                      "all inside the job (Ingest downloads, PrepareInteractions, Evaluate and Publish "
                      "call AWS: never isolated)"),
        ParameterSpec("processing_instance_type", DEFAULT_INSTANCE_TYPE, "processing steps"),
        ParameterSpec("training_instance_type", DEFAULT_INSTANCE_TYPE, "training steps"),
        ParameterSpec("model_approval_status", "PendingManualApproval",
                      "Register: " + " | ".join(APPROVAL_STATUSES) + " (Approved deploys it: staging, "
                      "smoke test, then prod; see the deployer)"),
    ]
    return [ParameterSpec(sp.name, sp.default, sp.help, *ALLOWED[sp.name]) if sp.name in ALLOWED else sp
            for sp in specs]


def check_value(spec: ParameterSpec, text: str) -> Any:
    """One `-p name=value` text as the parameter's type, inside what it allows (ParameterError)."""
    name, kind = spec.name, type(spec.default)
    value: Any = text
    if kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ParameterError(f"{name}={text}: {name} takes true or false")
        value = lowered == "true"
    elif kind in (int, float):
        what = "an integer" if kind is int else "a number"
        try:
            value = kind(text.strip())
        except ValueError:
            raise ParameterError(f"{name}={text}: {name} takes {what} (default {spec.default})") from None
        if kind is float and not math.isfinite(value):
            raise ParameterError(f"{name}={text}: {name} takes a finite number (no nan or inf)")
    if spec.choices is not None and value not in spec.choices:
        raise ParameterError(f"{name}={text}: use one of {', '.join(map(str, spec.choices))}")
    low, high = spec.minimum, spec.maximum
    if kind in (int, float) and (low is not None and value < low or high is not None and value > high):
        def show(bound: float) -> str:
            return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:g}"
        bounds = (f"from {show(low)} to {show(high)}" if low is not None and high is not None
                  else f"at least {show(low)}" if low is not None else f"at most {show(high)}")
        raise ParameterError(f"{name}={text}: {name} must be {bounds}")
    return value


def check_parameters(given: dict[str, str], specs: list[ParameterSpec] | None = None,
                     strict: bool = True) -> dict[str, Any]:
    """Every given value checked (unknown names refused when `strict`), plus the checks that span
    two parameters; returns the typed values. The one validation of `-p` values."""
    by_name = {spec.name: spec for spec in (specs if specs is not None else parameter_specs(""))}
    typed: dict[str, Any] = {}
    for name, text in given.items():
        spec = by_name.get(name)
        if spec is None:
            if strict:
                close = difflib.get_close_matches(name, by_name, n=3)
                if close:   # the likely one, not a wall of every name
                    raise ParameterError(f"{name}: no such pipeline parameter (did you mean {' or '.join(close)}?)")
                raise ParameterError(f"{name}: no such pipeline parameter; the parameters are: "
                                     f"{', '.join(by_name)}")
            continue
        typed[name] = check_value(spec, str(text))
    k_min = typed.get("k_min", by_name["k_min"].default if "k_min" in by_name else None)
    k_max = typed.get("k_max", by_name["k_max"].default if "k_max" in by_name else None)
    if k_min is not None and k_max is not None and k_min > k_max:
        raise ParameterError(f"k_min={k_min} is above k_max={k_max}: the elbow sweeps k_min..k_max")
    return typed


def parameter_defaults(bucket: str) -> dict[str, Any]:
    """Parameter name -> default value (what `start -p` validates against)."""
    return {spec.name: spec.default for spec in parameter_specs(bucket)}


def parse_overrides(pairs: list[str] | None, specs: list[ParameterSpec] | None = None) -> dict[str, str]:
    """The one `-p/--param NAME=VALUE` parser: strings -> {name: value text}, every name, type,
    allowed value and cross-parameter rule checked (`check_parameters`, unknown names refused with
    "did you mean"). Numbers come back as their canonical text. An empty value is what omitting the
    parameter gives when its default is empty (dropped); any other cannot be emptied from here, as
    StartPipelineExecution and EventBridge Scheduler refuse empty values. ParameterError messages
    start with `-p `, so a command prints them as they are."""
    given: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-p {pair!r}: write a parameter as NAME=VALUE, e.g. -p k_override=20")
        given[name.strip()] = value
    specs = specs if specs is not None else parameter_specs("")
    defaults = {spec.name: spec.default for spec in specs}
    try:   # an empty value of a known name is judged below; of an unknown name, here ("did you mean")
        typed = check_parameters({n: v for n, v in given.items() if v != "" or n not in defaults}, specs)
    except ParameterError as err:
        raise ParameterError(f"-p {err}") from None
    result: dict[str, str] = {}
    for name, text in given.items():
        if text == "":
            if defaults[name] in ("", None):
                continue
            raise ParameterError(f"-p {name}=: SageMaker refuses empty parameter values (so does Scheduler); omit "
                                 f"-p {name} for its default ({defaults[name]}), or give a value")
        value = typed[name]
        result[name] = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else text
    return result
