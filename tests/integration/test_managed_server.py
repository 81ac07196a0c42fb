"""A managed server for the whole run: started, waited for, logged, recorded, and always stopped.

The server here is the zero-compute fixture started through a `kind: command` template, so the
lifecycle is tested in seconds; test_vllm_serve.py does the same with a real `vllm serve`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fixtures.openai_fixture import SERVER_SCRIPT
from mlnb.server.processes import ProcessRecord

pytestmark = pytest.mark.slow


def _preset(tmp_path: Path, server_args: str = "", ready_timeout_s: float = 60, **common) -> Path:
    preset = {
        "description": "openai backend against a managed fixture server",
        "stages": ["03_server_perf"],
        "common": {"backend": "openai", "samples": 4, "max_new_tokens": 8, "timeout_s": 120,
                   "read_timeout_s": 5, **common},
        "per_stage": {"03_server_perf": {"target_qps": 20, "min_duration_ms": 0, "min_query_count": 4}},
        "server": {
            "kind": "command",
            "served_model_name": "fake-model",
            "command": f"{{python}} {SERVER_SCRIPT} --port {{port}} --model {{served_model_name}} --tokenizer {{model}} {server_args}",
            "ready_timeout_s": ready_timeout_s,
            "stop_timeout_s": 5,
        },
    }
    path = tmp_path / "managed.yaml"
    path.write_text(yaml.safe_dump(preset))
    return path


def _mlnb_run(preset: Path, outputs: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", str(preset), "--outputs", str(outputs)],
        capture_output=True, text=True, timeout=timeout,
    )


def _record(run_dir: Path) -> ProcessRecord:
    return ProcessRecord.load(run_dir / "server" / "process.json")


def test_run_starts_the_server_hands_stages_its_url_and_stops_it(tmp_path):
    outputs = tmp_path / "out"
    result = _mlnb_run(_preset(tmp_path, "--tokens 8 --ttft-ms 5"), outputs)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = (outputs / "latest").resolve()
    record = _record(run_dir)
    assert record.live_process() is None  # stopped at the end
    assert "[mlnb] server stopped" in (run_dir / "server" / "server.log").read_text()
    server = json.loads((run_dir / "server" / "server.json").read_text())
    summary = json.loads((run_dir / "03_server_perf" / "summary.json").read_text())
    assert summary["params"]["base_url"] == server["base_url"]
    assert summary["sut"]["errors"] == 0 and summary["sut"]["output_tokens"]["mean"] == 8
    # The managed server serves the preset's model, so its tokenizer is known and token ids go.
    assert summary["engine"]["prompt_form"] == "tokens" and summary["params"]["tokenizer"] == "embedded"
    assert "equals the local count" in summary["engine"]["prompt_token_check"]
    # The engine section says what the server was started with.
    assert summary["engine"]["server_settings"]["base_url"] == server["base_url"]
    assert summary["engine"]["server_settings"]["prefix_caching"].startswith("unknown")


def test_a_server_that_never_gets_ready_fails_the_run_in_bounded_time(tmp_path):
    outputs = tmp_path / "out"
    started = time.monotonic()
    result = _mlnb_run(_preset(tmp_path, "--fault never_ready", ready_timeout_s=4), outputs)
    assert time.monotonic() - started < 120
    assert result.returncode != 0
    assert "not ready within ready_timeout_s=4" in result.stdout
    run_dir = (outputs / "latest").resolve()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "failed" and "503" in run["server_error"]
    assert run["stage_status"] == {"03_server_perf": "not run"}
    assert (run_dir / "server" / "server.log").is_file()
    assert _record(run_dir).live_process() is None


def test_the_server_is_stopped_when_a_stage_fails(tmp_path):
    outputs = tmp_path / "out"
    # The stage asks for a model the server does not serve: the stage fails, the server still stops.
    result = _mlnb_run(_preset(tmp_path, served_model_name="not-served"), outputs)
    assert result.returncode != 0
    run_dir = (outputs / "latest").resolve()
    assert (run_dir / "03_server_perf" / "failure.json").is_file()
    assert "not-served" in (run_dir / "03_server_perf" / "failure.json").read_text()
    assert _record(run_dir).live_process() is None


def test_the_server_is_stopped_when_the_run_is_interrupted(tmp_path):
    outputs = tmp_path / "out"
    preset = _preset(tmp_path, "--tokens 8 --ttft-ms 2000")  # slow answers: the stage is still running
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", str(preset), "--outputs", str(outputs)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not list(outputs.glob("*/03_server_perf/harness.log")) and time.monotonic() < deadline:
            time.sleep(0.5)
        run_dir = next(outputs.glob("*_managed"))
        record = _record(run_dir)
        assert record.live_process() is not None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert record.live_process() is None
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert os.path.exists(run_dir / "server" / "server.log")


def test_transformers_serve_with_the_embedded_model(tmp_path):
    """`transformers serve` (kind: transformers) on the CPU: the openai backend drives it with text prompts."""
    pytest.importorskip("fastapi")
    preset = {
        "description": "openai backend against a managed transformers serve",
        "stages": ["03_server_perf"],
        # short synthetic prompts: the backend's 15 s probe must pass on a busy 2-core machine
        "common": {"backend": "openai", "workload": "synthetic", "synthetic_records": 2, "synthetic_input_tokens": "32",
                   "synthetic_output_tokens": "4", "max_new_tokens": 4, "timeout_s": 300, "read_timeout_s": 120},
        "per_stage": {"03_server_perf": {"target_qps": 1, "min_duration_ms": 0, "min_query_count": 2}},
        "server": {"kind": "transformers", "engine_args": {"device": "cpu", "dtype": "float32"},
                   "ready_timeout_s": 240, "stop_timeout_s": 5},
    }
    path = tmp_path / "tserve.yaml"
    path.write_text(yaml.safe_dump(preset))
    outputs = tmp_path / "out"
    result = _mlnb_run(path, outputs, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = (outputs / "latest").resolve()
    assert _record(run_dir).live_process() is None
    server = json.loads((run_dir / "server" / "server.json").read_text())
    assert server["kind"] == "transformers" and "transformers.cli.transformers" in " ".join(server["command"])
    summary = json.loads((run_dir / "03_server_perf" / "summary.json").read_text())
    assert summary["params"]["prompt_form"] == "text" and summary["params"]["vllm_extras"] is False
    assert summary["sut"]["errors"] == 0 and summary["loadgen"]["num_errors"] == 0
    assert 1 <= summary["sut"]["output_tokens"]["mean"] <= 4


def test_one_server_per_device_and_the_stage_spreads_over_them(tmp_path):
    path = _preset(tmp_path, "--tokens 8 --ttft-ms 5")
    preset = yaml.safe_load(path.read_text())
    preset["server"]["devices"] = ["cpu", "cpu"]
    preset["per_stage"]["03_server_perf"].update(min_query_count=16)
    path.write_text(yaml.safe_dump(preset))
    outputs = tmp_path / "out"
    result = _mlnb_run(path, outputs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server: 2 ready" in result.stdout
    run_dir = (outputs / "latest").resolve()
    servers = [json.loads((run_dir / name / "server.json").read_text()) for name in ("server", "server-1")]
    assert [s["device"] for s in servers] == ["cpu", "cpu"] and servers[0]["base_url"] != servers[1]["base_url"]
    for name in ("server", "server-1"):
        assert ProcessRecord.load(run_dir / name / "process.json").live_process() is None
        assert "[mlnb] server stopped" in (run_dir / name / "server.log").read_text()
    summary = json.loads((run_dir / "03_server_perf" / "summary.json").read_text())
    assert summary["params"]["base_url"] == ",".join(s["base_url"] for s in servers)
    rows = [json.loads(line) for line in (run_dir / "03_server_perf" / "queries.jsonl").read_text().splitlines()]
    assert {r["server"] for r in rows} == {s["base_url"] for s in servers}  # both answered
    from mlnb.server.processes import recorded_processes

    assert len({path.resolve() for path, _ in recorded_processes(outputs)}) == 2  # `mlnb cleanup` sees both
