"""What a comparison says at the top, on its chart and in the terminal.

The case that misled: a hf run against an openai run, a few queries each, tokens/s up by +35,675 %
and TTFT down by 99.6 %, was headlined "inconclusive". Too few queries for an interval is a
different statement from an interval that includes 0, and the headline names the changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from mlnb.compare import figures, stats
from mlnb.compare.build import build_comparison
from mlnb.compare.loading import RunData, StageData
from mlnb.compare.terminal import comparison_text

_EMPTY = np.array([])


def _stage(tokens_per_second: float, ttft_ms, name: str = "03_server_perf") -> StageData:
    summary = {"stage": name, "scenario": "Server", "mode": "performance",
               "metrics": {"tokens_per_second": tokens_per_second, "samples_per_second": tokens_per_second / 100}}
    stage = StageData(name, Path("/nowhere"), summary)
    ttft = np.asarray(ttft_ms, dtype=float)
    stage._series = {"ttft_ms": ttft, "tpot_ms": _EMPTY, "e2e_ms": ttft * 3, "output_tokens": np.full(ttft.size, 32.0),
                     "prompt_tokens": _EMPTY, "done_ms": _EMPTY}
    return stage


def _run(name: str, stage: StageData) -> RunData:
    return RunData(name, Path("/nowhere") / name, {"run_id": name}, {stage.name: stage})


def _compare(a: StageData, b: StageData, resamples: int = 300) -> dict:
    return build_comparison([_run("hf", a), _run("openai", b)], [a.name], [], "cmp", resamples=resamples)


def _hf_vs_openai() -> dict:
    # 4 queries each: tokens/s +35,675 %, TTFT -99.6 %
    return _compare(_stage(7.33, [2500.0, 2600.0, 2450.0, 2550.0]), _stage(7.33 * 357.75, [10.0, 10.4, 9.8, 10.2]))


def test_too_few_queries_is_not_enough_data_not_inconclusive():
    line = _hf_vs_openai()["overall"][0]
    assert line["verdict"] == stats.NO_INTERVAL != "inconclusive"
    assert "not enough queries to form an interval (4 per run, 10 needed for the median" in line["headline"]
    assert "500 for the p99" in line["headline"]
    assert "3 repeats per side" in line["headline"]  # throughput: one value per run


def test_the_headline_names_the_largest_changes_with_their_numbers():
    line = _hf_vs_openai()["overall"][0]
    assert "tokens/s LoadGen +35,675.0 %" in line["headline"]
    assert "TTFT" in line["headline"] and "\u221299.6 %" in line["headline"]
    assert [round(d["rel"], 3) for d in line["largest"]][0] == pytest.approx(356.75)


def test_an_interval_that_includes_zero_stays_inconclusive():
    rng = np.random.default_rng(1)
    a, b = _stage(100.0, rng.lognormal(np.log(50), 0.2, 600)), _stage(100.5, rng.lognormal(np.log(50), 0.2, 600))
    line = _compare(a, b)["overall"][0]
    assert line["verdict"] == "inconclusive"
    assert line["headline"].startswith("no metric changed beyond its 95 % interval")
    assert "had no interval" in line["headline"]  # throughput, single run: said, not hidden


def test_per_metric_reason_says_how_many_queries_and_how_many_needed():
    d = stats.bootstrap_difference([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0], "ttft_ms", "median")
    assert d.verdict == "no interval" and d.need == 10
    assert d.reason == "not enough queries to form an interval of the median (4 per run, 10 needed)"


def test_ratio_labels_read_as_changes():
    assert figures.ratio_label(1.5) == "+50 %"
    assert figures.ratio_label(357.75) == "+35,675 %"
    assert figures.ratio_label(0.004) == "\u221299.6 %"
    assert figures.ratio_label(0.9) == "\u221210 %"


def test_difference_chart_reads_plus_50_and_plus_30000_percent_on_one_log_axis():
    c = _hf_vs_openai()
    fig = figures.differences_figure(c, 0)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    low, high = ax.get_xlim()
    assert low < 0.004 and high > 357.75  # -99.6 % and +35,675 % both inside
    ticks = [figures.ratio_label(t) for t in ax.get_xticks() if low <= t <= high]
    assert "+0 %" in ticks and len(ticks) >= 3
    texts = [t.get_text() for t in ax.texts]
    assert "+35,675 %" in texts and "\u221299.6 %" in texts


def test_difference_chart_title_and_labels_stay_inside_the_figure():
    c = _hf_vs_openai()
    c["runs"][1]["run_id"] = "openai-server-run-with-a-very-long-identifier-2026-12-04T19-10-39-" + "x" * 30
    fig = figures.differences_figure(c, 0)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    for text in [fig._suptitle, fig.axes[0].xaxis.label, *fig.legends]:
        extent = text.get_window_extent(renderer)
        assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, (text, extent, box)


def test_compare_prints_a_table_of_metrics_changes_and_intervals():
    rng = np.random.default_rng(2)
    a, b = _stage(100.0, rng.lognormal(np.log(50), 0.2, 600)), _stage(100.0, rng.lognormal(np.log(80), 0.2, 600))
    text = comparison_text(_compare(a, b))
    assert "openai vs hf: REGRESSION" in text
    row = next(line for line in text.splitlines() if line.lstrip("\u2502 ").startswith("TTFT median"))
    assert "ms" in row and "+" in row and "%" in row and "[" in row and "regression" in row  # A, B, change, interval
    assert "tokens/s LoadGen" in text and "no interval" in text
    assert "single run: no interval (3 repeats per side needed)" in text  # the reason, once, under the tables
