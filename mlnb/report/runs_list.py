"""The runs in an outputs folder, for the runs browser: one record per run, and their table.

Everything is read from the run folders through :func:`mlnb.report.run_index.collect_run` (the
facts the index page shows); nothing is re-run or recomputed.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlnb.report.run_index import STATUS_COLORS, collect_run
from mlnb.report.markup import macro, wrap

__all__ = ["format_date", "list_runs", "run_label", "run_record", "runs_table_html"]


def format_date(stamp: Any) -> str:
    """``2026-01-31T14:05:09+0000`` -> ``2026-01-31 14:05``; anything else unchanged."""
    if not stamp:
        return ""
    for pattern in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        try:
            return _dt.datetime.strptime(str(stamp), pattern).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            continue
    return str(stamp)


def run_record(run_dir: str | Path) -> dict[str, Any]:
    """What the list shows of one run: id, folder, preset, model, backend, date, status, stages."""
    run_dir = Path(run_dir)
    rollup, _ = collect_run(run_dir)
    return {
        "run_id": rollup["run_id"],
        "path": str(run_dir),
        "preset": rollup.get("preset"),
        "model": rollup.get("model"),
        "backend": rollup.get("backend"),
        "started": rollup.get("started"),
        "date": format_date(rollup.get("started")),
        "status": rollup.get("status"),
        "simulated": bool(rollup.get("any_simulated")),
        "kind": "sweep" if (run_dir / "sweep.json").is_file() else "run",  # a sweep's points are runs inside it
        "stages": [
            {"stage": r["stage"], "status": r.get("status"), "verdict": r.get("verdict"), "kind": r.get("kind")}
            for r in rollup.get("stages") or []
        ],
    }


def list_runs(outputs: str | Path) -> list[dict[str, Any]]:
    """Every run folder (one with a run.json) in ``outputs``, newest first; ``latest`` is skipped."""
    outputs = Path(outputs)
    if not outputs.is_dir():
        return []
    runs = []
    for child in outputs.iterdir():
        if child.is_symlink() or not child.is_dir() or child.name.startswith(".") or not (child / "run.json").is_file():
            continue
        try:
            runs.append(run_record(child))
        except Exception:  # a half-written folder must not hide the others
            continue
    runs.sort(key=lambda r: (str(r.get("started") or ""), r["run_id"]), reverse=True)
    return runs


def run_label(run: Mapping[str, Any]) -> str:
    """One line for a picker: ``id · preset · model · backend · date · status``."""
    parts = (run["run_id"], "sweep" if run.get("kind") == "sweep" else None, run.get("preset"), run.get("model"),
             run.get("backend"), run.get("date"), run.get("status"))
    return " \u00b7 ".join(str(p) for p in parts if p)


def _stage_cell(stage: Mapping[str, Any]) -> tuple:
    """A stage's verdict; a stage without one shows its status (interrupted, failed, not run)."""
    status = str(stage.get("status") or "unknown")
    return stage["stage"], stage.get("verdict"), status, STATUS_COLORS.get(status, "#6b7280")


def runs_table_html(runs: Sequence[Mapping[str, Any]]) -> str:
    """The runs as a table: id, date, preset, model, backend, status and each stage's verdict."""
    rows = []
    for run in runs:
        status = str(run.get("status") or "unknown")
        rows.append({
            **{key: run.get(key) for key in ("run_id", "date", "preset", "model", "backend")},
            "simulated": bool(run.get("simulated")),
            "status": status,
            "status_color": STATUS_COLORS.get(status, "#6b7280"),
            "stages": [_stage_cell(s) for s in run.get("stages") or [] if s.get("kind") != "summary"],
            "sweep": run.get("kind") == "sweep",
        })
    return wrap(macro("runs.html.j2", "runs_table", rows), with_style=True)
