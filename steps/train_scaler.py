"""TrainScaler (SageMaker training step): fits the feature scaler and writes the scaler artefact.

Container contract: features in `SM_CHANNEL_FEATURES` (features.parquet + features.json), the
artefact into `SM_MODEL_DIR` (scaler.joblib + scaler.json), hyperparameter `--scaler
standard|minmax`. The scaler is fitted on all the features in the order features.json records,
as the source tutorial's StandardScaler was.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from steps import artifacts, schema

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler}


def fit_scaler(X: np.ndarray, kind: str = schema.DEFAULTS["scaler"]):
    """A fitted scikit-learn scaler of the given kind ("standard" or "minmax")."""
    if kind not in SCALERS:
        raise ValueError(f"unknown scaler {kind!r}: use one of {sorted(SCALERS)}")
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"need at least 2 movies to fit a scaler, got {X.shape[0] if X.ndim == 2 else X.shape}")
    return SCALERS[kind]().fit(X)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaler", default=schema.DEFAULTS["scaler"], choices=sorted(SCALERS),
                        help="which scikit-learn scaler to fit")
    parser.add_argument("--features", default=os.environ.get("SM_CHANNEL_FEATURES"),
                        help="folder with features.parquet + features.json (default: $SM_CHANNEL_FEATURES)")
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"),
                        help="where the artefact goes (default: $SM_MODEL_DIR)")
    args = parser.parse_args(argv)
    if not args.features or not args.model_dir:
        parser.error("no input or output folder: set SM_CHANNEL_FEATURES and SM_MODEL_DIR "
                     "(as SageMaker does) or pass --features and --model-dir")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        features = artifacts.read_features(args.features)
        print(f"train_scaler: fitting a {args.scaler} scaler on {features.X.shape[0]} movies x "
              f"{features.X.shape[1]} features", flush=True)
        scaler = fit_scaler(features.X, args.scaler)
        meta = artifacts.save_scaler(scaler, args.scaler, features.names, args.model_dir)
    except (artifacts.ArtifactError, ValueError) as err:
        print(f"train_scaler: {err}", file=sys.stderr)
        return 2
    print(f"train_scaler: wrote {Path(args.model_dir) / schema.SCALER_JOBLIB} "
          f"(sha256 {meta['sha256'][schema.SCALER_JOBLIB][:12]}...)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
