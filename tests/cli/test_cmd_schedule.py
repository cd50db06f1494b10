"""`myflix pipeline schedule show|set|off` under moto (EventBridge Scheduler and SageMaker)."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from cli.main import UserError, main
from operations import schedule

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/myflix-retrain-scheduler-{REGION}"
PIPELINE = "myflix-movie-clusters"


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path, aws_credentials):
    for var in ("MYFLIX_PIPELINE_NAME", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    for key, value in {"AWS_DEFAULT_REGION": REGION, "MYFLIX_REGION": REGION,
                       "MYFLIX_CONFIG": str(tmp_path / "myflix.json")}.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def account():
    with mock_aws():
        sm = boto3.client("sagemaker", region_name=REGION)
        definition = {"Version": "2020-12-01", "Steps": [],
                      "Parameters": [{"Name": "min_votes", "Type": "Integer", "DefaultValue": 500},
                                     {"Name": "max_similar_churn", "Type": "Float", "DefaultValue": 0.03}]}
        sm.create_pipeline(PipelineName=PIPELINE, PipelineDefinition=json.dumps(definition),
                           RoleArn=f"arn:aws:iam::{ACCOUNT}:role/myflix-sagemaker-{REGION}")
        yield boto3.client("scheduler", region_name=REGION)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["pipeline", "schedule", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_set_update_off_and_on_again(account, capsys):
    code, out, _ = run(capsys, "show")
    assert code == 0 and "no retrain schedule myflix-retrain" in out

    code, out, err = run(capsys, "set", "cron(0 3 ? * SUN *)", "--role-arn", ROLE)
    assert code == 0, err
    assert "created the retrain schedule" in out and "cron(0 3 ? * SUN *) UTC" in out
    schedule = account.get_schedule(Name="myflix-retrain")
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PIPELINE}"
    assert schedule["Target"]["RoleArn"] == ROLE
    assert schedule["Target"]["SageMakerPipelineParameters"]["PipelineParameterList"] == []

    # an update keeps the role it had, and carries parameters for the scheduled runs
    code, out, err = run(capsys, "set", "rate(1 day)", "-p", "max_similar_churn=0.05")
    assert code == 0, err
    assert "updated the retrain schedule" in out
    schedule = account.get_schedule(Name="myflix-retrain")
    assert schedule["ScheduleExpression"] == "rate(1 day)" and schedule["Target"]["RoleArn"] == ROLE
    assert schedule["Target"]["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "max_similar_churn", "Value": "0.05"}]

    code, out, _ = run(capsys, "off")
    assert code == 0 and "turned the retrain schedule off" in out
    assert account.get_schedule(Name="myflix-retrain")["State"] == "DISABLED"
    code, out, _ = run(capsys, "off")
    assert "already off" in out
    code, out, _ = run(capsys, "show")
    assert "myflix-retrain (DISABLED)" in out and "rate(1 day)" in out and "max_similar_churn=0.05" in out

    code, out, _ = run(capsys, "set", "cron(0 4 ? * MON *)")
    assert code == 0 and account.get_schedule(Name="myflix-retrain")["State"] == "ENABLED"


def test_set_refuses_bad_input_with_what_to_do(account, capsys):
    code, _, err = run(capsys, "set", "every sunday", "--role-arn", ROLE)
    assert code == 2 and "is not a schedule expression" in err and "cron(0 3 ? * SUN *)" in err
    code, _, err = run(capsys, "set", "rate(1 day)")
    assert code == 2 and "no role for the schedule: pass --role-arn" in err
    # an unknown name: the same "did you mean" as `run` and `start` (one parser), before any AWS call
    code, _, err = run(capsys, "set", "rate(1 day)", "--role-arn", ROLE, "-p", "no_such=1")
    assert code == 2 and "no_such: no such pipeline parameter" in err
    code, _, err = run(capsys, "set", "rate(1 day)", "--role-arn", ROLE, "-p", "k_overide=3")
    assert code == 2 and "did you mean k_override" in err
    code, _, err = run(capsys, "set", "rate(1 day)", "--role-arn", ROLE, "--pipeline-name", "missing")
    assert code == 2 and "setting the schedule myflix-retrain" in err
    with pytest.raises(UserError, match="NAME=VALUE"):
        schedule.parse_params(["oops"])
    # Scheduler refuses an empty parameter value: said here, not by a failed schedule at 3 a.m.
    with pytest.raises(UserError, match="omit -p title_type"):
        schedule.parse_params(["title_type="])
    # an empty value whose default is empty is what omitting it gives (as `pipeline start` does)
    assert schedule.parse_params(["basics_uri=", "k_max=9"]) == [{"Name": "k_max", "Value": "9"}]
    assert account.list_schedules()["Schedules"] == []


def test_the_role_and_name_come_from_the_config_file(account, capsys, tmp_path):
    (tmp_path / "myflix.json").write_text(json.dumps({schedule.ROLE_KEY: ROLE, schedule.NAME_KEY: "mf-retrain"}))
    code, out, err = run(capsys, "set", "rate(7 days)")
    assert code == 0, err
    assert account.get_schedule(Name="mf-retrain")["Target"]["RoleArn"] == ROLE


def test_update_request_keeps_what_update_schedule_would_drop():
    current = {"Name": "x", "GroupName": "default", "ScheduleExpression": "rate(1 day)", "State": "ENABLED",
               "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": {"Arn": "a", "RoleArn": "r"},
               "Arn": "arn:aws:scheduler:...", "CreationDate": "then", "KmsKeyArn": None}
    assert schedule.update_request(current, State="DISABLED") == {
        "Name": "x", "GroupName": "default", "ScheduleExpression": "rate(1 day)", "State": "DISABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": {"Arn": "a", "RoleArn": "r"}}
