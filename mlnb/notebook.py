"""The few calls a stage notebook makes: its parameters, the run, and the results as short cells.

The results cells show the verdict, the key metrics (a DataFrame), one chart per cell (each call
returns its matplotlib Figure, shown with alt text), a preview of the per-query DataFrame, then the
rest of the stage report without what those cells showed. The tables and charts are those of
:mod:`mlnb.analysis`, for a person to change and re-run.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Iterable, Optional

# tqdm's notebook front-end warns (with a local path) when ipywidgets is absent; progress bars are off anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.results import StageSummary

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


class ParameterError(InputError):
    """A notebook parameter is wrong: shown as one line in the notebook (and by papermill), not a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of the frames
        return [f"ParameterError: {self}"]


def stage_params(namespace: dict[str, Any]) -> StageParams:
    """Validate the notebook's parameters (its parameters cell plus papermill's injected cell).

    A wrong type or value (``papermill ... -p max_new_tokens abc``) raises :class:`ParameterError`,
    whose one line names the field, the value and what was expected.
    """
    try:
        return StageParams.from_namespace(namespace)
    except InputError as err:
        from mlnb.secrets import redact

        raise ParameterError(redact(err.where), redact(err.problem)) from None  # the notebook keeps the message


def run(params: StageParams) -> StageSummary:
    from mlnb.stages.loadgen_stage import run_stage

    return run_stage(params)


def run_lmeval(params: StageParams) -> StageSummary:
    from mlnb.stages.lmeval_stage import run_stage

    return run_stage(params)


def show(summary: Any, exclude: Iterable[str] = ()) -> None:
    """The stage report; ``exclude`` leaves out sections shown in cells above (names in
    ``mlnb.report.stage_view.SECTIONS``: verdict, key_metrics, latency_charts, throughput)."""
    from mlnb.report.stage_view import show_stage

    show_stage(summary.model_dump(mode="json") if hasattr(summary, "model_dump") else summary, exclude=exclude)


def verdict(summary: Any) -> None:
    """The stage's title, simulated and verdict banners (every reason), and whether it is submittable."""
    from IPython.display import HTML, display

    from mlnb.report.stage_view import verdict_html

    display(HTML(verdict_html(summary)))


def key_metrics(summary: Any) -> "pd.DataFrame":
    """LoadGen's key metrics (``value``), the SUT's own figure (``sut``) and the p99 limits (``limit``)."""
    from mlnb.analysis import key_metrics as table

    return table(summary)


def queries(summary: Any) -> "pd.DataFrame":
    """The stage's per-query DataFrame (columns: mlnb.analysis.query_frame)."""
    from mlnb.analysis import queries as table

    return table(summary)


def latency_chart(queries: "pd.DataFrame", metric: str, summary: Any = None) -> Optional["Figure"]:
    """Histogram and ECDF of ``metric`` (ttft_ms, tpot_ms, e2e_ms ...), with the scenario's p99 limit and,
    for a real engine, the speed-of-light floor from ``summary``; None (nothing shown) without data."""
    from mlnb.analysis.charts import latency

    if metric not in queries.columns or not queries[metric].notna().any():
        return None
    limit = floor = None
    if summary is not None:
        from mlnb.report.plots import latency_limits, summary_dict

        s = summary_dict(summary)
        limit = latency_limits(s).get(metric)
        floor = _floors(s, queries).get(metric)
    return _shown(latency(queries, metric, limit_ms=limit, floor_ms=floor))


def throughput_chart(queries: "pd.DataFrame", summary: Any = None) -> Optional["Figure"]:
    """Output tokens/s over time and queries in flight; LoadGen's tokens/s as a dashed line (performance)."""
    from mlnb.analysis.charts import throughput

    if not len(queries):
        return None
    reference = None
    if summary is not None:
        from mlnb.report.plots import key_metrics as metrics, summary_dict

        s = summary_dict(summary)
        reference = metrics(s)["tokens_per_second"] if s.get("mode") != "accuracy" else None
    return _shown(throughput(queries, loadgen_tokens_per_s=reference))


def _floors(s: dict, queries: "pd.DataFrame") -> dict[str, Optional[float]]:
    """The speed-of-light floors of TTFT and TPOT, as the stage report draws them (none for the simulator)."""
    if s.get("simulated") or s.get("mode") == "accuracy":  # a simulator's times against a real floor would mislead
        return {}
    from mlnb.report.sol_view import stage_speed_of_light

    try:
        sol, _ = stage_speed_of_light(s, queries)
    except Exception:  # the floor is a guide line; it must never cost the chart
        return {}
    return {"ttft_ms": getattr(sol, "ttft_floor_ms", None), "tpot_ms": getattr(sol, "tpot_floor_ms", None)}


def _figure_html(fig: "Figure") -> str:
    from mlnb.report.plots import figure_png
    from mlnb.report.stage_view import png_img_html

    return png_img_html(figure_png(fig, close=False), fig.get_label() or "chart")


def _shown(fig: "Figure") -> "Figure":
    """Make the notebook show Figures once, as an image with alt text (the HTML report keeps it)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - outside IPython nothing is displayed
        return fig
    shell = get_ipython()
    if shell is not None:
        from matplotlib.figure import Figure

        formatters = shell.display_formatter.formatters
        formatters["text/html"].for_type(Figure, _figure_html)
        formatters["image/png"].for_type(Figure, lambda _: None)  # one copy of the image in the notebook
    return fig
