"""One point of the throughput-interactivity curve, read from a finished point's run folder.

Per point: system output tokens/s (LoadGen's completed tokens/s), per-user speed = 1000 / p90 TPOT
(MLPerf Endpoints' definition), p90 and p99 TTFT, p99 TPOT, the LoadGen verdict, goodput (requests
per second that met the user's TTFT and TPOT limits, the scenario's by default) and whether the
point saturated the system (its achieved rate fell below the offered one, or requests failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from mlnb.fileio import read_json
from mlnb.results import load_queries

CSV_FIELDS = (
    "point", "role", "setting", "repeat", "target_qps", "concurrency", "status", "verdict", "queries", "offered_qps",
    "achieved_qps", "mean_in_flight", "saturated",
    "output_tokens_per_s", "per_user_tokens_per_s", "ttft_p90_ms", "ttft_p99_ms", "tpot_p90_ms", "tpot_p99_ms",
    "goodput_rps", "goodput_share", "slo_ttft_ms", "slo_tpot_ms", "pareto", "run_dir", "reasons",
)


def _pct(stats: Optional[dict], key: str) -> Optional[float]:
    return ((stats or {}).get("percentiles") or {}).get(key)


def query_ttft_tpot(row: dict) -> tuple[Optional[float], Optional[float]]:
    """A query's TTFT as LoadGen counts it (from the scheduled time) and its TPOT, in ms.

    LoadGen's own latency runs from the scheduled time to the completion; the SUT's first-token to
    completion span is subtracted from it. Without LoadGen's trace the SUT's own TTFT is used.
    """
    first, done, issued = row.get("first_token_ms"), row.get("done_ms"), row.get("issued_ms")
    if first is None or done is None or row.get("error"):
        return None, None
    latency = row.get("loadgen_latency_ms")
    ttft = latency - (done - first) if latency is not None else first - issued
    tokens = row.get("output_tokens") or 0
    tpot = (done - first) / (tokens - 1) if tokens > 1 else None
    return ttft, tpot


def rates_from_queries(rows: Sequence[dict]) -> tuple[Optional[float], Optional[float]]:
    """(offered, achieved) queries per second on LoadGen's clock.

    Offered: the schedule's rate. Achieved: the queries over the time from the first scheduled
    query to the last completion, less the fastest query's latency (one latency is no backlog).
    Below capacity the two agree once the run is long against the latency; past it the backlog
    grows for the whole run and the achieved rate falls to the system's pace. Completions that
    bunch up (a batch finishing together) do not move it, unlike a rate taken between completions.
    """
    timed = [r for r in rows if r.get("scheduled_ms") is not None and r.get("loadgen_latency_ms") is not None
             and not r.get("error")]
    if len(timed) < 3:
        return None, None
    scheduled = [r["scheduled_ms"] for r in timed]
    span = max(scheduled) - min(scheduled)
    busy = max(r["scheduled_ms"] + r["loadgen_latency_ms"] for r in timed) - min(scheduled)
    busy -= min(r["loadgen_latency_ms"] for r in timed)
    offered = (len(timed) - 1) * 1000 / span if span > 0 else None
    achieved = (len(timed) - 1) * 1000 / busy if busy > 0 else None
    return offered, achieved


MIN_QUERIES_FOR_SATURATION = 20


def read_point(stage_dir: Path, slo_ttft_ms: Optional[float], slo_tpot_ms: Optional[float],
               saturation_margin: float) -> dict[str, Any]:
    """The curve's numbers for one finished stage folder (summary.json and queries.jsonl)."""
    summary = read_json(stage_dir / "summary.json")
    metrics, loadgen = summary.get("metrics") or {}, summary.get("loadgen") or {}
    settings = loadgen.get("settings") or {}
    ttft_limit = slo_ttft_ms or settings.get("ttft_limit_ms")
    tpot_limit = slo_tpot_ms or settings.get("tpot_limit_ms")
    rows = load_queries(stage_dir)
    met = 0
    for row in rows:
        ttft, tpot = query_ttft_tpot(row)
        if ttft is None:
            continue
        if (ttft_limit is None or ttft <= ttft_limit) and (tpot_limit is None or tpot is None or tpot <= tpot_limit):
            met += 1
    offered, achieved = rates_from_queries(rows)
    completed_qps = metrics.get("samples_per_second")
    share = met / len(rows) if rows else None
    errors = (summary.get("sut") or {}).get("errors") or 0
    tpot_p90 = _pct(metrics.get("tpot_ms"), "90.0")
    saturated_by_rate: Optional[bool] = None  # None: too few queries for the rates to tell
    if offered is not None and achieved is not None and len(rows) >= MIN_QUERIES_FOR_SATURATION:
        saturated_by_rate = achieved < (1 - saturation_margin) * offered
    return {
        "verdict": summary.get("verdict"),
        "reasons": summary.get("verdict_reasons") or [],
        "queries": metrics.get("query_count"),
        "offered_qps": _round(offered),
        "achieved_qps": _round(achieved),
        "saturated": True if errors or loadgen.get("num_errors") else saturated_by_rate,
        "sut_errors": errors,
        "output_tokens_per_s": metrics.get("tokens_per_second"),
        "per_user_tokens_per_s": _round(1000 / tpot_p90) if tpot_p90 else None,
        "ttft_p90_ms": _pct(metrics.get("ttft_ms"), "90.0"),
        "ttft_p99_ms": _pct(metrics.get("ttft_ms"), "99.0"),
        "tpot_p90_ms": tpot_p90,
        "tpot_p99_ms": _pct(metrics.get("tpot_ms"), "99.0"),
        "goodput_rps": _round(share * completed_qps) if share is not None and completed_qps else None,
        "goodput_share": _round(share) if share is not None else None,
        "slo_ttft_ms": ttft_limit,
        "slo_tpot_ms": tpot_limit,
        "scenario_ttft_limit_ms": settings.get("ttft_limit_ms"),
        "scenario_tpot_limit_ms": settings.get("tpot_limit_ms"),
        "simulated": summary.get("simulated"),
        "submittable": summary.get("submittable"),
    }


def _round(value: Optional[float], digits: int = 4) -> Optional[float]:
    return None if value is None else round(float(value), digits)


def pareto_frontier(points: Sequence[dict]) -> list[dict]:
    """The points no other point beats on both output tokens/s and per-user tokens/s, by per-user speed.

    The frontier is drawn as a step function: for each per-user speed, the most throughput any
    measured point offers at that speed or faster.
    """
    usable = [p for p in points if p.get("output_tokens_per_s") and p.get("per_user_tokens_per_s")]
    usable.sort(key=lambda p: (-p["per_user_tokens_per_s"], -p["output_tokens_per_s"]))
    frontier: list[dict] = []
    best = float("-inf")
    for point in usable:
        if point["output_tokens_per_s"] > best:
            frontier.append(point)
            best = point["output_tokens_per_s"]
    return frontier


def read_closed_loop_point(stage_dir: Path, slo_ttft_ms: Optional[float], slo_tpot_ms: Optional[float]) -> dict[str, Any]:
    """The curve's numbers for one closed-loop point: a LoadGen Offline run whose client capped requests in flight.

    LoadGen's Offline latencies start at the one issue and include the wait in the client's queue,
    so TTFT and TPOT come from the client's own times: send to first chunk, first chunk to last.
    Throughput is LoadGen's (tokens over first issue to last completion).
    """
    import numpy as np

    from mlnb.results import loadgen_percentile

    summary = read_json(stage_dir / "summary.json")
    metrics, loadgen = summary.get("metrics") or {}, summary.get("loadgen") or {}
    rows = load_queries(stage_dir)
    ttfts, tpots, busy, met = [], [], 0.0, 0
    sent_at, done_at = [], []
    for row in rows:
        sent, first, done = row.get("sent_ms"), row.get("first_chunk_ms"), row.get("done_ms")
        if row.get("error") or None in (sent, first, done):
            continue
        tokens = row.get("output_tokens") or 0
        ttft = first - sent
        tpot = (done - first) / (tokens - 1) if tokens > 1 else None
        ttfts.append(ttft)
        if tpot is not None:
            tpots.append(tpot)
        busy += done - sent
        sent_at.append(sent)
        done_at.append(done)
        if (slo_ttft_ms is None or ttft <= slo_ttft_ms) and (slo_tpot_ms is None or tpot is None or tpot <= slo_tpot_ms):
            met += 1

    def pct(values: list[float], p: float) -> Optional[float]:
        return round(loadgen_percentile(np.sort(np.asarray(values)), p), 3) if values else None

    tpot_p90 = pct(tpots, 90)
    completed_qps = metrics.get("samples_per_second")
    with_slo = slo_ttft_ms is not None or slo_tpot_ms is not None
    share = met / len(rows) if rows and with_slo else None
    span = (max(done_at) - min(sent_at)) if sent_at else 0.0
    errors = (summary.get("sut") or {}).get("errors") or 0
    return {
        "verdict": summary.get("verdict"),
        "verdict_kind": "LoadGen Offline (duration and query count only)",
        "reasons": summary.get("verdict_reasons") or [],
        "queries": len(rows),  # samples: LoadGen's Offline run is one query of them all
        "offered_qps": None,
        "achieved_qps": _round(completed_qps) if completed_qps else None,
        "mean_in_flight": _round(busy / span, 3) if span > 0 else None,
        "saturated": True if errors or loadgen.get("num_errors") else None,  # the throughput test needs the previous N
        "sut_errors": errors,
        "output_tokens_per_s": metrics.get("tokens_per_second"),
        "per_user_tokens_per_s": _round(1000 / tpot_p90) if tpot_p90 else None,
        "ttft_p90_ms": pct(ttfts, 90),
        "ttft_p99_ms": pct(ttfts, 99),
        "tpot_p90_ms": tpot_p90,
        "tpot_p99_ms": pct(tpots, 99),
        "latency_source": "client: send to first chunk (TTFT), first chunk to last (TPOT)",
        "goodput_rps": _round(share * completed_qps) if share is not None and completed_qps else None,
        "goodput_share": _round(share) if share is not None else None,
        "slo_ttft_ms": slo_ttft_ms,
        "slo_tpot_ms": slo_tpot_ms,
        "scenario_ttft_limit_ms": None,
        "scenario_tpot_limit_ms": None,
        "simulated": summary.get("simulated"),
        "submittable": summary.get("submittable"),
    }
