"""TrainKMeans (SageMaker training step): fits the final k-means and writes the one model artefact.

Container contract: features in `SM_CHANNEL_FEATURES`, the TrainScaler artefact in
`SM_CHANNEL_SCALER` (a folder holding its model.tar.gz), output into `SM_MODEL_DIR`:
model.joblib (a scikit-learn Pipeline "scaler" -> "kmeans"), model.json, and code/inference.py
copied from inference/inference.py, so the SKLearn serving container loads the artefact as is.
Hyperparameters `--k` (from elbow.json's chosen_k through JsonGet: SageMaker passes it as a
string, possibly "26.0") and `--seed`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline

from steps import artifacts, schema

# Several seeded k-means++ starts, keeping the lowest inertia: one start is what the elbow sweep
# needs, but the served model should not hinge on one unlucky start. 4 costs ~4x one fit.
N_INIT = 4


def int_like(text: str | int | float) -> int:
    """An integer hyperparameter as SageMaker or JsonGet may spell it: 26, "26", "26.0"."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not np.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def fit_model(X: np.ndarray, scaler, k: int, seed: int, n_init: int = N_INIT) -> Pipeline:
    """Fit k-means on the scaled features; return Pipeline([("scaler", scaler), ("kmeans", fitted)])."""
    if k < 2:
        raise ValueError(f"k={k}: k-means needs at least 2 clusters")
    if k > X.shape[0]:
        raise ValueError(f"k={k} is larger than the number of movies ({X.shape[0]}): lower k")
    scaled = scaler.transform(X)
    kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(scaled)
    return Pipeline([("scaler", scaler), ("kmeans", kmeans)])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The training toolkit passes a one-letter hyperparameter with one dash: `-k 19`.
    parser.add_argument("-k", "--k", dest="k", type=int_like, required=True,
                        help="number of clusters (elbow.json chosen_k)")
    parser.add_argument("--seed", type=int_like, default=schema.DEFAULTS["seed"])
    parser.add_argument("--features", default=os.environ.get("SM_CHANNEL_FEATURES"),
                        help="folder with features.parquet + features.json (default: $SM_CHANNEL_FEATURES)")
    parser.add_argument("--scaler-dir", default=os.environ.get("SM_CHANNEL_SCALER"),
                        help="TrainScaler's artefact: a folder with model.tar.gz or its files "
                             "(default: $SM_CHANNEL_SCALER)")
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"),
                        help="where the artefact goes (default: $SM_MODEL_DIR)")
    args = parser.parse_args(argv)
    if not (args.features and args.scaler_dir and args.model_dir):
        parser.error("missing a folder: set SM_CHANNEL_FEATURES, SM_CHANNEL_SCALER and SM_MODEL_DIR "
                     "(as SageMaker does) or pass --features, --scaler-dir and --model-dir")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        inference_source = artifacts.default_inference_source()
        if not inference_source.is_file():
            raise artifacts.ArtifactError(
                f"{inference_source} is missing: the model artefact must carry the serving handler; "
                "the code bundle must include inference/inference.py")
        features = artifacts.read_features(args.features)
        scaler, scaler_meta = artifacts.load_scaler(args.scaler_dir)
        artifacts.check_feature_order(features.names, scaler_meta.get("features", []), "the scaler artefact")
        print(f"train_kmeans: fitting k-means k={args.k} seed={args.seed} n_init={N_INIT} on "
              f"{features.X.shape[0]} movies x {features.X.shape[1]} features", flush=True)
        model = fit_model(features.X, scaler, args.k, args.seed)
        kmeans = model.named_steps["kmeans"]
        meta = artifacts.save_model(
            model, {"features": features.names, "genres": features.meta.get("genres", []),
                    "k": args.k, "seed": args.seed,
                    "inertia": float(kmeans.inertia_), "n_movies": int(features.X.shape[0]),
                    "scaler": scaler_meta.get("kind")},
            args.model_dir, inference_source)
    except (artifacts.ArtifactError, ValueError) as err:
        print(f"train_kmeans: {err}", file=sys.stderr)
        return 2
    print(f"train_kmeans: inertia {meta['inertia']:.1f} after {kmeans.n_iter_} iterations; wrote "
          f"{Path(args.model_dir) / schema.MODEL_JOBLIB}, {schema.MODEL_JSON}, {artifacts.INFERENCE_CODE}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
