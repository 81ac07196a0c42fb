"""Typed parameters: what a stage runs with, and the presets that produce them.

Merge order, lowest first (later wins, as in papermill's ``-f`` then ``-p``):
model defaults -> preset ``common`` -> preset ``per_stage.<stage>`` -> CLI ``--set``.
Unknown keys are errors everywhere (papermill itself only warns about them).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from mlnb.errors import InputError

Scenario = Literal["Offline", "Server", "SingleStream", "Interactive"]
Mode = Literal["performance", "accuracy", "test06"]  # test06: the TEST06 compliance run

# LoadGen model keys (mlperf.conf). "Interactive" is a Server run under the -interactive key.
DEFAULT_MODEL_KEY: dict[str, str] = {
    "Offline": "llama3_1-8b",
    "Server": "llama3_1-8b",
    "SingleStream": "llama3_1-8b-edge",
    "Interactive": "llama3_1-8b-interactive",
}
MODEL_KEYS = ("llama3_1-8b", "llama3_1-8b-edge", "llama3_1-8b-interactive")
# Full dataset sizes the submission checker expects per model key.
REQUIRED_SAMPLES = {"llama3_1-8b": 13368, "llama3_1-8b-edge": 5000, "llama3_1-8b-interactive": 13368}
# DeepSeek-R1 (mlperf.conf: ttft 2000 ms / tpot 80 ms; -interactive: 1500 ms / 15 ms). No SingleStream.
MODEL_KEYS = MODEL_KEYS + ("deepseek-r1", "deepseek-r1-interactive")
REQUIRED_SAMPLES.update({"deepseek-r1": 4388, "deepseek-r1-interactive": 4388})
# Default model keys of workloads other than cnndm (whose keys are DEFAULT_MODEL_KEY).
WORKLOAD_MODEL_KEYS: dict[str, dict[str, str]] = {
    "deepseek-r1": {"Offline": "deepseek-r1", "Server": "deepseek-r1", "Interactive": "deepseek-r1-interactive"},
}
Workload = Literal["cnndm", "deepseek-r1", "custom", "synthetic"]
MIN_DURATION_MS_FOR_SUBMISSION = 600_000


class StrictModel(BaseModel):
    # inf/nan would pass gt=0 checks and break later (a timeout of inf seconds, a target QPS of nan).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def check_device_names(names: list[str], per: str) -> list[str]:
    """``cpu`` or ``cuda:N``, no GPU twice (one replica or server per GPU)."""
    for name in names:
        if not re.fullmatch(r"cpu|cuda:[0-9]+", name):
            raise ValueError(f"device {name!r} is not cpu or cuda:N")
    cuda = [n for n in names if n != "cpu"]
    if len(set(cuda)) != len(cuda):
        raise ValueError(f"a GPU is named twice; one {per} per GPU")
    return names


class StageParams(StrictModel):
    """Everything one benchmark stage needs. Notebook parameter cells mirror these fields."""

    run_dir: str = Field("outputs/scratch", description="Run folder; the stage writes into run_dir/stage")
    stage: str = Field("scratch", description="Stage name, also the stage's folder name")
    scenario: Scenario = "Offline"
    mode: Mode = "performance"
    model_key: Optional[str] = Field(None, description="LoadGen model key; default follows the scenario")
    backend: str = Field("hf", description="SUT backend (see `mlnb list`)")
    model: str = Field("embedded", description="'embedded', a Hugging Face model id, or a local folder")
    dataset: str = Field("embedded", description="'embedded' or a path to cnn_eval.json-style data")
    samples: Optional[int] = Field(None, ge=1, description="Use the first N dataset records (QSL size)")
    max_new_tokens: int = Field(128, ge=1, description="MLPerf Llama: 128")
    min_new_tokens: int = Field(1, ge=0, description="MLPerf Llama: 1")
    batch_size: int = Field(8, ge=1, description="hf: Offline batch size and Server maximum batch")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto (bf16 on CUDA, fp32 on CPU) | bfloat16 | float16 | float32"
    )
    load_format: Literal["auto", "dummy"] = Field(
        "auto", description="dummy: the model's architecture with random weights (accuracy meaningless)"
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    target_qps: Optional[float] = Field(None, gt=0, description="Offline expected QPS / Server target QPS")
    target_latency_ms: Optional[float] = Field(None, gt=0, description="SingleStream expected latency")
    min_duration_ms: Optional[int] = Field(None, ge=0, description="None keeps mlperf.conf (600000)")
    min_query_count: Optional[int] = Field(None, ge=1)
    max_query_count: Optional[int] = Field(None, ge=0)
    ttft_latency_ms: Optional[float] = Field(None, gt=0, description="Override the Server TTFT limit")
    tpot_latency_ms: Optional[float] = Field(None, gt=0, description="Override the Server TPOT limit")
    user_conf: Optional[str] = Field(None, description="LoadGen user.conf applied after mlperf.conf")
    sim_ttft_ms: float = Field(30.0, ge=0, description="sim: time to first token at an empty queue")
    sim_prefill_ms_per_token: float = Field(0.02, ge=0)
    sim_tpot_ms: float = Field(4.0, ge=0)
    sim_max_batch: int = Field(16, ge=1, description="sim: concurrent sequences before queueing")
    sim_output_tokens: Optional[int] = Field(None, ge=2, description="sim: fixed output length")
    sim_fault_after: Optional[int] = Field(
        None, ge=0, description="sim: after this many answers, answer with a token id outside int32 (fault tests)"
    )
    seed: int = 42
    timeout_s: float = Field(3600.0, gt=0, description="Harness wall-clock limit")
    telemetry: bool = Field(True, description="Sample host, GPUs (NVML) and the server's /metrics at 2 Hz during the test")
    output_length: Optional[Literal["model", "reference"]] = Field(
        None,
        description="model: stop at EOS or max_new_tokens; reference: ignore EOS and stop at the record's "
        "reference output length (capped by max_new_tokens). Default: reference when load_format=dummy",
    )
    decode_path: Literal["eager", "static"] = Field(
        "eager",
        description="hf: eager = transformers generate (the reference); static = static KV cache, decode step "
        "compiled and replayed as a CUDA graph on GPUs, batch size chosen from free memory",
    )
    static_max_batch: int = Field(256, ge=1, description="hf static: the largest batch the memory sizing may choose")
    tokenizer: Optional[str] = Field(
        None, description="Tokenizer folder or id for decoding and reference lengths when the model has none"
    )
    workload: Workload = Field(
        "cnndm",
        description="cnndm: Llama-3.1-8B on CNN/DailyMail (ROUGE) | deepseek-r1: DeepSeek-R1 (exact match) | "
        "custom: the user's prompts (dataset=FILE or hf:NAME) | synthetic: generated prompts (synthetic_*)",
    )
    # lm-eval stages (08_mmlu)
    mmlu_task: str = Field("mmlu", description="lm-eval task or group, e.g. mmlu (08_mmlu)")
    mmlu_num_fewshot: Optional[int] = Field(None, ge=0, description="Few-shot examples; None: the task's own")
    mmlu_limit: Optional[int] = Field(None, ge=1, description="lm-eval --limit: the first N questions per subject")
    mmlu_tasks_dir: Optional[str] = Field(
        None, description="'embedded' (mlnb's MMLU-format set) or a folder of lm-eval task YAMLs (--include_path)"
    )
    # OpenAI-compatible endpoints (the `openai` backend). Shared names: other stages read them too.
    base_url: Optional[str] = Field(
        None, description="openai: server URL(s) up to /v1, comma-separated for several; a managed server sets it"
    )
    served_model_name: Optional[str] = Field(None, description="openai: the model name the server serves")
    api: Literal["completions", "chat"] = Field("completions", description="openai: /completions or /chat/completions")
    api_key_env: str = Field(
        "OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="openai: environment variable holding the API key (the name, never the key)",
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="openai: TCP connect limit per request")
    read_timeout_s: float = Field(120.0, gt=0, description="openai: longest wait for the next stream chunk")
    request_timeout_s: float = Field(1800.0, gt=0, description="openai: whole-request limit")
    vllm_extras: bool = Field(
        True, description="openai: send vLLM's min_tokens, skip_special_tokens=false, return_token_ids"
    )
    stop_sending_after_errors: int = Field(
        1, ge=0, description="openai: after this many failed requests, fail new ones without sending (0: never)"
    )
    max_concurrency: Optional[int] = Field(
        None, ge=1, description="openai: at most this many requests in flight; the rest wait in the client "
        "(in Offline: a closed loop of N requests). None: no cap",
    )
    client_workers: int = Field(
        1, ge=1, le=64,
        description="openai: processes that stream the HTTP answers (1: the client runs in the harness process; "
        "N: N worker processes, each with its own event loop, and LoadGen in the harness)",
    )
    # openai backend against a server mlnb did not start: what the prompts are, and the server's device.
    prompt_form: Optional[Literal["tokens", "text"]] = Field(
        None,
        description="openai: tokens = prompt token ids to /completions (MLPerf's way); text = the prompt "
        "decoded to text (what vLLM bench and guidellm send). None: tokens when the tokenizer is named "
        "(tokenizer, a model other than 'embedded', or a managed server), else text",
    )
    server_device: Optional[str] = Field(
        None, description="openai: the server's accelerator, an id or name from devices.json (speed-of-light floors)"
    )
    server_device_count: int = Field(1, ge=1, description="openai: how many server_device the served model runs on")

    @field_validator("server_device")
    @classmethod
    def _check_server_device(cls, device: Optional[str]) -> Optional[str]:
        from mlnb.perf.devices import device_by_name

        if device is not None:
            device_by_name(device)  # ValueError naming the known ids
        return device

    # vLLM engine arguments (backend vllm); None leaves vLLM's own default.
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per model replica (tensor parallel)")
    pipeline_parallel_size: int = Field(1, ge=1, description="vllm: pipeline stages")
    distributed_executor_backend: Optional[Literal["mp", "ray", "uni"]] = Field(
        None, description="vllm: mp (one host), ray (multi-node), uni (one process); None: vLLM picks"
    )
    gpu_memory_utilization: Optional[float] = Field(
        None, gt=0, le=1, description="vllm: fraction of device memory for weights + KV cache (CPU: of RAM)"
    )
    max_model_len: Optional[int] = Field(None, ge=16, description="vllm: context length (prompt + output)")
    max_num_seqs: Optional[int] = Field(None, ge=1, description="vllm: sequences decoded at once")
    kv_cache_dtype: Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "bfloat16"] = Field(
        "auto", description="vllm: auto | fp8 | fp8_e4m3 | fp8_e5m2 | bfloat16"
    )
    kv_cache_memory_bytes: Optional[int] = Field(
        None, ge=1, description="vllm: KV cache size in bytes; on CPU None means 1 GiB"
    )
    enforce_eager: Optional[bool] = Field(None, description="vllm: no CUDA graphs/compile; None: True on CPU")

    @field_validator("model_key")
    @classmethod
    def _check_model_key(cls, model_key: Optional[str]) -> Optional[str]:
        if model_key is not None and model_key not in MODEL_KEYS:
            raise ValueError(f"model_key {model_key!r} is not one of {', '.join(MODEL_KEYS)}")
        return model_key

    @field_validator("device")
    @classmethod
    def _check_device(cls, device: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda|cuda:[0-9]+", device):
            raise ValueError("expected auto, cpu, cuda or cuda:N")
        return device

    # Cross-field checks sit on the later field, so an error names the field (and where it was set).
    @field_validator("min_new_tokens")
    @classmethod
    def _check_min_new_tokens(cls, min_new: int, info: ValidationInfo) -> int:
        max_new = info.data.get("max_new_tokens")
        if max_new is not None and min_new > max_new:
            raise ValueError(f"min_new_tokens {min_new} is above max_new_tokens {max_new}")
        return min_new

    @field_validator("max_query_count")
    @classmethod
    def _check_max_query_count(cls, max_count: Optional[int], info: ValidationInfo) -> Optional[int]:
        min_count = info.data.get("min_query_count")
        if max_count and min_count is not None and max_count < min_count:  # 0: LoadGen's "no limit"
            raise ValueError(f"max_query_count {max_count} is below min_query_count {min_count}")
        return max_count

    # ---- custom and synthetic workloads (mlnb/data/custom.py, mlnb/data/synthetic.py) ----------------
    dataset_format: Optional[Literal["jsonl", "json", "csv", "parquet"]] = Field(
        None, description="custom: file format; None: from the file name's suffix"
    )
    dataset_columns: dict[str, str] = Field(
        default_factory=dict,
        description="custom: record field -> your column, e.g. dataset_columns.prompt=question "
        "(fields: prompt, messages, output, task_type, max_tokens)",
    )
    dataset_split: str = Field("train", description="custom: the split of a Hugging Face dataset (dataset=hf:NAME)")
    chat_template: Optional[bool] = Field(
        None, description="custom: true: wrap every prompt in the model's chat template; None: only `messages`"
    )
    drop_too_long: bool = Field(
        False, description="custom/synthetic: drop records longer than the model's context (else refuse them)"
    )
    scoring: Literal["auto", "exact", "rouge", "numeric", "choice", "none"] = Field(
        "auto", description="custom: how outputs are scored against `output`; auto: chosen per task_type"
    )
    synthetic_records: int = Field(64, ge=1, description="synthetic: how many prompts to make")
    synthetic_input_tokens: str = Field(
        "128", description="synthetic: prompt length: N | uniform:LO:HI | normal:MEAN:STD | histogram:FILE.csv"
    )
    synthetic_output_tokens: str = Field(
        "128", description="synthetic: output length (each record's max_tokens), same forms as the input"
    )
    synthetic_prefix_tokens: int = Field(0, ge=0, description="synthetic: a prefix shared by every prompt")
    synthetic_seed: int = Field(0, description="synthetic: the same seed makes the same prompts")
    # vLLM reuses the KV cache of a prompt prefix it has seen (its default); repeated or shared-prefix
    # prompts then skip most of their prefill. A setting, so that reports say which way a run went.
    prefix_caching: bool = Field(True, description="vllm: reuse cached KV of shared prompt prefixes (vLLM's default)")
    # ---- replicas: one engine per device, each in its own worker process (mlnb/harness/replicas.py) ----
    replicas: int = Field(
        1, ge=1, description="hf/sim: engine replicas, one worker process each, fed by the one LoadGen; "
        "queries go to the replica with the fewest outstanding tokens"
    )
    devices: Optional[str] = Field(
        None, description="hf/sim replicas: one device per replica, comma-separated (cuda:0,cuda:1 or cpu,cpu); "
        "None: replicas=N picks N devices (the GPUs with most free memory, else the CPU N times)"
    )
    replica_failure: Literal["fail", "continue"] = Field(
        "fail", description="a replica dies: fail = end the stage at once; continue = fail its in-flight queries "
        "and go on with the others"
    )
    profile: bool = Field(
        False, description="hf: capture a short torch.profiler window after warm-up (top ops and a Chrome trace)"
    )
    profile_batches: int = Field(2, ge=1, description="hf profile: how many batches the profiler window covers")

    @field_validator("devices")
    @classmethod
    def _check_devices(cls, devices: Optional[str], info: ValidationInfo) -> Optional[str]:
        if devices is None:
            return None
        names = check_device_names([d.strip() for d in devices.split(",")], "replica")
        replicas = info.data.get("replicas")
        if replicas not in (None, 1) and replicas != len(names):
            raise ValueError(f"{len(names)} devices for replicas={replicas}; give as many devices as replicas")
        return ",".join(names)

    @property
    def replica_count(self) -> int:
        return len(self.devices.split(",")) if self.devices else self.replicas

    @field_validator("synthetic_input_tokens", "synthetic_output_tokens", mode="before")
    @classmethod
    def _check_length_spec(cls, value: Any) -> str:
        from mlnb.data.synthetic import parse_length_spec

        text = str(value)
        parse_length_spec(text)  # ValueError -> one line naming the field
        return text

    @field_validator("dataset_columns")
    @classmethod
    def _check_columns(cls, value: dict[str, str]) -> dict[str, str]:
        from mlnb.data.custom import FIELDS

        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; mappable fields: {', '.join(FIELDS)}")
        return value
    # ---- end of custom and synthetic workloads ----------------------------------------------------------


    @field_validator("workload")
    @classmethod
    def _check_workload_scenario(cls, workload: str, info: ValidationInfo) -> str:
        keys = WORKLOAD_MODEL_KEYS.get(workload)
        scenario = info.data.get("scenario")
        if keys is not None and info.data.get("model_key") is None and scenario not in keys:
            raise ValueError(f"workload {workload!r} has no {scenario} scenario; use one of {', '.join(keys)}")
        return workload

    @property
    def effective_model_key(self) -> str:
        return self.model_key or WORKLOAD_MODEL_KEYS.get(self.workload, DEFAULT_MODEL_KEY)[self.scenario]

    @property
    def effective_output_length(self) -> str:
        # Random weights rarely emit EOS at the right place; the reference lengths give the real shape.
        return self.output_length or ("reference" if self.load_format == "dummy" else "model")

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> "StageParams":
        """Build from a notebook's globals (the parameters cell plus papermill's injected cell)."""
        values = {name: namespace[name] for name in cls.model_fields if name in namespace}
        return validate_model(cls, values, "notebook parameters")


class ServerSpec(StrictModel):
    """A server the pipeline starts once for the whole run (the preset's ``server:`` section)."""

    kind: Literal["vllm", "transformers", "command"] = Field(
        "vllm", description="vllm: `vllm serve`; transformers: `transformers serve` (text prompts); command: the template below"
    )
    model: Optional[str] = Field(None, description="Model to serve; default: the preset's common.model")
    served_model_name: Optional[str] = Field(None, description="Name the server serves it as; default: model")
    host: str = Field("127.0.0.1", description="Interface to listen on")
    port: int = Field(0, ge=0, le=65535, description="0: a free port")
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="vllm / transformers: `--key value` arguments (true: a bare flag), e.g. device, dtype; command: appended alike"
    )
    command: Optional[str] = Field(
        None, description="command: a template with {python} {model} {served_model_name} {host} {port}"
    )
    prefix_caching: bool = Field(
        True, description="vllm: reuse cached KV of shared prompt prefixes (vLLM's default); false turns it off"
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables for the server")
    devices: list[str] = Field(
        default_factory=list, description="One server per device (cuda:N or cpu), each on its own port; the stages "
        "get every URL (the openai backend spreads queries over them). Empty: one server, devices left to it"
    )

    @field_validator("devices")
    @classmethod
    def _check_server_devices(cls, devices: list[str]) -> list[str]:
        return check_device_names(devices, "server")
    ready_timeout_s: float = Field(900.0, gt=0, description="Longest wait for /health and /v1/models")
    stop_timeout_s: float = Field(30.0, gt=0, description="SIGTERM grace before SIGKILL")

    @model_validator(mode="after")
    def _check_command(self) -> "ServerSpec":
        if self.kind == "command" and not self.command:
            raise ValueError("kind 'command' needs a command template")
        if "enable_prefix_caching" in self.engine_args:  # one place for it, so the report can say which it was
            raise ValueError("set server.prefix_caching, not engine_args.enable_prefix_caching")
        return self


class Preset(StrictModel):
    """A parameter set in parameters/<name>.yaml."""

    description: str = ""
    stages: list[str]
    common: dict[str, Any] = Field(default_factory=dict)
    per_stage: dict[str, dict[str, Any]] = Field(default_factory=dict)
    server: Optional[ServerSpec] = Field(None, description="A server started once for the whole run")


def _error_text(first: dict) -> str:
    message = first["msg"].removeprefix("Value error, ")
    return f"{message} (got {first.get('input')!r})"


def validate_model(
    model: type[BaseModel], values: dict[str, Any], where: str, origins: Optional[dict[str, str]] = None
):
    """Validate ``values`` against ``model``, turning the first pydantic error into one line.

    ``origins`` maps a field to where its value came from (a preset line, a ``--set`` option), so
    the line names that place rather than ``where``.
    """
    try:
        return model.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields)
            raise InputError(f"{where} field {field!r}", f"unknown key; known keys: {known}") from None
        origin = (origins or {}).get(str(first["loc"][0])) if first["loc"] else None
        raise InputError(origin or f"{where} field {field!r}", _error_text(first)) from None


@lru_cache(maxsize=None)
def _single_field_model(name: str) -> type[BaseModel]:
    field = StageParams.model_fields[name]
    return create_model(f"StageParams_{name}", __config__=StrictModel.model_config, value=(field.annotation, field))


class _NoData:
    data: dict = {}


def check_field(name: str, value: Any, where: str) -> Any:
    """Type and range of one StageParams field on its own (checks across fields come later)."""
    try:
        _single_field_model(name).model_validate({"value": value})
    except ValidationError as err:
        raise InputError(where, _error_text(err.errors()[0])) from None
    # Field validators are not part of the type: run the ones that look at this field alone.
    checks = {"model_key": StageParams._check_model_key, "device": StageParams._check_device}
    if name == "devices" and value is not None:
        try:
            StageParams._check_devices(value, _NoData())
        except ValueError as err:
            raise InputError(where, f"{err} (got {value!r})") from None
    if name in checks:
        try:
            checks[name](value)
        except ValueError as err:
            raise InputError(where, f"{err} (got {value!r})") from None
    return value


def load_preset(path: str | Path) -> Preset:
    from mlnb.secrets import check_not_secret

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "preset file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InputError(str(path), f"not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "expected a mapping with 'stages', 'common' and 'per_stage'")
    preset = validate_model(Preset, data, str(path))
    # Unknown keys in common/per_stage must fail now, not when a notebook runs.
    for key, value in preset.common.items():
        if key not in StageParams.model_fields:
            raise InputError(f"{path} field 'common.{key}'", "unknown key; see `mlnb list --params`")
        check_not_secret(f"{path} field 'common.{key}'", key, value)
    for stage, overrides in preset.per_stage.items():
        if stage not in preset.stages:
            raise InputError(f"{path} field 'per_stage.{stage}'", f"stage is not in this preset's stages {preset.stages}")
        for key, value in overrides.items():
            if key not in StageParams.model_fields:
                raise InputError(f"{path} field 'per_stage.{stage}.{key}'", "unknown key; see `mlnb list --params`")
            check_not_secret(f"{path} field 'per_stage.{stage}.{key}'", key, value)
    if preset.server is not None:
        for key, value in preset.server.env.items():
            check_not_secret(f"{path} field 'server.env.{key}'", key, value)
    return preset


def set_option_label(stage: Optional[str], name: str, value: Any) -> str:
    """How a ``--set`` override is named in error lines."""
    return f"--set {(stage + '.') if stage else ''}{name}={'' if value is None else value}"


def parse_set_option(text: str) -> tuple[Optional[str], str, Any]:
    """Parse ``--set [stage.]key=value``; the value is read as YAML (numbers, null, true).

    The value is checked against the field's type and range here, so a mistake names ``--set``.
    A credential (by key name or by shape) is refused: keys belong in the environment.
    """
    from mlnb.secrets import check_not_secret

    if "=" not in text:
        raise InputError(f"--set {text!r}", "expected key=value or stage.key=value")
    key, raw = text.split("=", 1)
    stage, _, name = key.strip().rpartition(".")
    where = f"--set {key}="
    check_not_secret(where, name, raw)
    if not name:
        raise InputError(f"--set {text!r}", "expected key=value or stage.key=value (the key is empty)")
    head, _, column_field = stage.rpartition(".")
    if column_field == "dataset_columns":  # --set [stage.]dataset_columns.FIELD=COLUMN: one entry of the mapping
        return (head or None), "dataset_columns", {name: raw}
    if name not in StageParams.model_fields:
        raise InputError(f"--set {text!r}", f"unknown key {name!r}; see `mlnb list --params`")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else None
    except yaml.YAMLError:
        value = raw
    try:
        check_field(name, value, f"--set {text}")
    except InputError:
        # YAML read "123" as a number or "yes" as true; a text field wants the text as typed.
        if raw == "" or not isinstance(value, (int, float, bool)):
            raise
        try:
            check_field(name, raw, f"--set {text}")
        except InputError:
            pass
        else:
            return (stage or None), name, raw
        raise
    return (stage or None), name, value


def resolve_stage_params(
    preset: Preset,
    stage: str,
    stage_defaults: dict[str, Any],
    overrides: list[tuple[Optional[str], str, Any]],
    where: str,
) -> StageParams:
    """Merge defaults -> stage spec -> preset common -> preset per_stage -> CLI overrides."""
    values: dict[str, Any] = dict(stage_defaults)
    origins: dict[str, str] = {}
    values.update(preset.common)
    origins.update({name: f"{where} field 'common.{name}'" for name in preset.common})
    per_stage = preset.per_stage.get(stage, {})
    values.update(per_stage)
    origins.update({name: f"{where} field 'per_stage.{stage}.{name}'" for name in per_stage})
    for target, name, value in overrides:
        if target is None or target == stage:
            if name == "dataset_columns" and isinstance(value, dict) and isinstance(values.get(name), dict):
                value = {**values[name], **value}  # dataset_columns.FIELD=... adds to the mapping
            values[name] = value
            origins[name] = set_option_label(target, name, value)
    values["stage"] = stage
    return validate_model(StageParams, values, f"{where} stage {stage}", origins)
