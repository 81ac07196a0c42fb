"""Typed parameters: what a stage runs with, and the presets that produce them.

Merge order, lowest first (later wins, as in papermill's ``-f`` then ``-p``):
model defaults -> preset ``common`` -> preset ``per_stage.<stage>`` -> CLI ``--set``.
Unknown keys are errors everywhere (papermill itself only warns about them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
MIN_DURATION_MS_FOR_SUBMISSION = 600_000


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
    dtype: str = Field("auto", description="auto (bf16 on CUDA, fp32 on CPU) | bfloat16 | float16 | float32")
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
    seed: int = 42
    timeout_s: float = Field(3600.0, gt=0, description="Harness wall-clock limit")
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
    kv_cache_dtype: str = Field("auto", description="vllm: auto | fp8 | fp8_e4m3 | fp8_e5m2 | bfloat16")
    kv_cache_memory_bytes: Optional[int] = Field(
        None, ge=1, description="vllm: KV cache size in bytes; on CPU None means 1 GiB"
    )
    enforce_eager: Optional[bool] = Field(None, description="vllm: no CUDA graphs/compile; None: True on CPU")

    @model_validator(mode="after")
    def _check_model_key(self) -> "StageParams":
        if self.model_key is not None and self.model_key not in MODEL_KEYS:
            raise ValueError(f"model_key {self.model_key!r} is not one of {', '.join(MODEL_KEYS)}")
        return self

    @property
    def effective_model_key(self) -> str:
        return self.model_key or DEFAULT_MODEL_KEY[self.scenario]

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> "StageParams":
        """Build from a notebook's globals (the parameters cell plus papermill's injected cell)."""
        values = {name: namespace[name] for name in cls.model_fields if name in namespace}
        return validate_model(cls, values, "notebook parameters")


class Preset(StrictModel):
    """A parameter set in parameters/<name>.yaml."""

    description: str = ""
    stages: list[str]
    common: dict[str, Any] = Field(default_factory=dict)
    per_stage: dict[str, dict[str, Any]] = Field(default_factory=dict)


def validate_model(model: type[BaseModel], values: dict[str, Any], where: str):
    """Validate ``values`` against ``model``, turning the first pydantic error into one line."""
    try:
        return model.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields)
            raise InputError(f"{where} field {field!r}", f"unknown key; known keys: {known}") from None
        value = first.get("input")
        raise InputError(f"{where} field {field!r}", f"{first['msg']} (got {value!r})") from None


def load_preset(path: str | Path) -> Preset:
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
    for key in preset.common:
        if key not in StageParams.model_fields:
            raise InputError(f"{path} field 'common.{key}'", "unknown key; see `mlnb list --params`")
    for stage, overrides in preset.per_stage.items():
        if stage not in preset.stages:
            raise InputError(f"{path} field 'per_stage.{stage}'", f"stage is not in this preset's stages {preset.stages}")
        for key in overrides:
            if key not in StageParams.model_fields:
                raise InputError(f"{path} field 'per_stage.{stage}.{key}'", "unknown key; see `mlnb list --params`")
    return preset


def parse_set_option(text: str) -> tuple[Optional[str], str, Any]:
    """Parse ``--set [stage.]key=value``; the value is read as YAML (numbers, null, true)."""
    if "=" not in text:
        raise InputError(f"--set {text!r}", "expected key=value or stage.key=value")
    key, raw = text.split("=", 1)
    stage, _, name = key.rpartition(".")
    if name not in StageParams.model_fields:
        raise InputError(f"--set {text!r}", f"unknown key {name!r}; see `mlnb list --params`")
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
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
    values.update(preset.common)
    values.update(preset.per_stage.get(stage, {}))
    for target, name, value in overrides:
        if target is None or target == stage:
            values[name] = value
    values["stage"] = stage
    return validate_model(StageParams, values, f"{where} stage {stage}")
