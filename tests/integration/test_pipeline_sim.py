"""The whole smoke pipeline through papermill, with the simulator standing in for the model."""

import json
import os
import re
import subprocess
import sys

import pytest

from mlnb.results import load_queries

pytestmark = pytest.mark.slow

FAKE_TOKEN = "hf_" + "Zq7" * 12  # must never reach a log, notebook, report or summary

SIM_FAST = [
    "--backend", "sim",
    "--set", "sim_tpot_ms=1", "--set", "sim_ttft_ms=5",
    "--set", "03_server_perf.target_qps=20", "--set", "04_server_accuracy.target_qps=20",
    "--set", "05_singlestream_perf.target_latency_ms=100",
]


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs")
    env = dict(os.environ, HF_TOKEN=FAKE_TOKEN)
    result = subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--outputs", str(out), *SIM_FAST],
        capture_output=True, text=True, timeout=900, env=env,
    )
    return out, result


def test_pipeline_finishes_and_points_latest(sim_run):
    out, result = sim_run
    assert result.returncode == 0, result.stdout + result.stderr
    latest = out / "latest"
    assert latest.is_symlink() and (latest / "index.html").is_file()
    run = json.loads((latest / "run.json").read_text())
    assert run["status"] == "finished"


def test_every_stage_has_summary_notebook_and_html(sim_run):
    out, _ = sim_run
    run_dir = (out / "latest").resolve()
    for stage in ["01_offline_perf", "02_offline_accuracy", "03_server_perf", "04_server_accuracy", "05_singlestream_perf"]:
        folder = run_dir / stage
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["schema_version"] == 2
        assert summary["simulated"] is True and summary["submittable"] is False
        assert "simulated backend: no model ran" in summary["relaxed_rules"]
        assert summary["verdict"] in {"VALID", "INVALID", "PASS", "FAIL"}
        assert (folder / "loadgen" / "mlperf_log_detail.txt").is_file()
        html = (folder / f"{stage}.html").read_text()
        assert "SIMULATED" in html.upper()
        assert "import mlnb" not in html  # code cells are hidden
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", html)
    offline = json.loads((run_dir / "01_offline_perf" / "summary.json").read_text())
    assert offline["metrics"]["tokens_per_second"] > 0
    server = json.loads((run_dir / "03_server_perf" / "summary.json").read_text())
    assert server["metrics"]["ttft_ms"]["percentiles"]["99.0"] > 0
    # psutil telemetry of the harness process during the test, drawn in the report
    telemetry = server["telemetry"]
    assert telemetry["samples"] >= 2 and telemetry["aggregates"]["harness_rss_mib"]["peak"] > 10
    assert (run_dir / "03_server_perf" / "telemetry.jsonl").is_file()
    assert not (run_dir / "03_server_perf" / "telemetry.partial.jsonl").exists()  # replaced by the series file
    assert "System telemetry during the test" in (run_dir / "03_server_perf" / "03_server_perf.html").read_text()
    accuracy = json.loads((run_dir / "02_offline_accuracy" / "summary.json").read_text())
    assert accuracy["accuracy"]["gen_num"] == 4
    assert (run_dir / "02_offline_accuracy" / "accuracy.txt").read_text().startswith("{'rouge1': '")


def test_the_token_never_reaches_outputs(sim_run):
    out, result = sim_run
    assert FAKE_TOKEN not in result.stdout + result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN not in path.read_text(errors="ignore"), path


def test_rollup_and_index(sim_run):
    out, _ = sim_run
    run_dir = (out / "latest").resolve()
    rollup = json.loads((run_dir / "rollup" / "run_rollup.json").read_text())
    assert json.dumps(rollup).count("01_offline_perf") >= 1
    index = (run_dir / "index.html").read_text()
    for stage in ["01_offline_perf", "03_server_perf", "05_singlestream_perf"]:
        assert f'href="{stage}/{stage}.html"' in index


def test_failed_stage_keeps_logs_and_failure_json(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--outputs", str(out),
         "--stages", "03_server_perf,01_offline_perf", "--backend", "sim", "--set", "03_server_perf.timeout_s=8",
         "--set", "03_server_perf.min_duration_ms=60000", "--continue-on-error"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1
    run_dir = (out / "latest").resolve()
    failure = json.loads((run_dir / "03_server_perf" / "failure.json").read_text())
    assert failure["ename"] == "StageFailed" and "timeout" in failure["evalue"]
    assert (run_dir / "03_server_perf" / "harness.log").is_file()
    # The harness was killed mid-test: the samples taken until then are kept, each line whole.
    samples = (run_dir / "03_server_perf" / "telemetry.partial.jsonl").read_text().splitlines()
    assert len(samples) >= 2 and all("harness_rss_mib" in json.loads(line) for line in samples)
    assert json.loads(samples[-1])["issued"] > 0
    assert (run_dir / "03_server_perf" / "03_server_perf.html").is_file()
    # --continue-on-error ran the next stage
    assert (run_dir / "01_offline_perf" / "summary.json").is_file()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


def test_papermill_runs_a_stage_notebook_on_its_own(tmp_path):
    import papermill as pm

    from mlnb.paths import NOTEBOOKS_DIR

    pm.execute_notebook(
        str(NOTEBOOKS_DIR / "03_server_perf.ipynb"), str(tmp_path / "out.ipynb"),
        parameters={"backend": "sim", "run_dir": str(tmp_path), "target_qps": 10.0, "sim_tpot_ms": 1.0,
                    "scenario": "Interactive"},
        kernel_name="python3", progress_bar=False,
    )
    summary = json.loads((tmp_path / "03_server_perf" / "summary.json").read_text())
    assert summary["scenario"] == "Interactive" and summary["backend"] == "sim"
    # Interactive is LoadGen's Server scenario under the -interactive key, with its tighter limits.
    assert summary["model_key"] == "llama3_1-8b-interactive"
    assert summary["loadgen"]["scenario"] == "Server"
    assert summary["loadgen"]["settings"]["ttft_limit_ms"] == 500 and summary["loadgen"]["settings"]["tpot_limit_ms"] == 30


def test_mmlu_stage_runs_lm_evals_dummy_model_under_sim(sim_run):
    out, _ = sim_run
    folder = (out / "latest").resolve() / "08_mmlu"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["simulated"] is True and summary["lmeval"]["model"] == "dummy"
    assert "simulated backend: no model ran" in summary["relaxed_rules"]
    assert summary["verdict"] == "ACCURACY ONLY" and summary["accuracy"]["n"] > 0
    assert "SIMULATED" in (folder / "08_mmlu.html").read_text()


def test_loadgen_percentiles_are_order_statistics_of_its_own_latencies(sim_run):
    """The crosswalk says LoadGen's pXX is the sorted latencies' value at index floor(p * n), not an
    interpolation (numpy's and vLLM's). Check it against LoadGen's per-query latencies from its trace."""
    out, _ = sim_run
    folder = (out / "latest").resolve() / "03_server_perf"
    summary = json.loads((folder / "summary.json").read_text())
    latencies = sorted(r["loadgen_latency_ms"] for r in load_queries(folder))
    n = len(latencies)
    assert n == summary["metrics"]["query_count"] and n >= 10
    for key, value in summary["metrics"]["latency_ms"]["percentiles"].items():
        assert value == pytest.approx(latencies[min(n - 1, int(float(key) / 100 * n))], abs=0.01), key
