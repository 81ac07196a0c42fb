"""The few calls a stage notebook makes, so notebooks stay a parameters cell and three lines."""

from __future__ import annotations

import warnings
from typing import Any

# tqdm's notebook front-end warns (with a local path) when ipywidgets is absent; progress bars are off anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

from mlnb.config import StageParams
from mlnb.results import StageSummary


def stage_params(namespace: dict[str, Any]) -> StageParams:
    """Validate the notebook's parameters (its parameters cell plus papermill's injected cell)."""
    return StageParams.from_namespace(namespace)


def run(params: StageParams) -> StageSummary:
    from mlnb.stages.loadgen_stage import run_stage

    return run_stage(params)


def run_lmeval(params: StageParams) -> StageSummary:
    from mlnb.stages.lmeval_stage import run_stage

    return run_stage(params)


def show(summary: StageSummary) -> None:
    from mlnb.report.stage_view import show_stage

    show_stage(summary.model_dump(mode="json"))
