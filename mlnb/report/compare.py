"""Finished runs side by side: the runs in an outputs folder, and their key metrics compared.

Everything is read from the run folders (``run.json`` and each stage's ``summary.json``, through
:func:`mlnb.report.run_index.collect_run`); nothing is re-run or recomputed. The numbers are the
ones every other view shows (:func:`mlnb.report.plots.key_metrics`).

This is the quick look; the comparison with confidence intervals, verdicts and comparability
checks is :mod:`mlnb.compare` (``mlnb compare RUN_A RUN_B``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from mlnb.report import plots
from mlnb.report.run_index import collect_run
from mlnb.report.runs_list import run_record
from mlnb.report.markup import macro, wrap

__all__ = [
    "METRICS",
    "compare_runs",
    "comparison_figure",
    "comparison_html",
]

# (key in plots.key_metrics, label, True if higher is better)
METRICS: list[tuple[str, str, bool]] = [
    ("tokens_per_second", "tokens/s", True),
    ("samples_per_second", "samples/s", True),
    ("ttft_p99_ms", "TTFT p99 ms", False),
    ("tpot_p99_ms", "TPOT p99 ms", False),
    ("latency_p90_ms", "latency p90 ms", False),
    ("latency_p99_ms", "latency p99 ms", False),
    ("rouge1", "ROUGE-1", True),
    ("rouge2", "ROUGE-2", True),
    ("rougeL", "ROUGE-L", True),
    ("exact_match", "exact match (DeepSeek-R1)", True),
    ("lmeval_accuracy", "MMLU accuracy (lm-eval)", True),
]


def _run_record(run_dir: Path) -> dict[str, Any]:
    # The runs list's record plus the rollup, whose stages carry the key metrics compared here.
    record = run_record(run_dir)
    record["rollup"], _ = collect_run(run_dir)
    return record


def compare_runs(run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """Key metrics of each stage, one column per run.

    Returns ``{"runs": [run records], "rows": [...]}``; a row is ``{"stage", "metric", "label",
    "values": [one per run, None where missing], "change_pct": [vs. the first run],
    "higher_is_better"}``. The first row of each stage is its verdict. Metrics no run has are left out.
    """
    runs = [_run_record(Path(d)) for d in run_dirs]
    per_run: list[dict[str, dict]] = []
    stage_order: list[str] = []
    for run in runs:
        stages = {}
        for record in run["rollup"].get("stages") or []:
            if record.get("kind") == "summary":
                continue
            stages[record["stage"]] = record
            if record["stage"] not in stage_order:
                stage_order.append(record["stage"])
        per_run.append(stages)
    rows: list[dict[str, Any]] = []
    for stage in stage_order:
        records = [stages.get(stage) for stages in per_run]
        rows.append({
            "stage": stage, "metric": "verdict", "label": "verdict",
            "values": [(r.get("verdict") or r.get("status")) if r else None for r in records],
            "change_pct": [None] * len(records), "higher_is_better": None,
        })
        for key, label, higher in METRICS:
            values = [plots.number((r.get("metrics") or {}).get(key)) if r else None for r in records]
            if all(v is None for v in values):
                continue
            base = values[0]
            change = [
                None if (v is None or base in (None, 0) or i == 0) else 100.0 * (v - base) / abs(base)
                for i, v in enumerate(values)
            ]
            rows.append({"stage": stage, "metric": key, "label": label, "values": values,
                         "change_pct": change, "higher_is_better": higher})
    for run in runs:
        run.pop("rollup", None)
    return {"runs": runs, "rows": rows}


def _change_color(change: Optional[float], higher: Optional[bool]) -> Optional[str]:
    """Green when the change is better, red when worse, grey when under 0.05 %; None: no change shown."""
    if change is None or higher is None:
        return None
    if abs(change) < 0.05:
        return plots.COLORS["muted"]
    better = change > 0 if higher else change < 0
    return plots.COLORS["good"] if better else plots.COLORS["bad"]


def comparison_html(comparison: Mapping[str, Any]) -> str:
    """The comparison as an HTML table: stage and metric down, runs across, change vs. the first run."""
    runs = [
        {"run_id": r["run_id"], "facts": [str(x) for x in (r.get("model"), r.get("backend"), "SIMULATED" if r.get("simulated") else None) if x]}
        for r in comparison.get("runs") or []
    ]
    rows = []
    last_stage = None
    for row in comparison.get("rows") or []:
        digits = 4 if row["metric"].startswith("rouge") or row["metric"] == "exact_match" else None
        cells = []
        for value, change in zip(row["values"], row["change_pct"]):
            color = _change_color(change, row["higher_is_better"])
            cells.append((value, digits, change if color else None, color))
        rows.append({"stage": row["stage"] if row["stage"] != last_stage else None, "label": row["label"],
                     "verdict": row["metric"] == "verdict", "cells": cells})
        last_stage = row["stage"]
    table = macro("runs.html.j2", "comparison_table", runs, rows, verdict_words=tuple(plots.VERDICT_COLORS))
    return wrap(table, with_style=True)


def comparison_figure(comparison: Mapping[str, Any], metric: str = "tokens_per_second"):
    """Grouped bars: one group per stage, one bar per run, for one metric."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = [r for r in comparison.get("rows") or [] if r["metric"] == metric]
    runs = comparison.get("runs") or []
    label = next((lab for key, lab, _ in METRICS if key == metric), metric)
    with plots.house_style():
        # Shown at its own pixel size (see comparison_view), so its text keeps the house style's sizes.
        fig = Figure(figsize=(min(max(5.0, 1.3 * max(len(rows), 1) + 2.5), 9.0), 3.8), dpi=plots.DPI, layout="constrained")
        ax = fig.subplots()
        ax.set_title(f"{label} by stage")
        if not rows:
            ax.text(0.5, 0.5, f"no stage reports {label}", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return fig
        x = np.arange(len(rows))
        width = 0.8 / max(len(runs), 1)
        palette = [plots.COLORS["primary"], plots.COLORS["secondary"], plots.COLORS["good"], plots.COLORS["simulated"],
                   plots.COLORS["muted"], plots.COLORS["bad"]]
        for i, run in enumerate(runs):
            values = [r["values"][i] if r["values"][i] is not None else 0.0 for r in rows]
            ax.bar(x + (i - (len(runs) - 1) / 2) * width, values, width * 0.95, label=run["run_id"],
                   color=palette[i % len(palette)], hatch="//" if run.get("simulated") else None)
        ax.set_xticks(x)
        ax.set_xticklabels([r["stage"] for r in rows], rotation=20 if len(rows) > 3 else 0, ha="right" if len(rows) > 3 else "center")
        ax.set_ylabel(label)
        fig.legend(loc="outside lower center", ncols=min(len(runs), 3))  # below the axes: never over a bar
    return fig


def figure_width_px(fig) -> int:
    return int(round(fig.get_figwidth() * fig.dpi))


def comparison_view(run_dirs: Sequence[str | Path]) -> str:
    """The comparison of runs as one self-contained HTML fragment: the table, then a chart per metric."""
    comparison = compare_runs(run_dirs)
    present = {row["metric"] for row in comparison["rows"]}
    charts = []
    for key, label, _ in METRICS:
        if key in present and key in ("tokens_per_second", "ttft_p99_ms", "tpot_p99_ms"):
            fig = comparison_figure(comparison, key)
            # shown at its own size: scaling the picture down would shrink its text
            charts.append((plots.figure_data_uri(fig), f"{label} by stage", figure_width_px(fig)))
    return comparison_html(comparison) + str(macro("runs.html.j2", "charts", charts))
