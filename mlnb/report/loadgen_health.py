"""Load-generator health: did LoadGen (the client) or the system under test set the pace?

Per query, from queries.jsonl (SUT clock, ms since the first query reached the SUT) and the fields
the harness merges from LoadGen's trace (``scheduled_ms``, ``loadgen_issue_delay_ms``,
``loadgen_latency_ms``; see mlnb/harness/loadgen_trace.py):

- issue delay: scheduled time -> LoadGen starts issuing the query (LoadGen's own number);
- lag to the SUT: scheduled time -> the SUT received the query
  = LoadGen's latency - the SUT's own end-to-end time (both end at the same completion call);
- send lag (HTTP backends that write ``sent_ms``, same clock as ``issued_ms``): SUT receipt ->
  the request left the client;
- TTFT from the scheduled time (MLPerf's origin), from the SUT's receipt, and from the send time.

Offered rate: LoadGen's target (Server) or scheduled rate; achieved: LoadGen's completed rate and
the rate at which the SUT received queries. The run is flagged as client-limited when the lag to
the SUT has a p99 above :data:`LAG_P99_LIMIT_MS`, or when the SUT received queries at under
:data:`RATE_SHORTFALL` of the rate LoadGen scheduled (else offered) while it sat idle more than
:data:`IDLE_SHARE` of the time, and a Poisson process at that rate would be so slow with a chance under
:data:`SHORTFALL_CHANCE` (a handful of queries proves nothing),
or when LoadGen itself fell behind its schedule (issue delay p99 above :data:`LOADGEN_LAG_P99_LIMIT_MS`;
the flag names the first :data:`LAG_WINDOW_S` window where that happened and its scheduled rate).

Every figure is computed over all queries with array operations (sorts, masks, cumulative sums):
a stage of a million queries is assessed in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from mlnb.query_table import as_table, column
from mlnb.report.plots import COLORS, cdf_points, house_style, thin_points
from mlnb.report.plots import new_figure as _figure
from mlnb.report.plots import number as _number

LAG_P99_LIMIT_MS = 50.0
# LoadGen's own lag: scheduled time -> LoadGen starts issuing the query. 1 ms because (a) a LoadGen that
# keeps up issues a query about 0.1 ms after its scheduled time (median measured at 100 to 500 queries/s
# on a 2-core CPU machine, README), so a p99 ten times that is LoadGen, or the CPU it shares, falling
# behind, not timer jitter; (b) it is 0.2 % of the tightest MLPerf LLM TTFT limit (500 ms, Interactive),
# so lag under it cannot move a verdict; (c) at 1,000 queries/s and more it spans a mean arrival gap or
# more, so queries leave in bursts rather than as the scheduled Poisson arrivals.
LOADGEN_LAG_P99_LIMIT_MS = 1.0
LAG_WINDOW_S = 1.0  # windows in which the start of LoadGen's lag is looked for
RATE_SHORTFALL = 0.9
SHORTFALL_CHANCE = 1e-3  # below this, arrivals that slow are the client's doing, not the Poisson draw
IDLE_SHARE = 0.2
# The HTTP client's own limit (summary engine.client_load, mlnb/backends/openai_load.py): flagged when its
# event loop ran behind its timers more than a quarter of the time. A loop that keeps up is late by well
# under a millisecond per 10 ms timer (a few % at most, even on a shared CPU); a quarter means chunks
# routinely waited to be read, so the client's delay is inside the measured TTFT and TPOT.
CLIENT_LOOP_LAG_SHARE_LIMIT = 0.25
SENT_FIELDS = ("sent_ms", "request_sent_ms")  # HTTP backends: when the request left the client


@dataclass
class Health:
    scenario: str
    queries: int
    offered_qps: Optional[float] = None
    offered_source: str = ""
    scheduled_qps: Optional[float] = None
    completed_qps: Optional[float] = None
    received_qps: Optional[float] = None
    sut_idle_share: Optional[float] = None
    issue_delay_ms: Optional[np.ndarray] = None
    lag_to_sut_ms: Optional[np.ndarray] = None
    send_lag_ms: Optional[np.ndarray] = None
    ttft_scheduled_ms: Optional[np.ndarray] = None
    ttft_received_ms: Optional[np.ndarray] = None
    ttft_sent_ms: Optional[np.ndarray] = None
    scheduled_at_ms: Optional[np.ndarray] = None
    loadgen_lag_p99_ms: Optional[float] = None  # set when LoadGen's own issue delay is flagged
    client_load: Optional[dict] = None  # the HTTP client's CPU per chunk and loop lag (engine.client_load)
    flags: list[str] = field(default_factory=list)
    has_trace: bool = False

    @property
    def client_limited(self) -> bool:
        return bool(self.flags)


def _sent(table) -> np.ndarray:
    """When each request left the client: the first of :data:`SENT_FIELDS` a row has, else NaN."""
    sent = np.full(len(table), np.nan)
    for key in SENT_FIELDS:
        sent = np.where(np.isnan(sent), column(table, key), sent)
    return sent


def idle_share(rows) -> Optional[float]:
    """Share of the SUT's busy span (first receipt to last completion) with no query in flight.

    The union of the query spans, swept in start order: a new stretch of busy time begins where a
    query starts after every earlier one has ended (running maximum of the ends)."""
    table = as_table(rows)
    a, b = column(table, "issued_ms"), column(table, "done_ms")
    keep = ~np.isnan(a) & ~np.isnan(b) & (b >= a)
    a, b = a[keep], b[keep]
    if not a.size:
        return None
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    start, end = a[0], b.max()
    if end <= start:
        return None
    reach = np.maximum.accumulate(b)
    first = np.concatenate([[True], a[1:] > reach[:-1]])  # a stretch of busy time starts here
    last = np.concatenate([first[1:], [True]])  # ... and ends here
    covered = float((reach[last] - a[first]).sum())
    return max(0.0, 1.0 - covered / (end - start))


def late_start(scheduled_ms: np.ndarray, delay_ms: np.ndarray, limit_ms: float) -> Optional[tuple[float, float]]:
    """The first window of :data:`LAG_WINDOW_S` (in scheduled time) whose issue-delay p99 exceeds
    ``limit_ms``: (its start in s since the first scheduled query, the scheduled rate in it, queries/s)."""
    if not scheduled_ms.size:
        return None
    t = (scheduled_ms - scheduled_ms.min()) / 1e3
    window = np.floor(t / LAG_WINDOW_S).astype(np.int64)
    order = np.lexsort((delay_ms, window))
    window, delay = window[order], delay_ms[order]
    edges = np.flatnonzero(np.diff(window)) + 1
    begins, ends = np.concatenate([[0], edges]), np.concatenate([edges, [window.size]])
    sizes = ends - begins
    # p99 per window, as an order statistic (the sorted value at rank ceil(0.99 n) - 1)
    p99 = delay[begins + np.maximum(np.ceil(0.99 * sizes).astype(np.int64) - 1, 0)]
    over = np.flatnonzero(p99 > limit_ms)
    if not over.size:
        return None
    k = over[0]
    span = min(LAG_WINDOW_S, float(t.max()) - window[begins[k]] * LAG_WINDOW_S) or LAG_WINDOW_S
    return float(window[begins[k]] * LAG_WINDOW_S), float(sizes[k] / span)


def assess(s: Mapping[str, Any], rows) -> Health:
    table = as_table(rows)
    scenario = str(s.get("scenario") or "")
    lg = s.get("loadgen") or {}
    settings = lg.get("settings") or {}
    metrics = s.get("metrics") or {}
    issued, done_ms, first = column(table, "issued_ms"), column(table, "done_ms"), column(table, "first_token_ms")
    done = ~np.isnan(done_ms)
    h = Health(scenario=scenario, queries=len(table))
    target = _number(settings.get("target_qps")) if scenario in ("Server", "Interactive") else None
    h.scheduled_qps = _number(lg.get("scheduled_samples_per_second"))
    h.offered_qps, h.offered_source = (target, "LoadGen target_qps") if target else (h.scheduled_qps, "LoadGen scheduled rate")
    h.completed_qps = _number(metrics.get("samples_per_second"))
    received = issued[~np.isnan(issued)]
    if received.size > 1 and received.max() > received.min() and scenario != "Offline":
        h.received_qps = (received.size - 1) / ((received.max() - received.min()) / 1e3)
    h.sut_idle_share = idle_share(table[done] if len(table) else table)
    client_load = (s.get("engine") or {}).get("client_load")
    h.client_load = client_load if isinstance(client_load, dict) else None

    latency = column(table, "loadgen_latency_ms")
    traced = done & ~np.isnan(latency)
    if traced.any():
        h.has_trace = True
        h.issue_delay_ms = column(table, "loadgen_issue_delay_ms")[traced]
        h.lag_to_sut_ms = latency[traced] - (done_ms[traced] - issued[traced])
        h.scheduled_at_ms = column(table, "scheduled_ms")[traced]
        with_first = ~np.isnan(first[traced])
        if with_first.any():
            h.ttft_received_ms = first[traced][with_first] - issued[traced][with_first]
            h.ttft_scheduled_ms = h.ttft_received_ms + h.lag_to_sut_ms[with_first]
    sent_ms = _sent(table)
    sent = done & ~np.isnan(sent_ms)
    if sent.any():
        h.send_lag_ms = sent_ms[sent] - issued[sent]
        firsts = sent & ~np.isnan(first)
        if firsts.any():
            h.ttft_sent_ms = first[firsts] - sent_ms[firsts]

    issue_delay = h.issue_delay_ms[~np.isnan(h.issue_delay_ms)] if h.issue_delay_ms is not None else None
    if issue_delay is not None and issue_delay.size and scenario != "Offline":
        p99 = float(np.percentile(issue_delay, 99))
        if p99 > LOADGEN_LAG_P99_LIMIT_MS:
            ok = ~np.isnan(h.issue_delay_ms) & ~np.isnan(h.scheduled_at_ms)
            where = late_start(h.scheduled_at_ms[ok], h.issue_delay_ms[ok], LOADGEN_LAG_P99_LIMIT_MS)
            rate = f"{h.scheduled_qps:.4g} queries/s scheduled" if h.scheduled_qps else "its scheduled rate"
            start = (f"; it first fell behind {where[0]:.0f} s into the run, in a {LAG_WINDOW_S:g}-s window scheduled at "
                     f"{where[1]:.4g} queries/s") if where else ""
            h.loadgen_lag_p99_ms = p99
            h.flags.append(
                f"LoadGen did not keep its own schedule: p99 delay from a query's scheduled time to LoadGen issuing it is "
                f"{p99:.2f} ms (limit {LOADGEN_LAG_P99_LIMIT_MS:g} ms) at {rate}{start}. One LoadGen process on this CPU "
                "cannot issue this rate on time; LoadGen's own summary does not report it"
            )
    if h.lag_to_sut_ms is not None and h.lag_to_sut_ms.size:
        p99 = float(np.percentile(h.lag_to_sut_ms, 99))
        if p99 > LAG_P99_LIMIT_MS:
            h.flags.append(
                f"queries reached the SUT late: p99 lag from LoadGen's scheduled time is {p99:.1f} ms "
                f"(limit {LAG_P99_LIMIT_MS:g} ms); that delay counts in LoadGen's TTFT and latency"
            )
    if h.send_lag_ms is not None and h.send_lag_ms.size:
        p99 = float(np.percentile(h.send_lag_ms, 99))
        if p99 > LAG_P99_LIMIT_MS:
            h.flags.append(f"requests waited in the client before they were sent: p99 {p99:.1f} ms (limit {LAG_P99_LIMIT_MS:g} ms)")
    lag_share = _number((h.client_load or {}).get("loop_lag_share"))
    if lag_share is not None and lag_share > CLIENT_LOOP_LAG_SHARE_LIMIT:
        h.flags.append(
            f"the HTTP client's event loop ran behind its timers {lag_share:.0%} of the time (limit "
            f"{CLIENT_LOOP_LAG_SHARE_LIMIT:.0%}): streamed chunks waited to be read, and that wait is in TTFT and TPOT"
        )
    # Against what LoadGen scheduled when it says (its Poisson draw), else what was offered; and only when
    # a Poisson process at that rate would almost never have been that slow: a few queries prove nothing.
    reference, named = (h.scheduled_qps, "scheduled by LoadGen") if h.scheduled_qps else (h.offered_qps, "offered")
    if reference and h.received_qps and h.sut_idle_share is not None and received.size > 1:
        span_s = (received.max() - received.min()) / 1e3
        chance = slower_arrivals_chance(received.size - 1, span_s, reference)
        if h.received_qps < RATE_SHORTFALL * reference and h.sut_idle_share > IDLE_SHARE and chance < SHORTFALL_CHANCE:
            h.flags.append(
                f"the SUT received {h.received_qps:.3g} queries/s of {reference:.3g} {named} while idle "
                f"{h.sut_idle_share:.0%} of the time (a Poisson process at {reference:.3g}/s is this slow with "
                f"probability {chance:.1e}): the client, not the SUT, set the pace"
            )
    return h


def slower_arrivals_chance(gaps: int, span_s: float, rate: float) -> float:
    """P(``gaps`` Poisson inter-arrival gaps at ``rate`` per second last ``span_s`` or longer).

    The sum of k gaps is Gamma(k, rate), and P(Gamma(k, rate) > t) = P(Poisson(rate * t) < k): summed
    in log space, so it holds for a million gaps.
    """
    mean = rate * span_s
    if gaps < 1 or mean <= 0:
        return 1.0
    i = np.arange(gaps, dtype=float)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(i[1:]))])
    logs = -mean + i * np.log(mean) - log_factorial
    top = float(logs.max())
    return float(min(1.0, np.exp(top) * np.exp(logs - top).sum()))


def _pcts(values: Optional[np.ndarray]) -> list[str]:
    from mlnb.report.markup import fmt_value

    if values is None or not values.size:
        return ["\u2014"] * 5
    return [fmt_value(float(np.percentile(values, p))) for p in (50, 90, 99)] + [fmt_value(float(values.max())), str(values.size)]


def health_html(h: Health, simulated: bool = False) -> str:
    from mlnb.report.markup import fmt_value, macro

    shortfall = None
    if h.offered_qps and h.completed_qps and h.completed_qps < RATE_SHORTFALL * h.offered_qps and not h.flags:
        shortfall = (h.completed_qps, h.offered_qps, h.sut_idle_share)
    rate_rows = [
        ["offered", fmt_value(h.offered_qps), h.offered_source or "\u2014"],
        ["scheduled by LoadGen", fmt_value(h.scheduled_qps), "LoadGen's scheduled samples per second"],
        ["received by the SUT", fmt_value(h.received_qps), "(queries - 1) / span of SUT receipt times"],
        ["completed", fmt_value(h.completed_qps), "LoadGen's samples per second"],
        ["SUT idle share", f"{h.sut_idle_share:.0%}" if h.sut_idle_share is not None else "\u2014", "time with no query in flight, first receipt to last completion"],
    ]
    if h.scenario == "Offline":
        rate_rows[0] = ["offered", "all at once", "Offline: one query holding every sample"]
    lag_rows = [
        ["scheduled \u2192 LoadGen issues", *_pcts(h.issue_delay_ms)],
        ["scheduled \u2192 SUT receives", *_pcts(h.lag_to_sut_ms)],
        ["SUT receives \u2192 request sent", *_pcts(h.send_lag_ms)],
        ["TTFT from scheduled time (MLPerf)", *_pcts(h.ttft_scheduled_ms)],
        ["TTFT from SUT receipt", *_pcts(h.ttft_received_ms)],
        ["TTFT from send time (vLLM bench, AIPerf)", *_pcts(h.ttft_sent_ms)],
    ]
    lag_rows = [r for r in lag_rows if r[-1] != "\u2014"]
    has_trace = bool(h.has_trace or h.send_lag_ms is not None)
    return str(macro("health.html.j2", "health", simulated, list(h.flags), has_trace, LAG_P99_LIMIT_MS, shortfall, has_trace,
                     rate_rows, lag_rows, _client_load_rows(h.client_load) if h.client_load else None, h.send_lag_ms is None))


def _client_load_rows(load: dict) -> list[list[str]]:
    from mlnb.report.markup import fmt_value

    def share(value) -> str:
        return f"{value:.1%}" if isinstance(value, (int, float)) else "\u2014"

    lag = load.get("loop_lag_ms") or {}
    rows = [
        ["streamed chunks", fmt_value(load.get("chunks")), "chunks that carried a token"],
        ["event loop thread CPU, s per 1,000 chunks", fmt_value(load.get("loop_cpu_s_per_1000_chunks")),
         f"{fmt_value(load.get('loop_thread_cpu_s'))} s, {share(load.get('loop_thread_cpu_share'))} of one core"],
        ["process CPU, s per 1,000 chunks", fmt_value(load.get("process_cpu_s_per_1000_chunks")),
         "client, LoadGen and harness threads together"],
        ["event loop lag share", share(load.get("loop_lag_share")),
         f"time behind its timers; lag p50 / p99 / max {fmt_value(lag.get('p50'))} / {fmt_value(lag.get('p99'))} / "
         f"{fmt_value(lag.get('max'))} ms (flag above {CLIENT_LOOP_LAG_SHARE_LIMIT:.0%})"],
    ]
    if load.get("workers"):
        rows.append(["client worker processes", fmt_value(load.get("workers")),
                     "CPU summed over their loops; CPU share and lag share are the busiest loop's"])
    handoff = load.get("handoff_ms") or {}
    if handoff:
        rows.append(["worker \u2192 LoadGen hand-over, ms p99", fmt_value(handoff.get("p99")),
                     f"first token, from its arrival in a worker to FirstTokenComplete: inside LoadGen's TTFT; "
                     f"p50 / max {fmt_value(handoff.get('p50'))} / {fmt_value(handoff.get('max'))} ms"])
    return rows


def health_figure(h: Health):
    """Lag to the SUT over the run (left) and TTFT CDFs from each origin (right); None without a trace."""
    if h.lag_to_sut_ms is None or not h.lag_to_sut_ms.size or np.ptp(h.scheduled_at_ms) <= 0:
        return None  # Offline: one query, one scheduled time; the tables say it all
    with house_style():
        fig = _figure(11, 4.0)
        ax_lag, ax_cdf = fig.subplots(1, 2)
        fig.suptitle("Load-generator lag and TTFT by clock origin")
        t = (h.scheduled_at_ms - h.scheduled_at_ms.min()) / 1e3
        # Drawn: at most MAX_DRAWN_POINTS per series, each run's lowest and highest kept (thin_points).
        ax_lag.plot(*thin_points(t, h.lag_to_sut_ms), marker="o", markersize=3.5, linestyle="-", linewidth=0.8, color=COLORS["primary"], label="scheduled \u2192 SUT receives")
        ax_lag.plot(*thin_points(t, h.issue_delay_ms), marker=".", markersize=3, linestyle="none", color=COLORS["secondary"], label="scheduled \u2192 LoadGen issues")
        ax_lag.axhline(LAG_P99_LIMIT_MS, color=COLORS["limit"], linestyle="--", linewidth=1.4, label=f"flag above {LAG_P99_LIMIT_MS:g} ms (p99)")
        ax_lag.set_xlabel("scheduled time, s since the first query")
        ax_lag.set_ylabel("lag, ms")
        ax_lag.set_ylim(0, max(LAG_P99_LIMIT_MS, float(h.lag_to_sut_ms.max())) * 1.1)
        ax_lag.set_title("Lag per query")
        ax_lag.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, fontsize=8.5)
        # Distinct widths, dashes and markers: with little lag the curves coincide, and each must stay visible.
        series = [("from scheduled time", h.ttft_scheduled_ms, COLORS["primary"], dict(linewidth=4.0, alpha=0.55)),
                  ("from SUT receipt", h.ttft_received_ms, COLORS["secondary"], dict(linewidth=1.6, linestyle="--", marker="o", markersize=4)),
                  ("from send time", h.ttft_sent_ms, "#7c3aed", dict(linewidth=1.2, linestyle=":", marker="x", markersize=5))]
        drawn = False
        for label, values, color, style in series:
            if values is not None and values.size:
                x, share = cdf_points(np.sort(values))
                # Markers on a few points only: a large stage draws up to 20,000 points per curve.
                marks = dict(markevery=max(1, x.size // 24)) if "marker" in style else {}
                ax_cdf.step(x, share * 100, where="post", color=color, label=f"TTFT {label}", **style, **marks)
                drawn = True
        if drawn:
            ax_cdf.set_xlabel("ms")
            ax_cdf.set_ylabel("% of queries at or below")
            ax_cdf.set_ylim(0, 103)
            ax_cdf.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, fontsize=8.5)
            ax_cdf.set_title("TTFT by origin")
        else:
            ax_cdf.axis("off")
            ax_cdf.text(0.5, 0.5, "no first-token times\n(Offline reports none)", ha="center", va="center", color=COLORS["muted"], transform=ax_cdf.transAxes)
    return fig
