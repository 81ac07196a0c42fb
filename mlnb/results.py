"""``summary.json``: one per stage, the file every report, rollup and comparison reads.

Schema version 2 (2 added ``telemetry``; version 1 files load with it null). Top-level keys (all present; ``null`` where not applicable):

- ``schema_version``, ``stage``, ``title``, ``status`` ("finished" | "failed")
- ``scenario``, ``mode``, ``model_key``, ``backend``, ``simulated``, ``model``
- ``dataset``: path, records_in_file, samples_used, retokenized, tokenization_note
- ``verdict``: "VALID" | "INVALID" (performance, LoadGen's result plus SUT errors) or
  "PASS" | "FAIL" (accuracy against the MLPerf targets; test06 against its three checks) or
  "SCORED" (custom/synthetic accuracy: no target, every sample answered without errors);
  ``verdict_reasons``: why, one line each
- ``submittable`` and ``relaxed_rules``: every MLPerf rule this run did not follow
- ``metrics``: samples_per_second, tokens_per_second, latency_ms / ttft_ms / tpot_ms
  (min, mean, max, percentiles as LoadGen printed them, in ms), query_count, samples_per_query
  (LoadGen's generated count: Offline's one query holds every sample; absent in older files)
- ``loadgen``: the parsed LoadGen log (validity flags, settings, errors, warnings)
- ``accuracy``: ROUGE scores, gen_len, gen_num, target checks (accuracy mode only)
- ``compliance``: TEST06's three checks (test06 mode only; absent in older files)
- ``lmeval``: an lm-eval stage's settings, lm-eval version, task configuration and the equivalent
  ``lm_eval`` command (mode "lmeval" only; its verdict is "ACCURACY ONLY", ``accuracy`` then holds
  overall, per-group and per-subject accuracy with standard errors, ``metrics`` the overall accuracy)
- ``sut``: per-query statistics from the SUT's own timestamps, and SUT error counts
- ``engine``, ``timings_s``, ``environment``, ``params``
- ``telemetry``: samples during the LoadGen test (mlnb/telemetry): means and peaks of host, GPU and
  server series, the servers' counters and histograms, energy figures or why they are not available,
  and the hardware state at the start; ``{"enabled": false}`` when the stage turned it off
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict

from mlnb.fileio import read_json, write_json_atomic

SCHEMA_VERSION = 2
# Versions this mlnb still reads: a version-1 summary simply has no telemetry.
READABLE_SCHEMA_VERSIONS = (1, 2)
SUMMARY_FILE = "summary.json"


class StageSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    stage: str
    title: str
    status: Literal["finished", "failed"]
    scenario: str
    mode: str
    model_key: str
    backend: str
    simulated: bool
    model: str
    dataset: dict[str, Any]
    verdict: str
    verdict_reasons: list[str]
    submittable: bool
    relaxed_rules: list[str]
    metrics: dict[str, Any]
    loadgen: dict[str, Any]
    accuracy: Optional[dict[str, Any]]
    compliance: Optional[dict[str, Any]] = None
    lmeval: Optional[dict[str, Any]] = None
    sut: dict[str, Any]
    engine: dict[str, Any]
    timings_s: dict[str, float]
    environment: dict[str, Any]
    params: dict[str, Any]
    telemetry: Optional[dict[str, Any]] = None


def save_summary(summary: StageSummary, stage_dir: Path) -> Path:
    return write_json_atomic(stage_dir / SUMMARY_FILE, summary.model_dump(mode="json"))


def load_summary(stage_dir: Path) -> StageSummary:
    return StageSummary.model_validate(read_json(stage_dir / SUMMARY_FILE))


def load_queries(stage_dir: Path) -> list[dict]:
    path = stage_dir / "queries.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def query_latencies(rows) -> dict[str, np.ndarray]:
    """Per-query TTFT, TPOT and end-to-end latency in ms from the SUT's timestamps.

    TPOT follows LoadGen: (latency - TTFT) / (n_tokens - 1). Times start when the SUT received
    the query, not at LoadGen's scheduled time, so they can be slightly below LoadGen's numbers.
    ``rows``: a query table (mlnb.query_table) or query dicts.
    """
    from mlnb.query_table import as_table, column

    table = as_table(rows)
    done_ms = column(table, "done_ms")
    done = ~np.isnan(done_ms)
    issued, first = column(table, "issued_ms")[done], column(table, "first_token_ms")[done]
    out_tokens, done_ms = np.nan_to_num(column(table, "output_tokens")[done]), done_ms[done]
    has_first = ~np.isnan(first)
    decoding = has_first & (out_tokens > 1)
    return {
        "e2e_ms": done_ms - issued,
        "ttft_ms": first[has_first] - issued[has_first],
        "tpot_ms": (done_ms[decoding] - first[decoding]) / (out_tokens[decoding] - 1),
        "output_tokens": out_tokens,
        "prompt_tokens": column(table, "prompt_tokens")[done],
        "done_ms": done_ms,
    }


def loadgen_percentile(ordered: np.ndarray, p: float) -> float:
    """The p-th percentile as LoadGen defines it, an order statistic: the sorted values' element at
    index floor(p / 100 x n). Every percentile mlnb shows uses it, so the SUT's own figures, LoadGen's
    and the charts' markers agree in definition (numpy's default interpolates between neighbours)."""
    n = ordered.size
    return float(ordered[min(int(np.floor(p / 100.0 * n + 1e-9)), n - 1)])


def describe(values: np.ndarray) -> dict[str, float] | None:
    if values.size == 0:
        return None
    ordered = np.sort(np.asarray(values, dtype=float))
    return {
        "count": int(values.size),
        "mean": round(float(ordered.mean()), 3),
        "p50": round(loadgen_percentile(ordered, 50), 3),
        "p90": round(loadgen_percentile(ordered, 90), 3),
        "p99": round(loadgen_percentile(ordered, 99), 3),
        "max": round(float(ordered[-1]), 3),
    }
