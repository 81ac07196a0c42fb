"""Bad DeepSeek-R1 data: one clear line naming file, field and value; exit 2; no run folder."""

import json
import subprocess
import sys

import pandas as pd
import pytest


def mlnb(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def workdir(tmp_path):
    good = {"text_input": "p", "ground_truth": "1", "dataset": "aime", "question": "q"}
    pd.DataFrame([{k: v for k, v in good.items() if k != "text_input"}]).to_pickle(tmp_path / "no_text.pkl")
    pd.DataFrame([{k: v for k, v in good.items() if k != "ground_truth"}]).to_pickle(tmp_path / "no_truth.pkl")
    pd.DataFrame([good, {**good, "dataset": "squad_v2"}]).to_pickle(tmp_path / "unknown_kind.pkl")
    (tmp_path / "no_dataset.json").write_text(json.dumps([{k: v for k, v in good.items() if k != "dataset"}]))
    (tmp_path / "unknown_kind.json").write_text(json.dumps([{**good, "dataset": "triviaqa"}]))
    (tmp_path / "broken.pkl").write_bytes(b"not a pickle at all")
    return tmp_path


@pytest.mark.parametrize(
    "dataset, fragments",
    [
        ("no_text.pkl", ["no_text.pkl column 'text_input'", "missing"]),
        ("no_truth.pkl", ["no_truth.pkl column 'ground_truth'", "gt_output"]),
        ("unknown_kind.pkl", ["unknown_kind.pkl record 1 field 'dataset'", "'squad_v2'"]),
        ("no_dataset.json", ["no_dataset.json record 0 field 'dataset'", "missing"]),
        ("unknown_kind.json", ["record 0 field 'dataset'", "'triviaqa'", "gpqa"]),
        ("broken.pkl", ["broken.pkl", "not a readable pickle"]),
    ],
)
def test_bad_deepseek_data_stops_before_the_run(workdir, dataset, fragments):
    result = mlnb("run", "--outputs", "out", "--stages", "11_dsr1_offline_accuracy", "--dataset", dataset, cwd=workdir)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (workdir / "out").exists() or not any((workdir / "out").iterdir())


def test_unknown_workload_and_a_scenario_deepseek_lacks(workdir):
    result = mlnb("run", "--outputs", "out", "--stages", "01_offline_perf", "--set", "workload=gsm8k", cwd=workdir)
    assert result.returncode == 2 and "workload" in result.stderr and "gsm8k" in result.stderr
    result = mlnb("run", "--outputs", "out", "--stages", "05_singlestream_perf", "--set", "workload=deepseek-r1", cwd=workdir)
    assert result.returncode == 2 and "no SingleStream scenario" in result.stderr
    assert not (workdir / "out").exists() or not any((workdir / "out").iterdir())
