"""queries.jsonl as a table: one column per field, read in one pass by a C parser.

A stage can hold a million queries; the reports, the stage summary and the comparisons read them
as columns (numpy arrays, NaN where a row lacks the field), never as a list of dicts, so every
computation over them is vectorised. Rows given as dicts (tests, notebooks) become the same table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import numpy as np
import pandas as pd

QUERIES_FILE = "queries.jsonl"

# Fields whose type is known up front, so that a block of rows where one is always null does not
# make the parser guess another type for it than the next block has.
NUMERIC_FIELDS = (
    "sample_index", "prompt_tokens", "issued_ms", "issue_seq", "first_token_ms", "done_ms", "output_tokens",
    "sent_ms", "request_sent_ms", "first_chunk_ms", "scheduled_ms", "loadgen_issue_delay_ms", "loadgen_latency_ms",
    "replica",
)
TEXT_FIELDS = ("error", "error_kind", "token_source", "server")

Rows = Union[pd.DataFrame, Iterable[Mapping[str, Any]], None]


def _read_arrow(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.json as paj

    schema = pa.schema([(name, pa.float64()) for name in NUMERIC_FIELDS] + [(name, pa.string()) for name in TEXT_FIELDS])
    table = paj.read_json(
        path,
        read_options=paj.ReadOptions(block_size=16 << 20),
        parse_options=paj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
    )
    frame = table.to_pandas()
    # A field of the schema that no row holds is left out, as the rows left it out.
    known = set(NUMERIC_FIELDS) | set(TEXT_FIELDS)
    return frame.drop(columns=[c for c in frame.columns if c in known and frame[c].isna().all()])


def load_query_table(stage_dir: Path) -> pd.DataFrame:
    """The stage's queries.jsonl as a DataFrame (empty when the file is absent)."""
    path = Path(stage_dir) / QUERIES_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return _read_arrow(path)
    except Exception:  # rows the typed reader cannot take (a field of two types): the slow, general path
        with open(path, encoding="utf-8") as handle:
            return pd.DataFrame.from_records([json.loads(line) for line in handle if line.strip()])


def as_table(rows: Rows) -> pd.DataFrame:
    """A DataFrame of query rows, from a DataFrame (returned as is) or from dicts."""
    if rows is None:
        return pd.DataFrame()
    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame.from_records([r for r in rows if isinstance(r, Mapping)])


def column(table: pd.DataFrame, name: str) -> np.ndarray:
    """Field ``name`` as float64, NaN where a row lacks it or holds no finite number (booleans included)."""
    if name not in table.columns:
        return np.full(len(table), np.nan)
    series = table[name]
    if series.dtype == bool or series.dtype == object:
        series = series.map(lambda v: np.nan if isinstance(v, bool) else v)
    values = np.array(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan), dtype=float)
    values[~np.isfinite(values)] = np.nan
    return values


def text_column(table: pd.DataFrame, name: str) -> np.ndarray:
    """Field ``name`` as an object array, None where a row lacks it or holds a falsy value."""
    if name not in table.columns:
        return np.full(len(table), None, dtype=object)
    values = table[name].to_numpy(dtype=object)
    return np.where(pd.isna(values) | (values == "") | (values == False), None, values)  # noqa: E712


def count_true(table: pd.DataFrame, name: str) -> int:
    """Rows whose field ``name`` is truthy."""
    if name not in table.columns:
        return 0
    return int(table[name].map(bool, na_action="ignore").fillna(False).astype(bool).sum())


def counts(values: np.ndarray) -> dict[str, int]:
    """How often each value occurs, most frequent first."""
    return {str(k): int(v) for k, v in pd.Series(values, dtype=object).value_counts().items()}
