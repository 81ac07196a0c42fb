"""The comparison itself: for every stage the runs share, each metric's difference against the first run.

The result is a JSON-ready dict (what ``compare.json`` holds, schema below). The first run is the
baseline; every later run is compared with it.

- ``schema_version``, ``kind`` ("mlnb-comparison"), ``id``, ``created``, ``forced``
- ``method``: the statistics used (resamples, seed, confidence, thresholds) in words and numbers
- ``runs``: run_id, the path given, the resolved folder, preset, model, backend, started, simulated and
  ``repeats`` (more runs of the same settings, given as ``RUN,RUN2``: their queries are pooled with
  the run's and their throughputs give an interval); ``columns``: every run id, repeats included
- ``differences``: every setting that differs (:mod:`mlnb.compare.comparability`)
- ``stages``: per stage its title, scenario, mode, each run's verdict and key metrics (LoadGen's
  numbers) and ``comparisons``: one per later run, a list of metric differences
  (:class:`mlnb.compare.stats.Difference`)
- ``overall``: one line per later run, its verdict and the metrics called either way
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Optional, Sequence

import numpy as np

from mlnb.compare import stats
from mlnb.compare.comparability import SettingDifference
from mlnb.compare.loading import TASK_PREFIX, RunData, StageData
from mlnb.compare.telemetry_diff import PREFIXES as TELEMETRY_PREFIXES
from mlnb.compare.telemetry_diff import telemetry_differences
from mlnb.report.plots import key_metrics

__all__ = ["ACCURACY_THRESHOLD", "COMPARISON_SCHEMA_VERSION", "PER_QUERY_METRICS", "build_comparison", "stage_differences"]

COMPARISON_SCHEMA_VERSION = 1
ACCURACY_THRESHOLD = 0.01  # ROUGE: 1 % of run A's score (MLPerf's accuracy target is 99 % of the reference)

# series in queries.jsonl -> (label, statistics, better direction, unit)
PER_QUERY_METRICS: list[tuple[str, str, tuple[str, ...], Optional[str], str]] = [
    ("ttft_ms", "TTFT", ("median", "p99"), "lower", "ms"),
    ("tpot_ms", "TPOT", ("median", "p99"), "lower", "ms"),
    ("e2e_ms", "end-to-end latency", ("median", "p99"), "lower", "ms"),
    ("output_tokens", "output length", ("mean",), None, "tokens"),
]
THROUGHPUT_METRICS = [("samples_per_second", "samples/s"), ("tokens_per_second", "tokens/s")]
ACCURACY_METRICS = [("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L")]


def _label(metric: str) -> str:
    for key, label, *_ in PER_QUERY_METRICS:
        if key == metric:
            return label
    for key, label in THROUGHPUT_METRICS + ACCURACY_METRICS:
        if key == metric:
            return label
    if metric.startswith(TASK_PREFIX):
        return f"score ({metric[len(TASK_PREFIX):]})"
    return metric


def stage_differences(
    a: StageData,
    b: StageData,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    threshold: float = stats.DEFAULT_THRESHOLD,
) -> list[dict[str, Any]]:
    """Every metric of one stage, B against A, as dicts with a ``label``."""
    out: list[stats.Difference] = []
    performance = a.summary.get("mode") != "accuracy"
    if performance:
        series_a, series_b = a.series(), b.series()
        for key, _label_text, statistics, better, unit in PER_QUERY_METRICS:
            values_a, values_b = series_a.get(key, np.array([])), series_b.get(key, np.array([]))
            if values_a.size == 0 and values_b.size == 0:
                continue  # e.g. TTFT in Offline, which does not stream
            for stat in statistics:
                out.append(stats.bootstrap_difference(values_a, values_b, key, stat, better, unit,
                                                      resamples=resamples, seed=seed, threshold=threshold))
        runs_a = [key_metrics(s) for s in a.summaries()]
        runs_b = [key_metrics(s) for s in b.summaries()]
        for key, _ in THROUGHPUT_METRICS:
            values_a = [m[key] for m in runs_a if m.get(key) is not None]
            values_b = [m[key] for m in runs_b if m.get(key) is not None]
            if not values_a and not values_b:
                continue
            if len(values_a) > 1 or len(values_b) > 1:  # repeats: one LoadGen value per run
                out.append(stats.bootstrap_difference(values_a, values_b, key, "mean", "higher", "/s", resamples=resamples,
                                                      seed=seed, threshold=threshold, min_values=stats.MIN_REPEATS))
                continue
            out.append(stats.single_value_difference(values_a[0] if values_a else None, values_b[0] if values_b else None,
                                                     key, "LoadGen", "higher", "/s"))
        out.extend(telemetry_differences(a.summary, b.summary))
    else:
        scores_a, scores_b = a.accuracy_scores(), b.accuracy_scores()
        paired = bool(scores_a) and set(scores_a) == set(scores_b)
        order = sorted(scores_a)
        tasks = sorted({k for s in [*scores_a.values(), *scores_b.values()] for k in s if k.startswith(TASK_PREFIX)})
        for key in [k for k, _ in ACCURACY_METRICS] + tasks:
            if paired:
                values_a = [scores_a[i][key] for i in order if key in scores_a[i]]
                values_b = [scores_b[i][key] for i in order if key in scores_b[i]]
                pair = len(values_a) == len(values_b)
            else:
                values_a = [s[key] for s in scores_a.values() if key in s]
                values_b = [s[key] for s in scores_b.values() if key in s]
                pair = False
            if not values_a and not values_b:
                continue
            unit = "score" if key.startswith(TASK_PREFIX) else "ROUGE"
            out.append(stats.bootstrap_difference(values_a, values_b, key, "mean", "higher", unit,
                                                  resamples=resamples, seed=seed, threshold=ACCURACY_THRESHOLD,
                                                  paired=pair))
    return [{**d.as_dict(), "label": _label(d.metric)} for d in out]


def _run_record(run: RunData) -> dict[str, Any]:
    summaries = [s.summary for s in run.stages.values()]
    joined = lambda key: ", ".join(dict.fromkeys(str(s.get(key)) for s in summaries if s.get(key)))  # noqa: E731
    return {
        "run_id": run.run_id,
        "path": run.given,
        "folder": str(run.folder),
        "preset": run.run.get("preset"),
        "model": joined("model"),
        "backend": joined("backend"),
        "started": run.run.get("started"),
        "status": run.run.get("status"),
        "simulated": any(s.get("simulated") for s in summaries),
        "stages": list(run.stages),
        "label": run.label,
        "repeats": [_run_record(r) for r in run.repeats],
    }


LARGEST_SHOWN = 3  # changes named in the headline


def _fmt_rel(rel: float) -> str:
    return f"{rel * 100:+,.1f} %".replace("-", "\u2212")


def _change_text(item: dict[str, Any]) -> str:
    return f"{item['label']} {item['stat']} {_fmt_rel(item['rel'])}" + (f" ({item['stage']})" if item.get("stage") else "")


def _no_interval_text(items: list[dict[str, Any]]) -> str:
    """'not enough queries to form an interval (4 per run, 10 needed for the median, 500 for the p99)'."""
    queries = [d for d in items if "enough queries" in d["reason"]]
    runs = [d for d in items if d not in queries]
    parts = []
    if queries:
        per_run = "/".join(f"{n:,}" for n in sorted({min(d["n_a"], d["n_b"]) for d in queries}))
        needs = sorted({d["stat"]: d["need"] for d in queries if d.get("need")}.items(), key=lambda item: item[1])
        need_text = ", ".join(f"{n:,} needed for the {stat}" if i == 0 else f"{n:,} for the {stat}"
                              for i, (stat, n) in enumerate(needs))
        parts.append(f"not enough queries to form an interval ({per_run} per run, {need_text})")
    if runs:
        parts.append(f"throughput is one value per run: {stats.MIN_REPEATS} repeats per side needed for its interval")
    return "; ".join(parts)


def _overall(runs: Sequence[RunData], stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per later run: the verdict, the metrics called either way, the largest changes and what had no interval.

    ``no interval`` (nothing could be judged because every metric lacked an interval) is kept apart
    from ``inconclusive`` (intervals formed, none excluded 0 beyond the threshold).
    """
    lines = []
    for index, run in enumerate(runs[1:]):
        called = {"improvement": [], "regression": [], "changed": []}
        every: list[dict[str, Any]] = []
        for stage in stages:
            for d in stage["comparisons"][index]["differences"]:
                if d["metric"].startswith(TELEMETRY_PREFIXES):  # shown in the stage's table, not in the headline
                    continue
                if d["verdict"] in called:
                    called[d["verdict"]].append(f"{stage['stage']}: {d['label']} {d['stat']}")
                every.append({**d, "stage": stage["stage"]})
        without = [d for d in every if d["verdict"] == stats.NO_INTERVAL]
        judged = [d for d in every if d["verdict"] != stats.NO_INTERVAL]
        if called["regression"] and called["improvement"]:
            verdict = "mixed"
        elif called["regression"]:
            verdict = "regression"
        elif called["improvement"]:
            verdict = "improvement"
        elif called["changed"]:
            verdict = "changed"
        elif without and not judged:
            verdict = stats.NO_INTERVAL
        else:
            verdict = "inconclusive"
        largest = sorted((d for d in every if d.get("rel") is not None), key=lambda d: -abs(d["rel"]))[:LARGEST_SHOWN]
        largest = [{k: d.get(k) for k in ("stage", "metric", "label", "stat", "rel", "a", "b", "unit", "verdict", "reason")}
                   for d in largest]
        if verdict == stats.NO_INTERVAL:
            headline = _no_interval_text(without)
        elif verdict == "inconclusive":
            headline = "no metric changed beyond its 95 % interval and the practical threshold"
            if without:
                headline += f"; {len(without)} had no interval: " + _no_interval_text(without)
        else:
            headline = "; ".join(f"{word}: {', '.join(items)}" for word, items in
                                 (("regression", called["regression"]), ("improvement", called["improvement"]),
                                  ("changed", called["changed"])) if items)
        if largest:
            headline += ". Largest changes: " + ", ".join(_change_text(d) for d in largest)
        lines.append({"run_id": run.run_id, "against": runs[0].run_id, "verdict": verdict,
                      "regressions": called["regression"], "improvements": called["improvement"],
                      "changed": called["changed"], "largest": largest,
                      "no_interval": [f"{d['stage']}: {d['label']} {d['stat']}: {d['reason']}" for d in without],
                      "headline": headline})
    return lines


def build_comparison(
    runs: Sequence[RunData],
    stages: Sequence[str],
    setting_differences: Sequence[SettingDifference],
    comparison_id: str,
    forced: bool = False,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    threshold: float = stats.DEFAULT_THRESHOLD,
) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (see the module docstring)."""
    members = [m for run in runs for m in run.members()]
    stage_records = []
    for name in stages:
        first = runs[0].stages[name].summary
        stage_records.append({
            "stage": name,
            "title": first.get("title") or name,
            "scenario": first.get("scenario"),
            "mode": first.get("mode"),
            "simulated": [bool(run.stages[name].summary.get("simulated")) for run in runs],
            # one per column (every run, repeats after their run)
            "verdicts": [m.stages[name].summary.get("verdict") for m in members],
            "key_metrics": [key_metrics(m.stages[name].summary) for m in members],
            "queries": [int(m.stages[name].own_series()["e2e_ms"].size) for m in members],
            "comparisons": [
                {"run_id": run.run_id, "against": runs[0].run_id,
                 "differences": stage_differences(runs[0].stages[name], run.stages[name], resamples, seed, threshold)}
                for run in runs[1:]
            ],
        })
    return {
        "schema_version": COMPARISON_SCHEMA_VERSION,
        "kind": "mlnb-comparison",
        "id": comparison_id,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "forced": forced,
        "method": {
            "name": "percentile bootstrap of the difference of the statistic",
            "resamples": resamples,
            "seed": seed,
            "confidence": stats.CONFIDENCE,
            "threshold": threshold,
            "accuracy_threshold": ACCURACY_THRESHOLD,
            "min_tail": stats.MIN_TAIL,
            "min_repeats": stats.MIN_REPEATS,
            "text": (
                f"For each metric, run A's and run B's per-query values are each resampled with replacement "
                f"{resamples} times (numpy, seed {seed}); the statistic (median, p99 or mean) is computed on every "
                f"resample and the 2.5th and 97.5th percentiles of stat(B*) - stat(A*) form the 95 % interval. "
                "Accuracy samples scored in both runs are resampled as pairs. Per-query values are the SUT's own "
                "timestamps (queries.jsonl), pooled over repeats. Throughput is LoadGen's one value per run: "
                f"it gets an interval (bootstrap of the difference of the means) only with {stats.MIN_REPEATS} or "
                "more repeats per side."
            ),
        },
        "runs": [_run_record(run) for run in runs],
        "columns": [m.run_id for m in members],
        "baseline": runs[0].run_id,
        "differences": [d.as_dict() for d in setting_differences],
        "stages": stage_records,
        "overall": _overall(runs, stage_records),
    }
