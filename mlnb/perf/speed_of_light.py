"""Speed-of-light floors of LLM inference and how close a run came to them (MBU, MFU).

Formulas (bounds, not predictions; see README "Speed of light"):

- bytes per decode step, batch B, context c per sequence:
  ``W_read * b_w + B * c * 2 * L * n_kv * d_head * b_kv``
  (``W_read``: every parameter but an untied input embedding table, of which a step reads B rows)
- decode step floor: ``max(bytes / BW, 2 * N_matmul * B / FLOPS)``; the per-user TPOT floor is
  the step floor (every sequence of the batch gets one token per step)
- prefill (TTFT) floor of a prompt of S tokens: ``max(F / FLOPS, W_read * b_w / BW)`` with
  ``F = 2 * N_blocks * S + 2 * vocab * hidden + 2 * L * n_heads * d_head * S^2`` (causal attention,
  logits of the last position only)
- MBU = (bytes per step / measured step time) / BW; MFU = achieved FLOP/s / FLOPS
- ``devices`` replicas (each a whole model on its own device, the batch split evenly): every floor is
  taken at the per-device batch B / devices; the decode ceiling and the FLOP/s behind decode MFU scale
  with the device count; a prompt's prefill runs on one device, so its floor does not change
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from mlnb.perf.model_shape import ModelShape


def decode_step_bytes(shape: ModelShape, batch: float, context: float, weight_bytes: int, kv_bytes: int) -> float:
    return shape.params_read_per_decode_step * weight_bytes + batch * context * shape.kv_bytes_per_token(kv_bytes)


def decode_step_flops(shape: ModelShape, batch: float) -> float:
    return 2.0 * shape.matmul_params * batch


def prefill_flops(shape: ModelShape, prompt_tokens: float) -> float:
    blocks = shape.layers * shape.layer_params
    attention = 2.0 * shape.layers * shape.heads * shape.head_dim * prompt_tokens**2
    return 2.0 * blocks * prompt_tokens + 2.0 * shape.vocab * shape.hidden + attention


def step_floor_s(bytes_per_step: float, flops_per_step: float, bandwidth_gbps: float, tflops: Optional[float]) -> float:
    memory = bytes_per_step / (bandwidth_gbps * 1e9)
    compute = flops_per_step / (tflops * 1e12) if tflops else 0.0
    return max(memory, compute)


def prefill_floor_s(shape: ModelShape, prompt_tokens: float, weight_bytes: int, bandwidth_gbps: Optional[float], tflops: Optional[float]) -> Optional[float]:
    if not bandwidth_gbps and not tflops:
        return None
    compute = prefill_flops(shape, prompt_tokens) / (tflops * 1e12) if tflops else 0.0
    memory = shape.params_read_per_decode_step * weight_bytes / (bandwidth_gbps * 1e9) if bandwidth_gbps else 0.0
    return max(compute, memory)


@dataclass
class DeviceFigures:
    """The bandwidth and matrix rate the floors use, and where each came from."""

    name: str
    bandwidth_gbps: Optional[float]
    bandwidth_source: str
    tflops: Optional[float]
    tflops_source: str
    table_bandwidth_gbps: Optional[float] = None
    table_tflops: Optional[float] = None
    table_source: Optional[str] = None


@dataclass
class SpeedOfLight:
    model: str
    params_total: int
    params_read_per_step: int
    weight_dtype: str
    weight_bytes: int
    kv_bytes_per_token: int
    weight_gb: float
    batch: float
    context: float
    prompt_tokens: float
    bytes_per_step: float
    device: DeviceFigures
    tpot_floor_ms: Optional[float] = None
    tpot_floor_batch1_ms: Optional[float] = None
    ttft_floor_ms: Optional[float] = None
    table_tpot_floor_ms: Optional[float] = None
    measured_step_ms: Optional[float] = None
    measured_step_source: Optional[str] = None
    achieved_bandwidth_gbps: Optional[float] = None
    mbu: Optional[float] = None
    table_mbu: Optional[float] = None
    measured_ttft_ms: Optional[float] = None
    prefill_mfu: Optional[float] = None
    decode_mfu: Optional[float] = None
    tokens_per_second: Optional[float] = None
    decode_ceiling_tokens_per_s: Optional[float] = None
    devices: int = 1  # independent replicas, one per device; ``batch`` is their sum
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute(
    shape: ModelShape,
    weight_dtype: str,
    weight_bytes: int,
    batch: float,
    context: float,
    prompt_tokens: float,
    device: DeviceFigures,
    measured_step_ms: Optional[float] = None,
    measured_step_source: Optional[str] = None,
    measured_ttft_ms: Optional[float] = None,
    tokens_per_second: Optional[float] = None,
    devices: int = 1,
) -> SpeedOfLight:
    """Floors at the device figures, and the utilisations the measured times give.

    ``devices``: replicas, each on its own device with a full copy of the weights; ``batch`` counts the
    sequences of all of them, ``device`` describes one.
    """
    kv_bytes = weight_bytes  # the KV cache is kept in the compute dtype
    devices = max(int(devices), 1)
    batch = max(float(batch), 1.0)
    per_device = max(batch / devices, 1.0)  # each device decodes its share of the batch
    step_bytes = decode_step_bytes(shape, per_device, context, weight_bytes, kv_bytes)
    sol = SpeedOfLight(
        model=shape.name,
        params_total=shape.total_params,
        params_read_per_step=shape.params_read_per_decode_step,
        weight_dtype=weight_dtype,
        weight_bytes=weight_bytes,
        kv_bytes_per_token=shape.kv_bytes_per_token(kv_bytes),
        weight_gb=shape.total_params * weight_bytes / 1e9,
        batch=batch,
        context=float(context),
        prompt_tokens=float(prompt_tokens),
        bytes_per_step=step_bytes,
        device=device,
        measured_step_ms=measured_step_ms,
        measured_step_source=measured_step_source,
        measured_ttft_ms=measured_ttft_ms,
        tokens_per_second=tokens_per_second,
        devices=devices,
    )
    bw, tf = device.bandwidth_gbps, device.tflops
    if bw:
        step_s = step_floor_s(step_bytes, decode_step_flops(shape, per_device), bw, tf)
        sol.tpot_floor_ms = step_s * 1e3
        one = decode_step_bytes(shape, 1, context, weight_bytes, kv_bytes)
        sol.tpot_floor_batch1_ms = step_floor_s(one, decode_step_flops(shape, 1), bw, tf) * 1e3
        sol.decode_ceiling_tokens_per_s = devices * per_device / step_s
    if device.table_bandwidth_gbps:
        sol.table_tpot_floor_ms = step_floor_s(step_bytes, decode_step_flops(shape, per_device), device.table_bandwidth_gbps, device.table_tflops) * 1e3
    floor = prefill_floor_s(shape, prompt_tokens, weight_bytes, bw, tf)
    sol.ttft_floor_ms = floor * 1e3 if floor is not None else None
    if measured_step_ms:
        sol.achieved_bandwidth_gbps = step_bytes / (measured_step_ms / 1e3) / 1e9
        if bw:
            sol.mbu = sol.achieved_bandwidth_gbps / bw
        if device.table_bandwidth_gbps:
            sol.table_mbu = sol.achieved_bandwidth_gbps / device.table_bandwidth_gbps
    if tf and measured_ttft_ms:
        sol.prefill_mfu = prefill_flops(shape, prompt_tokens) / (measured_ttft_ms / 1e3) / (tf * 1e12)
    if tf and tokens_per_second:
        sol.decode_mfu = 2.0 * shape.matmul_params * tokens_per_second / (tf * 1e12 * devices)
    if devices > 1:
        sol.notes.append(
            f"{devices} replicas, one per device: floors at the per-device batch ({per_device:.3g} of {batch:.3g}), "
            f"the decode ceiling and decode MFU over all {devices} devices; a prompt's prefill runs on one device."
        )
    return sol


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _num(value: Optional[float], unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def inconsistencies(sol: SpeedOfLight) -> list[str]:
    """One sentence per utilisation above 100 %, naming the inputs behind it.

    A floor is a physical bound, so a measured time under it means one of the inputs is wrong: the
    device figures (not the device that ran, or too few devices), the weight dtype or the model's
    shape (fewer bytes were read), the batch, or the measured time itself.
    """
    d = sol.device
    weights = f"weights {sol.weight_dtype} ({sol.weight_bytes} bytes each, {sol.params_read_per_step:,} read per step)"
    out: list[str] = []
    if sol.mbu is not None and sol.mbu > 1:
        out.append(
            f"MBU {_pct(sol.mbu)}: the measured decode step ({_num(sol.measured_step_ms, 'ms')}, {sol.measured_step_source}) "
            f"is shorter than the bandwidth floor ({_num(sol.tpot_floor_ms, 'ms')}). Inputs: device {d.name} at "
            f"{_num(d.bandwidth_gbps, 'GB/s')} ({d.bandwidth_source}); {weights}; batch {sol.batch:.3g} at context "
            f"{sol.context:.0f} tokens."
        )
    if sol.table_mbu is not None and sol.table_mbu > 1 and not (sol.mbu is not None and sol.mbu > 1):
        out.append(
            f"MBU at the vendor peak {_pct(sol.table_mbu)}: the measured decode step ({_num(sol.measured_step_ms, 'ms')}) "
            f"beats {d.table_source or 'the devices table'} ({_num(d.table_bandwidth_gbps, 'GB/s')}). Inputs: the device "
            f"match ({d.name}); {weights}; batch {sol.batch:.3g}."
        )
    if sol.prefill_mfu is not None and sol.prefill_mfu > 1:
        out.append(
            f"prefill MFU {_pct(sol.prefill_mfu)}: the measured TTFT ({_num(sol.measured_ttft_ms, 'ms')}, SUT p50) is "
            f"under the compute floor of a {sol.prompt_tokens:.0f}-token prompt. Inputs: device {d.name} at "
            f"{_num(d.tflops, 'TFLOPS')} ({d.tflops_source}); the prompt length; the model's shape (config.json); "
            "a prefix-cache hit, which skips the prefill."
        )
    if sol.decode_mfu is not None and sol.decode_mfu > 1:
        out.append(
            f"decode MFU {_pct(sol.decode_mfu)}: {_num(sol.tokens_per_second, 'tokens/s')} (LoadGen) need more than "
            f"{_num(d.tflops, 'TFLOPS')} ({d.tflops_source}). Inputs: the device figures; the model's shape (config.json)."
        )
    ceiling = sol.decode_ceiling_tokens_per_s
    if ceiling and sol.tokens_per_second and sol.tokens_per_second > ceiling:
        out.append(
            f"throughput {_num(sol.tokens_per_second, 'tokens/s')} (LoadGen) is above the decode ceiling "
            f"({_num(ceiling, 'tokens/s')} at batch {sol.batch:.3g}). Inputs: the batch (from SUT timestamps); device "
            f"{d.name} at {_num(d.bandwidth_gbps, 'GB/s')} ({d.bandwidth_source}); {weights}."
        )
    return out
