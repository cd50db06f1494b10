"""http_load: `myflix serve` under concurrent HTTP load on loopback, against Chalice's development server.

Each server runs in its own process (so the load generator does not share its interpreter) over the
same published table; a bounded asyncio client then sends similar-movies requests at concurrency 1,
8 and 32, a new connection per request as `ab` does without -k (which is what exposes a short listen
backlog), and prints req/s, p50, p99, max and errors for each, and the ratios between the two
servers measured in the same run. Target at 32 clients: no error and p99 < 100 ms.

    python -m benchmarks.http_load [--movies 30000] [--requests 3000] [--seconds 15]
    (bench_api calls http_section() over its own 300k-movie table)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8, 32)
TARGET_P99_MS = 100.0


# --- the servers, each in a child process -----------------------------------------------------------

class ChaliceDevServer:
    """The old `myflix serve`: chalice.local's LocalDevServer (http.server, backlog 5, a thread per
    connection, no body limit or timeout) with the page's files; kept only as this benchmark's baseline."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int = 0):
        from chalice.local import ChaliceRequestHandler, LocalDevServer

        from serving.app import static_files
        from serving.server import UI_DIR, _chalice_config, _load_app

        app, self.service = _load_app(workdir)
        static = static_files(UI_DIR)

        class Handler(ChaliceRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):  # noqa: N802
                file = static.get(self.path.split("?")[0])
                if file is None:
                    return self._generic_handle()
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.dev = LocalDevServer(app, _chalice_config(app), host, port, handler_cls=Handler)
        self.dev.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.dev.server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self.dev.server.serve_forever()


def _serve_child(kind: str, workdir: str) -> None:
    """In the child: load the table, print the URL, serve until stdin closes (the parent is done)."""
    if kind == "waitress":
        from serving.server import MyFlixServer
        server = MyFlixServer(Path(workdir), "127.0.0.1", 0, quiet=True)
    else:
        server = ChaliceDevServer(Path(workdir))
    server.service.warm()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.url, flush=True)
    sys.stdin.read()


class ServerProcess:
    def __init__(self, kind: str, workdir: Path):
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "api"), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.http_load", "--serve", kind, str(workdir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.close()
            raise SystemExit(f"the {kind} server did not start")
        host, port = self.url[len("http://"):].split(":")
        self.address = (host, int(port))

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- the load generator ------------------------------------------------------------------------------

async def _exchange(reader, writer, path: str, timeout: float, keepalive: bool) -> bool:
    connection = "keep-alive" if keepalive else "close"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: {connection}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    if length is not None:
        await asyncio.wait_for(reader.readexactly(length), timeout)
    return head.startswith(b"HTTP/1.1 200")


async def _load(address, paths: list[str], concurrency: int, requests: int, seconds: float, timeout: float,
                keepalive: bool = False):
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal issued, errors
        conn = None
        while issued < requests and time.perf_counter() < deadline:
            path = paths[issued % len(paths)]
            issued += 1
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
                ok = await _exchange(*conn, path, timeout, keepalive)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                ok = False
            if conn is not None and (not keepalive or not ok):
                conn[1].close()
                conn = None
            latencies.append(time.perf_counter() - started)
            errors += not ok
        if conn is not None:
            conn[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return np.asarray(latencies) * 1000, errors, time.perf_counter() - started


def measure(address, paths: list[str], concurrency: int, requests: int, seconds: float,
            timeout: float = 30.0, keepalive: bool = False) -> dict:
    asyncio.run(_load(address, paths[:50], 1, 50, 10, timeout))   # warm-up: first requests load the index pages
    ms, errors, wall = asyncio.run(_load(address, paths, concurrency, requests, seconds, timeout, keepalive))
    return {"concurrency": concurrency, "requests": len(ms), "rps": len(ms) / wall, "p50": float(np.percentile(ms, 50)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max()), "errors": errors}


def http_section(workdir: Path, ids, log=print, requests: int = 3000, seconds: float = 15.0, seed: int = 3,
                 keepalive: bool = False) -> bool:
    """Both servers over `workdir`'s table at each concurrency; prints the figures; True when on target."""
    rng = np.random.default_rng(seed)
    paths = [f"/movies/{ids[r]}/similar?limit=10" for r in rng.integers(0, len(ids), 4000)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    mode = "one keep-alive connection per client" if keepalive else "a new connection per request"
    log(f"  HTTP load on loopback (GET /movies/<id>/similar?limit=10, {mode}; "
        f"load average {load:.1f} on {os.cpu_count()} cores before the run):")
    results: dict[str, dict[int, dict]] = {}
    for kind in ("waitress", "chalice-dev"):
        with ServerProcess(kind, workdir) as server:
            results[kind] = {c: measure(server.address, paths, c, requests if c > 1 else requests // 4, seconds,
                                        keepalive=keepalive) for c in CONCURRENCY}
        for c, r in results[kind].items():
            log(f"    {kind:<12} c={c:<3} {r['requests']:>5} req  {r['rps']:>7.0f} req/s  p50 {r['p50']:>7.2f} ms  "
                f"p99 {r['p99']:>8.2f} ms  max {r['max']:>8.1f} ms  errors {r['errors']}")
    for c in CONCURRENCY:
        new, old = results["waitress"][c], results["chalice-dev"][c]
        log(f"    c={c:<3} myflix serve vs the Chalice dev server: req/s x{new['rps'] / old['rps']:.2f}, "
            f"p99 x{old['p99'] / new['p99']:.1f} lower, max x{old['max'] / new['max']:.1f} lower")
    top = results["waitress"][max(CONCURRENCY)]
    ok = top["errors"] == 0 and top["p99"] < TARGET_P99_MS
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    log(f"    target at {max(CONCURRENCY)} clients (no error, p99 < {TARGET_P99_MS:.0f} ms): "
        f"{'ok' if ok else 'MISSED'}   (load average {load:.1f} after the run)")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--movies", type=int, default=30_000)
    parser.add_argument("--clusters", type=int, default=26)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keepalive", action="store_true", help="one keep-alive connection per client")
    args = parser.parse_args(argv)
    if args.serve:
        _serve_child(*args.serve)
        return 0
    from benchmarks.bench_api import fit_and_embed, synthetic_movies, write_local_table

    catalog, X = synthetic_movies(args.movies, args.seed)
    scaled, cluster, distance = fit_and_embed(X, args.clusters, args.seed)
    with tempfile.TemporaryDirectory(prefix="myflix-http-") as tmp:
        write_local_table(Path(tmp), catalog, scaled, cluster, distance, args.clusters)
        print(f"http_load: {args.movies:,} synthetic movies, {args.clusters} clusters", flush=True)
        ok = http_section(Path(tmp), catalog["tconst"], requests=args.requests, seconds=args.seconds,
                          keepalive=args.keepalive)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
