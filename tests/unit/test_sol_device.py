"""Speed of light only where the device is known, and never a utilisation over 100 % without a warning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlnb.config import StageParams, validate_model
from mlnb.errors import InputError
from mlnb.perf.devices import device_by_name
from mlnb.perf.speed_of_light import DeviceFigures, compute, inconsistencies
from mlnb.perf.model_shape import load_shape
from mlnb.report.sol_view import sol_html, stage_speed_of_light

LLAMA_DIR = str(Path(__file__).resolve().parents[2] / "mlnb" / "configs" / "llama-3.1-8b-instruct")
ROWS = [  # two requests decoded side by side for 1 s: batch 2
    {"issued_ms": 0, "first_token_ms": 100, "done_ms": 1100, "prompt_tokens": 1000, "output_tokens": 128},
    {"issued_ms": 0, "first_token_ms": 100, "done_ms": 1100, "prompt_tokens": 1000, "output_tokens": 128},
]


def _openai_summary(tmp_path, tpot_p50_ms: float, **params) -> dict:
    return {
        "backend": "openai",
        "simulated": False,
        "engine": {"backend": "openai", "device": "remote (the server's)"},
        "params": {"model": LLAMA_DIR, "dtype": "auto", "run_dir": str(tmp_path), "batch_size": 8, **params},
        "metrics": {"tokens_per_second": 200.0, "tpot_ms": {"percentiles": {"50.0": tpot_p50_ms}}},
        "sut": {"ttft_ms": {"p50": 100.0}},
    }


def _percentages(html: str) -> list[float]:
    return [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%", html)]


def test_openai_without_a_server_device_draws_no_floors(tmp_path):
    sol, why = stage_speed_of_light(_openai_summary(tmp_path, 2.0), ROWS)
    assert sol is None and why.startswith("device unknown")
    assert "server_device=" in why and "server_device_count=" in why
    html = sol_html(sol, why)
    assert "device unknown" in html and "floor</b>" not in html and "MBU" not in html


def test_openai_uses_the_named_server_device_times_its_count(tmp_path):
    sol, why = stage_speed_of_light(_openai_summary(tmp_path, 20.0, server_device="h200-sxm", server_device_count=2), ROWS)
    assert why == "" and sol is not None
    h200 = device_by_name("h200-sxm")
    assert sol.device.bandwidth_gbps == 2 * h200.memory_bandwidth_gbps
    assert sol.device.tflops == 2 * h200.peak_tflops("bfloat16")
    assert sol.device.name == f"2 \u00d7 {h200.name}" and "given by server_device" in sol.device.bandwidth_source
    assert sol.batch == pytest.approx(2.0)  # the client's concurrency, not the hf batch_size parameter
    # The floor of a bf16 8B decode step on 9.6 TB/s: about 15 GB / 9.6 TB/s, and MBU below 100 %.
    assert sol.tpot_floor_ms == pytest.approx(sol.bytes_per_step / (2 * h200.memory_bandwidth_gbps * 1e9) * 1e3)
    assert 0 < sol.mbu < 1 and not inconsistencies(sol)
    html = sol_html(sol, why)
    assert "Decode reached" in html and "Inconsistent" not in html and "server_device=h200-sxm" in html


def test_a_measured_step_under_the_floor_is_reported_as_inconsistent_inputs(tmp_path):
    # One L4 cannot decode an 8B bf16 model in 2 ms: the page must say which inputs disagree.
    s = _openai_summary(tmp_path, 2.0, server_device="l4", server_device_count=1)
    sol, _ = stage_speed_of_light(s, ROWS)
    assert sol.mbu > 1
    lines = inconsistencies(sol)
    assert len(lines) >= 1 and lines[0].startswith(f"MBU {sol.mbu:.1%}")
    assert "NVIDIA L4" in lines[0] and "bfloat16" in lines[0] and "batch 2" in lines[0] and "LoadGen TPOT p50" in lines[0]
    html = sol_html(sol, "")
    assert "Inconsistent inputs" in html and "Decode reached" not in html
    assert "(inconsistent inputs, see above)" in html
    assert max(_percentages(html)) > 100


def test_no_utilisation_over_100_percent_without_the_warning():
    shape = load_shape(LLAMA_DIR)
    device = DeviceFigures("test device", 1000.0, "given", 100.0, "given")
    for step_ms, ttft_ms, tps in [(50.0, 500.0, 10.0), (1.0, 500.0, 10.0), (50.0, 0.01, 10.0), (50.0, 500.0, 1e7)]:
        sol = compute(shape, "bfloat16", 2, 1, 1000, 1000, device, measured_step_ms=step_ms,
                      measured_step_source="test", measured_ttft_ms=ttft_ms, tokens_per_second=tps)
        over = [u for u in (sol.mbu, sol.prefill_mfu, sol.decode_mfu) if u is not None and u > 1]
        above_ceiling = tps > sol.decode_ceiling_tokens_per_s
        html = sol_html(sol, "")
        assert len(inconsistencies(sol)) == len(over) + above_ceiling
        assert ("Inconsistent inputs" in html) == bool(over or above_ceiling), (step_ms, ttft_ms, tps)
        for value in _percentages(html):
            assert value <= 100 or "Inconsistent inputs" in html


def test_server_device_must_be_in_the_devices_table():
    assert validate_model(StageParams, {"server_device": "H200-SXM"}, "x").server_device == "H200-SXM"
    with pytest.raises(InputError) as err:
        validate_model(StageParams, {"server_device": "tpu-v5"}, "preset.yaml")
    assert "field 'server_device'" in str(err.value) and "h200-sxm" in str(err.value)
    with pytest.raises(InputError):
        validate_model(StageParams, {"server_device_count": 0}, "preset.yaml")


def test_the_stage_header_says_which_prompt_form_ran():
    from mlnb.report.stage_sections import header_html as _header

    s = {"stage": "03_server_perf", "backend": "openai", "model": "embedded",
         "engine": {"prompt_form": "text", "tokenizer": "the default embedded one, not named"}}
    assert "prompts as <b>text</b> (tokenizer: the default embedded one, not named)" in _header(s)
    assert "prompts as" not in _header({"stage": "x", "backend": "hf", "engine": {"device": "cpu"}})
