"""Reports: plots, the stage view, the run rollup and index.html, on a synthetic run folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from mlnb.results import StageSummary
from mlnb.report import plots
from mlnb.report.run_index import build_rollup, index_html, write_index, write_rollup
from mlnb.report.run_summary import run_summary_parts
from mlnb.report.stage_view import params_html, stage_html, stage_parts

EVIL = '<script>alert("pwned")</script> & </div></details>'


def _stats(base: float, spread: float) -> dict:
    return {
        "min": base,
        "mean": base + spread / 2,
        "max": base + spread * 1.2,
        "percentiles": {"50.0": base + spread / 2, "90.0": base + spread * 0.9, "99.0": base + spread, "99.9": base + spread * 1.1},
    }


def _summary(stage: str, **overrides) -> dict:
    summary = {
        "schema_version": 1,
        "stage": stage,
        "title": stage.replace("_", " "),
        "status": "finished",
        "scenario": "Offline",
        "mode": "performance",
        "model_key": "llama3_1-8b",
        "backend": "hf",
        "simulated": False,
        "model": "embedded",
        "dataset": {"path": "embedded", "records_in_file": 20, "samples_used": 20, "retokenized": False, "tokenization_note": ""},
        "verdict": "VALID",
        "verdict_reasons": [],
        "submittable": False,
        "relaxed_rules": ["20 samples instead of the full 13368"],
        "metrics": {
            "samples_per_second": 3.25,
            "tokens_per_second": 412.5,
            "query_count": 1,
            "latency_ms": _stats(800.0, 900.0),
            "ttft_ms": None,
            "tpot_ms": None,
        },
        "loadgen": {"validity": "VALID", "settings": {"ttft_limit_ms": None, "tpot_limit_ms": None}, "errors": [], "warnings": []},
        "accuracy": None,
        "sut": {"source": "SUT timestamps", "errors": 0, "error_examples": [], "e2e_ms": {"count": 3, "mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "max": 1.0}},
        "engine": {"backend": "hf", "device": "cpu"},
        "timings_s": {"load": 1.5, "loadgen_test": 6.2},
        "environment": {"python": "3.11", "packages": {"mlnb": "0.1.0"}},
        "params": {"stage": stage, "scenario": "Offline", "samples": 20},
    }
    summary.update(overrides)
    return StageSummary.model_validate(summary).model_dump(mode="json")  # keeps the fixture on schema v1


def _queries(n: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows, t = [], 0.0
    for i in range(n):
        t += float(rng.exponential(60.0))
        ttft = 30.0 + float(rng.random() * 5)
        tokens = int(rng.integers(10, 60))
        rows.append(
            {
                "sample_index": i % 12,
                "prompt_tokens": 100 + i,
                "issued_ms": t,
                "first_token_ms": t + ttft,
                "done_ms": t + ttft + 4.0 * (tokens - 1),
                "output_tokens": tokens,
                "error": None,
            }
        )
    return rows


def _write_stage(run_dir: Path, summary: dict, rows: list[dict] | None = None) -> Path:
    stage_dir = run_dir / summary["stage"]
    stage_dir.mkdir(parents=True, exist_ok=True)
    (stage_dir / "summary.json").write_text(json.dumps(summary))
    (stage_dir / f"{summary['stage']}.html").write_text("<html></html>")
    if rows is not None:
        (stage_dir / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return stage_dir


def server_sim_summary() -> dict:
    return _summary(
        "03_server_perf",
        scenario="Server",
        backend="sim",
        simulated=True,
        verdict="INVALID",
        verdict_reasons=["early stopping not met", "Would need to run at least 411 more queries"],
        relaxed_rules=["min_duration 2000 ms < 600000 ms required", "simulated backend: no model ran"],
        metrics={
            "samples_per_second": 17.33,
            "tokens_per_second": 666.75,
            "query_count": 48,
            "latency_ms": _stats(116.0, 140.0),
            "ttft_ms": _stats(32.0, 3.8),
            "tpot_ms": _stats(3.98, 0.06),
        },
        loadgen={"validity": "INVALID", "settings": {"ttft_limit_ms": 2000.0, "tpot_limit_ms": 100.0}, "early_stopping": {"tpot": "Run unsuccessful."}},
        engine={"backend": "sim", "simulated": True, "timing_model": {"ttft_ms": 30.0, "tpot_ms": 4.0}},
    )


def accuracy_summary() -> dict:
    return _summary(
        "02_offline_accuracy",
        mode="accuracy",
        verdict="FAIL",
        verdict_reasons=["rouge1 20.1 outside target 38.39 .. None"],
        metrics={"samples_per_second": None, "tokens_per_second": None, "query_count": None, "latency_ms": None, "ttft_ms": None, "tpot_ms": None},
        accuracy={
            "rouge1": 20.1,
            "rouge2": 5.2,
            "rougeL": 14.0,
            "rougeLsum": 18.3,
            "gen_len": 5000,
            "gen_num": 20,
            "benchmark": "llama3.1-8b",
            "targets": [
                {"metric": "rouge1", "value": 20.1, "reference": 38.7792, "lower": 38.391, "upper": None, "passed": False},
                {"metric": "gen_num", "value": 20, "reference": 13368, "lower": 13368, "upper": 13368, "passed": False},
            ],
            "passed": False,
            "targets_note": "MLPerf targets are defined for Llama-3.1-8B-Instruct on the full set.",
            "samples": [
                {"qsl_idx": 0, "prediction": EVIL, "reference": "The <b>reference</b> summary.", "rouge1": 12.5, "rougeL": 10.0, "n_tokens": 17},
                {"qsl_idx": 1, "prediction": "A plain summary.", "rouge1": 30.0, "rougeL": 20.0, "n_tokens": 5},
            ],
        },
    )


def make_run(run_dir: Path) -> Path:
    """01 VALID (real backend), 02 accuracy FAIL, 03 simulated INVALID, 04 failed, 05 not run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_stage(run_dir, _summary("01_offline_perf"), _queries(30, seed=1))
    _write_stage(run_dir, accuracy_summary())
    _write_stage(run_dir, server_sim_summary(), _queries(48, seed=2))
    failed = run_dir / "04_server_accuracy"
    failed.mkdir()
    (failed / "failure.json").write_text(
        json.dumps({"stage": "04_server_accuracy", "cell_index": 3, "ename": "StageFailed", "evalue": "harness exited with code 1 <boom>"})
    )
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "run_id": "20261123-175600-smoke",
                "preset": "smoke",
                "started": "2026-11-23T17:56:00Z",
                "finished": "2026-11-23T17:59:00Z",
                "status": "failed",
                "stages": ["01_offline_perf", "02_offline_accuracy", "03_server_perf", "04_server_accuracy", "05_singlestream_perf"],
            }
        )
    )
    return run_dir


# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------


def _line_labels(fig: Figure) -> list[str]:
    return [line.get_label() for ax in fig.axes for line in ax.get_lines()]


def test_latency_distribution_draws_the_limit_in_view():
    fig = plots.latency_distribution(np.linspace(10, 90, 50), "TTFT", limit_ms=100.0)
    assert isinstance(fig, Figure)
    limit_lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_label().startswith("LoadGen limit")]
    assert limit_lines, _line_labels(fig)
    assert all(line.get_xdata()[0] == pytest.approx(100.0) for line in limit_lines)
    assert all(line.get_linestyle() == "--" and matplotlib.colors.to_hex(line.get_color()) == plots.COLORS["limit"] for line in limit_lines)
    assert any(lab.startswith("p99") for lab in _line_labels(fig))
    assert fig.axes[0].get_xlim()[1] >= 100.0


def test_latency_distribution_names_an_off_scale_limit():
    fig = plots.latency_distribution(np.linspace(30, 36, 50), "TTFT", limit_ms=2000.0)
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any("LoadGen limit" in t and "off scale" in t for t in texts), texts
    assert fig.axes[0].get_xlim()[1] < 100  # the data keep their range


def test_latency_distribution_without_data_or_limit():
    assert isinstance(plots.latency_distribution([], "empty"), Figure)
    fig = plots.latency_distribution([5.0, 5.0, 5.0], "constant")
    assert not any("LoadGen limit" in lab for lab in _line_labels(fig))


def test_throughput_timeline_and_comparison_are_figures():
    fig = plots.throughput_timeline(_queries(40), loadgen_tokens_per_s=500.0)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # tokens/s and the in-flight twin axis
    assert isinstance(plots.throughput_timeline([]), Figure)
    fig = plots.stage_comparison([_summary("01_offline_perf"), server_sim_summary(), accuracy_summary()])
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any("(simulated)" in t for t in labels), labels
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("VALID" in t for t in texts) and any("INVALID" in t for t in texts)
    assert any(p.get_hatch() for ax in fig.axes for p in ax.patches)
    png = plots.figure_png(fig)
    assert png.startswith(b"\x89PNG")


def test_stat_percentile_key_spellings_and_limits():
    assert plots.stat_percentile({"percentiles": {"99.0": 5.0}}, 99) == 5.0
    assert plots.stat_percentile({"percentiles": {"99.9": 7.0, "99": 6.0}}, 99) == 6.0
    assert plots.stat_percentile({"p90": 3.0}, 90) == 3.0
    assert plots.stat_percentile(None, 99) is None
    assert plots.stat_percentile({"percentiles": None}, 99) is None
    assert plots.latency_limits({"scenario": "Offline"}) == {"ttft_ms": None, "tpot_ms": None}
    assert plots.latency_limits({"scenario": "Server", "model_key": "llama3_1-8b-interactive"}) == {"ttft_ms": 500.0, "tpot_ms": 30.0}
    assert plots.latency_limits({"scenario": "Server", "loadgen": {"settings": {"ttft_limit_ms": 1500.0}}, "params": {"tpot_latency_ms": 80}}) == {
        "ttft_ms": 1500.0,
        "tpot_ms": 80.0,
    }


# ---------------------------------------------------------------------------------------------
# stage view
# ---------------------------------------------------------------------------------------------


def test_stage_view_escapes_model_output():
    page = stage_html(accuracy_summary(), rows=[])
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page  # escaped as Jinja2 (markupsafe) does
    assert "&lt;b&gt;reference&lt;/b&gt;" in page
    assert "FAIL" in page and "38.39" in page and "Not submittable" in page


def test_stage_view_of_a_simulated_server_stage(tmp_path):
    run_dir = make_run(tmp_path / "run")
    parts = stage_parts(run_dir / "03_server_perf")
    html_text = "".join(p[1] for p in parts if p[0] == "html")
    assert "SIMULATED \u2014 no model ran" in html_text
    assert "INVALID" in html_text and "early stopping not met" in html_text
    assert "SUT timestamps" in html_text
    pngs = [p for p in parts if p[0] == "png"]
    assert 3 <= len(pngs) <= 5  # TTFT, TPOT, end-to-end, timeline
    assert "<script" not in html_text


def test_stage_view_of_a_failed_stage(tmp_path):
    run_dir = make_run(tmp_path / "run")
    page = stage_html(run_dir / "04_server_accuracy")
    assert "FAILED" in page and "StageFailed" in page and "&lt;boom&gt;" in page


def test_params_html_marks_changed_values():
    page = params_html({"scenario": "Server", "batch_size": 8, "stage": "<x>"})
    assert "(default Offline)" in page and "&lt;x&gt;" in page


# ---------------------------------------------------------------------------------------------
# run rollup and index
# ---------------------------------------------------------------------------------------------


def test_rollup_lists_every_stage_with_its_status(tmp_path):
    run_dir = make_run(tmp_path / "run")
    path = write_rollup(run_dir)
    assert path == run_dir / "rollup" / "run_rollup.json"
    rollup = json.loads(path.read_text())
    status = {s["stage"]: s["status"] for s in rollup["stages"]}
    assert status == {
        "01_offline_perf": "finished",
        "02_offline_accuracy": "finished",
        "03_server_perf": "finished",
        "04_server_accuracy": "failed",
        "05_singlestream_perf": "not run",
    }
    by_name = {s["stage"]: s for s in rollup["stages"]}
    assert by_name["01_offline_perf"]["verdict"] == "VALID"
    assert by_name["03_server_perf"]["simulated"] is True
    assert by_name["03_server_perf"]["metrics"]["ttft_p99_ms"] == pytest.approx(35.8)
    assert by_name["02_offline_accuracy"]["metrics"]["rouge1"] == 20.1
    assert by_name["04_server_accuracy"]["error"]["ename"] == "StageFailed"
    assert by_name["04_server_accuracy"]["files"] == {"failure": "04_server_accuracy/failure.json"}
    assert rollup["run_id"] == "20261123-175600-smoke" and rollup["preset"] == "smoke"
    assert not list((run_dir / "rollup").glob("*.tmp"))


def test_index_html_is_self_contained_and_complete(tmp_path):
    run_dir = make_run(tmp_path / "run")
    path = write_index(run_dir)
    assert path == run_dir / "index.html"
    page = path.read_text()
    for stage in ("01_offline_perf", "02_offline_accuracy", "03_server_perf", "04_server_accuracy", "05_singlestream_perf"):
        assert stage in page
    for word in ("VALID", "INVALID", "FAIL", "FAILED", "NOT RUN", "SIMULATED", "simulated"):
        assert word in page, word
    assert "StageFailed" in page and "harness exited with code 1 &lt;boom&gt;" in page
    assert "<script" not in page.lower()
    for tag, attr, url in re.findall(r"<(script|link|img|iframe|source)\b[^>]*?\b(src|href)=\"([^\"]*)\"", page, flags=re.I):
        assert not url.lower().startswith(("http://", "https://", "//")), (tag, url)
    assert "@import" not in page and "url(http" not in page
    assert 'href="01_offline_perf/01_offline_perf.html"' in page
    assert 'href="01_offline_perf/summary.json"' in page
    assert 'href="04_server_accuracy/failure.json"' in page
    assert "data:image/png;base64," in page
    assert "What am I looking at?" in page and "early stopping" in page


def test_index_without_run_json_or_stages(tmp_path):
    run_dir = tmp_path / "empty"
    run_dir.mkdir()
    page = index_html(run_dir)
    assert "mlnb run empty" in page and "nothing to compare" in page
    assert build_rollup(run_dir)["stages"] == []


def test_run_summary_parts(tmp_path):
    run_dir = make_run(tmp_path / "run")
    parts = run_summary_parts(run_dir)
    html_text = "".join(p[1] for p in parts if p[0] == "html")
    assert "../01_offline_perf/01_offline_perf.html" in html_text
    assert "SIMULATED" in html_text and "04_server_accuracy" in html_text
    assert sum(p[0] == "png" for p in parts) == 1
