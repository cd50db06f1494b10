"""cfn/: lint, security checks of the templates, and the infra stack created under moto.

The security check is cfn-lint's own rules (including the informational stateful-resource rule)
plus explicit policy assertions below: checkov could not go into the shared .venv (it pins
boto3 1.35, below setup.cfg's boto3>=1.40, and an older networkx and packaging), so what it
would check for these resources is asserted here, and more: every IAM policy is evaluated,
action by action and resource by resource, with a small evaluator of IAM's matching rules, to
show what each role may and may not do.

`*` resources exist in exactly four places, each an action IAM authorises against `*`:
ecr:GetAuthorizationToken (the registry login before pulling the SKLearn image) and
cloudwatch:PutMetricData (limited by a cloudwatch:namespace condition to /aws/sagemaker/*) in the
execution role, which have no resource-level permissions, and sagemaker:ListModelPackages in the
execution role (Evaluate finds the production model) and the operator policy (its resource is
optional, so a listing is checked against `*`; it reveals summaries only). The ECR pull actions
name the sagemaker-scikit-learn repository with an account wildcard, because AWS hosts that image
in a different account in each region.
"""
from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

CFN_DIR = Path(__file__).resolve().parents[2] / "cfn"
INFRA = CFN_DIR / "myflix-infra.yaml"
TEMPLATES = sorted(p for p in CFN_DIR.iterdir() if p.suffix in (".yaml", ".yml"))
IAM_ACTIONS = CFN_DIR / "iam-actions.json"     # regenerate with cfn/iam_actions.py
REGION = "us-east-1"
ACCOUNT = "123456789012"                     # moto's default account
BUCKET = f"myflix-{ACCOUNT}-{REGION}"
PIPELINE = "myflix-movie-clusters"

# Actions IAM offers no resource-level permission for: `*` is the only valid resource.
STAR_RESOURCE_ACTIONS = {"ecr:getauthorizationtoken", "cloudwatch:putmetricdata",
                         "sagemaker:listmodelpackages"}
# Roles handed to a service other than SageMaker: the one service each may be passed to.
PASSED_TO = {"RetrainSchedulerRole": "scheduler.amazonaws.com"}
# Resource types moto's CloudFormation does not implement (it warns and skips them); the
# template's own assertions and the API-level checks below cover them instead.
MOTO_SKIPPED_TYPES = {"AWS::S3::BucketPolicy", "AWS::Glue::Database",
                      "AWS::SageMaker::ModelPackageGroup", "AWS::Glue::Table", "AWS::KinesisFirehose::DeliveryStream"}


def load_template(path: Path = INFRA) -> dict:
    from cfnlint.decode import decode_str
    template, matches = decode_str(path.read_text())
    assert not matches, [str(m) for m in matches]
    return template


# --- cfn-lint --------------------------------------------------------------------------------------

def test_there_is_a_template_to_check():
    assert INFRA in TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_passes_cfn_lint(template):
    from cfnlint.api import ManualArgs, lint_file
    # Errors, warnings and the informational rules (I3011: explicit deletion policy on stateful
    # resources) in several regions. I4010 only asks for free-text "context" metadata for AI
    # tooling: neither a correctness nor a security rule.
    matches = lint_file(template, config=ManualArgs(
        regions=["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"],
        include_checks=["I"], ignore_checks=["I4010"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_cfn_lint_is_the_pinned_version():
    import cfnlint.version
    assert cfnlint.version.__version__ == "1.58.0"


# --- static policy assertions ------------------------------------------------------------------

def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """A template value as text, intrinsic functions kept readable (`${Name}` placeholders)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if fn == "Ref":
            return "${%s}" % arg
        if fn == "Fn::GetAtt":
            return "${%s}" % ".".join(_as_list(arg))
    return json.dumps(value, sort_keys=True)


def policy_documents(template: dict) -> Iterator[tuple[str, str, dict]]:
    """(resource logical id, kind, document) for every policy document in the template."""
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        rtype = resource["Type"]
        if rtype in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            yield logical_id, "identity", props["PolicyDocument"]
        elif rtype == "AWS::IAM::Role":
            yield logical_id, "trust", props["AssumeRolePolicyDocument"]
            for policy in props.get("Policies", []):
                yield logical_id, "identity", policy["PolicyDocument"]
        elif rtype == "AWS::S3::BucketPolicy":
            yield logical_id, "resource", props["PolicyDocument"]


def _resource_part(arn_text: str) -> str:
    """What follows the service/region/account fields of an ARN: the part naming the resource."""
    if arn_text.startswith("${") and "}" in arn_text:          # ${DataBucket.Arn}/raw/*
        return arn_text[arn_text.index("}") + 1:].lstrip("/")
    parts = arn_text.replace("${AWS::", "${AWS_").split(":", 5)
    return parts[5] if len(parts) == 6 else arn_text


def policy_findings(template: dict) -> list[str]:
    """Least-privilege problems in a template's policies and bucket; [] when there are none."""
    findings: list[str] = []
    text = json.dumps(template)
    for banned in ("AdministratorAccess", "FullAccess", "PowerUserAccess"):
        if banned in text:
            findings.append(f"template mentions {banned}")
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role" and props.get("ManagedPolicyArns"):
            findings.append(f"{logical_id}: attaches managed policies {props['ManagedPolicyArns']}")
        if resource["Type"] == "AWS::Logs::LogGroup" and "RetentionInDays" not in props:
            findings.append(f"{logical_id}: log group without retention")

    for logical_id, kind, doc in policy_documents(template):
        for st in _as_list(doc["Statement"]):
            where = f"{logical_id}/{st.get('Sid', '?')}"
            for key in ("NotAction", "NotResource", "NotPrincipal"):
                if key in st and st["Effect"] == "Allow":
                    findings.append(f"{where}: Allow with {key}")
            if kind == "trust":
                principal = st.get("Principal", {})
                if set(principal) != {"Service"} or not isinstance(principal["Service"], str):
                    findings.append(f"{where}: trust policy principal {principal} is not one service")
                if st.get("Action") != "sts:AssumeRole":
                    findings.append(f"{where}: trust policy allows {st.get('Action')}, not just sts:AssumeRole")
                continue
            if st["Effect"] != "Allow":
                continue
            actions = [a.lower() for a in _as_list(st.get("Action", []))]
            for action in actions:
                if "*" in action or "?" in action:
                    findings.append(f"{where}: wildcard action {action}")
            resources = [_text(r) for r in _as_list(st.get("Resource", []))]
            for res in resources:
                if res == "*":
                    if not set(actions) <= STAR_RESOURCE_ACTIONS:
                        findings.append(f"{where}: Resource * for {sorted(set(actions) - STAR_RESOURCE_ACTIONS)}")
                    if ("cloudwatch:putmetricdata" in actions
                            and "cloudwatch:namespace" not in json.dumps(st.get("Condition", {}))):
                        findings.append(f"{where}: PutMetricData without a namespace condition")
                    continue
                part = _resource_part(res)
                # a `*` right at the start of the resource name: every resource of that type
                # (for the bucket's objects: every object, rather than one prefix's)
                everything = (part.startswith("*") if res.startswith("${")
                              else re.match(r"^([a-z-]+[/:])?\*", part))
                if everything:
                    if not part.startswith("repository/") and "ecr:" not in res:
                        findings.append(f"{where}: every resource of a type: {res}")
            if "iam:passrole" in actions:
                cond = st.get("Condition", {}).get("StringEquals", {})
                # each role goes only to the one service it is for (the execution role: SageMaker)
                wanted = {PASSED_TO.get(r.strip("${}").split(".")[0], "sagemaker.amazonaws.com") for r in resources}
                if len(wanted) != 1 or cond.get("iam:PassedToService") not in wanted:
                    findings.append(f"{where}: iam:PassRole without iam:PassedToService {sorted(wanted)}")
                if any("*" in r for r in resources):
                    findings.append(f"{where}: iam:PassRole on a wildcard")
    findings.extend(bucket_findings(template))
    return findings


def bucket_findings(template: dict) -> list[str]:
    findings = []
    resources = template.get("Resources", {})
    buckets = {k: v for k, v in resources.items() if v["Type"] == "AWS::S3::Bucket"}
    policies = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::S3::BucketPolicy"]
    for logical_id, bucket in buckets.items():
        props = bucket.get("Properties", {})
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        if not rules or "ServerSideEncryptionByDefault" not in rules[0]:
            findings.append(f"{logical_id}: no default encryption")
        if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            findings.append(f"{logical_id}: versioning off")
        block = props.get("PublicAccessBlockConfiguration", {})
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(flag) is not True:
                findings.append(f"{logical_id}: {flag} not true")
        if props.get("AccessControl"):
            findings.append(f"{logical_id}: canned ACL {props['AccessControl']}")
        own = [p for p in policies if p.get("Bucket") == {"Ref": logical_id}]
        tls = [st for p in own for st in _as_list(p["PolicyDocument"]["Statement"])
               if st["Effect"] == "Deny"
               and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        covered = {_text(r) for st in tls for r in _as_list(st["Resource"])}
        if not {f"${{{logical_id}.Arn}}", f"${{{logical_id}.Arn}}/*"} <= covered:
            findings.append(f"{logical_id}: no TLS-only bucket policy on the bucket and its objects")
    return findings


def test_template_has_no_policy_findings():
    assert policy_findings(load_template()) == []


@pytest.mark.parametrize("mutation, expected", [
    (lambda t: t["Resources"]["ApiRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), "wildcard action s3:*"),
    (lambda t: t["Resources"]["ApiRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "glue:GetTable", "Resource": "*"}), "Resource * for ['glue:gettable']"),
    (lambda t: t["Resources"]["ApiRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/*"}}),
     "every resource of a type"),
    (lambda t: t["Resources"]["ApiRole"]["Properties"].update(
        ManagedPolicyArns=["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"]), "FullAccess"),
    (lambda t: t["Resources"]["SageMakerExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"].append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}),
     "PassRole without iam:PassedToService"),
    (lambda t: t["Resources"]["DeployerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "sagemaker:UpdateEndpoint",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/*"}}),
     "every resource of a type"),
    (lambda t: t["Resources"]["DataBucket"]["Properties"].pop("PublicAccessBlockConfiguration"),
     "BlockPublicAcls not true"),
    (lambda t: t["Resources"]["DataBucket"]["Properties"].pop("BucketEncryption"), "no default encryption"),
    (lambda t: t["Resources"]["DataBucket"]["Properties"].pop("VersioningConfiguration"), "versioning off"),
    (lambda t: t["Resources"].pop("DataBucketPolicy"), "no TLS-only bucket policy"),
    (lambda t: t["Resources"]["ApiRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0].update(
        Principal={"AWS": "*"}), "is not one service"),
])
def test_policy_checks_catch_a_weakened_template(mutation, expected):
    """The assertions above are only worth something if they fail on a bad template."""
    template = load_template()
    mutation(template)
    findings = policy_findings(template)
    assert any(expected in f for f in findings), findings


def test_outputs_cover_what_myflix_config_reads():
    from operations.stack import OUTPUT_KEYS, REQUIRED_OUTPUTS
    outputs = load_template()["Outputs"]
    assert set(OUTPUT_KEYS) <= set(outputs)
    assert set(REQUIRED_OUTPUTS) <= set(OUTPUT_KEYS)


def test_parameter_defaults_match_steps_schema():
    from steps import schema
    params = load_template()["Parameters"]
    assert params["GlueDatabaseName"]["Default"] == schema.GLUE_DATABASE
    assert params["GlueTableName"]["Default"] == schema.GLUE_TABLE
    assert params["TablePrefix"]["Default"] == schema.TABLE_PREFIX
    assert params["ModelPackageGroupName"]["Default"] == schema.MODEL_PACKAGE_GROUP
    assert params["PipelineName"]["Default"] == schema.PIPELINE_NAME
    assert params["EndpointName"]["Default"] == schema.ENDPOINT_NAME
    text = INFRA.read_text()
    for prefix in (schema.RAW_PREFIX, schema.CODE_PREFIX):
        assert f"/{prefix}/*" in text
    # every parameter has a default: `aws cloudformation deploy` needs no overrides
    assert all("Default" in p for p in params.values())


# --- the stack under moto, and what its policies allow ------------------------------------------

def _document(doc: Any) -> dict:
    """A policy document as IAM returns it: a dict, or JSON text.

    moto 5.2 stores a CloudFormation role's inline policy as the Python repr of the dict it was
    given, and returns that text: read it back as the literal it is.
    """
    if isinstance(doc, str):
        import ast
        from urllib.parse import unquote
        text = unquote(doc)
        try:
            doc = json.loads(text)
        except ValueError:
            doc = ast.literal_eval(text)
    assert isinstance(doc, dict) and doc.get("Statement"), doc
    return doc


@pytest.fixture(scope="module")
def stack(module_aws_credentials):
    """The infra stack created by moto's CloudFormation; yields outputs and resolved policies."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            cfn = boto3.client("cloudformation", region_name=REGION)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cfn.create_stack(StackName="myflix", TemplateBody=INFRA.read_text(),
                                 Capabilities=["CAPABILITY_NAMED_IAM"])
            described = cfn.describe_stacks(StackName="myflix")["Stacks"][0]
            iam = boto3.client("iam", region_name=REGION)
            policies = {}
            for role in ("myflix-sagemaker-us-east-1", "myflix-api-us-east-1", "myflix-deployer-us-east-1"):
                names = iam.list_role_policies(RoleName=role)["PolicyNames"]
                policies[role] = {"attached": iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"],
                                  "inline": names,
                                  "trust": iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"],
                                  "docs": [_document(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
                                           for n in names]}
            operator_arn = next(o["OutputValue"] for o in described["Outputs"]
                                if o["OutputKey"] == "OperatorPolicyArn")
            version = iam.get_policy(PolicyArn=operator_arn)["Policy"]["DefaultVersionId"]
            operator = iam.get_policy_version(PolicyArn=operator_arn, VersionId=version)["PolicyVersion"]["Document"]
            s3 = boto3.client("s3", region_name=REGION)
            encryption = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
            logs = boto3.client("logs", region_name=REGION).describe_log_groups(
                logGroupNamePrefix="/aws/sagemaker/Endpoints/")["logGroups"]
            yield {"stack": described, "warnings": [str(w.message) for w in caught],
                   "outputs": {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]},
                   "policies": policies, "operator": operator, "encryption": encryption, "logs": logs}


def test_stack_is_created_and_its_outputs_read_back(stack):
    assert stack["stack"]["StackStatus"] == "CREATE_COMPLETE"
    assert stack["outputs"] == {
        "Region": REGION,
        "BucketName": BUCKET,
        "SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/myflix-sagemaker-{REGION}",
        "ApiRoleArn": f"arn:aws:iam::{ACCOUNT}:role/myflix-api-{REGION}",
        "GlueDatabase": "myflix",
        "GlueTable": "movie_clusters",
        "ModelPackageGroup": "myflix-movie-clusters",
        "ModelPackageGroupArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/myflix-movie-clusters",
        "PipelineName": PIPELINE,
        "EndpointName": "myflix-movie-clusters",
        "StagingEndpointName": "myflix-movie-clusters-staging",
        "OperatorPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/myflix-operator-{REGION}",
        "RetrainScheduleName": "myflix-retrain",
        "RetrainSchedulerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/myflix-retrain-scheduler-{REGION}",
        "EventsStreamName": "myflix-events",
    }


def test_only_known_resource_types_are_skipped_by_moto(stack):
    skipped = {m.split("parse ")[1].split(" but")[0] for m in stack["warnings"] if "not supported" in m}
    assert skipped <= MOTO_SKIPPED_TYPES


def test_created_bucket_is_encrypted_and_roles_use_only_the_stacks_own_policies(stack):
    assert stack["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    for role, info in stack["policies"].items():
        # one inline policy each, no managed policy at all (AWS's or ours)
        assert info["attached"] == []
        assert len(info["inline"]) == 1 and len(info["docs"]) == 1
        (statement,) = info["trust"]["Statement"]
        service = "sagemaker" if "sagemaker" in role else "lambda"
        assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
    assert [g["logGroupName"] for g in stack["logs"]] == ["/aws/sagemaker/Endpoints/myflix-movie-clusters",
                                                          "/aws/sagemaker/Endpoints/myflix-movie-clusters-staging"]
    assert {g["retentionInDays"] for g in stack["logs"]} == {30}


# A small evaluator of IAM's matching rules: enough to say what a set of documents allows.
def _matches(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def _condition_holds(condition: dict, context: dict) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if key not in context:
                return False
            actual, options = str(context[key]), [str(e) for e in _as_list(expected)]
            if operator == "StringEquals" or operator == "Bool":
                ok = actual in options
            elif operator == "StringLike":
                ok = any(_matches(o, actual) for o in options)
            elif operator == "NumericLessThan":
                ok = any(float(actual) < float(o) for o in options)
            else:
                raise AssertionError(f"the test's evaluator does not know condition {operator}")
            if not ok:
                return False
    return True


def evaluate(documents: list[dict], action: str, resource: str, context: dict | None = None) -> str | None:
    """'Deny' (an explicit deny matched), 'Allow', or None (implicitly denied)."""
    decision = None
    for doc in documents:
        for st in _as_list(doc["Statement"]):
            if not any(_matches(a, action, case_sensitive=False) for a in _as_list(st["Action"])):
                continue
            if not any(_matches(r, resource) for r in _as_list(st["Resource"])):
                continue
            if not _condition_holds(st.get("Condition", {}), context or {}):
                continue
            if st["Effect"] == "Deny":
                return "Deny"
            decision = "Allow"
    return decision


SM_ROLE = f"arn:aws:iam::{ACCOUNT}:role/myflix-sagemaker-{REGION}"
OBJ = f"arn:aws:s3:::{BUCKET}"
GLUE = f"arn:aws:glue:{REGION}:{ACCOUNT}"
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
LOGS = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group"

SAGEMAKER_ROLE_CASES = [
    # PrepareInteractions reads the collected events and the forget records, and never writes there
    ("s3:GetObject", f"{OBJ}/events/dt=2026-01-01/myflix-events-1.gz", {}, True),
    ("s3:ListBucket", OBJ, {"s3:prefix": "events/forgotten/"}, True),
    ("s3:PutObject", f"{OBJ}/events/dt=2026-01-01/x", {}, False),
    ("s3:DeleteObject", f"{OBJ}/events/forgotten/x.json", {}, False),
    # what the pipeline, its jobs and the Deploy step do
    ("s3:GetObject", f"{OBJ}/raw/title.basics.tsv.gz", {}, True),
    ("s3:GetObject", f"{OBJ}/code/{'a' * 64}/src/steps/preprocess.py", {}, True),
    ("s3:ListBucket", OBJ, {"s3:prefix": "raw/title.ratings.tsv.gz"}, True),
    ("s3:ListBucket", OBJ, {"s3:prefix": f"runs/{PIPELINE}/abc123/TrainKMeans/"}, True),
    ("s3:PutObject", f"{OBJ}/runs/{PIPELINE}/abc123/Preprocess/features/features.parquet", {}, True),
    ("s3:GetObject", f"{OBJ}/runs/{PIPELINE}/abc123/Evaluate/evaluation/evaluation.json", {}, True),
    ("s3:PutObject", f"{OBJ}/tables/movie_clusters/abc123/part-0.parquet", {}, True),
    ("sagemaker:CreateProcessingJob", f"{SM}:processing-job/pipelines-abc123-preprocess-x1y2", {}, True),
    ("sagemaker:CreateTrainingJob", f"{SM}:training-job/pipelines-abc123-trainkmeans-x1y2", {}, True),
    ("sagemaker:AddTags", f"{SM}:training-job/pipelines-abc123-trainkmeans-x1y2", {}, True),
    ("sagemaker:CreateModelPackage", f"{SM}:model-package/myflix-movie-clusters/3", {}, True),
    ("sagemaker:CreateModelPackage", f"{SM}:model-package/myflix-movie-clusters", {}, True),
    ("s3:DeleteObject", f"{OBJ}/tables/movie_clusters/abc123/part-0.parquet", {}, True),
    ("iam:PassRole", SM_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}, True),
    ("logs:PutLogEvents", f"{LOGS}:/aws/sagemaker/ProcessingJobs:log-stream:pipelines-abc/algo-1", {}, True),
    ("logs:CreateLogGroup", f"{LOGS}:/aws/sagemaker/Endpoints/myflix-movie-clusters", {}, True),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}, True),
    ("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:683313688378:repository/sagemaker-scikit-learn", {}, True),
    # Ingest's output (raw/<execution id>/) and Evaluate's look-up of the production model
    ("s3:PutObject", f"{OBJ}/raw/abc123/title.basics.tsv.gz", {}, True),
    ("s3:PutObject", f"{OBJ}/raw/abc123/ingest.json", {}, True),
    ("sagemaker:ListModelPackages", "*", {}, True),
    ("sagemaker:DescribeModelPackage", f"{SM}:model-package/myflix-movie-clusters/3", {}, True),
    # what it must not do
    ("s3:PutObject", f"{OBJ}/raw/title.basics.tsv.gz", {}, False),
    ("s3:PutObject", f"{OBJ}/raw/abc123/anything.csv", {}, False),
    ("sagemaker:StartPipelineExecution", f"{SM}:pipeline/{PIPELINE}", {}, False),
    ("s3:PutObject", f"{OBJ}/code/{'a' * 64}/src/steps/preprocess.py", {}, False),
    ("s3:DeleteObject", f"{OBJ}/runs/{PIPELINE}/abc123/x", {}, False),
    ("s3:DeleteObject", f"{OBJ}/raw/title.basics.tsv.gz", {}, False),
    ("sagemaker:CreateModel", f"{SM}:model/someone-elses-model", {}, False),
    # no Deploy step and no table moves any more: the deployer's role does those
    ("sagemaker:CreateModel", f"{SM}:model/myflix-movie-clusters-v3-0a1b2c3d", {}, False),
    ("sagemaker:UpdateEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, False),
    ("glue:UpdateTable", f"{GLUE}:table/myflix/movie_clusters", {}, False),
    ("glue:CreateTable", f"{GLUE}:database/myflix", {}, False),
    ("s3:GetObject", f"{OBJ}/other/secret.csv", {}, False),
    ("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/raw/title.basics.tsv.gz", {}, False),
    ("s3:ListBucket", OBJ, {"s3:prefix": ""}, False),
    ("s3:DeleteBucket", OBJ, {}, False),
    ("glue:DeleteTable", f"{GLUE}:table/myflix/movie_clusters", {}, False),
    ("glue:UpdateTable", f"{GLUE}:table/myflix/other_table", {}, False),
    ("glue:UpdateTable", f"{GLUE}:table/otherdb/movie_clusters", {}, False),
    ("sagemaker:CreateProcessingJob", f"{SM}:processing-job/mining-crypto", {}, False),
    ("sagemaker:CreateEndpoint", f"{SM}:endpoint/someone-elses-endpoint", {}, False),
    ("sagemaker:DeleteEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, False),
    ("sagemaker:UpdateModelPackage", f"{SM}:model-package/myflix-movie-clusters/3", {}, False),
    ("sagemaker:CreateModelPackage", f"{SM}:model-package/other-group/1", {}, False),
    ("sagemaker:InvokeEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, False),
    ("iam:PassRole", SM_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}, False),
    ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", {"iam:PassedToService": "sagemaker.amazonaws.com"}, False),
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Billing"}, False),
    ("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/anything", {}, False),
    ("logs:PutLogEvents", f"{LOGS}:/aws/lambda/other:log-stream:x", {}, False),
    ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/x", {}, False),
]

FIREHOSE = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream"
API_ROLE_CASES = [
    ("s3:GetObject", f"{OBJ}/tables/movie_clusters/abc123/part-0.parquet", {}, True),
    ("s3:ListBucket", OBJ, {"s3:prefix": "tables/movie_clusters/abc123/"}, True),
    ("glue:GetTable", f"{GLUE}:table/myflix/movie_clusters", {}, True),
    ("glue:GetTable", f"{GLUE}:database/myflix", {}, True),
    ("glue:GetTable", f"{GLUE}:catalog", {}, True),
    ("glue:GetPartitions", f"{GLUE}:table/myflix/movie_clusters", {}, True),
    ("sagemaker:InvokeEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, True),
    ("sagemaker:ListTags", f"{SM}:endpoint/myflix-movie-clusters", {}, True),      # which package it serves
    ("sagemaker:DescribeEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, True),
    ("sagemaker:InvokeEndpoint", f"{SM}:endpoint/myflix-movie-clusters-staging", {}, False),
    ("sagemaker:AddTags", f"{SM}:endpoint/myflix-movie-clusters", {}, False),
    ("logs:PutLogEvents", f"{LOGS}:/aws/lambda/myflix-api-dev:log-stream:2026/x", {}, True),
    ("logs:CreateLogStream", f"{LOGS}:/aws/lambda/myflix-api-APIHandler-AbC:log-stream:x", {}, True),
    ("logs:CreateLogGroup", f"{LOGS}:/aws/lambda/myflix-api-dev", {}, True),
    ("s3:GetObject", f"{OBJ}/raw/title.basics.tsv.gz", {}, False),
    ("s3:GetObject", f"{OBJ}/runs/{PIPELINE}/abc123/model.tar.gz", {}, False),
    ("s3:PutObject", f"{OBJ}/tables/movie_clusters/abc123/part-0.parquet", {}, False),
    ("s3:ListBucket", OBJ, {"s3:prefix": "raw/"}, False),
    ("glue:UpdateTable", f"{GLUE}:table/myflix/movie_clusters", {}, False),
    ("glue:GetTable", f"{GLUE}:table/myflix/other_table", {}, False),
    ("glue:GetTables", f"{GLUE}:database/myflix", {}, False),
    ("sagemaker:InvokeEndpoint", f"{SM}:endpoint/another-endpoint", {}, False),
    ("sagemaker:UpdateEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, False),
    ("logs:PutLogEvents", f"{LOGS}:/aws/lambda/payroll:log-stream:x", {}, False),
    ("iam:PassRole", SM_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}, False),
    # viewer events: send to the one stream; forget (the record, rewrites, old versions) under events/ only
    ("firehose:PutRecordBatch", f"{FIREHOSE}/myflix-events", {}, True),
    ("firehose:PutRecordBatch", f"{FIREHOSE}/another-stream", {}, False),
    ("firehose:DeleteDeliveryStream", f"{FIREHOSE}/myflix-events", {}, False),
    ("s3:PutObject", f"{OBJ}/events/forgotten/ab12.json", {}, True),
    ("s3:DeleteObjectVersion", f"{OBJ}/events/dt=2026-01-01/x.gz", {}, True),
    ("s3:ListBucketVersions", OBJ, {"s3:prefix": "events/dt=2026-01-01/x.gz"}, True),
    ("s3:ListBucketVersions", OBJ, {"s3:prefix": "runs/"}, False),
    ("s3:DeleteObject", f"{OBJ}/tables/movie_clusters/abc123/part-0.parquet", {}, False),
    ("s3:PutObject", f"{OBJ}/raw/title.basics.tsv.gz", {}, False),
]
EVENTS_ROLE_CASES = [
    ("s3:PutObject", f"{OBJ}/events/dt=2026-01-01/myflix-events-1.gz", {}, True),
    ("s3:PutObject", f"{OBJ}/events-errors/processing-failed/x", {}, True),
    ("s3:AbortMultipartUpload", f"{OBJ}/events/dt=2026-01-01/x", {}, True),
    ("s3:GetBucketLocation", OBJ, {}, True),
    ("s3:GetObject", f"{OBJ}/events/dt=2026-01-01/x", {}, False),
    ("s3:PutObject", f"{OBJ}/tables/movie_clusters/x/part-0.parquet", {}, False),
    ("s3:DeleteObject", f"{OBJ}/events/dt=2026-01-01/x", {}, False),
    ("s3:ListBucket", OBJ, {"s3:prefix": "events/"}, False),
]


DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/myflix-deployer-{REGION}"
DEPLOYER_ROLE_CASES = [
    # the two endpoints, their models and configs, the group's packages, the manifests, the table
    ("sagemaker:DescribeModelPackage", f"{SM}:model-package/myflix-movie-clusters/3", {}, True),
    ("sagemaker:ListModelPackages", "*", {}, True),
    ("sagemaker:CreateModel", f"{SM}:model/myflix-movie-clusters-staging-v3-0a1b2c3d", {}, True),
    ("sagemaker:CreateModel", f"{SM}:model/myflix-movie-clusters-v3-0a1b2c3d", {}, True),
    ("sagemaker:CreateEndpointConfig", f"{SM}:endpoint-config/myflix-movie-clusters-staging-cfg-v3-0a1b2c3d", {}, True),
    ("sagemaker:CreateEndpoint", f"{SM}:endpoint/myflix-movie-clusters-staging", {}, True),
    ("sagemaker:CreateEndpoint", f"{SM}:endpoint-config/myflix-movie-clusters-staging-cfg-v3-0a1b2c3d", {}, True),
    ("sagemaker:UpdateEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, True),
    ("sagemaker:AddTags", f"{SM}:endpoint/myflix-movie-clusters", {}, True),
    ("sagemaker:ListTags", f"{SM}:endpoint/myflix-movie-clusters-staging", {}, True),
    ("sagemaker:InvokeEndpoint", f"{SM}:endpoint/myflix-movie-clusters-staging", {}, True),
    ("iam:PassRole", SM_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}, True),
    ("s3:GetObject", f"{OBJ}/tables/movie_clusters/abc123/_myflix_release.json", {}, True),
    ("glue:UpdateTable", f"{GLUE}:table/myflix/movie_clusters", {}, True),
    ("glue:CreateTable", f"{GLUE}:database/myflix", {}, True),
    ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:myflix-deployer-dead-letters-{REGION}", {}, True),
    ("logs:PutLogEvents", f"{LOGS}:/aws/lambda/myflix-deployer-{REGION}:log-stream:x", {}, True),
    # and nothing else
    ("sagemaker:CreateEndpoint", f"{SM}:endpoint/someone-elses-endpoint", {}, False),
    ("sagemaker:UpdateEndpoint", f"{SM}:endpoint/myflix-movie-clusters-canary", {}, False),
    ("sagemaker:DeleteEndpoint", f"{SM}:endpoint/myflix-movie-clusters", {}, False),
    ("sagemaker:InvokeEndpoint", f"{SM}:endpoint/another-endpoint", {}, False),
    ("sagemaker:CreateModel", f"{SM}:model/someone-elses-model", {}, False),
    ("sagemaker:UpdateModelPackage", f"{SM}:model-package/myflix-movie-clusters/3", {}, False),
    ("sagemaker:DescribeModelPackage", f"{SM}:model-package/other-group/1", {}, False),
    ("sagemaker:CreateProcessingJob", f"{SM}:processing-job/pipelines-abc", {}, False),
    ("s3:GetObject", f"{OBJ}/tables/movie_clusters/abc123/part-0.parquet", {}, True),   # the smoke test reads it
    ("s3:GetObject", f"{OBJ}/runs/{PIPELINE}/abc123/TrainKMeans/model/model.tar.gz", {}, False),
    ("s3:PutObject", f"{OBJ}/tables/movie_clusters/abc123/_myflix_release.json", {}, False),
    ("glue:DeleteTable", f"{GLUE}:table/myflix/movie_clusters", {}, False),
    ("glue:UpdateTable", f"{GLUE}:table/myflix/other_table", {}, False),
    ("iam:PassRole", SM_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}, False),
    ("iam:PassRole", DEPLOYER, {"iam:PassedToService": "sagemaker.amazonaws.com"}, False),
    ("logs:PutLogEvents", f"{LOGS}:/aws/lambda/myflix-api-dev:log-stream:x", {}, False),
]


@pytest.mark.parametrize("action, resource, context, allowed", DEPLOYER_ROLE_CASES,
                         ids=[f"{'allow' if c[3] else 'deny'}-{c[0]}-{i}" for i, c in enumerate(DEPLOYER_ROLE_CASES)])
def test_deployer_role_touches_only_the_two_endpoints_the_group_and_the_table(stack, action, resource, context,
                                                                              allowed):
    docs = stack["policies"][f"myflix-deployer-{REGION}"]["docs"]
    assert (evaluate(docs, action, resource, context) == "Allow") is allowed


def _event_matches(pattern: dict, event: dict) -> bool:
    return all(isinstance(event, dict) and key in event and (
        _event_matches(want, event[key]) if isinstance(want, dict) else event[key] in want)
        for key, want in pattern.items())


def test_the_deployer_function_and_rule_come_with_its_code(stack):
    """Without DeployerCodeKey no function or rule (the code goes into the stack's bucket first);
    with it, the function runs the deployer as its role, and the rule sends it this group's
    Approved and Rejected decisions only."""
    from deployer.package import build_zip, code_key
    assert not [r for r in stack["stack"]["Outputs"] if r["OutputKey"] == "DeployerFunctionName"]
    # a stack of its own (other names), created as docs/aws.md does: first without the code...
    names = {"ResourcePrefix": "mfdep", "BucketName": "mfdep-data", "EndpointName": "mfdep-ep"}
    cfn = boto3.client("cloudformation", region_name=REGION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfn.create_stack(StackName="mfdep", TemplateBody=INFRA.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in names.items()])
        body = build_zip()
        key = code_key(body)
        boto3.client("s3", region_name=REGION).put_object(Bucket="mfdep-data", Key=key, Body=body)
        # ...then with it
        cfn.update_stack(StackName="mfdep", TemplateBody=INFRA.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {
                             **names, "DeployerCodeKey": key, "AutoPromote": "true"}.items()])
    described = cfn.describe_stacks(StackName="mfdep")["Stacks"][0]
    assert described["StackStatus"] == "UPDATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    function = boto3.client("lambda", region_name=REGION).get_function(FunctionName=outputs["DeployerFunctionName"])
    config = function["Configuration"]
    assert (config["Role"] == DEPLOYER.replace("myflix-", "mfdep-")
            and config["Handler"] == "deployer.lambda_handler.handler")
    assert config["Runtime"] == "python3.12" and config["Timeout"] == 900
    env = config["Environment"]["Variables"]
    assert env["MYFLIX_ENDPOINT_NAME"] == "mfdep-ep" and env["MYFLIX_AUTO_PROMOTE"] == "true"
    assert env["MYFLIX_STAGING_ENDPOINT_NAME"] == "mfdep-ep-staging"
    assert (env["MYFLIX_ROLE_ARN"] == SM_ROLE.replace("myflix-", "mfdep-")
            and env["MYFLIX_MODEL_PACKAGE_GROUP"] == "myflix-movie-clusters")
    resources = {r.get("LogicalResourceId"): r
                 for r in cfn.describe_stack_resources(StackName="mfdep")["StackResources"]}
    assert resources["DeployerRule"]["PhysicalResourceId"] == f"mfdep-model-package-state-{REGION}"
    # moto's CloudFormation records the rule here without creating it in EventBridge (a fresh
    # moto does), and moto has no TestEventPattern: the template's pattern is tried with
    # EventBridge's matching rule for exact values (every key present, its value one of the list)
    template_rule = load_template()["Resources"]["DeployerRule"]["Properties"]
    rendered = json.loads(json.dumps(template_rule["EventPattern"]).replace(
        '{"Ref": "ModelPackageGroupName"}', '"myflix-movie-clusters"'))
    rule = {"EventPattern": json.dumps(rendered),
            "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/mfdep-model-package-state-{REGION}"}
    assert template_rule["Targets"] == [{"Id": "deployer", "Arn": {"Fn::GetAtt": ["DeployerFunction", "Arn"]}}]
    pattern = json.loads(rule["EventPattern"])
    assert pattern == {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
                       "detail": {"ModelPackageGroupName": ["myflix-movie-clusters"],
                                  "ModelApprovalStatus": ["Approved", "Rejected"]}}
    # the pattern matches the documented event of an approval in this group, and not another group's
    from deployer_fixtures import state_change_event
    package = {"ModelPackageArn": f"{SM}:model-package/myflix-movie-clusters/4", "ModelPackageGroupName":
               "myflix-movie-clusters", "InferenceSpecification": {"Containers": [{"Image": "i", "ModelDataUrl": "s3://b/k"}]}}
    approved = state_change_event(package, "Approved")
    approved["source"] = "aws.sagemaker"      # EventBridge delivers one source; the docs' second key is a typo
    assert _event_matches(pattern, approved)
    other = dict(approved, detail={**approved["detail"], "ModelPackageGroupName": "other-group"})
    assert not _event_matches(pattern, other)
    pending = dict(approved, detail={**approved["detail"], "ModelApprovalStatus": "PendingManualApproval"})
    assert not _event_matches(pattern, pending)
    # only this rule may invoke it
    policy = json.loads(boto3.client("lambda", region_name=REGION).get_policy(
        FunctionName=outputs["DeployerFunctionName"])["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]


@pytest.mark.parametrize("action, resource, context, allowed", SAGEMAKER_ROLE_CASES,
                         ids=[f"{'allow' if c[3] else 'deny'}-{c[0]}-{i}" for i, c in enumerate(SAGEMAKER_ROLE_CASES)])
def test_sagemaker_role_allows_the_pipeline_and_nothing_else(stack, action, resource, context, allowed):
    docs = stack["policies"][f"myflix-sagemaker-{REGION}"]["docs"]
    assert (evaluate(docs, action, resource, context) == "Allow") is allowed


@pytest.mark.parametrize("action, resource, context, allowed", API_ROLE_CASES,
                         ids=[f"{'allow' if c[3] else 'deny'}-{c[0]}-{i}" for i, c in enumerate(API_ROLE_CASES)])
def test_api_role_reads_the_table_and_invokes_the_endpoint_only(stack, action, resource, context, allowed):
    docs = stack["policies"][f"myflix-api-{REGION}"]["docs"]
    assert (evaluate(docs, action, resource, context) == "Allow") is allowed


def test_scheduler_role_only_starts_this_pipeline(stack):
    iam = boto3.client("iam", region_name=REGION)
    role = f"myflix-retrain-scheduler-{REGION}"
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    (statement,) = _document(trust)["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    docs = [_document(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
            for n in iam.list_role_policies(RoleName=role)["PolicyNames"]]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    assert evaluate(docs, "sagemaker:StartPipelineExecution", f"{SM}:pipeline/{PIPELINE}") == "Allow"
    for action, resource in (("sagemaker:StartPipelineExecution", f"{SM}:pipeline/other"),
                             ("sagemaker:StopPipelineExecution", f"{SM}:pipeline/{PIPELINE}/execution/x"),
                             ("sagemaker:UpdatePipeline", f"{SM}:pipeline/{PIPELINE}"),
                             ("iam:PassRole", SM_ROLE)):
        assert evaluate(docs, action, resource) is None, action


def test_retrain_schedule_only_with_the_parameter():
    template = load_template()
    schedule = template["Resources"]["RetrainPipelineSchedule"]
    assert schedule["Condition"] == "HasRetrainSchedule"
    assert template["Conditions"]["HasRetrainSchedule"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "RetrainSchedule"}, ""]}]}
    assert template["Parameters"]["RetrainSchedule"]["Default"] == ""
    target = schedule["Properties"]["Target"]
    assert target["RoleArn"] == {"Fn::GetAtt": ["RetrainSchedulerRole", "Arn"]}
    assert _text(target["Arn"]).endswith(":pipeline/${PipelineName}")
    pattern = re.compile(template["Parameters"]["RetrainSchedule"]["AllowedPattern"])
    for good in ("", "cron(0 3 ? * SUN *)", "rate(7 days)"):
        assert pattern.match(good), good
    for bad in ("every sunday", "cron 0 3 * * *"):
        assert not pattern.match(bad), bad


def test_operator_policy_runs_the_pipeline_and_approves_but_cannot_widen_access(stack):
    docs = [stack["operator"]]
    assert evaluate(docs, "sagemaker:StartPipelineExecution", f"{SM}:pipeline/{PIPELINE}") == "Allow"
    assert evaluate(docs, "sagemaker:UpdateModelPackage", f"{SM}:model-package/myflix-movie-clusters/2") == "Allow"
    assert evaluate(docs, "s3:PutObject", f"{OBJ}/raw/title.basics.tsv.gz") == "Allow"
    assert evaluate(docs, "iam:PassRole", SM_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}) == "Allow"
    assert evaluate(docs, "sagemaker:StartPipelineExecution", f"{SM}:pipeline/other") is None
    assert evaluate(docs, "s3:PutObject", f"{OBJ}/tables/movie_clusters/x/part-0.parquet") is None
    assert evaluate(docs, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/myflix-api-{REGION}",
                    {"iam:PassedToService": "lambda.amazonaws.com"}) is None
    assert evaluate(docs, "iam:PutRolePolicy", SM_ROLE) is None
    # the retrain schedule: managed by name, its role passed to EventBridge Scheduler only
    schedule = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/myflix-retrain"
    scheduler_role = f"arn:aws:iam::{ACCOUNT}:role/myflix-retrain-scheduler-{REGION}"
    assert evaluate(docs, "scheduler:UpdateSchedule", schedule) == "Allow"
    assert evaluate(docs, "scheduler:UpdateSchedule", schedule.replace("myflix-retrain", "other")) is None
    assert evaluate(docs, "iam:PassRole", scheduler_role, {"iam:PassedToService": "scheduler.amazonaws.com"}) == "Allow"
    assert evaluate(docs, "iam:PassRole", scheduler_role, {"iam:PassedToService": "sagemaker.amazonaws.com"}) is None
    assert evaluate(docs, "iam:PassRole", SM_ROLE, {"iam:PassedToService": "scheduler.amazonaws.com"}) is None


def test_bucket_policy_denies_plain_http_and_old_tls():
    template = load_template()
    names = {"DataBucket.Arn": OBJ}
    statements = template["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    rendered = {"Statement": [dict(st, Resource=[re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], _text(r))
                                                 for r in st["Resource"]]) for st in statements]}
    obj = f"{OBJ}/raw/title.basics.tsv.gz"
    assert evaluate([rendered], "s3:GetObject", obj, {"aws:SecureTransport": "false", "s3:TlsVersion": "1.3"}) == "Deny"
    assert evaluate([rendered], "s3:ListBucket", OBJ,
                    {"aws:SecureTransport": "false", "s3:TlsVersion": "1.3"}) == "Deny"
    assert evaluate([rendered], "s3:PutObject", obj, {"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"}) == "Deny"
    assert evaluate([rendered], "s3:GetObject", obj, {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}) is None


def test_template_keeps_the_data_and_the_registry_on_stack_deletion():
    # Kept when the stack is deleted, but not after a failed first create (Retain would leave a
    # bucket and a group of fixed names behind, and the retried create fails "already exists").
    resources = load_template()["Resources"]
    for logical_id in ("DataBucket", "ModelPackageGroup"):
        assert resources[logical_id]["DeletionPolicy"] == "RetainExceptOnCreate"
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain"


def test_the_deployed_template_stays_under_cloudformations_inline_limit(tmp_path, capsys):
    # CloudFormation takes 51,200 bytes inline; the YAML with its comments is near that. What is
    # deployed is `myflix config template`'s compact JSON: the same template, held under a budget
    # that leaves room for what later issues add.
    from cli.main import main
    from operations import cfn_template
    compact = cfn_template.compact(INFRA)
    assert json.loads(compact) == load_template()          # the same template, as cfn-lint reads it
    assert len(compact.encode()) <= cfn_template.TEMPLATE_BUDGET < cfn_template.INLINE_LIMIT == 51_200
    out = tmp_path / "build" / "infra.json"
    assert main(["config", "template", "--template", str(INFRA), "--output", str(out)]) == 0
    assert out.read_text() == compact and "inline limit" in capsys.readouterr().out
    # a template over the limit even when compact is refused, saying what to do
    big = tmp_path / "big.yaml"
    big.write_text(INFRA.read_text() + "Metadata:\n  padding: " + "x" * 60_000 + "\n")
    assert main(["config", "template", "--template", str(big), "--output", str(out)]) == 2
    assert "--s3-bucket" in capsys.readouterr().err


def test_the_deployer_reserves_no_concurrency_unless_asked():
    # Lambda refuses a reservation that leaves the account less than its minimum unreserved
    # concurrency (new accounts have 10 in all): by default the deployer reserves none.
    template = load_template()
    assert template["Parameters"]["DeployerReservedConcurrency"]["Default"] == 0
    reserved = template["Resources"]["DeployerFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {"Fn::If": ["ReserveDeployer", 1, {"Ref": "AWS::NoValue"}]}
    assert template["Conditions"]["ReserveDeployer"] == {
        "Fn::Equals": [{"Ref": "DeployerReservedConcurrency"}, 1]}


def _checkov() -> str | None:
    import os
    import shutil
    own_venv = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin" / "checkov"
    return (os.environ.get("MYFLIX_CHECKOV") or (str(own_venv) if own_venv.is_file() else None)
            or shutil.which("checkov"))


@pytest.mark.skipif(not _checkov(), reason="checkov is not installed (make test installs it in .venv-checkov: it pins "
                    "boto3 1.35 < setup.cfg's 1.40); set MYFLIX_CHECKOV=.venv-checkov/bin/checkov")
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_checkov_finds_nothing(template):
    """checkov 3.3.30, run from its own venv, passed all 44 of its checks on the infra template
    (20 rules: CKV_AWS_18-21, 53-57, 60-63, 66, 107-111, 158) with no finding.

    Two pass through parameters: CKV_AWS_18 (access logging: AccessLogBucket) and CKV_AWS_158
    (log group KMS: KmsKeyArn). With their empty defaults, logging is off and the log group uses
    CloudWatch Logs' own encryption at rest; set both in production.
    """
    import subprocess
    result = subprocess.run([_checkov(), "-f", str(template), "--framework", "cloudformation",
                             "--skip-download", "-o", "json"],
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    assert report["results"]["failed_checks"] == [], report["results"]["failed_checks"]
    assert report["summary"]["passed"] > 0


# --- the pipeline definition against the execution role -----------------------------------------

def _definition_steps(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        yield step
        args = step.get("Arguments", {})
        for branch in ("IfSteps", "ElseSteps"):
            yield from _definition_steps(args.get(branch, []))


class _Resolver:
    """Turns the definition's expressions into the concrete values one execution would see."""

    def __init__(self, definition: dict, execution_id: str = "abc123"):
        self.params = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
        self.steps = {s["Name"]: s for s in _definition_steps(definition["Steps"])}
        self.execution = {"PipelineName": PIPELINE, "PipelineExecutionId": execution_id,
                          "PipelineExecutionArn": f"{SM}:pipeline/{PIPELINE}/execution/{execution_id}"}

    def __call__(self, value: Any) -> str:
        if isinstance(value, (str, int, float)):
            return str(value)
        if "Std:Join" in value:
            join = value["Std:Join"]
            return join["On"].join(self(v) for v in join["Values"])
        if "Get" in value:
            path = value["Get"]
            kind, _, rest = path.partition(".")
            if kind == "Parameters":
                return str(self.params[rest])
            if kind == "Execution":
                return self.execution[rest]
            if kind == "Steps":
                name, _, prop = rest.partition(".")
                args = self.steps[name]["Arguments"]
                m = re.match(r"ProcessingOutputConfig\.Outputs\['([^']+)'\]\.S3Output\.S3Uri$", prop)
                if m:
                    (out,) = [o for o in args["ProcessingOutputConfig"]["Outputs"] if o["OutputName"] == m.group(1)]
                    return self(out["S3Output"]["S3Uri"])
                if prop == "ModelArtifacts.S3ModelArtifacts":
                    base = self(args["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
                    return f"{base}/pipelines-abc123-{name}-x1y2/output/model.tar.gz"
                if prop == "ModelPackageArn":
                    return f"{SM}:model-package/myflix-movie-clusters/1"
                return f"<{path}>"
        raise AssertionError(f"the test cannot resolve {value!r}")


def s3_access_of_definition(definition: dict) -> list[tuple[str, str, str]]:
    """(step, 'read'|'write', s3 uri) for every S3 location the definition's steps use."""
    resolve = _Resolver(definition)
    uses = []
    for step in _definition_steps(definition["Steps"]):
        args, name = step.get("Arguments", {}), step["Name"]
        for inp in args.get("ProcessingInputs", []):
            uses.append((name, "read", resolve(inp["S3Input"]["S3Uri"])))
        for out in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
            uses.append((name, "write", resolve(out["S3Output"]["S3Uri"])))
        for inp in args.get("InputDataConfig", []):
            uses.append((name, "read", resolve(inp["DataSource"]["S3DataSource"]["S3Uri"])))
        if "OutputDataConfig" in args:
            uses.append((name, "write", resolve(args["OutputDataConfig"]["S3OutputPath"])))
        for value in args.get("HyperParameters", {}).values():
            if isinstance(value, str) and value.strip('"').startswith("s3://"):
                uses.append((name, "read", value.strip('"')))
        container_args = args.get("AppSpecification", {}).get("ContainerArguments", [])
        for flag, value in zip(container_args, container_args[1:]):
            if flag == "--table-location":
                uses.append((name, "write", resolve(value)))
        for container in args.get("InferenceSpecification", {}).get("Containers", []):
            uses.append((name, "read", resolve(container["ModelDataUrl"])))
        for metric in args.get("ModelMetrics", {}).get("ModelQuality", {}).values():
            uses.append((name, "read", resolve(metric["S3Uri"])))
    return uses


@pytest.fixture(scope="module")
def definition(definition_json_once):
    # generated once per session for these settings, shared with tests/project/test_readme_aws.py
    return json.loads(definition_json_once(REGION, SM_ROLE, BUCKET, PIPELINE))


def test_sagemaker_role_covers_every_s3_location_of_the_pipeline_definition(stack, definition):
    docs = stack["policies"][f"myflix-sagemaker-{REGION}"]["docs"]
    uses = s3_access_of_definition(definition)
    assert {name for name, _, _ in uses} >= {"Ingest", "Preprocess", "TrainScaler", "TuneKMeans",
                                             "TrainKMeans", "Evaluate", "Publish"}
    problems = []
    for step, mode, uri in uses:
        if not uri.startswith(f"s3://{BUCKET}/"):
            problems.append(f"{step} {mode}s {uri}, outside the stack's bucket")
            continue
        key = uri[len(f"s3://{BUCKET}/"):]
        obj = f"{OBJ}/{key.rstrip('/')}/part-0" if uri.endswith("/") or mode == "write" else f"{OBJ}/{key}"
        checks = [("s3:GetObject", obj, {}), ("s3:ListBucket", OBJ, {"s3:prefix": key})]
        if mode == "write" and step == "Ingest":
            # the role may write exactly the files Ingest leaves in its output, nothing else
            from steps import ingest
            names = [f.name for f in ingest.FILES] + [ingest.INGEST_JSON]
            checks += [("s3:PutObject", f"{OBJ}/{key.rstrip('/')}/{n}", {}) for n in names]
            if evaluate(docs, "s3:PutObject", obj, {}) == "Allow":
                problems.append(f"Ingest may write any object under {uri}, not just its files")
        elif mode == "write":
            checks.append(("s3:PutObject", obj, {}))
        for action, resource, context in checks:
            if evaluate(docs, action, resource, context) != "Allow":
                problems.append(f"{step} needs {action} on {resource} {context or ''}")
    assert problems == []


def test_pipeline_definition_uses_the_stacks_names(definition):
    from steps import schema
    steps = {s["Name"]: s for s in _definition_steps(definition["Steps"])}
    roles = {s["Arguments"]["RoleArn"] for s in steps.values() if "RoleArn" in s.get("Arguments", {})}
    assert roles == {SM_ROLE}
    assert steps["Register"]["Arguments"]["ModelPackageGroupName"] == schema.MODEL_PACKAGE_GROUP
    images = {json.dumps(s["Arguments"].get("AppSpecification", {}).get("ImageUri")
                         or s["Arguments"].get("AlgorithmSpecification", {}).get("TrainingImage"))
              for s in steps.values() if s["Type"] in ("Processing", "Training")}
    # the role pulls only from the sagemaker-scikit-learn repository
    assert all("/sagemaker-scikit-learn:" in image for image in images), images


# --- the real AWS calls of Publish, Deploy and the API, against each role ------------------------

@contextlib.contextmanager
def recorded_calls() -> Iterator[list[tuple[str, str, dict]]]:
    """Every botocore API call made inside, as (service, operation, params)."""
    import botocore.client
    calls: list[tuple[str, str, dict]] = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        calls.append((self.meta.service_model.service_name, operation, dict(params)))
        return original(self, operation, params)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(botocore.client.BaseClient, "_make_api_call", record)
        yield calls


def iam_requests(service: str, operation: str, params: dict) -> list[tuple[str, str, dict]]:
    """The IAM (action, resource, context) checks one API call needs; the calls our code makes."""
    glue_db = lambda db: [f"{GLUE}:catalog", f"{GLUE}:database/{db}"]   # noqa: E731
    if service == "s3":
        bucket = f"arn:aws:s3:::{params.get('Bucket')}"
        key = params.get("Key")
        obj = f"{bucket}/{key}"
        simple = {"PutObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
                  "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
                  "AbortMultipartUpload": "s3:AbortMultipartUpload", "GetObject": "s3:GetObject",
                  "HeadObject": "s3:GetObject", "DeleteObject": "s3:DeleteObject"}
        if operation in ("GetObject", "DeleteObject") and params.get("VersionId"):
            return [(simple[operation] + "Version", obj, {})]
        if operation in simple:
            return [(simple[operation], obj, {})]
        if operation in ("ListObjectsV2", "ListObjects", "ListObjectVersions"):
            action = "s3:ListBucketVersions" if operation == "ListObjectVersions" else "s3:ListBucket"
            return [(action, bucket, {"s3:prefix": params.get("Prefix", "")})]
        if operation == "DeleteObjects":
            return [("s3:DeleteObject", f"{bucket}/{o['Key']}", {}) for o in params["Delete"]["Objects"]]
        if operation == "HeadBucket":
            return [("s3:ListBucket", bucket, {})]
        if operation == "GetBucketLocation":
            return [("s3:GetBucketLocation", bucket, {})]
    if service == "glue":
        if operation in ("GetDatabase", "CreateDatabase"):
            name = params.get("Name") or params["DatabaseInput"]["Name"]
            return [(f"glue:{operation}", r, {}) for r in glue_db(name)]
        if operation in ("GetTable", "CreateTable", "UpdateTable", "GetPartitions"):
            db = params["DatabaseName"]
            table = params.get("Name") or params.get("TableName") or params["TableInput"]["Name"]
            return [(f"glue:{operation}", r, {}) for r in glue_db(db) + [f"{GLUE}:table/{db}/{table}"]]
    if service == "sagemaker":
        if operation == "DescribeModelPackage":
            return [("sagemaker:DescribeModelPackage", params["ModelPackageName"], {})]
        if operation in ("DescribeModel", "CreateModel", "DeleteModel"):
            checks = [(f"sagemaker:{operation}", f"{SM}:model/{params['ModelName'].lower()}", {})]
            if operation == "CreateModel":
                checks.append(("iam:PassRole", params["ExecutionRoleArn"],
                               {"iam:PassedToService": "sagemaker.amazonaws.com"}))
            return checks
        if operation in ("DescribeEndpointConfig", "CreateEndpointConfig"):
            return [(f"sagemaker:{operation}", f"{SM}:endpoint-config/{params['EndpointConfigName'].lower()}", {})]
        if operation in ("DescribeEndpoint", "CreateEndpoint", "UpdateEndpoint"):
            checks = [(f"sagemaker:{operation}", f"{SM}:endpoint/{params['EndpointName'].lower()}", {})]
            if "EndpointConfigName" in params:
                checks.append((f"sagemaker:{operation}",
                               f"{SM}:endpoint-config/{params['EndpointConfigName'].lower()}", {}))
            return checks
    if service == "sagemaker" and operation in ("CreatePipeline", "UpdatePipeline", "DescribePipeline",
                                                 "StartPipelineExecution", "ListPipelineExecutions"):
        checks = [(f"sagemaker:{operation}", f"{SM}:pipeline/{params['PipelineName'].lower()}", {})]
        if "RoleArn" in params:
            checks.append(("iam:PassRole", params["RoleArn"], {"iam:PassedToService": "sagemaker.amazonaws.com"}))
        return checks
    if service == "sagemaker" and operation in ("DescribePipelineExecution", "ListPipelineExecutionSteps",
                                                 "ListPipelineParametersForExecution", "StopPipelineExecution"):
        return [(f"sagemaker:{operation}", params["PipelineExecutionArn"], {})]
    if service == "sagemaker" and operation in ("DescribeModelPackageGroup", "CreateModelPackageGroup"):
        return [(f"sagemaker:{operation}", f"{SM}:model-package-group/{params['ModelPackageGroupName'].lower()}", {})]
    if service == "sagemaker" and operation == "ListModelPackages":
        return [("sagemaker:ListModelPackages", "*", {})]
    if service == "sagemaker" and operation == "UpdateModelPackage":
        return [("sagemaker:UpdateModelPackage", params["ModelPackageArn"], {})]
    if service == "sagemaker" and operation in ("AddTags", "ListTags"):
        return [(f"sagemaker:{operation}", params["ResourceArn"], {})]
    if service == "firehose" and operation == "PutRecordBatch":
        return [("firehose:PutRecordBatch", f"{FIREHOSE}/{params['DeliveryStreamName']}", {})]
    if service == "sagemaker-runtime" and operation == "InvokeEndpoint":
        return [("sagemaker:InvokeEndpoint", f"{SM}:endpoint/{params['EndpointName'].lower()}", {})]
    raise AssertionError(f"no IAM mapping for {service}:{operation}: add it to iam_requests")


def denied_calls(docs: list[dict], calls: list[tuple[str, str, dict]]) -> list[str]:
    return [f"{service}:{operation} needs {action} on {resource} {context or ''}"
            for service, operation, params in calls
            for action, resource, context in iam_requests(service, operation, params)
            if evaluate(docs, action, resource, context) != "Allow"]


def test_publish_code_stays_inside_the_execution_role(stack, monkeypatch):
    """steps/aws_io.py's real calls in the Publish job (data, then the release manifest) under moto."""
    import pandas as pd

    from steps import aws_io
    monkeypatch.delenv(aws_io.LOCAL_ROOT_ENV, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    frame = pd.DataFrame({"tconst": ["tt0000001", "tt0000002"], "cluster": [0, 1]})
    location = f"s3://{BUCKET}/tables/movie_clusters/abc123/"
    with recorded_calls() as calls:
        aws_io.write_parquet_dataset(frame, location, {"tconst": "string", "cluster": "int"}, REGION)
        aws_io.write_parquet_dataset(frame, location, {"tconst": "string", "cluster": "int"}, REGION)  # a retry
        aws_io.write_json_object(location + "_myflix_release.json", {"ExecutionId": "abc123"}, REGION)
        with aws_io.open_object(location + "_myflix_release.json", REGION) as stream:
            assert json.load(stream) == {"ExecutionId": "abc123"}
    operations = {op for _, op, _ in calls}
    # the retried write empties its prefix first (DeleteObjects)
    assert {"ListObjectsV2", "PutObject", "DeleteObjects", "GetObject"} <= operations, operations
    assert denied_calls(stack["policies"][f"myflix-sagemaker-{REGION}"]["docs"], calls) == []


@pytest.fixture(scope="module")
def deployer_models(tmp_path_factory):
    from deployer_fixtures import train_models
    return train_models(tmp_path_factory.mktemp("cfn-deployer"), {"a": (9, 42), "b": (7, 3)})


def test_deployer_code_stays_inside_the_deployer_role(stack, deployer_models, monkeypatch):
    """The deployer Lambda's real calls (approve -> staging -> smoke -> prod -> rollback) under moto,
    with tests/deployer/test_deployer.py's stand-ins for what moto lacks, evaluated against its role."""
    import test_deployer

    from deployer import lambda_handler, release
    from deployer.backends import SageMakerBackend
    from deployer.deployer import Deployer
    for key, value in {"AWS_REGION": REGION, "MYFLIX_ROLE_ARN": SM_ROLE, "MYFLIX_AUTO_PROMOTE": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MYFLIX_LOCAL_ROOT", raising=False)
    test_deployer.add_moto_stand_ins(monkeypatch)
    sm = boto3.client("sagemaker", region_name=REGION)
    glue = boto3.client("glue", region_name=REGION)
    # what the stack declares but moto's CloudFormation skips
    for call in (lambda: glue.create_database(DatabaseInput={"Name": "myflix"}),
                 lambda: sm.create_model_package_group(ModelPackageGroupName="myflix-movie-clusters")):
        try:
            call()
        except Exception as err:   # noqa: BLE001 - created by an earlier test of this module
            assert "exist" in str(err).lower(), err
    v1 = test_deployer.register(sm, deployer_models, "cfn-1", "a")
    v2 = test_deployer.register(sm, deployer_models, "cfn-2", "b")
    with recorded_calls() as calls:
        for package in (v1, v2):
            sm.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved")
            event = test_deployer.state_change_event(
                sm.describe_model_package(ModelPackageName=package["ModelPackageArn"]), "Approved")
            mark = len(calls)
            result = lambda_handler.handler(event, backend=SageMakerBackend(release.config_from_env(), poll_seconds=0))
            assert result["outcome"] == "promoted", result
        config = release.config_from_env()
        assert Deployer(SageMakerBackend(config, poll_seconds=0), config, log=lambda m: None).rollback()[
            "outcome"] == "rolled-back"
    # left out: the reviewer's UpdateModelPackage, and the stand-in endpoint container fetching its
    # model.tar.gz (SageMaker does that as the execution role, not the Lambda)
    lambda_calls = [c for c in calls if c[1] != "UpdateModelPackage"
                    and not (c[1] == "GetObject" and c[2]["Key"].endswith("/" + "model.tar.gz"))]
    operations = {op for _, op, _ in lambda_calls}
    assert {"DescribeModelPackage", "GetObject", "CreateModel", "CreateEndpointConfig", "CreateEndpoint",
            "UpdateEndpoint", "AddTags", "ListTags", "InvokeEndpoint", "GetTable", "CreateTable", "UpdateTable",
            "ListModelPackages"} <= operations, operations
    assert mark > 0 and denied_calls(stack["policies"][f"myflix-deployer-{REGION}"]["docs"], lambda_calls) == []


def test_api_table_reads_and_endpoint_calls_stay_inside_the_api_role(stack, monkeypatch):
    """The API's real Glue, S3 and SageMaker runtime calls (api/chalicelib) under moto."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from chalicelib import tables
    from chalicelib.config import Settings
    from chalicelib.endpoint import SageMakerEndpoint
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(pd.DataFrame({"tconst": ["tt1"], "cluster": [0]})), buffer)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="tables/movie_clusters/exec9/part-0.parquet", Body=buffer.getvalue())
    glue = boto3.client("glue", region_name=REGION)
    try:
        glue.create_database(DatabaseInput={"Name": "api_db"})
    except glue.exceptions.AlreadyExistsException:
        pass
    glue.create_table(DatabaseName="api_db", TableInput={
        "Name": "movie_clusters", "StorageDescriptor": {
            "Location": f"s3://{BUCKET}/tables/movie_clusters/exec9/",
            "Columns": [{"Name": "tconst", "Type": "string"}, {"Name": "cluster", "Type": "int"}]}})
    # the recommender released beside the table (api/chalicelib/tables.py reads it in ranged GETs)
    import hashlib

    import numpy as np
    npz = io.BytesIO()
    np.savez(npz, items=np.array(["tt1", "tt2"]), popularity=np.ones(2, np.float32),
             neighbours=np.array([[1], [0]], np.int32), neighbour_scores=np.ones((2, 1), np.float32))
    s3.put_object(Bucket=BUCKET, Key="tables/movie_clusters/exec9/_myflix_recommender.npz", Body=npz.getvalue())
    s3.put_object(Bucket=BUCKET, Key="tables/movie_clusters/exec9/_myflix_recommender.json", Body=json.dumps(
        {"kind": "itemknn", "sha256": {"recommender.npz": hashlib.sha256(npz.getvalue()).hexdigest()}}))
    settings = Settings(database="api_db", table="movie_clusters", region=REGION)
    with recorded_calls() as calls:
        ref = tables.get_table_glue(settings)
        tables.read_arrow(ref, settings)
        ref = tables.TableRef(ref.location, {"myflix_recommender": "_myflix_recommender.npz"})
        assert tables.read_recommender(ref, settings, popular=[]).collaborative
        try:
            SageMakerEndpoint(settings).predict({"startYear": 1999})
        except Exception:      # noqa: BLE001 - moto's canned answer is not the handler's JSON
            pass
        from chalicelib import pairing  # which package the endpoint serves (DescribeEndpoint + ListTags)
        served = pairing.endpoint_package_aws(settings)
        assert served is None or served.startswith(f"{SM}:model-package/myflix-movie-clusters/")
    assert {op for _, op, _ in calls} >= {"GetTable", "ListObjectsV2", "GetObject", "InvokeEndpoint",
                                          "DescribeEndpoint"}
    docs = stack["policies"][f"myflix-api-{REGION}"]["docs"]
    # the test's database is api_db; the role names myflix: map it back before evaluating
    calls = [(s, o, {**p, "DatabaseName": "myflix"} if "DatabaseName" in p else p) for s, o, p in calls]
    assert denied_calls(docs, calls) == []


# --- viewer events: the delivery stream, its role, the Glue table, the API's calls ----------------

def _resolve(value: Any, names: dict[str, str]) -> Any:
    """A template value with Ref / Fn::Sub / Fn::GetAtt replaced from `names` (moto skips these resources)."""
    if isinstance(value, list):
        return [_resolve(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return names[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        return names[".".join(value["Fn::GetAtt"])]
    if set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{(!?)([A-Za-z:.]+)\}", lambda m: "${" + m.group(2) + "}" if m.group(1)
                      else names[m.group(2)], value["Fn::Sub"])
    if set(value) == {"Fn::If"}:
        return _resolve(value["Fn::If"][2], names)        # KmsKeyArn empty: the else branch
    return {k: _resolve(v, names) for k, v in value.items()}


def _events_names() -> dict[str, str]:
    return {"DataBucket": BUCKET, "DataBucket.Arn": f"arn:aws:s3:::{BUCKET}", "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION, "AWS::Partition": "aws", "ResourcePrefix": "myflix", "GlueDatabase": "myflix",
            "EventsRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/myflix-events-{REGION}", "KmsKeyArn": ""}


@pytest.mark.parametrize("action, resource, context, allowed", EVENTS_ROLE_CASES,
                         ids=[f"{'allow' if c[3] else 'deny'}-{c[0]}-{i}" for i, c in enumerate(EVENTS_ROLE_CASES)])
def test_events_role_writes_events_and_nothing_else(stack, action, resource, context, allowed):
    iam = boto3.client("iam", region_name=REGION)
    role = f"myflix-events-{REGION}"
    docs = [_document(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
            for n in iam.list_role_policies(RoleName=role)["PolicyNames"]]
    assert (evaluate(docs, action, resource, context) == "Allow") is allowed
    (trust,) = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": ACCOUNT}}     # this account's streams only


def test_the_events_stream_and_table_as_declared_deliver_and_read_what_the_api_sends(stack, monkeypatch):
    """The template's stream and table created under moto (its CloudFormation skips both) from their own
    properties; the API's FirehoseSink sends a batch and forgets a viewer, every call inside the API role."""
    from chalicelib import events
    resources = load_template()["Resources"]
    names = _events_names()
    props = _resolve(resources["EventsStream"]["Properties"], names)
    destination = props["ExtendedS3DestinationConfiguration"]
    assert destination["Prefix"] == "events/dt=!{timestamp:yyyy-MM-dd}/" and destination["CompressionFormat"] == "GZIP"
    assert destination["ErrorOutputPrefix"].startswith("events-errors/")
    assert destination["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}
    firehose = boto3.client("firehose", region_name=REGION)
    firehose.create_delivery_stream(**{k: v for k, v in props.items()
                                       if k != "DeliveryStreamEncryptionConfigurationInput"})
    table = _resolve(resources["InteractionsTable"]["Properties"], names)
    glue = boto3.client("glue", region_name=REGION)
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": "myflix"})
    glue.create_table(DatabaseName=table["DatabaseName"], TableInput=table["TableInput"])
    got = glue.get_table(DatabaseName="myflix", Name="interactions")["Table"]
    assert [c["Name"] for c in got["StorageDescriptor"]["Columns"]] == list(events.STORED_KEYS)
    assert got["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert got["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/events/"
    assert got["Parameters"]["storage.location.template"] == f"s3://{BUCKET}/events/dt=${{dt}}/"
    sink = events.FirehoseSink("myflix-events", BUCKET, REGION, sleep=lambda s: None)
    batch = [events.check_event({"event_id": f"evt-{i:05d}", "viewer_id": "viewer-a" if i % 2 else "viewer-b",
                                 "tconst": "tt0133093", "event": "like"}, "e", 1.8e9) for i in range(6)]
    with recorded_calls() as calls:
        assert sink.put(batch) == {"accepted": 6, "duplicates": 0}
        assert sink.forget("viewer-a")["events_deleted"] == 3
    s3 = boto3.client("s3", region_name=REGION)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="events/").get("Contents", [])]
    assert any(k.startswith("events/dt=") for k in keys) and any(k.startswith("events/forgotten/") for k in keys)
    assert {op for _, op, _ in calls} >= {"PutRecordBatch", "PutObject", "ListObjectsV2", "GetObject"}
    assert denied_calls(stack["policies"][f"myflix-api-{REGION}"]["docs"], calls) == []


# --- every action exists, and every resource is of a type its actions support --------------------

def _arn_regex(pattern: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\$\\\{[A-Za-z]+\\\}", ".+", re.escape(pattern)) + "$")


def action_findings(docs: list[dict], known: dict[str, dict[str, str]]) -> list[str]:
    """Unknown actions, `*` where a resource type exists, resources no action of the statement
    applies to, actions no resource of the statement applies to."""
    findings = []
    for doc in docs:
        for st in _as_list(doc["Statement"]):
            if st["Effect"] != "Allow":
                continue
            actions = _as_list(st["Action"])
            unknown = [a for a in actions if a not in known]
            findings += [f"{st.get('Sid')}: unknown action {a} (typo? else regenerate cfn/iam-actions.json "
                         f"with cfn/iam_actions.py)" for a in unknown]
            actions = [a for a in actions if a in known]
            resources = _as_list(st["Resource"])
            if resources == ["*"]:
                # "*" only where no resource type is required (a list, a login, a metric)
                findings += [f"{st.get('Sid')}: {a} takes {sorted(known[a])}, not *"
                             for a in actions if any(t["required"] for t in known[a].values())]
                continue
            # a `*` in our ARN stands for any text: try a few shapes of it
            samples = {r: {r.replace("*", fill) for fill in ("x", "x:log-stream:x", "x/x")} for r in resources}
            applies = {(a, r) for a in actions for r in resources
                       if any(_arn_regex(t["arn"]).match(sample) for t in known[a].values() for sample in samples[r])}
            findings += [f"{st.get('Sid')}: {a} applies to none of {resources}"
                         for a in actions if not any((a, r) in applies for r in resources)]
            findings += [f"{st.get('Sid')}: no action applies to {r}"
                         for r in resources if not any((a, r) in applies for a in actions)]
    return findings


def test_every_action_exists_and_fits_its_resources(stack):
    known = json.loads(IAM_ACTIONS.read_text())["actions"]
    docs = [d for info in stack["policies"].values() for d in info["docs"]] + [stack["operator"]]
    assert action_findings(docs, known) == []
    # and the check is not vacuous
    bad = {"Statement": [
        {"Sid": "Typo", "Effect": "Allow", "Action": "sagemaker:CreateEndpointConfiguration", "Resource": "*"},
        {"Sid": "StarForScoped", "Effect": "Allow", "Action": "glue:GetTable", "Resource": "*"},
        {"Sid": "WrongType", "Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
         "Resource": f"{SM}:model/myflix-movie-clusters"}]}
    found = action_findings([bad], known)
    assert [f.split(":")[0] for f in found] == ["Typo", "StarForScoped", "WrongType", "WrongType"], found


def test_iam_action_extract_covers_exactly_the_templates_actions():
    import importlib.util
    spec = importlib.util.spec_from_file_location("iam_actions", CFN_DIR / "iam_actions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(json.loads(IAM_ACTIONS.read_text())["actions"]) == module.template_actions(TEMPLATES)


def test_kms_and_access_logging_variant(stack):
    """With KmsKeyArn and AccessLogBucket: SSE-KMS, key policies on both roles, logging on."""
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="mfkms-access-logs")
    cfn = boto3.client("cloudformation", region_name=REGION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfn.create_stack(StackName="mfkms", TemplateBody=INFRA.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {
                             "KmsKeyArn": key, "AccessLogBucket": "mfkms-access-logs",
                             "ResourcePrefix": "mfkms", "BucketName": "mfkms-data",
                             "EndpointName": "mfkms-endpoint"}.items()])
    described = cfn.describe_stacks(StackName="mfkms")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs["BucketKeyPolicyArn"] == f"arn:aws:iam::{ACCOUNT}:policy/mfkms-bucket-key-{REGION}"
    rule = boto3.client("s3", region_name=REGION).get_bucket_encryption(
        Bucket="mfkms-data")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    iam = boto3.client("iam", region_name=REGION)

    def attached_docs(role):
        docs = []
        for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
            docs.append(_document(iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)
                                  ["PolicyVersion"]["Document"]))
        return docs
    resources = load_template()["Resources"]
    sm_docs, api_docs = attached_docs(f"mfkms-sagemaker-{REGION}"), attached_docs(f"mfkms-api-{REGION}")
    # the deployer reads the release manifests (SSE-KMS) and sends to its KMS-encrypted dead letters
    deployer_docs = attached_docs(f"mfkms-deployer-{REGION}")
    assert evaluate(deployer_docs, "kms:Decrypt", key) == "Allow"
    assert evaluate(deployer_docs, "kms:GenerateDataKey", key) == "Allow"
    # the MLflow server's role (only with the server) writes its artefacts to the same bucket
    mlflow = load_template()["Resources"]["MlflowKeyPolicy"]
    assert mlflow["Condition"] == "MlflowWithKms" and mlflow["Properties"]["Roles"] == [{"Ref": "MlflowRole"}]
    (statement,) = mlflow["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert evaluate(sm_docs, "kms:GenerateDataKey", key) == "Allow"
    assert evaluate(sm_docs, "kms:Decrypt", key) == "Allow"
    assert evaluate(api_docs, "kms:Decrypt", key) == "Allow"
    assert evaluate(api_docs, "kms:GenerateDataKey", key) == "Allow"       # forget records and rewrites
    events_docs = attached_docs(f"mfkms-events-{REGION}")                  # the stream writes SSE-KMS objects
    assert evaluate(events_docs, "kms:GenerateDataKey", key) == "Allow"
    stream = resources["EventsStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert stream["EncryptionConfiguration"]["Fn::If"][:2] == [
        "UseKms", {"KMSEncryptionConfig": {"AWSKMSKeyARN": {"Ref": "KmsKeyArn"}}}]
    assert evaluate(sm_docs + api_docs, "kms:Decrypt", key.rsplit("/", 1)[0] + "/other") is None
    # the template's logging and log-group encryption follow the parameters
    assert resources["DataBucket"]["Properties"]["LoggingConfiguration"]["Fn::If"][0] == "LogAccess"
    assert resources["EndpointLogGroup"]["Properties"]["KmsKeyId"]["Fn::If"][0] == "UseKms"


def test_policies_fit_iams_size_limits(stack):
    """IAM refuses a role whose inline policies exceed 10,240 characters (whitespace not counted)
    and a managed policy over 6,144: moto does not check this, the real deployment would fail."""
    def size(doc: dict) -> int:
        return len(json.dumps(doc, separators=(",", ":")))
    for role, info in stack["policies"].items():
        assert sum(size(d) for d in info["docs"]) < 10_240, role
    assert size(stack["operator"]) < 6_144


def test_mlflow_tracking_server_only_with_its_parameter_and_least_privilege():
    """MlflowTrackingServerSize (default empty: none) adds the server, its artefact role and the
    operator's access policy; the ARN output is what `myflix config from-stack` saves for
    `myflix mlflow log --cloud`."""
    from operations.settings import MLFLOW_TRACKING_KEY
    from operations.stack import OUTPUT_KEYS
    template = load_template()
    assert template["Parameters"]["MlflowTrackingServerSize"]["Default"] == ""
    assert template["Conditions"]["HasMlflow"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MlflowTrackingServerSize"}, ""]}]}
    resources = template["Resources"]
    for name in ("MlflowRole", "MlflowTrackingServer", "MlflowAccessPolicy"):
        assert resources[name]["Condition"] == "HasMlflow", name
    for name in ("MlflowTrackingServerArn", "MlflowAccessPolicyArn"):
        assert template["Outputs"][name]["Condition"] == "HasMlflow", name
    assert OUTPUT_KEYS["MlflowTrackingServerArn"] == MLFLOW_TRACKING_KEY
    server = resources["MlflowTrackingServer"]["Properties"]
    assert server["RoleArn"] == {"Fn::GetAtt": ["MlflowRole", "Arn"]}
    assert _text(server["ArtifactStoreUri"]) == "s3://${DataBucket}/mlflow"
    role = resources["MlflowRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    # the server's role and the operator's policy reach the bucket under mlflow/ only
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    statements += resources["MlflowAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resource = statement["Resource"]
        if any(a.startswith("s3:") for a in actions):
            text = _text(resource)
            assert text.endswith("/mlflow/*") or (actions == ["s3:ListBucket"] and statement["Condition"]), statement
        else:   # sagemaker-mlflow:* and the presigned UI URL: on this one tracking server
            assert resource == {"Fn::GetAtt": ["MlflowTrackingServer", "TrackingServerArn"]}, statement
            assert all(a.startswith(("sagemaker-mlflow:", "sagemaker:")) and "*" not in a for a in actions)
