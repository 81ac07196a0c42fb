"""Figures of a comparison: per-query distributions overlaid, and the differences with their intervals."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from mlnb.report.plots import COLORS, DPI, house_style

__all__ = ["RUN_COLORS", "VERDICT_COLORS", "differences_figure", "distributions_figure"]

RUN_COLORS = [COLORS["primary"], COLORS["secondary"], "#0891b2", "#be185d", "#4d7c0f", "#7c3aed"]
VERDICT_COLORS = {
    "improvement": COLORS["good"],
    "regression": COLORS["bad"],
    "inconclusive": COLORS["neutral"],
    "changed": "#d97706",
}
PANELS = [
    ("ttft_ms", "Time to first token (ms)"),
    ("tpot_ms", "Time per output token (ms)"),
    ("e2e_ms", "End-to-end latency (ms)"),
    ("output_tokens", "Output length (tokens)"),
]


def distributions_figure(
    stage: str,
    series: Sequence[Mapping[str, np.ndarray]],
    labels: Sequence[str],
    simulated: Sequence[bool] = (),
    scenario: Optional[str] = None,
) -> Figure:
    """2x2 empirical CDFs (TTFT, TPOT, latency, output length), one line per run, medians marked."""
    with house_style():
        fig = Figure(figsize=(11, 6.6), dpi=DPI, layout="constrained")
        axes = fig.subplots(2, 2).ravel()
        sim = " (SIMULATED)" if any(simulated) else ""
        fig.suptitle(f"{stage}{sim}: per-query distributions, SUT timestamps")
        for ax, (key, title) in zip(axes, PANELS):
            ax.set_title(title)
            drawn = False
            for i, (data, label) in enumerate(zip(series, labels)):
                values = np.sort(np.asarray(data.get(key, np.array([])), dtype=float))
                values = values[np.isfinite(values)]
                if values.size == 0:
                    continue
                color = RUN_COLORS[i % len(RUN_COLORS)]
                cdf = np.arange(1, values.size + 1) / values.size * 100
                style = "--" if i > 0 and i % 2 == 0 else "-"
                # Later runs drawn thinner, so a run that overlaps the baseline leaves it visible.
                ax.step(values, cdf, where="post", color=color, linewidth=max(1.2, 3.0 - 0.8 * i), linestyle=style,
                        label=f"{label} (n={values.size})")
                median = float(np.percentile(values, 50))
                ax.plot([median], [50], marker="o", color=color, markersize=6, linestyle="none", zorder=3)
                drawn = True
            if not drawn:
                why = "not streamed in Offline: no first-token time" if scenario == "Offline" and key in ("ttft_ms", "tpot_ms") else "no data"
                ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color=COLORS["muted"], fontsize=11)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                continue
            ax.set_ylim(0, 103)
            ax.set_ylabel("% of queries at or below")
            ax.axhline(99, color=COLORS["muted"], linewidth=0.8, linestyle=":")
        handles, names = [], []
        for ax in axes:
            for handle, name in zip(*ax.get_legend_handles_labels()):
                run = name.split(" (n=")[0]
                if run not in names:
                    handles.append(handle)
                    names.append(run)
        if handles:
            fig.legend(handles, names, loc="outside lower center", ncols=len(names))
    return fig


def differences_figure(comparison: Mapping[str, Any], index: int = 0) -> Figure:
    """Relative change of every metric with an interval (B vs A), coloured by verdict; the band is the threshold."""
    rows: list[tuple[str, Mapping[str, Any]]] = []
    for stage in comparison.get("stages") or []:
        for d in stage["comparisons"][index]["differences"]:
            if d.get("rel") is not None:
                rows.append((f"{stage['stage']}  {d['label']} {d['stat']}", d))
    run_b = comparison["runs"][index + 1]["run_id"]
    threshold = float((comparison.get("method") or {}).get("threshold") or 0.0)
    with house_style():
        height = 1.7 + 0.3 * max(len(rows), 3)
        fig = Figure(figsize=(11, height), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        ax.set_title(f"{run_b} against {comparison['baseline']}: change with 95 % interval")
        if not rows:
            ax.text(0.5, 0.5, "no metric to compare", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return fig
        y = np.arange(len(rows))[::-1]
        ax.axvspan(-threshold * 100, threshold * 100, color="#e5e7eb", alpha=0.7, zorder=0,
                   label=f"practical threshold \u00b1{threshold:.0%}")
        ax.axvline(0, color="#374151", linewidth=1)
        for yy, (_name, d) in zip(y, rows):
            color = VERDICT_COLORS.get(d["verdict"], COLORS["neutral"])
            rel = d["rel"] * 100
            a = abs(d["a"]) if d.get("a") else None
            if d.get("ci_low") is not None and a:
                lo, hi = d["ci_low"] / a * 100, d["ci_high"] / a * 100
                ax.plot([lo, hi], [yy, yy], color=color, linewidth=2.6, solid_capstyle="butt")
            ax.plot([rel], [yy], marker="o" if d.get("ci_low") is not None else "D", color=color, markersize=7)
        ax.set_yticks(y)
        ax.set_yticklabels([name for name, _ in rows], fontsize=9)
        ax.set_xlabel(f"change of {run_b} against {comparison['baseline']} (% of the baseline's value)")
        ax.grid(axis="y", visible=False)
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        legend = [Line2D([], [], color=c, marker="o", linewidth=2.6, label=v) for v, c in VERDICT_COLORS.items()]
        legend.append(Line2D([], [], color=COLORS["neutral"], marker="D", linestyle="none",
                             label="no interval (single run, or too few values)"))
        legend.append(Patch(color="#e5e7eb", label=f"practical threshold \u00b1{threshold:.0%}"))
        fig.legend(handles=legend, loc="outside lower center", ncols=len(legend), fontsize=8.5)
        ax.margins(x=0.06)
    return fig
