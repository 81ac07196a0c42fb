"""What one lm-eval evaluation runs with, derived from the stage's parameters.

Two ways to reach the model:

- ``hf``: lm-eval's Hugging Face model in-process, ``pretrained`` = the resolved model folder or hub id;
- ``local-completions``: the run's OpenAI-compatible server (``base_url``), through its completions
  interface, so the accuracy belongs to the deployment being measured;

and, for the ``sim`` backend, lm-eval's ``dummy`` model (random log-likelihoods; labelled SIMULATED).

:func:`cli_command` renders the same settings as an ``lm_eval`` command line, which the report shows so
that anyone can reproduce the number with lm-eval alone.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.lmeval.tasks import resolve_tasks_dir

DEFAULT_SEEDS = (0, 1234, 1234, 1234)  # lm-eval's own defaults: python, numpy, torch, few-shot sampler


@dataclass
class LmEvalSettings:
    model: str  # lm-eval model type: hf | local-completions | dummy
    model_args: dict[str, Any]
    tasks: list[str]
    include_path: Optional[str]
    num_fewshot: Optional[int]
    limit: Optional[int]
    batch_size: int
    device: Optional[str]
    # Switched off only where the task's data is local (and, for the hub, the model too); a user with
    # internet who runs lm-eval's own mmlu keeps both on.
    env: dict[str, str]
    simulated: bool
    seeds: tuple[int, int, int, int] = DEFAULT_SEEDS
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LmEvalSettings":
        return cls(**{**data, "seeds": tuple(data.get("seeds", DEFAULT_SEEDS))})


def completions_url(base_url: str) -> str:
    """The completions endpoint of the first server in ``base_url`` (lm-eval talks to one)."""
    first = base_url.split(",")[0].strip().rstrip("/")
    if not first.startswith(("http://", "https://")):
        raise InputError(f"base_url={base_url!r}", "expected http://host:port[/v1]")
    if first.endswith("/completions"):
        return first
    return first + ("/completions" if first.endswith("/v1") else "/v1/completions")


def _dtype(params: StageParams, device: str) -> str:
    if params.dtype != "auto":
        return params.dtype
    return "bfloat16" if device.startswith("cuda") else "float32"  # as mlnb's hf backend chooses


def build_settings(params: StageParams, cuda_available: bool = False) -> LmEvalSettings:
    from mlnb.models.embedded import resolve_model

    tasks_dir = resolve_tasks_dir(params.mmlu_tasks_dir)
    notes: list[str] = []
    common = dict(
        tasks=[params.mmlu_task],
        include_path=str(tasks_dir) if tasks_dir else None,
        num_fewshot=params.mmlu_num_fewshot,
        limit=params.mmlu_limit,
        batch_size=params.batch_size,
    )
    if params.backend == "sim":
        return LmEvalSettings(model="dummy", model_args={}, device=None, env=_offline_env(tasks_dir, True),
                              simulated=True, **common,
                              notes=["SIMULATED: lm-eval's dummy model answers with random log-likelihoods; no model ran"])
    resolved = resolve_model(params.model)
    local_model = Path(resolved).expanduser().is_dir()  # a folder on disk, not a hub id
    if params.base_url:
        if len(params.base_url.split(",")) > 1:
            notes.append("lm-eval sends every request to the first server in base_url")
        model_args: dict[str, Any] = {
            "model": params.served_model_name or params.model,
            "base_url": completions_url(params.base_url),
            "tokenizer": resolved,  # loglikelihood needs the model's tokenizer to split context and answer
            "tokenizer_backend": "huggingface",
            "num_concurrent": params.batch_size,
            "max_retries": 3,
        }
        return LmEvalSettings(model="local-completions", model_args=model_args, device=None,
                              env=_offline_env(tasks_dir, local_model), simulated=False, **common, notes=notes)
    if params.load_format == "dummy":
        raise InputError(f"stage {params.stage} load_format='dummy'", "lm-eval needs the model's real weights")
    device = params.device if params.device != "auto" else ("cuda" if cuda_available else "cpu")
    model_args = {"pretrained": resolved, "dtype": _dtype(params, device)}
    return LmEvalSettings(model="hf", model_args=model_args, device=device, env=_offline_env(tasks_dir, local_model),
                          simulated=False, **common, notes=notes)


def _offline_env(tasks_dir, local_model: bool) -> dict[str, str]:
    if tasks_dir is None:
        return {}
    env = {"HF_DATASETS_OFFLINE": "1"}
    if local_model:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def model_args_string(model_args: dict[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in model_args.items())


def cli_command(settings: LmEvalSettings, output_path: str = "lm_eval_out") -> str:
    """The ``lm_eval`` command line that runs the same evaluation."""
    args = ["lm_eval", "--model", settings.model]
    if settings.model_args:
        args += ["--model_args", model_args_string(settings.model_args)]
    args += ["--tasks", ",".join(settings.tasks)]
    if settings.include_path:
        args += ["--include_path", settings.include_path]
    if settings.num_fewshot is not None:
        args += ["--num_fewshot", str(settings.num_fewshot)]
    if settings.limit is not None:
        args += ["--limit", str(settings.limit)]
    args += ["--batch_size", str(settings.batch_size)]
    if settings.device:
        args += ["--device", settings.device]
    if settings.seeds != DEFAULT_SEEDS:
        args += ["--seed", ",".join(str(s) for s in settings.seeds)]
    args += ["--output_path", output_path]
    prefix = "".join(f"{key}={value} " for key, value in settings.env.items())
    return prefix + " ".join(shlex.quote(a) for a in args)
