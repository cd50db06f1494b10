"""TrainRecommender (SageMaker training step): the collaborative model from the prepared interactions.

Container contract: PrepareInteractions's folder in `SM_CHANNEL_INTERACTIONS` (interactions.parquet
+ interactions.json), the artefact into `SM_MODEL_DIR`: recommender.npz + recommender.json
(docs/CONTRACTS.md "Recommender artefact"), written by `steps.recommender.save`, and `heldout/`
(the same two files for the chosen settings fit on train + validation only: what Evaluate measures
on the test pairs, since the released model saw them; never served). Hyperparameters
`--min-interactions`, `--seed`, `--ranking-k`, as the sagemaker-training toolkit passes them.
With fewer than `--min-interactions` interactions (or no viewer held out for tuning) the model is
written with `"kind": "none"` and the reason, so Evaluate, Publish and the API know collaborative
is off. Otherwise the settings are tuned on `train` against `validation` (NDCG@k) and the chosen
settings refit on every interaction: the split serves tuning and evaluation only.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from steps import artifacts, recommender, schema
from steps.train_kmeans import int_like

# The settings tried on the validation split: EASE (the method MyFlix trains: the measured choice
# of benchmarks/bench_recommend.py on real viewers, steps/recommender.DEFAULTS: 200 neighbours a
# film) over its regularisation around the measured l2 500. Each combination is one fit (EASE
# inverts a matrix of up to max_items films) and one pass over the validation viewers.
TUNING_GRID = {"method": ["ease"], "l2": [250.0, 500.0, 1000.0]}


def read_interactions(folder: str) -> tuple[pd.DataFrame, dict]:
    path = Path(folder)
    frame_path = path / schema.INTERACTIONS_PARQUET
    if not frame_path.is_file():
        raise artifacts.ArtifactError(
            f"no {schema.INTERACTIONS_PARQUET} in {folder}: PrepareInteractions writes it")
    report = artifacts.read_json(path / schema.INTERACTIONS_JSON, "PrepareInteractions's report")
    return artifacts.read_parquet(frame_path), report


def skip_reason(pairs: pd.DataFrame, report: dict, min_interactions: int) -> str | None:
    """Why collaborative is off for these interactions (None: train it)."""
    if len(pairs) < min_interactions:
        return f"{len(pairs)} interactions, fewer than min_interactions={min_interactions}"
    if not (pairs["split"] == "validation").any():
        return "no viewer has a validation pair to tune on (viewers need 3+ films)"
    return None


def train(pairs: pd.DataFrame, k: int, seed: int, simulated: bool, model_dir: Path, log) -> dict:
    """Tune on train vs validation, save the held-out fit (train + validation) and the released one
    (every pair); returns the released artefact's recommender.json."""
    train_rows = pairs[pairs["split"] == "train"]
    validation = pairs[pairs["split"] == "validation"]
    best, table = recommender.tune(train_rows, validation, TUNING_GRID, base={"seed": seed}, k=k,
                                   metric="ndcg",
                                   progress=log)
    row = table.sort_values("ndcg", ascending=False, kind="stable").iloc[0]
    scores = {f"{m}_at_{k}" if m in ("hr", "ndcg") else m: float(row[m]) for m in ("hr", "ndcg", "mrr")}
    log(f"chose {best} (validation NDCG@{k} {scores[f'ndcg_at_{k}']:.4f})")
    heldout = recommender.Recommender(**best, progress=log).fit(pairs[pairs["split"] != "test"])
    recommender.save(heldout, model_dir / schema.RECOMMENDER_HELDOUT_DIR, simulated=simulated,
                     validation=scores)
    released = recommender.Recommender(**best, progress=log).fit(pairs)
    return recommender.save(released, model_dir, simulated=simulated, validation=scores)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = schema.DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-interactions", "--min_interactions", dest="min_interactions", type=int_like,
                        default=d["min_interactions"])
    parser.add_argument("--seed", type=int_like, default=d["seed"])
    parser.add_argument("--ranking-k", "--ranking_k", dest="ranking_k", type=int_like, default=d["ranking_k"])
    parser.add_argument("--interactions", default=os.environ.get("SM_CHANNEL_INTERACTIONS"),
                        help="PrepareInteractions's folder (default: $SM_CHANNEL_INTERACTIONS)")
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"),
                        help="where the artefact goes (default: $SM_MODEL_DIR)")
    args = parser.parse_args(argv)
    if not (args.interactions and args.model_dir):
        parser.error("missing a folder: set SM_CHANNEL_INTERACTIONS and SM_MODEL_DIR (as SageMaker does) "
                     "or pass --interactions and --model-dir")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        pairs, report = read_interactions(args.interactions)
        simulated = bool(report.get("simulated"))
        label = " (SIMULATED viewers)" if simulated else ""
        reason = skip_reason(pairs, report, args.min_interactions)
        if reason is not None:
            meta = recommender.save(None, args.model_dir, simulated=simulated, reason=reason)
            print(f"train_recommender: collaborative skipped{label}: {reason}; wrote kind 'none' to "
                  f"{args.model_dir}", flush=True)
            return 0
        print(f"train_recommender: {len(pairs):,} interactions{label}, "
              f"{pairs['viewer_id'].nunique():,} viewers, "
              f"{pairs['tconst'].nunique():,} films; tuning on train/validation (NDCG@{args.ranking_k})",
              flush=True)
        meta = train(pairs, args.ranking_k, args.seed, simulated, Path(args.model_dir),
                     lambda m: print(f"train_recommender: {m}", flush=True))
    except (artifacts.ArtifactError, recommender.RecommenderError, ValueError) as err:
        print(f"train_recommender: {err}", file=sys.stderr)
        return 2
    print(f"train_recommender: kind {meta.get('kind')} params {meta.get('params')} validation "
          f"{meta.get('validation')}; refit on all {meta.get('n_interactions')} interactions in "
          f"{time.monotonic() - started:.1f}s; wrote {Path(args.model_dir) / schema.RECOMMENDER_NPZ}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
