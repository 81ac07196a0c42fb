"""A run's stages as a DataFrame, and one stage's key metrics, both read from the summary.json files.

:func:`stages` columns, one row per stage the run planned or holds (failed and not-run stages too):

- ``run_id``, ``stage``, ``title``, ``status`` (finished, failed, not run, ...), ``verdict``
  (VALID / INVALID / PASS / FAIL / ...), ``verdict_reasons`` (joined with "; "), ``scenario``, ``mode``,
  ``model_key``, ``model``, ``backend``, ``simulated``, ``submittable``, ``error`` (a failed stage's
  exception line).
- LoadGen's figures: ``samples_per_second``, ``tokens_per_second``, ``query_count``,
  ``ttft_p50_ms`` / ``ttft_p90_ms`` / ``ttft_p99_ms``, the same for ``tpot_`` and ``latency_`` (end to end).
- The SUT's own timestamps (summary.json ``sut``): ``sut_ttft_p99_ms``, ``sut_tpot_p99_ms``,
  ``sut_e2e_p99_ms``, ``sut_errors``.
- Accuracy: ``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum``, ``exact_match``, ``lmeval_accuracy``,
  ``lmeval_accuracy_stderr`` (NaN where the stage has none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from mlnb.analysis.source import StageRef, summary_of
from mlnb.errors import InputError
from mlnb.report.plots import key_metrics as summary_key_metrics
from mlnb.report.plots import latency_limits, stat_percentile

_TEXT = ("run_id", "stage", "title", "status", "verdict", "verdict_reasons", "scenario", "mode", "model_key", "model",
         "backend", "error")


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if np.isfinite(number) and not isinstance(value, bool) else np.nan


def _sut_p99(summary: Mapping[str, Any], key: str) -> float:
    stats = (summary.get("sut") or {}).get(key)
    return _number(stats.get("p99")) if isinstance(stats, Mapping) else np.nan


def stage_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`stages` row of one summary.json dict (the stage's own columns, without run_id)."""
    return {
        "stage": summary.get("stage"),
        "title": summary.get("title"),
        "status": summary.get("status"),
        "verdict": summary.get("verdict"),
        "verdict_reasons": "; ".join(str(r) for r in summary.get("verdict_reasons") or []),
        "scenario": summary.get("scenario"),
        "mode": summary.get("mode"),
        "model_key": summary.get("model_key"),
        "model": summary.get("model"),
        "backend": summary.get("backend"),
        "simulated": summary.get("simulated"),
        "submittable": summary.get("submittable"),
        "error": None,
        **{k: (np.nan if v is None else float(v)) for k, v in summary_key_metrics(summary).items()},
        "sut_ttft_p99_ms": _sut_p99(summary, "ttft_ms"),
        "sut_tpot_p99_ms": _sut_p99(summary, "tpot_ms"),
        "sut_e2e_p99_ms": _sut_p99(summary, "e2e_ms"),
        "sut_errors": _number((summary.get("sut") or {}).get("errors")),
    }


def stages(run_dir: str | Path) -> pd.DataFrame:
    """One row per stage of the run in ``run_dir`` (columns in the module docstring), in the run's order."""
    from mlnb.paths import check_run_dir
    from mlnb.report.run_index import collect_run

    run_dir = Path(run_dir)
    check_run_dir(run_dir, argument="run")
    rollup, summaries = collect_run(run_dir)
    by_stage = {s.get("stage"): s for s in summaries}
    rows = []
    for record in rollup["stages"]:
        summary = by_stage.get(record["stage"])
        row = stage_row(summary) if summary is not None else stage_row({"stage": record["stage"], "title": record.get("title")})
        row["status"] = record.get("status")  # the run's view: failed, interrupted, not run ...
        error = record.get("error")
        if isinstance(error, Mapping) and (error.get("ename") or error.get("evalue")):
            row["error"] = f"{error.get('ename') or 'error'}: {error.get('evalue') or ''}".strip()
        rows.append({"run_id": rollup["run_id"], **row})
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return frame
    for name in _TEXT:
        frame[name] = frame[name].astype("string")
    for name in ("simulated", "submittable"):
        frame[name] = frame[name].astype("boolean")
    return frame


def key_metrics(stage: StageRef) -> pd.DataFrame:
    """The stage's key metrics, one row each: ``value`` is LoadGen's figure (MLPerf's result), ``sut`` the
    same quantity from the SUT's own timestamps where it has one, ``limit`` the scenario's p99 limit.

    The metric names carry their units (``tokens_per_second``, ``ttft_p99_ms``); a metric the stage does
    not have is left out.
    """
    summary = summary_of(stage)
    if summary is None:
        raise InputError("stage", "has no summary.json (did it fail? see its failure.json)")
    m = summary_key_metrics(summary)
    sut = summary.get("sut") if isinstance(summary.get("sut"), Mapping) else {}
    limits = latency_limits(summary)
    sut_name = {"ttft": "ttft_ms", "tpot": "tpot_ms", "latency": "e2e_ms"}
    rows: list[tuple[str, Optional[float], Optional[float], Optional[float]]] = []
    for name, value in m.items():
        if value is None:
            continue
        sut_value = limit = None
        prefix, _, rest = name.partition("_p")
        if prefix in sut_name and rest.endswith("_ms"):
            percentile = float(rest[: -len("_ms")])
            sut_value = stat_percentile(sut.get(sut_name[prefix]), percentile)
            if percentile == 99:
                limit = limits.get(f"{prefix}_ms")
        rows.append((name, value, sut_value, limit))
    frame = pd.DataFrame.from_records(rows, columns=["metric", "value", "sut", "limit"]).set_index("metric")
    frame = frame.astype(float)
    return frame.dropna(axis=1, how="all") if len(frame) else frame
