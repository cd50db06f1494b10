"""Training steps, launched locally the way a SageMaker training job launches them.

SageMaker writes `/opt/ml/input/config/{hyperparameters,inputdataconfig,resourceconfig}.json`,
downloads each channel to `/opt/ml/input/data/<channel>/` (the code too: the `code` channel) and
starts the image's `train`, which is the sagemaker-training toolkit: it reads those files, unpacks
`sagemaker_submit_directory` (a file of the `code` channel, or an s3:// URI it downloads itself)
into `/opt/ml/code`, and runs `sagemaker_program` with the hyperparameters as command-line arguments
(`-k 19` for a one-letter name, `--seed 42` otherwise) and the SM_* variables. Here the same toolkit
(`python -m sagemaker_training.cli.train`, in the step environment) runs over a temporary base
folder named by SAGEMAKER_BASE_DIR, the toolkit's own switch for running outside a container.
This module only lays out that folder: it never starts the user script itself.

The SKLearn image sets SAGEMAKER_TRAINING_MODULE=sagemaker_sklearn_container.training:main, whose
whole body is `sagemaker_training.entry_point.run(module_dir, user_entry_point, to_cmd_args(),
to_env_vars(), ProcessRunnerType)`; that package is not published, and with the variable unset the
toolkit's trainer makes exactly that call itself, so it stays unset.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local_aws.constants import ACCOUNT

TOOLKIT_ENTRY = ("-m", "sagemaker_training.cli.train")
CURRENT_HOST = "algo-1"


def _encode_hp(value: Any) -> str:
    """hyperparameters.json holds strings, as CreateTrainingJob's HyperParameters map does."""
    return value if isinstance(value, str) else json.dumps(value)


def write_job_config(base: Path, hyperparameters: dict[str, Any], channels: list[dict],
                     instance_type: str, submit_directory: str) -> dict[str, Path]:
    """Lay out SageMaker's /opt/ml under `base`; returns the folders: code, model, output, data.

    `hyperparameters` are the step's, as the definition holds them; `submit_directory` is what
    their `sagemaker_submit_directory` names here (runner._submit_directory): the `code`
    channel's file under this /opt/ml, or the S3 URI left as is for the toolkit to download.
    """
    config = base / "input" / "config"
    folders = {"code": base / "code", "model": base / "model", "output": base / "output",
               "data": base / "input" / "data", "output_data": base / "output" / "data"}
    for folder in (config, *folders.values()):
        folder.mkdir(parents=True, exist_ok=True)
    hps = {name: _encode_hp(value) for name, value in hyperparameters.items()}
    hps["sagemaker_submit_directory"] = json.dumps(submit_directory)
    (config / "hyperparameters.json").write_text(json.dumps(hps, indent=2), encoding="utf-8")
    data_config = {c["ChannelName"]: {"TrainingInputMode": c.get("InputMode", "File"),
                                      "S3DistributionType": c.get("DataSource", {}).get("S3DataSource", {})
                                      .get("S3DataDistributionType", "FullyReplicated"),
                                      "RecordWrapperType": c.get("RecordWrapperType", "None")}
                   for c in channels}
    (config / "inputdataconfig.json").write_text(json.dumps(data_config, indent=2), encoding="utf-8")
    resource = {"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST], "network_interface_name": "eth0",
                "current_instance_type": instance_type, "current_group_name": "homogeneousCluster",
                "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                     "instance_type": instance_type, "hosts": [CURRENT_HOST]}]}
    (config / "resourceconfig.json").write_text(json.dumps(resource, indent=2), encoding="utf-8")
    return folders


def container_path(base: Path, path: str) -> Path:
    """A path of the job's /opt/ml (`/opt/ml/input/data/code/...`) under the local `base`."""
    rel = Path(path).relative_to("/opt/ml")
    if ".." in rel.parts:
        raise ValueError(f"{path!r} climbs out of /opt/ml")
    return base / rel


def toolkit_command(python: str) -> list[str]:
    """The image's `train`: the sagemaker-training toolkit's entry point."""
    return [python, *TOOLKIT_ENTRY]


def toolkit_env(base: Path, job_name: str) -> dict[str, str]:
    """What SageMaker puts in a training container's environment that the toolkit reads."""
    # SM_STUDIO_LOCAL_MODE is the toolkit's own switch for running outside SageMaker's cluster: it
    # skips only the wait for the hosts' DNS names (algo-1 resolves inside a job, not here).
    return {"SAGEMAKER_BASE_DIR": str(base), "TRAINING_JOB_NAME": job_name, "SM_STUDIO_LOCAL_MODE": "true",
            "TRAINING_JOB_ARN": f"arn:aws:sagemaker:local:{ACCOUNT}:training-job/{job_name}",
            "SM_INPUT": str(base / "input"), "SM_MODEL_DIR": str(base / "model"),
            "SM_INPUT_TRAINING_CONFIG_FILE": str(base / "input" / "config" / "hyperparameters.json"),
            "SM_INPUT_DATA_CONFIG_FILE": str(base / "input" / "config" / "inputdataconfig.json"),
            "SM_CHECKPOINT_CONFIG_FILE": str(base / "input" / "config" / "checkpointconfig.json")}


_FRAMING = ("File ", "Traceback", "^", "ExitCode ", "Command ", "ExtraInfo ", "$ ")
TOOLKIT_LOG_PREFIX = "sagemaker-training-toolkit"


def _meaningful(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith(_FRAMING)
            and line.strip() not in ('"', 'ErrorMessage ""')]


def failure_reason(base: Path) -> str | None:
    """Why the toolkit says the job failed (`/opt/ml/output/failure`): its error class and, when
    it captured one, the last line of the script's error message, never the bare `Command "..."`
    line (the command is in the log)."""
    path = base / "output" / "failure"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    head = text.strip().splitlines()[0].rstrip(":") if text.strip() else ""
    message = text.split('ErrorMessage "', 1)[1].rsplit('"', 1)[0] if 'ErrorMessage "' in text else ""
    lines = _meaningful(message.splitlines()) if message else _meaningful(text.splitlines()[1:])
    if lines and head and head != lines[-1]:
        return f"{head}: {lines[-1]}"
    return lines[-1] if lines else (head or None)


def script_error(log_text: str) -> str | None:
    """The last line the training script itself wrote before the toolkit reported the failure:
    the real cause (an argparse error, the script's own message), which the toolkit's summary
    may leave out."""
    lines = log_text.splitlines()
    for i, line in enumerate(lines):     # "<date> <time> sagemaker-training-toolkit ERROR ..."
        if f" {TOOLKIT_LOG_PREFIX} ERROR" in f" {line}":
            lines = lines[:i]
            break
    ours = [line for line in _meaningful(lines) if TOOLKIT_LOG_PREFIX not in line]
    return ours[-1][:400] if ours else None
