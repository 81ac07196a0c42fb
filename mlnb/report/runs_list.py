"""The runs in an outputs folder, for the runs browser: one record per run, and their table.

Everything is read from the run folders through :func:`mlnb.report.run_index.collect_run` (the
facts the index page shows); nothing is re-run or recomputed.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlnb.report.run_index import STATUS_COLORS, collect_run
from mlnb.report.stage_view import esc, simulated_tag, style_tag, verdict_pill

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


def _status_pill(status: Any) -> str:
    text = str(status or "unknown")
    color = STATUS_COLORS.get(text, "#6b7280")
    return f'<span class="pill" style="background:{color}">{esc(text.upper())}</span>'


def _stage_cell(stage: Mapping[str, Any]) -> str:
    """A stage's verdict; a stage without one shows its status (interrupted, failed, not run)."""
    if stage.get("verdict"):
        pill = verdict_pill(stage["verdict"])
    else:
        pill = _status_pill(stage.get("status"))
    return f'<span title="{esc(stage["stage"])}">{esc(stage["stage"][:2])}&nbsp;{pill}</span>'


def runs_table_html(runs: Sequence[Mapping[str, Any]]) -> str:
    """The runs as a table: id, date, preset, model, backend, status and each stage's verdict."""
    if not runs:
        return style_tag() + '<div class="mlnb"><p class="muted">No runs yet.</p></div>'
    head = "".join(f"<th>{h}</th>" for h in ("Run", "Date", "Preset", "Model", "Backend", "Status", "Verdicts"))
    rows = []
    for run in runs:
        sim = f" {simulated_tag()}" if run.get("simulated") else ""
        stages = " ".join(_stage_cell(s) for s in run.get("stages") or [] if s.get("kind") != "summary")
        if run.get("kind") == "sweep":
            stages = "sweep: its page is sweep.html"
        rows.append(
            "<tr>"
            f"<td><b>{esc(run['run_id'])}</b>{sim}</td><td>{esc(run.get('date'))}</td><td>{esc(run.get('preset'))}</td>"
            f"<td>{esc(run.get('model'))}</td><td>{esc(run.get('backend'))}</td><td>{_status_pill(run.get('status'))}</td>"
            f"<td>{stages or '<span class=muted>&mdash;</span>'}</td>"
            "</tr>"
        )
    return (
        style_tag()
        + f'<div class="mlnb"><table class="t runs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )
