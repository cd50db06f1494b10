"""SIGTERM to `myflix run` ends the running step's whole process group (issue 21, item 13).

A harness process runs a step command the way the local runner does (LocalRunner._execute) under
`myflix run`'s own SIGTERM handling; the step starts a grandchild. After SIGTERM to the harness,
neither the step nor its grandchild may be left running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HARNESS = r'''
import os, sys
from pathlib import Path
from operations.local_run import sigterm_as_interrupt
from local_runner.runner import LocalRunner
work = Path(sys.argv[1])
runner = LocalRunner(work, pipeline_name="p", region="us-east-1")
step = ("import os, subprocess, sys, time; child = subprocess.Popen(['sleep', '120']); "
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}'); time.sleep(120)")
with sigterm_as_interrupt():
    try:
        runner._execute([sys.executable, "-c", step, str(work / "pids")], dict(os.environ), cwd=work / "step",
                        log_file=work / "step.log", timeout=None)
    except KeyboardInterrupt:
        print("stopped", flush=True)
        sys.exit(130)
'''


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_sigterm_stops_the_step_and_what_it_started(tmp_path):
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(tmp_path)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids_file = tmp_path / "pids"
    deadline = time.monotonic() + 60
    while not (pids_file.is_file() and pids_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    step_pid, grandchild_pid = (int(p) for p in pids_file.read_text().split())
    assert running(step_pid) and running(grandchild_pid)
    try:
        harness.send_signal(signal.SIGTERM)
        out = harness.communicate(timeout=30)[0]
        deadline = time.monotonic() + 10
        while (running(step_pid) or running(grandchild_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(step_pid) and not running(grandchild_pid), out
        assert harness.returncode == 130 and "stopped" in out
    finally:
        for pid in (step_pid, grandchild_pid):
            if running(pid):
                os.kill(pid, signal.SIGKILL)
