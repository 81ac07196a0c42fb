"""``summary.json``: one per stage, the file every report, rollup and comparison reads.

Schema version 1. Top-level keys (all present; ``null`` where not applicable):

- ``schema_version``, ``stage``, ``title``, ``status`` ("finished" | "failed")
- ``scenario``, ``mode``, ``model_key``, ``backend``, ``simulated``, ``model``
- ``dataset``: path, records_in_file, samples_used, retokenized, tokenization_note
- ``verdict``: "VALID" | "INVALID" (performance, LoadGen's result plus SUT errors) or
  "PASS" | "FAIL" (accuracy against the MLPerf targets; test06 against its three checks) or
  "SCORED" (custom/synthetic accuracy: no target, every sample answered without errors);
  ``verdict_reasons``: why, one line each
- ``submittable`` and ``relaxed_rules``: every MLPerf rule this run did not follow
- ``metrics``: samples_per_second, tokens_per_second, latency_ms / ttft_ms / tpot_ms
  (min, mean, max, percentiles as LoadGen printed them, in ms), query_count
- ``loadgen``: the parsed LoadGen log (validity flags, settings, errors, warnings)
- ``accuracy``: ROUGE scores, gen_len, gen_num, target checks (accuracy mode only)
- ``compliance``: TEST06's three checks (test06 mode only; absent in older files)
- ``lmeval``: an lm-eval stage's settings, lm-eval version, task configuration and the equivalent
  ``lm_eval`` command (mode "lmeval" only; its verdict is "ACCURACY ONLY", ``accuracy`` then holds
  overall, per-group and per-subject accuracy with standard errors, ``metrics`` the overall accuracy)
- ``sut``: per-query statistics from the SUT's own timestamps, and SUT error counts
- ``engine``, ``timings_s``, ``environment``, ``params``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict

from mlnb.fileio import read_json, write_json_atomic

SCHEMA_VERSION = 1
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


def save_summary(summary: StageSummary, stage_dir: Path) -> Path:
    return write_json_atomic(stage_dir / SUMMARY_FILE, summary.model_dump(mode="json"))


def load_summary(stage_dir: Path) -> StageSummary:
    return StageSummary.model_validate(read_json(stage_dir / SUMMARY_FILE))


def load_queries(stage_dir: Path) -> list[dict]:
    path = stage_dir / "queries.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def query_latencies(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per-query TTFT, TPOT and end-to-end latency in ms from the SUT's timestamps.

    TPOT follows LoadGen: (latency - TTFT) / (n_tokens - 1). Times start when the SUT received
    the query, not at LoadGen's scheduled time, so they can be slightly below LoadGen's numbers.
    """
    done = [r for r in rows if r.get("done_ms") is not None]
    e2e = np.array([r["done_ms"] - r["issued_ms"] for r in done], dtype=float)
    ttft = np.array(
        [r["first_token_ms"] - r["issued_ms"] for r in done if r.get("first_token_ms") is not None], dtype=float
    )
    tpot = np.array(
        [
            (r["done_ms"] - r["first_token_ms"]) / (r["output_tokens"] - 1)
            for r in done
            if r.get("first_token_ms") is not None and r["output_tokens"] > 1
        ],
        dtype=float,
    )
    return {
        "e2e_ms": e2e,
        "ttft_ms": ttft,
        "tpot_ms": tpot,
        "output_tokens": np.array([r["output_tokens"] for r in done], dtype=float),
        "prompt_tokens": np.array([r["prompt_tokens"] for r in done], dtype=float),
        "done_ms": np.array([r["done_ms"] for r in done], dtype=float),
    }


def describe(values: np.ndarray) -> dict[str, float] | None:
    if values.size == 0:
        return None
    return {
        "count": int(values.size),
        "mean": round(float(values.mean()), 3),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p90": round(float(np.percentile(values, 90)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "max": round(float(values.max()), 3),
    }
