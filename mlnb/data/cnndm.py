"""CNN/DailyMail in the schema of MLPerf Inference's Llama-3.1-8B benchmark.

The official ``cnn_eval.json`` is a JSON list of records, each holding
``instruction`` ({"llama": template}), ``input`` (the article), ``tok_input``
(``tokenizer.encode`` of the filled template, no chat template) and ``output``
(the reference highlights). The benchmark reads only ``input``, ``tok_input``
and ``output``, so those are the fields we insist on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlnb.data.token_ids import check_token_ids
from mlnb.errors import InputError
from mlnb.fileio import write_text_atomic

# Exact text of MLPerf's template; any change alters tok_input and the scores.
PROMPT_TEMPLATE = (
    "Summarize the following news article in 128 tokens. "
    "Please output the summary only, without any other text.\n\nArticle:\n{input}\n\nSummary:"
)

REQUIRED_FIELDS = ("input", "tok_input", "output")

# The small synthetic set that ships with the package (see embedded/README.md).
EMBEDDED_DATASET = Path(__file__).resolve().parent / "embedded" / "cnn_eval.json"

HF_DATASET = "cnn_dailymail"
HF_CONFIG = "3.0.0"


def build_prompt(article: str) -> str:
    """The MLPerf prompt for one article (plain text; no chat template)."""
    # str.replace rather than str.format: articles may contain braces.
    return PROMPT_TEMPLATE.replace("{input}", article)


def _encode(tokenizer: Any, text: str) -> list[int]:
    # download_cnndm.py calls tokenizer.encode(prompt) with default special tokens;
    # every path here goes through this one call so the ids always agree.
    return list(tokenizer.encode(text))


def _tokenizer_name(tokenizer: Any) -> str:
    """The hub id, or a local folder's last part: summaries are shared, the machine's paths are not."""
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
    return f"{Path(name).name} (local folder)" if Path(name).is_dir() else name


def _json_type(value: Any) -> str:
    """JSON's own name for a parsed value's type, for messages a user can match to the file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(type(value), type(value).__name__)


def load_cnndm(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Load an MLPerf-schema CNN/DailyMail file (official or embedded), unchanged.

    Record numbers in error messages are 0-based, like LoadGen sample indices.
    """
    where = str(path)
    p = Path(path)
    if not p.is_file():
        problem = "is a folder" if p.is_dir() else "file not found"
        expected = "expected MLPerf's CNN/DailyMail JSON (a list of records, like cnn_eval.json)"
        raise InputError(where, f"{problem}; {expected}")
    try:
        with open(p, encoding="utf-8") as handle:
            data = json.load(handle)
    except UnicodeDecodeError as exc:
        raise InputError(where, f"not UTF-8 text ({exc.reason}); expected a JSON list of records") from None
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise InputError(where, f"not valid JSON ({at}); expected a JSON list of records") from None
    if not isinstance(data, list):
        raise InputError(where, f"top level is a JSON {_json_type(data)}; expected a list of records")
    if not data:
        raise InputError(where, "holds no records; expected a non-empty list of records")
    for index, record in enumerate(data):
        _check_record(where, index, record)
    return data


def _check_record(where: str, index: int, record: Any) -> None:
    at = f"{where} record {index}"
    if not isinstance(record, dict):
        raise InputError(at, f"is a JSON {_json_type(record)}; expected an object with {', '.join(REQUIRED_FIELDS)}")
    for field in REQUIRED_FIELDS:
        if field not in record:
            raise InputError(f"{at} field '{field}'", f"missing; each record needs {', '.join(REQUIRED_FIELDS)}")
    for field in ("input", "output"):
        if not isinstance(record[field], str):
            raise InputError(f"{at} field '{field}'", f"is a JSON {_json_type(record[field])}; expected a string")
    tok = record["tok_input"]
    # bool is a subclass of int in Python, so test the exact type.
    if not isinstance(tok, list) or not tok or not all(type(t) is int for t in tok):
        raise InputError(f"{at} field 'tok_input'", "expected a non-empty list of integer token ids")
    if tok is not None:
        check_token_ids(f"{at} field 'tok_input'", tok)


def tokenizer_reproduces(records: Sequence[Mapping[str, Any]], tokenizer: Any, probe: int = 4) -> bool:
    """True when ``tokenizer`` turns the first ``probe`` prompts into their ``tok_input``."""
    for record in records[:probe]:
        if _encode(tokenizer, build_prompt(record["input"])) != list(record["tok_input"]):
            return False
    return True


@dataclass
class PromptTokens:
    token_ids: list[list[int]]
    retokenized: bool
    note: str


def prompt_token_ids(records: Sequence[Mapping[str, Any]], tokenizer: Any = None) -> PromptTokens:
    """Token ids to send to the model: ``tok_input`` when it fits ``tokenizer``, else fresh ids.

    The official ``tok_input`` comes from Llama-3.1's tokenizer; a different model
    needs its own ids for the same prompt text, so we re-tokenize with MLPerf's
    template rather than silently feeding it foreign ids.
    """
    if tokenizer is None:
        note = "tok_input used as given (no tokenizer to check it against)"
        return PromptTokens([list(r["tok_input"]) for r in records], False, note)
    name = _tokenizer_name(tokenizer)
    if tokenizer_reproduces(records, tokenizer):
        return PromptTokens([list(r["tok_input"]) for r in records], False, f"tok_input matches {name}; used as given")
    ids = [_encode(tokenizer, build_prompt(r["input"])) for r in records]
    note = (
        f"tok_input was made by another tokenizer; prompts re-tokenized with {name} "
        "using MLPerf's template, no chat template"
    )
    return PromptTokens(ids, True, note)


def records_from_articles(articles: Iterable[Mapping[str, Any]], tokenizer: Any) -> list[dict[str, Any]]:
    """Turn ``{"article", "highlights"}`` mappings into MLPerf records (the shape fetch writes)."""
    records: list[dict[str, Any]] = []
    for index, item in enumerate(articles):
        for field in ("article", "highlights"):
            if field not in item:
                problem = f"missing '{field}'; expected CNN/DailyMail fields article and highlights"
                raise InputError(f"article {index}", problem)
        article = item["article"]
        # Key order follows the official file.
        records.append(
            {
                "instruction": {"llama": PROMPT_TEMPLATE},
                "input": article,
                "tok_input": _encode(tokenizer, build_prompt(article)),
                "output": item["highlights"],
            }
        )
    return records


def dumps_records(records: Sequence[Mapping[str, Any]]) -> str:
    """JSON text for a record list: one field per line, each ``tok_input`` on a single line.

    Same data as ``json.dumps(records)``; indenting every token id on its own line
    (as ``write_json_atomic`` would) roughly doubles a 13k-record file and makes
    it unreadable.
    """
    parts = []
    for record in records:
        fields = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in record.items())
        parts.append("  {\n" + fields + "\n  }")
    return "[\n" + ",\n".join(parts) + "\n]\n"


def _is_network_error(exc: BaseException) -> bool:
    # The hub client wraps socket errors in its own types; walk the cause chain
    # and match by name so we need not import requests/httpx/huggingface_hub here.
    markers = ("Connection", "Timeout", "Offline", "LocalEntryNotFound", "NameResolution", "ProxyError", "SSLError")
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ConnectionError, TimeoutError)):
            return True
        if any(m in type(seen).__name__ for m in markers):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _load_tokenizer(name_or_path: str, token: str | None) -> Any:
    from transformers import AutoTokenizer  # heavy import, only when fetching

    return AutoTokenizer.from_pretrained(name_or_path, token=token)


def fetch_cnndm(
    out_path: str | os.PathLike,
    tokenizer_name_or_path: str,
    *,
    split: str = "validation",
    limit: int | None = None,
    token: str | None = None,
) -> Path:
    """Download HF ``cnn_dailymail`` 3.0.0 and write it in MLPerf's schema to ``out_path``.

    ``limit`` keeps the first N articles of the split (not MLPerf's random sample).
    """
    source = f"huggingface {HF_DATASET} {HF_CONFIG} ({split})"
    try:
        import datasets  # optional dependency: only fetch needs it
    except ImportError:
        raise InputError(source, "the 'datasets' package is not installed; run: pip install datasets") from None
    try:
        rows = datasets.load_dataset(HF_DATASET, HF_CONFIG, split=split, token=token)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line for the user
        if _is_network_error(exc):
            problem = f"the Hugging Face hub could not be reached ({_first_line(exc)})"
            raise InputError(source, f"{problem}; check the network or copy cnn_eval.json by hand") from None
        raise InputError(source, f"could not be loaded ({_first_line(exc)})") from None
    try:
        tokenizer = _load_tokenizer(tokenizer_name_or_path, token)
    except Exception as exc:  # noqa: BLE001
        reason = "the Hugging Face hub could not be reached" if _is_network_error(exc) else "could not be loaded"
        raise InputError(f"tokenizer {tokenizer_name_or_path}", f"{reason} ({_first_line(exc)})") from None
    if limit is not None:
        rows = [rows[i] for i in range(min(limit, len(rows)))]
    records = records_from_articles(rows, tokenizer)
    return write_text_atomic(out_path, dumps_records(records))
