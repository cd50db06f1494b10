"""bench_events: viewer events through a real `myflix serve` on 127.0.0.1, counted end to end.

A `myflix serve` server (MyFlixServer under waitress, in its own process, over a fresh work folder)
receives `POST /events` batches at a fixed rate (default 200 events/s as 20 batches of 10, for
60 s), sent open-loop (each batch at its scheduled time, whatever the previous answers took), a new
connection per request. Then the stored files are read back and counted: events sent, acknowledged
(sum of `accepted`), stored (distinct event ids in `events/dt=*/*.jsonl`), lost (acknowledged but
not stored) and unexpected (stored but never acknowledged). A replay of the first batches checks
that a resent batch is answered as duplicates and stored once. The baseline, measured in the same
run against the same server, is GET /health at the same request rate: the ratio says what the
checks and the durable write (fsync of file and folder per batch) cost per request.

Targets: every event sent is acknowledged and stored (events in = events stored), none lost, the
replay stored once.

    python -m benchmarks.bench_events [--rate 200] [--batch 10] [--seconds 60] [--quick]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "api") not in sys.path:
    sys.path.insert(0, str(REPO / "api"))

from benchmarks.http_load import ServerProcess  # noqa: E402
from local_aws.constants import LOCAL_BUCKET  # noqa: E402

BUCKET = LOCAL_BUCKET
KINDS = ("view", "like", "list_add", "play", "rating", "unlike", "list_remove")


def log(message: str) -> None:
    print(message, flush=True)


def make_batches(n_batches: int, batch: int, seed: int = 7) -> list[dict]:
    """Batches of simulated page events (ids random, 500 simulated viewers), each event id unique."""
    rng = np.random.default_rng(seed)
    now = int(time.time())
    out = []
    for b in range(n_batches):
        events = []
        for i in range(batch):
            kind = KINDS[int(rng.integers(0, len(KINDS)))]
            event = {"event_id": f"bench-{b:06d}-{i:03d}",
                     "viewer_id": f"sim-{int(rng.integers(0, 500)):04d}",
                     "tconst": f"tt{int(rng.integers(1, 9_999_999)):07d}", "event": kind,
                     "timestamp": now - int(rng.integers(0, 3600))}
            if kind == "rating":
                event["value"] = float(rng.integers(1, 11))
            events.append(event)
        out.append({"events": events})
    return out


async def _request(address, method: str, path: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + (body or b""))
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0
    return status, raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""


async def _open_loop(address, requests: list[tuple[str, str, bytes | None]], rate: float,
                     timeout: float = 30.0):
    """Each request at start + i / rate; returns [(status, body, latency_s, lateness_s)] in order."""
    results: list = [None] * len(requests)
    start = time.perf_counter() + 0.2

    async def one(i: int, method: str, path: str, body: bytes | None) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        began = time.perf_counter()
        try:
            status, answer = await _request(address, method, path, body, timeout)
        except (OSError, asyncio.TimeoutError) as err:
            status, answer = 0, str(err).encode()
        results[i] = (status, answer, time.perf_counter() - began, began - due)

    await asyncio.gather(*(one(i, *r) for i, r in enumerate(requests)))
    return results


def _stats(results) -> dict:
    ms = np.asarray([r[2] for r in results]) * 1000
    return {"requests": len(results), "errors": sum(r[0] != 200 for r in results),
            "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
            "late_p99": float(np.percentile([r[3] for r in results], 99)) * 1000}


def stored_ids(workdir: Path) -> tuple[list[str], int, int]:
    """(event ids of every stored line, files, unreadable lines) under the local bucket's events/."""
    from chalicelib.events import LocalSink
    sink = LocalSink(workdir / "s3" / BUCKET)
    ids, bad = [], 0
    for path in sink.files():
        for line in path.read_text().splitlines():
            try:
                ids.append(json.loads(line)["event_id"])
            except (ValueError, KeyError):
                bad += 1
    return ids, len(sink.files()), bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--batch", type=int, default=10, help="events per POST")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replay", type=int, default=100, help="batches sent again after the run")
    parser.add_argument("--quick", action="store_true", help="10 s instead of 60")
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else args.seconds
    batch_rate = args.rate / args.batch
    n_batches = int(round(seconds * batch_rate))
    batches = make_batches(n_batches, args.batch)
    bodies = [json.dumps(b, separators=(",", ":")).encode() for b in batches]
    log(f"bench_events: {args.rate:.0f} events/s as {batch_rate:.0f} POST /events/s of {args.batch} "
        f"for {seconds:.0f} s "
        f"({n_batches * args.batch:,} simulated events) through myflix serve on 127.0.0.1; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="myflix-bench-events-") as tmp:
        workdir = Path(tmp)
        with ServerProcess("waitress", workdir) as server:
            address = server.address
            baseline = asyncio.run(_open_loop(address, [("GET", "/health", None)] * n_batches, batch_rate))
            events = asyncio.run(_open_loop(address, [("POST", "/events", b) for b in bodies], batch_rate))
            replay = asyncio.run(_open_loop(address, [("POST", "/events", b) for b in bodies[:args.replay]],
                                            batch_rate))
        acked_ids = set()
        accepted = duplicates = 0
        for (status, answer, _, _), batch in zip(events, batches):
            if status == 200:
                counts = json.loads(answer)
                accepted += counts["accepted"]
                duplicates += counts["duplicates"]
                acked_ids.update(e["event_id"] for e in batch["events"])
        replay_dupes = sum(json.loads(r[1])["duplicates"] for r in replay if r[0] == 200)
        ids, files, bad = stored_ids(workdir)
        sent = n_batches * args.batch
        distinct = set(ids)
        lost = len(acked_ids - distinct)
        unexpected = len(distinct - acked_ids)
        twice = len(ids) - len(distinct)
    base, ev = _stats(baseline), _stats(events)
    for name, s in (("GET /health (baseline)", base), ("POST /events", ev)):
        log(f"  {name:<24} {s['requests']:>6} req  errors {s['errors']}  p50 {s['p50']:7.2f} ms  "
            f"p99 {s['p99']:7.2f} ms  max {s['max']:7.1f} ms  (sent late by p99 {s['late_p99']:.1f} ms)")
    log(f"  POST /events vs GET /health at the same rate: p50 x{ev['p50'] / base['p50']:.2f}, "
        f"p99 x{ev['p99'] / base['p99']:.2f}")
    log(f"  events sent {sent:,}  acknowledged {accepted:,} (+{duplicates} duplicates)  "
        f"stored {len(distinct):,} in {files:,} files  lost {lost}  stored but not acknowledged {unexpected}  "
        f"stored twice {twice}  "
        f"unreadable lines {bad}")
    log(f"  replay of {min(args.replay, n_batches)} batches: {replay_dupes:,} duplicates answered, "
        f"{sum(r[0] != 200 for r in replay)} errors, stored twice {twice}")
    ok = (ev["errors"] == 0 and accepted == sent == len(distinct) and lost == 0 and twice == 0 and bad == 0
          and replay_dupes == min(args.replay, n_batches) * args.batch)
    log(f"  target (events in = events stored, none lost, a replay stored once): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
