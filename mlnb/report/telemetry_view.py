"""The stage report's telemetry section: series on LoadGen's timeline, means and peaks, energy,
the servers' own metrics and the hardware state (template ``templates/telemetry.html.j2``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
from matplotlib.figure import Figure

from mlnb.report import plots
from mlnb.report.markup import fixed_digits, macro, render, wrap

TEMPLATE = "telemetry.html.j2"

# aggregate key (or its suffix after "gpuN_") -> (label, unit, digits)
_LABELS = {
    "in_flight": ("queries in flight (SUT)", "", 1),
    "tokens_per_s": ("output tokens/s (SUT, counted at completion)", "tok/s", 1),
    "srv_tokens_per_s": ("output tokens/s (server counter)", "tok/s", 1),
    "host_cpu_pct": ("host CPU (all cores)", "%", 1),
    "harness_cpu_pct": ("harness processes CPU", "% of a core", 1),
    "harness_rss_mib": ("harness processes RSS", "MiB", 0),
    "server_cpu_pct": ("server processes CPU", "% of a core", 1),
    "server_rss_mib": ("server processes RSS", "MiB", 0),
    "host_power_w": ("CPU package power (RAPL)", "W", 1),
    "srv_running": ("server: requests running", "", 1),
    "srv_waiting": ("server: requests waiting", "", 1),
    "srv_kv_cache_usage": ("server: KV-cache usage", "fraction", 3),
    "util_pct": ("utilisation", "%", 1),
    "mem_used_mib": ("memory used", "MiB", 0),
    "power_w": ("power draw", "W", 1),
    "sm_clock_mhz": ("SM clock", "MHz", 0),
    "mem_clock_mhz": ("memory clock", "MHz", 0),
    "temp_c": ("temperature", "°C", 0),
}


def _label(key: str) -> tuple[str, str, int]:
    if key.startswith("gpu") and "_" in key:
        gpu, field = key.split("_", 1)
        label, unit, digits = _LABELS.get(field, (field, "", 2))
        return f"GPU {gpu[3:]} {label}", unit, digits
    return _LABELS.get(key, (key, "", 2))


def load_series(stage_dir: Optional[Path], telemetry: Mapping[str, Any]) -> list[dict]:
    if stage_dir is None or not telemetry.get("file"):
        return []
    path = Path(stage_dir) / telemetry["file"]
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([r.get(key) if isinstance(r.get(key), (int, float)) else np.nan for r in rows], dtype=float)


def timeline_figure(rows: list[dict], chosen: list[int]):
    """Stacked panels on the SUT's clock: load, CPU/GPU utilisation, power, server queue and KV cache."""
    t = _column(rows, "t_s")
    keys = set().union(*(r.keys() for r in rows))
    gpus = sorted({int(k[3:].split("_")[0]) for k in keys if k.startswith("gpu") and k.endswith("_util_pct")})
    panels = ["load", "util"]
    if any(k.endswith("power_w") for k in keys):
        panels.append("power")
    if {"srv_running", "srv_waiting", "srv_kv_cache_usage"} & keys:
        panels.append("server")
    completed = _column(rows, "completed")
    done_at = float(t[int(np.nanargmax(completed))]) if np.isfinite(completed).any() and np.nanmax(completed) > 0 else None
    with plots.house_style():
        fig = Figure(figsize=(11, 2.3 * len(panels) + 0.6), dpi=plots.DPI, layout="constrained")
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, panel in zip(axes, panels):
            twin = None
            if panel == "load":
                ax.step(t, _column(rows, "in_flight"), where="post", color=plots.COLORS["secondary"], label="queries in flight (SUT)")
                ax.set_ylabel("in flight")
                twin = ax.twinx()
                rate_key = "srv_tokens_per_s" if "srv_tokens_per_s" in keys else "tokens_per_s"
                twin.plot(t, _column(rows, rate_key), color=plots.COLORS["primary"], label=_label(rate_key)[0])
                twin.set_ylabel("tokens/s")
            elif panel == "util":
                for key, label in (("host_cpu_pct", "host CPU"), ("harness_cpu_pct", "harness CPU (% of a core)"),
                                   ("server_cpu_pct", "server CPU (% of a core)")):
                    if key in keys:
                        ax.plot(t, _column(rows, key), label=label)
                for g in gpus:
                    ax.plot(t, _column(rows, f"gpu{g}_util_pct"), linestyle="--",
                            label=f"GPU {g} utilisation" + ("" if g in chosen else " (not the engine's)"))
                ax.set_ylabel("%")
            elif panel == "power":
                for g in gpus:
                    ax.plot(t, _column(rows, f"gpu{g}_power_w"), label=f"GPU {g} board power")
                if "host_power_w" in keys:
                    ax.plot(t, _column(rows, "host_power_w"), label="CPU package power (RAPL)")
                ax.set_ylabel("W")
            else:
                for key in ("srv_running", "srv_waiting"):
                    if key in keys:
                        ax.step(t, _column(rows, key), where="post", label=_label(key)[0])
                ax.set_ylabel("requests")
                if "srv_kv_cache_usage" in keys:
                    twin = ax.twinx()
                    twin.plot(t, 100 * _column(rows, "srv_kv_cache_usage"), color=plots.COLORS["bad"], label="server: KV-cache usage %")
                    twin.set_ylabel("KV cache %")
                    twin.set_ylim(0, 105)
            for line_at, text in ((0.0, "first query issued"), (done_at, "last query done")):
                if line_at is not None:
                    ax.axvline(line_at, color=plots.COLORS["muted"], linestyle=":", linewidth=1)
            handles, labels = ax.get_legend_handles_labels()
            if twin is not None:
                twin.grid(False)
                more = twin.get_legend_handles_labels()
                handles, labels = handles + more[0], labels + more[1]
            ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.07, 1.0), frameon=False, fontsize=8)
        axes[0].set_title("During the test (SUT clock; dotted: first query issued, last query done)")
        axes[-1].set_xlabel("seconds since the first query was issued (queries.jsonl's origin)")
    return fig


def _table(aggregates: Mapping[str, Any]) -> list[dict]:
    order = list(_LABELS)
    def rank(key: str) -> tuple:
        field = key.split("_", 1)[1] if key.startswith("gpu") else key
        return (key.startswith("gpu"), order.index(field) if field in order else 99, key)
    out = []
    for key in sorted(aggregates, key=rank):
        label, unit, digits = _label(key)
        agg = aggregates[key]
        out.append({"label": label, "unit": unit, "mean": fixed_digits(agg.get("mean"), digits), "peak": fixed_digits(agg.get("peak"), digits),
                    "samples": agg.get("samples")})
    return out


def telemetry_html(summary: Mapping[str, Any], part: str = "top") -> str:
    """``part``: "top" (energy, means and peaks) or "details" (server metrics, hardware state)."""
    telemetry = summary.get("telemetry")
    return render(
        TEMPLATE,
        part=part, t=telemetry or {}, missing=telemetry is None, rows=_table((telemetry or {}).get("aggregates") or {}),
        simulated=bool(summary.get("simulated")))


def telemetry_parts(summary: Mapping[str, Any], stage_dir: Optional[Path]) -> list[tuple]:
    """The section as report parts: ``("html", str)`` and ``("png", bytes, alt)``; never raises."""
    try:
        parts: list[tuple] = [("html", telemetry_html(summary, "top"))]
        telemetry = summary.get("telemetry") or {}
        rows = load_series(stage_dir, telemetry)
        if len(rows) >= 2:
            chosen = ((telemetry.get("hardware") or {}).get("gpu") or {}).get("chosen") or []
            parts.append(("png", plots.figure_png(timeline_figure(rows, chosen)), "Telemetry during the test"))
        parts.append(("html", telemetry_html(summary, "details")))
        return parts
    except Exception as err:  # the section must never cost the report
        return [("html", wrap(str(macro(TEMPLATE, "not_shown", f"{type(err).__name__}: {err}"))))]
