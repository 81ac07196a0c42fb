"""The DeepSeek-R1 accuracy section of a stage report: per-dataset table, chart and sandbox note."""

from mlnb.accuracy.exact_match import SampleScore, TARGETS_NOTE, check_targets, result_dict, summarize
from mlnb.report.stage_view import stage_html, stage_parts


def _summary():
    samples = [
        SampleScore(0, "aime", "aime", 100.0, "42", "42", "correct", 10, "\\boxed{42}"),
        SampleScore(1, "gpqa", "gpqa", 0.0, "A", "B", "answered A", 30, "Answer: A"),
        SampleScore(2, "livecodebench", "livecodebench", 0.0, None, "q", "test 0 of 3: ran longer than 10 s; killed", 50, "<b>x</b>"),
    ]
    result = summarize(samples)
    accuracy = {
        **result_dict(result, 12),
        "targets": check_targets(result),
        "passed": False,
        "targets_note": TARGETS_NOTE,
        "code_sandbox": {"process": "one process per test", "network": "audit hook", "user": "the calling user",
                         "timeout_s_per_test": 10.0, "memory_mb": 512, "output_kb": 256},
    }
    return {"stage": "11_dsr1_offline_accuracy", "title": "DeepSeek-R1 Offline accuracy", "status": "finished",
            "mode": "accuracy", "scenario": "Offline", "verdict": "FAIL", "accuracy": accuracy}


def test_report_shows_per_dataset_table_chart_and_reasons():
    summary = _summary()
    html = stage_html(summary, rows=[])
    assert "Accuracy (exact match)" in html and "Per dataset" in html
    for kind in ("aime", "gpqa", "livecodebench"):
        assert f"<code>{kind}</code>" in html
    assert "33.33" in html  # overall exact_match of 1 correct in 3
    assert "ran longer than 10 s; killed" in html  # a sample's reason is shown with its example
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html  # model output is escaped
    assert "network: audit hook" in html and TARGETS_NOTE in html
    alts = [part[2] for part in stage_parts(summary, rows=[]) if part[0] == "png"]
    assert "Exact match and tokens per dataset" in alts


def test_a_rouge_report_is_unchanged():
    summary = {"stage": "02_offline_accuracy", "status": "finished", "mode": "accuracy", "scenario": "Offline",
               "accuracy": {"rouge1": 40.0, "rouge2": 15.0, "rougeL": 25.0, "rougeLsum": 36.0, "gen_len": 10, "gen_num": 1}}
    html = stage_html(summary, rows=[])
    assert "Accuracy (ROUGE)" in html and "Per dataset" not in html
