"""TuneKMeans's plot from elbow.json: the inertia curve with the knee (and any override) marked."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reports._figure import plt, save

ELBOW_PNG = "elbow.png"


def render(folder: Path) -> list[Path]:
    record = json.loads((folder / "elbow.json").read_text(encoding="utf-8"))
    return [plot_elbow(record, folder / ELBOW_PNG)]


def plot_elbow(record: dict, path: Path) -> Path:
    ks, inertia = np.array(record["k"]), np.array(record["inertia"])
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(ks, inertia, marker="o", markersize=3, linewidth=1.2, color="tab:blue", label="inertia")
    knee = record.get("knee_k")
    if knee is not None:
        ax.axvline(knee, color="tab:red", linestyle="--", linewidth=1)
        ax.plot([knee], [inertia[ks == knee][0]], marker="o", markersize=9, color="tab:red",
                label=f"knee k={knee} (Kneedle)")
    if record["method"] != "kneedle":
        chosen = record["chosen_k"]
        label = (f"override k={chosen}" if record["method"] == "override"
                 else f"fallback k={chosen} (no knee found)")
        ax.axvline(chosen, color="tab:green", linestyle=":", linewidth=1.5)
        ax.plot([chosen], [inertia[ks == chosen][0]], marker="s", markersize=9, color="tab:green", label=label)
    ax.set_xlabel("k (clusters)")
    ax.set_ylabel("inertia (sum of squared distances, scaled features)")
    movies = f" over {record['n_movies']:,} movies" if record.get("n_movies") else ""
    ax.set_title(f"k-means elbow{movies}: chosen k = {record['chosen_k']} ({record['method']})")
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, path)
