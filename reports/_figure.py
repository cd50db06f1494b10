"""matplotlib set up once for every report plot: the Agg backend, and PNGs that repeat byte for byte."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)

PNG_METADATA = {"Software": None}   # no library version in the bytes


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)
    return path
