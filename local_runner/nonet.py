"""The network guard for local step subprocesses: a `sitecustomize` that refuses connections.

The local runner puts the folder holding this file's SITECUSTOMIZE on each step's PYTHONPATH, so
every Python process a step starts refuses any socket connection or name lookup that is not
loopback (and loopback too when MYFLIX_NETWORK_ISOLATED=1: the job has network isolation), with
an error that says why. A local run thus cannot reach AWS (or anything else) even
if a step forgets MYFLIX_LOCAL_ROOT.
"""
from __future__ import annotations

from pathlib import Path

SITECUSTOMIZE = '''\
"""Written by the MyFlix local runner: a local step may not use the network (loopback is allowed,
except in a step whose job has EnableNetworkIsolation: there, as in SageMaker, nothing is)."""
import os as _os
import socket as _socket

_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0", "")
_ISOLATED = _os.environ.get("MYFLIX_NETWORK_ISOLATED") == "1"


def _refuse(target):
    if _ISOLATED:
        raise OSError("myflix local run: this step runs with network isolation (EnableNetworkIsolation, "
                      "the enable_network_isolation parameter), so no connection at all is allowed "
                      "(tried %r), as in the SageMaker job." % (target,))
    raise OSError("myflix local run: network access is blocked for pipeline steps (tried %r). "
                  "A local step must use the local stand-ins (MYFLIX_LOCAL_ROOT), not AWS." % (target,))


def _host(address):
    return address[0] if isinstance(address, tuple) and address else address


def _is_local(host):
    return not _ISOLATED and isinstance(host, str) and (host in _LOCAL or host.startswith("127."))


_connect = _socket.socket.connect
_connect_ex = _socket.socket.connect_ex
_getaddrinfo = _socket.getaddrinfo


def connect(self, address):
    if self.family in (_socket.AF_INET, _socket.AF_INET6) and not _is_local(_host(address)):
        _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (_socket.AF_INET, _socket.AF_INET6) and not _is_local(_host(address)):
        _refuse(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _is_local(host if isinstance(host, str) else str(host)):
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


_socket.socket.connect = connect
_socket.socket.connect_ex = connect_ex
_socket.getaddrinfo = getaddrinfo
'''


def install(folder: Path) -> Path:
    """Write sitecustomize.py into `folder` (created); returns the folder for PYTHONPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return folder
