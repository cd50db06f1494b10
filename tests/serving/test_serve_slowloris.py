"""Slow clients cannot starve `myflix serve` (issue 21, item 4). Real sockets on 127.0.0.1 only,
bounded in count and in time.

A request's headers must all arrive within `header_timeout` of its first byte, however they
trickle; near the connection limit the incomplete requests (oldest first) are dropped, so /health
still answers while thousands of connections trickle headers.
"""
from __future__ import annotations

import json
import socket
import time

from serving.server import MyFlixServer


def get_health(address, timeout=10.0) -> dict:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    return json.loads(body)


def test_trickled_headers_are_dropped_at_the_header_deadline(tmp_path):
    with MyFlixServer(tmp_path, port=0, quiet=True, header_timeout=2.0, channel_timeout=30.0) as server:
        sock = socket.create_connection(server.address, timeout=1.0)
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        closed_after = None
        started = time.monotonic()
        try:
            while time.monotonic() - started < 15:       # bounded: 15 s at most
                time.sleep(0.25)
                try:
                    sock.sendall(b"X")                     # one byte at a time, never idle
                    sock.setblocking(False)
                    try:
                        if sock.recv(1024) == b"":
                            closed_after = time.monotonic() - started
                            break
                    except BlockingIOError:
                        pass
                    finally:
                        sock.setblocking(True)
                except OSError:                              # reset: the server closed it
                    closed_after = time.monotonic() - started
                    break
        finally:
            sock.close()
        assert closed_after is not None, "the trickling connection was never dropped"


def test_health_answers_under_4150_slow_connections(tmp_path):
    slow: list[socket.socket] = []
    with MyFlixServer(tmp_path, port=0, quiet=True) as server:        # the defaults: 4,096 connections
        try:
            for i in range(4150):
                try:
                    sock = socket.create_connection(server.address, timeout=5.0)
                    sock.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")   # headers that never end
                except OSError:
                    continue                        # an evicted one: the attacker just lost its slot
                slow.append(sock)
            assert len(slow) > 4000
            time.sleep(1.0)
            assert get_health(server.address, timeout=10.0)["status"] in ("no table", "ok")
        finally:
            for sock in slow:
                sock.close()


def test_a_normal_keep_alive_client_is_not_taken_for_a_slow_one(tmp_path):
    with MyFlixServer(tmp_path, port=0, quiet=True, header_timeout=1.0) as server:
        with socket.create_connection(server.address, timeout=5.0) as sock:
            for _ in range(3):
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    data += sock.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                             .split(b":")[1])
                while len(rest) < length:
                    rest += sock.recv(65536)
                assert head.startswith(b"HTTP/1.1 200")
                time.sleep(1.5)                      # idle between requests: longer than the header deadline
