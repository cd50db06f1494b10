"""Evaluate (SageMaker processing step): measures the trained clustering; writes evaluation.json.

Inputs: `--features` (features.parquet + features.json), `--model` (TrainKMeans's model.tar.gz or
its files). Output folder `--output`: evaluation.json (read by the QualityGate through
JsonGet and attached to the model package: shape in docs/CONTRACTS.md). Its plot (cluster_sizes.png)
is drawn outside the container from this JSON, by pipeline/reports/ (the image has no matplotlib).
The metrics themselves are pure functions in steps/metrics.py.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from steps import artifacts, metrics, schema

INPUT = f"{schema.PROCESSING_ROOT}/input"
OUTPUT = f"{schema.PROCESSING_ROOT}/output"


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
        result = evaluate_clustering(Xs, labels, k, args.silhouette_sample, args.recall_queries,
                                     args.recall_k, args.seed, log=lambda m: print(m, flush=True))
    except (artifacts.ArtifactError, ValueError) as err:
        print(f"evaluate: {err}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(out / schema.EVALUATION_JSON, result)
    print(f"evaluate: silhouette {result['silhouette']:.3f}, recall@{args.recall_k} {result['recall_at_k']:.3f}, "
          f"cluster sizes {result['cluster_sizes']['min']}..{result['cluster_sizes']['max']} "
          f"(largest share {result['cluster_sizes']['max_share']:.3f}, Gini {result['cluster_sizes']['gini']:.3f}) "
          f"in {time.monotonic() - started:.1f}s; wrote {out / schema.EVALUATION_JSON}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
