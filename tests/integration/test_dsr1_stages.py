"""The four DeepSeek-R1 smoke stages on the real embedded model, through the CLI (slow)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlnb.accuracy.accuracy_log import dedupe_by_qsl_idx, read_accuracy_log
from mlnb.accuracy.exact_match import score_text
from mlnb.data.dsr1 import EMBEDDED_DATASET, KINDS, load_dsr1

pytestmark = pytest.mark.slow

STAGES = ["10_dsr1_offline_perf", "11_dsr1_offline_accuracy", "12_dsr1_server_perf", "13_dsr1_interactive_perf"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("dsr1")
    result = subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--stages", ",".join(STAGES), "--outputs", str(out)],
        capture_output=True, text=True, timeout=900, cwd=Path(__file__).resolve().parents[2], env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "latest"


def _summary(run_dir, stage):
    return json.loads((run_dir / stage / "summary.json").read_text())


def test_stages_run_under_the_deepseek_model_keys(run_dir):
    keys = {stage: _summary(run_dir, stage)["model_key"] for stage in STAGES}
    assert keys == {
        "10_dsr1_offline_perf": "deepseek-r1",
        "11_dsr1_offline_accuracy": "deepseek-r1",
        "12_dsr1_server_perf": "deepseek-r1",
        "13_dsr1_interactive_perf": "deepseek-r1-interactive",
    }
    server, interactive = _summary(run_dir, "12_dsr1_server_perf"), _summary(run_dir, "13_dsr1_interactive_perf")
    # The limits come from the mlperf.conf inside the LoadGen wheel, as LoadGen logged them.
    assert (server["loadgen"]["settings"]["ttft_limit_ms"], server["loadgen"]["settings"]["tpot_limit_ms"]) == (2000.0, 80.0)
    assert (interactive["loadgen"]["settings"]["ttft_limit_ms"], interactive["loadgen"]["settings"]["tpot_limit_ms"]) == (1500.0, 15.0)
    assert interactive["scenario"] == "Interactive" and interactive["verdict"] in ("VALID", "INVALID")
    for stage in STAGES:
        summary = _summary(run_dir, stage)
        assert summary["status"] == "finished" and summary["dataset"]["workload"] == "deepseek-r1"
        assert "dataset is not the official MLPerf DeepSeek-R1 set (4388 samples)" in summary["relaxed_rules"]
        assert summary["metrics"]["tokens_per_second"] or summary["mode"] == "accuracy"
        assert (run_dir / stage / f"{stage}.html").is_file()


def test_accuracy_is_scored_per_sample_and_per_dataset(run_dir):
    stage_dir = run_dir / "11_dsr1_offline_accuracy"
    accuracy = _summary(run_dir, "11_dsr1_offline_accuracy")["accuracy"]
    records = load_dsr1(EMBEDDED_DATASET)
    entries = dedupe_by_qsl_idx(read_accuracy_log(stage_dir / "loadgen" / "mlperf_log_accuracy.json"))
    assert len(entries) == 5 and set(accuracy["per_dataset"]) == set(KINDS)
    # tokens_per_sample is the mean token count of LoadGen's accuracy log
    assert accuracy["tokens_per_sample"] == pytest.approx(np.mean([e.token_ids.size for e in entries]), abs=1e-3)
    from transformers import AutoTokenizer

    from mlnb.models.embedded import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("embedded"))
    samples = [json.loads(line) for line in (stage_dir / "accuracy_samples.jsonl").read_text().splitlines()]
    by_idx = {e.qsl_idx: e for e in entries}
    for sample in samples:
        record = records[sample["qsl_idx"]]
        # the scored text is the whole decoded output (nothing stripped), re-scored here the same way
        full = tokenizer.decode(by_idx[sample["qsl_idx"]].token_ids, skip_special_tokens=True)
        assert sample["prediction"] == full
        assert sample["score"] == score_text(record["kind"], full, record)[0]
        assert sample["kind"] == record["kind"]
    mean = sum(s["score"] for s in samples) / len(samples)
    assert accuracy["exact_match"] == pytest.approx(mean, abs=1e-3)
    line = (stage_dir / "accuracy.txt").read_text()
    assert float(re.match(r".*'exact_match':\s([\d.]+).*", line).group(1)) == pytest.approx(mean, abs=1e-3)
    assert re.match(r".*'tokens_per_sample':\s([\d.]+).*", line)
    assert {t["metric"] for t in accuracy["targets"]} == {"exact_match", "tokens_per_sample", "num-samples"}
    assert "reference model" in accuracy["targets_note"] or "DeepSeek-R1" in accuracy["targets_note"]
    html = (stage_dir / "11_dsr1_offline_accuracy.html").read_text()
    assert "Accuracy (exact match)" in html and "Per dataset" in html and "livecodebench" in html
