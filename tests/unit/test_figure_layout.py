"""Every chart of the pages, drawn: legends sit outside the plotting area, apart from each other,
and inside the saved image; two curves that coincide stay both visible; the runs browser's charts
are shown at their own size so their text keeps its size."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from mlnb.report import plots


def _drawn(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - 1 and b.x0 < a.x1 - 1 and a.y0 < b.y1 - 1 and b.y0 < a.y1 - 1


def assert_legends_clear(fig) -> None:
    """No legend over any axes' plotting area or over another legend; every legend inside the figure."""
    renderer = _drawn(fig)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, "the figure has no legend to check"
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    plot_areas = [ax.bbox for ax in fig.axes if ax.axison and ax.has_data()]
    for box in boxes:
        assert box.x0 >= fig.bbox.x0 - 1 and box.x1 <= fig.bbox.x1 + 1 and box.y0 >= fig.bbox.y0 - 1 and box.y1 <= fig.bbox.y1 + 1, box
        for area in plot_areas:
            assert not _overlap(box, area), f"legend {box} covers the axes {area}"
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlap(a, b), (a, b)


def test_latency_distribution_legend_is_clear():
    values = np.random.default_rng(0).lognormal(3, 0.4, 300)
    assert_legends_clear(plots.latency_distribution(values, "TTFT", limit_ms=2000.0))


def test_stage_comparison_legend_is_clear():
    summary = {"stage": "03_server_perf", "scenario": "Server", "mode": "performance", "verdict": "INVALID",
               "metrics": {"tokens_per_second": 26.0, "samples_per_second": 0.2}}
    assert_legends_clear(plots.stage_comparison([summary, {**summary, "stage": "01_offline_perf", "verdict": "VALID"}]))


def _health():
    from mlnb.report.loadgen_health import assess

    rows = [{"sample_index": i, "issued_ms": i * 100.0, "first_token_ms": i * 100.0 + 40 + i % 3, "done_ms": i * 100.0 + 90,
             "output_tokens": 8, "scheduled_ms": i * 100.0, "loadgen_issue_delay_ms": 0.05, "loadgen_latency_ms": 90.2}
            for i in range(12)]
    summary = {"scenario": "Server", "loadgen": {"settings": {"target_qps": 10.0}, "scheduled_samples_per_second": 10.0},
               "metrics": {"samples_per_second": 10.0}}
    return assess(summary, rows)


def test_health_figure_legends_are_clear():
    from mlnb.report.loadgen_health import health_figure

    assert_legends_clear(health_figure(_health()))


def test_ttft_by_origin_keeps_coinciding_curves_apart_by_style():
    # With no lag the two TTFT curves are the same points: each needs its own width, dashes or markers.
    from mlnb.report.loadgen_health import health_figure

    ax = health_figure(_health()).axes[1]
    lines = [line for line in ax.get_lines() if line.get_label().startswith("TTFT")]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), lines[1].get_xdata(), atol=0.5)  # they coincide
    styles = {(line.get_linestyle(), line.get_marker(), line.get_linewidth()) for line in lines}
    assert len(styles) == 2
    wide, narrow = sorted(lines, key=lambda line: -line.get_linewidth())
    assert wide.get_linewidth() >= 2 * narrow.get_linewidth()  # the wide one shows around the narrow one
    assert narrow.get_linestyle() != "-" or narrow.get_marker() not in (None, "None", "")


def test_token_audit_lengths_legend_is_clear():
    from mlnb.compliance.test06 import Test06Result
    from mlnb.report.token_audit import TokenAudit, lengths_figure

    rng = np.random.default_rng(1)
    audit = TokenAudit(Test06Result(samples=60), [2], False, rng.integers(20, 128, 60).astype(float),
                       rng.integers(40, 120, 60).astype(float))
    assert_legends_clear(lengths_figure(audit))


def test_dsr1_per_dataset_legend_is_clear():
    from mlnb.report.dsr1_view import per_dataset_figure

    acc = {"per_dataset": {k: {"exact_match": 80.0, "tokens_per_sample": 3000.0, "n": 2} for k in ("aime", "math500", "gpqa")},
           "targets": [{"metric": "exact_match", "lower": 80.5}]}
    assert_legends_clear(per_dataset_figure(acc))


def test_lmeval_subject_legend_is_clear():
    from mlnb.report.lmeval_view import subject_accuracy_figure

    accuracy = {"task": "mmlu", "acc": 0.9, "subjects": [{"name": f"s{i}", "n": 10, "acc": 0.95, "acc_stderr": 0.02} for i in range(5)]}
    assert_legends_clear(subject_accuracy_figure(accuracy))


def _browser_comparison():
    return {"runs": [{"run_id": "first", "simulated": False}, {"run_id": "second", "simulated": True}],
            "rows": [{"stage": s, "metric": "tokens_per_second", "label": "tokens/s", "values": [800.0, 790.0],
                      "change_pct": [None, -1.2], "higher_is_better": True} for s in ("01_offline_perf", "03_server_perf")]}


def test_runs_browser_comparison_chart_legend_is_clear_and_text_full_size():
    from mlnb.report.compare import comparison_figure

    fig = comparison_figure(_browser_comparison())
    assert_legends_clear(fig)
    renderer = _drawn(fig)
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
             if t.get_text() and t.get_window_extent(renderer).width > 0]
    assert min(sizes) >= 9


def test_runs_browser_shows_charts_at_their_own_pixel_width(tmp_path, monkeypatch):
    import base64

    from mlnb.report import compare

    monkeypatch.setattr(compare, "compare_runs", lambda dirs: _browser_comparison())
    page = compare.comparison_view([tmp_path / "a", tmp_path / "b"])
    images = re.findall(r'style="width:(\d+)px;max-width:100%"[^>]*src="data:image/png;base64,([^"]+)"', page)
    assert images
    for width, data in images:
        png = base64.b64decode(data)
        png_width = struct.unpack(">I", png[16:20])[0]
        assert abs(int(width) - png_width) <= 0.1 * png_width  # not shrunk: the text is as large as drawn


def test_saved_png_holds_a_legend_placed_below_the_axes():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), dpi=plots.DPI)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a long legend entry that sits below the axes")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.4))  # beyond the figure's edge
    png = plots.figure_png(fig)
    height = struct.unpack(">I", png[20:24])[0]
    assert height > 3 * plots.DPI  # the saved image grew to take the legend in
