"""Which Python the local runner starts steps with: the step environment, the image's packages.

A SageMaker job runs its script with the SKLearn image's /opt/venv; locally the same packages live
in `.venv-steps` (built by `make steps-env` from local_runner/step-env.txt). Running steps there,
and not in the project's own environment, is what makes a step that imports a package the image
lacks (matplotlib, kneed, awswrangler) fail locally exactly as it would on AWS.

Resolution: the `MYFLIX_STEP_PYTHON` environment variable (a python executable), else
`<repo>/.venv-steps/bin/python`. A missing environment is an error that says how to build it,
never a silent fall-back to the project's Python.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STEP_ENV_DIR = REPO_ROOT / ".venv-steps"
STEP_ENV_LOCK = Path(__file__).with_name("step-env.txt")
ENV_VAR = "MYFLIX_STEP_PYTHON"


class StepEnvError(RuntimeError):
    """The step environment is missing or broken: the message says how to build it."""


def step_python() -> str:
    """The python executable steps run with (absolute path)."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise StepEnvError(f"{ENV_VAR}={configured} is not an executable python: point it at the "
                               "step environment's python (.venv-steps/bin/python) or unset it")
        return str(path.absolute())
    python = STEP_ENV_DIR / "bin" / "python"
    if not python.exists():
        raise StepEnvError(f"the step environment {STEP_ENV_DIR} is missing: run `make steps-env` "
                           "(it installs the SageMaker SKLearn image's packages, listed in "
                           f"{STEP_ENV_LOCK.relative_to(REPO_ROOT)}, so local steps run as in the job)")
    return str(python)


def pinned_versions(lock: Path = STEP_ENV_LOCK) -> dict[str, str]:
    """{package name (lower case): version} as the lock file pins them."""
    versions: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            versions[name.strip().lower()] = version.strip()
    return versions
