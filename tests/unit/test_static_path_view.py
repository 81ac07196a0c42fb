"""The report's table of where the static decode path spent the LoadGen test."""

from mlnb.report.static_path_view import static_path_html, static_path_rows

FACTS = {"decode_steps": 232, "prefills": 45, "decode_seconds": 8.495, "prefill_seconds": 11.475,
         "mean_rows_per_step": 104.0, "mean_batch_per_step": 128.0, "prompt_tokens": 276006, "prefill_padding": 0.027,
         "step": "compiled + CUDA graphs", "compile_seconds": 133.93}


def _summary(facts=FACTS, test_s=20.362):
    return {"engine": {"backend": "hf", "static_decode": facts}, "timings_s": {"loadgen_test": test_s}}


def test_phases_split_the_test_and_the_rest_is_what_they_leave():
    rows = static_path_rows(_summary())
    assert [row[0] for row in rows] == ["prefill", "decode steps", "the rest"]
    assert rows[0][1:5] == ["45 groups", "11.47", "56%", "255.0 ms a group"]
    assert rows[1][1:5] == ["232 steps", "8.49", "42%", "36.6 ms a step"]
    assert rows[2][2:4] == ["0.39", "2%"]  # 20.362 - 11.475 - 8.495
    assert "2.7% padding" in rows[0][5] and "104.0 live rows of a batch of 128.0" in rows[1][5]
    assert "RMSNorm" not in rows[0][5]  # a stage from before the fused norms says nothing of them
    assert "RMSNorm fused in 65 layers" in static_path_rows(_summary({**FACTS, "prefill_fused_norms": 65}))[0][5]
    html = static_path_html(_summary({**FACTS, "cuda_graphs": True}))
    assert "compiled + CUDA graphs" in html and "compiled and recorded in 133.9 s" in html
    on_cpu = static_path_html(_summary({**FACTS, "step": "eager (no CUDA)", "cuda_graphs": False}))
    assert "nothing compiled" in on_cpu and "compiled and recorded" not in on_cpu  # a CPU compiles nothing


def test_no_table_without_the_static_path_or_its_counters():
    assert static_path_rows({"engine": {"backend": "hf"}}) == [] and static_path_html({}) == ""
    assert static_path_rows(_summary({"step": "eager"})) == []
    rows = static_path_rows(_summary(test_s=None))  # no test time: no shares, no remainder row
    assert len(rows) == 2 and rows[0][3] == "\u2014"


def test_the_table_reaches_a_notebook_that_draws_the_throughput_chart_itself():
    from mlnb.report.stage_view import stage_parts

    summary = {"stage": "01_offline_perf", "title": "Offline performance", "status": "finished",
               "mode": "performance", "scenario": "Offline", "verdict": "VALID", **_summary()}
    notebook_cells = ("verdict", "key_metrics", "latency_charts", "throughput")  # what the notebooks exclude
    html = "".join(part[1] for part in stage_parts(summary, rows=[], exclude=notebook_cells) if part[0] == "html")
    assert "Where the engine's time went (static decode path)" in html.replace("&#39;", "'")
