"""The deployer Lambda: EventBridge's "SageMaker Model Package State Change" events for the group.

cfn/myflix-infra.yaml creates the function (handler `deployer.lambda_handler.handler`, code built
by `myflix deploy package`), its role and the rule. Settings come from the environment
(deployer.release.config_from_env). A release that cannot go ahead (a failed smoke test, an
unapproved package) is an answer, recorded on the endpoint's tags, not an error: EventBridge's
retries could not change it. Anything unexpected (throttling, a network failure) is raised, so
Lambda retries the event; so is a release manifest still missing after the deployer has waited for
it (an approval at registration comes before Publish has written it).
"""
from __future__ import annotations

import json
import time
from typing import Any

from deployer.backends import SageMakerBackend
from deployer.deployer import Deployer
from deployer.release import DeployError, ManifestMissing, config_from_env

MARGIN_SECONDS = 45.0     # time kept back to record the outcome before Lambda stops the function


def _log(message: str) -> None:
    print(json.dumps({"message": message}), flush=True)


def handler(event: Any, context: Any = None, backend: Any = None) -> dict[str, Any]:
    config = config_from_env()
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else 15 * 60.0
    deployer = Deployer(backend or SageMakerBackend(config), config, log=_log,
                        deadline=time.monotonic() + remaining - MARGIN_SECONDS)
    try:
        result = deployer.handle_event(event)
    except ManifestMissing as err:
        # Publish has not written the release yet: raised, so Lambda retries the event (twice),
        # then the dead-letter queue keeps it; `myflix deploy stage --version N` stages it by hand.
        _log(f"deploy: {err}")
        raise
    except DeployError as err:
        _log(f"deploy: {err}")
        return {"outcome": "refused", "message": str(err)}
    return result
