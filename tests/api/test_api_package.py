"""`chalice package` of api/: a small Lambda package (numpy, pandas, pyarrow come from the managed layer)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024          # direct upload limit, zipped
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024    # function + layers, unzipped
PANDAS_LAYER_UNZIPPED = 200 * 1024 * 1024    # a generous bound for the AWS SDK for pandas layer


def test_chalice_package_is_small_and_uses_the_pandas_layer(tmp_path):
    project = tmp_path / "api"
    shutil.copytree(API, project, ignore=shutil.ignore_patterns("deployments", "__pycache__", "*.pyc"))
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([str(chalice), "package", "--stage", "dev", str(tmp_path / "out")], cwd=project,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    package = tmp_path / "out" / "deployment.zip"
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        unzipped = sum(i.file_size for i in archive.infolist())
    assert "app.py" in names and "chalicelib/service.py" in names
    assert not [n for n in names if n.split("/")[0] in ("pandas", "numpy", "pyarrow", "awswrangler", "steps")]
    assert package.stat().st_size < LAMBDA_ZIP_LIMIT
    assert unzipped + PANDAS_LAYER_UNZIPPED < LAMBDA_UNZIPPED_LIMIT

    template = json.loads((tmp_path / "out" / "sam.json").read_text())
    function = next(r["Properties"] for r in template["Resources"].values()
                    if r["Type"] == "AWS::Serverless::Function")
    assert any(":layer:AWSSDKPandas-Python311" in layer for layer in function["Layers"])
    assert function["Runtime"] == "python3.11"
    variables = function["Environment"]["Variables"]
    assert variables["MYFLIX_GLUE_TABLE"] == "movie_clusters" and "MYFLIX_WORKDIR" not in variables


def test_nothing_shipped_imports_awswrangler_so_it_is_no_runtime_dependency():
    # The API reads the table with boto3 and pyarrow; the jobs' image lacks awswrangler. It is a
    # test dependency only (an independent reader of Publish's parquet), not an install one.
    import configparser
    import re
    root = API.parent
    for folder in ("api", "pipeline", "steps", "deployer", "inference"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"^\s*(import|from)\s+awswrangler", text, re.M), path
    setup = configparser.ConfigParser()
    setup.read(root / "setup.cfg")
    assert "awswrangler" not in setup["options"]["install_requires"]
    assert "awswrangler" in setup["options.extras_require"]["test"]


def test_packaging_refuses_a_layer_for_another_python(tmp_path):
    # Chalice takes the runtime from the Python it runs under: a layer for another Python would
    # give a function whose numpy cannot import. `chalice package` itself stops, saying how to fix.
    project = tmp_path / "api"
    shutil.copytree(API, project, ignore=shutil.ignore_patterns("deployments", "__pycache__", "*.pyc"))
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    other = (3, 12) if sys.version_info[:2] != (3, 12) else (3, 11)
    layer = f"AWSSDKPandas-Python{other[0]}{other[1]}"
    config["layers"] = [f"arn:aws:lambda:us-east-1:336392948345:layer:{layer}:5"]
    config_path.write_text(json.dumps(config))
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([str(chalice), "package", "--stage", "dev", str(tmp_path / "out")], cwd=project,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert f"built for Python {other[0]}.{other[1]}" in said and "chalice-stage --layer" in said, said
    assert not (tmp_path / "out" / "deployment.zip").exists()
    # the guard acts only inside chalice packaging or deploying, never on Lambda or in a server
    sys.path.insert(0, str(API))
    try:
        from chalicelib import packaging
    finally:
        sys.path.remove(str(API))
    assert packaging.mismatch(["/x/chalice", "package", "out"], other, project) is None
    assert packaging.mismatch(["/var/runtime/bootstrap"], (9, 9), project) is None
    assert "python9.9" in packaging.mismatch(["chalice", "deploy", "--stage", "dev"], (9, 9), project)
