"""TrainRecommender at the size of a large public ratings dataset, on one machine.

`python -m benchmarks.bench_recommend_scale [--scale 1.0] [--method ease] [--neighbours 200]
[--max-items 10000] [--l2 500] [--cache ~/.cache/myflix-bench]` (defaults: the released settings)

GENERATED data (not real viewers: no quality figure comes from it) shaped like MovieLens 25M:
25,000,000 interactions, 162,000 viewers, 62,000 films at `--scale 1`; film popularity a power law
(p ~ 1 / (rank + 50), the most popular film ~0.3% of all interactions, as in ML-25M), viewer
activity log-normal with at least 20 interactions each, and taste structure (half of a viewer's
interactions drawn from one of 20 taste groups) so co-likes are not uniform noise. `--scale`
shrinks all three counts (0.1: a quick run). Pairs are distinct (a repeated draw is redrawn).

The generated interactions are written as a parquet file like PrepareInteractions' (dictionary-
encoded viewer_id/tconst, weight, timestamp) in the cache folder; a child process then does what
TrainRecommender does: read it, fit steps/recommender.Recommender, save the artefact. Printed: its
seconds per phase and its peak resident memory (the child's own ru_maxrss), against the baseline
in the same child: popularity counting (a group-by sum over the same frame). Target (issue 18):
fit < 10 min and peak < 8 GiB on this 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

FULL = {"interactions": 25_000_000, "viewers": 162_000, "films": 62_000}
TASTES = 20
TARGET_SECONDS, TARGET_GIB = 600.0, 8.0


def log(message: str) -> None:
    print(message, flush=True)


def generate(path: Path, scale: float, seed: int) -> dict:
    """Write the generated interactions parquet (see the module docstring); returns its counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(seed)
    n_int = int(FULL["interactions"] * scale)
    n_view = max(10, int(FULL["viewers"] * scale))
    n_film = max(TASTES * 2, int(FULL["films"] * scale))
    t0 = time.perf_counter()
    activity = 20 + rng.lognormal(np.log(60), 1.1, n_view)
    counts = np.maximum(20, np.round(activity * (n_int / activity.sum()))).astype(np.int64)
    counts[-1] += max(0, n_int - int(counts.sum()))
    base = np.repeat(np.arange(n_view, dtype=np.int32), counts)[:n_int]
    # global draws: film index is its popularity rank; taste draws: the same law within a taste group
    cdf = np.cumsum(1.0 / (np.arange(n_film) + 50.0))
    cdf /= cdf[-1]
    per_taste = n_film // TASTES
    tcdf = np.cumsum(1.0 / (np.arange(per_taste) + 50.0 / TASTES))
    tcdf /= tcdf[-1]

    def draw(viewer: np.ndarray) -> np.ndarray:
        film = np.minimum(np.searchsorted(cdf, rng.random(len(viewer))), n_film - 1).astype(np.int64)
        in_taste = rng.random(len(viewer)) < 0.5
        rank = np.minimum(np.searchsorted(tcdf, rng.random(int(in_taste.sum()))), per_taste - 1)
        film[in_taste] = rank * TASTES + (viewer[in_taste] % TASTES)
        return viewer.astype(np.int64) * n_film + film

    # distinct (viewer, film) pairs, as in the public dataset: repeated draws are redrawn (3 rounds)
    pairs = np.unique(draw(base))
    for _ in range(3):
        short = n_int - len(pairs)
        if short <= 0:
            break
        extra = rng.choice(base, size=int(short * 1.3))
        pairs = np.unique(np.concatenate([pairs, draw(extra)]))
    pairs = pairs[np.sort(rng.permutation(len(pairs))[:n_int])]
    viewer, film = (pairs // n_film).astype(np.int32), (pairs % n_film).astype(np.int32)
    viewers = pa.array([f"g{v:07d}" for v in range(n_view)])
    films = pa.array([f"tt{9_000_000 + f:07d}" for f in range(n_film)])
    table = pa.table({
        "viewer_id": pa.DictionaryArray.from_arrays(pa.array(viewer), viewers),
        "tconst": pa.DictionaryArray.from_arrays(pa.array(film), films),
        "weight": pa.array(np.ones(len(viewer), dtype=np.float32)),
        "timestamp": pa.array(1_600_000_000 + rng.integers(0, 10**8, len(viewer), dtype=np.int64)),
        "split": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(viewer), dtype=np.int8)),
                                                pa.array(["train"])),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    log(f"generated {len(viewer):,} interactions, {n_view:,} viewers, {n_film:,} films in "
        f"{time.perf_counter() - t0:.1f} s -> {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    return {"interactions": len(viewer), "viewers": n_view, "films": n_film}


def fit_child(path: Path, params: dict) -> dict:
    """In the child: what TrainRecommender does, timed phase by phase; peak RSS of this process."""
    import pandas as pd

    from steps import recommender
    out = {}
    t0 = time.perf_counter()
    frame = pd.read_parquet(path, columns=["viewer_id", "tconst", "weight"])
    out["read_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    popularity = frame.groupby("tconst", observed=True)["weight"].sum()
    out["baseline_seconds"] = time.perf_counter() - t0
    out["baseline_films"] = int(len(popularity))
    t0 = time.perf_counter()
    model = recommender.Recommender(**params, progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    model.fit(frame)
    out["fit_seconds"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench-recommend-scale-") as tmp:
        t0 = time.perf_counter()
        recommender.save(model, tmp)
        out["save_seconds"] = time.perf_counter() - t0
        out["artefact_mib"] = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
    out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out["films"], out["viewers"] = len(model.items_), len(model.viewers_)
    out["interactions"] = model.n_interactions_
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full size (0.1: a quick run)")
    ap.add_argument("--method", default="ease", choices=("itemknn", "ease", "als"))
    ap.add_argument("--neighbours", type=int, default=200)
    ap.add_argument("--max-items", type=int, default=10000, help="EASE's block of most popular films")
    ap.add_argument("--l2", type=float, default=500.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "myflix-bench"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    params = {"method": args.method, "neighbours": args.neighbours, "max_items": args.max_items,
              "l2": args.l2}
    if args.child:
        print(json.dumps(fit_child(Path(args.child), params)), flush=True)
        return 0
    if not 0 < args.scale <= 1:
        ap.error("--scale must be in (0, 1]")
    path = Path(args.cache).expanduser() / "scale" / f"interactions-{args.scale:g}-{args.seed}.parquet"
    log(f"GENERATED interactions (not real viewers), scale {args.scale:g} of "
        f"{FULL['interactions']:,} / {FULL['viewers']:,} viewers / {FULL['films']:,} films")
    if path.is_file():   # the same scale and seed give the same file: generated once
        import pyarrow.parquet as pq
        meta = pq.read_metadata(path)
        counts = {"interactions": meta.num_rows}
        log(f"reusing {path} ({meta.num_rows:,} interactions)")
    else:
        counts = generate(path, args.scale, args.seed)
    log(f"fitting {params} in a child process (its own peak memory)")
    t0 = time.perf_counter()
    child = subprocess.run([sys.executable, "-m", "benchmarks.bench_recommend_scale", "--child", str(path),
                            "--method", args.method, "--neighbours", str(args.neighbours),
                            "--max-items", str(args.max_items), "--l2", str(args.l2)],
                           cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if child.returncode:
        log(f"FAIL  the fit exited with code {child.returncode}")
        return 1
    res = json.loads(child.stdout.strip().splitlines()[-1])
    log("")
    log("| scale | interactions | viewers | films | read s | popularity counting s | fit s | save s | "
        "fit / counting | peak GiB | artefact MiB |")
    log("|---|---|---|---|---|---|---|---|---|---|---|")
    log(f"| {args.scale:g} | {counts['interactions']:,} | {res['viewers']:,} | {res['films']:,} | "
        f"{res['read_seconds']:.1f} | {res['baseline_seconds']:.2f} | {res['fit_seconds']:.1f} | "
        f"{res['save_seconds']:.1f} | {res['fit_seconds'] / max(res['baseline_seconds'], 1e-9):.0f}x | "
        f"{res['peak_gib']:.2f} | {res['artefact_mib']:.0f} |")
    log("")
    total = res["read_seconds"] + res["fit_seconds"] + res["save_seconds"]
    ok_t, ok_m = total < TARGET_SECONDS, res["peak_gib"] < TARGET_GIB
    note = "" if args.scale == 1 else f" (at scale {args.scale:g}; the target is for scale 1)"
    log(f"{'PASS' if ok_t else 'FAIL'}  read + fit + save {total:.0f} s < {TARGET_SECONDS:.0f} s{note}")
    log(f"{'PASS' if ok_m else 'FAIL'}  peak memory {res['peak_gib']:.2f} GiB < {TARGET_GIB:.0f} GiB{note}")
    log(f"(`python -m benchmarks.bench_recommend_scale --scale {args.scale:g} --method {args.method}`, "
        f"child wall {wall:.0f} s)")
    return 0 if ok_t and ok_m else 1


if __name__ == "__main__":
    raise SystemExit(main())
