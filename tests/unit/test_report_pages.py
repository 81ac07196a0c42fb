"""Page details that read wrong or hide something: plurals, SingleStream's metric, exact_match in the
index and the runs browser, the run summary counting itself, and LoadGen's p50 against the SUT's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import _stats, _summary, _write_stage, server_sim_summary

from mlnb.report.stage_view import key_cards, origin_gap_note, plural, stage_html


def test_plural_reads_right():
    assert plural(1, "query") == "1 query"
    assert plural(2, "query") == "2 queries"
    assert plural(0, "stage") == "0 stages"
    assert plural(1234, "sample") == "1,234 samples"
    assert plural(1, "day") == "1 day" and plural(3, "day") == "3 days"


def test_one_query_reads_query():
    s = _summary("01_offline_perf", metrics={**_summary("x")["metrics"], "query_count": 1},
                 sut={"source": "SUT", "errors": 1, "error_examples": ["boom"]})
    html = stage_html(s, rows=[])
    assert "1 queries" not in html
    assert "1 query failed in the SUT" in html


def _singlestream() -> dict:
    return _summary("05_singlestream_perf", scenario="SingleStream",
                    metrics={"samples_per_second": 1.8, "tokens_per_second": 290.0, "query_count": 12,
                             "latency_ms": _stats(500.0, 80.0), "ttft_ms": _stats(40.0, 10.0), "tpot_ms": _stats(4.0, 0.1)})


def test_singlestream_cards_lead_with_its_metric_p90_latency():
    cards = key_cards(_singlestream())
    label, value = cards[0]
    assert "p90 latency" in label and "SingleStream" in label
    assert value == pytest.approx(500.0 + 80.0 * 0.9)
    assert not any("p90 latency" in k for k, _ in key_cards(server_sim_summary()))  # Server: throughput
    assert "p90 latency, ms (SingleStream&#39;s metric)" in stage_html(_singlestream(), rows=[])


def test_a_large_gap_between_loadgen_and_sut_medians_is_explained():
    s = server_sim_summary()
    s["metrics"]["ttft_ms"] = _stats(300.0, 20.0)  # LoadGen's p50: 310 ms
    s["sut"] = {"source": "SUT", "errors": 0, "error_examples": [],
                "ttft_ms": {"count": 8, "mean": 40.0, "p50": 40.0, "p90": 45.0, "p99": 46.0, "max": 46.0}}
    note = origin_gap_note(s)
    assert "TTFT p50: LoadGen 310.0 ms, SUT 40.00 ms" in note
    assert "scheduled" in note and "receives" in note and "order statistic" in note
    assert note in stage_html(s, rows=[])


def test_close_medians_need_no_note():
    s = server_sim_summary()
    p50 = s["metrics"]["ttft_ms"]["percentiles"]["50.0"]
    s["sut"] = {"ttft_ms": {"count": 48, "p50": p50 * 0.97}}
    assert origin_gap_note(s) == ""


def _dsr1_accuracy_summary() -> dict:
    return _summary("11_dsr1_offline_accuracy", mode="accuracy", verdict="FAIL",
                    metrics={"samples_per_second": None, "tokens_per_second": None, "query_count": None,
                             "latency_ms": None, "ttft_ms": None, "tpot_ms": None},
                    accuracy={"metric_family": "exact_match", "exact_match": 62.5, "tokens_per_sample": 900.0,
                              "num_samples": 8, "targets": [], "passed": False})


def test_custom_scores_per_task_type_appear_in_the_index(tmp_path):
    from mlnb.report.run_index import collect_run, index_html

    groups = {"math": {"score": 0.6, "scored": 5}, "multiple_choice": {"score": 1.0, "scored": 5},
              "exact": {"score": None, "scored": 0}, "summarization": {"score": 0.25, "scored": 5}}
    summary = _summary("02_offline_accuracy", mode="accuracy", verdict="SCORED",
                       metrics={"samples_per_second": None, "tokens_per_second": None, "query_count": None,
                                "latency_ms": None, "ttft_ms": None, "tpot_ms": None},
                       accuracy={"metric_family": "task_type", "per_task_type": groups, "num_samples": 20})
    run = tmp_path / "run"
    _write_stage(run, summary)
    rollup, _ = collect_run(run)
    [row] = [r for r in rollup["stages"] if r["stage"] == "02_offline_accuracy"]
    assert row["task_scores"] == {"math": 0.6, "multiple_choice": 1.0, "exact": None, "summarization": 0.25}
    page = index_html(run)
    assert "math 0.60; multiple_choice 1.00; exact not scored; 1 more" in page
    assert "score per task_type" in page


def test_exact_match_appears_in_the_index(tmp_path):
    from mlnb.report.run_index import index_html

    run = tmp_path / "run"
    _write_stage(run, _dsr1_accuracy_summary())
    page = index_html(run)
    assert "62.50<br><span class=\"muted\">exact match</span>" in page


def test_exact_match_appears_in_the_runs_browser_comparison(tmp_path):
    from mlnb.report.compare import compare_runs, comparison_html

    for name, value in (("a", 62.5), ("b", 70.0)):
        summary = _dsr1_accuracy_summary()
        summary["accuracy"]["exact_match"] = value
        _write_stage(tmp_path / name, summary)
        (tmp_path / name / "run.json").write_text(json.dumps({"run_id": name}))
    comparison = compare_runs([tmp_path / "a", tmp_path / "b"])
    row = next(r for r in comparison["rows"] if r["metric"] == "exact_match")
    assert row["values"] == [62.5, 70.0] and row["change_pct"][1] == pytest.approx(12.0)
    assert "exact match (DeepSeek-R1)" in comparison_html(comparison)


def test_the_run_summary_does_not_count_itself(tmp_path):
    from mlnb.report.run_summary import run_summary_parts

    run = tmp_path / "run"
    _write_stage(run, server_sim_summary())
    (run / "99_run_summary").mkdir()
    (run / "99_run_summary" / "99_run_summary.ipynb").write_text("{}")  # being executed: no HTML yet
    (run / "run.json").write_text(json.dumps({"run_id": "r", "stages": ["03_server_perf", "99_run_summary"]}))
    html = run_summary_parts(run)[0][1]
    assert "Stages: 1 finished</p>" in html and "incomplete" not in html
