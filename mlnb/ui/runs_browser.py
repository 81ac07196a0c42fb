"""The runs browser: the runs in ``outputs/``, their reports, a comparison, and re-plotting.

``notebooks/runs_browser.ipynb`` calls :func:`runs_browser`. Nothing is re-run: the list reads
run.json and summary.json (:mod:`mlnb.report.runs_list`), the comparison is the one the reports
build (one call: :func:`mlnb.report.compare.comparison_view`), and the plots read the stage's
``queries.jsonl`` (per-query SUT timestamps) and ``summary.json`` (LoadGen's numbers).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from mlnb.report import plots
from mlnb.report.runs_list import list_runs, run_label, runs_table_html
from mlnb.ui.launcher import resolve_outputs_dir, run_links_html

__all__ = ["PERCENTILES", "PLOT_METRICS", "RunsBrowser", "plot_stage", "plottable_stages", "runs_browser"]

# name -> (label, queries.jsonl series, summary metrics key with LoadGen's percentiles, limit key)
PLOT_METRICS: dict[str, tuple[str, Optional[str], Optional[str], Optional[str]]] = {
    "ttft": ("TTFT (ms)", "ttft_ms", "ttft_ms", "ttft_ms"),
    "tpot": ("TPOT (ms)", "tpot_ms", "tpot_ms", "tpot_ms"),
    "latency": ("latency, end to end (ms)", "e2e_ms", "latency_ms", None),
    "output_tokens": ("output tokens per query", "output_tokens", None, None),
    "throughput": ("throughput over time", None, None, None),
}
PERCENTILES = (50.0, 90.0, 95.0, 97.0, 99.0, 99.9)


def plottable_stages(run_dir: str | Path) -> list[str]:
    """Stages of a run with per-query data (queries.jsonl)."""
    run_dir = Path(run_dir)
    found = [child.name for child in run_dir.iterdir() if child.is_dir() and (child / "queries.jsonl").is_file()]
    return sorted(found)


def plot_stage(run_dir: str | Path, stage: str, metric: str = "ttft", percentile: float = 99.0) -> tuple[bytes, str]:
    """One stage's metric re-plotted from its saved data: (PNG bytes, HTML with the numbers)."""
    from mlnb.fileio import read_json
    from mlnb.query_table import load_query_table
    from mlnb.report.stage_view import esc, fmt_value, plural, style_tag
    from mlnb.results import query_latencies

    label, series, loadgen_key, limit_key = PLOT_METRICS[metric]
    stage_dir = Path(run_dir) / stage
    rows = load_query_table(stage_dir)
    summary: dict[str, Any] = {}
    if (stage_dir / "summary.json").is_file():
        summary = read_json(stage_dir / "summary.json")
    simulated = " (SIMULATED)" if summary.get("simulated") else ""
    if series is None:
        tps = plots.key_metrics(summary).get("tokens_per_second") if summary else None
        png = plots.figure_png(plots.throughput_timeline(rows, tps))
        facts = f"<p>{esc(stage)}{simulated}: {plural(len(rows), 'query')}; LoadGen tokens/s {fmt_value(tps)}</p>"
        return png, style_tag() + f'<div class="mlnb">{facts}</div>'
    values = query_latencies(rows)[series] if len(rows) else np.array([])
    limit = plots.latency_limits(summary).get(limit_key) if (limit_key and summary) else None
    title = f"{stage}{simulated}: {label}"
    png = plots.figure_png(plots.latency_distribution(values, title, limit, percentiles=(percentile,)))
    sut_value = float(np.percentile(values, percentile)) if values.size else None
    loadgen_value = None
    if loadgen_key:
        loadgen_value = plots.stat_percentile((summary.get("metrics") or {}).get(loadgen_key), percentile)
    cells = [
        ("queries", fmt_value(int(values.size))),
        (f"p{percentile:g} from the SUT's timestamps", fmt_value(sut_value)),
    ]
    if loadgen_key:
        cells.append((f"p{percentile:g} reported by LoadGen", fmt_value(loadgen_value)))
    if limit is not None:
        cells.append(("LoadGen limit (p99)", fmt_value(limit)))
    table = "".join(f"<tr><td>{esc(k)}</td><td class='n'>{v}</td></tr>" for k, v in cells)
    return png, style_tag() + f'<div class="mlnb"><table class="t">{table}</table></div>'


class RunsBrowser:
    """The runs-browser widget; display :attr:`widget` (or the object itself) in a notebook."""

    def __init__(self, outputs_dir: str | os.PathLike = "outputs"):
        import ipywidgets as w

        self._w = w
        self.outputs = resolve_outputs_dir(outputs_dir)
        self.runs: list[dict] = []
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.table = w.HTML()
        self.table.add_class("mlnb-runs-table")
        self.select = w.SelectMultiple(options=[], description="runs", rows=8, layout={"width": "95%"},
                                       style={"description_width": "60px"})
        self.select.add_class("mlnb-runs-select")
        self.open_button = w.Button(description="Open reports", icon="folder-open",
                                    tooltip="Links to the chosen runs' index and stage reports")
        self.compare_button = w.Button(description="Compare", icon="columns", tooltip="Pick two or more runs")
        self.output = w.Output()
        self.output.add_class("mlnb-runs-output")
        self.plot_run = w.Dropdown(description="run", style={"description_width": "80px"}, layout={"width": "520px"})
        self.plot_stage = w.Dropdown(description="stage", style={"description_width": "80px"})
        self.plot_metric = w.Dropdown(options=[(v[0], k) for k, v in PLOT_METRICS.items()], value="ttft",
                                      description="metric", style={"description_width": "80px"})
        self.plot_percentile = w.Dropdown(options=[(f"p{p:g}", p) for p in PERCENTILES], value=99.0,
                                          description="percentile", style={"description_width": "80px"})
        self.plot_output = w.Output()
        self.plot_output.add_class("mlnb-plot-output")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.open_button.on_click(lambda _b: self.open_reports())
        self.compare_button.on_click(lambda _b: self.compare())
        self.plot_run.observe(self._plot_run_changed, names="value")
        for control in (self.plot_stage, self.plot_metric, self.plot_percentile):
            control.observe(lambda _c: self.replot(), names="value")
        self.widget = w.VBox(
            [
                w.HTML(f"<h2>mlnb runs</h2><p>Runs in <code>{html.escape(str(self.outputs))}</code>. "
                       "Pick runs below to open their reports or compare them.</p>"),
                self.refresh_button,
                self.table,
                self.select,
                w.HBox([self.open_button, self.compare_button]),
                self.output,
                w.HTML("<h3>Re-plot a finished run</h3><p>From the stage's saved per-query data; nothing is re-run.</p>"),
                w.HBox([self.plot_run, self.plot_stage]),
                w.HBox([self.plot_metric, self.plot_percentile]),
                self.plot_output,
            ]
        )
        self.widget.add_class("mlnb-runs-browser")
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # list --------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.runs = list_runs(self.outputs)
        self.table.value = runs_table_html(self.runs)
        options = [(run_label(r), r["path"]) for r in self.runs]
        self.select.options = options
        self.plot_run.options = options
        if options and self.plot_run.value is None:
            self.plot_run.value = options[0][1]

    # reports and comparison --------------------------------------------------------------------
    def _show(self, out, *items) -> None:
        from IPython.display import HTML, Image

        out.outputs = ()  # works from any thread, unlike clear_output()
        for item in items:
            out.append_display_data(Image(data=item, format="png") if isinstance(item, bytes) else HTML(item))

    def open_reports(self) -> None:
        chosen = list(self.select.value)
        if not chosen:
            self._show(self.output, '<p style="color:#b91c1c">Pick a run first.</p>')
            return
        self._show(self.output, *[run_links_html(Path(path)) for path in chosen])

    def compare(self) -> None:
        chosen = list(self.select.value)
        if len(chosen) < 2:
            self._show(self.output, '<p style="color:#b91c1c">Pick two or more runs to compare.</p>')
            return
        from mlnb.report.compare import comparison_view  # the reports' comparison; its one entry point here

        # Oldest first, so that changes read "later vs. earlier".
        order = {r["path"]: i for i, r in enumerate(reversed(self.runs))}
        chosen.sort(key=lambda p: order.get(p, 0))
        self._show(self.output, comparison_view(chosen))

    # re-plot -----------------------------------------------------------------------------------
    def _plot_run_changed(self, _change=None) -> None:
        run = self.plot_run.value
        stages = plottable_stages(run) if run else []
        self.plot_stage.options = stages
        if stages and self.plot_stage.value not in stages:
            self.plot_stage.value = stages[0]
        self.replot()

    def replot(self) -> None:
        run, stage = self.plot_run.value, self.plot_stage.value
        if not run or not stage:
            self._show(self.plot_output, '<p class="muted">No stage with per-query data in this run.</p>')
            return
        png, facts = plot_stage(run, stage, self.plot_metric.value, float(self.plot_percentile.value))
        self._show(self.plot_output, facts, png)


def runs_browser(outputs_dir: str | os.PathLike = "outputs") -> RunsBrowser:
    """Build the runs browser for a notebook; it displays itself as the cell's result."""
    return RunsBrowser(outputs_dir=outputs_dir)
