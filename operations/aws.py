"""boto3 sessions and clients for the `myflix pipeline` commands, and AWS errors as user errors.

Only the commands that talk to an account use this; generating the definition never does. boto3 is
imported inside the functions: every `myflix` command loads this module, few of them call AWS.
"""
from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Iterator

from operations.errors import UserError

if TYPE_CHECKING:
    import boto3
    from botocore.exceptions import ClientError

CREDENTIALS_HINT = ("set AWS_PROFILE (or run `aws configure` / `aws sso login`), or "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


def session(region: str) -> "boto3.Session":
    """A boto3 session in `region` that has credentials; a UserError saying how to set them if not."""
    import boto3
    # "Found credentials in ..." is noise on a command line.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    boto_session = boto3.Session(region_name=region)
    if boto_session.get_credentials() is None:
        raise UserError(f"no AWS credentials found: {CREDENTIALS_HINT}")
    return boto_session


def client(region: str, service: str) -> Any:
    return session(region).client(service)


def error_code(err: "ClientError") -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def error_message(err: "ClientError") -> str:
    return str(err.response.get("Error", {}).get("Message", "")) or str(err)


@contextlib.contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Turn AWS failures during `action` into one-line UserErrors that say what to do."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as err:
        raise UserError(f"{action}: no usable AWS credentials ({err}); {CREDENTIALS_HINT}") from err
    except NoRegionError as err:
        raise UserError(f"{action}: no AWS region; pass --region or set MYFLIX_REGION") from err
    except EndpointConnectionError as err:
        raise UserError(f"{action}: cannot reach AWS ({err}); check the network and --region") from err
    except ClientError as err:
        code = error_code(err)
        hint = ""
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            hint = "; the credentials in use lack a permission: see the cfn stack's policies"
        elif code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                      "UnrecognizedClientException"):
            hint = f"; refresh the credentials ({CREDENTIALS_HINT})"
        elif code == "NoSuchBucket":
            hint = "; create it (the cfn stack does) or pass the right --bucket"
        raise UserError(f"{action}: {code}: {error_message(err)}{hint}") from err
    except BotoCoreError as err:
        raise UserError(f"{action}: {err}") from err
