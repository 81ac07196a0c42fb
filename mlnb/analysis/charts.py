"""Charts of the analysis DataFrames, each a function returning its matplotlib Figure.

Built without pyplot (nothing is shown twice, nothing accumulates) in the reports' house style
(mlnb.report.plots). Every statistic uses every row; only what is drawn is thinned: an ECDF of more
than :data:`~mlnb.report.plots.MAX_DRAWN_POINTS` queries is drawn through that many evenly spaced
ranks (within 1/20,000 of the full curve). Percentiles are LoadGen's order statistics
(:func:`mlnb.results.loadgen_percentile`), the definition of every percentile mlnb shows.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlnb.report.plots import COLORS, MAX_DRAWN_POINTS, house_style, throughput_timeline, verdict_color
from mlnb.results import loadgen_percentile

__all__ = ["latency", "latency_ecdf", "latency_hist", "stage_bars", "throughput", "TITLES"]

TITLES = {
    "ttft_ms": "Time to first token",
    "tpot_ms": "Time per output token",
    "e2e_ms": "End-to-end latency",
    "loadgen_ttft_ms": "Time to first token from LoadGen's schedule",
    "loadgen_latency_ms": "LoadGen latency",
}
# The percentile markers' colours, in the order of ``percentiles`` (as in the stage reports' charts).
PERCENTILE_SHADES = ("#374151", "#d97706", "#7c3aed", "#0891b2", "#be185d")
_LIMIT_REACH = 4.0  # a limit further than this many times the largest value is named, not drawn


def _figure(width: float, height: float, title: str) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.set_label(title)  # the notebook's alt text
    return fig


def _values(queries: pd.DataFrame, metric: str) -> np.ndarray:
    if metric not in queries.columns:
        known = ", ".join(c for c in queries.columns if c.endswith("_ms")) or "none"
        raise KeyError(f"no column {metric!r} in the query table (columns in ms: {known})")
    values = pd.to_numeric(queries[metric], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def drawn_sample(values: np.ndarray, max_points: int = MAX_DRAWN_POINTS) -> np.ndarray:
    """The sorted values at evenly spaced ranks (all of them up to ``max_points``), for drawing only."""
    ordered = np.sort(values)
    if ordered.size <= max_points:
        return ordered
    return ordered[np.unique(np.linspace(0, ordered.size - 1, max_points).astype(np.int64))]


def percentile_marks(values: np.ndarray, percentiles: Sequence[float]) -> list[tuple[float, float]]:
    """(p, LoadGen's p-th percentile) for each of ``percentiles``."""
    ordered = np.sort(values)
    return [(p, loadgen_percentile(ordered, p)) for p in percentiles] if ordered.size else []


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=COLORS["muted"])
    ax.set_xticks([])
    ax.set_yticks([])


def _limit(ax, limit_ms: Optional[float], values: np.ndarray, note_off_scale: bool) -> None:
    """The limit as a red dashed line; one far beyond the data is named instead (in the legend, or in the
    lower right corner, always empty on a CDF), so the data keeps its scale."""
    if limit_ms is None or not values.size:
        return
    label = f"LoadGen limit ({limit_ms:,.4g} ms)"
    if limit_ms <= _LIMIT_REACH * max(float(values.max()), 1e-9):
        ax.axvline(limit_ms, color=COLORS["limit"], linestyle="--", linewidth=1.8, label=label)
    elif note_off_scale:
        ax.annotate(f"LoadGen limit {limit_ms:,.4g} ms \u2192", xy=(0.985, 0.04), xycoords="axes fraction", ha="right",
                    va="bottom", color=COLORS["limit"], fontsize=9.5, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": COLORS["limit"], "alpha": 0.92})
    else:
        ax.plot([], [], color=COLORS["limit"], linestyle="--", linewidth=1.8, label=f"{label}, off scale")


def _hist_on(ax, values: np.ndarray, percentiles: Sequence[float], limit_ms: Optional[float]) -> None:
    import seaborn as sns

    if not values.size:
        _no_data(ax, "no data")
        return
    sns.histplot(x=values, ax=ax, bins=int(min(40, max(8, np.ceil(np.sqrt(values.size) * 2)))),
                 color=COLORS["primary"], edgecolor="white", linewidth=0.5, alpha=0.85)
    for i, (p, value) in enumerate(percentile_marks(values, percentiles)):
        ax.axvline(value, color=PERCENTILE_SHADES[i % len(PERCENTILE_SHADES)], linestyle=":", linewidth=1.8,
                   label=f"p{p:g} = {value:,.4g} ms")
    _limit(ax, limit_ms, values, note_off_scale=False)
    ax.set_xlabel("ms")
    ax.set_ylabel("queries")
    ax.set_title(f"Histogram ({values.size:,} {'query' if values.size == 1 else 'queries'})")


def _ecdf_on(ax, values: np.ndarray, percentiles: Sequence[float], limit_ms: Optional[float]) -> None:
    import seaborn as sns

    if not values.size:
        _no_data(ax, "no data")
        return
    drawn = drawn_sample(values)
    sns.ecdfplot(x=drawn, ax=ax, color=COLORS["primary"], linewidth=1.8, stat="percent")
    for i, (p, value) in enumerate(percentile_marks(values, percentiles)):
        ax.plot([value], [p], marker="o", markersize=7, linestyle="none", zorder=3,
                color=PERCENTILE_SHADES[i % len(PERCENTILE_SHADES)], label=f"p{p:g}")
    _limit(ax, limit_ms, values, note_off_scale=True)
    ax.set_ylim(0, 103)
    ax.set_xlabel("ms")
    ax.set_ylabel("% of queries at or below")
    ax.set_title("Cumulative distribution" + (f" (drawn through {drawn.size:,} ranks)" if drawn.size < values.size else ""))


def latency(queries: pd.DataFrame, metric: str = "ttft_ms", limit_ms: Optional[float] = None,
            percentiles: Sequence[float] = (50, 90, 99), title: Optional[str] = None,
            floor_ms: Optional[float] = None) -> Figure:
    """Histogram and ECDF of one latency column of :func:`mlnb.analysis.queries`, percentiles marked;
    ``limit_ms`` (the scenario's p99 limit) drawn as a red dashed line, ``floor_ms`` (the speed-of-light
    floor, mlnb.perf.speed_of_light) as a green dash-dot one."""
    values = _values(queries, metric)
    title = title or f"{TITLES.get(metric, metric)} (SUT timestamps)"
    with house_style():
        fig = _figure(11, 3.9, title)
        fig.suptitle(title)
        ax_hist, ax_ecdf = fig.subplots(1, 2)
        _hist_on(ax_hist, values, percentiles, limit_ms)
        _ecdf_on(ax_ecdf, values, percentiles, limit_ms)
        if floor_ms is not None and values.size:
            for ax in (ax_hist, ax_ecdf):
                ax.axvline(floor_ms, color=COLORS["good"], linestyle="-.", linewidth=2.0,
                           label=f"speed-of-light floor ({floor_ms:,.4g} ms)" if ax is ax_hist else None)
        _legend_below(fig, ax_hist)
    return fig


def _legend_below(fig: Figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))


def latency_hist(queries: pd.DataFrame, metric: str = "ttft_ms", limit_ms: Optional[float] = None,
                 percentiles: Sequence[float] = (50, 90, 99)) -> Figure:
    """A histogram of one latency column, LoadGen's percentiles marked."""
    title = f"{TITLES.get(metric, metric)} (SUT timestamps)"
    with house_style():
        fig = _figure(7, 3.9, title)
        ax = fig.subplots()
        _hist_on(ax, _values(queries, metric), percentiles, limit_ms)
        fig.suptitle(title)
        _legend_below(fig, ax)
    return fig


def latency_ecdf(queries: pd.DataFrame, metric: str = "ttft_ms", hue: Optional[str] = "stage",
                 percentile: float = 99) -> Figure:
    """ECDFs of one latency column, one curve per value of ``hue`` (e.g. stages of several
    :func:`mlnb.analysis.queries` tables concatenated), each curve's ``percentile`` marked."""
    import seaborn as sns

    title = f"{TITLES.get(metric, metric)}: cumulative distribution"
    groups = [("all", queries)] if not hue or hue not in queries.columns else list(queries.groupby(hue, sort=False))
    with house_style():
        fig = _figure(8, 4.2, title)
        ax = fig.subplots()
        fig.suptitle(title)
        key = hue or "series"
        drawn, marks = [], []
        for name, group in groups:
            values = _values(group, metric)
            if values.size:
                value = percentile_marks(values, [percentile])[0][1]
                label = f"{name} (p{percentile:g} {value:,.4g} ms)"
                drawn.append(pd.DataFrame({metric: drawn_sample(values), key: label}))
                marks.append((label, value))
        if not drawn:
            _no_data(ax, "no data")
            return fig
        sns.ecdfplot(data=pd.concat(drawn, ignore_index=True), x=metric, hue=key, ax=ax, stat="percent", linewidth=1.8)
        legend = ax.get_legend()
        colours = {text.get_text(): handle.get_color() for text, handle in zip(legend.get_texts(), legend.legend_handles)}
        for label, value in marks:
            ax.plot([value], [percentile], marker="o", markersize=7, linestyle="none", zorder=3,
                    color=colours.get(label, COLORS["text"]))
        ax.set_ylim(0, 103)
        ax.set_xlabel("ms")
        ax.set_ylabel("% of queries at or below")
    return fig


def stage_bars(stages: pd.DataFrame, metric: str = "tokens_per_second") -> Figure:
    """One bar per stage of :func:`mlnb.analysis.stages` for ``metric``, coloured by verdict."""
    import seaborn as sns

    title = f"{metric} by stage"
    data = stages[["stage", "verdict", metric]].copy() if metric in stages.columns else pd.DataFrame()
    if not data.empty:
        data[metric] = pd.to_numeric(data[metric], errors="coerce")
        data = data.dropna(subset=[metric])
    with house_style():
        fig = _figure(max(5.0, 1.2 * len(data) + 2), 3.8, title)
        ax = fig.subplots()
        fig.suptitle(title)
        if data.empty:
            _no_data(ax, f"no stage has {metric}")
            return fig
        data["verdict"] = data["verdict"].fillna("n/a").astype(str)
        palette = {v: verdict_color(v) for v in data["verdict"].unique()}
        sns.barplot(data=data, x="stage", y=metric, hue="verdict", palette=palette, dodge=False, ax=ax)
        for container in ax.containers:
            ax.bar_label(container, fmt="{:,.4g}", fontsize=9)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=20)
    return fig


def throughput(queries: pd.DataFrame, loadgen_tokens_per_s: Optional[float] = None) -> Figure:
    """Output tokens/s over time and the queries in flight (the stage report's chart), from the query table."""
    fig = throughput_timeline(queries, loadgen_tokens_per_s=loadgen_tokens_per_s)
    fig.set_label("Throughput over time (SUT timestamps)")
    return fig
