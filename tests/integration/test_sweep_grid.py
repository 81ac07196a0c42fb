"""A server-setting grid: the managed server (here the zero-compute fixture, started as a `command`
server) restarts for every setting, and each setting's curve is on one chart.

The grid's engine argument reaches the server as a flag (``itl_ms=25,100`` -> ``--itl-ms 25``), so
each setting's per-user speed is the fixture's pace under that setting: 1000 / itl_ms.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "openai_server.py"


@pytest.mark.slow  # two full runs, each with its own server start, about a minute on a 2-core machine
def test_grid_restarts_the_managed_server_per_setting(tmp_path):
    preset = {
        "description": "fixture as a managed server", "stages": ["01_offline_perf"],
        "common": {"backend": "openai", "model": "embedded", "dataset": "embedded", "samples": 4,
                   "max_new_tokens": 11, "timeout_s": 300, "read_timeout_s": 10},
        "per_stage": {"01_offline_perf": {"min_duration_ms": 0, "min_query_count": 4}},
        "server": {"kind": "command", "ready_timeout_s": 120,
                   "command": f"{{python}} {SERVER_SCRIPT} --port {{port}} --model {{served_model_name}} "
                              "--tokens 11 --ttft-ms 50 --tokenizer {model}"},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(preset))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "mlnb.cli", "sweep", "--preset", str(path), "--concurrency", "2",
                             "--grid", "itl_ms=25,100", "--outputs", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    sweep_dir = next(p for p in out.iterdir() if (p / "sweep.json").is_file())
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["spec"]["server_grid"] == {"itl_ms": [25, 100]}
    points = state["points"]
    assert [p["setting"] for p in points] == [{"itl_ms": 25}, {"itl_ms": 100}]
    for point in points:
        itl = point["setting"]["itl_ms"]
        # its own server, started with the setting's flag, and stopped with its run
        process = json.loads((sweep_dir / point["run_dir"] / "server" / "server.json").read_text())
        assert process["command"][-2:] == ["--itl-ms", str(itl)]
        assert point["per_user_tokens_per_s"] == pytest.approx(1000 / itl, rel=0.1)
    levels = state["result"]["levels"]
    assert [row["setting_text"] for row in levels] == ["itl_ms=25", "itl_ms=100"]
    page = (sweep_dir / "sweep.html").read_text()
    assert "Server-setting grid" in page and "itl_ms=25" in page and "itl_ms=100" in page
    with open(sweep_dir / "points.csv") as handle:
        assert "itl_ms=100" in handle.read()
    # the runs browser lists the sweep folder
    from mlnb.report.runs_list import list_runs

    listed = {run["run_id"]: run for run in list_runs(out)}
    assert listed[sweep_dir.name]["status"] == "finished" and listed[sweep_dir.name]["backend"] == "openai"
    assert listed[sweep_dir.name]["kind"] == "sweep"
