"""Where a stage's files are, from whatever a notebook or a person holds: a folder, a summary.json, a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from mlnb.errors import InputError
from mlnb.fileio import read_json
from mlnb.results import SUMMARY_FILE

# What the analysis calls accept for a stage: its folder, its summary.json, a StageSummary or its dict.
StageRef = Any


def summary_of(stage: StageRef) -> Optional[dict]:
    """The stage's summary as a dict; None for a folder without summary.json (a failed stage)."""
    if isinstance(stage, (str, Path)):
        path = Path(stage)
        file = path if path.is_file() else path / SUMMARY_FILE
        if file.is_file():
            return read_json(file)
        if not path.exists():
            raise InputError(f"stage {str(path)!r}", "not found")
        return None
    if hasattr(stage, "model_dump"):
        return stage.model_dump(mode="json")
    if isinstance(stage, dict):
        return stage
    raise InputError("stage", f"expected a stage folder, a summary.json or a stage summary, got {type(stage).__name__}")


def stage_dir_of(stage: StageRef) -> Optional[Path]:
    """The stage's folder: the path given (or its parent for a summary.json), else params.run_dir / stage."""
    if isinstance(stage, (str, Path)):
        path = Path(stage)
        if not path.exists():
            raise InputError(f"stage {str(path)!r}", "not found")
        return path.parent if path.is_file() else path
    summary = summary_of(stage) or {}
    run_dir = (summary.get("params") or {}).get("run_dir")
    if run_dir and summary.get("stage"):
        folder = Path(run_dir) / str(summary["stage"])
        return folder if folder.is_dir() else None
    return None
