"""A stage's telemetry: the time series file and the aggregates summary.json carries.

``telemetry.jsonl`` holds one row per sample; ``t_s`` is on the SUT's clock (seconds since the
first query was issued, the origin of queries.jsonl), so the series line up with LoadGen's timeline.
Derived columns: ``in_flight`` (issued - completed) and ``tokens_per_s`` (output tokens between samples).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from mlnb.fileio import write_text_atomic
from mlnb.telemetry.energy import energy_figures, integrate_joules
from mlnb.telemetry.metric_names import COUNTER_SERIES, SERVER_HISTOGRAMS
from mlnb.telemetry.prometheus import histogram_delta
from mlnb.telemetry.sampler import SAMPLE_HZ, TelemetrySampler

SERIES_FILE = "telemetry.jsonl"
# The samples as they are taken; replaced by SERIES_FILE when the stage ends, kept when it was stopped.
PARTIAL_SERIES_FILE = "telemetry.partial.jsonl"
MEASURED = "measured board power: NVML power draw of the GPUs the engine can use"
MEASURED_RAPL = "measured CPU package power (RAPL), not the whole machine"
PROVISIONED = "provisioned power: the enforced power limits of the GPUs the engine can use"
# counters and bookkeeping: not averaged
_NOT_LEVELS = {"t_s", "mono_s", "issued", "completed", "output_tokens"} | {f"srv_{c}" for c in COUNTER_SERIES}


def _numbers(rows: list[dict], key: str) -> list[float]:
    return [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not math.isnan(r[key])]


def _derive(rows: list[dict], origin_s: float) -> None:
    last = None
    for row in rows:
        row["t_s"] = round(row.pop("mono_s") - origin_s, 3)
        row["in_flight"] = row["issued"] - row["completed"]
        if last is not None and row["t_s"] > last["t_s"]:
            row["tokens_per_s"] = (row["output_tokens"] - last["output_tokens"]) / (row["t_s"] - last["t_s"])
            if "srv_generation_tokens" in row and "srv_generation_tokens" in last:
                row["srv_tokens_per_s"] = (row["srv_generation_tokens"] - last["srv_generation_tokens"]) / (row["t_s"] - last["t_s"])
        last = row


def _levels(rows: list[dict]) -> dict:
    keys = dict.fromkeys(k for r in rows for k in r if k not in _NOT_LEVELS and not k.endswith("clock_reasons"))
    out = {}
    for key in keys:
        values = _numbers(rows, key)
        if values:
            out[key] = {"mean": round(sum(values) / len(values), 3), "peak": round(max(values), 3), "samples": len(values)}
    return out


def _server(sampler: TelemetrySampler, rows: list[dict]) -> list[dict]:
    out = []
    for j, target in enumerate(sampler.targets):
        prefix = "srv_" if j == 0 else f"srv{j}_"
        status = target.status()
        first, last = target.first, target.last
        if first is not None and last is not None:
            delta = {c: last.values[c] - first.values[c] for c in COUNTER_SERIES if c in last.values and c in first.values}
            queries, hits = delta.get("prefix_cache_queries"), delta.get("prefix_cache_hits")
            status["counters"] = delta
            status["prefix_cache_hit_rate"] = round(hits / queries, 4) if queries and hits is not None else None
            status["histograms"] = {c: histogram_delta(first.histograms.get(c), last.histograms.get(c))
                                    for c in SERVER_HISTOGRAMS if c in last.histograms}
        status["prefix"] = prefix
        out.append(status)
    return out


def _energy(sampler: TelemetrySampler, rows: list[dict], seconds: float, tokens: int) -> dict:
    times = [r["t_s"] for r in rows]
    chosen = sampler.chosen
    if sampler.nvml is not None and chosen:
        watts = [None if any(r.get(f"gpu{i}_power_w") is None for i in chosen) else sum(r[f"gpu{i}_power_w"] for i in chosen)
                 for r in rows]
        figures = energy_figures(integrate_joules(times, watts), times[-1] - times[0] if times else 0.0, tokens, MEASURED)
        counters = sampler.energy_counters_mj
        if len(counters) == 2 and all(counters[k][i] is not None for k in (0, 1) for i in chosen):
            figures["joules_from_energy_counter"] = round(sum(counters[1][i] - counters[0][i] for i in chosen) / 1000.0, 3)
        limits = [g.get("power_limit_w") for g in ((sampler.hardware.get("gpu") or {}).get("gpus") or []) if g["index"] in chosen]
        if limits and None not in limits and seconds > 0 and tokens:
            figures["provisioned"] = {"source": PROVISIONED, "power_w": sum(limits),
                                      "output_tokens_per_s_per_kw": round(tokens / seconds / (sum(limits) / 1000.0), 3)}
        return figures
    if sampler.rapl is not None:
        return energy_figures(integrate_joules(times, [r.get("host_power_w") for r in rows]),
                              times[-1] - times[0] if times else 0.0, tokens, MEASURED_RAPL)
    why = sampler.nvml_note if sampler.nvml is None else "no GPU the engine can use"
    return {"available": False, "source": f"GPU {why}; host power {sampler.rapl_note}"}


def finish(sampler: TelemetrySampler, stage_dir: Path, origin_s: Optional[float], test_s: float) -> dict:
    """Write the series file and return what harness.json and summary.json keep."""
    rows = sampler.rows
    if not rows:
        return {"enabled": True, "samples": 0, "note": "no sample was taken", "errors": sampler.tick_errors}
    _derive(rows, origin_s if origin_s is not None else rows[0]["mono_s"])
    write_text_atomic(stage_dir / SERIES_FILE, "".join(json.dumps(r) + "\n" for r in rows))
    tokens = rows[-1]["output_tokens"]
    reasons: set[str] = set()
    for row in rows:
        for key, bits in row.items():
            if key.endswith("clock_reasons") and bits and sampler.nvml is not None:
                reasons.update(sampler.nvml.reason_names(bits))
    return {
        "enabled": True,
        "file": SERIES_FILE,
        "sample_hz": SAMPLE_HZ,
        "samples": len(rows),
        "window_s": round(rows[-1]["t_s"] - rows[0]["t_s"], 3),
        # the sampler's own CPU time (thread CPU time of its ticks) and its share of one core over the window
        "sampler_cpu_s": round(sampler.cpu_s, 4),
        "sampler_core_share": round(sampler.cpu_s / max(rows[-1]["t_s"] - rows[0]["t_s"], 1e-9), 5),
        "sources": {"gpu": sampler.nvml_note, "host_power": sampler.rapl_note,
                    "processes": "harness process tree" + (" and the managed server's" if sampler.server else "")},
        "aggregates": _levels(rows),
        "clock_event_reasons": sorted(reasons),
        "server": _server(sampler, rows),
        "energy": _energy(sampler, rows, test_s, tokens),
        "hardware": sampler.hardware,
        "errors": sampler.tick_errors,
    }
