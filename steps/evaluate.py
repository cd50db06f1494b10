"""Evaluate (SageMaker processing step): measures the trained clustering and compares it with production.

Inputs: `--features` (features.parquet + features.json), `--model` (TrainKMeans's model.tar.gz or
its files). Output folder `--output`: evaluation.json (read by the QualityGate through JsonGet and
attached to the model package: shape in docs/CONTRACTS.md) and drift.json.

"Production" is the newest Approved package of `--model-package-group`, looked up at run time
(`--baseline-package` names one instead, or `none`): its model.tar.gz (ModelDataUrl, digest
checked on load) and its features (the `myflix_features_uri` metadata: Preprocess's features
folder). Against it: feature drift and similar-list churn (steps/drift.py). With no production
model the comparison passes by definition: `"baseline": null`, `similar_churn` 0 and
`max_feature_psi` 0, and `drift.status` says why. Because the answer depends on the registry at
run time, the step is not cached, and it needs the SageMaker API and S3 (no network isolation).
Ranking (steps/ranking_eval.py): with `--interactions` (PrepareInteractions's folder) and
`--recommender` (TrainRecommender's model.tar.gz), HR@k, NDCG@k, MRR, coverage and popular share
on the held-out viewers for content, popularity, collaborative and the served hybrid
(steps/hybrid.py), in `ranking`, and the gate's inputs in `ranking_gate` (docs/steps.md: skipped,
and said so, when collaborative is skipped or the viewers are simulated).
The plots (cluster_sizes.png, drift.png) are drawn outside the container from these JSON files,
by reports/ (the image has no matplotlib). Metrics are pure functions in steps/metrics.py
and steps/drift.py.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from steps import artifacts, drift, metrics, ranking_eval, schema

INPUT = f"{schema.PROCESSING_ROOT}/input"
OUTPUT = f"{schema.PROCESSING_ROOT}/output"
DRIFT_JSON = "drift.json"
FEATURES_URI_KEY = "myflix_features_uri"     # CustomerMetadataProperties of a registered package
NO_BASELINE = "none"


def evaluate_clustering(Xs: np.ndarray, labels: np.ndarray, k: int, silhouette_sample: int,
                        recall_queries: int, recall_k: int, seed: int, log=print) -> dict:
    """evaluation.json's content for scaled features `Xs` and cluster `labels` (pure but for progress lines)."""
    n = Xs.shape[0]
    log(f"evaluate: silhouette on {min(silhouette_sample, n) if silhouette_sample > 0 else n} of {n} movies")
    sil = metrics.silhouette(Xs, labels, silhouette_sample, seed)
    sizes = metrics.cluster_sizes(labels, k)
    queries = metrics.sample_queries(n, recall_queries, seed + 1)
    step = max(1, len(queries) // 5)
    last = [0]

    def progress(done: int, total: int) -> None:
        if done == total or done - last[0] >= step:
            last[0] = done
            log(f"evaluate: recall@{recall_k} {done}/{total} queries")

    recall = metrics.recall_at_k(Xs, labels, queries, recall_k, progress)
    return {
        "k": int(k), "n_movies": int(n), "silhouette": sil, "recall_at_k": recall, "recall_k": int(recall_k),
        "cluster_sizes": sizes,
        "clustering_metrics": metrics.clustering_metrics(sil, recall, recall_k, sizes, k),
        "silhouette_sample": int(silhouette_sample), "recall_queries": int(len(queries)), "seed": int(seed),
    }


# --- against production ------------------------------------------------------------------------
def compare(before: artifacts.Features, before_model: Any, after: artifacts.Features, after_model: Any,
            k: int, queries: int, seed: int) -> dict[str, Any]:
    """Drift (raw features) and churn (each model in its own scaled space) of `after` against
    `before`: drift.json's content without the baseline description (pure)."""
    shared = [n for n in after.names if n in before.names]
    if not shared:
        raise ValueError("the production model shares no feature with the new one: nothing to compare")
    cols_b = [before.names.index(n) for n in shared]
    cols_a = [after.names.index(n) for n in shared]
    genres = [g for g in (after.meta.get("genres") or []) if g in shared]
    report = drift.drift_report(before.X[:, cols_b], before.ids, after.X[:, cols_a], after.ids, shared, genres)
    before_Xs = before_model.named_steps["scaler"].transform(before.X)
    after_Xs = after_model.named_steps["scaler"].transform(after.X)
    churn = drift.similar_churn(before_Xs, before.ids, after_Xs, after.ids, k, queries, seed)
    churn["adjusted_rand_index"] = drift.adjusted_rand(
        before_model.named_steps["kmeans"].predict(before_Xs), before.ids,
        after_model.named_steps["kmeans"].predict(after_Xs), after.ids)
    report["churn"] = churn
    report["features_compared"] = shared
    report["features_only_in_new"] = [n for n in after.names if n not in before.names]
    return report


def find_baseline(group: str, requested: str, region: str | None = None) -> dict[str, Any] | None:
    """The production package's description (None: none, or `--baseline-package none`)."""
    from steps import aws_io
    if requested.strip().lower() == NO_BASELINE:
        return None
    if requested.strip():
        return aws_io.describe_model_package(requested.strip())
    return aws_io.latest_approved_package(group, region)


def load_baseline(package: dict[str, Any], folder: Path,
                  region: str | None = None) -> tuple[artifacts.Features, Any, dict[str, Any]]:
    """Download the package's model.tar.gz and features into `folder`; load them (digest checked)."""
    from steps import aws_io
    arn = package.get("ModelPackageArn", "?")
    container = ((package.get("InferenceSpecification") or {}).get("Containers") or [{}])[0]
    model_url = container.get("ModelDataUrl")
    features_uri = (package.get("CustomerMetadataProperties") or {}).get(FEATURES_URI_KEY)
    if not model_url:
        raise artifacts.ArtifactError(f"the production package {arn} has no ModelDataUrl")
    if not features_uri:
        raise artifacts.ArtifactError(
            f"the production package {arn} has no {FEATURES_URI_KEY} metadata (registered before drift "
            "tracking): compare with another package (--baseline-package ARN / the baseline_package "
            "parameter) or skip the comparison once with baseline_package=none")
    aws_io.download_object(model_url, folder / "model" / schema.MODEL_TARBALL, region)
    for name in (schema.FEATURES_PARQUET, schema.FEATURES_JSON):
        aws_io.download_object(features_uri.rstrip("/") + "/" + name, folder / "features" / name, region)
    model, meta = artifacts.load_model(folder / "model")
    features = artifacts.read_features(folder / "features")
    artifacts.check_feature_order(features.names, meta.get("features", []), f"the production model {arn}")
    return features, model, meta


def baseline_summary(package: dict[str, Any]) -> dict[str, Any]:
    container = ((package.get("InferenceSpecification") or {}).get("Containers") or [{}])[0]
    custom = package.get("CustomerMetadataProperties") or {}
    return {"model_package_arn": package.get("ModelPackageArn"),
            "version": package.get("ModelPackageVersion"),
            "approval_status": package.get("ModelApprovalStatus"),
            "model_data_url": container.get("ModelDataUrl"),
            "features_uri": custom.get(FEATURES_URI_KEY),
            "execution_id": custom.get("myflix_execution_id")}


def against_production(result: dict[str, Any], comparison: dict[str, Any] | None,
                       baseline: dict[str, Any] | None, status: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """evaluation.json with the drift/churn figures added, and drift.json (pure).

    No comparison (nothing in production): similar_churn 0 and max_feature_psi 0, which pass any
    gate threshold, so the first model passes these checks by definition.
    """
    result = dict(result)
    metrics_block = dict(result["clustering_metrics"])
    if comparison is None:
        churn_value, psi_value = 0.0, 0.0
        result.update(baseline=None, drift={"status": status, "max_feature_psi": psi_value},
                      churn={"status": status, "similar_churn": churn_value, "adjusted_rand_index": None})
        drift_doc = {"status": status, "baseline": None}
    else:
        churn = comparison["churn"]
        churn_value, psi_value = churn["similar_churn"], comparison["max_feature_psi"]
        result.update(
            baseline=baseline,
            drift={"status": status, "max_feature_psi": psi_value,
                   "max_psi_feature": comparison["max_psi_feature"], "max_ks": comparison["max_ks"],
                   "movies": {key: comparison["movies"][key]
                              for key in ("before", "after", "common", "added", "removed")}},
            churn={"status": status, "similar_churn": churn_value, "mean_overlap": churn["mean_overlap"],
                   "adjusted_rand_index": churn["adjusted_rand_index"], "queries": churn["queries"],
                   "k": churn["k"]})
        if churn["adjusted_rand_index"] is not None:
            metrics_block["adjusted_rand_index"] = {"value": churn["adjusted_rand_index"]}
        drift_doc = {"status": status, "baseline": baseline, **comparison}
    result["similar_churn"] = churn_value
    result["max_feature_psi"] = psi_value
    metrics_block["similar_churn"] = {"value": churn_value}
    metrics_block["max_feature_psi"] = {"value": psi_value}
    result["clustering_metrics"] = metrics_block
    return result, drift_doc


_LOOK_UP = object()


def production_comparison(features: artifacts.Features, model: Any, group: str, requested: str, k: int,
                          queries: int, seed: int, log: Callable[[str], None],
                          region: str | None = None, package: Any = _LOOK_UP
                          ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """(comparison, baseline summary, status) against the production model (I/O at this edge);
    `package`: the production package already looked up (find_baseline), else looked up here."""
    if package is _LOOK_UP:
        package = find_baseline(group, requested, region)
    if package is None:
        status = ("comparison skipped (baseline_package=none)" if requested.strip().lower() == NO_BASELINE
                  else f"no production model (no Approved package in {group}): passes by definition")
        log(f"evaluate: {status}")
        return None, None, status
    summary = baseline_summary(package)
    log(f"evaluate: comparing with production {summary['model_package_arn']} "
        f"(version {summary['version']}, {summary['approval_status']})")
    folder = Path(tempfile.mkdtemp(prefix="myflix-baseline-"))
    try:
        before, before_model, _ = load_baseline(package, folder, region)
        comparison = compare(before, before_model, features, model, k, queries, seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return comparison, summary, f"compared with version {summary['version']}"


# --- ranking on held-out viewers ------------------------------------------------------------------
MAX_RANKING_VIEWERS = 5000       # a seeded sample beyond this: the figures settle long before
POPULAR_PRIOR = 1000             # the most-voted films: the hybrid's popularity prior for cold answers
CONTENT_ONLY_TASTE_DECAY = 0.1   # = api/chalicelib/tables.py CONTENT_TASTE_DECAY (no collaborative model)


def read_recommender(folder: Path) -> tuple[dict[str, np.ndarray] | None, dict[str, Any]]:
    """(arrays or None for kind "none", recommender.json) of a recommender folder, digest checked,
    no pickles (`allow_pickle=False`)."""
    meta = artifacts.read_json(folder / schema.RECOMMENDER_JSON, "TrainRecommender's recommender.json")
    if meta.get("kind") in (None, "none"):
        return None, meta
    npz = folder / schema.RECOMMENDER_NPZ
    artifacts.verify_digest(npz, (meta.get("sha256") or {}).get(schema.RECOMMENDER_NPZ))
    with np.load(npz, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}, meta


def ranking_methods(features: artifacts.Features, Xs: np.ndarray, labels: np.ndarray, history: Any,
                    arrays: dict[str, np.ndarray] | None, meta: dict[str, Any]) -> dict[str, Any]:
    """content, popularity, collaborative (when trained) and the served hybrid (steps/hybrid.py)."""
    from steps import hybrid
    near = ranking_eval.content_neighbours(Xs, labels, features.ids)
    methods = {"content": ranking_eval.content_method(near, history),
               "popularity": ranking_eval.popularity_method(history)}
    if arrays is not None:
        methods["collaborative"] = ranking_eval.collaborative_method(arrays, history)
    votes = features.X[:, features.names.index("numVotes")] if "numVotes" in features.names else None
    popular = ([str(t) for t in features.ids[np.argsort(-votes, kind="stable")[:POPULAR_PRIOR]]]
               if votes is not None else [])
    params = dict(meta.get("hybrid") or {})     # what the API passes too (recommender.json "hybrid")
    if arrays is None:
        # the API's content-only answer keeps each like's taste harder (api/chalicelib/tables.py
        # CONTENT_TASTE_DECAY): measure what it serves
        params["taste_decay"] = CONTENT_ONLY_TASTE_DECAY
    served = hybrid.Hybrid.from_arrays(arrays, popular=popular, **params)
    methods["hybrid"] = ranking_eval.hybrid_method(served, near, history)
    return methods


def ranking_report(features: artifacts.Features, Xs: np.ndarray, labels: np.ndarray, interactions_dir: str,
                   recommender_dir: str, k: int, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    """evaluation.json's `ranking` block (I/O at this edge: the two input folders)."""
    from steps import ranking
    folder = Path(interactions_dir)
    if not (folder / schema.INTERACTIONS_JSON).is_file():
        return {"status": "skipped: no interactions input", "viewers": "none", "k": k, "methods": {}}
    report = artifacts.read_json(folder / schema.INTERACTIONS_JSON, "PrepareInteractions's report")
    pairs = artifacts.read_parquet(folder / schema.INTERACTIONS_PARQUET)
    simulated = bool(report.get("simulated"))
    viewers = "simulated" if simulated else ("real" if len(pairs) else "none")
    arrays, meta = None, {"kind": "none", "reason": "no recommender input"}
    if Path(recommender_dir).exists():
        model_dir = artifacts.open_model_dir(recommender_dir)
        _released, meta = read_recommender(model_dir)
        if meta.get("kind") not in (None, "none"):
            # measured on the same settings fit WITHOUT the test pairs: the released model saw them
            arrays, _ = read_recommender(model_dir / schema.RECOMMENDER_HELDOUT_DIR)
    history, test = ranking_eval.split(pairs)
    block: dict[str, Any] = {
        "viewers": viewers, "simulated": simulated, "source": report.get("source"), "k": k,
        "held_out_viewers": int(test["viewer_id"].nunique()), "test_pairs": int(len(test)),
        "collaborative": "trained" if arrays is not None else
        f"skipped: {meta.get('reason') or 'kind ' + str(meta.get('kind'))}",
        "recommender_kind": meta.get("kind"), "methods": {}}
    if simulated:
        block["note"] = ("measured on SIMULATED viewers (docs/steps.md): shows the loop runs; not the "
                         "model's quality, and never gated")
    if test.empty:
        block["status"] = "no held-out viewer"
        return block
    for name, method in ranking_methods(features, Xs, labels, history, arrays, meta).items():
        started = time.monotonic()
        figures = ranking.evaluate(method, history, test, k=k, catalogue=features.ids.tolist(),
                                   max_viewers=MAX_RANKING_VIEWERS, seed=seed)
        block["methods"][name] = figures
        log(f"evaluate: ranking {name:<13} HR@{k} {figures['hr']:.3f} NDCG@{k} {figures['ndcg']:.3f} "
            f"MRR {figures['mrr']:.3f} coverage {figures['coverage']:.3f} popular share "
            f"{figures['popular_share']:.3f} ({figures['viewers']} {viewers} viewers, "
            f"{time.monotonic() - started:.1f}s)")
    block["status"] = "measured"
    return block


def production_ranking(package: dict[str, Any] | None) -> tuple[float, str]:
    """The hybrid NDCG@k recorded in production's evaluation.json when it was checked on real
    viewers: (value, what it is); (0, why not) otherwise."""
    if package is None:
        return 0.0, "no production model"
    from steps import aws_io
    stats = (((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {})
    uri = stats.get("S3Uri")
    if not uri:
        return 0.0, "production records no evaluation.json"
    try:
        with aws_io.open_object(uri) as stream:
            recorded = json.load(stream)
    except (aws_io.AwsIoError, ValueError) as err:
        return 0.0, f"production's evaluation.json is unreadable ({err})"
    gate = recorded.get("ranking_gate") or {}
    if gate.get("status") != "checked" or not isinstance(gate.get("hybrid_ndcg"), (int, float)):
        why = gate.get("status", "no ranking")
        return 0.0, f"production's hybrid was not checked on real viewers ({why})"
    return float(gate["hybrid_ndcg"]), f"version {package.get('ModelPackageVersion')}'s recorded hybrid NDCG"


def ranking_gate(ranking: dict[str, Any], margin: float, production: tuple[float, str]) -> dict[str, Any]:
    """What the QualityGate compares: hybrid_ndcg >= required_over_popularity and >= production_ndcg.
    Skipped (both 0, passing) with no collaborative model or with simulated viewers (pure)."""
    methods = ranking.get("methods") or {}
    hybrid = float((methods.get("hybrid") or {}).get("ndcg", 0.0))
    popularity = float((methods.get("popularity") or {}).get("ndcg", 0.0))
    if ranking.get("viewers") == "simulated":
        status = ("skipped: the viewers are simulated; a gate on made-up viewers measures the simulator, "
                  "not what viewers like (figures reported, labelled, never gated)")
    elif not str(ranking.get("collaborative", "")).startswith("trained"):
        status = f"skipped: collaborative {ranking.get('collaborative', 'skipped')}"
    elif ranking.get("status") != "measured":
        status = f"skipped: {ranking.get('status')}"
    else:
        return {"status": "checked", "hybrid_ndcg": hybrid, "popularity_ndcg": popularity,
                "min_lift_over_popularity": margin, "required_over_popularity": popularity * (1 + margin),
                "production_ndcg": production[0], "production": production[1]}
    return {"status": status, "hybrid_ndcg": hybrid, "popularity_ndcg": popularity,
            "min_lift_over_popularity": margin, "required_over_popularity": 0.0, "production_ndcg": 0.0,
            "production": "not compared (skipped)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = schema.DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default=f"{INPUT}/features")
    parser.add_argument("--model", default=f"{INPUT}/model", help="folder with model.tar.gz or the model files")
    parser.add_argument("--output", default=f"{OUTPUT}/evaluation")
    parser.add_argument("--silhouette-sample", type=int, default=d["silhouette_sample"],
                        help="movies sampled for the silhouette (0: all)")
    parser.add_argument("--recall-queries", type=int, default=d["recall_queries"],
                        help="query movies sampled for recall (0: all)")
    parser.add_argument("--recall-k", type=int, default=d["recall_k"])
    parser.add_argument("--seed", type=int, default=d["seed"])
    parser.add_argument("--model-package-group", default=schema.MODEL_PACKAGE_GROUP,
                        help="where the production model (newest Approved package) is looked up")
    parser.add_argument("--baseline-package", default="",
                        help="compare with this model package ARN instead; 'none' skips the comparison")
    parser.add_argument("--churn-queries", type=int, default=d["churn_queries"],
                        help="movies sampled for the similar-list churn (0: all in common)")
    parser.add_argument("--region", default=None,
                        help="the AWS region of the registry and the bucket, from the definition (a "
                             "processing job is not promised AWS_REGION)")
    parser.add_argument("--interactions", default=f"{INPUT}/interactions",
                        help="PrepareInteractions's folder; missing: no ranking metrics")
    parser.add_argument("--recommender", default=f"{INPUT}/recommender",
                        help="TrainRecommender's model.tar.gz folder or files")
    parser.add_argument("--ranking-k", type=int, default=d["ranking_k"])
    parser.add_argument("--min-ndcg-lift-over-popularity", type=float,
                        default=d["min_ndcg_lift_over_popularity"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        features = artifacts.read_features(args.features)
        model, meta = artifacts.load_model(args.model)
        artifacts.check_feature_order(features.names, meta.get("features", []), "the model artefact")
        Xs = model.named_steps["scaler"].transform(features.X)
        labels = model.named_steps["kmeans"].predict(Xs)
        k = int(model.named_steps["kmeans"].n_clusters)
        print(f"evaluate: k={k}, {features.X.shape[0]} movies", flush=True)
        say = lambda m: print(m, flush=True)  # noqa: E731
        result = evaluate_clustering(Xs, labels, k, args.silhouette_sample, args.recall_queries,
                                     args.recall_k, args.seed, log=say)
        package = find_baseline(args.model_package_group, args.baseline_package, args.region or None)
        comparison, baseline, status = production_comparison(
            features, model, args.model_package_group, args.baseline_package, args.recall_k,
            args.churn_queries, args.seed, say, args.region or None, package=package)
        result, drift_doc = against_production(result, comparison, baseline, status)
        ranking = ranking_report(features, Xs, labels, args.interactions, args.recommender, args.ranking_k,
                                 args.seed, say)
        gate = ranking_gate(ranking, args.min_ndcg_lift_over_popularity,
                            production_ranking(package) if ranking.get("viewers") == "real" else (0.0, ""))
        result["ranking"], result["ranking_gate"] = ranking, gate
    except (artifacts.ArtifactError, ValueError) as err:
        print(f"evaluate: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the registry or S3 refused: say so, exit 2
        from botocore.exceptions import BotoCoreError, ClientError

        from steps.aws_io import AwsIoError
        if not isinstance(err, (AwsIoError, BotoCoreError, ClientError)):
            raise
        print(f"evaluate: cannot read the production model: {err}. The execution role needs "
              "sagemaker:ListModelPackages/DescribeModelPackage on the group and s3:GetObject on the "
              "package's files, and the job needs network access (not network-isolated)", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(out / DRIFT_JSON, drift_doc)
    artifacts.write_json(out / schema.EVALUATION_JSON, result)
    if comparison is not None:
        churn = result["churn"]
        ari = churn["adjusted_rand_index"]
        print(f"evaluate: against production: largest feature PSI {result['max_feature_psi']:.3f} "
              f"({result['drift']['max_psi_feature']}), similar-list churn {result['similar_churn']:.3f} "
              f"(mean top-{churn['k']} overlap {churn['mean_overlap']:.3f}), adjusted Rand index "
              f"{'n/a' if ari is None else format(ari, '.3f')}; movies +{result['drift']['movies']['added']} "
              f"-{result['drift']['movies']['removed']}", flush=True)
    gate = result["ranking_gate"]
    print(f"evaluate: ranking gate {gate['status']} (hybrid NDCG@{args.ranking_k} {gate['hybrid_ndcg']:.3f}, "
          f"needs >= {gate['required_over_popularity']:.3f} and >= production {gate['production_ndcg']:.3f})",
          flush=True)
    print(f"evaluate: silhouette {result['silhouette']:.3f}, recall@{args.recall_k} {result['recall_at_k']:.3f}, "
          f"cluster sizes {result['cluster_sizes']['min']}..{result['cluster_sizes']['max']} "
          f"(largest share {result['cluster_sizes']['max_share']:.3f}, Gini {result['cluster_sizes']['gini']:.3f}) "
          f"in {time.monotonic() - started:.1f}s; wrote {out / schema.EVALUATION_JSON}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
