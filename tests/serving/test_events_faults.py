"""Viewer events under faults, through a real `myflix serve` process on 127.0.0.1.

A server killed with SIGKILL while clients send batches loses no acknowledged event and leaves no
half-written file that a reader would take for events; after a restart over the same folder every
batch, sent again, is stored exactly once (the acknowledged ones answered as duplicates).
"""
from __future__ import annotations

import http.client
import json
import threading
import time

from benchmarks.bench_events import make_batches, stored_ids
from benchmarks.http_load import ServerProcess


def post(address, body: bytes) -> tuple[int, dict | None]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("POST", "/events", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def send_until_killed(server: ServerProcess, bodies: list[bytes], batches: list[dict], acked: set[str],
                      kill_after: int) -> None:
    """Eight clients send the batches; the server is SIGKILLed once `kill_after` batches were acknowledged."""
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    answered = [0]

    def client() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            try:
                status, _ = post(server.address, bodies[i])
            except OSError:     # the server is gone: this batch was never acknowledged
                return
            if status == 200:
                with lock:
                    acked.update(e["event_id"] for e in batches[i]["events"])
                    answered[0] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while answered[0] < kill_after and time.monotonic() < deadline:
        time.sleep(0.002)
    server.proc.kill()            # SIGKILL: no handler, no flush, no cleanup
    server.proc.wait()
    for thread in threads:
        thread.join()


def test_a_killed_server_loses_no_acknowledged_event_and_a_replay_is_stored_once(tmp_path):
    batches = make_batches(400, 20, seed=11)
    bodies = [json.dumps(b).encode() for b in batches]
    acked: set[str] = set()
    for round_, kill_after in enumerate((40, 120)):       # killed twice, at different points
        server = ServerProcess("waitress", tmp_path)
        try:
            send_until_killed(server, bodies, batches, acked, kill_after)
        finally:
            server.close()
        ids, _, unreadable = stored_ids(tmp_path)
        assert unreadable == 0                            # no torn line in any file a reader sees
        assert acked <= set(ids), f"round {round_}: {len(acked - set(ids))} acknowledged events lost"
        assert len(ids) == len(set(ids))                  # and nothing stored twice
    assert 0 < len(acked) < 400 * 20                      # the kills did land mid-stream
    with ServerProcess("waitress", tmp_path) as server:  # restarted: the client sends everything again
        answers = [post(server.address, body) for body in bodies]
    assert all(status == 200 for status, _ in answers)
    assert sum(a["duplicates"] for _, a in answers) >= len(acked)
    ids, _, unreadable = stored_ids(tmp_path)
    assert unreadable == 0 and len(ids) == len(set(ids)) == 400 * 20
