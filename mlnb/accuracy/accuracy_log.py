"""Reading LoadGen's ``mlperf_log_accuracy.json``.

The file is a JSON array with one object per completed sample::

    {"seq_id": 0, "qsl_idx": 5, "data": "0A000000...", "token_count": 12}

``data`` is the response buffer the SUT handed LoadGen, written as upper-case hex; for the
Llama benchmarks it holds little-endian int32 token ids. ``token_data`` (the first-token
buffer) and ``token_count`` appear only when the run logged them. A performance-mode run writes
an empty array (``[\\n]\\n``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import numpy as np

from mlnb.errors import InputError

# Token ids are int32 little-endian whatever the reading machine's byte order.
_TOKEN_DTYPE = np.dtype("<i4")


@dataclass(frozen=True)
class AccuracyEntry:
    seq_id: int
    qsl_idx: int
    token_ids: np.ndarray  # int32, one per generated token
    token_count: Optional[int] = None
    first_token_ids: Optional[np.ndarray] = None  # from ``token_data`` when logged


def decode_token_hex(hex_text: str) -> np.ndarray:
    """Hex string of little-endian int32 values -> int32 array (``ValueError`` if malformed)."""
    raw = bytes.fromhex(hex_text)
    if len(raw) % _TOKEN_DTYPE.itemsize:
        raise ValueError(f"{len(raw)} bytes is not a whole number of int32 token ids")
    return np.frombuffer(raw, dtype=_TOKEN_DTYPE).astype(np.int32, copy=False)


def read_accuracy_log(path: str | os.PathLike) -> list[AccuracyEntry]:
    """Every entry of an accuracy log, in file order (duplicates kept: see ``dedupe_by_qsl_idx``)."""
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            records = json.load(handle)
    except FileNotFoundError:
        raise InputError(where, "accuracy log not found (was the stage run in accuracy mode?)") from None
    except json.JSONDecodeError as err:
        raise InputError(where, f"not valid JSON ({err}); was the LoadGen run cut short?") from None
    if not isinstance(records, list):
        raise InputError(where, f"expected a JSON array of samples, found {type(records).__name__}")
    return [_parse_entry(where, index, record) for index, record in enumerate(records)]


def _parse_entry(where: str, index: int, record: Any) -> AccuracyEntry:
    at = f"{where}: entry {index}"
    if not isinstance(record, dict):
        raise InputError(at, f"expected an object, found {type(record).__name__}")
    for key in ("seq_id", "qsl_idx"):
        if not _is_int(record.get(key)):
            raise InputError(at, f"'{key}' must be an integer, found {record.get(key)!r}")
    token_ids = _hex_field(at, record, "data")
    if token_ids is None:
        raise InputError(at, "has no 'data' field")
    token_count = record.get("token_count")
    if token_count is not None and not _is_int(token_count):
        raise InputError(at, f"'token_count' must be an integer, found {token_count!r}")
    return AccuracyEntry(
        seq_id=record["seq_id"],
        qsl_idx=record["qsl_idx"],
        token_ids=token_ids,
        token_count=token_count,
        first_token_ids=_hex_field(at, record, "token_data"),
    )


def _hex_field(at: str, record: dict, key: str) -> Optional[np.ndarray]:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(at, f"'{key}' must be a hex string, found {type(value).__name__}")
    try:
        return decode_token_hex(value)
    except ValueError as err:
        raise InputError(at, f"'{key}' is not hex of int32 token ids: {err}") from None


def _is_int(value: Any) -> bool:
    # bool is an int subclass; a JSON true is never a valid index.
    return isinstance(value, int) and not isinstance(value, bool)


def dedupe_by_qsl_idx(entries: Iterable[AccuracyEntry]) -> list[AccuracyEntry]:
    """Keep the first entry for each ``qsl_idx``, as MLPerf's evaluation does.

    LoadGen logs a sample again each time it is re-issued (e.g. an accuracy run with repeats).
    """
    seen: set[int] = set()
    kept: list[AccuracyEntry] = []
    for entry in entries:
        if entry.qsl_idx not in seen:
            seen.add(entry.qsl_idx)
            kept.append(entry)
    return kept
