"""Speed of light and load-generator health on a real (embedded-model) Server stage."""

from __future__ import annotations

import re

import pytest

from mlnb.config import StageParams
from mlnb.fileio import write_json_atomic
from mlnb.perf.measure import MEASURE_FILE, measure_device
from mlnb.report.stage_view import stage_html
from mlnb.results import load_queries
from mlnb.stages.loadgen_stage import run_stage

pytestmark = pytest.mark.slow


def test_server_stage_report_sets_the_real_model_against_the_measured_cpu(tmp_path):
    write_json_atomic(tmp_path / MEASURE_FILE, measure_device("cpu"))
    p = StageParams(
        run_dir=str(tmp_path), stage="server", scenario="Server", target_qps=2.0, min_duration_ms=1000,
        min_query_count=4, backend="hf", model="embedded", samples=4, max_new_tokens=8, batch_size=4,
    )
    summary = run_stage(p)
    rows = load_queries(tmp_path / "server")
    assert all(r.get("scheduled_ms") is not None and r["loadgen_latency_ms"] >= r["done_ms"] - r["issued_ms"] for r in rows)

    from mlnb.report.sol_view import stage_speed_of_light

    sol, why = stage_speed_of_light(summary.model_dump(mode="json"), rows)
    assert why == "" and sol.weight_dtype == "float32" and sol.params_total == 134_515_008
    assert sol.device.bandwidth_source.startswith("measured")
    assert sol.measured_step_ms == summary.metrics["tpot_ms"]["percentiles"]["50.0"]
    assert 0 < sol.mbu == pytest.approx(sol.bytes_per_step / (sol.measured_step_ms / 1e3) / (sol.device.bandwidth_gbps * 1e9))

    html = stage_html(summary)
    assert re.search(r"Decode reached [0-9.]+% of the memory-bandwidth floor", html)
    assert "Load-generator health" in html and "TTFT from scheduled time (MLPerf)" in html
    assert "Metric crosswalk" in html
