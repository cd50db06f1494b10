"""`myflix pipeline report`: a cloud execution's JSON reports fetched from S3 (moto), plots drawn here."""
from __future__ import annotations

import json

import boto3
import pytest
import test_cli_pipeline as cli  # tests/ is on sys.path: the same settings fixture and runner
from moto import mock_aws

from operations.reports import report_keys

env = cli.env          # the autouse fixture: fake credentials, MYFLIX_* settings, memoised definition
ELBOW = {"k": [2, 3, 4, 5], "inertia": [100.0, 60.0, 45.0, 40.0], "knee_k": 3, "chosen_k": 3,
         "method": "kneedle", "k_min": 2, "k_max": 5, "n_movies": 900}
EVALUATION = {"k": 3, "cluster_sizes": {"counts": [400, 300, 200], "max_share": 0.44}}


@pytest.fixture
def started(capsys):
    with mock_aws():
        s3 = boto3.client("s3", region_name=cli.REGION)
        s3.create_bucket(Bucket=cli.BUCKET, CreateBucketConfiguration={"LocationConstraint": cli.REGION})
        cli.run(capsys, "pipeline", "upsert")
        code, out, _ = cli.run(capsys, "pipeline", "start")
        assert code == 0
        execution_id = out.split("started ", 1)[1].split()[0].rsplit("/", 1)[1]
        yield s3, execution_id


def test_reports_are_downloaded_and_drawn(started, capsys, tmp_path):
    s3, execution_id = started
    keys = {(step, name.rsplit("/", 1)[1]): name
            for step, _, name in report_keys("myflix-movie-clusters", execution_id)}
    s3.put_object(Bucket=cli.BUCKET, Key=keys[("TuneKMeans", "elbow.json")], Body=json.dumps(ELBOW))
    s3.put_object(Bucket=cli.BUCKET, Key=keys[("Evaluate", "evaluation.json")], Body=json.dumps(EVALUATION))
    out_dir = tmp_path / "report"
    code, out, err = cli.run(capsys, "pipeline", "report", "-o", str(out_dir))
    assert code == 0, err
    assert (out_dir / "TuneKMeans" / "elbow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out_dir / "Evaluate" / "cluster_sizes.png").is_file()
    assert not (out_dir / "Preprocess").exists()              # that report was not there: skipped
    assert "2 plot(s) drawn" in out


def test_an_execution_without_reports_says_what_to_check(started, capsys, tmp_path):
    _, execution_id = started
    code, _, err = cli.run(capsys, "pipeline", "report", execution_id, "-o", str(tmp_path / "r"))
    assert code == 2 and f"execution {execution_id} has no reports" in err and "myflix pipeline status" in err
