"""Evaluate's plot from evaluation.json: movies per cluster, the mean drawn for reference."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.ticker
import numpy as np

from reports._figure import plt, save

CLUSTER_SIZES_PNG = "cluster_sizes.png"


def render(folder: Path) -> list[Path]:
    result = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    sizes = result["cluster_sizes"]
    title = f"movies per cluster (k={result['k']}, largest share {sizes['max_share']:.1%})"
    return [plot_cluster_sizes(sizes, folder / CLUSTER_SIZES_PNG, title)]


def plot_cluster_sizes(sizes: dict, path: Path, title: str) -> Path:
    counts = sizes["counts"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.3 * len(counts)), 4.0), dpi=100)
    ax.bar(range(len(counts)), counts, color="#4c72b0")
    ax.axhline(np.mean(counts), color="#c44e52", linestyle="--", label=f"mean {np.mean(counts):.0f}")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))   # cluster ids are whole numbers
    ax.set_xlabel("cluster")
    ax.set_ylabel("movies")
    ax.set_title(title)
    ax.legend()
    return save(fig, path)
