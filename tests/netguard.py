"""A test helper: refuse every connection and name lookup that is not loopback, and record it."""
from __future__ import annotations

import contextlib
import socket
from typing import Iterator

LOOPBACK = ("127.0.0.1", "::1")


@contextlib.contextmanager
def loopback_only() -> Iterator[list]:
    """Yields the list of refused attempts; the caller asserts it stayed empty."""
    attempts: list = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address, *args):
        # servers this very process starts on 127.0.0.1 (the smoke test's endpoint, say) are fine
        if self.family == socket.AF_UNIX or (isinstance(address, tuple) and address[0] in LOOPBACK):
            return real_connect(self, address)
        attempts.append(address)
        raise OSError(f"network blocked in tests: {address}")

    def getaddrinfo(host, *args, **kwargs):
        if host in ("localhost", *LOOPBACK, None):
            return real_getaddrinfo(host, *args, **kwargs)
        attempts.append(host)
        raise socket.gaierror(f"network blocked in tests: {host}")

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo
