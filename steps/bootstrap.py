"""Makes a step script runnable inside a SageMaker container that lacks a package it needs.

The SKLearn containers ship numpy, pandas, scikit-learn and boto3 but not, for example, kneed or
awswrangler. `ensure_packages` installs a missing one with pip, and does nothing at all when the
import already works (always the case locally, where the project is installed).
"""
from __future__ import annotations

import importlib
import subprocess
import sys


def ensure_packages(requirements: dict[str, str]) -> None:
    """Import each module name, pip-installing its requirement spec only when the import fails."""
    missing = []
    for module, spec in requirements.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(spec)
    if missing:
        print(f"installing {', '.join(missing)} (not in this container)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)
        importlib.invalidate_caches()
