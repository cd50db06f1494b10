"""A Processing or Training job, run on this machine as SageMaker runs it in a container.

- Processing: inputs copied from the local object store to folders standing for their container
  paths, the container entrypoint run with the step environment's Python, arguments under a
  declared LocalPath rewritten to the local folder, outputs copied back to their S3 URIs.
- Training: the real sagemaker-training toolkit (training.py) over a temporary /opt/ml laid out as
  SageMaker lays it out (config files, channels, the code archive), so the script gets its
  hyperparameters exactly as in a job; SM_MODEL_DIR is packed as
  `<S3OutputPath>/<job name>/output/model.tar.gz` (local_aws.tarball).
A job's subprocess gets only the environment its request sets (plus PATH and locale), no AWS
credentials or region, a home folder of its own, and a sitecustomize that refuses network
connections; a job with network gets MYFLIX_LOCAL_ROOT (so steps/aws_io.py uses the local
stand-ins), an isolated job gets neither that nor loopback. `JobExecutor` is the runner's half that
does this (runner.py mixes it in); after each stored output, the runner's `after_output` hook runs
(`myflix run` draws the reports' PNGs there: the image has no matplotlib).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from local_aws.constants import ACCOUNT
from local_aws.store import LocalStore, StoreError
from local_aws.tarball import pack_folder
from local_runner import nonet, step_env, training
from local_runner.executions import stop_reason
from local_runner.expressions import to_text
from local_runner.progress import Progress, tail

PYTHON_NAMES = re.compile(r"^python(3(\.\d+)?)?$")
CONTAINER_ROOT = "/opt/ml/"
LOG_TAIL_LINES = 20
# A job's environment is what its request sets (CreateProcessingJob/CreateTrainingJob
# `Environment`; for training also what the training platform documents: TRAINING_JOB_NAME,
# TRAINING_JOB_ARN), never this machine's: no AWS_REGION, no credentials, no ~/.aws. From the host
# only what starting a process needs passes through (the executable search path, locale, temp dir).
HOST_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")


class ExecutionStopped(Exception):
    """A stop was requested (StopPipelineExecution; the Studio's Stop button): the running step is
    killed and the execution recorded Stopped."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StepFailure(Exception):
    """A step failed: `reason` goes to FailureReason, `log_tail` to the record."""

    def __init__(self, reason: str, log_tail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail


@dataclass
class StepResult:
    status: str                                      # Succeeded | Failed
    properties: dict = field(default_factory=dict)
    property_files: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    failure_reason: str | None = None
    log_tail: str | None = None
    cache_hit: str | None = None
    outputs: dict = field(default_factory=dict)
    note: str = ""
    outcome: bool | None = None                      # Condition steps


# What the runner calls after it stored one output of a step: (the output's local folder, a
# function that shows a line of news). `myflix run` passes reports.render (the PNGs beside the JSON).
AfterOutput = Callable[[Path, Callable[[str], None]], Any]


class JobExecutor:
    """The runner's job half: needs `workdir`, `region`, `store`, `progress`, `block_network`,
    `extra_env`, `after_output` (set by LocalRunner.__init__) and `_stop_folder` (set per run)."""

    workdir: Path
    region: str
    store: LocalStore
    progress: Progress
    block_network: bool
    extra_env: dict[str, str]
    after_output: AfterOutput | None
    _stop_folder: Path | None = None

    # .. processing ...............................................................................
    def _processing(self, step: dict, args: dict, name: str, workdir: Path,
                    log_file: Path | None) -> StepResult:
        container = workdir / "container"
        mapping: dict[str, Path] = {}
        for item in args.get("ProcessingInputs", []):
            label = item.get("InputName", "?")
            if "S3Input" not in item:
                raise StepFailure(f"input {label}: only S3Input inputs run locally "
                                  f"(got {', '.join(k for k in item if k != 'InputName')})")
            s3 = item["S3Input"]
            local = _container_dir(container, s3["LocalPath"], f"input {label}")
            if s3.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise StepFailure(f"input {label}: S3DataType {s3.get('S3DataType')} is not supported "
                                  "locally (use S3Prefix)")
            if self.store.download(s3["S3Uri"], local) == 0:
                raise StepFailure(f"input {label}: nothing at {s3['S3Uri']} (local store: "
                                  f"{self.store.path_for(s3['S3Uri'])})")
            mapping[s3["LocalPath"].rstrip("/")] = local
        outputs: list[tuple[str, str, Path]] = []
        for item in (args.get("ProcessingOutputConfig") or {}).get("Outputs", []):
            label = item.get("OutputName", "?")
            if "S3Output" not in item:
                raise StepFailure(f"output {label}: only S3Output outputs run locally")
            s3 = item["S3Output"]
            local = _container_dir(container, s3["LocalPath"], f"output {label}")
            mapping[s3["LocalPath"].rstrip("/")] = local
            outputs.append((label, s3["S3Uri"], local))
        app = args.get("AppSpecification") or {}
        entry = app.get("ContainerEntrypoint") or []
        if not entry:
            raise StepFailure("AppSpecification has no ContainerEntrypoint: the image's own "
                              "entrypoint cannot run locally")
        if not PYTHON_NAMES.match(Path(str(entry[0])).name):
            raise StepFailure(f"entrypoint {entry[0]!r} is not python: the local runner runs Python "
                              "entrypoints only (python3 <script> <args>)")
        script = entry[1] if len(entry) > 1 else None
        if isinstance(script, str) and script.endswith(".py"):
            mapped = _map_argument(script, mapping) if script.startswith(CONTAINER_ROOT) else script
            if script.startswith(CONTAINER_ROOT) and not Path(mapped).is_file():
                code = next((i["S3Input"]["S3Uri"] for i in args.get("ProcessingInputs", [])
                             if "S3Input" in i and script.startswith(i["S3Input"]["LocalPath"].rstrip("/") + "/")), "?")
                raise StepFailure(f"the entrypoint script {script} is not in the step's input {code}: "
                                  "is the script missing from the code bundle?")
        try:
            command = [self._step_python()] + [_map_argument(to_text(a), mapping)
                                          for a in list(entry[1:]) + list(app.get("ContainerArguments") or [])]
        except ValueError as err:
            raise StepFailure(str(err)) from err
        container_env = {}
        for key, value in (args.get("Environment") or {}).items():
            text = to_text(value)
            # Environment values naming a declared container path point at its local folder too.
            try:
                container_env[key] = _map_argument(text, mapping)
            except ValueError:
                container_env[key] = text
        env = self._env(container_env, workdir, isolated=_isolated(args, "Processing"))
        self._execute(command, env, cwd=container, log_file=log_file, timeout=timeout_of(args))
        output_uris = {}
        for label, uri, local in outputs:
            self.store.upload_dir(local, uri)
            output_uris[label] = uri
            self._after_output(uri)
        files = {}
        for spec in step.get("PropertyFiles") or []:
            out = {label: local for label, _, local in outputs}.get(spec.get("OutputName"))
            if out is None:
                raise StepFailure(f"property file {spec.get('PropertyFileName')}: the step has no "
                                  f"output named {spec.get('OutputName')!r}")
            path = out / spec.get("FilePath", "")
            try:
                files[spec["PropertyFileName"]] = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise StepFailure(f"property file {spec['PropertyFileName']}: the step did not write "
                                  f"{spec.get('FilePath')} to its output {spec.get('OutputName')}",
                                  tail(log_file, LOG_TAIL_LINES)) from None
            except json.JSONDecodeError as err:
                raise StepFailure(f"property file {spec['PropertyFileName']} "
                                  f"({spec.get('FilePath')}) is not valid JSON: {err}") from err
        arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:processing-job/{name.lower()}"
        properties = dict(args)
        properties.update(ProcessingJobName=name, ProcessingJobArn=arn,
                          ProcessingJobStatus="Completed", ExitMessage="")
        return StepResult(status="Succeeded", properties=properties, property_files=files,
                          metadata={"ProcessingJob": {"Arn": arn}}, outputs=output_uris)

    # .. training .................................................................................
    def _training(self, step: dict, args: dict, name: str, workdir: Path,
                  log_file: Path | None) -> StepResult:
        hps = {k: _decode_hp(v) for k, v in (args.get("HyperParameters") or {}).items()}
        program = hps.get("sagemaker_program")
        submit = hps.get("sagemaker_submit_directory")
        if not program or not submit:
            raise StepFailure("training runs locally in SageMaker script mode only: the step needs the "
                              "sagemaker_program and sagemaker_submit_directory hyperparameters")
        isolated = _isolated(args, "Training")
        root = workdir / "opt_ml"
        channels = list(args.get("InputDataConfig") or [])
        instance_type = (args.get("ResourceConfig") or {}).get("InstanceType", "ml.m5.large")
        submit_here = self._submit_directory(str(submit), str(program), root, isolated)
        folders = training.write_job_config(root, args.get("HyperParameters") or {},
                                            channels, to_text(instance_type), submit_here)
        for channel in channels:
            cname = channel["ChannelName"]
            source = channel.get("DataSource", {}).get("S3DataSource")
            if not source:
                raise StepFailure(f"channel {cname}: only S3DataSource channels run locally")
            if self.store.download(source["S3Uri"], folders["data"] / cname) == 0:
                raise StepFailure(f"channel {cname}: nothing at {source['S3Uri']}")
        if str(submit).startswith(CONTAINER_ROOT):       # a channel must have put the archive there
            self._check_archive(Path(submit_here), str(submit), str(program),
                                [c["ChannelName"] for c in channels])
        env = self._env(args.get("Environment") or {}, workdir, isolated=isolated)
        env.update(training.toolkit_env(root, name))
        try:
            self._execute(training.toolkit_command(self._step_python()), env, cwd=root,
                          log_file=log_file, timeout=timeout_of(args))
        except StepFailure as err:
            reported = training.failure_reason(root)   # what the toolkit wrote to /opt/ml/output/failure
            cause = training.script_error(log_file.read_text(encoding="utf-8", errors="replace")) \
                if log_file is not None and log_file.is_file() else None
            if reported and cause and cause not in reported:
                # SageMaker's FailureReason is the toolkit's text; the script's own error line,
                # which SageMaker leaves in the log, is named too so that it is in view.
                raise StepFailure(f"AlgorithmError: {_clip(reported, 300)}; the script's error: "
                                  f"{_clip(cause, 300)} (log {log_file})", err.log_tail) from None
            if reported:
                raise StepFailure(f"AlgorithmError: {_clip(reported, 400)}", err.log_tail) from None
            raise
        model_dir, output_data = folders["model"], folders["output_data"]
        output_path = (args.get("OutputDataConfig") or {}).get("S3OutputPath")
        if not output_path:
            raise StepFailure("OutputDataConfig.S3OutputPath is missing: nowhere to put model.tar.gz")
        model_uri = f"{output_path.rstrip('/')}/{name}/output/model.tar.gz"
        self.store.put_bytes(model_uri, pack_folder(model_dir))
        outputs = {"model": model_uri}
        if any(output_data.iterdir()):
            data_uri = f"{output_path.rstrip('/')}/{name}/output/output.tar.gz"
            self.store.put_bytes(data_uri, pack_folder(output_data))
            outputs["output"] = data_uri
        arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:training-job/{name.lower()}"
        properties = dict(args)
        properties.update(TrainingJobName=name, TrainingJobArn=arn, TrainingJobStatus="Completed",
                          SecondaryStatus="Completed", ModelArtifacts={"S3ModelArtifacts": model_uri},
                          FinalMetricDataList=[])
        return StepResult(status="Succeeded", properties=properties,
                          metadata={"TrainingJob": {"Arn": arn}}, outputs=outputs)

    def _after_output(self, uri: str) -> None:
        """The caller's hook over a stored output (`myflix run`: the reports' PNGs, drawn here because
        no job can). What it reports is news in the progress, never a failure of the step."""
        folder = self.store.path_for(uri)
        if self.after_output is None or not folder.is_dir():
            return
        notes: list[str] = []
        self.after_output(folder, notes.append)
        for note in notes:
            self.progress.message(f"  local runner: {note}")

    def _submit_directory(self, submit: str, program: str, root: Path, isolated: bool) -> str:
        """What `sagemaker_submit_directory` names for the toolkit inside this job.

        A container path (the `code` channel's `/opt/ml/input/data/code/sourcedir.tar.gz`) is the
        same path under the job's local /opt/ml. An s3:// URI is what the toolkit downloads with
        boto3 inside the job: with network, the job's role may, so the local store's file stands
        for the download; with network isolation the job has no network and no credentials, so
        the URI is left as it is and the toolkit's download fails here as it does in SageMaker.
        """
        if not submit.endswith(".tar.gz"):
            raise StepFailure(f"sagemaker_submit_directory {submit} is not a .tar.gz: the training "
                              "toolkit unpacks a sourcedir.tar.gz")
        if submit.startswith(CONTAINER_ROOT):
            try:
                return str(training.container_path(root, submit))
            except ValueError as err:
                raise StepFailure(f"sagemaker_submit_directory: {err}") from err
        if isolated:
            return submit
        try:
            found = self.store.objects(submit)
        except StoreError as err:
            raise StepFailure(f"sagemaker_submit_directory: {err}") from err
        if len(found) != 1:
            raise StepFailure(f"sagemaker_submit_directory: nothing at {submit} (local store "
                              f"{self.store.path_for(submit)}): was the code bundle uploaded?")
        archive = Path(next(iter(found.values())))
        self._check_archive(archive, submit, program)
        return str(archive)

    @staticmethod
    def _check_archive(archive: Path, submit: str, program: str, channels: list[str] | None = None) -> None:
        """The code archive is there (a channel put it there) and holds `sagemaker_program`."""
        if not archive.is_file():
            raise StepFailure(f"sagemaker_submit_directory {submit}: no input channel put a file there "
                              f"(channels: {', '.join(channels or []) or 'none'}); give the code as "
                              f"the channel `code` (sourcedir.tar.gz)")
        try:
            with tarfile.open(archive, "r:gz") as tar:
                names = {m.name.lstrip("./") for m in tar.getmembers()}
        except (tarfile.TarError, OSError) as err:
            raise StepFailure(f"sagemaker_submit_directory {submit} is not a readable tar.gz: {err}") from err
        if program.lstrip("./") not in names:
            raise StepFailure(f"sagemaker_program {program!r} is not in {submit}")

    def _step_python(self) -> str:
        try:
            return step_env.step_python()
        except step_env.StepEnvError as err:
            raise StepFailure(str(err)) from err

    # .. subprocesses .............................................................................
    def _env(self, step_env: dict, job_dir: Path, isolated: bool = False) -> dict[str, str]:
        """The job's environment: its request's `Environment`, nothing of this machine's AWS setup.

        Added by the runner, none of them a way to AWS: a HOME of the job's own (so no ~/.aws),
        PIP_NO_INDEX (a job never installs; should a step try, it fails here too), no metadata
        service, no bytecode files, and the network guard. A job with network also gets
        MYFLIX_LOCAL_ROOT, its route to the local stand-ins of S3, Glue and SageMaker; an isolated
        job gets no route at all, as in SageMaker (no network, no credentials).
        """
        env = {k: os.environ[k] for k in HOST_ENV if k in os.environ}
        home = job_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)
        env.update({k: to_text(v) for k, v in step_env.items()})
        env.update(self.extra_env)
        env.update(AWS_EC2_METADATA_DISABLED="true", PIP_NO_INDEX="1", PYTHONDONTWRITEBYTECODE="1")
        if isolated:
            env["MYFLIX_NETWORK_ISOLATED"] = "1"
            env.pop("MYFLIX_LOCAL_ROOT", None)
        else:
            env["MYFLIX_LOCAL_ROOT"] = str(self.workdir)
        if self.block_network:
            guard = nonet.install(self.workdir / ".runner" / "nonet")
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(guard), env.get("PYTHONPATH")]))
            # Belt and braces for HTTP clients that honour proxies: a port where nothing listens.
            for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                env[var] = "http://127.0.0.1:9"
            env["NO_PROXY"] = env["no_proxy"] = ""
        return env

    def _execute(self, command: list[str], env: dict[str, str], *, cwd: Path,
                 log_file: Path | None, timeout: Any) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        assert log_file is not None
        limit = float(timeout) if timeout else None
        with open(log_file, "ab") as log:
            log.write(("$ " + " ".join(command) + "\n").encode("utf-8"))
            log.flush()
            # its own process group: stopping the step stops whatever it started too
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, start_new_session=True,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            t0 = time.monotonic()
            try:
                while True:
                    try:
                        code = process.wait(timeout=0.5)
                        break
                    except subprocess.TimeoutExpired:
                        self.progress.step_tick(log_file)
                        stop = stop_reason(self._stop_folder) if getattr(self, "_stop_folder", None) else None
                        if stop:
                            process.kill()
                            process.wait()
                            raise ExecutionStopped(stop)
                        if limit and time.monotonic() - t0 > limit:
                            stop_process_group(process)
                            raise StepFailure(f"stopped after MaxRuntimeInSeconds={int(limit)}",
                                              tail(log_file, LOG_TAIL_LINES))
            except KeyboardInterrupt:        # Ctrl-C, or SIGTERM to `myflix run` (cmd_run turns it into this)
                stop_process_group(process)
                raise
        if code != 0:
            last = _last_error_line(log_file)
            raise StepFailure(f"AlgorithmError: {last} (exit code {code}; log {log_file})",
                              tail(log_file, LOG_TAIL_LINES))


# --- helpers ----------------------------------------------------------------------------------
def stop_process_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the step's whole process group (as SageMaker stops a job), then SIGKILL to
    whatever of it is left after `grace` seconds (the leader, or what it started)."""
    def signal_group(sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    signal_group(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    signal_group(signal.SIGKILL)
    process.wait()


def _container_dir(container: Path, local_path: str, what: str) -> Path:
    if not isinstance(local_path, str) or not local_path.startswith("/"):
        raise StepFailure(f"{what}: LocalPath {local_path!r} is not an absolute container path")
    parts = [p for p in local_path.strip("/").split("/") if p]
    if any(p == ".." for p in parts):
        raise StepFailure(f"{what}: LocalPath {local_path!r} contains '..'")
    folder = container.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _map_argument(arg: str, mapping: dict[str, Path]) -> str:
    """A container path (equal to or under a declared LocalPath) -> its local folder."""
    for container_path in sorted(mapping, key=len, reverse=True):
        if arg == container_path or arg.startswith(container_path + "/"):
            return str(mapping[container_path]) + arg[len(container_path):]
    if arg.startswith("--") and "=" in arg:
        flag, _, value = arg.partition("=")
        return f"{flag}={_map_argument(value, mapping)}"
    if arg.startswith(CONTAINER_ROOT):
        declared = ", ".join(sorted(mapping)) or "none"
        raise ValueError(f"argument {arg!r} is a container path that no input or output of the "
                         f"step declares (declared: {declared}): declare it as a ProcessingInput "
                         "or ProcessingOutput so the runner can map it")
    return arg


def _isolated(args: dict, kind: str) -> bool:
    """Whether the resolved job request asks for network isolation."""
    value = ((args.get("NetworkConfig") or {}).get("EnableNetworkIsolation") if kind == "Processing"
             else args.get("EnableNetworkIsolation"))
    return value is True or (isinstance(value, str) and value.lower() == "true")


def timeout_of(args: dict) -> Any:
    return (args.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")


def _decode_hp(value: Any) -> Any:
    """Hyperparameters reach the container JSON-encoded when the SDK wrote them so ("\\"x\\"")."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except (json.JSONDecodeError, ValueError):
            return value
        if isinstance(decoded, (str, int, float, bool)):
            return decoded
    return value


def _last_error_line(log_file: Path) -> str:
    lines = [text.strip() for text in tail(log_file, 60).splitlines() if text.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "Traceback", "$ ")):
            return line[:500]
    return "the step failed without output"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())
