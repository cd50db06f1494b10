"""Measures the drift/churn gate figures on the demo data and perturbed copies of it.

    .venv/bin/python -m benchmarks.calibrate_drift_gate [--k 19] [--seed 42]

Not a speed benchmark (no `bench_` prefix, so `python -m benchmarks` skips it): it prints, for
each scenario, the largest feature PSI (and which feature), the similar-list churn, the mean
top-10 overlap and the adjusted Rand index of a model trained on the changed data against the
model trained on the demo data, exactly as Evaluate computes them (steps.evaluate.compare). The
scenarios (each through the real Preprocess, TrainScaler and TrainKMeans scripts, k fixed):
- retrain:     the same files, another seed (k-means' own noise);
- week:        what a week of IMDb republications does: every numVotes grows by 0-3 %, 5 % of
               the ratings move by 0.1, 0.5 % new titles, 0.2 % titles withdrawn;
- quarter:     the same for about three months: votes +0-15 %, 20 % of the ratings move, 3 % new,
               1 % withdrawn;
- min_votes:   the filter raised from 500 to 1000 (a deliberate change of the catalogue);
- runtimes:    a broken upstream file: 30 % of the runtimes missing (so those movies drop);
- thousands:   a broken upstream file: numVotes published in thousands (min_votes 0 lets them in);
- minmax:      the same data, the scaler switched to min-max (a model change users feel).
The gate defaults in steps/schema.py sit above the first three and below the last two.
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from operations import demo_data  # noqa: E402
from steps import artifacts, evaluate, preprocess, schema, train_kmeans, train_scaler  # noqa: E402

NULL = "\\N"


def read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n"
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


def perturb(raw: Path, out: Path, *, votes_growth: float, rating_moves: float, new: float,
            withdrawn: float, runtime_missing: float = 0.0, votes_unit: int = 1, seed: int = 7) -> Path:
    """A later publication of the demo files: the changes a republication makes, at these rates."""
    rng = np.random.default_rng(seed)
    bh, basics = read_tsv(raw / demo_data.BASICS_NAME)
    rh, ratings = read_tsv(raw / demo_data.RATINGS_NAME)
    rating_of = {r[0]: r for r in ratings}
    keep = rng.random(len(basics)) >= withdrawn
    basics = [b for b, k in zip(basics, keep) if k]
    years = [int(b[5]) for b in basics if b[5].isdigit()]
    latest = max(years)
    added_b, added_r = [], []
    for i, source in enumerate(rng.choice(len(basics), size=int(new * len(basics)), replace=False)):
        row = list(basics[source])
        tconst = f"tt97{i:06d}"
        row[0], row[2], row[3], row[5] = tconst, row[2] + " (new)", row[3] + " (new)", str(latest)
        added_b.append(row)
        if row[0] and basics[source][0] in rating_of:
            r = rating_of[basics[source][0]]
            added_r.append([tconst, r[1], str(int(int(r[2]) * rng.uniform(0.5, 1.0)) + 1)])
    for b in basics:
        if runtime_missing and rng.random() < runtime_missing:
            b[7] = NULL
    new_ratings = []
    kept_ids = {b[0] for b in basics}
    for r in ratings:
        if r[0] not in kept_ids:
            continue
        votes = int(int(r[2]) * (1.0 + rng.uniform(0.0, votes_growth))) // votes_unit
        rating = float(r[1])
        if rng.random() < rating_moves:
            rating = min(10.0, max(1.0, rating + rng.choice([-0.1, 0.1])))
        new_ratings.append([r[0], f"{rating:.1f}", str(votes)])
    write_tsv(out / demo_data.BASICS_NAME, bh, basics + added_b)
    write_tsv(out / demo_data.RATINGS_NAME, rh, new_ratings + added_r)
    return out


def train(raw: Path, work: Path, k: int, seed: int, *preprocess_args: str,
          scaler: str = "standard") -> tuple[artifacts.Features, object]:
    """Preprocess, TrainScaler and TrainKMeans (their main()s, explicit paths) -> (features, model)."""
    quiet = open(work.parent / "steps.log", "a")
    stdout, sys.stdout = sys.stdout, quiet
    try:
        assert preprocess.main(["--basics", str(raw), "--ratings", str(raw), "--features-out", str(work / "features"),
                                "--catalog-out", str(work / "catalog"), "--report-out", str(work / "report"),
                                *preprocess_args]) == 0
        assert train_scaler.main(["--features", str(work / "features"), "--model-dir", str(work / "scaler"),
                                  "--scaler", scaler]) == 0
        assert train_kmeans.main(["--k", str(k), "--seed", str(seed), "--features", str(work / "features"),
                                  "--scaler-dir", str(work / "scaler"), "--model-dir", str(work / "model")]) == 0
    finally:
        sys.stdout = stdout
        quiet.close()
    model, _ = artifacts.load_model(work / "model")
    return artifacts.read_features(work / "features"), model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=19, help="k of both models (the demo knee)")
    ap.add_argument("--seed", type=int, default=schema.DEFAULTS["seed"])
    args = ap.parse_args(argv)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="myflix-calibrate-"))
    try:
        raw = tmp / "raw"
        demo_data.write_demo_imdb(raw)
        base_features, base_model = train(raw, tmp / "base", args.k, args.seed)
        scenarios = {
            "retrain": (raw, (), args.seed + 1),
            "week": (perturb(raw, tmp / "week_raw", votes_growth=0.03, rating_moves=0.05, new=0.005,
                             withdrawn=0.002), (), args.seed),
            "quarter": (perturb(raw, tmp / "quarter_raw", votes_growth=0.15, rating_moves=0.20, new=0.03,
                                withdrawn=0.01), (), args.seed),
            "min_votes": (raw, ("--min-votes", "1000"), args.seed),
            "runtimes": (perturb(raw, tmp / "runtime_raw", votes_growth=0.0, rating_moves=0.0, new=0.0,
                                 withdrawn=0.0, runtime_missing=0.30), (), args.seed),
            "thousands": (perturb(raw, tmp / "unit_raw", votes_growth=0.0, rating_moves=0.0, new=0.0,
                                  withdrawn=0.0, votes_unit=1000), ("--min-votes", "0"), args.seed),
            "minmax": (raw, (), args.seed),
        }
        print(f"demo data: {len(base_features.ids):,} movies, k={args.k}; gate defaults "
              f"max_feature_psi={schema.DEFAULTS['max_feature_psi']}, "
              f"max_similar_churn={schema.DEFAULTS['max_similar_churn']}")
        print(f"{'scenario':<10} {'movies':>7} {'+new':>5} {'-gone':>6} {'max PSI':>8} {'feature':<15} "
              f"{'churn':>6} {'overlap':>8} {'ARI':>6}  gate")
        for name, (source, extra, seed) in scenarios.items():
            features, model = train(source, tmp / name, args.k, seed, *extra,
                                    scaler="minmax" if name == "minmax" else "standard")
            c = evaluate.compare(base_features, base_model, features, model, schema.DEFAULTS["recall_k"],
                                 schema.DEFAULTS["churn_queries"], args.seed)
            churn = c["churn"]
            passes = (c["max_feature_psi"] <= schema.DEFAULTS["max_feature_psi"]
                      and churn["similar_churn"] <= schema.DEFAULTS["max_similar_churn"])
            print(f"{name:<10} {len(features.ids):>7,} {c['movies']['added']:>5,} {c['movies']['removed']:>6,} "
                  f"{c['max_feature_psi']:>8.4f} {c['max_psi_feature']:<15} {churn['similar_churn']:>6.3f} "
                  f"{churn['mean_overlap']:>8.3f} {churn['adjusted_rand_index']:>6.3f}  "
                  f"{'passes' if passes else 'REFUSED'}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
