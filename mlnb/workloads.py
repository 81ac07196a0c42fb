"""Workloads: which dataset, prompts and accuracy scorer a stage uses (``StageParams.workload``).

- ``cnndm`` (default): Llama-3.1-8B on CNN/DailyMail, scored with ROUGE;
- ``deepseek-r1``: DeepSeek-R1 on MLPerf's five-part reasoning set, scored by exact match.

The harness, the pre-run input checks and the accuracy step ask this registry instead of
assuming CNN/DailyMail; everything else (LoadGen, backends, reports) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlnb.registry import Registry


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    dataset_title: str  # for "dataset is not the official ..." in relaxed rules
    embedded_dataset: Path
    embedded_label: str  # summary.json's dataset.path for the embedded set
    load: Callable[[Path], list[dict[str, Any]]]
    prompts: Callable[[list[dict[str, Any]], Any], Any]  # -> mlnb.data.cnndm.PromptTokens
    is_official: Callable[[Path, int], bool]
    score_module: str  # "module:function" scoring an accuracy stage, imported lazily
    # True: prompts are built from text, so a backend without a tokenizer (sim) borrows the model's
    needs_tokenizer: bool = False


WORKLOADS: Registry[Workload] = Registry("workload")


def _register() -> None:
    from mlnb.data import cnndm, dsr1

    WORKLOADS.add(
        "cnndm",
        Workload(
            "cnndm",
            "Llama-3.1-8B, CNN/DailyMail (ROUGE)",
            "MLPerf CNN/DailyMail set",
            cnndm.EMBEDDED_DATASET,
            "embedded:cnn_eval.json",
            cnndm.load_cnndm,
            cnndm.prompt_token_ids,
            lambda path, size: path.name in ("cnn_eval.json", "sample_cnn_eval_5000.json") and size in (13368, 5000),
            "mlnb.stages.loadgen_stage:score_accuracy",
        ),
    )
    WORKLOADS.add(
        "deepseek-r1",
        Workload(
            "deepseek-r1",
            "DeepSeek-R1 (exact match)",
            "MLPerf DeepSeek-R1 set (4388 samples)",
            dsr1.EMBEDDED_DATASET,
            "embedded:deepseek_r1_eval.json",
            dsr1.load_dsr1,
            dsr1.prompt_token_ids,
            dsr1.is_official,
            "mlnb.stages.dsr1_accuracy:score_dsr1_accuracy",
            needs_tokenizer=True,
        ),
    )


_register()


def workload_for(params) -> Workload:
    return WORKLOADS.get(params.workload, "workload")


def dataset_path(params) -> Path:
    """The file a stage reads: the workload's embedded set, or the path given in ``dataset``."""
    return workload_for(params).embedded_dataset if params.dataset == "embedded" else Path(params.dataset)


def scorer(params) -> Callable:
    import importlib

    module, _, function = workload_for(params).score_module.partition(":")
    return getattr(importlib.import_module(module), function)
