"""Speed-of-light math on hand-computed cases (numbers worked out here from the configs' fields)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlnb.errors import InputError
from mlnb.perf.devices import device_table, match_device
from mlnb.perf.model_shape import load_shape, shape_from_config
from mlnb.perf.speed_of_light import DeviceFigures, compute, decode_step_bytes, prefill_flops

ROOT = Path(__file__).resolve().parents[2]
LLAMA_DIR = ROOT / "mlnb" / "configs" / "llama-3.1-8b-instruct"

# Llama-3.1-8B, by hand from its config.json: V=128256, h=4096, L=32, H=32, n_kv=8, d=128, I=14336.
V, h, L, H, KV, D, I = 128256, 4096, 32, 32, 8, 128, 14336
LLAMA_LAYER = h * H * D + 2 * h * KV * D + H * D * h + 3 * h * I + 2 * h  # q, k+v, o, gated MLP, 2 norms
LLAMA_TOTAL = L * LLAMA_LAYER + V * h + V * h + h  # blocks, embedding, untied LM head, final norm


def test_llama_8b_parameter_count_and_bf16_weights():
    shape = load_shape(LLAMA_DIR)
    assert LLAMA_TOTAL == 8_030_261_248  # the published "8.03B"
    assert shape.total_params == LLAMA_TOTAL
    assert shape.total_params * 2 / 1e9 == pytest.approx(16.06, abs=0.005)
    assert shape.kv_bytes_per_token(2) == 131_072  # 128 KiB of K and V per token in bf16


def test_llama_8b_bytes_per_step_and_tpot_floor_at_batch_1():
    shape = load_shape(LLAMA_DIR)
    context = 1024
    by_hand = (LLAMA_TOTAL - V * h) * 2 + 1 * context * 2 * L * KV * D * 2  # untied input table is not read
    assert by_hand == 15_144_067_072
    assert decode_step_bytes(shape, 1, context, 2, 2) == by_hand
    h100 = DeviceFigures("H100", 3350.0, "table", 989.4, "table")
    sol = compute(shape, "bfloat16", 2, batch=1, context=context, prompt_tokens=1000, device=h100, measured_step_ms=10.0)
    assert sol.tpot_floor_ms == pytest.approx(by_hand / 3.35e12 * 1e3)  # about 4.52 ms
    assert sol.achieved_bandwidth_gbps == pytest.approx(by_hand / 0.010 / 1e9)
    assert sol.mbu == pytest.approx(by_hand / 0.010 / 3.35e12)  # about 45 %


def test_batch_adds_kv_of_every_sequence_and_compute_can_take_over():
    shape = load_shape(LLAMA_DIR)
    one = decode_step_bytes(shape, 1, 2000, 2, 2)
    eight = decode_step_bytes(shape, 8, 2000, 2, 2)
    assert eight - one == 7 * 2000 * 131_072
    # At batch 4096 on an H100, 2*N*B FLOPs outlast the memory traffic.
    dev = DeviceFigures("H100", 3350.0, "t", 989.4, "t")
    sol = compute(shape, "bfloat16", 2, batch=4096, context=10, prompt_tokens=10, device=dev)
    flops_s = 2 * (L * LLAMA_LAYER + V * h) * 4096 / 989.4e12
    assert sol.tpot_floor_ms == pytest.approx(flops_s * 1e3)


def test_prefill_flops_and_ttft_floor():
    shape = load_shape(LLAMA_DIR)
    S = 1000
    by_hand = 2 * L * LLAMA_LAYER * S + 2 * V * h + 2 * L * H * D * S * S
    assert prefill_flops(shape, S) == by_hand
    dev = DeviceFigures("H100", 3350.0, "t", 989.4, "t")
    sol = compute(shape, "bfloat16", 2, batch=1, context=S, prompt_tokens=S, device=dev, measured_ttft_ms=100.0)
    assert sol.ttft_floor_ms == pytest.approx(max(by_hand / 989.4e12, (LLAMA_TOTAL - V * h) * 2 / 3.35e12) * 1e3)
    assert sol.prefill_mfu == pytest.approx(by_hand / 0.1 / 989.4e12)


def test_smollm2_tied_embeddings_are_read_every_step(embedded_model_dir):
    shape = load_shape(embedded_model_dir)
    layer = 576 * 9 * 64 + 2 * 576 * 3 * 64 + 9 * 64 * 576 + 3 * 576 * 1536 + 2 * 576
    total = 30 * layer + 49152 * 576 + 576  # tied: one table, used as the LM head too
    assert total == 134_515_008
    assert shape.total_params == total and shape.params_read_per_decode_step == total
    assert decode_step_bytes(shape, 2, 500, 4, 4) == total * 4 + 2 * 500 * (2 * 30 * 3 * 64 * 4)


def test_bad_configs_fail_with_the_field_named(tmp_path):
    with pytest.raises(InputError, match="num_hidden_layers"):
        shape_from_config({"hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "vocab_size": 8}, where="c.json")
    with pytest.raises(InputError, match="mixture-of-experts"):
        shape_from_config({"num_local_experts": 8}, where="c.json")
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(InputError, match="is not JSON"):
        load_shape(tmp_path)


def test_device_table_is_versioned_sourced_and_matches_names():
    table = device_table()
    assert isinstance(table["table_version"], int)
    ids = {d["id"] for d in table["devices"]}
    assert {"h100-sxm", "h100-pcie", "h200-sxm", "a100-sxm-40gb", "a100-sxm-80gb", "l40s", "l4", "cpu"} <= ids
    assert all(d["source"] for d in table["devices"])
    assert match_device("NVIDIA H100 80GB HBM3").id == "h100-sxm"
    assert match_device("NVIDIA H100 PCIe").id == "h100-pcie"
    assert match_device("NVIDIA H200").memory_bandwidth_gbps == 4800
    assert match_device("NVIDIA A100-SXM4-40GB").id == "a100-sxm-40gb"
    assert match_device("NVIDIA L40S").id == "l40s"  # not the L4
    assert match_device("NVIDIA L4").id == "l4"
    assert match_device(None).id == "cpu" and match_device("Some Accelerator").memory_bandwidth_gbps is None


def test_effective_batch_is_time_weighted_and_capped():
    from mlnb.report.sol_view import effective_batch

    rows = [  # A decodes 0-100 ms alone, then B joins for 100-200, A ends, B goes on alone 200-300
        {"issued_ms": 0, "first_token_ms": 0, "done_ms": 200},
        {"issued_ms": 50, "first_token_ms": 100, "done_ms": 300},
    ]
    assert effective_batch(rows, cap=None) == pytest.approx((1 * 100 + 2 * 100 + 1 * 100) / 300)
    assert effective_batch(rows, cap=1) == pytest.approx(1.0)


def test_device_measure_on_cpu_is_consistent():
    from mlnb.perf.measure import measure_device

    result = measure_device("cpu")
    assert result["copy"]["bandwidth_gbps"] > 0.1 and result["matmul"]["tflops"] > 0
    assert result["copy"]["bandwidth_gbps"] == pytest.approx(2 * result["copy"]["bytes_each_way"] / result["copy"]["best_seconds"] / 1e9, rel=1e-3)
    assert result["matmul"]["tflops"] == pytest.approx(2 * 1024**3 / result["matmul"]["best_seconds"] / 1e12, rel=1e-2)
    json.dumps(result)


def test_latency_chart_draws_the_floor_and_widens_to_show_it():
    from mlnb.report.plots import latency_distribution

    fig = latency_distribution([40.0, 42.0, 45.0, 50.0], "TPOT", floor_ms=10.0)
    ax_hist, ax_cdf = fig.axes[:2]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(label.startswith("speed-of-light floor (10") for label in labels)
    assert ax_hist.get_xlim()[0] <= 10.0 and ax_cdf.get_xlim()[0] <= 10.0


def test_replicas_scale_the_floors_with_the_device_count():
    shape = load_shape(LLAMA_DIR)
    h200 = DeviceFigures("H200", 4800.0, "t", 989.4, "t")
    one = compute(shape, "bfloat16", 2, batch=8, context=1024, prompt_tokens=700, device=h200,
                  measured_step_ms=10.0, measured_ttft_ms=100.0, tokens_per_second=1000.0)
    two = compute(shape, "bfloat16", 2, batch=16, context=1024, prompt_tokens=700, device=h200,
                  measured_step_ms=10.0, measured_ttft_ms=100.0, tokens_per_second=2000.0, devices=2)
    # 16 sequences on 2 devices: each device decodes 8, so the per-user floor is one device's at batch 8
    assert two.tpot_floor_ms == pytest.approx(one.tpot_floor_ms)
    assert two.bytes_per_step == pytest.approx(decode_step_bytes(shape, 8, 1024, 2, 2))
    assert two.decode_ceiling_tokens_per_s == pytest.approx(2 * one.decode_ceiling_tokens_per_s)
    assert two.mbu == pytest.approx(one.mbu)  # per device, against one device's bandwidth
    assert two.decode_mfu == pytest.approx(one.decode_mfu)  # twice the tokens over twice the FLOP/s
    assert two.ttft_floor_ms == pytest.approx(one.ttft_floor_ms)  # a prompt runs on one device
    assert two.devices == 2 and any("2 replicas" in note for note in two.notes)
    assert compute(shape, "bfloat16", 2, batch=16, context=1024, prompt_tokens=700, device=h200).tpot_floor_ms > two.tpot_floor_ms
