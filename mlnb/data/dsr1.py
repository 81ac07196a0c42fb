"""MLPerf's DeepSeek-R1 dataset: the pickled DataFrame, or the same records as JSON.

The official file (``mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl``) is a pickled pandas
DataFrame. mlnb reads the columns MLPerf's evaluator reads: ``text_input`` (the prompt text),
``ground_truth`` (or ``gt_output``), ``dataset`` (which scorer applies, matched by substring as
MLPerf does), ``question`` (or ``input``, shown in reports), and ``tok_input`` when present. Code
problems may carry a ``tests`` column (a list of ``{"input", "output"}`` stdin/stdout cases).
A JSON file holds the same records as a list of objects.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from mlnb.data.cnndm import PromptTokens, _json_type
from mlnb.data.token_ids import check_token_ids
from mlnb.errors import InputError

REQUIRED_COLUMNS = ("text_input", "dataset")
GROUND_TRUTH_COLUMNS = ("ground_truth", "gt_output")
QUESTION_COLUMNS = ("question", "input")
OPTIONAL_COLUMNS = ("tok_input", "tests")

# MLPerf's evaluator picks a scorer by the first key that is a substring of the lower-cased
# dataset name, in this order. A name with none of them stops its evaluation ("No evaluator found");
# that includes plain "mmlu", which it does not score as MMLU-Pro.
DATASET_KINDS: tuple[tuple[str, str], ...] = (
    ("gpqa", "gpqa"),
    ("mmlu_pro", "mmlu_pro"),
    ("math500", "math500"),
    ("aime", "aime"),
    ("livecodebench", "livecodebench"),
)
KINDS = ("aime", "math500", "gpqa", "mmlu_pro", "livecodebench")

EMBEDDED_DATASET = Path(__file__).resolve().parent / "embedded_dsr1" / "deepseek_r1_eval.json"
OFFICIAL_NAMES = ("mlperf_deepseek_r1_dataset_4388_fp8_eval.pkl",)
OFFICIAL_SIZE = 4388


def kind_of(dataset_name: object) -> Optional[str]:
    """The scorer kind for a ``dataset`` value, or None when MLPerf has no scorer for it."""
    name = str(dataset_name).lower()
    return next((kind for key, kind in DATASET_KINDS if key in name), None)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _read_pickle(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        frame = pd.read_pickle(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable pickle is one line for the user
        raise InputError(str(path), f"not a readable pickle ({type(exc).__name__}); expected MLPerf's DeepSeek-R1 DataFrame") from None
    if not isinstance(frame, pd.DataFrame):
        raise InputError(str(path), f"holds a {type(frame).__name__}; expected a pandas DataFrame")
    columns = [str(c) for c in frame.columns]
    for column in REQUIRED_COLUMNS:
        if column not in columns:
            raise InputError(f"{path} column '{column}'", f"missing; the DataFrame has {', '.join(columns) or 'no columns'}")
    if not any(c in columns for c in GROUND_TRUTH_COLUMNS):
        raise InputError(f"{path} column 'ground_truth'", f"missing (nor 'gt_output'); the DataFrame has {', '.join(columns)}")
    keep = [c for c in (*REQUIRED_COLUMNS, *GROUND_TRUTH_COLUMNS, *QUESTION_COLUMNS, *OPTIONAL_COLUMNS) if c in columns]
    return [{k: _plain(v) for k, v in row.items()} for row in frame[keep].to_dict(orient="records")]


def _plain(value: Any) -> Any:
    """Plain Python values, so records serialize as JSON: numpy arrays and scalars converted, NaN as None."""
    if hasattr(value, "tolist"):  # numpy array or scalar
        value = value.tolist()
    return None if _missing(value) else value


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason}); expected a JSON list of records") from None
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise InputError(str(path), f"not valid JSON ({at}); expected a JSON list of records") from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise InputError(str(path), f"top level is a JSON {_json_type(data)}; expected a list of records")
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise InputError(f"{path} record {index}", f"is a JSON {_json_type(record)}; expected an object")
    return data


def load_dsr1(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a DeepSeek-R1 dataset file (``.pkl``/``.pickle`` or JSON), checked field by field.

    Each record gets ``kind`` (the scorer) and ``ground_truth`` (from ``gt_output`` if needed).
    Record numbers are 0-based, like LoadGen sample indices.
    """
    where = str(path)
    p = Path(path)
    if not p.is_file():
        problem = "is a folder" if p.is_dir() else "file not found"
        raise InputError(where, f"{problem}; expected MLPerf's DeepSeek-R1 pickle or the same records as JSON")
    records = _read_pickle(p) if p.suffix.lower() in (".pkl", ".pickle") else _read_json(p)
    if not records:
        raise InputError(where, "holds no records; expected a non-empty dataset")
    return [_check_record(where, index, record) for index, record in enumerate(records)]


def _check_record(where: str, index: int, record: Mapping[str, Any]) -> dict[str, Any]:
    at = f"{where} record {index}"
    for field in REQUIRED_COLUMNS:
        if field not in record or _missing(record[field]):
            raise InputError(f"{at} field '{field}'", f"missing; each record needs {', '.join(REQUIRED_COLUMNS)} and ground_truth")
    if not isinstance(record["text_input"], str) or not record["text_input"].strip():
        raise InputError(f"{at} field 'text_input'", f"is {_json_type(record['text_input'])} {record['text_input']!r:.40}; expected the prompt text")
    truth_field = next((f for f in GROUND_TRUTH_COLUMNS if f in record and not _missing(record[f])), None)
    if truth_field is None:
        raise InputError(f"{at} field 'ground_truth'", "missing (nor 'gt_output'); each record needs its reference answer")
    kind = kind_of(record["dataset"])
    if kind is None:
        known = ", ".join(key for key, _ in DATASET_KINDS)
        problem = f"unknown dataset kind {record['dataset']!r}; expected a name containing one of {known}"
        if "mmlu" in str(record["dataset"]).lower():
            problem += " (MLPerf's evaluator has no scorer for a name with 'mmlu' but not 'mmlu_pro'; name MMLU-Pro records 'mmlu_pro')"
        raise InputError(f"{at} field 'dataset'", problem)
    tok = record.get("tok_input")
    if tok is not None and not (isinstance(tok, list) and tok and all(type(t) is int for t in tok)):
        raise InputError(f"{at} field 'tok_input'", "expected a non-empty list of integer token ids")
    if tok is not None:
        check_token_ids(f"{at} field 'tok_input'", tok)
    out = dict(record)
    out["ground_truth"] = record[truth_field]
    out["kind"] = kind
    if _missing(out.get("question")):
        out["question"] = record.get("input") if not _missing(record.get("input")) else record["text_input"]
    return out


def is_official(path: Path, size: int) -> bool:
    return path.name in OFFICIAL_NAMES and size == OFFICIAL_SIZE


# ----------------------------------------------------------------------------------------------
# Prompts: the model's chat template over text_input (the reasoning model's own template)
# ----------------------------------------------------------------------------------------------


def chat_prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """``apply_chat_template`` with a generation prompt, as MLPerf's PyTorch backend does."""
    messages = [{"role": "user", "content": text}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, Mapping) or hasattr(ids, "input_ids"):  # transformers 5 may return a BatchEncoding
        ids = ids["input_ids"]
    return [int(t) for t in ids]


def prompt_token_ids(records: Sequence[Mapping[str, Any]], tokenizer: Any = None) -> PromptTokens:
    """Token ids for each record: ``tok_input`` when it matches the tokenizer, else the chat template.

    ``tok_input`` in MLPerf's pickle was made with DeepSeek-R1's tokenizer and chat template; a
    different model (a distill, the embedded model) needs its own ids for the same text.
    """
    have_tok = all(isinstance(r.get("tok_input"), list) for r in records)
    if tokenizer is None:
        if not have_tok:
            raise InputError("dataset", "records have no tok_input and the backend has no tokenizer to build prompts")
        return PromptTokens([list(r["tok_input"]) for r in records], False, "tok_input used as given (no tokenizer to check it against)")
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    encode = (lambda text: chat_prompt_ids(tokenizer, text)) if has_template else (lambda text: list(tokenizer.encode(text)))
    how = "with its chat template" if has_template else "without a chat template (the tokenizer has none)"
    if have_tok and all(encode(r["text_input"]) == list(r["tok_input"]) for r in records[:4]):
        return PromptTokens([list(r["tok_input"]) for r in records], False, f"tok_input matches {name} {how}; used as given")
    ids = [encode(r["text_input"]) for r in records]
    note = f"text_input tokenized by {name} {how}"
    if have_tok:
        note = "tok_input was made by another tokenizer; " + note
    return PromptTokens(ids, have_tok, note)
