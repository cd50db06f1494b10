"""One small builder per pipeline step, and `build_steps` that wires them in the data flow's order.

Each step follows docs/CONTRACTS.md exactly, because the local runner executes the very same JSON:
processing steps run `python3 /opt/ml/processing/input/code/steps/<script>.py` in the SKLearn
image with the bundle's `src/` prefix mounted at /opt/ml/processing/input/code and EVERY path
passed as an argument (its container path); training steps run the SKLearn container's script
mode through the `sagemaker_program` / `sagemaker_submit_directory` hyperparameters, the code
arriving as the `code` channel as SDK v2/v3 ship it (no `source_code`: that would upload driver
files under timestamped keys). Imported only under
`definition._offline_sdk()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sagemaker.core import image_uris
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.network import NetworkConfig
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import (
    OutputDataConfig,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import Parameter, ParameterTypeEnum
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.configs import Compute, InputData
from sagemaker.train.model_trainer import ModelTrainer

from pipeline.code_bundle import CodeBundle
from pipeline.parameters import SKLEARN_FRAMEWORK_VERSION
from steps import schema

# --- stable step names (Studio, caching and the local runner key on them) ----------------------
INGEST = "Ingest"
PREPROCESS = "Preprocess"
TRAIN_SCALER = "TrainScaler"
TUNE_KMEANS = "TuneKMeans"
TRAIN_KMEANS = "TrainKMeans"
PREPARE_INTERACTIONS = "PrepareInteractions"
TRAIN_RECOMMENDER = "TrainRecommender"
EVALUATE = "Evaluate"
QUALITY_GATE = "QualityGate"
QUALITY_GATE_FAILED = "QualityGateFailed"
REGISTER = "Register"
PUBLISH = "Publish"
# No Deploy step: approving the registered package is what deploys it (deployer/, docs/CONTRACTS.md "Releases").
STEP_ORDER = (INGEST, PREPROCESS, TRAIN_SCALER, TUNE_KMEANS, TRAIN_KMEANS, PREPARE_INTERACTIONS,
              TRAIN_RECOMMENDER, EVALUATE, QUALITY_GATE, QUALITY_GATE_FAILED, REGISTER, PUBLISH)
ELBOW_PROPERTY_FILE = "ElbowReport"
EVALUATION_PROPERTY_FILE = "EvaluationReport"

PROC = schema.PROCESSING_ROOT
CODE_DIR = schema.PROCESSING_CODE_DIR
# Caching: cloud reruns of unchanged steps (same code hash, same parameters) are free for 30 days.
CACHE = CacheConfig(enable_caching=True, expire_after="P30D")
JOB_RETRIES = [
    StepRetryPolicy(exception_types=[StepExceptionTypeEnum.SERVICE_FAULT,
                                     StepExceptionTypeEnum.THROTTLING],
                    interval_seconds=10, backoff_rate=2.0, max_attempts=5),
    SageMakerJobStepRetryPolicy(exception_types=[SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                                                 SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
                                                 SageMakerJobExceptionTypeEnum.INTERNAL_ERROR],
                                interval_seconds=60, backoff_rate=2.0, max_attempts=3),
]
# Ingest: IMDb republishes its files once a day, so a download is reused for 12 hours (a rerun
# after a failure starts from the same files, and every step after Ingest hits its cache again);
# the next scheduled run fetches fresh files. A given file changed under the same URI within
# those hours needs a new URI (or --no-cache locally).
INGEST_CACHE = CacheConfig(enable_caching=True, expire_after="PT12H")
# ModelStep accepts step-level retries only.
STEP_RETRIES = [JOB_RETRIES[0]]


@dataclass
class BuildContext:
    """What every builder needs: account settings, the code bundle, the session, the parameters."""

    region: str
    role: str
    bucket: str
    bundle: CodeBundle
    session: Any
    params: Any          # definition.Params
    vpc: Any = None      # definition.Vpc: every job's subnets and security groups (None: no VPC)

    @cached_property
    def image(self) -> str:
        """The SKLearn 1.9-0 image (CPU; one image serves processing, training and inference)."""
        return image_uris.retrieve("sklearn", region=self.region,
                                   version=SKLEARN_FRAMEWORK_VERSION, py_version="py3",
                                   instance_type="ml.m5.xlarge", image_scope="training")

    def output_uri(self, step: str, output: str) -> Join:
        return Join(on="/", values=["s3:/", self.bucket, schema.RUNS_PREFIX,
                                    ExecutionVariables.PIPELINE_NAME,
                                    ExecutionVariables.PIPELINE_EXECUTION_ID, step, output])


def _text(value: Any) -> Any:
    """Container arguments and hyperparameters are strings: wrap numeric pipeline variables (and
    JsonGet, whose type is only known at run time) in a Join; strings and string variables as is."""
    if isinstance(value, Parameter):
        return value if value.parameter_type == ParameterTypeEnum.STRING else value.to_string()
    if isinstance(value, JsonGet):
        return value.to_string()
    return value


def _arg_list(pairs: list[tuple[str, Any]]) -> list[Any]:
    args: list[Any] = []
    for name, value in pairs:
        args += [f"--{name.replace('_', '-')}", _text(value)]
    return args


def _param_args(ctx: BuildContext, *names: str) -> list[tuple[str, Any]]:
    return [(name, ctx.params[name]) for name in names]


def _s3_input(name: str, source: Any, local_path: str) -> ProcessingInput:
    return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
        s3_uri=source, local_path=local_path, s3_data_type="S3Prefix", s3_input_mode="File"))


def _processing_step(ctx: BuildContext, name: str, script: str, *, display_name: str,
                     description: str, inputs: dict[str, Any], outputs: tuple[str, ...],
                     extra_args: list[tuple[str, Any]], cache: bool | CacheConfig,
                     property_files: list[PropertyFile] | None = None,
                     path_args: dict[str, str] | None = None,
                     output_uris: dict[str, Any] | None = None,
                     isolated: bool = False) -> ProcessingStep:
    """A processing step in the contract's shape.

    inputs: argument name -> S3 source, mounted at /opt/ml/processing/input/<argument name>;
    outputs: output names, written from /opt/ml/processing/output/<name> to the step's runs/
    prefix unless output_uris gives their destination; path_args maps an input/output name to
    the argument that carries its path when it differs from the name. isolated: the job
    needs no network (only its inputs and outputs), so enable_network_isolation applies.
    """
    path_args = path_args or {}
    network = NetworkConfig(enable_network_isolation=ctx.params.enable_network_isolation) if isolated else None
    if ctx.vpc is not None:
        network = NetworkConfig(
            enable_network_isolation=ctx.params.enable_network_isolation if isolated else False,
            subnets=list(ctx.vpc.subnets), security_group_ids=list(ctx.vpc.security_group_ids))
    processor = Processor(
        network_config=network,
        role=ctx.role, image_uri=ctx.image, instance_count=1,
        instance_type=ctx.params.processing_instance_type,
        entrypoint=["python3", f"{CODE_DIR}/steps/{script}"],
        env={"PYTHONUNBUFFERED": "1"},      # progress lines reach the logs as they happen
        base_job_name=f"myflix-{name.lower()}", sagemaker_session=ctx.session)
    proc_inputs = [_s3_input("code", ctx.bundle.src_uri(ctx.bucket), CODE_DIR)]
    args: list[tuple[str, Any]] = []
    for input_name, source in inputs.items():
        local = f"{PROC}/input/{input_name}"
        proc_inputs.append(_s3_input(input_name, source, local))
        args.append((path_args.get(input_name, input_name), local))
    proc_outputs = []
    for output_name in outputs:
        local = f"{PROC}/output/{output_name}"
        proc_outputs.append(ProcessingOutput(output_name=output_name, s3_output=ProcessingS3Output(
            s3_uri=(output_uris or {}).get(output_name) or ctx.output_uri(name, output_name),
            local_path=local, s3_upload_mode="EndOfJob")))
        args.append((path_args.get(output_name, output_name), local))
    step_args = processor.run(inputs=proc_inputs, outputs=proc_outputs,
                              arguments=_arg_list(args + extra_args))
    return ProcessingStep(name=name, step_args=step_args, display_name=display_name,
                          description=description, property_files=property_files,
                          cache_config=cache if isinstance(cache, CacheConfig) else CACHE if cache else None,
                          retry_policies=JOB_RETRIES)


def _training_step(ctx: BuildContext, name: str, script: str, *, display_name: str,
                   description: str, channels: dict[str, Any],
                   hyperparameters: dict[str, Any]) -> TrainingStep:
    trainer = ModelTrainer(
        training_image=ctx.image, role=ctx.role, sagemaker_session=ctx.session,
        base_job_name=f"myflix-{name.lower()}",
        compute=Compute(instance_type=ctx.params.training_instance_type, instance_count=1),
        output_data_config=OutputDataConfig(s3_output_path=ctx.output_uri(name, "model")),
        hyperparameters={
            "sagemaker_program": f"steps/{script}",
            # the `code` channel's copy, inside the job: no download from S3 (isolation-proof)
            "sagemaker_submit_directory": schema.TRAINING_SUBMIT_DIRECTORY,
            **{key: _text(value) for key, value in hyperparameters.items()},
        })
    channels = {**channels, schema.TRAINING_CODE_CHANNEL: ctx.bundle.sourcedir_uri(ctx.bucket)}
    step_args = trainer.train(input_data_config=[
        InputData(channel_name=channel, data_source=source) for channel, source in channels.items()])
    return IsolatedTrainingStep(name=name, step_args=step_args, display_name=display_name,
                                description=description, cache_config=CACHE, retry_policies=JOB_RETRIES,
                                isolation=ctx.params.enable_network_isolation, vpc=ctx.vpc)


class IsolatedTrainingStep(TrainingStep):
    """A TrainingStep whose EnableNetworkIsolation is a pipeline parameter.

    SDK v3's ModelTrainer takes only a literal bool for network isolation (its Networking config
    is validated as `bool`); CreateTrainingJob's EnableNetworkIsolation is a plain field of the
    request, so the parameter is set there, as a Processor's NetworkConfig does for processing.
    """

    def __init__(self, *args: Any, isolation: Any, vpc: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._isolation = isolation
        self._vpc = vpc

    @property
    def arguments(self) -> dict:
        request = super().arguments
        request["EnableNetworkIsolation"] = self._isolation
        if self._vpc is not None:       # CreateTrainingJob's VpcConfig, as processing's NetworkConfig
            request["VpcConfig"] = {"Subnets": list(self._vpc.subnets),
                                    "SecurityGroupIds": list(self._vpc.security_group_ids)}
        return request


def _output(step: ProcessingStep, name: str) -> Any:
    return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri


def _model(step: TrainingStep) -> Any:
    return step.properties.ModelArtifacts.S3ModelArtifacts


# --- the steps ---------------------------------------------------------------------------------
def ingest_step(ctx: BuildContext) -> ProcessingStep:
    """IMDb's two files into s3://<bucket>/raw/<execution id>/ (downloaded, or the given ones
    verified). The given URIs are arguments, not inputs: an input cannot be optional (SageMaker
    refuses an empty S3Uri and fails a job whose input prefix is empty). Cached for 12 hours
    (INGEST_CACHE): a cache hit hands on the earlier raw/ prefix, so the steps after it hit too."""
    raw = Join(on="/", values=[f"s3://{ctx.bucket}", schema.RAW_PREFIX,
                               ExecutionVariables.PIPELINE_EXECUTION_ID])
    return _processing_step(
        ctx, INGEST, "ingest.py", display_name="Ingest IMDb's files",
        description=("Downloads title.basics.tsv.gz and title.ratings.tsv.gz from imdb_base_url "
                     "(streamed, retried, resumed) or takes basics_uri/ratings_uri, and checks each "
                     "is a complete gzip with IMDb's header; writes them to raw/<execution id>/."),
        inputs={}, outputs=("raw",), path_args={"raw": "output"}, output_uris={"raw": raw},
        extra_args=_param_args(ctx, "imdb_base_url", "basics_uri", "ratings_uri", "input_version",
                               "max_input_mb") + [("region", ctx.region)],
        cache=INGEST_CACHE)


def raw_file(ingest: ProcessingStep, name: str) -> Join:
    """One of Ingest's files, as a property of the step (not a second copy of the path)."""
    return Join(on="/", values=[_output(ingest, "raw"), name])


def preprocess_step(ctx: BuildContext, ingest: ProcessingStep) -> ProcessingStep:
    return _processing_step(
        ctx, PREPROCESS, "preprocess.py", display_name="Preprocess IMDb titles",
        description=("Parses title.basics and title.ratings, keeps movies, applies the filters "
                     "(year fence, runtime cap, rating, votes, dropped genres), one-hot genres; "
                     "writes features.parquet, catalog.parquet and a quality report."),
        inputs={"basics": raw_file(ingest, f"{schema.BASICS_FILE_STEM}.gz"),
                "ratings": raw_file(ingest, f"{schema.RATINGS_FILE_STEM}.gz")},
        outputs=("features", "catalog", "report"),
        path_args={"features": "features_out", "catalog": "catalog_out", "report": "report_out"},
        extra_args=_param_args(ctx, "title_type", "year_iqr_multiplier", "min_year",
                               "runtime_cap", "runtime_bin_width", "min_rating", "min_votes",
                               "dropped_genres", "max_bad_fraction", "max_line_bytes", "max_field_chars",
                               "max_rows", "max_input_mb", "max_memory_mb"),
        cache=True, isolated=True)


def train_scaler_step(ctx: BuildContext, preprocess: ProcessingStep) -> TrainingStep:
    return _training_step(
        ctx, TRAIN_SCALER, "train_scaler.py", display_name="Train the scaler",
        description="Fits the feature scaler (standard or min-max) on the numeric features.",
        channels={"features": _output(preprocess, "features")},
        hyperparameters={"scaler": ctx.params.scaler})


def tune_kmeans_step(ctx: BuildContext, preprocess: ProcessingStep,
                     scaler: TrainingStep) -> tuple[ProcessingStep, PropertyFile]:
    elbow = PropertyFile(name=ELBOW_PROPERTY_FILE, output_name="elbow", path=schema.ELBOW_JSON)
    step = _processing_step(
        ctx, TUNE_KMEANS, "tune_kmeans.py", display_name="Elbow sweep for k",
        description=("Runs k-means for k in [k_min, k_max], records the inertia per k and picks "
                     "the knee automatically (k_override > 0 forces k); writes elbow.json/png."),
        inputs={"features": _output(preprocess, "features"), "scaler": _model(scaler)},
        outputs=("elbow",), path_args={"elbow": "output"},
        extra_args=_param_args(ctx, "k_min", "k_max", "k_override", "seed"),
        cache=True, property_files=[elbow], isolated=True)
    return step, elbow


def chosen_k(tune: ProcessingStep, elbow: PropertyFile) -> JsonGet:
    return JsonGet(step_name=tune.name, property_file=elbow, json_path="chosen_k")


def train_kmeans_step(ctx: BuildContext, preprocess: ProcessingStep, scaler: TrainingStep,
                      tune: ProcessingStep, elbow: PropertyFile) -> TrainingStep:
    return _training_step(
        ctx, TRAIN_KMEANS, "train_kmeans.py", display_name="Train k-means",
        description=("Trains the final k-means with the chosen k from the elbow sweep; the model "
                     "artefact holds scaler + k-means and the serving code."),
        channels={"features": _output(preprocess, "features"), "scaler": _model(scaler)},
        hyperparameters={"k": chosen_k(tune, elbow), "seed": ctx.params.seed})


INTERACTION_PARAMETERS = ("weight_play", "weight_like", "weight_list_add", "weight_view", "rating_neutral",
                          "min_viewer_interactions", "min_film_interactions", "test_fraction",
                          "validation_fraction")


def prepare_interactions_step(ctx: BuildContext, preprocess: ProcessingStep) -> ProcessingStep:
    """The collected events (s3://<bucket>/events/, minus forgotten viewers) and interactions_uri,
    checked and weighted, split per viewer in time. Reads S3 at run time (new events arrive between
    runs): never cached, never network-isolated. interactions_uri is an argument, not an input,
    because it may be empty (SageMaker refuses an empty input), as Ingest's basics_uri."""
    return _processing_step(
        ctx, PREPARE_INTERACTIONS, "prepare_interactions.py", display_name="Prepare viewer interactions",
        description=("Reads the viewer events the API collected and interactions_uri (never mixed with "
                     "simulated viewers, which only the demo uses when nothing real exists), drops "
                     "malformed rows (counted), unknown films and forgotten viewers, dedupes, lets "
                     "unlikes cancel likes, weighs events and holds out each viewer's latest positives; "
                     "writes interactions.parquet and interactions.json."),
        inputs={"catalog": _output(preprocess, "catalog")},
        outputs=("interactions",), path_args={"interactions": "output"},
        extra_args=[("events_uri", f"s3://{ctx.bucket}/{schema.EVENTS_PREFIX}/")]
        + _param_args(ctx, "interactions_uri", "simulated_viewers", "seed", *INTERACTION_PARAMETERS,
                      "min_interactions", "max_bad_fraction", "max_interaction_rows",
                      "max_interaction_mb") + [("region", ctx.region)],
        cache=False)


def train_recommender_step(ctx: BuildContext, prepare: ProcessingStep) -> TrainingStep:
    return _training_step(
        ctx, TRAIN_RECOMMENDER, "train_recommender.py", display_name="Train the collaborative model",
        description=("Tunes the collaborative model on the train/validation split, refits it on every "
                     "interaction and writes recommender.npz + recommender.json (kind 'none' with the "
                     "reason when there are fewer than min_interactions)."),
        channels={"interactions": _output(prepare, "interactions")},
        hyperparameters={"min_interactions": ctx.params.min_interactions, "seed": ctx.params.seed,
                         "ranking_k": ctx.params.ranking_k})


def evaluate_step(ctx: BuildContext, preprocess: ProcessingStep, kmeans: TrainingStep,
                  prepare: ProcessingStep, recommender: TrainingStep) -> tuple[ProcessingStep, PropertyFile]:
    report = PropertyFile(name=EVALUATION_PROPERTY_FILE, output_name="evaluation",
                          path=schema.EVALUATION_JSON)
    step = _processing_step(
        ctx, EVALUATE, "evaluate.py", display_name="Evaluate the clusters and the recommendations",
        description=("Silhouette on a sample, cluster sizes and recall@k against exact nearest "
                     "neighbours; drift and similar-list churn against the production model (the "
                     "newest Approved package); ranking metrics (HR@k, NDCG@k, MRR, coverage, popular "
                     "share) on the held-out viewers for content, popularity, collaborative and the "
                     "served hybrid; writes evaluation.json (read by the quality gate) and drift.json. "
                     "Not cached: production is looked up at run time."),
        inputs={"features": _output(preprocess, "features"), "model": _model(kmeans),
                "interactions": _output(prepare, "interactions"), "recommender": _model(recommender)},
        outputs=("evaluation",), path_args={"evaluation": "output"},
        extra_args=_param_args(ctx, "silhouette_sample", "recall_queries", "recall_k", "seed")
        + [("model_package_group", schema.MODEL_PACKAGE_GROUP)] + _param_args(ctx, "baseline_package")
        + _param_args(ctx, "ranking_k", "min_ndcg_lift_over_popularity")
        + [("region", ctx.region)],     # the job is not promised AWS_REGION: the definition says it
        cache=False, property_files=[report])
    return step, report


GATE_METRICS = (  # (evaluation.json path, label, threshold parameter, comparison)
    ("silhouette", "silhouette", "min_silhouette", ">="),
    ("recall_at_k", "recall_at_k", "min_recall_at_k", ">="),
    ("cluster_sizes.max_share", "max_cluster_share", "max_cluster_share", "<="),
    # against the production model (0 when there is none: the first model passes by definition)
    ("similar_churn", "similar_churn", "max_similar_churn", "<="),
    ("max_feature_psi", "max_feature_psi", "max_feature_psi", "<="),
)
# The served hybrid's NDCG@k on the held-out viewers against what it must reach: popularity's *
# (1 + min_ndcg_lift_over_popularity) and production's recorded value (Evaluate computes both:
# JsonGet cannot multiply). Both are 0 when the check is skipped (collaborative skipped, or the
# viewers are simulated: a figure on made-up viewers measures nothing), and evaluation.json's
# ranking_gate.status says so.
RANKING_GATE = (  # (left path, label, right path)
    ("ranking_gate.hybrid_ndcg", "hybrid_ndcg", "ranking_gate.required_over_popularity"),
    ("ranking_gate.hybrid_ndcg", "hybrid_ndcg", "ranking_gate.production_ndcg"),
)


def quality_gate_fail_step(ctx: BuildContext, evaluate: ProcessingStep,
                           report: PropertyFile) -> FailStep:
    values: list[Any] = ["Quality gate failed; each metric (value vs required): "]
    for i, (path, label, threshold, op) in enumerate(GATE_METRICS):
        metric = JsonGet(step_name=evaluate.name, property_file=report, json_path=path)
        values += [("; " if i else "") + f"{label}=", metric, f" (needs {op} ", ctx.params[threshold], ")"]
    for left, label, right in RANKING_GATE:
        values += [f"; {label}=", JsonGet(step_name=evaluate.name, property_file=report, json_path=left),
                   f" (needs >= {right.split('.')[-1]} ",
                   JsonGet(step_name=evaluate.name, property_file=report, json_path=right), ")"]
    values += ["; ranking check: ", JsonGet(step_name=evaluate.name, property_file=report,
                                            json_path="ranking_gate.status")]
    return FailStep(name=QUALITY_GATE_FAILED, display_name="Quality gate failed",
                    description="Stops the execution: the clusters or the recommendations missed a "
                                "quality threshold.",
                    error_message=Join(on="", values=values))


def table_location(ctx: BuildContext) -> Join:
    """This execution's prefix of the published table (Publish writes it, the deployer releases it)."""
    return Join(on="", values=[f"s3://{ctx.bucket}/{schema.TABLE_PREFIX}/",
                               ExecutionVariables.PIPELINE_EXECUTION_ID, "/"])


def report_value(evaluate: ProcessingStep, report: PropertyFile, path: str) -> JsonGet:
    """A figure of evaluation.json, read at run time."""
    return JsonGet(step_name=evaluate.name, property_file=report, json_path=path)


def register_step(ctx: BuildContext, preprocess: ProcessingStep, kmeans: TrainingStep,
                  evaluate: ProcessingStep, report: PropertyFile, recommender: TrainingStep) -> ModelStep:
    builder = ModelBuilder(
        s3_model_data_url=_model(kmeans), image_uri=ctx.image, role_arn=ctx.role,
        sagemaker_session=ctx.session,
        # model.tar.gz already carries code/inference.py: no source_code, so no repack steps.
        env_vars={"SAGEMAKER_PROGRAM": "inference.py",
                  "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    metrics = MetricsSource(content_type="application/json",
                            s3_uri=Join(on="/", values=[_output(evaluate, "evaluation"),
                                                        schema.EVALUATION_JSON]))
    step_args = builder.register(
        model_package_group_name=schema.MODEL_PACKAGE_GROUP,
        approval_status=ctx.params.model_approval_status,
        content_types=["application/json"], response_types=["application/json"],
        inference_instances=["ml.m5.large", "ml.m5.xlarge"], transform_instances=["ml.m5.xlarge"],
        model_metrics=ModelMetrics(model_statistics=metrics),
        # what later readers of the package need: the deployer finds the table staged for it
        # under myflix_table_uri; drift checks read the features and catalog it was trained on
        customer_metadata_properties={"myflix_execution_id": ExecutionVariables.PIPELINE_EXECUTION_ID,
                                      "myflix_features_uri": _output(preprocess, "features"),
                                      "myflix_catalog_uri": _output(preprocess, "catalog"),
                                      "myflix_table_uri": table_location(ctx),
                                      # one release = both models: the collaborative one travels
                                      # with the endpoint's package (Publish copies it by the table)
                                      schema.RECOMMENDER_URI_KEY: _model(recommender),
                                      # "real", "simulated" or "none": who the ranking figures are about
                                      "myflix_viewers": report_value(evaluate, report, "ranking.viewers"),
                                      "myflix_ranking_gate": report_value(evaluate, report,
                                                                          "ranking_gate.status")},
        description="MyFlix: scaler + k-means over the 26 movie features, with the collaborative "
                    "recommender (myflix_recommender_uri); ranking metrics in its model statistics.")
    return ModelStep(name=REGISTER, step_args=step_args, display_name="Register the model",
                     description=(f"Registers the model in the group {schema.MODEL_PACKAGE_GROUP} "
                                  "with the approval status parameter, evaluation.json (clustering "
                                  "and ranking metrics) as its model quality metrics and the "
                                  "collaborative model's URI in its metadata."),
                     retry_policies=STEP_RETRIES)


def publish_step(ctx: BuildContext, preprocess: ProcessingStep, kmeans: TrainingStep,
                 register: ModelStep, recommender: TrainingStep) -> ProcessingStep:
    return _processing_step(
        ctx, PUBLISH, "publish.py", display_name="Publish the clustered table",
        description=(f"Writes the clustered catalogue as parquet under a new prefix for this "
                     f"execution, the collaborative model beside it, then the release manifest; the "
                     f"Glue table {schema.GLUE_DATABASE}."
                     f"{schema.GLUE_TABLE} moves there when the package is promoted to prod."),
        inputs={"catalog": _output(preprocess, "catalog"), "features": _output(preprocess, "features"),
                "model": _model(kmeans), "recommender": _model(recommender)},
        outputs=(),
        extra_args=[("table_location", table_location(ctx)), ("database", schema.GLUE_DATABASE),
                    ("table", schema.GLUE_TABLE),
                    ("execution_id", ExecutionVariables.PIPELINE_EXECUTION_ID),
                    ("model_package_arn", register.properties.ModelPackageArn), ("region", ctx.region)],
        cache=False)


def quality_gate_step(ctx: BuildContext, evaluate: ProcessingStep, report: PropertyFile,
                      if_steps: list, fail: FailStep) -> ConditionStep:
    kinds = {">=": ConditionGreaterThanOrEqualTo, "<=": ConditionLessThanOrEqualTo}
    conditions = [kinds[op](left=JsonGet(step_name=evaluate.name, property_file=report, json_path=path),
                            right=ctx.params[threshold])
                  for path, _label, threshold, op in GATE_METRICS]
    conditions += [ConditionGreaterThanOrEqualTo(
        left=JsonGet(step_name=evaluate.name, property_file=report, json_path=left),
        right=JsonGet(step_name=evaluate.name, property_file=report, json_path=right))
        for left, _label, right in RANKING_GATE]
    return ConditionStep(
        name=QUALITY_GATE, display_name="Quality gate",
        description=("Silhouette >= min_silhouette, recall@k >= min_recall_at_k, largest "
                     "cluster share <= max_cluster_share, similar-list churn <= max_similar_churn, "
                     "largest feature PSI <= max_feature_psi, and the served hybrid's NDCG@k on "
                     "held-out viewers >= popularity's * (1 + min_ndcg_lift_over_popularity) and >= "
                     "production's (skipped, and said so, with no collaborative model or simulated "
                     "viewers) (from evaluation.json); else fails."),
        conditions=conditions, if_steps=if_steps, else_steps=[fail])


def build_steps(ctx: BuildContext) -> list:
    """Every step wired together; returns the top-level ones (the rest hang off conditions)."""
    ingest = ingest_step(ctx)
    preprocess = preprocess_step(ctx, ingest)
    scaler = train_scaler_step(ctx, preprocess)
    tune, elbow = tune_kmeans_step(ctx, preprocess, scaler)
    kmeans = train_kmeans_step(ctx, preprocess, scaler, tune, elbow)
    prepare = prepare_interactions_step(ctx, preprocess)
    recommender = train_recommender_step(ctx, prepare)
    evaluate, report = evaluate_step(ctx, preprocess, kmeans, prepare, recommender)
    register = register_step(ctx, preprocess, kmeans, evaluate, report, recommender)
    publish = publish_step(ctx, preprocess, kmeans, register, recommender)
    # The pipeline stops here: approving the package in the registry deploys it (deployer/).
    gate = quality_gate_step(ctx, evaluate, report, [register, publish],
                             quality_gate_fail_step(ctx, evaluate, report))
    return [ingest, preprocess, scaler, tune, kmeans, prepare, recommender, evaluate, gate]
