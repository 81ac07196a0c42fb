"""Workloads: which dataset and prompts a stage uses (``StageParams.workload``).

- ``cnndm`` (default): Llama-3.1-8B on CNN/DailyMail, scored with ROUGE;
- ``deepseek-r1``: DeepSeek-R1 on MLPerf's five-part reasoning set, scored by exact match;
- ``custom``: the user's prompts (JSONL, JSON, CSV, Parquet, ShareGPT, a Hugging Face dataset),
  scored per ``task_type`` when records carry a reference ``output``;
- ``synthetic``: prompts made from the tokenizer's vocabulary with lengths from a distribution.

The harness, the pre-run input checks and the accuracy step ask this registry instead of
assuming CNN/DailyMail; everything else (LoadGen, backends, reports) is shared. Which function scores
a workload's accuracy stage is the stages' choice (``mlnb.stages.loadgen_stage``): this layer names no stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from mlnb.errors import InputError
from mlnb.registry import Registry


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    dataset_title: Optional[str]  # for "dataset is not the official ..." in relaxed rules; None: the user's own
    embedded_dataset: Path
    embedded_label: str  # summary.json's dataset.path for the embedded set
    load: Callable[[Path], list[dict[str, Any]]]  # file-based workloads; see load_records for all
    prompts: Callable[[list[dict[str, Any]], Any], Any]  # -> mlnb.data.cnndm.PromptTokens
    is_official: Callable[[Path, int], bool]
    # True: prompts are built from text, so a backend without a tokenizer (sim) borrows the model's
    needs_tokenizer: bool = False
    # Workloads whose records depend on more than the file (columns, tokenizer, context): params -> records
    load_params: Optional[Callable[[Any], list[dict[str, Any]]]] = None


WORKLOADS: Registry[Workload] = Registry("workload")


def _register() -> None:
    from mlnb.data import cnndm, custom, dsr1

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
            needs_tokenizer=True,
        ),
    )


    WORKLOADS.add(
        "custom",
        Workload(
            "custom",
            "Your own prompts",
            None,
            Path("embedded"),
            "embedded",
            lambda path: _no_path_load("custom"),
            custom.prompt_tokens,
            lambda path, size: False,
            needs_tokenizer=True,
            load_params=load_custom,
        ),
    )
    WORKLOADS.add(
        "synthetic",
        Workload(
            "synthetic",
            "Synthetic prompts",
            None,
            Path("synthetic"),
            "synthetic",
            lambda path: _no_path_load("synthetic"),
            custom.prompt_tokens,
            lambda path, size: False,
            needs_tokenizer=True,
            load_params=load_synthetic,
        ),
    )


def _no_path_load(name: str):
    raise TypeError(f"the {name} workload loads through load_records(params)")


def _tokenizer(params):
    from mlnb.models.tokenizer_at_hand import tokenizer_at_hand

    return tokenizer_at_hand(params).tokenizer


def load_custom(params):
    from mlnb.data import custom

    records = custom.load_records(params.dataset, params.dataset_format, params.dataset_split, params.dataset_columns)
    tokenizer = _tokenizer(params)
    if tokenizer is None:
        raise InputError(f"model {params.model!r}", "has no tokenizer to tokenize your prompts; set tokenizer=<folder or id>")
    return custom.tokenize_records(records, tokenizer, params, params.dataset)


def load_synthetic(params):
    from mlnb.data import custom
    from mlnb.data.synthetic import make_synthetic

    tokenizer = _tokenizer(params)
    made = make_synthetic(params, tokenizer)
    longest = max(r["max_tokens"] for r in made.records)
    if longest > params.max_new_tokens:  # a silent cap would make the requested lengths a lie
        raise InputError(f"synthetic_output_tokens {params.synthetic_output_tokens!r}",
                         f"draws up to {longest} tokens but max_new_tokens={params.max_new_tokens}; raise max_new_tokens")
    for index, record in enumerate(made.records):
        record["source_index"] = index
    records = custom.tokenize_records(made.records, tokenizer, params, "synthetic record set")
    records.facts["tokenization_note"] = made.note
    return records


_register()


def load_records(params) -> list[dict[str, Any]]:
    """The stage's records: read from ``dataset_path(params)``, or built from the parameters."""
    workload = workload_for(params)
    if workload.load_params is not None:
        return workload.load_params(params)
    return workload.load(dataset_path(params))


def workload_for(params) -> Workload:
    return WORKLOADS.get(params.workload, "workload")


def dataset_path(params) -> Path:
    """The file a stage reads: the workload's embedded set, or the path given in ``dataset``."""
    workload = workload_for(params)
    if workload.name == "synthetic":
        return Path("synthetic")
    return workload.embedded_dataset if params.dataset == "embedded" else Path(params.dataset)


def check_tokenizer_available(params) -> None:
    """Before a run starts: a local model folder without a tokenizer fails now, in one line, when the stage needs one.

    hf and vllm load the folder's own tokenizer with real weights, and the openai backend tokenizes with
    the model's; otherwise (random weights, the simulator) a tokenizer is needed only to decode answers,
    to build chat prompts, or to find the EOS token, and the order of :func:`mlnb.models.tokenizer_at_hand.tokenizer_at_hand` applies.
    """
    from mlnb.models.embedded import is_prepared, resolve_model
    from mlnb.models.tokenizer_at_hand import TOKENIZER_FILES, folder_has_tokenizer

    if params.tokenizer:
        given = Path(params.tokenizer).expanduser()
        if params.tokenizer.startswith((".", "/", "~")) or given.exists():
            if not folder_has_tokenizer(given):
                raise InputError(f"tokenizer {params.tokenizer!r}", f"no tokenizer files ({', '.join(TOKENIZER_FILES)}) there")
    if params.model == "embedded":
        return
    folder = resolve_model(params.model, prepare=False)
    if not Path(folder).is_dir() or folder_has_tokenizer(folder):
        return  # a hub id brings its tokenizer
    where = f"model {params.model!r}"
    missing = f"the folder has no tokenizer ({', '.join(TOKENIZER_FILES)})"
    if params.backend in ("hf", "vllm") and params.load_format != "dummy":
        raise InputError(where, f"{missing}; {params.backend} loads it with real weights: copy the model's tokenizer files there")
    if params.backend == "openai":
        if not params.tokenizer:
            raise InputError(where, f"{missing}; the openai backend tokenizes prompts with it: copy the model's tokenizer files there")
        return
    needs = params.mode in ("accuracy", "test06") or workload_for(params).needs_tokenizer
    if needs and not params.tokenizer and not is_prepared():
        raise InputError(where, f"{missing}; stage {params.stage} needs one: set tokenizer=<folder or hub id>")
