"""bench_api: the API's similar-movies search at 300k synthetic movies in 26 clusters.

Measures, in one run: cold start (catalog -> parquet -> index), similar-movies latency p50/p99
in-process (the route's own code, chalicelib.service) and over HTTP on loopback (the real
`myflix serve` server), and recall@10 of the clustered search against exact nearest neighbours
for nprobe 1, the default and 3. The baseline is exact search over every movie, timed in the
same run. Targets: p99 < 2 ms in-process, cold start < 2 s, recall@10 >= 0.95 at the default
nprobe and >= 0.99 at nprobe 3.

Then the served hybrid (issue 18): a collaborative artefact of the served shape for every film and
1M viewers is generated beside the table (simulated: it measures speed and memory, not quality),
and the same similar-movies queries go through the route with it. Targets: similar-movies p99 < 2 ms
in-process, cold start (table + recommender, digest checked) < 3 s; printed with their ratio to the
content-only route measured above.

    python -m benchmarks.bench_api [--movies 300000] [--clusters 26] [--queries 2000] [--seed 42] [--viewers 1000000]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "api"))

from chalicelib import config as api_config  # noqa: E402
from chalicelib.service import Service  # noqa: E402
from local_aws import layout  # noqa: E402

# Shares of each genre among films (the source tutorial's cleaned table; see the shared data README)
GENRE_SHARES = {
    "Action": 0.152, "Adventure": 0.097, "Animation": 0.033, "Biography": 0.055, "Comedy": 0.340,
    "Crime": 0.159, "Documentary": 0.069, "Drama": 0.585, "Family": 0.044, "Fantasy": 0.046,
    "Film-Noir": 0.011, "History": 0.040, "Horror": 0.082, "Music": 0.038, "Musical": 0.020,
    "Mystery": 0.071, "Romance": 0.180, "Sci-Fi": 0.034, "Sport": 0.020, "Thriller": 0.126,
    "War": 0.028, "Western": 0.017,
}
GENRES = sorted(GENRE_SHARES)
FEATURES = ["startYear", "runtimeMinutes", *GENRES, "averageRating", "numVotes"]


def log(message: str) -> None:
    print(message, flush=True)


def synthetic_movies(n: int, seed: int) -> tuple[dict, np.ndarray]:
    """IMDb-shaped movies: year, runtime, 1-3 genres, rating, log-normal votes (seeded)."""
    rng = np.random.default_rng(seed)
    year = np.clip(rng.normal(1997, 23, n).round(), 1930, 2025)
    runtime = np.clip(rng.normal(104, 20, n).round(), 45, 182)
    genre = rng.random((n, len(GENRES))) < np.array([GENRE_SHARES[g] for g in GENRES])
    none = ~genre.any(axis=1)
    genre[none, rng.integers(0, len(GENRES), none.sum())] = True
    rating = np.clip(rng.normal(6.5, 0.8, n), 5.0, 9.5).round(1)
    votes = np.clip(10 ** rng.normal(3.3, 0.7, n), 500, 2.7e6).round()
    X = np.column_stack([year, runtime, genre.astype(float), rating, votes])
    names = np.array(GENRES)
    genres = np.array([",".join(names[row]) for row in genre], dtype=object)
    catalog = {"tconst": np.array([f"tt{i:08d}" for i in range(n)], dtype=object),
               "title": np.array([f"Movie {i}" for i in range(n)], dtype=object),
               "year": year.astype(np.int32), "runtime": runtime.astype(np.int32), "genres": genres,
               "rating": rating, "votes": votes.astype(np.int64)}
    return catalog, X


def fit_and_embed(X: np.ndarray, k: int, seed: int):
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    scaled = scaler.transform(X)
    rng = np.random.default_rng(seed)
    sample = scaled[rng.choice(len(scaled), size=min(len(scaled), 50_000), replace=False)]
    kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(sample)
    cluster = kmeans.predict(scaled)
    distance = np.linalg.norm(scaled - kmeans.cluster_centers_[cluster], axis=1)
    return scaled, cluster.astype(np.int32), distance


def write_local_table(workdir: Path, catalog: dict, scaled: np.ndarray, cluster, distance, k: int) -> None:
    """The published table in the local stand-ins' layout (docs/CONTRACTS.md)."""
    location = "s3://myflix-bench/tables/movie_clusters/bench/"
    folder = layout.s3_path(workdir, location)
    folder.mkdir(parents=True)
    n, d = scaled.shape
    embedding = pa.ListArray.from_arrays(pa.array(np.arange(0, n * d + 1, d, dtype=np.int32)),
                                         pa.array(scaled.ravel()))
    table = pa.table({**{c: pa.array(v) for c, v in catalog.items()}, "cluster": pa.array(cluster),
                      "distance": pa.array(distance), "embedding": embedding})
    pq.write_table(table, folder / "part-00000.parquet")
    entry = {"Name": "movie_clusters", "DatabaseName": "myflix", "VersionId": "1",
             "StorageDescriptor": {"Location": location, "Columns": []},
             "Parameters": {"myflix_features": json.dumps(FEATURES), "myflix_k": str(k),
                            "myflix_execution_id": "bench"}}
    layout.write_json_atomic(layout.catalog_path(workdir, "myflix", "movie_clusters"), entry)


def write_synthetic_recommender(workdir: Path, ids: np.ndarray, viewers: int, seed: int, neighbours: int = 50,
                                per_viewer: float = 20.0) -> dict:
    """A collaborative artefact of the served shape (docs/CONTRACTS.md, "Recommender artefact") for
    every film and `viewers` generated viewers, beside the bench table, named by its parameter.

    Generated, not trained: item neighbours drawn with a popularity bias, histories of ~`per_viewer`
    films each. It measures serving speed and cold start only; no quality figure comes from it.
    """
    import hashlib
    import io

    rng = np.random.default_rng(seed + 7)
    items = np.sort(np.asarray(ids, dtype=str))
    n = len(items)
    by_popularity = rng.permutation(n).astype(np.int32)       # rank -> item

    def popular_items(size) -> np.ndarray:   # Zipf-like draws: rank ~ Pareto, a few films most of the time
        ranks = np.minimum(rng.pareto(1.0, size) * (n / 1000), n - 1).astype(np.int64)
        return by_popularity[ranks]

    popularity = np.bincount(popular_items(20 * n), minlength=n).astype(np.float32) + 1
    near = popular_items((n, neighbours)).astype(np.int32)
    scores = -np.sort(-rng.random((n, neighbours), dtype=np.float32), axis=1)
    lengths = np.clip(rng.geometric(1 / per_viewer, viewers), 1, 500)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays = {"items": items, "popularity": popularity, "neighbours": near, "neighbour_scores": scores,
              "viewers": np.char.add("v", np.char.zfill(np.arange(viewers).astype(str), 8)),
              "viewer_indptr": indptr, "viewer_items": popular_items(int(indptr[-1])).astype(np.int32),
              "viewer_weights": rng.choice(np.array([1.0, 2.0, 3.0], dtype=np.float32), size=int(indptr[-1]))}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    meta = {"kind": "generated", "params": {"neighbours": neighbours}, "n_items": n, "n_viewers": viewers,
            "n_interactions": int(indptr[-1]), "simulated": True, "validation": {},
            "sha256": {"recommender.npz": hashlib.sha256(data).hexdigest()}}
    folder = layout.s3_path(workdir, "s3://myflix-bench/tables/movie_clusters/bench/")
    (folder / "_myflix_recommender.npz").write_bytes(data)
    (folder / "_myflix_recommender.json").write_text(json.dumps(meta))
    catalog = layout.catalog_path(workdir, "myflix", "movie_clusters")
    entry = json.loads(catalog.read_text())
    entry["Parameters"]["myflix_recommender"] = "_myflix_recommender.npz"
    catalog.write_text(json.dumps(entry))
    return {"bytes": len(data), "interactions": int(indptr[-1])}


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def kernel_comparison(index, rows, recall_rows, truth, nprobes=(1, 3)) -> list[str]:
    """Our similar-movies kernel against faiss's IndexIVFFlat over the same centroids, in one run.

    faiss (`pip install faiss-cpu`, for this benchmark only: not a dependency) gets the index's
    own centroids as its coarse quantiser and one OpenMP thread (a 1-vCPU Lambda, as ours has one
    BLAS thread). The two are timed query by query, alternately, so machine load falls on both
    alike; recall@10 is measured against the same exact neighbours (`truth`) for both.
    """
    try:
        import faiss
    except ImportError:
        return ["  faiss IVF comparison: skipped (faiss is not installed; `.venv/bin/pip install faiss-cpu` "
                "for this benchmark only)"]
    faiss.omp_set_num_threads(1)
    vectors = np.ascontiguousarray(index.emb, dtype=np.float32)
    quantiser = faiss.IndexFlatL2(index.dim)
    quantiser.add(np.ascontiguousarray(index.centroids))
    ivf = faiss.IndexIVFFlat(quantiser, index.dim, len(index.cluster_ids))
    ivf.is_trained = True    # the centroids are ours: no training
    ivf.add(vectors)         # each movie goes to its nearest centroid; labels are our rows

    def faiss_similar(r: int) -> list[int]:
        _, labels = ivf.search(vectors[r:r + 1], 11)
        return [int(x) for x in labels[0] if x != r and x >= 0][:10]

    lines = ["  similar movies kernel, ours vs faiss IndexIVFFlat (same centroids, 1 thread each, "
             f"interleaved, {len(rows)} queries):"]
    for nprobe in nprobes:
        ivf.nprobe = nprobe
        ours_t, faiss_t = [], []
        for r in rows:
            r = int(r)
            t = time.perf_counter()
            index.similar(r, 10, nprobe)
            ours_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            faiss_similar(r)
            faiss_t.append(time.perf_counter() - t)
        ours_recall = np.mean([len(truth[i] & {h.row for h in index.similar(int(r), 10, nprobe)}) / 10
                               for i, r in enumerate(recall_rows)])
        faiss_recall = np.mean([len(truth[i] & set(faiss_similar(int(r)))) / 10 for i, r in enumerate(recall_rows)])
        (o50, o99), (f50, f99) = percentiles(ours_t), percentiles(faiss_t)
        lines.append(f"    nprobe {nprobe}: ours  p50 {o50:.3f} ms  p99 {o99:.3f} ms  recall@10 {ours_recall:.4f}")
        lines.append(f"    nprobe {nprobe}: faiss p50 {f50:.3f} ms  p99 {f99:.3f} ms  recall@10 {faiss_recall:.4f}"
                     f"   (faiss / ours: p50 x{f50 / o50:.2f}, p99 x{f99 / o99:.2f})")
    return lines


def http_load_section(workdir: Path, ids, quick: bool) -> bool:
    """`myflix serve` against the Chalice dev server at 1, 8 and 32 clients (benchmarks/http_load.py)."""
    from benchmarks.http_load import http_section

    log("")
    return http_section(workdir, ids, log, requests=600 if quick else 3000, seconds=5 if quick else 15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=300_000)
    parser.add_argument("--clusters", type=int, default=26)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--http-queries", type=int, default=500)
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--viewers", type=int, default=1_000_000, help="viewers of the generated recommender")
    parser.add_argument("--neighbours", type=int, default=None,
                        help="neighbours a film in the generated recommender (default: the released setting)")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP sections (in-process figures only)")
    parser.add_argument("--quick", action="store_true", help="30k movies, fewer queries (a smoke run)")
    args = parser.parse_args(argv)
    if args.neighbours is None:
        from steps.recommender import DEFAULTS as RECOMMENDER_DEFAULTS
        args.neighbours = int(RECOMMENDER_DEFAULTS["neighbours"])
    if args.quick:
        args.movies, args.queries, args.http_queries, args.recall_queries = 30_000, 300, 100, 200
        args.viewers = 100_000

    log(f"bench_api: {args.movies:,} synthetic movies, {args.clusters} clusters, seed {args.seed}")
    started = time.perf_counter()
    catalog, X = synthetic_movies(args.movies, args.seed)
    scaled, cluster, distance = fit_and_embed(X, args.clusters, args.seed)
    log(f"  data + k-means fit: {time.perf_counter() - started:.1f} s")

    # one BLAS thread, as in a 1-vCPU Lambda: on a shared machine, BLAS threads waiting for a core
    # are what makes the p99 (and the exact baseline) noisy
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), tempfile.TemporaryDirectory(prefix="myflix-bench-") as tmp:
        workdir = Path(tmp)
        write_local_table(workdir, catalog, scaled, cluster, distance, args.clusters)
        settings = api_config.Settings(workdir=workdir, reload_seconds=3600)

        service = Service(settings)
        t0, c0 = time.perf_counter(), time.process_time()
        index = service.index()
        cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        log(f"  cold start (catalog -> parquet -> index of {len(index):,} movies): {cold:.2f} s")

        rng = np.random.default_rng(args.seed + 1)
        rows = rng.integers(0, len(index), args.queries)
        nprobe_default = api_config.DEFAULT_NPROBE

        # in-process: the route's own code, parameters as strings as the route gets them
        params = {"limit": "10"}
        service.similar(index.ids[0], params)   # warm-up
        timings, cpu = [], []
        for r in rows:
            t, c = time.perf_counter(), time.thread_time()
            service.similar(index.ids[r], params)
            cpu.append(time.thread_time() - c)
            timings.append(time.perf_counter() - t)
        route_p50, route_p99 = percentiles(timings)
        cpu_p50, cpu_p99 = percentiles(cpu)
        search_t = []
        for r in rows:
            t = time.perf_counter()
            index.similar(int(r), 10, nprobe_default)
            search_t.append(time.perf_counter() - t)
        search_p50, search_p99 = percentiles(search_t)
        exact_t = []
        for r in rows[: max(200, args.queries // 4)]:
            t = time.perf_counter()
            index.exact_search(index.emb[r], 10, exclude={int(r)})
            exact_t.append(time.perf_counter() - t)
        exact_p50, exact_p99 = percentiles(exact_t)

        # recall@10 against exact nearest neighbours
        recall_rows = rng.integers(0, len(index), args.recall_queries)
        truth = [set(index.exact_search(index.emb[r], 10, exclude={int(r)})) for r in recall_rows]
        recalls = {}
        for nprobe in sorted({1, nprobe_default, 3}):
            found = [len(truth[i] & {h.row for h in index.similar(int(r), 10, nprobe)}) / 10
                     for i, r in enumerate(recall_rows)]
            recalls[nprobe] = float(np.mean(found))
        kernel_lines = kernel_comparison(index, rows, recall_rows, truth)

        http_p50 = http_p99 = float("nan")
        http_load_ok = True
        if not args.no_http:
            # over HTTP on loopback: the real `myflix serve` server, one keep-alive connection
            from serving.server import MyFlixServer

            with MyFlixServer(workdir, "127.0.0.1", 0, quiet=True) as server:
                host, port = server.address
                conn = http.client.HTTPConnection(host, port, timeout=10)
                http_t = []
                for i, r in enumerate(rows[: args.http_queries + 20]):
                    t = time.perf_counter()
                    conn.request("GET", f"/movies/{index.ids[r]}/similar?limit=10")
                    response = conn.getresponse()
                    body = response.read()
                    if response.status != 200:
                        raise SystemExit(f"HTTP {response.status}: {body[:200]!r}")
                    if i >= 20:   # the first requests warm the server's thread and the table
                        http_t.append(time.perf_counter() - t)
                conn.close()
            http_p50, http_p99 = percentiles(http_t)
            http_load_ok = http_load_section(workdir, index.ids, args.quick)

        # the served hybrid with a collaborative model of the target size (generated: speed only);
        # its baseline: the content-only cold start again, now that every module is imported (as the
        # hybrid's will be), so the ratio compares the loads and not Python's first imports
        t0, c0 = time.perf_counter(), time.process_time()
        Service(settings).index()
        warm_cold, warm_cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        t = time.perf_counter()
        artefact = write_synthetic_recommender(workdir, index.ids, args.viewers, args.seed, args.neighbours)
        log(f"  generated recommender (simulated, for speed only): {len(index):,} films x {args.neighbours} "
            f"neighbours, {args.viewers:,} viewers, "
            f"{artefact['interactions']:,} interactions, {artefact['bytes'] / 1e6:.0f} MB npz "
            f"in {time.perf_counter() - t:.1f} s")
        del index, service
        hybrid_service = Service(settings)
        t0, c0 = time.perf_counter(), time.process_time()
        hindex = hybrid_service.index()
        hybrid_cold, hybrid_cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        import resource
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        if not hindex.recommender.collaborative:
            raise SystemExit(f"the generated recommender was not loaded: {hindex.recommender.reason}")
        log(f"  cold start with it (catalog -> parquet -> index -> recommender, digest checked): {hybrid_cold:.2f} s")
        hybrid_service.similar(hindex.ids[0], params)   # warm-up
        hybrid_t, hybrid_cpu = [], []
        for r in rows:
            t, c = time.perf_counter(), time.thread_time()
            hybrid_service.similar(hindex.ids[r], params)
            hybrid_cpu.append(time.thread_time() - c)
            hybrid_t.append(time.perf_counter() - t)
        hybrid_p50, hybrid_p99 = percentiles(hybrid_t)
        hybrid_cpu_p50, hybrid_cpu_p99 = percentiles(hybrid_cpu)
        viewers = np.random.default_rng(args.seed + 2).integers(0, args.viewers, args.queries // 4)
        viewer_t = []
        for v in viewers:
            body = {"viewer": f"v{int(v):08d}", "limit": 10}
            t = time.perf_counter()
            hybrid_service.recommend(body, {})
            viewer_t.append(time.perf_counter() - t)
        viewer_p50, viewer_p99 = percentiles(viewer_t)

    log("")
    log(f"  similar movies, index search (nprobe {nprobe_default}):  p50 {search_p50:.3f} ms   p99 {search_p99:.3f} ms")
    log(f"  similar movies, in-process route code:     p50 {route_p50:.3f} ms   p99 {route_p99:.3f} ms"
        f"   (target p99 < 2 ms: {'ok' if route_p99 < 2 else 'MISSED'})")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    log(f"    same, CPU time of the thread:             p50 {cpu_p50:.3f} ms   p99 {cpu_p99:.3f} ms"
        f"   (wall minus time spent waiting for a core; load average {load:.1f} on {os.cpu_count()} cores)")
    log(f"  similar movies, HTTP on loopback:          p50 {http_p50:.3f} ms   p99 {http_p99:.3f} ms"
        + ("   (skipped: --no-http)" if args.no_http else ""))
    log(f"  baseline, exact search over all movies:    p50 {exact_p50:.3f} ms   p99 {exact_p99:.3f} ms")
    log(f"  speed-up of the clustered search over exact: p50 x{exact_p50 / search_p50:.1f}, "
        f"p99 x{exact_p99 / search_p99:.1f}")
    log(f"  cold start: {cold:.2f} s (target < 2 s: {'ok' if cold < 2 else 'MISSED'}); CPU {cold_cpu:.2f} s")
    for nprobe, value in recalls.items():
        target = 0.99 if nprobe >= 3 else (0.95 if nprobe == nprobe_default else None)
        verdict = "" if target is None else f"   (target >= {target}: {'ok' if value >= target else 'MISSED'})"
        log(f"  recall@10 at nprobe {nprobe}{' (default)' if nprobe == nprobe_default else ''}: {value:.4f}{verdict}")
    for line in kernel_lines:
        log(line)
    log(f"  served hybrid, {args.viewers:,} viewers (the route's code, chalicelib/hybrid.py):")
    log(f"    similar movies, collaborative:            p50 {hybrid_p50:.3f} ms   p99 {hybrid_p99:.3f} ms"
        f"   (target p99 < 2 ms: {'ok' if hybrid_p99 < 2 else 'MISSED'}); vs the content-only route above: "
        f"p50 x{hybrid_p50 / route_p50:.2f}, p99 x{hybrid_p99 / route_p99:.2f}")
    log(f"      same, CPU time of the thread:           p50 {hybrid_cpu_p50:.3f} ms   p99 {hybrid_cpu_p99:.3f} ms"
        f"   (content-only route: p50 {cpu_p50:.3f} ms, p99 {cpu_p99:.3f} ms)")
    log(f"    recommendations for a known viewer:       p50 {viewer_p50:.3f} ms   p99 {viewer_p99:.3f} ms")
    log(f"    cold start with the recommender: {hybrid_cold:.2f} s "
        f"(target < 3 s: {'ok' if hybrid_cold < 3 else 'MISSED'}); "
        f"x{hybrid_cold / warm_cold:.2f} the content-only cold start of the same process ({warm_cold:.2f} s); "
        f"CPU {hybrid_cold_cpu:.2f} s (both threads; content only {warm_cold_cpu:.2f} s); "
        f"peak RSS of the process {peak_gib:.2f} GiB")
    ok = route_p99 < 2 and cold < 2 and recalls[nprobe_default] >= 0.95 and recalls[3] >= 0.99 and http_load_ok
    ok = ok and hybrid_p99 < 2 and hybrid_cold < 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
