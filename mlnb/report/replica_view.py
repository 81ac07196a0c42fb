"""Per-replica throughput and latency beside the total, for stages run with ``replicas`` > 1.

Each query's row names the replica that served it (``replica`` in queries.jsonl). Throughput is each
replica's output tokens over the stage's one window (first arrival to last completion, SUT clock), so
the replicas' figures add up to the total; latencies are the SUT's, per replica, as order statistics
(LoadGen's percentile definition).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from mlnb.query_table import as_table, column, text_column
from mlnb.report.markup import macro, wrap
from mlnb.results import loadgen_percentile, query_latencies


def _pct(values: np.ndarray, p: float) -> Optional[float]:
    values = values[~np.isnan(values)]
    return loadgen_percentile(np.sort(values), p) if values.size else None


def _figures(table, window_s: float) -> dict[str, Any]:
    lat = query_latencies(table)
    errors = int((text_column(table, "error") != None).sum())  # noqa: E711 (an object array)
    tokens = float(np.nansum(column(table, "output_tokens")))
    return {
        "queries": int(len(table)),
        "errors": errors,
        "output_tokens": int(tokens),
        "tokens_per_s": float(tokens / window_s) if window_s > 0 else None,
        "ttft_p50_ms": _pct(lat["ttft_ms"], 50), "ttft_p90_ms": _pct(lat["ttft_ms"], 90),
        "tpot_p50_ms": _pct(lat["tpot_ms"], 50), "tpot_p90_ms": _pct(lat["tpot_ms"], 90),
        "e2e_p50_ms": _pct(lat["e2e_ms"], 50), "e2e_p90_ms": _pct(lat["e2e_ms"], 90),
    }


def replica_figures(rows) -> list[dict[str, Any]]:
    """One dict per replica (sorted by index), then the total; empty when the rows name no replica.

    Rows of the openai backend against several servers name no replica but the ``server`` (its base
    URL) that answered: with two or more servers, each server is a row of the table.
    """
    table = as_table(rows)
    if not len(table):
        return []
    replica = column(table, "replica")
    if np.isnan(replica).all():
        servers = text_column(table, "server")
        named = sorted({s for s in servers if s is not None})
        if len(named) < 2:
            return []
        groups = [(url, servers == url) for url in named]
    else:
        groups = [(int(i), replica == i) for i in sorted(np.unique(replica[~np.isnan(replica)]))]
    done = column(table, "done_ms")
    window_s = (np.nanmax(done) - np.nanmin(column(table, "issued_ms"))) / 1e3 if (~np.isnan(done)).any() else 0.0
    out = [{"replica": name, **_figures(table[mask], window_s)} for name, mask in groups]
    out.append({"replica": "total", **_figures(table, window_s)})
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


COLUMNS = (
    ("replica", "replica"), ("device", "device"), ("queries", "queries"), ("errors", "errors"),
    ("output_tokens", "output tokens"), ("tokens_per_s", "tokens/s"), ("ttft_p50_ms", "TTFT p50, ms"),
    ("ttft_p90_ms", "TTFT p90, ms"), ("tpot_p50_ms", "TPOT p50, ms"), ("tpot_p90_ms", "TPOT p90, ms"),
    ("e2e_p50_ms", "end-to-end p50, ms"), ("e2e_p90_ms", "end-to-end p90, ms"),
)


def replica_html(s: Mapping[str, Any], rows) -> str:
    """The per-replica table and what the engine said about routing and failures; "" for a single engine."""
    figures = replica_figures(rows)
    if not figures:
        return ""
    engine = s.get("engine") or {}
    devices = {r.get("index"): r.get("device") for r in engine.get("replicas") or [] if isinstance(r, Mapping)}
    alive = {r.get("index"): r.get("alive", True) for r in engine.get("replicas") or [] if isinstance(r, Mapping)}
    body = []
    for row in figures:
        index = row["replica"]
        row = {**row, "device": devices.get(index, "") if index != "total" else ", ".join(map(str, devices.values()))}
        if index != "total" and alive.get(index) is False:
            row["device"] = f"{row['device']} (died)"
        body.append([_cell(row.get(key)) for key, _ in COLUMNS])
    if isinstance(figures[0]["replica"], str):  # servers of the openai backend, one row per base URL
        notes = ["One row per server that answered (the openai backend's base URLs). Tokens/s share one window "
                 "(first arrival to last completion), so the servers add up to the total; latencies are client timestamps."]
    else:
        notes = [
            "Each replica is its own engine in its own process, fed by the one LoadGen. Queries went to the replica "
            f"with {engine.get('replica_routing') or 'the least outstanding work'}. Tokens/s share one "
            "window (first arrival to last completion), so the replicas add up to the total; latencies are SUT timestamps."
        ]
    if engine.get("replica_devices_note"):
        notes.append(str(engine["replica_devices_note"]))
    if s.get("simulated"):
        notes.append("SIMULATED: the replicas are simulators; no model ran.")
    failures = [(str(f), str(engine.get("replica_failure"))) for f in engine.get("replica_failures") or []]
    return str(macro("replicas.html.j2", "replicas", [label for _, label in COLUMNS], body, notes, failures))


def replica_parts(s: Mapping[str, Any], rows, stage_dir=None) -> Sequence[tuple]:
    """The stage view's extra parts: the replica table, and the profiler's top ops when one was captured."""
    from mlnb.report.profile_view import profile_html

    inner = replica_html(s, rows) + profile_html(s, stage_dir)
    return [("html", wrap(inner))] if inner else []
