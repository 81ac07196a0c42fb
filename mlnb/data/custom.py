"""The user's own prompts: JSONL, JSON, CSV, Parquet, ShareGPT or a Hugging Face dataset.

Each record holds ``prompt`` (text) or ``messages`` (a chat: a list of ``{"role", "content"}``), and
optionally a reference ``output``, a ``task_type`` (which scorer applies) and its own ``max_tokens``.
``dataset_columns`` maps these names to the user's columns. A ShareGPT record (``conversations`` of
``{"from", "value"}`` turns) becomes ``messages`` up to its last user turn, and the assistant's answer
after it becomes ``output``.

Prompts are tokenized at load with the model's tokenizer: ``messages`` (and every prompt when
``chat_template=true``) through its chat template with a generation prompt, plain ``prompt`` text
as it is. A record whose prompt plus output budget exceeds the model's context is refused with one
line, or dropped (``drop_too_long=true``) and counted. Record numbers are 0-based, as LoadGen's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mlnb.data.cnndm import PromptTokens, _json_type, _tokenizer_name
from mlnb.errors import InputError

FIELDS = ("prompt", "messages", "output", "task_type", "max_tokens")
SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
                  "system": "system"}
HF_PREFIX = "hf:"


class Records(list):
    """Records plus what happened at load: the tokenization note, how many were dropped, the context."""

    def __init__(self, items=(), facts: Optional[dict[str, Any]] = None):
        super().__init__(items)
        self.facts: dict[str, Any] = dict(facts or {})

    def __getitem__(self, key):  # a slice (``samples``) keeps the facts
        if isinstance(key, slice):
            return Records(super().__getitem__(key), self.facts)
        return super().__getitem__(key)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy values from pandas / pyarrow
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return None if _missing(value) else value


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------


def file_format(path: Path, given: Optional[str]) -> str:
    if given:
        return given
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(str(path), f"unknown suffix {path.suffix!r}; expected .jsonl, .json, .csv or .parquet "
                                    "(or set dataset_format)")
    return fmt


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(str(path), f"not UTF-8 text (byte {err.start}: {err.reason})") from None


def _read_jsonl(path: Path) -> list[Any]:
    records = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise InputError(f"{path} line {number}", f"not valid JSON ({err.msg}, column {err.colno}); "
                                                      "expected one JSON object per line") from None
    return records


def _read_json(path: Path) -> list[Any]:
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":  # one object per line in a .json file
            return _read_jsonl(path)
        raise InputError(str(path), f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InputError(str(path), f"top level is a JSON {_json_type(data)}; expected a list of records")
    return data


def _read_csv(path: Path) -> list[Any]:
    import pandas as pd

    _read_text(path)  # UTF-8 check with one clear line
    try:
        frame = pd.read_csv(path, dtype=object, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return []
    except (pd.errors.ParserError, ValueError) as err:
        raise InputError(str(path), f"not readable as CSV ({str(err).splitlines()[0]})") from None
    return [{k: (None if v == "" else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _read_parquet(path: Path) -> list[Any]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file is one line for the user
        raise InputError(str(path), f"not a readable Parquet file ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}


def read_hf_dataset(name: str, split: str, **kwargs: Any) -> list[Any]:
    """A Hugging Face dataset's split as plain records (``datasets.load_dataset(name, split=...)``)."""
    try:
        import datasets
    except ImportError:
        raise InputError(f"dataset {HF_PREFIX}{name}", "needs the `datasets` package (pip install 'mlnb[data]')") from None
    try:
        data = datasets.load_dataset(name, split=split, **kwargs)
    except Exception as err:  # noqa: BLE001 - network, unknown name, unknown split: one line
        raise InputError(f"dataset {HF_PREFIX}{name} split {split!r}",
                         f"could not be loaded ({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''})") from None
    return [{k: _plain(v) for k, v in row.items()} for row in data]


def read_records(dataset: str, fmt: Optional[str] = None, split: str = "train") -> tuple[str, list[Any]]:
    """(where, raw records) of a file path or ``hf:NAME``."""
    if dataset.startswith(HF_PREFIX):
        name = dataset[len(HF_PREFIX):]
        return dataset, read_hf_dataset(name, split)
    path = Path(dataset).expanduser()
    if not path.is_file():
        raise InputError(dataset, "is a folder" if path.is_dir() else "file not found")
    if path.stat().st_size == 0:
        raise InputError(dataset, "is empty; expected records with a prompt or messages")
    return dataset, READERS[file_format(path, fmt)](path)


# ---------------------------------------------------------------------------------------------
# Checking records
# ---------------------------------------------------------------------------------------------


def _sharegpt(at: str, column: str, turns: Any) -> tuple[list[dict[str, str]], Optional[str]]:
    """ShareGPT ``conversations`` -> (messages up to the last user turn, the answer after it)."""
    if not isinstance(turns, list) or not turns:
        raise InputError(f"{at} field '{column}'", f"is {_json_type(turns)}; expected a list of {{from, value}} turns")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, Mapping) or not isinstance(turn.get("value"), str) or turn.get("from") not in SHAREGPT_ROLES:
            raise InputError(f"{at} field '{column}' turn {i}",
                             f"expected {{\"from\": {'|'.join(SHAREGPT_ROLES)}, \"value\": text}}")
        messages.append({"role": SHAREGPT_ROLES[turn["from"]], "content": turn["value"]})
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last_user is None:
        raise InputError(f"{at} field '{column}'", "has no human turn to use as the prompt")
    after = messages[last_user + 1] if last_user + 1 < len(messages) else None
    return messages[: last_user + 1], (after["content"] if after and after["role"] == "assistant" else None)


def _check_messages(at: str, column: str, value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):  # CSV cells hold the chat as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InputError(f"{at} field '{column}'", "is text that is not JSON; expected a list of {role, content}") from None
    if not isinstance(value, list) or not value:
        raise InputError(f"{at} field '{column}'", f"is {_json_type(value)}; expected a non-empty list of {{role, content}}")
    for i, message in enumerate(value):
        if not isinstance(message, Mapping) or set(message) - {"role", "content", "name"} or \
                message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise InputError(f"{at} field '{column}' message {i}",
                             f"is {json.dumps(message)[:60]}; expected {{\"role\": {'|'.join(ROLES)}, \"content\": text}}")
    return [dict(m) for m in value]


def _check_max_tokens(at: str, column: str, value: Any) -> int:
    if isinstance(value, str):  # CSV cells are text; pandas writes a column with gaps as 6.0
        try:
            number = float(value)
            value = int(number) if number.is_integer() else value
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or value < 1:
        raise InputError(f"{at} field '{column}'", f"is {_json_type(value)} {value!r:.30}; expected a whole number >= 1")
    return value


def check_record(where: str, index: int, raw: Any, columns: Mapping[str, str]) -> dict[str, Any]:
    at = f"{where} record {index}"
    if not isinstance(raw, Mapping):
        raise InputError(at, f"is a JSON {_json_type(raw)}; expected an object")
    col = {name: columns.get(name, name) for name in FIELDS}
    record: dict[str, Any] = {"source_index": index}
    prompt, messages = raw.get(col["prompt"]), raw.get(col["messages"])
    if _missing(prompt) and _missing(messages) and "conversations" in raw and "conversations" not in columns.values():
        record["messages"], answer = _sharegpt(at, "conversations", raw["conversations"])
        if answer is not None:
            record["output"] = answer
    elif isinstance(messages, list) and messages and all(isinstance(m, Mapping) and "from" in m for m in messages):
        record["messages"], answer = _sharegpt(at, col["messages"], messages)  # ShareGPT turns under another name
        if answer is not None:
            record["output"] = answer
    elif not _missing(messages):
        record["messages"] = _check_messages(at, col["messages"], messages)
    elif not _missing(prompt):
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(f"{at} field '{col['prompt']}'", f"is {_json_type(prompt)} {prompt!r:.30}; expected the prompt text")
        record["prompt"] = prompt
    else:
        mapped = [f"{k}->{v}" for k, v in columns.items()]
        hint = f" (mapping {', '.join(mapped)})" if mapped else "; map yours with dataset_columns.prompt=COLUMN"
        raise InputError(f"{at} field '{col['prompt']}'",
                         f"missing, and no '{col['messages']}'; the record has {', '.join(map(str, raw)) or 'no fields'}{hint}")
    output = raw.get(col["output"])
    if not _missing(output):
        if not isinstance(output, (str, int, float)) or isinstance(output, bool):
            raise InputError(f"{at} field '{col['output']}'", f"is {_json_type(output)}; expected the reference text")
        record["output"] = str(output)
    task_type = raw.get(col["task_type"])
    if not _missing(task_type):
        if not isinstance(task_type, str):
            raise InputError(f"{at} field '{col['task_type']}'", f"is {_json_type(task_type)}; expected a name")
        record["task_type"] = task_type
    if not _missing(raw.get(col["max_tokens"])):
        record["max_tokens"] = _check_max_tokens(at, col["max_tokens"], raw[col["max_tokens"]])
    return record


def _check_mapped_columns(where: str, raws: Sequence[Any], columns: Mapping[str, str]) -> None:
    """A mapped column that no record has is a typo or a renamed column: say so before anything else."""
    for name, column in columns.items():
        if not any(isinstance(r, Mapping) and column in r for r in raws):
            first = raws[0] if raws and isinstance(raws[0], Mapping) else {}
            raise InputError(f"{where} field '{column}'", f"no record has this column (mapped from {name}); "
                                                          f"records have {', '.join(map(str, first)) or 'no fields'}")


def load_records(dataset: str, fmt: Optional[str] = None, split: str = "train",
                 columns: Optional[Mapping[str, str]] = None) -> list[dict[str, Any]]:
    """Checked records (``prompt`` or ``messages``, maybe ``output``, ``task_type``, ``max_tokens``)."""
    if dataset == "embedded":
        raise InputError("dataset", "the custom workload needs your file (dataset=PATH) or dataset=hf:NAME")
    columns = dict(columns or {})
    where, raws = read_records(dataset, fmt, split)
    if not raws:
        raise InputError(where, "holds no records; expected records with a prompt or messages")
    _check_mapped_columns(where, raws, columns)
    return [check_record(where, index, raw, columns) for index, raw in enumerate(raws)]


# ---------------------------------------------------------------------------------------------
# Tokenizing, the context check
# ---------------------------------------------------------------------------------------------


def model_context(params: Any, tokenizer: Any) -> tuple[Optional[int], str]:
    """The model's context length and where it came from: max_model_len, the model config, the tokenizer."""
    if getattr(params, "max_model_len", None):
        return int(params.max_model_len), "max_model_len"
    try:
        from transformers import AutoConfig

        from mlnb.models.embedded import resolve_model

        config = AutoConfig.from_pretrained(resolve_model(params.model, prepare=False))
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, name, None) or getattr(getattr(config, "text_config", None), name, None)
            if isinstance(value, int) and value > 0:
                return value, f"the model config's {name}"
    except Exception:  # noqa: BLE001 - no config at hand (a served model): the tokenizer's figure
        pass
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**7:
        return limit, "the tokenizer's model_max_length"
    return None, "unknown (no max_model_len, model config or tokenizer limit)"


def _chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, Mapping) or hasattr(ids, "input_ids"):  # transformers 5 may return a BatchEncoding
        ids = ids["input_ids"]
    return [int(t) for t in ids]


def tokenize_records(records: list[dict[str, Any]], tokenizer: Any, params: Any, where: str) -> Records:
    """Adds ``tok_input`` to each record; refuses or drops those longer than the context."""
    name = _tokenizer_name(tokenizer)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    use_template = bool(params.chat_template)
    needs_template = use_template or any("messages" in r for r in records)
    if needs_template and not has_template:
        what = "chat_template=true" if use_template else "records with messages"
        raise InputError(f"tokenizer {name}", f"has no chat template, which {what} need")
    context, context_source = model_context(params, tokenizer)
    kept, dropped = [], []
    for record in records:
        if "tok_input" not in record:
            if "messages" in record:
                record["tok_input"] = _chat_ids(tokenizer, record["messages"])
            elif use_template:
                record["tok_input"] = _chat_ids(tokenizer, [{"role": "user", "content": record["prompt"]}])
            else:
                record["tok_input"] = [int(t) for t in tokenizer.encode(record["prompt"])]
        budget = min(record.get("max_tokens") or params.max_new_tokens, params.max_new_tokens)
        length = len(record["tok_input"]) + budget
        if context is not None and length > context:
            if not params.drop_too_long:
                raise InputError(
                    f"{where} record {record['source_index']}",
                    f"{len(record['tok_input'])} prompt tokens + {budget} output tokens exceed the model's context of "
                    f"{context} ({context_source}); shorten it, raise max_model_len, or set drop_too_long=true",
                )
            dropped.append(record["source_index"])
            continue
        kept.append(record)
    if not kept:
        raise InputError(where, f"every record is longer than the model's context of {context} tokens")
    how_many = sum(1 for r in kept if "messages" in r or use_template)
    if use_template:
        how = f"every prompt through {name}'s chat template (chat_template=true)"
    elif how_many:
        how = f"{how_many} chat records through {name}'s chat template, {len(kept) - how_many} text prompts as plain text"
    else:
        how = f"text prompts tokenized by {name} as plain text (no chat template; chat_template=true adds it)"
    facts = {
        "tokenization_note": how,
        "context_tokens": context,
        "context_source": context_source,
        "dropped_too_long": len(dropped),
        "dropped_records": dropped[:20],
    }
    return Records(kept, facts)


def prompt_tokens(records: Sequence[Mapping[str, Any]], tokenizer: Any = None) -> PromptTokens:
    """The ids made at load (``tok_input``), with the note saying how."""
    note = getattr(records, "facts", {}).get("tokenization_note", "tok_input made at load")
    return PromptTokens([list(r["tok_input"]) for r in records], False, note)
