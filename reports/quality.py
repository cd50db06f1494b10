"""Preprocess's plots from quality.json: the startYear box plot with its fences, the runtime bins."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reports._figure import plt, save

YEAR_BOXPLOT = "year_boxplot.png"
RUNTIME_BINS = "runtime_bins.png"


def render(folder: Path) -> list[Path]:
    report = json.loads((folder / "quality.json").read_text(encoding="utf-8"))
    written = []
    fence = report.get("year_fence")
    if isinstance(fence, dict) and isinstance(fence.get("distribution"), dict):
        written.append(year_boxplot(fence, folder / YEAR_BOXPLOT))
    if isinstance(report.get("runtime_bins"), dict):
        written.append(runtime_histogram(report["runtime_bins"], folder / RUNTIME_BINS))
    return written


def years_of(distribution: dict) -> np.ndarray:
    """The fence rule's input years, rebuilt from quality.json's {years, counts}."""
    return np.repeat(np.asarray(distribution["years"], dtype=float),
                     np.asarray(distribution["counts"], dtype=int))


def year_boxplot(fence: dict, path: Path) -> Path:
    """Box plot of startYear (the fence rule's input) with the fence bounds drawn across it."""
    years = years_of(fence["distribution"])
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=130)
    if years.size:
        ax.boxplot(years, orientation="horizontal", whis=fence.get("multiplier") or 1.5, widths=0.5,
                   flierprops={"marker": ".", "markersize": 2, "alpha": 0.4})
    for key, align in (("low", "right"), ("high", "left")):
        value = fence.get(key)
        if value is not None:
            ax.axvline(value, color="tab:red", linestyle="--", linewidth=1)
            ax.text(value, 0.93, f" {key} fence {value:g} ", color="tab:red", ha=align, fontsize=8,
                    transform=ax.get_xaxis_transform())
    ax.set_yticks([])
    ax.set_xlabel("startYear")
    ax.set_title(f"startYear of {years.size:,} movies; fence: {fence.get('method', 'off')}")
    return save(fig, path)


def runtime_histogram(bins: dict, path: Path) -> Path:
    """Movies per runtime bin before and after the cap (counts from the quality report)."""
    edges = bins["edges"]
    labels = [f"{int(lo)}-{int(hi)}" if hi is not None else f">={int(lo)}"
              for lo, hi in zip(edges[:-1], edges[1:])]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=130)
    ax.bar(x - 0.2, bins["before_cap"], width=0.4, label="before the cap", color="tab:gray")
    ax.bar(x + 0.2, bins["after_cap"], width=0.4, label="after the cap", color="tab:blue")
    cap = bins.get("cap") or 0
    if cap:
        # The cap sits inside its bin: place the line at its share of that bin's width.
        finite = [e for e in edges if e is not None]
        i = max(k for k, e in enumerate(finite) if e <= cap)
        ax.axvline(i - 0.5 + (cap - finite[i]) / bins["width"], color="tab:red", linestyle="--",
                   linewidth=1, label=f"cap {cap} min")
    # Log counts: the few long films past the cap stay visible next to the big middle bins.
    ax.set_yscale("symlog", linthresh=1)
    # Headroom above the tallest bar (a log axis ends at it otherwise) and room for the legend.
    ax.set_ylim(0, max([1, *bins["before_cap"], *bins["after_cap"]]) * 6)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("runtimeMinutes")
    ax.set_ylabel("movies (log scale)")
    ax.set_title(f"runtime bins of {bins['width']} min; cap {cap} min" if cap else
                 f"runtime bins of {bins['width']} min; no cap")
    ax.legend(fontsize=8, loc="upper right", ncols=3)
    return save(fig, path)
