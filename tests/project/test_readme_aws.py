"""docs/aws.md, "Run on your AWS account": every command of that section, in order, against moto.

The section's ```sh blocks are parsed and run by a small interpreter: `myflix ...` in-process
through `cli.main.main`, `chalice package` for real (offline), `aws ...` as the boto3 calls the
AWS CLI makes, all against moto. A command the interpreter does not know fails the test, so the
README cannot grow a step that nothing checks.

Where moto falls short, the test says so and stands in, visibly:
- moto's CloudFormation skips AWS::S3::BucketPolicy, AWS::Glue::Database and
  AWS::SageMaker::ModelPackageGroup, and ignores the bucket's versioning and public access block:
  they are applied through the matching API calls, from the template's own properties; except the
  bucket policy, whose Condition moto ignores (its Deny would refuse everything): its meaning is
  evaluated in tests/project/test_cfn.py.
- moto's CloudFormation cannot expand the SAM transform of the API's stack: the stack is created
  from the same template with its function as a plain AWS::Lambda::Function (same code in S3,
  same role, same environment) and the same EndpointURL output shape.
- moto runs no pipeline step: before `myflix pipeline approve`, the test registers the model
  package the Register step would have registered, with a real model (trained by our scripts on
  the vega movies) and its table staged by Publish's own main().
- moto's SageMaker emits no EventBridge events and moto runs no Lambda code without Docker: after
  `myflix pipeline approve`, the test hands the documented "Model Package State Change" event to
  the deployer's handler in-process, with the environment the stack gave the function, and
  tests/deployer/test_deployer.py's stand-ins for what moto lacks (UpdateEndpoint, an InvokeEndpoint that
  runs the served model's own handler). Its calls are evaluated against the stack's deployer role.
- moto implements neither DeleteModelPackage nor DeleteModelPackageGroup: the tear-down reports
  those, and only those, as problems.

Every AWS call the `myflix` commands make (except the tear-down, which needs whoever created the
stack) is recorded and evaluated against the stack's operator policy (tests/project/test_cfn.py's IAM
evaluator): the optional least-privilege policy is enough for the whole sequence.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

REPO = Path(__file__).resolve().parents[2]
README = REPO / "docs" / "aws.md"   # the front page links it: "Run on your AWS account"
ACCOUNT = "123456789012"
IMAGE = "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def section_commands(text: str | None = None) -> list[str]:
    """The shell commands of the README's `aws` section, continuation lines joined, in order."""
    text = README.read_text() if text is None else text
    match = re.search(r"<!-- section: aws -->(.*?)<!-- /section: aws -->", text, re.S)
    assert match, "docs/aws.md has no <!-- section: aws --> ... <!-- /section: aws -->"
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", match.group(1), re.S):
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            line = (pending + line).strip()
            pending = ""
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_section_has_the_whole_sequence_in_order():
    commands = section_commands()
    expected = ["myflix config template", "aws cloudformation deploy --template-file build/myflix-infra.json",
                "myflix config from-stack", "aws s3 cp title.basics.tsv.gz s3://$BUCKET/raw/",
                "myflix deploy package", "--parameter-overrides DeployerCodeKey=$DEPLOYER_KEY",
                "myflix pipeline upsert", "myflix pipeline start", "myflix pipeline wait",
                "myflix pipeline status", "myflix pipeline approve", "myflix deploy status",
                "myflix deploy promote", "myflix deploy rollback", "myflix config chalice-stage",
                "chalice package", "aws cloudformation deploy --template-file build/api/",
                "python3 -m http.server", "myflix config teardown"]
    positions = []
    for fragment in expected:
        found = [i for i, c in enumerate(commands) if fragment in c]
        assert found, f"the README's aws section has no command with {fragment!r}"
        positions.append(found[0])
    assert positions == sorted(positions), list(zip(expected, positions))
    assert "--capabilities CAPABILITY_NAMED_IAM" in commands[positions[1]]
    assert commands[0].startswith("export AWS_DEFAULT_REGION=")


# --- the interpreter ---------------------------------------------------------------------------

class Shell:
    """Runs README commands against moto, keeping shell variables and a working directory."""

    def __init__(self, root: Path, region: str):
        self.root, self.region = root, region
        self.vars: dict[str, str] = {}
        self.ran: list[str] = []
        self.outputs: dict[str, str] = {}
        self.operator_calls: list = []           # (myflix command, AWS call) the operator made
        self.deployer_calls: list = []           # the deployer Lambda's AWS calls
        self.deployer_results: list = []
        self.models: dict | None = None          # set by the test: trained models for the packages

    # shell syntax the section uses: $VAR, VAR=$(...), export, (cd DIR && ...)
    def expand(self, text: str) -> str:
        def value(m):
            name = m.group(1) or m.group(2)
            if name in self.vars:
                return self.vars[name]
            if name in os.environ:
                return os.environ[name]
            raise AssertionError(f"README uses ${name} before setting it")
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)

    def run(self, line: str, cwd: Path | None = None) -> str:
        cwd = cwd or self.root
        if m := re.fullmatch(r"export (\w+)=(\S+)", line):
            self.vars[m.group(1)] = os.environ[m.group(1)] = self.expand(m.group(2))
            return ""
        if m := re.fullmatch(r"(\w+)=\$\((.*)\)", line):
            self.vars[m.group(1)] = self.run(m.group(2), cwd).strip()
            assert self.vars[m.group(1)], f"{line} gave an empty value"
            return ""
        if m := re.fullmatch(r"\(cd (\S+) && (.*)\)", line):
            return self.run(m.group(2), cwd / m.group(1))
        argv = shlex.split(self.expand(line))
        self.ran.append(line)
        handler = {"myflix": self.myflix, "aws": self.aws, "curl": self.curl,
                   "chalice": self.chalice, "python3": self.python3}.get(argv[0])
        assert handler, f"README command not covered by tests/project/test_readme_aws.py: {line}"
        return handler(argv[1:], cwd)

    # myflix: in-process, as a person would run it
    def myflix(self, argv: list[str], cwd: Path) -> str:
        from cli.main import main
        if argv[:2] == ["pipeline", "approve"]:
            package = register_model_package(self.region, self.vars.get("BUCKET", ""), self.models)
        out, err = io.StringIO(), io.StringIO()
        from test_cfn import recorded_calls
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                recorded_calls() as calls:
            code = main(argv)
        if argv[:2] != ["config", "teardown"]:     # the tear-down needs whoever created the stack
            self.operator_calls += [(argv[:2], call) for call in calls]
        self.outputs[" ".join(argv)] = out.getvalue() + err.getvalue()
        if argv[:2] == ["config", "teardown"] and "--yes" in argv and code == 1:
            # moto implements neither DeleteModelPackage nor DeleteModelPackageGroup; nothing
            # else may fail
            problems = err.getvalue().split("problem(s): ", 1)[1].strip().split("; ")
            assert all(p.startswith("delete model package") and "has not been implemented" in p
                       for p in problems), problems
            code = 0
        assert code == 0, f"myflix {' '.join(argv)} exited {code}:\n{out.getvalue()}\n{err.getvalue()}"
        if argv[:2] == ["pipeline", "approve"]:
            self.deliver_event(package, "Approved")
        return out.getvalue()

    def deliver_event(self, package_arn: str, status: str) -> None:
        """What EventBridge does after the approval: the documented event to the stack's function."""
        from test_cfn import recorded_calls

        from deployer import lambda_handler, release
        from deployer.backends import SageMakerBackend
        from deployer_fixtures import state_change_event
        function = boto3.client("lambda", region_name=self.region).get_function_configuration(
            FunctionName=f"myflix-deployer-{self.region}")
        assert function["Handler"] == "deployer.lambda_handler.handler"
        event = state_change_event(boto3.client("sagemaker", region_name=self.region).describe_model_package(
            ModelPackageName=package_arn), status)
        with pytest.MonkeyPatch.context() as mp, recorded_calls() as calls:
            for key, value in function["Environment"]["Variables"].items():
                mp.setenv(key, value)
            self.deployer_results.append(lambda_handler.handler(
                event, backend=SageMakerBackend(release.config_from_env(), poll_seconds=0)))
        # the stand-in container's own model download is SageMaker's (execution role), not the Lambda's
        self.deployer_calls += [c for c in calls if not (c[1] == "GetObject" and c[2]["Key"].endswith("model.tar.gz"))]

    def chalice(self, argv: list[str], cwd: Path) -> str:
        chalice = Path(sys.executable).with_name("chalice")
        env = {**os.environ, "AWS_DEFAULT_REGION": self.region}
        done = subprocess.run([str(chalice), *argv], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def curl(self, argv: list[str], cwd: Path) -> str:
        # No download in tests: the same file names, written from real movies (tests/imdb_fixtures).
        url = argv[-1]
        name = url.rsplit("/", 1)[1]
        assert url.startswith("https://datasets.imdbws.com/") and name in (
            "title.basics.tsv.gz", "title.ratings.tsv.gz"), url
        from imdb_fixtures import write_vega_imdb
        folder = self.root / ".imdb"
        if not (folder / name).is_file():
            write_vega_imdb(folder)
        shutil.copy(folder / name, cwd / name)
        return ""

    def python3(self, argv: list[str], cwd: Path) -> str:
        # `python3 -m http.server PORT --bind HOST --directory ui`: the page it would serve reads ?api=
        assert argv[:2] == ["-m", "http.server"], argv
        directory = cwd / argv[argv.index("--directory") + 1]
        assert (directory / "index.html").is_file()
        assert 'params.get("api")' in (directory / "client.js").read_text()   # the page's API client
        return ""

    def aws(self, argv: list[str], cwd: Path) -> str:
        service, op, rest = argv[0], argv[1], argv[2:]
        opts, positional = {}, []
        i = 0
        while i < len(rest):
            if rest[i].startswith("--"):
                opts[rest[i][2:]] = rest[i + 1]
                i += 2
            else:
                positional.append(rest[i])
                i += 1
        region = opts.get("region", os.environ.get("AWS_DEFAULT_REGION", self.region))
        if (service, op) == ("cloudformation", "deploy"):
            return cfn_deploy(cwd / opts["template-file"], opts["stack-name"], opts["capabilities"], region,
                              opts.get("parameter-overrides"))
        if (service, op) == ("cloudformation", "package"):
            return cfn_package(cwd / opts["template-file"], opts["s3-bucket"], opts["s3-prefix"],
                               cwd / opts["output-template-file"], region)
        if (service, op) == ("cloudformation", "describe-stacks"):
            import jmespath
            response = boto3.client("cloudformation", region_name=region).describe_stacks(
                StackName=opts["stack-name"])
            found = jmespath.search(opts["query"], response) if "query" in opts else response
            assert opts.get("output") == "text"
            return "\t".join(found) if isinstance(found, list) else str(found)
        if (service, op) == ("s3", "cp"):
            source, target = positional
            bucket, key = target[len("s3://"):].split("/", 1)
            boto3.client("s3", region_name=region).upload_file(str(cwd / source), bucket, key)
            return ""
        raise AssertionError("README aws command not covered by tests/project/test_readme_aws.py: "
                             f"aws {' '.join(argv)}")


# --- what the AWS CLI does, against moto ---------------------------------------------------------

def cfn_deploy(template_path: Path, stack: str, capabilities: str, region: str,
               overrides: str | None = None) -> str:
    cfn = boto3.client("cloudformation", region_name=region)
    body = template_path.read_text()
    template = json.loads(body) if body.lstrip().startswith("{") else None
    if template and template.get("Transform", "").startswith("AWS::Serverless"):
        body = json.dumps(without_sam_transform(template))
    existing = [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == stack and s["StackStatus"] != "DELETE_COMPLETE"]
    if existing:
        # the CLI's deploy on an existing stack: the overrides, the other parameters kept. moto's
        # UsePreviousValue fails on parameters left at their default (it keeps only given ones);
        # the README creates the stack with the defaults, so the overrides alone are the same.
        given = dict(pair.split("=", 1) for pair in (overrides or "").split())
        params = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfn.update_stack(StackName=stack, TemplateBody=body, Capabilities=capabilities.split(), Parameters=params)
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        assert status == "UPDATE_COMPLETE", status
        return ""
    assert not overrides, "the README creates each stack with its defaults"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # moto warns about the resource types it skips
        cfn.create_stack(StackName=stack, TemplateBody=body, Capabilities=capabilities.split())
    status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE", status
    if not (template or {}).get("Transform"):        # ours (YAML, or its compact JSON), not SAM's
        apply_what_moto_skips(template_path, stack, region)
    return ""


def apply_what_moto_skips(template_path: Path, stack: str, region: str) -> None:
    """The infra template's resources and bucket settings moto's CloudFormation leaves out."""
    from cfnlint.decode import decode_str
    template, _ = decode_str(template_path.read_text())
    resources = template["Resources"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in boto3.client(
        "cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    bucket = outputs["BucketName"]
    s3 = boto3.client("s3", region_name=region)
    props = resources["DataBucket"]["Properties"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    # The TLS-only bucket policy is not applied: moto 5.2 ignores a bucket policy's Condition, so
    # its conditional Deny would refuse every request. tests/project/test_cfn.py evaluates what it means.
    assert resources["DataBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "DataBucket"}
    boto3.client("glue", region_name=region).create_database(
        DatabaseInput={"Name": outputs["GlueDatabase"],
                       "Description": resources["GlueDatabase"]["Properties"]["DatabaseInput"]["Description"]})
    boto3.client("sagemaker", region_name=region).create_model_package_group(
        ModelPackageGroupName=outputs["ModelPackageGroup"],
        ModelPackageGroupDescription=resources["ModelPackageGroup"]["Properties"]["ModelPackageGroupDescription"])


def without_sam_transform(template: dict) -> dict:
    """The API's SAM template as plain CloudFormation moto can create: the function itself."""
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == 1, functions
    (name, function), = functions.items()
    props = function["Properties"]
    bucket, key = props["CodeUri"][len("s3://"):].split("/", 1)
    resources = {name: {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": props["Runtime"], "Handler": props["Handler"], "Role": props["Role"],
        "Code": {"S3Bucket": bucket, "S3Key": key},
        "MemorySize": props.get("MemorySize", 128), "Timeout": props.get("Timeout", 3),
        "Environment": props.get("Environment", {}), "Layers": props.get("Layers", [])}}}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources,
            "Outputs": {"EndpointURL": {"Value": {"Fn::Sub":
                        "https://abc123defg.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/"}}}}


def cfn_package(template_path: Path, bucket: str, prefix: str, output: Path, region: str) -> str:
    """`aws cloudformation package`: upload each local CodeUri, name it by its MD5, rewrite the URI."""
    template = json.loads(template_path.read_text())
    s3 = boto3.client("s3", region_name=region)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        uri = props.get("CodeUri")
        if resource["Type"] == "AWS::Serverless::Function" and uri and not uri.startswith("s3://"):
            local = (template_path.parent / uri).resolve()
            key = f"{prefix}/{hashlib.md5(local.read_bytes()).hexdigest()}"
            s3.upload_file(str(local), bucket, key)
            props["CodeUri"] = f"s3://{bucket}/{key}"
    output.write_text(json.dumps(template, indent=2))
    return ""


def register_model_package(region: str, bucket: str, models: dict) -> str:
    """What the pipeline's TrainKMeans, Register and Publish steps would have left (moto runs no step)."""
    from deployer_fixtures import package_request, stage_table
    sm = boto3.client("sagemaker", region_name=region)
    key = "runs/myflix-movie-clusters/exec1/TrainKMeans/model/model.tar.gz"
    boto3.client("s3", region_name=region).upload_file(str(models["a"]), bucket, key)
    table_uri = f"s3://{bucket}/tables/movie_clusters/exec1/"
    request = package_request(f"s3://{bucket}/{key}", table_uri, "exec1", "PendingManualApproval")
    request["InferenceSpecification"]["Containers"][0]["Image"] = IMAGE.format(region=region)
    arn = sm.create_model_package(**request)["ModelPackageArn"]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MYFLIX_LOCAL_ROOT", raising=False)
        stage_table(models, "a", bucket, "exec1", arn)
    return arn


# --- the run ---------------------------------------------------------------------------------------

@pytest.fixture
def workspace(tmp_path, monkeypatch, aws_credentials, definition_json_once):
    """A copy of what the commands read and write (cfn/, api/, ui/), fake credentials, moto."""
    for name in ("cfn", "api", "ui"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("deployments", "__pycache__", "*.pyc", "venv"))
    for var in ("AWS_REGION", "MYFLIX_REGION", "MYFLIX_ROLE_ARN", "MYFLIX_BUCKET", "MYFLIX_PIPELINE_NAME"):
        monkeypatch.delenv(var, raising=False)
    # a region nobody uses: the README's `export AWS_DEFAULT_REGION=...` must be what counts
    # (monkeypatch restores the variable after the test)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-3")
    monkeypatch.setenv("MYFLIX_CONFIG", str(tmp_path / "myflix-config.json"))
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1]))  # tests/imdb_fixtures.py
    # One definition generation per session for the same settings (shared with other test files).
    from pipeline import definition as definition_mod
    monkeypatch.setattr(definition_mod, "definition_json", definition_json_once)
    import test_deployer
    test_deployer.add_moto_stand_ins(monkeypatch)
    with mock_aws():
        yield tmp_path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from deployer_fixtures import train_models
    return train_models(tmp_path_factory.mktemp("readme-models"), {"a": (9, 42)})


def test_every_command_of_the_section_runs_against_moto(workspace, models):
    shell = Shell(workspace, region="us-east-1")
    shell.models = models
    commands = section_commands()
    state = {}
    for line in commands:
        shell.run(line)
        if line.startswith("aws s3 cp title.ratings"):
            bucket = shell.vars["BUCKET"]
            keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]]
            state["raw"] = sorted(keys)
        if line == "myflix pipeline upsert":
            state["pipeline"] = boto3.client("sagemaker").describe_pipeline(PipelineName="myflix-movie-clusters")
        if line.startswith("aws cloudformation package"):
            state["api_template"] = json.loads((workspace / "build" / "api" / "packaged.yaml").read_text())
        if line.startswith("myflix config from-stack"):
            iam = boto3.client("iam")
            arn = json.loads((workspace / "myflix-config.json").read_text())["operator_policy_arn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            state["operator"] = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            state["stack_id"] = boto3.client("cloudformation").describe_stacks(
                StackName="myflix")["Stacks"][0]["StackId"]
            role = "myflix-deployer-us-east-1"
            state["deployer_docs"] = [iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
                                      for n in iam.list_role_policies(RoleName=role)["PolicyNames"]]
        if line.startswith("myflix deploy promote"):
            sm = boto3.client("sagemaker")
            prod = sm.describe_endpoint(EndpointName="myflix-movie-clusters")
            state["prod_tags"] = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=prod["EndpointArn"])["Tags"]}
            state["table_package"] = boto3.client("glue").get_table(DatabaseName="myflix", Name="movie_clusters")[
                "Table"]["Parameters"]["myflix_model_package_arn"]
        if line.startswith("API_URL="):
            state["api_url"] = shell.vars["API_URL"]
        if line.startswith("myflix config teardown") and "--yes" not in line:
            state["plan_buckets"] = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]

    region, bucket = "us-east-1", f"myflix-{ACCOUNT}-us-east-1"
    sm_role = f"arn:aws:iam::{ACCOUNT}:role/myflix-sagemaker-{region}"
    api_role = f"arn:aws:iam::{ACCOUNT}:role/myflix-api-{region}"
    # from-stack saved what the pipeline commands then used
    config = json.loads((workspace / "myflix-config.json").read_text())
    assert (config["region"], config["bucket"], config["role_arn"]) == (region, bucket, sm_role)
    assert shell.vars["BUCKET"] == bucket
    assert state["raw"] == ["raw/title.basics.tsv.gz", "raw/title.ratings.tsv.gz"]
    # the pipeline runs as the stack's role, over the stack's bucket
    assert state["pipeline"]["RoleArn"] == sm_role
    definition = json.loads(state["pipeline"]["PipelineDefinition"])
    uris = set(re.findall(r"s3://[^\"/]+", json.dumps(definition)))
    assert uris == {f"s3://{bucket}"}, uris
    # the model was approved
    packages = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName="myflix-movie-clusters")
    assert [p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]] == ["Approved"]
    # the API runs as the stack's API role, creates no role of its own, and names the stack's table
    stage = json.loads((workspace / "api" / ".chalice" / "config.json").read_text())["stages"]["aws"]
    assert stage["iam_role_arn"] == api_role
    resources = state["api_template"]["Resources"]
    assert not [k for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    (function,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert function["Role"] == api_role
    assert function["CodeUri"].startswith(f"s3://{bucket}/code/api/")
    assert function["Environment"]["Variables"]["MYFLIX_GLUE_TABLE"] == "movie_clusters"
    assert function["Environment"]["Variables"]["MYFLIX_CORS_ORIGIN"] == "http://127.0.0.1:8001"
    # chalice imports the app with the stage's variables: API Gateway's preflight answers that origin
    assert "'http://127.0.0.1:8001'" in json.dumps(resources)
    assert state["api_url"] == "https://abc123defg.execute-api.us-east-1.amazonaws.com/api/"
    # the packaged API template passes the same linter as ours
    from cfnlint.api import ManualArgs, lint_file
    matches = lint_file(workspace / "build" / "api" / "packaged.yaml", config=ManualArgs(regions=[region]))
    assert [str(m) for m in matches] == []
    # the plan deleted nothing; --yes removed the data, the endpoint side and both stacks
    assert bucket in state["plan_buckets"]
    assert bucket not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    stacks = {s["StackName"]: s["StackStatus"] for s in boto3.client("cloudformation").list_stacks()["StackSummaries"]}
    assert stacks == {"myflix": "DELETE_COMPLETE", "myflix-api": "DELETE_COMPLETE"}
    # the approval deployed to staging (smoke test passed), `deploy promote` moved prod and the table
    assert [r["outcome"] for r in shell.deployer_results] == ["staged"], shell.deployer_results
    tags = state["prod_tags"]
    assert state["table_package"] == tags["myflix:model-package-arn"]
    assert tags["myflix:model-package-arn"].endswith("/myflix-movie-clusters/1") and tags["myflix:smoke"] == "passed"
    assert "smoke test passed" in shell.outputs["deploy status"]
    # the deployer Lambda's calls stay inside the stack's deployer role
    from test_cfn import _document, denied_calls
    assert len(shell.deployer_calls) > 10
    assert denied_calls([_document(d) for d in state["deployer_docs"]], shell.deployer_calls) == []
    # every AWS call the myflix commands made is allowed by the stack's operator policy
    from test_cfn import evaluate, iam_requests
    denied = []
    for command, (service, operation, params) in shell.operator_calls:
        checks = ([("cloudformation:DescribeStacks", state["stack_id"], {})] if operation == "DescribeStacks"
                  else iam_requests(service, operation, params))
        denied += [f"myflix {' '.join(command)}: {service}:{operation} needs {action} on {resource}"
                   for action, resource, context in checks
                   if evaluate([state["operator"]], action, resource, context) != "Allow"]
    assert len(shell.operator_calls) > 10 and denied == []
    # nothing was left out: every command of the section ran
    assert len(shell.ran) == len([c for c in commands if not c.startswith("export ")])
