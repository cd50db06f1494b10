"""The steps' plots, drawn outside the containers from the JSON reports the steps write.

The SageMaker SKLearn image has no matplotlib, so no job draws anything: Preprocess, TuneKMeans and
Evaluate write their figures' data into quality.json, elbow.json and evaluation.json, and
`render(folder)` draws the PNGs beside them. The local runner calls it on each step output it
stores; `myflix pipeline report` does the same for a cloud execution's downloaded outputs. The
same JSON gives the same PNG bytes (no timestamp, no library version in the file).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

# report file -> module of reports whose render(folder) draws its PNGs
RENDERERS: dict[str, str] = {
    "quality.json": "quality",
    "elbow.json": "elbow",
    "evaluation.json": "clusters",
    "drift.json": "drift",
}


def render(folder: Path, log: Callable[[str], None] | None = None) -> list[Path]:
    """Draw the PNGs of every report JSON directly in `folder`; returns the files written.

    A report that cannot be drawn (a malformed JSON, say) is reported through `log` and skipped:
    a plot never fails the step whose data it shows.
    """
    written: list[Path] = []
    folder = Path(folder)
    for name, module_name in RENDERERS.items():
        if not (folder / name).is_file():
            continue
        try:
            module = importlib.import_module(f"reports.{module_name}")
        except ModuleNotFoundError:
            continue
        try:
            written += module.render(folder)
        except (ValueError, KeyError, TypeError, IndexError, OSError) as err:
            if log:
                log(f"could not draw the plots of {folder / name}: {type(err).__name__}: {err}")
    return written
