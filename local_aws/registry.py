"""The local model registry: `<workdir>/registry/<group>/<version>.json`, one file per model package.

Each file has the shape of SageMaker's DescribeModelPackage response (docs/CONTRACTS.md, "Local
AWS stand-ins"): the CreateModelPackage request the RegisterModel step carried, plus
ModelPackageGroupName, ModelPackageVersion, ModelPackageArn, ModelPackageStatus,
ModelApprovalStatus, CreationTime. `myflix registry list|approve` and the local deploy read and
write these files; versions count up from 1 per group, as SageMaker's do.
"""
from __future__ import annotations

import getpass
import json
import os
import re
import socket
from datetime import datetime, timezone
from pathlib import Path

from local_aws import layout
from local_aws.constants import ACCOUNT
from local_aws.layout import write_json_atomic

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ARN = re.compile(r"^arn:aws:sagemaker:[^:]*:\d{12}:model-package/([^/]+)/(\d+)$")


class RegistryError(ValueError):
    """A model package or group that does not exist, or a request the registry refuses."""


registry_dir = layout.registry_dir


def package_arn(region: str, group: str, version: int) -> str:
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:model-package/{group.lower()}/{version}"


_versions = layout.package_versions


def register(workdir: Path, request: dict, region: str) -> dict:
    """Create the next version in the request's group from a CreateModelPackage request."""
    group = request.get("ModelPackageGroupName")
    if not isinstance(group, str) or not _GROUP_NAME.match(group):
        raise RegistryError(f"ModelPackageGroupName {group!r} is not a valid group name "
                            "(letters, digits and hyphens, up to 63 characters)")
    status = request.get("ModelApprovalStatus") or "PendingManualApproval"
    if status not in APPROVAL_STATUSES:
        raise RegistryError(f"ModelApprovalStatus {status!r} is not one of {', '.join(APPROVAL_STATUSES)}")
    containers = (request.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers or not containers[0].get("ModelDataUrl"):
        raise RegistryError("the RegisterModel request has no InferenceSpecification.Containers[0]"
                            ".ModelDataUrl: there is no model to register")
    group_dir = registry_dir(workdir) / group
    group_dir.mkdir(parents=True, exist_ok=True)
    version = (_versions(group_dir) or [0])[-1] + 1
    while True:  # claim the version file exclusively: two runs never get the same version
        try:
            fd = os.open(group_dir / f"{version}.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            break
        except FileExistsError:
            version += 1
    created = datetime.now(timezone.utc).isoformat()
    package = dict(request)
    package.update(
        ModelPackageGroupName=group, ModelPackageVersion=version,
        ModelPackageArn=package_arn(region, group, version), ModelPackageStatus="Completed",
        ModelPackageStatusDetails={"ValidationStatuses": [], "ImageScanStatuses": []},
        ModelApprovalStatus=status, CreationTime=created, LastModifiedTime=created,
        CertifyForMarketplace=False)
    package.setdefault("CustomerMetadataProperties", {})
    write_json_atomic(group_dir / f"{version}.json", package)
    return package


def read_package(path: Path) -> dict:
    """One package file, checked to be a package (a RegistryError saying what is wrong, never a
    traceback: the file may have been edited, truncated or replaced)."""
    try:
        package = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RegistryError(f"{path} is unreadable ({type(err).__name__}: {str(err)[:120]}): "
                            "remove it, or register the package again") from None
    shape = {"ModelPackageGroupName": str, "ModelPackageVersion": int, "ModelPackageArn": str,
             "ModelApprovalStatus": str}
    nested = ("InferenceSpecification", "CustomerMetadataProperties")
    if not isinstance(package, dict) or any(not isinstance(package.get(k), t) for k, t in shape.items()) \
            or any(not isinstance(package.get(k, {}), dict) for k in nested):
        raise RegistryError(f"{path} is not a model package record (DescribeModelPackage's shape): "
                            "remove it, or register the package again")
    return package


def list_packages(workdir: Path, group: str | None = None, problems: list[dict] | None = None) -> list[dict]:
    """Every package (of one group, or all), newest version first within each group. A file that is
    not a package is left out and, when `problems` is given, reported there ({"path", "error"})."""
    base = registry_dir(workdir)
    if not base.is_dir():
        return []
    groups = [base / group] if group else sorted(p for p in base.iterdir() if p.is_dir())
    found = []
    for group_dir in groups:
        for version in reversed(_versions(group_dir)):
            path = group_dir / f"{version}.json"
            try:
                found.append(read_package(path))
            except RegistryError as err:
                if problems is not None:
                    problems.append({"path": str(path), "error": str(err)})
    return found


def _locate(workdir: Path, ref: str, group: str | None) -> Path:
    """A package file from an ARN, `group/version`, or a version number (with `group`)."""
    match = _ARN.match(ref)
    if match:
        wanted_group, version = match.group(1), match.group(2)
        group_dir = layout.registry_group_dir(workdir, wanted_group)   # whatever the folder's case
    elif "/" in ref:
        name, _, version = ref.rpartition("/")
        group_dir = registry_dir(workdir) / name
    elif ref.isdigit():
        if not group:
            raise RegistryError(f"version {ref} needs a group (--group NAME)")
        group_dir, version = registry_dir(workdir) / group, ref
    else:
        raise RegistryError(f"{ref!r} is not a model package ARN, GROUP/VERSION or a version number")
    path = group_dir / f"{int(version)}.json"
    if not path.is_file():
        raise RegistryError(f"no model package {ref!r} in the local registry {registry_dir(workdir)} "
                            "(see `myflix registry list`)")
    return path


def describe(workdir: Path, ref: str, group: str | None = None) -> dict:
    return read_package(_locate(workdir, ref, group))


def local_actor() -> str:
    """Who decides, as the local registry records it (SageMaker records the caller's identity)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):      # no name for this uid (a bare container)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def set_approval(workdir: Path, ref: str, status: str, *, group: str | None = None,
                 description: str | None = None, actor: str | None = None) -> dict:
    """UpdateModelPackage(ModelApprovalStatus=..., ApprovalDescription=...) on the local registry.

    Each decision is also appended to the package's `ApprovalHistory` ([{Status, Description,
    Actor, Time}], oldest first): what SageMaker Studio shows as the version's activity."""
    if status not in APPROVAL_STATUSES:
        raise RegistryError(f"approval status {status!r} is not one of {', '.join(APPROVAL_STATUSES)}")
    path = _locate(workdir, ref, group)
    package = read_package(path)
    when = datetime.now(timezone.utc).isoformat()
    package["ModelApprovalStatus"] = status
    package["LastModifiedTime"] = when
    if description:
        package["ApprovalDescription"] = description
    package.setdefault("ApprovalHistory", []).append(
        {"Status": status, "Description": description or "", "Actor": actor or local_actor(), "Time": when})
    write_json_atomic(path, package)
    return package


def latest_approved(workdir: Path, group: str) -> dict | None:
    for package in list_packages(workdir, group):
        if package.get("ModelApprovalStatus") == "Approved":
            return package
    return None


def create_model(workdir: Path, request: dict, model_name: str, region: str) -> dict:
    """CreateModel: `<workdir>/models/<name>.json` (DescribeModel's shape)."""
    model = dict(request)
    model.update(ModelName=model_name,
                 ModelArn=f"arn:aws:sagemaker:{region}:{ACCOUNT}:model/{model_name.lower()}",
                 CreationTime=datetime.now(timezone.utc).isoformat())
    write_json_atomic(layout.models_dir(workdir) / f"{model_name}.json", model)
    return model
