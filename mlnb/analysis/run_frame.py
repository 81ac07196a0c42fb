"""The runs in an outputs folder as a DataFrame (what the runs browser lists).

Columns: ``run_id``, ``path``, ``preset``, ``model``, ``backend``, ``started`` (a timestamp, UTC),
``status``, ``simulated``, ``stages`` (how many), ``finished_stages``, ``failed_stages``, ``verdicts``
(each stage's verdict, "stage=VERDICT" joined with ", "). Newest first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlnb.errors import InputError

COLUMNS = ("run_id", "path", "preset", "model", "backend", "started", "status", "simulated", "stages",
           "finished_stages", "failed_stages", "verdicts")


def runs(outputs: str | Path = "outputs") -> pd.DataFrame:
    """One row per run folder in ``outputs`` (a folder with a run.json), newest first."""
    from mlnb.report.runs_list import list_runs

    outputs = Path(outputs)
    if not outputs.is_dir():
        raise InputError(f"outputs {str(outputs)!r}", "folder not found")
    rows = []
    for run in list_runs(outputs):
        stage_list = run.get("stages") or []
        rows.append({
            "run_id": run["run_id"],
            "path": run["path"],
            "preset": run.get("preset"),
            "model": run.get("model"),
            "backend": run.get("backend"),
            "started": run.get("started"),
            "status": run.get("status"),
            "simulated": run.get("simulated"),
            "stages": len(stage_list),
            "finished_stages": sum(1 for s in stage_list if s.get("status") == "finished"),
            "failed_stages": sum(1 for s in stage_list if s.get("status") == "failed"),
            "verdicts": ", ".join(f"{s['stage']}={s['verdict']}" for s in stage_list if s.get("verdict")),
        })
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    frame["started"] = pd.to_datetime(frame["started"], errors="coerce", utc=True, format="mixed")
    return frame
