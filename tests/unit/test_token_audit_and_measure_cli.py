"""Token audit on hand-made accuracy logs, and `mlnb sysinfo --measure`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mlnb.report.token_audit import audit_html, audit_stage

EOS = 2  # the embedded model's EOS id


def _hex(ids):
    return np.asarray(ids, dtype="<i4").tobytes().hex().upper()


def _stage(tmp_path, entries, scenario="Server"):
    (tmp_path / "loadgen").mkdir()
    (tmp_path / "loadgen" / "mlperf_log_accuracy.json").write_text(json.dumps(entries))
    return {"scenario": scenario, "mode": "accuracy", "engine": {"eos_token_ids": [EOS]},
            "params": {"model": "embedded", "dataset": "embedded", "samples": 4}}


def test_clean_log_passes_and_lengths_face_the_references(tmp_path):
    entries = [{"seq_id": i, "qsl_idx": i, "data": _hex([5, 6, 7, EOS]), "token_data": _hex([5]), "token_count": 4} for i in range(4)]
    audit, why = audit_stage(_stage(tmp_path, entries), tmp_path)
    assert why == "" and audit.checks.passed and audit.checks.first_token == "True"
    assert audit.output_lengths.tolist() == [4, 4, 4, 4]
    assert audit.reference_lengths is not None and audit.reference_lengths.size == 4 and audit.reference_lengths.min() > 10
    assert "dataset reference outputs" in audit_html(audit, why)


def test_double_eos_wrong_count_and_bad_first_token_fail(tmp_path):
    entries = [
        {"seq_id": 0, "qsl_idx": 0, "data": _hex([5, 6, EOS, EOS]), "token_data": _hex([5]), "token_count": 4},
        {"seq_id": 1, "qsl_idx": 1, "data": _hex([5, 6, 7]), "token_data": _hex([9]), "token_count": 2},
    ]
    audit, _ = audit_stage(_stage(tmp_path, entries), tmp_path)
    c = audit.checks
    assert not c.passed and not c.eos and not c.sample_length and c.first_token == "False"
    html = audit_html(audit, "")
    assert "ends with 2 EOS tokens" in html and "n_tokens 2 != 3" in html


def test_missing_log_says_so(tmp_path):
    audit, why = audit_stage({"params": {}}, tmp_path)
    assert audit is None and "mlperf_log_accuracy.json" in why


def test_sysinfo_measure_stores_the_measurement(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mlnb.cli", "sysinfo", "--out", str(tmp_path / "s.json"), "--measure"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "GB/s" in proc.stdout
    measured = json.loads((tmp_path / "s.json").read_text())["mlnb_observed_settings"]["device_measure"]
    assert measured["copy"]["bandwidth_gbps"] > 0 and measured["matmul"]["tflops"] > 0
