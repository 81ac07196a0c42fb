"""Static matplotlib figures for the stage reports and the run index.

Every plotting function returns a :class:`matplotlib.figure.Figure` built without pyplot, so
nothing is shown twice in a notebook and nothing accumulates in pyplot's figure registry.
Turn one into PNG bytes with :func:`figure_png` (which also closes it) or a data URI with
:func:`figure_data_uri`.

The house style (fonts, colours, DPI) lives here, in :data:`STYLE` and :data:`COLORS`; the
HTML reports take their verdict colours from the same place. This module also holds the small
helpers that pull the numbers the figures and tables show out of a ``summary.json`` dict
(:func:`key_metrics`, :func:`stat_percentile`, :func:`latency_limits`), so that every view
reads them the same way.
"""

from __future__ import annotations

import base64
import io
import math
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional, Sequence

import matplotlib
import matplotlib.lines
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "COLORS",
    "DPI",
    "STYLE",
    "comparable_summaries",
    "figure_data_uri",
    "figure_png",
    "house_style",
    "key_metrics",
    "latency_distribution",
    "latency_limits",
    "stage_comparison",
    "stat_percentile",
    "summary_dict",
    "throughput_timeline",
    "verdict_color",
]

# ---------------------------------------------------------------------------------------------
# House style
# ---------------------------------------------------------------------------------------------

DPI = 100

COLORS = {
    "primary": "#2563eb",
    "secondary": "#f59e0b",
    "muted": "#6b7280",
    "grid": "#e5e7eb",
    "limit": "#dc2626",
    "good": "#15803d",
    "bad": "#b91c1c",
    "neutral": "#6b7280",
    "simulated": "#7c3aed",
    "text": "#111827",
}

# Verdict -> colour, shared with the HTML views.
VERDICT_COLORS = {
    "VALID": COLORS["good"],
    "PASS": COLORS["good"],
    "INVALID": COLORS["bad"],
    "FAIL": COLORS["bad"],
    "FAILED": COLORS["bad"],
}

STYLE: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 11,
    "axes.titlesize": 12.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": COLORS["text"],
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.color": COLORS["grid"],
    "grid.linewidth": 0.8,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "xtick.color": "#374151",
    "ytick.color": "#374151",
    "legend.fontsize": 9.5,
    "legend.frameon": False,
    "figure.titlesize": 13.5,
    "figure.titleweight": "bold",
    "svg.fonttype": "none",
}


@contextmanager
def house_style() -> Iterator[None]:
    """Apply :data:`STYLE` while a figure is built (rcParams are read at artist creation)."""
    with matplotlib.rc_context(STYLE):
        yield


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


new_figure = _figure  # the public name, for the other report modules


def verdict_color(verdict: Optional[str]) -> str:
    return VERDICT_COLORS.get((verdict or "").upper(), COLORS["neutral"])


def figure_png(fig: Figure, close: bool = True) -> bytes:
    """PNG bytes at the house DPI. Closes the figure (releases it from pyplot if it is there)."""
    buffer = io.BytesIO()
    with house_style():
        # "tight": the saved area grows to hold every artist, so a legend or title outside the axes is never cut off.
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.08)
    if close:
        _close(fig)
    return buffer.getvalue()


def figure_data_uri(fig: Figure, close: bool = True) -> str:
    return "data:image/png;base64," + base64.b64encode(figure_png(fig, close=close)).decode("ascii")


def _close(fig: Figure) -> None:
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # pragma: no cover - no pyplot backend available
        pass
    fig.clear()


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=COLORS["muted"], fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _fmt(value: Optional[float], unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


# ---------------------------------------------------------------------------------------------
# Reading summary.json
# ---------------------------------------------------------------------------------------------


def summary_dict(summary: Any) -> dict:
    """A summary as a plain dict (accepts a dict or a pydantic ``StageSummary``)."""
    if summary is None:
        return {}
    if isinstance(summary, Mapping):
        return dict(summary)
    if hasattr(summary, "model_dump"):
        return summary.model_dump(mode="json")
    raise TypeError(f"expected a summary dict or StageSummary, got {type(summary).__name__}")


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


number = _number  # the public name, for the other report modules


def stat_percentile(stats: Any, percentile: float) -> Optional[float]:
    """Percentile ``percentile`` (e.g. 99) from a LoadGen stats dict, or ``None``.

    Accepts the parser's ``{"percentiles": {"99.0": ms}}`` and tolerates other spellings of the
    key ("99", "99.00", "p99") as well as a flat ``{"p99": ms}`` dict (the SUT's statistics).
    """
    if not isinstance(stats, Mapping):
        return None
    pools = [stats.get("percentiles"), stats]
    for pool in pools:
        if not isinstance(pool, Mapping):
            continue
        for key, value in pool.items():
            text = str(key).strip().lower().lstrip("p")
            try:
                if abs(float(text) - float(percentile)) < 1e-9:
                    return _number(value)
            except ValueError:
                continue
    return None


# Server-scenario latency limits by LoadGen model key (mlperf.conf), in ms.
DEFAULT_LIMITS_MS = {
    "llama3_1-8b": {"ttft_ms": 2000.0, "tpot_ms": 100.0},
    "llama3_1-8b-interactive": {"ttft_ms": 500.0, "tpot_ms": 30.0},
}
_LIMITED_SCENARIOS = ("Server", "Interactive")


def latency_limits(summary: Any) -> dict[str, Optional[float]]:
    """TTFT/TPOT p99 limits in ms for Server/Interactive runs, ``None`` elsewhere.

    Order: what LoadGen ran with (``loadgen.settings``), then the stage parameters' overrides,
    then the mlperf.conf defaults for the model key.
    """
    s = summary_dict(summary)
    limits: dict[str, Optional[float]] = {"ttft_ms": None, "tpot_ms": None}
    scenario = s.get("scenario") or (s.get("params") or {}).get("scenario")
    if scenario not in _LIMITED_SCENARIOS:
        return limits
    settings = (s.get("loadgen") or {}).get("settings") or {}
    params = s.get("params") or {}
    model_key = s.get("model_key") or params.get("model_key")
    if not model_key:
        model_key = "llama3_1-8b-interactive" if scenario == "Interactive" else "llama3_1-8b"
    defaults = DEFAULT_LIMITS_MS.get(model_key, {})
    for name in ("ttft", "tpot"):
        value = _number(settings.get(f"{name}_limit_ms")) if isinstance(settings, Mapping) else None
        if value is None:
            value = _number(params.get(f"{name}_latency_ms"))
        if value is None:
            value = defaults.get(f"{name}_ms")
        limits[f"{name}_ms"] = value
    return limits


def key_metrics(summary: Any) -> dict[str, Optional[float]]:
    """The handful of numbers every table and chart shows, ``None`` where not available."""
    s = summary_dict(summary)
    metrics = s.get("metrics") or {}
    accuracy = s.get("accuracy") or {}
    return {
        "samples_per_second": _number(metrics.get("samples_per_second")),
        "tokens_per_second": _number(metrics.get("tokens_per_second")),
        "query_count": _number(metrics.get("query_count")),
        # Shown only where a query holds several samples (Offline: one query of them all).
        "samples_per_query": _number(metrics.get("samples_per_query")) if (_number(metrics.get("samples_per_query")) or 0) > 1 else None,
        "ttft_p50_ms": stat_percentile(metrics.get("ttft_ms"), 50),
        "ttft_p90_ms": stat_percentile(metrics.get("ttft_ms"), 90),
        "ttft_p99_ms": stat_percentile(metrics.get("ttft_ms"), 99),
        "tpot_p50_ms": stat_percentile(metrics.get("tpot_ms"), 50),
        "tpot_p90_ms": stat_percentile(metrics.get("tpot_ms"), 90),
        "tpot_p99_ms": stat_percentile(metrics.get("tpot_ms"), 99),
        "latency_p50_ms": stat_percentile(metrics.get("latency_ms"), 50),
        "latency_p90_ms": stat_percentile(metrics.get("latency_ms"), 90),
        "latency_p99_ms": stat_percentile(metrics.get("latency_ms"), 99),
        "rouge1": _number(accuracy.get("rouge1")) if isinstance(accuracy, Mapping) else None,
        "rouge2": _number(accuracy.get("rouge2")) if isinstance(accuracy, Mapping) else None,
        "rougeL": _number(accuracy.get("rougeL")) if isinstance(accuracy, Mapping) else None,
        "rougeLsum": _number(accuracy.get("rougeLsum")) if isinstance(accuracy, Mapping) else None,
        "exact_match": _number(accuracy.get("exact_match")) if isinstance(accuracy, Mapping) else None,
        # lm-eval stages (08_mmlu): the task's overall accuracy (0..1) and its standard error
        "lmeval_accuracy": _number(metrics.get("accuracy")) if s.get("lmeval") is not None else None,
        "lmeval_accuracy_stderr": _number(metrics.get("accuracy_stderr")) if s.get("lmeval") is not None else None,
    }


# ---------------------------------------------------------------------------------------------
# Drawing large series
# ---------------------------------------------------------------------------------------------

# The most points one line or scatter draws. Statistics, histograms and percentiles use every
# query; only what is drawn is thinned, so a million-query stage renders in seconds.
MAX_DRAWN_POINTS = 20_000


def curve_percentile(ordered: np.ndarray, p: float) -> float:
    """LoadGen's order-statistic percentile (:func:`mlnb.results.loadgen_percentile`). The empirical CDF
    drawn by :func:`cdf_points` rises through p % at exactly that value, so a marker at (value, p) sits
    on the curve's step."""
    from mlnb.results import loadgen_percentile

    return loadgen_percentile(ordered, p)


def cdf_points(ordered: np.ndarray, max_points: int = MAX_DRAWN_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(x, share at or below x) for a ``where="post"`` step plot of sorted values; beyond
    ``max_points`` the steps are taken at evenly spaced ranks (the last always kept), so the drawn
    curve is within 1/max_points of the full one."""
    n = ordered.size
    ranks = np.arange(n) if n <= max_points else np.unique(np.linspace(0, n - 1, max_points).astype(np.int64))
    return ordered[ranks], (ranks + 1) / n


def thin_points(x: np.ndarray, y: np.ndarray, max_points: int = MAX_DRAWN_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of (x, y), x sorted: in each of max_points / 2 equal runs of points the
    lowest and the highest y are kept, so spikes and dips stay visible."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x.size <= max_points:
        return x, y
    runs = max_points // 2
    bounds = np.linspace(0, x.size, runs + 1).astype(np.int64)
    starts = bounds[:-1]
    # per run, the index of the lowest and highest y: sort by (run, y) once
    run = np.repeat(np.arange(runs), np.diff(bounds))
    by_y = np.lexsort((y, run))
    ends = bounds[1:] - 1
    keep = np.unique(np.concatenate([by_y[starts], by_y[ends]]))
    return x[keep], y[keep]


# ---------------------------------------------------------------------------------------------
# Latency distribution
# ---------------------------------------------------------------------------------------------

# The histogram keeps to the data's range (plus this share of its span) so its shape stays
# readable; the CDF also shows a limit up to this many times the largest value. A limit beyond
# that is named in the legend as off scale, with an arrow at the right edge.
_HIST_LIMIT_MARGIN = 0.25
_CDF_LIMIT_FACTOR = 4.0


def latency_distribution(
    values_ms: Sequence[float] | np.ndarray,
    title: str,
    limit_ms: Optional[float] = None,
    percentiles: Sequence[float] = (50, 90, 99),
    floor_ms: Optional[float] = None,
    floor_label: str = "speed-of-light floor",
) -> Figure:
    """Histogram (left) and empirical CDF (right) of latencies in ms.

    Percentiles are marked on both panels. ``limit_ms`` is drawn as a red dashed line labelled
    "LoadGen limit" on every panel it fits on; where it lies far beyond the data the panel keeps
    the data's range and says the limit is off scale. ``floor_ms`` (the physical floor, see
    mlnb.perf.speed_of_light) is drawn as a green dash-dot line; the panels widen to show it.
    """
    values = np.asarray(values_ms, dtype=float).ravel()
    values = values[np.isfinite(values)]
    limit = _number(limit_ms)
    limit_label = f"LoadGen limit ({_fmt(limit, 'ms')})"
    with house_style():
        fig = _figure(11, 3.9)
        ax_hist, ax_cdf = fig.subplots(1, 2)
        fig.suptitle(title)
        if values.size == 0:
            _no_data(ax_hist)
            _no_data(ax_cdf)
            if limit is not None:
                ax_hist.axvline(limit, color=COLORS["limit"], linestyle="--", linewidth=1.8, label=limit_label)
                fig.legend(loc="outside lower center")
            return fig

        lo, hi = float(values.min()), float(values.max())
        span = hi - lo
        if span <= max(abs(hi), 1.0) * 1e-6:  # (nearly) constant: float noise would break the bins
            span = 0.0
        pad = span * 0.04 if span > 0 else max(abs(hi) * 0.05, 1e-3)
        data_lo = max(lo - pad, 0.0) if lo >= 0 else lo - pad
        data_hi = hi + pad

        bins = int(min(40, max(8, math.ceil(math.sqrt(values.size) * 2))))
        hist_range = (lo, hi) if span > 0 else (lo - pad, hi + pad)
        ax_hist.hist(values, bins=bins if span > 0 else 5, range=hist_range, color=COLORS["primary"], alpha=0.85, edgecolor="white", linewidth=0.5)
        ax_hist.set_xlabel("ms")
        ax_hist.set_ylabel("queries")
        ax_hist.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax_hist.set_title(f"Histogram ({values.size:,} {'query' if values.size == 1 else 'queries'})")

        ordered = np.sort(values)
        x, y = cdf_points(ordered)
        ax_cdf.step(x, y * 100, where="post", color=COLORS["primary"], linewidth=1.8)
        ax_cdf.set_ylim(0, 103)
        ax_cdf.set_xlabel("ms")
        ax_cdf.set_ylabel("% of queries at or below")
        ax_cdf.set_title("Cumulative distribution")

        shades = ["#374151", "#d97706", "#7c3aed", "#0891b2", "#be185d"]
        for i, p in enumerate(percentiles):
            value = curve_percentile(ordered, p)
            color = shades[i % len(shades)]
            ax_hist.axvline(value, color=color, linestyle=":", linewidth=1.8, label=f"p{p:g} = {_fmt(value, 'ms')}")
            ax_cdf.plot([value], [p], marker="o", color=color, markersize=7, linestyle="none", zorder=3)

        views = {
            ax_hist: (data_lo, data_hi, span * _HIST_LIMIT_MARGIN if span > 0 else pad * 5),
            ax_cdf: (data_lo, data_hi, max(hi, 1e-9) * (_CDF_LIMIT_FACTOR - 1)),
        }
        off_scale = 0
        for ax, (x_lo, x_hi, reach) in views.items():
            if limit is not None and limit <= x_hi + reach:
                x_hi = max(x_hi, limit + pad)
                x_lo = min(x_lo, max(limit - pad, 0.0))  # a limit below every query stays in view too
                ax.axvline(limit, color=COLORS["limit"], linestyle="--", linewidth=1.8, label=limit_label)
            elif limit is not None:
                off_scale += 1
                if ax is ax_hist:  # headroom above the bars for the note
                    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
                on_top = ax is ax_hist  # the CDF's lower right corner is always empty
                ax.annotate(
                    f"LoadGen limit {_fmt(limit, 'ms')} \u2192",
                    xy=(0.985, 0.96 if on_top else 0.04),
                    xycoords="axes fraction",
                    ha="right",
                    va="top" if on_top else "bottom",
                    color=COLORS["limit"],
                    fontsize=10,
                    fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": COLORS["limit"], "alpha": 0.92},
                    zorder=5,
                )
            floor = _number(floor_ms)
            if floor is not None:
                x_lo = min(x_lo, max(floor - pad, 0.0))
                label = f"{floor_label} ({_fmt(floor, 'ms')})" if ax is ax_hist else None
                ax.axvline(floor, color=COLORS["good"], linestyle="-.", linewidth=2.0, label=label)
            ax.set_xlim(x_lo, x_hi)
        handles, labels = ax_hist.get_legend_handles_labels()
        if limit is not None and limit_label not in labels:
            handles.append(matplotlib.lines.Line2D([], [], color=COLORS["limit"], linestyle="--", linewidth=1.8))
            labels.append(limit_label)
        if off_scale:
            where = "off scale" if off_scale == len(views) else "off scale on the histogram"
            labels = [f"{lab}, {where}" if lab == limit_label else lab for lab in labels]
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return fig


# ---------------------------------------------------------------------------------------------
# Throughput timeline
# ---------------------------------------------------------------------------------------------

_NICE_BINS_S = (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


def _bin_width_s(span_s: float) -> float:
    """1-s bins for runs of 15 s to 5 min; shorter runs get about 15 bins, longer ones about 300."""
    if 15 <= span_s <= 300:
        return 1.0
    wanted = span_s / (15 if span_s < 15 else 300)
    for width in _NICE_BINS_S:
        if width >= wanted:
            return float(width)
    return float(_NICE_BINS_S[-1])


def emitted_tokens(rows, at_ms: np.ndarray) -> tuple[np.ndarray, bool]:
    """Output tokens emitted by each time of ``at_ms`` (sorted), summed over the queries, and
    whether any query had a first-token time.

    A query's first token counts at its first-token time and the others evenly from then to its
    completion (the SUT records no time per token; LoadGen's TPOT assumes the same even spread).
    A query without a first-token time (Offline) counts all its tokens at completion. The sum is
    piecewise linear in time: each query adds a step of 1 and a slope of (n - 1) / (done - first)
    at its first token, and takes the slope off at completion, so sorted events and cumulative
    sums give it at every time in O((n + times) log n).
    """
    from mlnb.query_table import as_table, column

    table = as_table(rows)
    done = column(table, "done_ms")
    tokens = np.nan_to_num(column(table, "output_tokens"))
    first = column(table, "first_token_ms")
    ok = ~np.isnan(done) & (tokens > 0)
    done, tokens, first = done[ok], tokens[ok], first[ok]
    streamed = ~np.isnan(first) & (first < done) & (tokens > 1)
    # Steps: the first token of a streamed query; every token of the others at completion.
    step_at = np.concatenate([first[streamed], done[~streamed]])
    step_size = np.concatenate([np.ones(int(streamed.sum())), tokens[~streamed]])
    order = np.argsort(step_at)
    step_at, step_cum = step_at[order], np.concatenate([[0.0], np.cumsum(step_size[order])])
    total = step_cum[np.searchsorted(step_at, at_ms, side="right")]
    # Ramps: (n - 1) tokens spread over (first, done] at rate r; by time t a ramp has given
    # r * (min(t, done) - first) for t > first.
    f, d = first[streamed], done[streamed]
    r = (tokens[streamed] - 1) / (d - f)
    by_f, by_d = np.argsort(f), np.argsort(d)
    f_sorted, d_sorted = f[by_f], d[by_d]
    cum_r_f = np.concatenate([[0.0], np.cumsum(r[by_f])])
    cum_rf_f = np.concatenate([[0.0], np.cumsum((r * f)[by_f])])
    cum_r_d = np.concatenate([[0.0], np.cumsum(r[by_d])])
    cum_rd_d = np.concatenate([[0.0], np.cumsum((r * d)[by_d])])
    started = np.searchsorted(f_sorted, at_ms, side="right")
    ended = np.searchsorted(d_sorted, at_ms, side="right")
    # Started ramps contribute r * (t - f); the ended ones among them give back r * (t - d).
    total = total + (at_ms * cum_r_f[started] - cum_rf_f[started]) - (at_ms * cum_r_d[ended] - cum_rd_d[ended])
    return total, bool(streamed.any())


def throughput_timeline(rows, loadgen_tokens_per_s: Optional[float] = None) -> Figure:
    """Output tokens/s over time (bars) and queries in flight (line, right axis).

    ``rows`` are queries.jsonl records (a query table or dicts): ``issued_ms``, ``first_token_ms``,
    ``done_ms``, ``output_tokens`` from the SUT's own clock. Tokens are placed in time by
    :func:`emitted_tokens`. Bins are 1 s wide for runs of 15 s to 5 min and adapt otherwise.
    ``loadgen_tokens_per_s``, when given, is drawn as a dashed reference line.
    """
    from mlnb.query_table import as_table, column

    table = as_table(rows)
    issued_all, done_all = column(table, "issued_ms"), column(table, "done_ms")
    with house_style():
        fig = _figure(11, 3.6)
        ax = fig.subplots()
        ax.set_title("Throughput over time (SUT timestamps)")
        if np.isnan(done_all).all():
            _no_data(ax, "no completed queries")
            return fig
        issued = issued_all[~np.isnan(issued_all)]
        done_ms = done_all[~np.isnan(done_all)]
        start = float(min(issued.min() if issued.size else done_ms.min(), done_ms.min()))
        end = float(done_ms.max())
        span_s = max((end - start) / 1000.0, 1e-3)
        width = _bin_width_s(span_s)
        # Whole bins, then the run's end: a short tail joins the bin before it, so the last bar is
        # not an artefact of a half-empty bin.
        edges = np.arange(int(span_s // width) + 1) * width
        if span_s - edges[-1] >= width / 2 or edges.size == 1:
            edges = np.append(edges, span_s)
        else:
            edges[-1] = span_s
        emitted, streamed = emitted_tokens(table, start + edges * 1000.0)
        emitted[0] = 0.0  # nothing before the run's start; a token exactly at the end counts in the last bin
        emitted[-1] = float(np.nan_to_num(column(table, "output_tokens"))[~np.isnan(done_all)].clip(min=0).sum())
        sums = np.diff(emitted)
        widths = np.diff(edges)
        rate = sums / widths
        how = "first token at its time, the rest spread to completion" if streamed else "tokens at completion (no first-token times)"
        ax.bar(edges[:-1], rate, width=widths, align="edge", color=COLORS["primary"], alpha=0.8, edgecolor="white", linewidth=0.3, label=f"output tokens/s ({width:g}-s bins; {how})")
        ax.set_xlabel("seconds since the first query reached the SUT")
        ax.set_ylabel("output tokens / s")
        ax.set_xlim(0, edges[-1])
        ref = _number(loadgen_tokens_per_s)
        if ref is not None:
            ax.axhline(ref, color=COLORS["muted"], linestyle="--", linewidth=1.4, label=f"LoadGen: {_fmt(ref)} tokens/s")

        # Queries in flight: received by the SUT and not yet answered.
        starts = np.sort(issued_all[~np.isnan(issued_all)])
        ends = np.sort(done_all[~np.isnan(issued_all) & ~np.isnan(done_all)])
        grid = np.linspace(start, end, 600)
        in_flight = np.searchsorted(starts, grid, side="right") - np.searchsorted(ends, grid, side="right")
        twin = ax.twinx()
        twin.grid(False)
        twin.spines["right"].set_visible(True)
        twin.step((grid - start) / 1000.0, in_flight, where="post", color=COLORS["secondary"], linewidth=1.8, label="queries in flight")
        twin.set_ylabel("queries in flight", color="#b45309")
        twin.set_ylim(0, max(1, int(in_flight.max())) * 1.15)

        handles, labels = ax.get_legend_handles_labels()
        handles2, labels2 = twin.get_legend_handles_labels()
        ax.legend(handles + handles2, labels + labels2, loc="upper left", ncols=3, bbox_to_anchor=(0, -0.22), frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------
# Stage comparison
# ---------------------------------------------------------------------------------------------

_COMPARISON_PANELS = (
    ("tokens_per_second", "Tokens / s", "higher is better"),
    ("samples_per_second", "Samples / s", "higher is better"),
    ("ttft_p99_ms", "p99 TTFT (ms)", "lower is better"),
    ("tpot_p99_ms", "p99 TPOT (ms)", "lower is better"),
    ("latency_p90_ms", "p90 latency (ms)", "lower is better"),
)


def comparable_summaries(summaries: Sequence[Any]) -> list[dict]:
    """The summaries with at least one number :func:`stage_comparison` shows (so not accuracy
    runs, which would only add rows of "n/a")."""
    items = [summary_dict(s) for s in summaries]
    return [s for s in items if s and any(key_metrics(s).get(key) is not None for key, _, _ in _COMPARISON_PANELS)]


def stage_comparison(summaries: Sequence[Any]) -> Figure:
    """Horizontal bars per stage: tokens/s, samples/s, p99 TTFT, p99 TPOT, p90 latency.

    Bars are coloured by verdict and labelled with value and verdict; simulated stages are
    hatched and marked "(simulated)". Missing values read "n/a".
    """
    items = comparable_summaries(summaries)
    with house_style():
        n = max(1, len(items))
        row_height = 0.55 * n + 1.2
        fig = _figure(12.5, 2 * row_height + 0.4)
        axes = fig.subplots(2, 3, sharey=True)
        fig.suptitle("Stages compared (LoadGen's numbers)")
        flat = list(axes.ravel())
        legend_ax = flat[-1]
        if not items:
            for ax in flat:
                _no_data(ax, "no performance results")
            return fig

        labels = []
        for s in items:
            name = str(s.get("stage") or "?")
            if s.get("simulated"):
                name += "\n(simulated)"
            labels.append(name)
        y = np.arange(len(items))
        metrics = [key_metrics(s) for s in items]
        for ax, (key, title, hint) in zip(flat[:-1], _COMPARISON_PANELS):
            values = [m.get(key) for m in metrics]
            present = [v for v in values if v is not None]
            top = max(present) if present else 1.0
            top = top if top > 0 else 1.0
            for i, (value, s) in enumerate(zip(values, items)):
                verdict = str(s.get("verdict") or "")
                color = verdict_color(verdict)
                if value is None:
                    ax.text(top * 0.02, i, "n/a", va="center", ha="left", color=COLORS["muted"], fontsize=9.5)
                    continue
                ax.barh(
                    i,
                    value,
                    height=0.6,
                    color=color,
                    alpha=0.45 if s.get("simulated") else 0.85,
                    hatch="///" if s.get("simulated") else None,
                    edgecolor=color,
                    linewidth=1.0,
                )
                ax.text(value + top * 0.02, i, f"{_fmt(value)}  {verdict}".rstrip(), va="center", ha="left", fontsize=9.5, color=COLORS["text"])
            ax.set_title(f"{title}\n", loc="left")
            ax.text(0, 1.02, hint, transform=ax.transAxes, fontsize=9, color=COLORS["muted"], va="bottom")
            ax.set_xlim(0, top * 1.6)
            ax.grid(axis="y", visible=False)
        flat[0].set_yticks(y, labels)
        flat[3].set_yticks(y, labels)
        flat[0].set_ylim(len(items) - 0.5, -0.5)  # first stage on top

        legend_ax.axis("off")
        from matplotlib.patches import Patch

        handles = [
            Patch(facecolor=COLORS["good"], edgecolor=COLORS["good"], alpha=0.85, label="VALID / PASS"),
            Patch(facecolor=COLORS["bad"], edgecolor=COLORS["bad"], alpha=0.85, label="INVALID / FAIL"),
            Patch(facecolor=COLORS["neutral"], edgecolor=COLORS["neutral"], alpha=0.85, label="no verdict"),
            Patch(facecolor="white", edgecolor=COLORS["muted"], hatch="///", label="simulated: no model ran"),
        ]
        legend_ax.legend(handles=handles, loc="center left", fontsize=10.5, title="Bar colour = verdict", title_fontsize=10.5)
    return fig
