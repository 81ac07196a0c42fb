"""Figures of a comparison: per-query distributions overlaid, and the differences with their intervals."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from mlnb.report.plots import COLORS, DPI, house_style

__all__ = ["RUN_COLORS", "VERDICT_COLORS", "differences_figure", "distributions_figure", "ratio_label"]

RUN_COLORS = [COLORS["primary"], COLORS["secondary"], "#0891b2", "#be185d", "#4d7c0f", "#7c3aed"]
VERDICT_COLORS = {
    "improvement": COLORS["good"],
    "regression": COLORS["bad"],
    "inconclusive": COLORS["neutral"],
    "changed": "#d97706",
    "no interval": "#94a3b8",
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


def ratio_label(ratio: float) -> str:
    """A ratio B/A as the change it means: 1.5 -> '+50 %', 357.75 -> '+35,675 %', 0.004 -> '−99.6 %'."""
    change = round((ratio - 1.0) * 100, 9)
    digits = 0 if abs(change) >= 10 or change == 0 else 1
    if 0 < abs(change) < 0.1:
        digits = 2
    if 0 < ratio < 0.1:  # near -100 %: enough digits that 0.004 reads -99.6 %, not -100 %
        digits = max(0, math.ceil(-math.log10(ratio * 100) - 1e-9))
    return f"{change:+,.{digits}f} %".replace("-", "\u2212")


_FINE_TICKS = (0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0)


def ratio_ticks(low: float, high: float) -> list[float]:
    """Ratios to mark between ``low`` and ``high``: steps of 1-2-5 (or whole decades) over a wide range, finer near 1."""
    decades = np.log10(high / low)
    if decades <= 1.2:
        ticks = [t for t in _FINE_TICKS if low <= t <= high]
    else:
        subs = (1.0,) if decades > 4 else (1.0, 2.0, 5.0)
        exponents = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
        ticks = [m * 10.0 ** e for e in exponents for m in subs if low <= m * 10.0 ** e <= high]
    return sorted(set(ticks) | {1.0})


def _ratio(d: Mapping[str, Any], value: Optional[float]) -> Optional[float]:
    a = d.get("a")
    if value is None or not a or a <= 0:
        return None
    return (a + value) / a


def differences_figure(comparison: Mapping[str, Any], index: int = 0) -> Figure:
    """Every metric's change (B vs A) as the ratio B/A on a log axis, with its interval, coloured by verdict.

    A log axis of the ratio reads +50 % and +30,000 % (or −99.6 %) on one chart: equal distances are
    equal factors. Ticks and the value beside each point say the change in percent; the grey band is
    the practical threshold.
    """
    import textwrap

    import matplotlib.ticker as mticker
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows: list[tuple[str, Mapping[str, Any], float]] = []
    for stage in comparison.get("stages") or []:
        for d in stage["comparisons"][index]["differences"]:
            ratio = _ratio(d, d.get("diff"))
            if ratio is not None and ratio > 0:
                rows.append((f"{stage['stage']}  {d['label']} {d['stat']}", d, ratio))
    run_b = comparison["runs"][index + 1]["run_id"]
    threshold = float((comparison.get("method") or {}).get("threshold") or 0.0)
    with house_style():
        height = 2.2 + 0.32 * max(len(rows), 3)
        fig = Figure(figsize=(11, height), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        # Wrapped, so long run ids never run past the figure's edge.
        fig.suptitle(textwrap.fill(f"{run_b} against {comparison['baseline']}: change of every metric with its 95 % interval", 95),
                     fontsize=12)
        if not rows:
            ax.text(0.5, 0.5, "no metric to compare", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return fig
        ax.set_xscale("log")
        y = np.arange(len(rows))[::-1]
        ax.axvspan(1 - threshold, 1 + threshold, color="#e5e7eb", alpha=0.9, zorder=0)
        ax.axvline(1.0, color="#374151", linewidth=1)
        ends: list[float] = [1 - threshold, 1 + threshold]
        for yy, (_name, d, ratio) in zip(y, rows):
            color = VERDICT_COLORS.get(d["verdict"], COLORS["neutral"])
            lo, hi = _ratio(d, d.get("ci_low")), _ratio(d, d.get("ci_high"))
            has_interval = lo is not None and hi is not None
            if has_interval:
                lo = max(lo, ratio / 1e4, 1e-6)  # an interval reaching below zero is drawn to the axis' edge
                ax.plot([lo, hi], [yy, yy], color=color, linewidth=2.6, solid_capstyle="butt")
                ends += [lo, hi]
            ax.plot([ratio], [yy], marker="o" if has_interval else "D", color=color, markersize=7, linestyle="none")
            ends.append(ratio)
            ax.annotate(ratio_label(ratio), (ratio, yy), xytext=(0, 7), textcoords="offset points", ha="center",
                        va="bottom", fontsize=8, color=color)
        low, high = min(ends), max(ends)
        ax.set_xlim(low / 1.6, high * 1.6)  # room for the labels above the points
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.xaxis.set_major_locator(mticker.FixedLocator(ratio_ticks(low / 1.6, high * 1.6)))
        ax.xaxis.set_minor_locator(mticker.NullLocator())
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _pos: ratio_label(v)))
        ax.tick_params(axis="x", labelsize=8.5)
        for label in ax.get_xticklabels():
            label.set_rotation(0)
        ax.set_yticks(y)
        ax.set_yticklabels([name for name, _, _ in rows], fontsize=9)
        ax.set_xlabel("change against the baseline, on a log scale of the ratio B / A")
        ax.grid(axis="y", visible=False)
        present = {d["verdict"] for _, d, _ in rows}
        legend = [Line2D([], [], color=c, marker="o", linewidth=2.6, label=v) for v, c in VERDICT_COLORS.items()
                  if v in present and v != "no interval"]
        if "no interval" in present:
            legend.append(Line2D([], [], color=VERDICT_COLORS["no interval"], marker="D", linestyle="none",
                                 label="no interval (single run, or too few queries)"))
        legend.append(Patch(color="#e5e7eb", label=f"practical threshold \u00b1{threshold:.0%}"))
        fig.legend(handles=legend, loc="outside lower center", ncols=min(len(legend), 4), fontsize=8.5)
    return fig
