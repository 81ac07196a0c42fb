"""The speed-of-light section of a stage report: the model's floors on its device, and MBU/MFU.

The device is this machine's for in-process backends; for the ``openai`` backend it is the
server's, known only when the user names it (``server_device``, ``server_device_count``);
otherwise no floors are drawn.

Inputs, all read at report time: the model's ``config.json`` (the shape), the engine description
in summary.json (device, dtype, batch size), the run's ``device_measure.json`` (measured copy
bandwidth and matmul rate, written once per run) and the devices table (vendor peaks), and the
measured TPOT/TTFT/throughput. Nothing here changes a stage's verdict.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from mlnb.fileio import read_json
from mlnb.perf.devices import device_by_name, match_device
from mlnb.perf.measure import MEASURE_FILE
from mlnb.perf.model_shape import dtype_bytes, load_shape
from mlnb.perf.speed_of_light import DeviceFigures, SpeedOfLight, compute, inconsistencies
from mlnb.query_table import as_table, column
from mlnb.report.plots import number as _number
from mlnb.report.plots import stat_percentile


def _model_dir(model: str) -> str:
    from mlnb.models.embedded import resolve_model

    return resolve_model(model, prepare=False)


def run_measure(run_dir: Optional[str | Path]) -> Optional[dict]:
    if not run_dir:
        return None
    path = Path(run_dir) / MEASURE_FILE
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, Mapping) and data.get("copy") else None


def _device_kind(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def device_figures(engine: Mapping[str, Any], dtype: str, measure: Optional[Mapping[str, Any]]) -> DeviceFigures:
    """Measured figures where the run measured the device the engine ran on; the table's peak besides."""
    engine_device = str(engine.get("device") or "cpu")
    spec = match_device(engine.get("gpu") if _device_kind(engine_device) == "cuda" else None)
    table_tf = spec.peak_tflops(dtype)
    usable = measure is not None and (engine.get("simulated") or _device_kind(str(measure.get("device"))) == _device_kind(engine_device))
    name = (measure or {}).get("device_name") if usable else spec.name
    bw = bw_src = tf = tf_src = None
    if usable:
        bw = _number((measure.get("copy") or {}).get("bandwidth_gbps"))
        bw_src = f"measured ({measure.get('measured_at', 'this run')}: {fmt(bw)} GB/s torch copy)"
        mm = measure.get("matmul") or {}
        if mm.get("dtype") == dtype:
            tf = _number(mm.get("tflops"))
            tf_src = f"measured ({mm.get('n')}\u00b2 {mm.get('dtype')} matmul)"
    if bw is None and spec.memory_bandwidth_gbps:
        bw, bw_src = float(spec.memory_bandwidth_gbps), f"devices table v{spec.table_version}: {spec.name}"
    if tf is None and table_tf:
        tf, tf_src = float(table_tf), f"devices table v{spec.table_version}: {spec.name} ({dtype}, dense)"
    return DeviceFigures(
        name=str(name or spec.name),
        bandwidth_gbps=bw,
        bandwidth_source=bw_src or "none: no measurement and no table figure",
        tflops=tf,
        tflops_source=tf_src or f"none for {dtype}",
        table_bandwidth_gbps=spec.memory_bandwidth_gbps,
        table_tflops=table_tf,
        table_source=spec.source if spec.memory_bandwidth_gbps else None,
    )


def decode_spans(rows) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) in ms of the queries being decoded: from the first token (or, without one,
    from when the SUT received the query) to completion; only spans of positive length."""
    table = as_table(rows)
    start = column(table, "first_token_ms")
    start = np.where(np.isnan(start), column(table, "issued_ms"), start)
    end = column(table, "done_ms")
    keep = ~np.isnan(start) & ~np.isnan(end) & (end > start)
    return start[keep], end[keep]


DEVICE_UNKNOWN = (
    "device unknown. The openai backend times a server, and the device that served it is not this "
    "machine's; set server_device=<an id from devices.json> and server_device_count=<devices serving the "
    "model> to draw floors against it"
)


def served_remotely(s: Mapping[str, Any]) -> bool:
    """The model ran in a server (given or managed): the client's own device says nothing about it."""
    return (s.get("backend") or (s.get("engine") or {}).get("backend")) == "openai"


def server_device_figures(params: Mapping[str, Any], dtype: str) -> DeviceFigures:
    """The server's device as the user named it, times the device count (a perfect split: a bound)."""
    spec = device_by_name(str(params["server_device"]))
    count = int(params.get("server_device_count") or 1)
    tf = spec.peak_tflops(dtype)
    given = f"devices table v{spec.table_version}: {spec.name} × {count}, given by server_device"
    return DeviceFigures(
        name=f"{count} × {spec.name}" if count > 1 else spec.name,
        bandwidth_gbps=spec.memory_bandwidth_gbps * count if spec.memory_bandwidth_gbps else None,
        bandwidth_source=given if spec.memory_bandwidth_gbps else "none in the devices table",
        tflops=tf * count if tf else None,
        tflops_source=f"{given} ({dtype}, dense)" if tf else f"none for {dtype}",
    )


def effective_batch(rows, cap: Optional[float]) -> float:
    """Mean number of sequences being decoded together, weighted by time (SUT timestamps).

    A sequence counts from its first token (or, without one, from when the SUT received it) to its
    completion; the engine's batch size caps the count, since queued queries are not decoded.
    A sweep over the sorted span ends: between consecutive ends the count is constant, and equals
    the starts at or before the interval's left end less the ends at or before it. O(n log n).
    """
    starts, ends = decode_spans(rows)
    if not starts.size:
        return 1.0
    points = np.unique(np.concatenate([starts, ends]))
    count = np.searchsorted(np.sort(starts), points[:-1], side="right") - np.searchsorted(np.sort(ends), points[:-1], side="right")
    count = count.astype(float)
    if cap:
        count = np.minimum(count, cap)
    widths = np.diff(points)
    active = count > 0
    busy = float(widths[active].sum())
    weighted = float((count[active] * widths[active]).sum())
    return max(weighted / busy, 1.0) if busy else 1.0


def fmt(value: Optional[float]) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def stage_speed_of_light(s: Mapping[str, Any], rows) -> tuple[Optional[SpeedOfLight], str]:
    """-> (result, "") or (None, why it is not available)."""
    params = s.get("params") or {}
    engine = s.get("engine") or {}
    remote = served_remotely(s)
    if remote and not params.get("server_device"):
        return None, DEVICE_UNKNOWN
    try:
        shape = load_shape(_model_dir(str(params.get("model") or s.get("model") or "embedded")))
    except Exception as err:  # an InputError names the file; anything else is a missing model
        return None, f"the model's configuration could not be read ({err})"
    dtype = str(engine.get("dtype") or "")
    if not dtype and params.get("dtype") not in (None, "auto"):
        dtype = str(params["dtype"])
    measure = run_measure(params.get("run_dir"))
    if not dtype and s.get("simulated") and measure:  # no engine ran: take the dtype the host was measured in
        dtype = str((measure.get("matmul") or {}).get("dtype") or "")
    dtype = dtype or shape.config_dtype
    try:
        wbytes = dtype_bytes(dtype, "engine dtype")
    except Exception as err:
        return None, str(err)
    device = server_device_figures(params, dtype) if remote else device_figures(engine, dtype, measure)
    table = as_table(rows)
    done = table[~np.isnan(column(table, "done_ms"))] if len(table) else table
    prompt = np.nan_to_num(column(done, "prompt_tokens"))
    out = np.nan_to_num(column(done, "output_tokens"))
    if not len(done):
        sut = s.get("sut") or {}
        prompt = np.array([_number((sut.get("prompt_tokens") or {}).get("p50")) or 0.0])
        out = np.array([_number((sut.get("output_tokens") or {}).get("p50")) or 0.0])
    prompt_med = float(np.median(prompt)) if prompt.size else 0.0
    context = float(np.median(prompt + out / 2.0)) if prompt.size else 0.0  # mean context over a query's decode steps
    cap = None if remote else _number(engine.get("batch_size")) or _number(params.get("sim_max_batch") if s.get("simulated") else params.get("batch_size"))
    replicas = 1 if remote else int(engine.get("replica_count") or 1)  # one engine per device
    batch = effective_batch(done, cap * replicas if cap else None)
    metrics = s.get("metrics") or {}
    sut = s.get("sut") or {}
    tps = _number(metrics.get("tokens_per_second"))
    step = stat_percentile(metrics.get("tpot_ms"), 50)
    source = "LoadGen TPOT p50"
    if step is None:
        step, source = _number((sut.get("tpot_ms") or {}).get("p50")), "SUT TPOT p50"
    if step is None and tps:
        step, source = batch / tps * 1e3, "batch / LoadGen tokens per second (includes prefill time, so MBU is a lower bound)"
    ttft = _number((sut.get("ttft_ms") or {}).get("p50"))
    if s.get("simulated"):  # the simulator's times describe no hardware: floors only
        step = ttft = tps = None
    sol = compute(
        shape, dtype, wbytes, batch, context, prompt_med, device,
        measured_step_ms=step, measured_step_source=source if step else None,
        measured_ttft_ms=ttft, tokens_per_second=tps, devices=replicas,
    )
    if remote:
        count = int(params.get("server_device_count") or 1)
        sol.notes.append(
            f"The server's device is as given (server_device={params['server_device']}, server_device_count={count}), "
            "not measured; with several devices the floors assume a perfect split. The batch is the client's count "
            "of concurrent requests, uncapped: the server's own batch limit is not known here."
        )
    if s.get("simulated"):
        sol.notes.append("SIMULATED: no model ran. These are the floors of the configured model on this host; "
                         "the simulator's times are not set against them (no MBU, no MFU).")
    return sol, ""


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else (f"{value:.1%}" if value >= 0.001 else f"{value:.2e}")


def _util(value: Optional[float]) -> str:
    """A utilisation; above 100 % it says the inputs are inconsistent (the list above says which)."""
    return _pct(value) + (" (inconsistent inputs, see above)" if value is not None and value > 1 else "")


def sol_html(sol: Optional[SpeedOfLight], why: str, simulated: bool = False) -> str:
    from mlnb.report.markup import macro

    if sol is None:
        return str(macro("sol.html.j2", "unavailable", simulated, why))
    d = sol.device
    wrong = inconsistencies(sol)
    mbu = None
    if not wrong and sol.mbu is not None:
        mbu = (_pct(sol.mbu), d.name, fmt(sol.bytes_per_step / 1e6), fmt(sol.measured_step_ms), fmt(sol.achieved_bandwidth_gbps),
               fmt(sol.tpot_floor_ms), fmt(d.bandwidth_gbps))
    model_rows = [
        ["parameters (from config.json)", f"{sol.params_total:,}", f"{sol.params_total / 1e9:.3f} B"],
        ["read per decode step", f"{sol.params_read_per_step:,}", "all but an untied input-embedding table"],
        [f"weights in {sol.weight_dtype}", f"{fmt(sol.weight_gb)} GB", f"{sol.weight_bytes} bytes per weight"],
        ["KV cache per token", f"{sol.kv_bytes_per_token:,} B", "2 \u00d7 layers \u00d7 KV heads \u00d7 head size \u00d7 bytes"],
        ["batch (sequences decoded together)", fmt(sol.batch), "time-weighted, SUT timestamps, capped by the engine's batch size"],
        ["context per sequence (tokens)", fmt(sol.context), "median of prompt + half the output"],
        ["bytes per decode step", f"{fmt(sol.bytes_per_step / 1e6)} MB", "weights + batch \u00d7 context \u00d7 KV per token"],
    ]
    device_rows = [
        ["memory bandwidth", f"{fmt(d.bandwidth_gbps)} GB/s", d.bandwidth_source],
        ["matrix rate", f"{fmt(d.tflops)} TFLOPS" if d.tflops else "n/a", d.tflops_source],
    ]
    if d.table_source and d.bandwidth_source.startswith("measured"):
        device_rows.append(["vendor peak bandwidth", f"{fmt(d.table_bandwidth_gbps)} GB/s", d.table_source])
    floor_rows = [
        ["TPOT (decode step)", fmt(sol.tpot_floor_ms) + " ms", fmt(sol.measured_step_ms) + " ms" if sol.measured_step_ms else "n/a",
         f"MBU {_util(sol.mbu)}", sol.measured_step_source or ""],
        ["TPOT at batch 1", fmt(sol.tpot_floor_batch1_ms) + " ms", "", "", "the floor a lone stream could reach"],
        ["TTFT (prefill of the median prompt)", fmt(sol.ttft_floor_ms) + " ms", fmt(sol.measured_ttft_ms) + " ms" if sol.measured_ttft_ms else "n/a",
         f"prefill MFU {_util(sol.prefill_mfu)}", "SUT TTFT p50 (includes queueing in the engine)"],
        ["decode throughput ceiling", f"{fmt(sol.decode_ceiling_tokens_per_s)} tokens/s", f"{fmt(sol.tokens_per_second)} tokens/s" if sol.tokens_per_second else "n/a",
         f"decode MFU {_util(sol.decode_mfu)}", "batch / step floor vs LoadGen tokens/s"],
    ]
    if sol.table_tpot_floor_ms is not None and d.bandwidth_source.startswith("measured"):
        floor_rows.append(["TPOT at the vendor peak", fmt(sol.table_tpot_floor_ms) + " ms", "", f"MBU {_util(sol.table_mbu)}", "devices table"])
    return str(macro("sol.html.j2", "section", simulated, wrong, mbu, list(sol.notes), model_rows, d.name, device_rows, floor_rows))


def device_line_html(run_dir: str | Path) -> str:
    """One line for the run's index: the device as measured at the start of the run."""
    from mlnb.report.markup import macro

    m = run_measure(run_dir)
    if m is None:
        return ""
    copy, mm = m.get("copy") or {}, m.get("matmul") or {}
    return str(macro("sol.html.j2", "device_line", m.get("device_name"), m.get("device"), fmt(_number(copy.get("bandwidth_gbps"))),
                     fmt(_number(mm.get("tflops"))), mm.get("dtype"), MEASURE_FILE))
