"""The serving handler for SageMaker's SKLearn container: model_fn and transform_fn.

Self-contained on purpose: TrainKMeans copies this file into the model artefact's `code/` folder
and the container runs it with no project code, so it imports only the standard library, numpy,
scikit-learn and joblib (and, inside the container, its sagemaker_containers). It loads the one
artefact of docs/CONTRACTS.md (model.joblib = a Pipeline(scaler, kmeans), model.json with the
feature order and model.joblib's sha256), turns a request into a feature matrix, and answers with
each movie's cluster, its distance to the cluster's centre and its scaled feature vector (the
API ranks movies in that scaled space).

Why transform_fn and not input_fn/predict_fn/output_fn: the container (sagemaker_containers'
Transformer) wraps every exception those hooks raise in its ClientError, which Flask turns into
an HTML 500, whatever status the exception carries. The only way a handler chooses its status is
to return a response, which transform_fn can do and input_fn cannot. So `respond` runs the whole
chain and turns a refused request into its status (400 bad input, 415 content type, 406 Accept)
with the JSON body {"error", "field"}; the local endpoint serves the same `respond`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

MODEL_JOBLIB = "model.joblib"
MODEL_JSON = "model.json"
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
ANSWER_TYPE = "application/json"   # the only type this handler writes
ACCEPTED_RANGES = ("application/json", "application/*", "*/*", "*")
MAX_ROWS = 10000     # one request, not a batch transform: keeps a Lambda-sized answer
# Column names IMDb gives its genres; used to spot the genre columns when model.json does not
# list them (the serving side never imports the project's schema module).
IMDB_GENRES = frozenset((
    "Action", "Adult", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary",
    "Drama", "Family", "Fantasy", "Film-Noir", "Game-Show", "History", "Horror", "Music",
    "Musical", "Mystery", "News", "Reality-TV", "Romance", "Sci-Fi", "Short", "Sport",
    "Talk-Show", "Thriller", "War", "Western"))


class InputError(ValueError):
    """A request the model cannot answer; `field` names the offending feature (or None).

    `status_code` is the HTTP status the endpoint answers it with (400; 415 and 406 below).
    """

    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class UnsupportedContentType(InputError):
    """The request's Content-Type is not one this handler reads."""

    status_code = 415


class NotAcceptable(InputError):
    """The request's Accept admits no type this handler writes."""

    status_code = 406


class ModelArtefactError(RuntimeError):
    """The model folder is not the artefact this handler expects (missing file, wrong digest)."""


class Model:
    """The loaded artefact: the fitted pipeline split into its scaler part and its k-means."""

    def __init__(self, pipeline, meta: dict):
        self.pipeline = pipeline
        self.meta = meta
        # the artefact's identity: model.joblib's sha256 as model.json records it (checked at load).
        # Every answer carries it, so the API can tell per request which model answered.
        self.digest: str | None = (meta.get("sha256") or {}).get(MODEL_JOBLIB)
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
            f"{model_path} has sha256 {actual} but {meta_path} records {expected}: "
            "the artefact was altered; rebuild it")
    return Model(joblib.load(model_path), meta)


# --- input --------------------------------------------------------------------------------------

def _number(value, field: str, row: int | None) -> float:
    where = f" (row {row})" if row is not None else ""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:          # a JSON integer of hundreds of digits
            raise InputError(f"feature '{field}'{where}: the number is too large", field) from None
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
    except RecursionError:
        raise InputError("the JSON body is nested too deeply: send a flat object or a list of them") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"the body is not valid JSON: {str(err)[:200]}") from None
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
            raise InputError(f"CSV row {i} has {len(line)} values; "
                             f"the model reads {len(features)} in this order: {features}")
        rows.append([_number(cell, name, i) for cell, name in zip(line, features)])
    return np.asarray(rows, dtype=np.float64)


def _media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def content_kind(request_content_type: str | None) -> str:
    """"json" or "csv" for a Content-Type header (none means JSON, as in the container); else 415."""
    content_type = _media_type(request_content_type) or "application/json"
    if content_type in JSON_TYPES:
        return "json"
    if content_type in CSV_TYPES:
        return "csv"
    raise UnsupportedContentType(
        f"Content-Type {request_content_type!r} is not supported: send application/json or text/csv")


def parse_request(request_body, request_content_type: str | None, model: Model) -> np.ndarray:
    """A request body as a feature matrix in the model's order (InputError, 415 for its type)."""
    if content_kind(request_content_type) == "json":
        return parse_json(request_body, model.features, model.genres)
    return parse_csv(request_body, model.features)


def negotiate(accept: str | None) -> str:
    """The answer's content type for an Accept header: application/json, or NotAcceptable (406).

    Accept may be a list with q-values ("text/html, application/json;q=0.9"); any entry that
    admits JSON with q > 0 will do. A missing Accept means "anything".
    """
    if not (accept or "").strip():
        return ANSWER_TYPE
    for entry in accept.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.lower() in ACCEPTED_RANGES and quality > 0:
            return ANSWER_TYPE
    raise NotAcceptable(f"Accept {accept!r} admits no type this model answers: ask for {ANSWER_TYPE}")


def predict(matrix: np.ndarray, model: Model) -> dict:
    """Cluster, distance to the cluster's centre and the scaled vector of every row."""
    matrix = np.asarray(matrix, dtype=np.float64)
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
        "model_sha256": model.digest,
    }


class Answer(NamedTuple):
    """An HTTP answer: status, body bytes, content type."""

    status: int
    body: bytes
    content_type: str

    def json(self) -> dict:
        return json.loads(self.body)


def error_body(err: InputError) -> bytes:
    """The endpoint's error document: {"error": message, "field": feature or null}."""
    return json.dumps({"error": err.message, "field": err.field}).encode()


def invoke(model: Model, body, content_type: str | None = "application/json",
           accept: str | None = "application/json") -> dict:
    """The prediction for one request as a dict; raises InputError (with its status) when refused."""
    content_kind(content_type)   # a wrong type (415) or Accept (406) is refused before the body is read
    negotiate(accept)
    return predict(parse_request(body, content_type, model), model)


def respond(model: Model, body, content_type: str | None = "application/json",
            accept: str | None = "application/json") -> Answer:
    """The whole request in one call, never raising for a bad request: 200 with the prediction,
    or the refusal's status (400/406/415) with {"error", "field"}. The container (transform_fn),
    the local endpoint and the API's local mode all answer through this.
    """
    try:
        prediction = invoke(model, body, content_type, accept)
    except InputError as err:
        return Answer(err.status_code, error_body(err), ANSWER_TYPE)
    return Answer(200, json.dumps(prediction).encode(), ANSWER_TYPE)


def transform_fn(model: Model, request_body, request_content_type: str, accept: str):
    """The SKLearn container's per-request hook (sagemaker_containers' Transformer calls it).

    A 200 goes back as the (body, content type) pair the Transformer turns into its response; a
    refusal goes back as a sagemaker_containers worker.Response carrying its status, since an
    exception raised here would become the container's HTML 500.
    """
    answer = respond(model, request_body, request_content_type, accept)
    if answer.status == 200:
        return answer.body, answer.content_type
    from sagemaker_containers.beta.framework import worker  # only inside the container

    return worker.Response(response=answer.body, status=answer.status, mimetype=answer.content_type)


def model_fn(model_dir: str) -> Model:
    """The container's loader (called once per worker with /opt/ml/model)."""
    return load_model(model_dir)


if __name__ == "__main__":  # python inference.py <model_dir> '<json>' : a quick manual check
    import sys

    loaded = model_fn(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    result = respond(loaded, sys.argv[2] if len(sys.argv) > 2 else sys.stdin.read())
    print(result.status, json.dumps(result.json(), indent=2))
