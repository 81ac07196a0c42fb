"""The few calls a stage notebook makes, so notebooks stay a parameters cell and three lines."""

from __future__ import annotations

import warnings
from typing import Any

# tqdm's notebook front-end warns (with a local path) when ipywidgets is absent; progress bars are off anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.results import StageSummary


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


def show(summary: StageSummary) -> None:
    from mlnb.report.stage_view import show_stage

    show_stage(summary.model_dump(mode="json"))
