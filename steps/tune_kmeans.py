"""TuneKMeans (SageMaker processing step): the k-means elbow sweep, the knee, and elbow.json.

Container contract (docs/CONTRACTS.md): `--features` (features.parquet + features.json from
Preprocess), `--scaler` (the TrainScaler artefact: a folder holding model.tar.gz or its files),
`--output` (elbow.json: elbow.png is drawn from it outside the container, by reports/),
`--k-min --k-max --k-override --seed`. The pipeline reads `chosen_k` from elbow.json (JsonGet) for
TrainKMeans. The sweep and the knee choice are the pure functions of steps/sweep.py; this script
only reads, scales, calls them and writes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from steps import artifacts, schema
from steps.sweep import choose_k, sweep

DEFAULT_FEATURES = f"{schema.PROCESSING_ROOT}/input/features"
DEFAULT_SCALER = f"{schema.PROCESSING_ROOT}/input/scaler"
DEFAULT_OUTPUT = f"{schema.PROCESSING_ROOT}/output/elbow"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default=DEFAULT_FEATURES,
                        help="folder with features.parquet + features.json (Preprocess's output)")
    parser.add_argument("--scaler", default=DEFAULT_SCALER,
                        help="the TrainScaler artefact: a folder holding model.tar.gz, or its files")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="where elbow.json and elbow.png go")
    parser.add_argument("--k-min", type=int, default=schema.DEFAULTS["k_min"], help="smallest k swept")
    parser.add_argument("--k-max", type=int, default=schema.DEFAULTS["k_max"], help="largest k swept")
    parser.add_argument("--k-override", type=int, default=schema.DEFAULTS["k_override"],
                        help="> 0: use this k instead of the detected knee (must lie in [k-min, k-max])")
    parser.add_argument("--seed", type=int, default=schema.DEFAULTS["seed"])
    return parser.parse_args(argv)


def check_arguments(k_min: int, k_max: int, k_override: int, n_movies: int | None = None) -> None:
    """Fail before any work on a k range or override that cannot be used (ValueError, with the fix)."""
    from steps.sweep import check_k_range
    if k_min < 2:
        raise ValueError(f"--k-min {k_min}: the elbow sweep needs k_min >= 2")
    if k_max < k_min:
        raise ValueError(f"--k-max {k_max} is smaller than --k-min {k_min}: pass k_max >= k_min")
    if k_override < 0 or (k_override and not k_min <= k_override <= k_max):
        raise ValueError(f"--k-override {k_override} is outside the swept range [{k_min}, {k_max}]: "
                         "pass a k in that range, or 0 to use the detected knee")
    if n_movies is not None:
        check_k_range(n_movies, k_min, k_max)


def elbow_record(ks, inertias, knee_k, chosen_k, method, k_min, k_max, n_movies: int | None = None) -> dict:
    """elbow.json's content, as docs/CONTRACTS.md spells it.

    No wall-clock time in it: the same input must give the same bytes (the log has the timing).
    """
    return {"k": [int(k) for k in ks], "inertia": [float(v) for v in inertias],
            "knee_k": None if knee_k is None else int(knee_k), "chosen_k": int(chosen_k),
            "method": method, "k_min": int(k_min), "k_max": int(k_max),
            **({} if n_movies is None else {"n_movies": int(n_movies)})}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_arguments(args.k_min, args.k_max, args.k_override)
        features = artifacts.read_features(args.features)
        scaler, scaler_meta = artifacts.load_scaler(args.scaler)
        artifacts.check_feature_order(features.names, scaler_meta.get("features", []), "the scaler artefact")
        n_movies = features.X.shape[0]
        check_arguments(args.k_min, args.k_max, args.k_override, n_movies)
        X = scaler.transform(features.X)
        print(f"tune_kmeans: elbow sweep k={args.k_min}..{args.k_max} over {n_movies:,} movies x "
              f"{X.shape[1]} features (seed {args.seed})", flush=True)

        def progress(k: int, inertia: float, elapsed: float) -> None:
            print(f"tune_kmeans: k={k:3d} inertia={inertia:.6g} elapsed={elapsed:.1f}s", flush=True)

        result = sweep(X, args.k_min, args.k_max, args.seed, progress=progress,
                       log=lambda message: print(f"tune_kmeans: {message}", flush=True))
        chosen_k, knee_k, method = choose_k(result.ks, result.inertias, args.k_override)
    except (artifacts.ArtifactError, ValueError) as err:
        print(f"tune_kmeans: {err}", file=sys.stderr)
        return 2
    record = elbow_record(result.ks, result.inertias, knee_k, chosen_k, method,
                          args.k_min, args.k_max, n_movies)
    out = Path(args.output)
    artifacts.write_json(out / schema.ELBOW_JSON, record)
    print(f"tune_kmeans: chosen k = {chosen_k} (method {method}, knee {knee_k}); searched on "
          f"{result.compressed_points:,} compressed points, {result.seconds:.1f}s; wrote "
          f"{out / schema.ELBOW_JSON}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
