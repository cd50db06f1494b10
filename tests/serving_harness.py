"""The SKLearn container's single-model serving app, wired from sagemaker_containers' public classes.

`sagemaker_sklearn_container.serving:main` (the WSGI app gunicorn serves in the
sagemaker-scikit-learn image) is not published as a package, so these lines do what it does, in
our own words: import the user module named by SAGEMAKER_PROGRAM (from the code folder that
gunicorn's --pythonpath puts on sys.path), build a `transformer.Transformer` from its model_fn and
either its transform_fn or its input_fn/predict_fn/output_fn (a module with both is refused),
call `initialize()` (model_fn on <SAGEMAKER_BASE_DIR>/model), and serve `worker.Worker` with the
transformer's `transform` as /invocations and the default /ping. Built on the first request, as
the container does. Run only under the step environment's Python (.venv-steps holds the image's
sagemaker-containers, flask, gunicorn and gevent): `gunicorn -k gevent serving_harness:main`.
"""
from __future__ import annotations

import importlib
import logging

from sagemaker_containers.beta.framework import env, transformer, worker

SPLIT_HOOKS = ("input_fn", "predict_fn", "output_fn")
_app: worker.Worker | None = None


def build_app() -> worker.Worker:
    serving_env = env.ServingEnv()
    module = importlib.import_module(serving_env.module_name)
    logging.getLogger("serving_harness").warning("serving module %s from %s", module.__name__, module.__file__)
    split = {name: getattr(module, name) for name in SPLIT_HOOKS if hasattr(module, name)}
    transform_fn = getattr(module, "transform_fn", None)
    if transform_fn is not None and split:
        raise RuntimeError(f"{module.__file__} defines transform_fn and {sorted(split)}: the container refuses it")
    if transform_fn is not None:
        serving = transformer.Transformer(model_fn=module.model_fn, transform_fn=transform_fn)
    else:  # the container fills a missing hook with its default; ours always has all three then
        serving = transformer.Transformer(model_fn=module.model_fn, **split)
    serving.initialize()
    return worker.Worker(transform_fn=serving.transform, module_name=serving_env.module_name)


def main(environ, start_response):
    global _app
    if _app is None:
        _app = build_app()
    return _app(environ, start_response)
