"""Parameter values are checked up front with clear messages (issue 21, item 15).

One parameter model (pipeline.parameters.ParameterSpec: choices, minimum, maximum) and one check
(`check_parameters`), used by `myflix run -p`, `myflix pipeline start -p`, `myflix pipeline schedule
set -p` and the Studio (its parameter list, and a recorded value outside them flagged).
"""
from __future__ import annotations

import io
import json

import pytest

from cli.main import main
from pipeline import parameters

BAD = [("min_rating=nan", "finite"), ("max_feature_psi=inf", "finite"), ("seed=99999999999", "seed must be from 0"),
       ("scaler=robust", "standard, minmax"), ("max_bad_fraction=2", "from 0 to 1"),
       ("min_recall_at_k=-0.5", "from 0 to 1"), ("k_min=1", "from 2 to 10,000"), ("k_max=many", "takes an integer"),
       ("enable_network_isolation=maybe", "true or false"), ("max_rows=0", "at least 1")]


@pytest.mark.parametrize("assignment, words", BAD)
def test_check_parameters_names_the_value_and_what_is_allowed(assignment, words):
    name, value = assignment.split("=")
    with pytest.raises(parameters.ParameterError, match=words):
        parameters.check_parameters({name: value})


def test_the_allowed_values_live_on_the_parameter_specs():
    specs = {s.name: s for s in parameters.parameter_specs("b")}
    assert specs["scaler"].choices == ("standard", "minmax")
    assert (specs["max_bad_fraction"].minimum, specs["max_bad_fraction"].maximum) == (0, 1)
    assert specs["seed"].maximum == 2**32 - 1
    assert parameters.check_parameters({"seed": "7", "scaler": "minmax", "k_min": "3", "k_max": "9"}) == {
        "seed": 7, "scaler": "minmax", "k_min": 3, "k_max": 9}
    with pytest.raises(parameters.ParameterError, match="k_min=10 is above k_max=5"):
        parameters.check_parameters({"k_min": "10", "k_max": "5"})


@pytest.mark.parametrize("assignment, words", BAD[:5])
def test_myflix_run_refuses_before_it_starts(tmp_path, capsys, assignment, words):
    assert main(["run", "--no-serve", "--workdir", str(tmp_path), "-p", assignment]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "executions").exists()


def test_pipeline_start_and_schedule_set_use_the_same_check(capsys, monkeypatch, tmp_path, aws_credentials):
    for var, value in {"AWS_DEFAULT_REGION": "eu-west-1", "MYFLIX_REGION": "eu-west-1",
                       "MYFLIX_ROLE_ARN": "arn:aws:iam::111122223333:role/r", "MYFLIX_BUCKET": "myflix-b",
                       "MYFLIX_CONFIG": str(tmp_path / "c.json")}.items():
        monkeypatch.setenv(var, value)
    assert main(["pipeline", "start", "-p", "scaler=robust"]) == 2
    assert "use one of standard, minmax" in capsys.readouterr().err
    assert main(["pipeline", "schedule", "set", "rate(1 day)", "-p", "max_bad_fraction=2"]) == 2
    assert "max_bad_fraction must be from 0 to 1" in capsys.readouterr().err


def test_the_studio_lists_the_allowed_values(tmp_path):
    from studio import make_app
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/studio/api/parameters", "HTTP_HOST": "127.0.0.1:8000",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "wsgi.input": io.BytesIO(b"")}
    seen = {}
    body = b"".join(make_app(tmp_path)(environ, lambda status, headers: seen.setdefault("status", status)))
    params = {p["name"]: p for p in json.loads(body)["parameters"]}
    assert seen["status"].startswith("200")
    assert params["scaler"]["choices"] == ["standard", "minmax"] and params["seed"]["maximum"] == 2**32 - 1
    from studio import views
    assert "finite" in views._parameter_problem("min_rating", float("nan"))
    assert views._parameter_problem("seed", 42) is None


@pytest.mark.parametrize("flag", ["-p", "--param"])
def test_one_parser_one_spelling_one_message_for_every_command(capsys, monkeypatch, tmp_path, flag):
    """run, pipeline start and schedule set take `-p/--param` and refuse an unknown name, a value
    without `=` and an empty value whose default is not empty, each with the same words."""
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1", "MYFLIX_REGION": "eu-west-1",
                       "MYFLIX_ROLE_ARN": "arn:aws:iam::111122223333:role/r", "MYFLIX_BUCKET": "myflix-b",
                       "MYFLIX_CONFIG": str(tmp_path / "c.json")}.items():
        monkeypatch.setenv(var, value)
    commands = (["run", "--no-serve", "--workdir", str(tmp_path / "w")], ["pipeline", "start"],
                ["pipeline", "schedule", "set", "rate(1 day)", "--role-arn", "arn:aws:iam::1:role/s"])
    for given, words in (("k_overide=3", "-p k_overide: no such pipeline parameter (did you mean k_override?)"),
                         ("k_override", "-p 'k_override': write a parameter as NAME=VALUE"),
                         ("title_type=", "-p title_type=: SageMaker refuses empty parameter values")):
        for command in commands:
            assert main([*command, flag, given]) == 2, (command, given)
            assert words in capsys.readouterr().err, (command, given)
    assert not (tmp_path / "w" / "executions").exists()


def test_the_parser_types_and_drops_what_omitting_gives():
    assert parameters.parse_overrides(["k_max=030", "min_rating=5", "scaler=minmax", "basics_uri=",
                                       "enable_network_isolation=false"]) == {
        "k_max": "30", "min_rating": "5.0", "scaler": "minmax", "enable_network_isolation": "false"}
    with pytest.raises(parameters.ParameterError, match="-p k_min=9 is above k_max=5"):
        parameters.parse_overrides(["k_min=9", "k_max=5"])
