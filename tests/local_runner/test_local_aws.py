"""local_aws/: the one stdlib-only home of the local stand-ins, and the copies packaging forces.

- local_aws imports nothing but the standard library and itself (a job, the API Lambda and the CLI
  all need what it spells);
- its byte-identical copies (steps/local_layout.py: a job's bundle ships steps/ only;
  api/chalicelib/local_layout.py: the Lambda ships api/ only) and the small copies elsewhere (the
  deployer's S3 parser, the API's local bucket) agree with it;
- the runner imports no steps and no plots; the deployer's Lambda code imports neither the runner
  nor local_aws;
- the layout, the atomic JSON writer and the deterministic tarball behave as the stand-ins need.
"""
from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from local_aws import constants, layout, tarball

# the repository root, wherever this file sits under tests/
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "setup.cfg").is_file())
URIS = ["s3://myflix-local/raw/x.tsv.gz", "s3://myflix-local/raw/", "s3://myflix-local", "s3://b/x",
        "s3://ab/key", "s3://bucket/a/../b", "s3://bucket/..", "s3:///key", "http://bucket/key", "",
        "s3://bucket//double", "s3://.../k", "s3://my.bucket/k e y/ü", "s3://bucket/a/./b"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add((node.module or "").split(".")[0])
    return found


def test_local_aws_imports_only_the_standard_library_and_itself():
    files = sorted((ROOT / "local_aws").glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "constants.py", "layout.py", "registry.py", "store.py",
                                       "tarball.py"}
    for path in files:
        outside = {name for name in _imports(path)
                   if name not in sys.stdlib_module_names and name not in ("local_aws", "__future__")}
        assert not outside, f"{path.name} imports {sorted(outside)}: local_aws is standard library only"


def test_local_aws_imports_cleanly_without_the_project_on_the_path(tmp_path):
    """Copied alone next to nothing of the project, every module still imports."""
    import shutil
    shutil.copytree(ROOT / "local_aws", tmp_path / "local_aws")
    code = ("import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p]; "
            "import local_aws.constants, local_aws.layout, local_aws.registry, local_aws.store; "
            "import local_aws.tarball; "
            "print('ok')")
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_constants_are_the_documented_ones():
    assert (constants.LOCAL_REGION, constants.LOCAL_BUCKET, constants.LOCAL_ROLE, constants.ACCOUNT) == (
        "us-east-1", "myflix-local", "arn:aws:iam::000000000000:role/myflix-local", "000000000000")
    assert constants.LOCAL_ROLE.split(":")[4] == constants.ACCOUNT


@pytest.mark.parametrize("copy", ["steps/local_layout.py", "api/chalicelib/local_layout.py"])
def test_the_layout_copies_are_byte_identical(copy):
    assert (ROOT / copy).read_bytes() == (ROOT / "local_aws" / "layout.py").read_bytes(), (
        f"{copy} differs from local_aws/layout.py: edit local_aws/layout.py and copy it over")


def test_the_copies_say_why_they_exist_where_they_are_used():
    assert "copy of local_aws/layout.py" in (ROOT / "steps" / "aws_io.py").read_text()
    for name in ("tables.py", "endpoint.py", "pairing.py"):
        assert "copy of local_aws/layout.py" in (ROOT / "api" / "chalicelib" / name).read_text()
    config = (ROOT / "api" / "chalicelib" / "config.py").read_text()
    assert "copy of local_aws.constants.LOCAL_BUCKET" in config
    assert "A copy of local_aws.layout.s3_key_parts" in (ROOT / "deployer" / "backends.py").read_text()


def test_the_deployers_local_region_is_the_runners():
    from deployer import release
    assert release.LOCAL_REGION == constants.LOCAL_REGION
    arn = "arn:aws:sagemaker:us-east-1:000000000000:model-package/g/1"
    assert release.event_for({"ModelPackageArn": arn, "ModelPackageGroupName": "g",
                              "ModelApprovalStatus": "Approved"})["region"] == constants.LOCAL_REGION


def test_the_apis_local_bucket_is_the_runners():
    sys.path.insert(0, str(ROOT / "api"))
    try:
        from chalicelib import config
    finally:
        sys.path.remove(str(ROOT / "api"))
    assert config.DEFAULT_LOCAL_BUCKET == constants.LOCAL_BUCKET


def _outcome(function, uri):
    try:
        return ("ok", function(uri))
    except ValueError:
        return ("refused", None)


@pytest.mark.parametrize("uri", URIS)
def test_every_s3_parser_agrees_with_the_one_in_local_aws(uri):
    from deployer.backends import _s3_parts
    from deployer.release import DeployError
    from local_aws.store import split_s3_uri
    from steps import aws_io

    expected = _outcome(layout.s3_key_parts, uri)
    assert _outcome(split_s3_uri, uri) == expected                                   # the local store
    try:
        deployer = ("ok", _s3_parts(uri))
    except DeployError:
        deployer = ("refused", None)
    # the deployer names objects only: an empty key is refused there, and only there
    assert deployer == (expected if expected[0] == "refused" or expected[1][1] else ("refused", None))
    try:
        steps_side = ("ok", aws_io.local_s3_path(uri, Path("/w")))
    except aws_io.AwsIoError:
        steps_side = ("refused", None)
    assert steps_side == (("ok", layout.s3_path("/w", uri)) if expected[0] == "ok" else expected)
    assert _outcome(layout.split_s3_uri, uri)[0] == "ok" or expected[0] == "refused"


def test_the_layout_spells_each_stand_in_once(tmp_path):
    assert layout.s3_path(tmp_path, "s3://myflix-local/raw/a.tsv") == tmp_path / "s3/myflix-local/raw/a.tsv"
    assert layout.catalog_path(tmp_path, "myflix", "clusters") == tmp_path / "catalog/myflix/clusters.json"
    assert layout.endpoint_path(tmp_path, "prod") == tmp_path / "endpoints" / "prod.json"
    assert layout.release_lock_path(tmp_path) == tmp_path / "endpoints" / ".release.lock"
    assert layout.registry_dir(tmp_path) == tmp_path / "registry"
    assert layout.models_dir(tmp_path) == tmp_path / "models"
    (tmp_path / "registry" / "MyGroup").mkdir(parents=True)
    assert layout.registry_group_dir(tmp_path, "mygroup") == tmp_path / "registry" / "MyGroup"
    # no other product module spells the folders: they all come from here
    spelled = []
    for folder in ("cli", "operations", "studio", "serving", "local_runner", "deployer", "inference", "steps",
                   "api/chalicelib", "reports", "pipeline"):
        for path in (ROOT / folder).glob("*.py"):
            if path.name == "local_layout.py":
                continue
            text = path.read_text(encoding="utf-8")
            for name in ('/ "endpoints"', '/ "catalog"', '/ "registry"', '/ "s3"'):
                if name in text:
                    spelled.append(f"{path.relative_to(ROOT)}: {name}")
    assert not spelled, spelled


def test_endpoint_records_and_tables_read_and_written(tmp_path):
    assert layout.read_endpoint(tmp_path, "prod") is None
    layout.write_json_atomic(layout.endpoint_path(tmp_path, "prod"), {"EndpointName": "prod"})
    assert layout.read_endpoint(tmp_path, "prod") == {"EndpointName": "prod"}
    assert (layout.endpoint_path(tmp_path, "prod").stat().st_mode & 0o777) == 0o644
    assert [p.name for p in layout.endpoints_dir(tmp_path).iterdir()] == ["prod.json"]   # no temp left
    layout.endpoint_path(tmp_path, "bad").write_text("[1, 2]")
    with pytest.raises(layout.LayoutError, match="bad.json is unreadable"):
        layout.read_endpoint(tmp_path, "bad")
    layout.endpoint_path(tmp_path, "torn").write_text('{"EndpointName": ')
    with pytest.raises(layout.LayoutError, match="torn.json is unreadable"):
        layout.read_endpoint(tmp_path, "torn")
    first = layout.put_table(tmp_path, "myflix", "clusters", {"Name": "clusters", "X": 1}, now="t1")
    second = layout.put_table(tmp_path, "myflix", "clusters", {"Name": "clusters", "X": 2}, now="t2")
    assert (first["VersionId"], second["VersionId"]) == ("1", "2")
    assert (second["CreateTime"], second["UpdateTime"], second["X"]) == ("t1", "t2", 2)
    assert layout.read_record(layout.catalog_path(tmp_path, "myflix", "clusters")) == second


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "r.json"
    layout.write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        layout.write_json_atomic(path, {1: 1, "b": 2}, sort_keys=True)        # json.dump fails half-way
    assert json.loads(path.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_the_tarball_is_deterministic_and_sagemakers_layout(tmp_path):
    for run in ("a", "b"):
        folder = tmp_path / run
        (folder / "code").mkdir(parents=True)
        (folder / "model.joblib").write_bytes(b"model")
        (folder / "code" / "inference.py").write_text("print('x')")
        os.utime(folder / "model.joblib", (1000 if run == "a" else 2000,) * 2)
    packed = tarball.pack_folder(tmp_path / "a")
    assert packed == tarball.pack_folder(tmp_path / "b")                       # times do not count
    with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["code", "code/inference.py", "model.joblib"]   # the files at the root
        assert members["code"].isdir() and tar.extractfile("model.joblib").read() == b"model"
        assert all(m.mtime == 0 and m.uname == "" for m in members.values())
    files = {"steps/b.py": b"b", "steps/a.py": b"a"}
    assert tarball.pack_files(files) == tarball.pack_files(dict(reversed(list(files.items()))))
    from pipeline.code_bundle import CodeBundle
    assert CodeBundle(files=files).sourcedir_tarball() == tarball.pack_files(files)


def test_the_runner_imports_no_steps_and_no_plots():
    for path in sorted((ROOT / "local_runner").glob("*.py")):
        forbidden = {"steps", "reports", "matplotlib", "pipeline", "cli", "operations", "studio"}
        assert not _imports(path) & forbidden, path
    code = "import local_runner.runner, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('steps', 'reports', 'matplotlib', 'pipeline')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_deployer_never_imports_the_runner_and_its_zip_needs_no_local_aws(tmp_path):
    for path in sorted((ROOT / "deployer").glob("*.py")):
        assert "local_runner" not in _imports(path), path
    from deployer.package import build_zip
    with zipfile.ZipFile(io.BytesIO(build_zip())) as archive:
        archive.extractall(tmp_path)
    code = ("import sys; import deployer.lambda_handler, deployer.backends, deployer.deployer; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('local_aws', 'local_runner')))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_local_endpoint_finds_a_records_model_through_the_layout(tmp_path):
    from inference.local_endpoint import endpoint_model
    with pytest.raises(FileNotFoundError, match="no endpoint record .*endpoints/prod.json"):
        endpoint_model(tmp_path, "prod")
    layout.write_json_atomic(layout.endpoint_path(tmp_path, "prod"),
                             {"EndpointName": "prod", "ModelDataUrl": "s3://myflix-local/runs/x/model.tar.gz"})
    assert endpoint_model(tmp_path, "prod") == tmp_path / "s3/myflix-local/runs/x/model.tar.gz"
    layout.write_json_atomic(layout.endpoint_path(tmp_path, "prod"),
                             {"EndpointName": "prod", "ModelDataUrl": "s3://myflix-local/../../etc/passwd"})
    with pytest.raises(ValueError, match="'..'"):
        endpoint_model(tmp_path, "prod")
    layout.write_json_atomic(layout.endpoint_path(tmp_path, "prod"), {"EndpointName": "prod"})
    with pytest.raises(ValueError, match="has no ModelDataUrl"):
        endpoint_model(tmp_path, "prod")
