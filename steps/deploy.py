"""Deploy (SageMaker processing step): creates or updates the endpoint from an approved model package.

Reads the package (`--model-package-arn`), refuses one that is not Approved or not Completed, then
creates the model and an endpoint config (serverless by default; `--instance-type` for an
instance) and creates the endpoint `--endpoint-name` or updates it, waiting for InService with
progress lines. AWS calls (or the local endpoint record under MYFLIX_LOCAL_ROOT) live in
steps/aws_io.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from steps import aws_io, schema


def check_deployable(package: dict) -> None:
    """Fail unless the package is registered completely and approved."""
    arn = package.get("ModelPackageArn")
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise aws_io.AwsIoError(f"model package {arn} is {status or 'without an approval status'}, not Approved: "
                                "approve it (`myflix pipeline approve`, or `myflix registry approve` locally) "
                                "and deploy again")
    if package.get("ModelPackageStatus", "Completed") != "Completed":
        raise aws_io.AwsIoError(f"model package {arn} is {package.get('ModelPackageStatus')}, not Completed: "
                                "wait for the registration to finish")
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers or not containers[0].get("ModelDataUrl"):
        raise aws_io.AwsIoError(f"model package {arn} names no model data (InferenceSpecification.Containers[0]"
                                ".ModelDataUrl): register it again")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = schema.DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-package-arn", required=True)
    parser.add_argument("--endpoint-name", default=schema.ENDPOINT_NAME)
    parser.add_argument("--role-arn", default="", help="the role the endpoint's model runs as (AWS only)")
    parser.add_argument("--instance-type", default=d.get("instance_type", ""),
                        help="e.g. ml.m5.large; empty: serverless inference")
    parser.add_argument("--serverless-memory-mb", type=int, default=d.get("serverless_memory_mb", 2048))
    parser.add_argument("--serverless-max-concurrency", type=int, default=d.get("serverless_max_concurrency", 5))
    args = parser.parse_args(argv)
    if not args.instance_type:
        if args.serverless_memory_mb not in range(1024, 6145, 1024):
            parser.error(f"--serverless-memory-mb {args.serverless_memory_mb}: serverless endpoints take "
                         "1024, 2048, 3072, 4096, 5120 or 6144")
        if not 1 <= args.serverless_max_concurrency <= 200:
            parser.error(f"--serverless-max-concurrency {args.serverless_max_concurrency}: use 1..200")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        package = aws_io.describe_model_package(args.model_package_arn)
        check_deployable(package)
        if aws_io.local_root() is None and not args.role_arn:
            raise aws_io.AwsIoError("--role-arn is empty: the endpoint's model needs an execution role "
                                    "(the pipeline passes its own role)")
        described = aws_io.deploy_endpoint(
            package, args.endpoint_name, args.role_arn, args.instance_type or None,
            args.serverless_memory_mb, args.serverless_max_concurrency, log=lambda m: print(m, flush=True))
    except aws_io.AwsIoError as err:
        print(f"deploy: {err}", file=sys.stderr)
        return 2
    print(f"deploy: endpoint {args.endpoint_name} is {described.get('EndpointStatus')} serving "
          f"{args.model_package_arn}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
