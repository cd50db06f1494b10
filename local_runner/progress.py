"""Progress on the terminal while the local runner works: which step, elapsed time, its last log line.

On a terminal one line per step is redrawn in place while it runs; elsewhere (CI, a pipe) a line is
printed once a step has run for `announce_after` seconds, then every `heartbeat` seconds, and when
it ends (with the step's last log line: what it reported last).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from local_runner.executions import shown_status

TOOLKIT_LOGGER = "sagemaker-training-toolkit"


def last_line(path: Path | None, limit: int = 4096) -> str:
    """The last non-empty line of a (growing) log file, cheaply: only its tail is read."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            chunk = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    # Progress bars redraw with \r: the text after the last one is what a terminal shows.
    lines = [line.rsplit("\r", 1)[-1].strip() for line in chunk.splitlines()]
    # The runner's own first line ("$ python ...") is not news from the step, nor is the training
    # toolkit's bookkeeping ("Reporting training SUCCESS") when the script itself said something.
    lines = [line for line in lines if line and not line.startswith("$ ")]
    own = [line for line in lines if TOOLKIT_LOGGER not in line]
    return (own or lines)[-1] if lines else ""


def tail(path: Path | None, lines: int = 20) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Progress:
    """Prints the runner's progress to `stream` (stdout by default)."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None,
                 heartbeat: float = 15.0, announce_after: float = 2.0, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.heartbeat = heartbeat
        self.announce_after = announce_after
        self.quiet = quiet
        self._label = ""
        self._started = 0.0
        self._last_beat = 0.0
        self._drawn = False
        self._announced = False

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text)
            self.stream.flush()

    def message(self, text: str) -> None:
        self._clear()
        self._write(text + "\n")

    def step_started(self, index: int, total: int, name: str, kind: str,
                     aliases: dict[str, str] | None = None) -> None:
        """`aliases`: local folder -> what to show instead (the container path the step knows)."""
        self._aliases = aliases or {}
        self._label = f"{f'[{index}/{total}]':>7} {name:<17} {kind:<13}"
        self._started = self._last_beat = time.monotonic()
        self._announced = False

    def step_tick(self, log_file: Path | None) -> None:
        elapsed = time.monotonic() - self._started
        line = last_line(log_file)
        for folder, shown in getattr(self, "_aliases", {}).items():
            line = line.replace(folder, shown)
        if self.live:
            width = shutil.get_terminal_size((100, 20)).columns
            text = f"{self._label} running {fmt_seconds(elapsed):>7} | {line}"
            self._write("\r" + text[: width - 1].ljust(width - 1))
            self._drawn = True
        elif (not self._announced and elapsed >= self.announce_after) or \
                (self._announced and time.monotonic() - self._last_beat >= self.heartbeat):
            # A quick step (cache hit, condition, a second's work) gets its final line only.
            self._announced = True
            self._last_beat = time.monotonic()
            self._write(f"{self._label} running {fmt_seconds(elapsed):>7}{' | ' + line if line else ''}\n")

    def _clear(self) -> None:
        if self._drawn:
            width = shutil.get_terminal_size((100, 20)).columns
            self._write("\r" + " " * (width - 1) + "\r")
            self._drawn = False

    def step_finished(self, status: str, note: str = "", elapsed: float | None = None) -> None:
        self._clear()
        took = fmt_seconds(time.monotonic() - self._started if elapsed is None else elapsed)
        self._write(f"{self._label} {status:<9} {took:>7}{'  ' + note if note else ''}\n")

    def step_skipped(self, index: int, total: int, name: str, kind: str, reason: str) -> None:
        self._clear()
        shown = shown_status("NotRun", reason)
        self._write(f"{f'[{index}/{total}]':>7} {name:<17} {kind:<13} {shown:<9} {'':>7}  {reason}\n")
