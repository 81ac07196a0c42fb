"""profile=true on the CPU with the embedded model: a Chrome trace beside the stage and the top ops in its report."""

from __future__ import annotations

import json

import pytest

from mlnb.config import StageParams
from mlnb.report.stage_view import stage_html
from mlnb.stages.loadgen_stage import run_stage

pytestmark = pytest.mark.slow


def test_profile_window_writes_a_trace_and_the_report_lists_top_ops(tmp_path):
    p = StageParams(run_dir=str(tmp_path), stage="prof", backend="hf", model="embedded", scenario="Offline",
                    samples=3, max_new_tokens=4, batch_size=1, device="cpu", profile=True, profile_batches=2,
                    min_query_count=3, min_duration_ms=0)
    summary = run_stage(p)
    profile = summary.engine["profile"]
    assert profile["device"] == "cpu" and profile["sorted_by"] == "CPU time"
    assert profile["trace_file"] == "profile/trace.json"
    assert "first 2 batches" in profile["window"] and "(2 requests" in profile["window"]
    trace = json.loads((tmp_path / "prof" / profile["trace_file"]).read_text())
    names = {event.get("name", "") for event in trace["traceEvents"]}
    assert any(name.startswith("aten::") for name in names)
    ops = profile["top_ops"]
    assert 5 <= len(ops) <= 15 and all(op["calls"] >= 1 for op in ops)
    assert [op["self_ms"] for op in ops] == sorted((op["self_ms"] for op in ops), reverse=True)
    assert any("profile=true" in rule for rule in summary.relaxed_rules)
    page = stage_html(tmp_path / "prof")
    assert "Profile (torch.profiler, cpu)" in page and "profile/trace.json" in page and ops[0]["name"] in page
