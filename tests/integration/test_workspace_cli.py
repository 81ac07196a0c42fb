"""The command line around workspaces and the Llama seed's switches: bad input is one line and exit 2
(nothing written), and what each switch maps to is printed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SWITCHES = ("RUN_PERF_SERVER", "RUN_ACC_SERVER", "RUN_PERF_OFFLINE", "RUN_ACC_OFFLINE", "RUN_MMLU_SMOKE",
            "SMOKE_SAMPLES", "MMLU_LIMIT", "FORCE_FREE_GPU", "MLNB_OUTPUTS")


def mlnb(*args, cwd, extra_env=None, timeout=120):
    env = {name: value for name, value in os.environ.items() if name not in SWITCHES}
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): ("dir" if p.is_dir() else p.stat().st_size) for p in sorted(folder.rglob("*"))}


def _one_line_error(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, env, fragments",
    [
        ([], {"RUN_PERF_SERVER": "yes"}, ["RUN_PERF_SERVER='yes' (environment)", "expected 0 or 1"]),
        (["--server-perf", "on"], {}, ["--server-perf 'on'", "expected 0 or 1"]),
        (["--mmlu", "2"], {"RUN_MMLU_SMOKE": "1"}, ["--mmlu '2'", "expected 0 or 1"]),
        ([], {"SMOKE_SAMPLES": "5x"}, ["SMOKE_SAMPLES='5x' (environment)", "whole number"]),
        (["--mmlu-limit", "0"], {}, ["--mmlu-limit '0'", "whole number"]),
        ([], {"MMLU_LIMIT": "-2"}, ["MMLU_LIMIT='-2' (environment)"]),
        ([], {"FORCE_FREE_GPU": "please"}, ["FORCE_FREE_GPU='please' (environment)", "expected 0 or 1"]),
        (["--stages", "03_server_perf"], {"RUN_PERF_SERVER": "0"}, ["stage switches", "every stage is switched off"]),
        ([], {"SMOKE_SAMPLES": "500"}, ["samples=500", "64 records"]),  # a mapped value is checked like its option
    ],
)
def test_bad_switches_are_one_line_and_write_nothing(tmp_path, args, env, fragments):
    before = _snapshot(tmp_path)
    _one_line_error(mlnb("run", "--preset", "smoke", "--backend", "sim", *args, cwd=tmp_path, extra_env=env), *fragments)
    assert _snapshot(tmp_path) == before


def test_init_over_an_existing_workspace_and_report_without_a_run(tmp_path):
    assert mlnb("init", "ws", cwd=tmp_path).returncode == 0
    before = _snapshot(tmp_path)
    _one_line_error(mlnb("init", "ws", cwd=tmp_path), "mlnb init ws", "already exist", "nothing written")
    _one_line_error(mlnb("init", "ws/README.md", cwd=tmp_path), "is a file")
    _one_line_error(mlnb("report", cwd=tmp_path / "ws"), "outputs/latest does not exist")
    assert _snapshot(tmp_path) == before


def test_sysinfo_writes_into_the_workspace_outputs_and_says_where(tmp_path):
    assert mlnb("init", "ws", cwd=tmp_path).returncode == 0
    result = mlnb("sysinfo", cwd=tmp_path / "ws" / "notebooks")
    assert result.returncode == 0, result.stderr
    target = tmp_path / "ws" / "outputs" / "system.json"
    assert f"wrote {target}" in result.stdout and json.loads(target.read_text())
    assert not (tmp_path / "ws" / "notebooks" / "system.json").exists()
    _one_line_error(mlnb("sysinfo", "--run", "nowhere", cwd=tmp_path / "ws"), "--run 'nowhere'", "folder not found")


def test_switches_map_onto_a_run_and_report_defaults_to_latest(tmp_path):
    assert mlnb("init", "ws", cwd=tmp_path).returncode == 0
    ws = tmp_path / "ws"
    env = {"RUN_PERF_SERVER": "0", "RUN_ACC_SERVER": "0", "RUN_ACC_OFFLINE": "0", "RUN_MMLU_SMOKE": "0",
           "SMOKE_SAMPLES": "2", "MMLU_LIMIT": "3", "FORCE_FREE_GPU": "1"}
    result = mlnb("run", "--preset", "smoke", "--backend", "sim", "--stages", "01_offline_perf,03_server_perf",
                  "--no-progress", cwd=ws, extra_env=env, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "RUN_PERF_SERVER=0 (environment) -> stage 03_server_perf off" in out
    assert "SMOKE_SAMPLES=2 (environment) -> --samples 2" in out
    assert "MMLU_LIMIT=3 (environment) -> nothing (no 08_mmlu stage in this run)" in out
    assert "FORCE_FREE_GPU=1 (environment) -> stop leftover processes of ended mlnb runs" in out and "free: " in out
    assert f"preset: {ws / 'parameters' / 'smoke.yaml'} (workspace)" in out
    run_dir = (ws / "outputs" / "latest").resolve()
    assert json.loads((run_dir / "run.json").read_text())["stages"] == ["01_offline_perf"]
    assert json.loads((run_dir / "01_offline_perf" / "params.json").read_text())["samples"] == 2

    report = mlnb("report", cwd=ws / "notebooks")
    assert report.returncode == 0, report.stderr
    assert "no RUN_DIR given: the newest run" in report.stdout and f"report: {ws / 'outputs' / 'latest' / 'index.html'}" in report.stdout
