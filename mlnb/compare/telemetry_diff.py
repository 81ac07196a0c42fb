"""What telemetry adds to a comparison: the hardware state as facts (a driver or power limit that
differs is listed with the other settings) and the telemetry aggregates as one value per run."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from mlnb.compare import stats

_HOST_KEYS = ("cpu_model", "cpu_scaling_governor", "transparent_hugepage", "logical_cpus", "memory_total_gib")
_GPU_KEYS = ("name", "power_limit_w", "persistence_mode", "ecc_current", "max_sm_clock_mhz", "applications_sm_clock_mhz")
# aggregate -> (statistic, better direction, unit); GPU series are matched by their suffix
_COMPARED = {
    "in_flight": ("mean", None, "queries"), "host_cpu_pct": ("mean", None, "%"), "server_cpu_pct": ("mean", None, "%"),
    "harness_rss_mib": ("peak", None, "MiB"), "server_rss_mib": ("peak", None, "MiB"),
    "srv_kv_cache_usage": ("peak", None, "fraction"), "srv_waiting": ("mean", None, "requests"),
    "host_power_w": ("mean", None, "W"), "_util_pct": ("mean", None, "%"), "_power_w": ("mean", None, "W"),
    "_mem_used_mib": ("peak", None, "MiB"), "_temp_c": ("peak", None, "C"), "_sm_clock_mhz": ("mean", None, "MHz"),
}
_ENERGY = (("joules_per_output_token", "lower", "J/token"), ("output_tokens_per_s_per_kw", "higher", "tok/s/kW"))


def hardware_facts(summary: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """``{key: ("hardware", value)}`` from the telemetry's hardware state; empty for older summaries."""
    hardware = (summary.get("telemetry") or {}).get("hardware") or {}
    facts: dict[str, tuple[str, Any]] = {}
    for key in _HOST_KEYS:
        if key in (hardware.get("host") or {}):
            facts[f"hardware.host.{key}"] = ("hardware", hardware["host"][key])
    gpu = hardware.get("gpu")
    if hardware:
        facts["hardware.gpu.driver"] = ("hardware", (gpu or {}).get("driver") or hardware.get("gpu_note"))
    if gpu:
        facts["hardware.gpu.chosen"] = ("hardware", ", ".join(str(i) for i in gpu.get("chosen") or []))
        for g in gpu.get("gpus") or []:
            if g.get("index") in (gpu.get("chosen") or []):
                for key in _GPU_KEYS:
                    facts[f"hardware.gpu{g['index']}.{key}"] = ("hardware", g.get(key))
                facts[f"hardware.gpu{g['index']}.other_processes"] = ("hardware", len(g.get("other_processes") or []))
    return facts


def _compared(key: str):
    if key in _COMPARED:
        return _COMPARED[key]
    if key.startswith("gpu"):
        return _COMPARED.get("_" + key.split("_", 1)[1])
    return None


def telemetry_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[stats.Difference]:
    """B against A for every telemetry aggregate either run has (one value per run: no interval)."""
    ta, tb = a.get("telemetry") or {}, b.get("telemetry") or {}
    agg_a, agg_b = ta.get("aggregates") or {}, tb.get("aggregates") or {}
    out = []
    for key in dict.fromkeys([*agg_a, *agg_b]):
        how = _compared(key)
        if how is None:
            continue
        stat, better, unit = how
        value_a, value_b = (agg_a.get(key) or {}).get(stat), (agg_b.get(key) or {}).get(stat)
        out.append(_telemetry(stats.single_value_difference(value_a, value_b, f"telemetry.{key}", stat, better, unit)))
    energy_a, energy_b = ta.get("energy") or {}, tb.get("energy") or {}
    if energy_a.get("available") or energy_b.get("available"):
        for key, better, unit in _ENERGY:
            out.append(_telemetry(stats.single_value_difference(energy_a.get(key), energy_b.get(key), f"energy.{key}", "value",
                                                                better, unit)))
    return out


# Metric names of these differences: the headline leaves them out (they describe, they do not judge).
PREFIXES = ("telemetry.", "energy.")


def _telemetry(difference: stats.Difference) -> stats.Difference:
    return dataclasses.replace(difference, reason="telemetry: one aggregate per run, shown, not judged",
                               method="one value per run (telemetry aggregate); no interval")
