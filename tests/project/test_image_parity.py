"""The project and its step environment against the SKLearn image they stand for."""
from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import joblib
import sklearn
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from local_runner import step_env

REPO = Path(__file__).resolve().parents[2]
IMAGE_LACKS = ("matplotlib", "kneed", "awswrangler", "mlflow")


def test_the_project_pins_the_images_scikit_learn():
    image = step_env.pinned_versions()["scikit-learn"]
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert f"scikit-learn=={image}" in config["options"]["install_requires"].split()
    assert sklearn.__version__ == image


def test_the_step_environment_has_the_images_versions_and_lacks_what_it_lacks():
    pins = step_env.pinned_versions()
    wanted = ["sklearn", "pandas", "pyarrow", "joblib", "sagemaker_training", "sagemaker_containers"]
    distributions = ["scikit-learn", "pandas", "pyarrow", "joblib", "sagemaker-training", "sagemaker-containers"]
    script = ("import importlib, importlib.metadata as m, json\n"
              f"print(json.dumps({{n: m.version(n) for n in {distributions!r}}}))\n"
              f"for name in {list(IMAGE_LACKS)!r}:\n"
              "    try:\n        importlib.import_module(name)\n        print('HAS', name)\n"
              "    except ImportError:\n        pass\n"
              f"for name in {wanted!r}:\n    importlib.import_module(name)\n")
    out = subprocess.run([step_env.step_python(), "-c", script], capture_output=True, text=True, check=True).stdout
    versions, *rest = out.splitlines()
    import json
    assert json.loads(versions) == {name: pins[name] for name in json.loads(versions)}
    assert rest == []                                    # none of the packages the image lacks


def test_a_model_pickled_here_loads_in_the_image_without_a_warning(tmp_path):
    import numpy as np
    X = np.random.default_rng(0).normal(size=(200, 4))
    model = Pipeline([("scaler", StandardScaler()), ("kmeans", KMeans(3, n_init=1, random_state=0))]).fit(X)
    joblib.dump(model, tmp_path / "model.joblib")
    script = ("import joblib, warnings, numpy as np\nwarnings.simplefilter('error')\n"
              f"m = joblib.load({str(tmp_path / 'model.joblib')!r})\n"
              "print(m.predict(np.zeros((1, 4)))[0])\n")
    result = subprocess.run([step_env.step_python(), "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr            # an InconsistentVersionWarning would fail it
    assert int(result.stdout) == int(model.predict(np.zeros((1, 4)))[0])


def test_a_missing_step_environment_says_how_to_build_it(monkeypatch, tmp_path):
    import pytest
    monkeypatch.delenv(step_env.ENV_VAR, raising=False)
    monkeypatch.setattr(step_env, "STEP_ENV_DIR", tmp_path / "nowhere")
    with pytest.raises(step_env.StepEnvError, match="make steps-env"):
        step_env.step_python()
    monkeypatch.setenv(step_env.ENV_VAR, str(tmp_path / "no-python"))
    with pytest.raises(step_env.StepEnvError, match="not an executable python"):
        step_env.step_python()
