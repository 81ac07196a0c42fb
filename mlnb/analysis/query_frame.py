"""A stage's per-query table: queries.jsonl as a DataFrame, with each query's latencies worked out.

Columns (those the stage recorded; absent fields are left out, a row lacking one holds NaN):

- ``stage``: the stage's name.
- ``sample_index``: the dataset sample LoadGen asked for; ``issue_seq``: the order the SUT received queries.
- ``prompt_tokens``, ``output_tokens``: token counts.
- ``issued_ms``, ``first_token_ms``, ``done_ms``: on the SUT's clock, when the query reached the SUT, when
  its first token came and when it finished (ms since the stage's clock origin). Network backends add
  ``sent_ms`` / ``request_sent_ms`` / ``first_chunk_ms``; LoadGen's trace adds ``scheduled_ms``,
  ``loadgen_issue_delay_ms`` and ``loadgen_latency_ms`` (LoadGen's own latency, from the scheduled time).
- ``error``, ``error_kind``: why a query failed (empty for one that did not).
- Derived, in ms, by the rules of summary.json's ``sut`` section (mlnb.results.query_latencies), so their
  percentiles, taken with :func:`mlnb.results.loadgen_percentile`, are the summary's figures:
  ``e2e_ms`` = done - issued; ``ttft_ms`` = first token - issued; ``tpot_ms`` = (done - first token) /
  (output_tokens - 1), for queries of two tokens or more. NaN where a query did not finish (or, for
  TTFT / TPOT, streamed no first token).
- ``loadgen_ttft_ms``: TTFT from LoadGen's scheduled time, estimated as loadgen_latency_ms less the SUT's
  first-token-to-done span (only where LoadGen's trace was read). LoadGen times the first token itself,
  so its percentiles come close to summary.json's ``metrics.ttft_ms`` without being equal to them.
- ``ok``: the query finished without an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlnb.analysis.source import StageRef, stage_dir_of, summary_of
from mlnb.query_table import column, load_query_table, text_column

_COUNT_COLUMNS = ("sample_index", "issue_seq", "prompt_tokens", "output_tokens")
_LEADING = ("stage", "sample_index", "ok", "ttft_ms", "tpot_ms", "e2e_ms", "prompt_tokens", "output_tokens", "error")


def queries(stage: StageRef) -> pd.DataFrame:
    """One row per query of ``stage`` (a stage folder, its summary.json, or a stage summary).

    Read with the project's one queries.jsonl reader (mlnb.query_table); empty (no rows) when the
    stage has no per-query file, e.g. an lm-eval stage.
    """
    folder = stage_dir_of(stage)
    table = load_query_table(folder) if folder is not None else pd.DataFrame()
    if isinstance(stage, (str, Path)):
        name = folder.name if folder is not None else None
    else:
        name = (summary_of(stage) or {}).get("stage")
    return with_latencies(table, name)


def with_latencies(table: pd.DataFrame, stage_name: str | None = None) -> pd.DataFrame:
    """``table`` (raw queries.jsonl rows) with the derived columns described in the module docstring."""
    frame = table.copy()
    n = len(frame)
    issued, first, done = column(frame, "issued_ms"), column(frame, "first_token_ms"), column(frame, "done_ms")
    tokens = np.nan_to_num(column(frame, "output_tokens"))
    finished = ~np.isnan(done)
    streamed = finished & ~np.isnan(first)
    decoding = streamed & (tokens > 1)
    e2e, ttft, tpot = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    e2e[finished] = done[finished] - issued[finished]
    ttft[streamed] = first[streamed] - issued[streamed]
    tpot[decoding] = (done[decoding] - first[decoding]) / (tokens[decoding] - 1)
    for name in _COUNT_COLUMNS:
        if name in frame.columns:
            values = column(frame, name)
            if np.all(np.isnan(values) | (values == np.round(values))):
                frame[name] = pd.array(np.where(np.isnan(values), None, values), dtype="Int64")
    frame.insert(0, "stage", pd.Series([stage_name] * n, dtype="string"))
    frame["e2e_ms"], frame["ttft_ms"], frame["tpot_ms"] = e2e, ttft, tpot
    if "loadgen_latency_ms" in frame.columns:
        frame["loadgen_ttft_ms"] = column(frame, "loadgen_latency_ms") - (done - first)
    failed = np.array([e is not None for e in text_column(frame, "error")], dtype=bool)
    frame["ok"] = finished & ~failed
    # What a person reads first leads; the raw timestamps follow.
    first = [c for c in _LEADING if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]
