"""inference/inference.py: loads the real artefact (digest checked) and answers JSON and CSV,
refusing bad input by name."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from test_api_data import FEATURES, fit_model, vega_catalog, write_model

from inference import inference as handler

MATRIX = {"startYear": 1999, "runtimeMinutes": 136, "averageRating": 8.7, "numVotes": 1_900_000,
          "genres": ["Action", "Sci-Fi"]}


@pytest.fixture(scope="module")
def artefact(tmp_path_factory):
    catalog, X, _ = vega_catalog()
    model = fit_model(X, k=6)
    folder, _ = write_model(model, tmp_path_factory.mktemp("model"), k=6)
    return {"dir": folder, "model": model, "X": X}


@pytest.fixture(scope="module")
def loaded(artefact):
    return handler.model_fn(str(artefact["dir"]))


def row_of(features: dict) -> np.ndarray:
    row = np.zeros(len(FEATURES))
    for name, value in features.items():
        if name == "genres":
            for g in value:
                row[FEATURES.index(g)] = 1
        else:
            row[FEATURES.index(name)] = value
    return row


def test_answers_match_the_fitted_pipeline(artefact, loaded):
    X = artefact["X"][:50]
    rows = [dict(zip(FEATURES, map(float, r), strict=True)) for r in X]
    answer = handler.invoke(loaded, json.dumps({"instances": rows}))
    clusters = [p["cluster"] for p in answer["predictions"]]
    assert clusters == artefact["model"].predict(X).tolist()
    scaled = artefact["model"].named_steps["scaler"].transform(X)
    assert np.allclose([p["scaled"] for p in answer["predictions"]], scaled)
    centres = artefact["model"].named_steps["kmeans"].cluster_centers_
    assert np.allclose([p["distance"] for p in answer["predictions"]],
                       np.linalg.norm(scaled - centres[clusters], axis=1))
    assert answer["features"] == FEATURES and answer["k"] == 6


def test_json_shapes_and_the_genres_convenience(artefact, loaded):
    one = handler.invoke(loaded, json.dumps(MATRIX))
    listed = handler.invoke(loaded, json.dumps([MATRIX, MATRIX]))
    by_columns = {k: v for k, v in MATRIX.items() if k != "genres"}
    by_columns.update({g: (1 if g in MATRIX["genres"] else 0) for g in FEATURES[2:-2]})
    explicit = handler.invoke(loaded, json.dumps(by_columns))
    comma = handler.invoke(loaded, json.dumps({**MATRIX, "genres": "Action,Sci-Fi"}))
    expected = int(artefact["model"].predict(row_of(MATRIX)[None, :])[0])
    assert len(listed["predictions"]) == 2
    for answer in (one, listed, explicit, comma):
        assert answer["predictions"][0]["cluster"] == expected


def test_csv_rows_in_feature_order(artefact, loaded):
    X = artefact["X"][:5]
    body = "\n".join(",".join(str(v) for v in r) for r in X)
    answer = handler.invoke(loaded, body, "text/csv")
    assert [p["cluster"] for p in answer["predictions"]] == artefact["model"].predict(X).tolist()
    with_header = ",".join(FEATURES) + "\n" + body
    assert handler.invoke(loaded, with_header, "text/csv; charset=utf-8") == answer


def test_output_is_plain_json_not_a_string(loaded):
    answer = handler.respond(loaded, json.dumps(MATRIX), "application/json", "application/json")
    assert answer.status == 200 and answer.content_type == "application/json"
    assert isinstance(json.loads(answer.body), dict)


@pytest.mark.parametrize("body, content_type, field, words", [
    ({k: v for k, v in MATRIX.items() if k != "numVotes"}, "application/json", "numVotes", "missing"),
    ({**MATRIX, "budget": 3}, "application/json", "budget", "unknown feature"),
    ({"startYear": 1999, "runtimeMinutes": 136, "averageRating": 8.7, "numVotes": 2000},
     "application/json", "genres", "missing feature(s) ['genres']"),
    ({**MATRIX, "startYear": "nineteen"}, "application/json", "startYear", "not a number"),
    ({**MATRIX, "startYear": None}, "application/json", "startYear", "expected a number"),
    ({**MATRIX, "genres": ["Cartoon"]}, "application/json", "genres", "Cartoon"),
    ({**MATRIX, "genres": 3}, "application/json", "genres", "list of genre names"),
    ('{"startYear": NaN}', "application/json", None, None),
    ("{not json", "application/json", None, "not valid JSON"),
    ([], "application/json", None, "no movies"),
    ({"instances": 4}, "application/json", "instances", "must be a list"),
    ("1,2,3", "text/csv", None, "has 3 values"),
    (",".join(["1"] * 25 + ["inf"]), "text/csv", "numVotes", "not a finite number"),
    ("", "text/csv", None, "no rows"),
])
def test_bad_input_names_the_field(loaded, body, content_type, field, words):
    text = body if isinstance(body, str) else json.dumps(body)
    if text == '{"startYear": NaN}':   # Python's json reads NaN: it must still be refused by name
        text = json.dumps({**MATRIX, "startYear": float("nan")})
        field, words = "startYear", "not a finite number"
    with pytest.raises(handler.InputError) as err:
        handler.parse_request(text, content_type, loaded)
    assert err.value.status_code == 400
    assert err.value.field == field
    assert words in str(err.value)
    answer = handler.respond(loaded, text, content_type)
    assert answer.status == 400 and answer.content_type == "application/json"
    assert answer.json() == {"error": err.value.message, "field": field}


@pytest.mark.parametrize("content_type", ["application/xml", "application/x-npy", "text/plain", "image/png"])
def test_an_unread_content_type_is_415(loaded, content_type):
    answer = handler.respond(loaded, json.dumps(MATRIX), content_type)
    assert answer.status == 415, answer
    assert content_type in answer.json()["error"] and "application/json or text/csv" in answer.json()["error"]
    assert answer.json()["field"] is None


@pytest.mark.parametrize("accept, ok", [
    (None, True), ("", True), ("*/*", True), ("application/json", True), ("application/json; charset=utf-8", True),
    ("application/*", True), ("text/html, application/json;q=0.9", True), ("text/html,*/*;q=0.1", True),
    ("text/html", False), ("text/csv", False), ("application/json;q=0", False), ("image/*", False),
])
def test_accept_negotiation(loaded, accept, ok):
    answer = handler.respond(loaded, json.dumps(MATRIX), "application/json", accept)
    assert answer.status == (200 if ok else 406), answer
    if not ok:
        assert answer.json() == {"error": f"Accept {accept!r} admits no type this model answers: "
                                          "ask for application/json", "field": None}


def test_the_header_is_refused_before_the_body_is_read(loaded):
    assert handler.respond(loaded, "{broken", "text/plain", "application/json").status == 415
    assert handler.respond(loaded, "{broken", "application/json", "text/html").status == 406
    assert handler.respond(loaded, "{broken", "application/json", "*/*").status == 400


def test_a_tampered_model_is_refused(artefact, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(artefact["dir"], copy)
    with open(copy / "model.joblib", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(handler.ModelArtefactError, match="sha256"):
        handler.model_fn(str(copy))
    meta = json.loads((copy / "model.json").read_text())
    meta.pop("sha256")
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(handler.ModelArtefactError, match="no sha256"):
        handler.model_fn(str(copy))
    with pytest.raises(handler.ModelArtefactError, match="missing"):
        handler.model_fn(str(tmp_path / "nowhere"))


def test_the_artefacts_copy_runs_with_no_project_code(artefact, tmp_path):
    """As in the container: code/inference.py alone, from another folder, with only numpy/sklearn/joblib."""
    code = artefact["dir"] / "code" / "inference.py"
    script = (
        "import sys, json, importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('inference', {str(code)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"model = m.model_fn({str(artefact['dir'])!r})\n"
        f"answer = m.respond(model, {json.dumps(json.dumps(MATRIX))}, 'application/json', '*/*')\n"
        "mods = sorted({n.split('.')[0] for n in sys.modules})\n"
        "print(json.dumps({'status': answer.status, 'answer': answer.json(), 'mods': mods}))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == 200
    assert result["answer"]["predictions"][0]["cluster"] == int(artefact["model"].predict(row_of(MATRIX)[None])[0])
    assert not {"steps", "pipeline", "chalicelib", "flask", "sagemaker_containers"} & set(result["mods"]), \
        set(result["mods"])


def test_the_handler_is_the_one_the_container_accepts():
    """The SKLearn container refuses a module with transform_fn and any of input_fn/predict_fn/output_fn."""
    assert callable(handler.model_fn) and callable(handler.transform_fn)
    assert not {"input_fn", "predict_fn", "output_fn"} & set(vars(handler))
    assert issubclass(handler.InputError, ValueError)
    assert (handler.InputError.status_code, handler.UnsupportedContentType.status_code,
            handler.NotAcceptable.status_code) == (400, 415, 406)
