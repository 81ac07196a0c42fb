"""The TEST06 compliance stage through the real LoadGen (simulated engine: the checks are what is tested)."""

import json

import pytest

from mlnb.config import StageParams
from mlnb.stages.loadgen_stage import run_stage

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario, first_token", [("Offline", "Skipped"), ("Server", "True")])
def test_test06_stage_samples_and_checks_responses(tmp_path, scenario, first_token):
    p = StageParams(
        run_dir=str(tmp_path), stage="t06", scenario=scenario, mode="test06", backend="sim", samples=16,
        target_qps=50.0, sim_tpot_ms=1.0, sim_ttft_ms=5.0,
    )
    summary = run_stage(p)
    assert summary.verdict == "PASS" and summary.compliance["passed"]
    # audit.config was used: ~100 sampled responses logged in a performance run
    assert summary.loadgen["mode"] == "PerformanceOnly"
    entries = json.loads((tmp_path / "t06" / "loadgen" / "mlperf_log_accuracy.json").read_text())
    assert summary.compliance["samples_checked"] == len(entries) >= 50
    lines = (tmp_path / "t06" / "verify_accuracy.txt").read_text().splitlines()
    assert lines[0] == f"First token check pass: {first_token}"
    assert lines[1:] == ["EOS check pass: True", "Sample length check pass: True", "TEST06 verification complete"]
