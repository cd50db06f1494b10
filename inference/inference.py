"""The serving handler for SageMaker's SKLearn container: model_fn, input_fn, predict_fn, output_fn.

Self-contained on purpose: TrainKMeans copies this file into the model artefact's `code/` folder
and the container runs it with no project code, so it imports only the standard library, numpy,
scikit-learn and joblib. It loads the one artefact of docs/CONTRACTS.md (model.joblib = a
Pipeline(scaler, kmeans), model.json with the feature order and model.joblib's sha256), turns a
request into a feature matrix, and answers with each movie's cluster, its distance to the
cluster's centre and its scaled feature vector (the API ranks movies in that scaled space).

Bad input raises `InputError`, whose message names the field; the local endpoint answers it with
a 400, and in the SageMaker container it carries status 400 as well when the inference toolkit
is there.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np

_LOADED: dict = {}   # the model this process loaded last (the container serves one model)

MODEL_JOBLIB = "model.joblib"
MODEL_JSON = "model.json"
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
MAX_ROWS = 10000     # one request, not a batch transform: keeps a Lambda-sized answer
# Column names IMDb gives its genres; used to spot the genre columns when model.json does not
# list them (the serving side never imports the project's schema module).
IMDB_GENRES = frozenset((
    "Action", "Adult", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary",
    "Drama", "Family", "Fantasy", "Film-Noir", "Game-Show", "History", "Horror", "Music",
    "Musical", "Mystery", "News", "Reality-TV", "Romance", "Sci-Fi", "Short", "Sport",
    "Talk-Show", "Thriller", "War", "Western"))

try:  # inside the SageMaker container, the toolkit turns this error class into its status code
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except Exception:  # noqa: BLE001 - any import problem just means "not in that container"
    _ToolkitError = None


class InputError(ValueError):
    """A request the model cannot answer; `field` names the offending feature (or None)."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


if _ToolkitError is not None:  # pragma: no cover - only inside the container
    class InputError(InputError, _ToolkitError):  # type: ignore[no-redef]  # noqa: F811
        def __init__(self, message: str, field: str | None = None):
            ValueError.__init__(self, message)
            self.message, self.field = message, field
            self.status_code, self.phrase = 400, message


class ModelArtefactError(RuntimeError):
    """The model folder is not the artefact this handler expects (missing file, wrong digest)."""


class Model:
    """The loaded artefact: the fitted pipeline split into its scaler part and its k-means."""

    def __init__(self, pipeline, meta: dict):
        self.pipeline = pipeline
        self.meta = meta
        self.features: list[str] = list(meta["features"])
        self.genres: list[str] = list(meta.get("genres") or [f for f in self.features if f in IMDB_GENRES])
        steps = getattr(pipeline, "steps", None)
        if not steps:
            raise ModelArtefactError("model.joblib is not a scikit-learn Pipeline(scaler, kmeans)")
        self.kmeans = steps[-1][1]
        self.scaler = pipeline[:-1] if len(steps) > 1 else None
        centers = getattr(self.kmeans, "cluster_centers_", None)
        if centers is None:
            raise ModelArtefactError("the last step of model.joblib has no cluster_centers_: not a fitted k-means")
        self.centers = np.asarray(centers, dtype=np.float64)
        if self.centers.shape[1] != len(self.features):
            raise ModelArtefactError(
                f"model.json lists {len(self.features)} features but the k-means has {self.centers.shape[1]}")

    @property
    def k(self) -> int:
        return int(self.centers.shape[0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(model_dir) -> Model:
    """Load model.joblib after checking its sha256 against model.json (never unpickle a stranger)."""
    import joblib  # imported here so that input parsing works (and is testable) without it

    folder = Path(model_dir)
    meta_path, model_path = folder / MODEL_JSON, folder / MODEL_JOBLIB
    for path in (meta_path, model_path):
        if not path.is_file():
            raise ModelArtefactError(f"{path} is missing: the model folder must hold {MODEL_JOBLIB} and {MODEL_JSON}")
    meta = json.loads(meta_path.read_text())
    if not meta.get("features"):
        raise ModelArtefactError(f"{meta_path} has no 'features' list")
    expected = (meta.get("sha256") or {}).get(MODEL_JOBLIB)
    if not expected:
        raise ModelArtefactError(f"{meta_path} records no sha256 for {MODEL_JOBLIB}: refusing to load it")
    actual = _sha256(model_path)
    if actual != expected:
        raise ModelArtefactError(
            f"{model_path} has sha256 {actual} but {meta_path} records {expected}: the artefact was altered; rebuild it")
    return Model(joblib.load(model_path), meta)


# --- input --------------------------------------------------------------------------------------

def _number(value, field: str, row: int | None) -> float:
    where = f" (row {row})" if row is not None else ""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InputError(f"feature '{field}'{where}: {value!r} is not a number", field) from None
    else:
        raise InputError(f"feature '{field}'{where}: expected a number, got {type(value).__name__}", field)
    if not math.isfinite(number):
        raise InputError(f"feature '{field}'{where}: {value!r} is not a finite number", field)
    return number


def _row_from_object(obj, features: list[str], genres: list[str], row: int | None) -> list[float]:
    where = f" (row {row})" if row is not None else ""
    if not isinstance(obj, dict):
        raise InputError(f"each movie must be a JSON object of named features{where}, got {type(obj).__name__}")
    values = dict(obj)
    genre_list = values.pop("genres", None)
    if genre_list is not None:
        if isinstance(genre_list, str):  # the catalogue's own spelling: "Action,Sci-Fi"
            genre_list = [g for g in (part.strip() for part in genre_list.split(",")) if g]
        if not isinstance(genre_list, list) or not all(isinstance(g, str) for g in genre_list):
            raise InputError(f"'genres'{where} must be a list of genre names, like [\"Action\", \"Drama\"]", "genres")
        unknown = sorted(set(genre_list) - set(genres))
        if unknown:
            raise InputError(f"'genres'{where}: unknown genre(s) {unknown}; known: {genres}", "genres")
        for genre in genres:
            values.setdefault(genre, 1.0 if genre in genre_list else 0.0)
    unknown = sorted(set(values) - set(features))
    if unknown:
        raise InputError(f"unknown feature(s) {unknown}{where}; the model reads {features}", unknown[0])
    missing = [name for name in features if name not in values]
    if missing:
        if genres and set(genres) <= set(missing):
            # no genre given at all: one 'genres' entry reads better than every genre column
            missing = [name for name in missing if name not in genres] + ["genres"]
        raise InputError(f"missing feature(s) {missing}{where} (genre columns can be given as a 'genres' list)",
                         missing[0])
    return [_number(values[name], name, row) for name in features]


def parse_json(body, features: list[str], genres: list[str]) -> np.ndarray:
    """One movie (object), a list of movies, or {"instances": [...]}: a (n, features) float matrix."""
    try:
        data = json.loads(body) if isinstance(body, (str, bytes, bytearray)) else body
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"the body is not valid JSON: {err}") from None
    if isinstance(data, dict) and "instances" in data:
        data = data["instances"]
        if not isinstance(data, list):
            raise InputError("'instances' must be a list of movies", "instances")
    if isinstance(data, dict):
        rows = [_row_from_object(data, features, genres, None)]
    elif isinstance(data, list):
        if not data:
            raise InputError("no movies in the request: send one object or a non-empty list")
        if len(data) > MAX_ROWS:
            raise InputError(f"{len(data)} movies in one request; at most {MAX_ROWS}")
        rows = []
        for i, item in enumerate(data):
            if isinstance(item, list):  # already in feature order
                if len(item) != len(features):
                    raise InputError(f"row {i} has {len(item)} values; the model reads {len(features)}: {features}")
                rows.append([_number(v, name, i) for v, name in zip(item, features)])
            else:
                rows.append(_row_from_object(item, features, genres, i))
    else:
        raise InputError(f"expected a JSON object or list of movies, got {type(data).__name__}")
    return np.asarray(rows, dtype=np.float64)


def parse_csv(body, features: list[str]) -> np.ndarray:
    """Rows of numbers in the feature order; a header line naming the features is allowed."""
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
    lines = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    if lines and [cell.strip() for cell in lines[0]] == features:
        lines = lines[1:]
    if not lines:
        raise InputError("no rows in the CSV body")
    if len(lines) > MAX_ROWS:
        raise InputError(f"{len(lines)} rows in one request; at most {MAX_ROWS}")
    rows = []
    for i, line in enumerate(lines):
        if len(line) != len(features):
            raise InputError(f"CSV row {i} has {len(line)} values; the model reads {len(features)} in this order: {features}")
        rows.append([_number(cell, name, i) for cell, name in zip(line, features)])
    return np.asarray(rows, dtype=np.float64)


def _features_of(model) -> tuple[list[str], list[str]]:
    if isinstance(model, Model):
        return model.features, model.genres
    raise InputError("input_fn needs the loaded model to know the feature order")


def input_fn(request_body, request_content_type: str, model: Model | None = None) -> np.ndarray:
    """Parse a request into a feature matrix in the model's order.

    The SKLearn container calls input_fn(body, content_type) without the model; the feature order
    then comes from the model this process loaded last (one model per container).
    """
    model = model or _LOADED.get("model")
    features, genres = _features_of(model)
    content_type = (request_content_type or "application/json").split(";")[0].strip().lower()
    if content_type in JSON_TYPES:
        return parse_json(request_body, features, genres)
    if content_type in CSV_TYPES:
        return parse_csv(request_body, features)
    raise InputError(f"content type {request_content_type!r} is not supported: send application/json or text/csv")


def predict_fn(input_data: np.ndarray, model: Model) -> dict:
    """Cluster, distance to the cluster's centre and the scaled vector of every row."""
    matrix = np.asarray(input_data, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(model.features):
        raise InputError(f"expected rows of {len(model.features)} features, got shape {matrix.shape}")
    scaled = model.scaler.transform(matrix) if model.scaler is not None else matrix
    scaled = np.asarray(scaled, dtype=np.float64)
    # nearest centre computed here rather than kmeans.predict: the same numbers give the distance
    d2 = ((scaled[:, None, :] - model.centers[None, :, :]) ** 2).sum(axis=2)
    clusters = d2.argmin(axis=1)
    distances = np.sqrt(d2[np.arange(len(clusters)), clusters])
    return {
        "predictions": [
            {"cluster": int(c), "distance": float(d), "scaled": [float(x) for x in row]}
            for c, d, row in zip(clusters, distances, scaled, strict=True)
        ],
        "features": model.features,
        "k": model.k,
    }


def output_fn(prediction: dict, accept: str = "application/json"):
    """The answer as a JSON document (body, content type); never JSON wrapped in a string."""
    accept = (accept or "application/json").split(";")[0].strip().lower()
    if accept not in ("application/json", "*/*", ""):
        raise InputError(f"accept type {accept!r} is not supported: ask for application/json")
    return json.dumps(prediction), "application/json"


def model_fn(model_dir: str) -> Model:
    """The container's loader: load_model, remembered for input_fn's feature order."""
    model = load_model(model_dir)
    _LOADED["model"] = model
    return model


def invoke(model: Model, body, content_type: str = "application/json", accept: str = "application/json") -> dict:
    """The whole container chain in one call (the local endpoint and the API's local mode use it)."""
    data = input_fn(body, content_type, model)
    answer, _ = output_fn(predict_fn(data, model), accept)
    return json.loads(answer)


if __name__ == "__main__":  # python inference.py <model_dir> '<json>' : a quick manual check
    import sys

    loaded = model_fn(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    print(json.dumps(invoke(loaded, sys.argv[2] if len(sys.argv) > 2 else sys.stdin.read()), indent=2))
