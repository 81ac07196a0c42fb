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
:data:`RATE_SHORTFALL` of the offered rate while it sat idle more than :data:`IDLE_SHARE` of the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from mlnb.report.plots import COLORS, _figure, _number, house_style

LAG_P99_LIMIT_MS = 50.0
RATE_SHORTFALL = 0.9
IDLE_SHARE = 0.2
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
    flags: list[str] = field(default_factory=list)
    has_trace: bool = False

    @property
    def client_limited(self) -> bool:
        return bool(self.flags)


def _sent(row: Mapping[str, Any]) -> Optional[float]:
    for key in SENT_FIELDS:
        value = _number(row.get(key))
        if value is not None:
            return value
    return None


def idle_share(rows: Sequence[Mapping[str, Any]]) -> Optional[float]:
    """Share of the SUT's busy span (first receipt to last completion) with no query in flight."""
    spans = [(_number(r.get("issued_ms")), _number(r.get("done_ms"))) for r in rows]
    spans = sorted((a, b) for a, b in spans if a is not None and b is not None and b >= a)
    if not spans:
        return None
    start, end = spans[0][0], max(b for _, b in spans)
    if end <= start:
        return None
    covered, cur_a, cur_b = 0.0, spans[0][0], spans[0][1]
    for a, b in spans[1:]:
        if a > cur_b:
            covered += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    covered += cur_b - cur_a
    return max(0.0, 1.0 - covered / (end - start))


def assess(s: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> Health:
    scenario = str(s.get("scenario") or "")
    lg = s.get("loadgen") or {}
    settings = lg.get("settings") or {}
    metrics = s.get("metrics") or {}
    done = [r for r in rows if _number(r.get("done_ms")) is not None]
    h = Health(scenario=scenario, queries=len(rows))
    target = _number(settings.get("target_qps")) if scenario in ("Server", "Interactive") else None
    h.scheduled_qps = _number(lg.get("scheduled_samples_per_second"))
    h.offered_qps, h.offered_source = (target, "LoadGen target_qps") if target else (h.scheduled_qps, "LoadGen scheduled rate")
    h.completed_qps = _number(metrics.get("samples_per_second"))
    received = sorted(_number(r.get("issued_ms")) for r in rows if _number(r.get("issued_ms")) is not None)
    if len(received) > 1 and received[-1] > received[0] and scenario != "Offline":
        h.received_qps = (len(received) - 1) / ((received[-1] - received[0]) / 1e3)
    h.sut_idle_share = idle_share(done)

    traced = [r for r in done if _number(r.get("loadgen_latency_ms")) is not None]
    if traced:
        h.has_trace = True
        h.issue_delay_ms = np.array([float(r["loadgen_issue_delay_ms"]) for r in traced])
        h.lag_to_sut_ms = np.array([float(r["loadgen_latency_ms"]) - (float(r["done_ms"]) - float(r["issued_ms"])) for r in traced])
        h.scheduled_at_ms = np.array([float(r["scheduled_ms"]) for r in traced])
        with_first = [(r, lag) for r, lag in zip(traced, h.lag_to_sut_ms) if _number(r.get("first_token_ms")) is not None]
        if with_first:
            h.ttft_received_ms = np.array([float(r["first_token_ms"]) - float(r["issued_ms"]) for r, _ in with_first])
            h.ttft_scheduled_ms = h.ttft_received_ms + np.array([lag for _, lag in with_first])
    sent = [(r, _sent(r)) for r in done]
    sent = [(r, t) for r, t in sent if t is not None]
    if sent:
        h.send_lag_ms = np.array([t - float(r["issued_ms"]) for r, t in sent])
        firsts = [(r, t) for r, t in sent if _number(r.get("first_token_ms")) is not None]
        if firsts:
            h.ttft_sent_ms = np.array([float(r["first_token_ms"]) - t for r, t in firsts])

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
    if h.offered_qps and h.received_qps and h.sut_idle_share is not None:
        if h.received_qps < RATE_SHORTFALL * h.offered_qps and h.sut_idle_share > IDLE_SHARE:
            h.flags.append(
                f"the SUT received {h.received_qps:.3g} queries/s of {h.offered_qps:.3g} offered while idle "
                f"{h.sut_idle_share:.0%} of the time: the client, not the SUT, set the pace"
            )
    return h


def _pcts(values: Optional[np.ndarray]) -> list[str]:
    from mlnb.report.stage_view import fmt_value

    if values is None or not values.size:
        return ["\u2014"] * 5
    return [fmt_value(float(np.percentile(values, p))) for p in (50, 90, 99)] + [fmt_value(float(values.max())), str(values.size)]


def health_html(h: Health, simulated: bool = False) -> str:
    from mlnb.report.stage_view import _table, esc, fmt_value, simulated_tag

    tag = simulated_tag() if simulated else ""
    out = [f"<h2>Load-generator health{tag}</h2>"]
    if h.flags:
        items = "".join(f"<li>{esc(f)}</li>" for f in h.flags)
        out.append(f'<div class="banner bad"><div class="big">CLIENT-LIMITED</div><p>The load generator, not the SUT, limited this run:</p><ul>{items}</ul></div>')
    elif h.has_trace or h.send_lag_ms is not None:
        out.append(
            f'<div class="info"><b>The load generator kept up.</b> Lag from the scheduled time to the SUT stayed under '
            f"{LAG_P99_LIMIT_MS:g} ms at p99 and the SUT was not starved of queries.</div>"
        )
    if h.offered_qps and h.completed_qps and h.completed_qps < RATE_SHORTFALL * h.offered_qps and not h.flags:
        idle = f", idle {h.sut_idle_share:.0%} of the time" if h.sut_idle_share is not None else ""
        out.append(
            f'<div class="note"><b>The SUT set the pace:</b> it completed {fmt_value(h.completed_qps)} queries/s of '
            f"{fmt_value(h.offered_qps)} offered{idle}; queries queued in the SUT, and that wait is in LoadGen's TTFT.</div>"
        )
    if not (h.has_trace or h.send_lag_ms is not None):
        out.append('<p class="muted">No LoadGen trace in this stage (queries.jsonl has no schedule fields): only rates are shown.</p>')
    rate_rows = [
        ["offered", fmt_value(h.offered_qps), esc(h.offered_source or "\u2014")],
        ["scheduled by LoadGen", fmt_value(h.scheduled_qps), "LoadGen's scheduled samples per second"],
        ["received by the SUT", fmt_value(h.received_qps), "(queries - 1) / span of SUT receipt times"],
        ["completed", fmt_value(h.completed_qps), "LoadGen's samples per second"],
        ["SUT idle share", f"{h.sut_idle_share:.0%}" if h.sut_idle_share is not None else "\u2014", "time with no query in flight, first receipt to last completion"],
    ]
    if h.scenario == "Offline":
        rate_rows[0] = ["offered", "all at once", "Offline: one query holding every sample"]
    out.append(_table(["queries / s", "value", "from"], rate_rows, numeric=(1,)))
    lag_rows = [
        ["scheduled \u2192 LoadGen issues", *_pcts(h.issue_delay_ms)],
        ["scheduled \u2192 SUT receives", *_pcts(h.lag_to_sut_ms)],
        ["SUT receives \u2192 request sent", *_pcts(h.send_lag_ms)],
        ["TTFT from scheduled time (MLPerf)", *_pcts(h.ttft_scheduled_ms)],
        ["TTFT from SUT receipt", *_pcts(h.ttft_received_ms)],
        ["TTFT from send time (vLLM bench, AIPerf)", *_pcts(h.ttft_sent_ms)],
    ]
    lag_rows = [r for r in lag_rows if r[-1] != "\u2014"]
    if lag_rows:
        out.append(_table(["ms", "p50", "p90", "p99", "max", "queries"], lag_rows, numeric=(1, 2, 3, 4, 5)))
    if h.send_lag_ms is None:
        out.append('<p class="sub">No send times: this backend runs in-process (or its queries.jsonl has no <code>sent_ms</code>), so TTFT from the send time equals TTFT from SUT receipt.</p>')
    return "".join(out)


def health_figure(h: Health):
    """Lag to the SUT over the run (left) and TTFT CDFs from each origin (right); None without a trace."""
    if h.lag_to_sut_ms is None or not h.lag_to_sut_ms.size or np.ptp(h.scheduled_at_ms) <= 0:
        return None  # Offline: one query, one scheduled time; the tables say it all
    with house_style():
        fig = _figure(11, 4.0)
        ax_lag, ax_cdf = fig.subplots(1, 2)
        fig.suptitle("Load-generator lag and TTFT by clock origin")
        order = np.argsort(h.scheduled_at_ms)
        t = (h.scheduled_at_ms[order] - h.scheduled_at_ms.min()) / 1e3
        ax_lag.plot(t, h.lag_to_sut_ms[order], marker="o", markersize=3.5, linestyle="-", linewidth=0.8, color=COLORS["primary"], label="scheduled \u2192 SUT receives")
        ax_lag.plot(t, h.issue_delay_ms[order], marker=".", markersize=3, linestyle="none", color=COLORS["secondary"], label="scheduled \u2192 LoadGen issues")
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
                ordered = np.sort(values)
                ax_cdf.step(ordered, np.arange(1, ordered.size + 1) / ordered.size * 100, where="post", color=color, label=f"TTFT {label}", **style)
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
