"""A run folder's overview: ``rollup/run_rollup.json`` for programs, ``index.html`` for people.

Both read the same facts, gathered by :func:`build_rollup`: ``run.json`` (run id, preset,
times, status; optional), every stage's ``summary.json``, the ``failure.json`` of stages that
stopped with an error, and the stages the run meant to run but did not.

``index.html`` is self-contained: inline CSS, the comparison chart as a PNG data URI, no
script and nothing fetched from the network. Its links are relative (``<stage>/<stage>.html``,
``<stage>/summary.json``, ``<stage>/failure.json``) and only point at files that exist when it
is written, so write it after the stage reports have been converted to HTML.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import quote

from mlnb.fileio import read_json, write_json_atomic, write_text_atomic
from mlnb.lifecycle import ABANDONED, effective_run_status
from mlnb.report import plots
from mlnb.report.markup import CSS, Markup, fmt_value, macro, render

__all__ = [
    "ROLLUP_FILE",
    "INDEX_FILE",
    "build_rollup",
    "collect_run",
    "comparison_summaries",
    "stage_table_html",
    "accuracy_cell",
    "write_index",
    "write_rollup",
]

ROLLUP_SCHEMA_VERSION = 1
ROLLUP_FILE = Path("rollup") / "run_rollup.json"
INDEX_FILE = "index.html"

_SKIP_DIRS = {"rollup"}

STATUS_COLORS = {
    "finished": plots.COLORS["good"],
    "failed": plots.COLORS["bad"],
    "not run": plots.COLORS["neutral"],
    "interrupted": "#b45309",  # stopped on request: neither a failure nor a result
    "abandoned": "#7c3aed",  # its process is gone without finishing: what it finished is kept
}

WHAT_AM_I_LOOKING_AT = macro("stage_table.html.j2", "what_am_i_looking_at")  # HTML, shared with the run summary


# ---------------------------------------------------------------------------------------------
# Gathering
# ---------------------------------------------------------------------------------------------


def _read_json_or_none(path: Path) -> Optional[Any]:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _stage_spec(name: str):
    try:
        from mlnb.stages.registry import STAGES

        return STAGES.get(name)
    except Exception:
        return None


def _stage_order(name: str) -> tuple[int, str]:
    try:
        from mlnb.stages.registry import STAGES

        names = STAGES.names()  # registration order is pipeline order
        return (names.index(name) if name in names else len(names), name)
    except Exception:
        return (0, name)


def _planned_stages(run: Mapping[str, Any]) -> tuple[list[str], dict[str, dict]]:
    """Stage names run.json lists, and any per-stage info it carries (status, error)."""
    stages = run.get("stages")
    names: list[str] = []
    info: dict[str, dict] = {}
    if isinstance(stages, Mapping):
        for name, value in stages.items():
            names.append(str(name))
            info[str(name)] = dict(value) if isinstance(value, Mapping) else {"status": value}
    elif isinstance(stages, list):
        for item in stages:
            if isinstance(item, Mapping):
                name = item.get("stage") or item.get("name")
                if name:
                    names.append(str(name))
                    info[str(name)] = dict(item)
            elif item is not None:
                names.append(str(item))
    return names, info


def _discovered_stages(run_dir: Path) -> list[str]:
    found = []
    for child in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        if not child.is_dir() or child.name in _SKIP_DIRS or child.name.startswith("."):
            continue
        markers = ("summary.json", "failure.json", f"{child.name}.html", f"{child.name}.ipynb", "params.json")
        if any((child / m).exists() for m in markers):
            found.append(child.name)
    return found


def _rel(run_dir: Path, path: Path) -> Optional[str]:
    return path.relative_to(run_dir).as_posix() if path.exists() else None


def _stage_record(run_dir: Path, name: str, planned: Mapping[str, Any]) -> tuple[dict, Optional[dict]]:
    stage_dir = run_dir / name
    spec = _stage_spec(name)
    summary = _read_json_or_none(stage_dir / "summary.json") if (stage_dir / "summary.json").is_file() else None
    failure = _read_json_or_none(stage_dir / "failure.json") if (stage_dir / "failure.json").is_file() else None
    if summary is not None and not isinstance(summary, Mapping):
        summary = None
    if failure is not None and not isinstance(failure, Mapping):
        failure = {"ename": "failure.json", "evalue": str(failure)}
    files = {
        "report": _rel(run_dir, stage_dir / f"{name}.html"),
        "notebook": _rel(run_dir, stage_dir / f"{name}.ipynb"),
        "summary": _rel(run_dir, stage_dir / "summary.json"),
        "failure": _rel(run_dir, stage_dir / "failure.json"),
    }
    if failure is not None:
        status = "failed"
    elif summary is not None:
        status = str(summary.get("status") or "finished")
    elif planned.get("status"):
        status = str(planned["status"])
    elif files["report"] and spec is not None and spec.kind == "summary":
        status = "finished"
    elif stage_dir.is_dir():
        status = "incomplete"
    else:
        status = "not run"
    error = None
    if failure is not None:
        error = {k: failure.get(k) for k in ("ename", "evalue", "cell_index")}
    elif isinstance(planned.get("error"), (str, Mapping)):
        error = planned["error"] if isinstance(planned["error"], Mapping) else {"ename": "error", "evalue": planned["error"]}
    s = summary or {}
    record = {
        "stage": name,
        "title": s.get("title") or (spec.title if spec is not None else "") or name,
        "kind": spec.kind if spec is not None else ("loadgen" if summary else None),
        "status": status,
        "verdict": s.get("verdict"),
        "verdict_reasons": list(s.get("verdict_reasons") or []),
        "scenario": s.get("scenario") or (spec.defaults.get("scenario") if spec is not None else None),
        "mode": s.get("mode") or (spec.defaults.get("mode") if spec is not None else None),
        "model_key": s.get("model_key"),
        "model": s.get("model"),
        "backend": s.get("backend"),
        "simulated": bool(s.get("simulated")) if summary is not None else None,
        "submittable": s.get("submittable") if summary is not None else None,
        "relaxed_rules": list(s.get("relaxed_rules") or []),
        "metrics": plots.key_metrics(summary) if summary is not None else {},
        "task_scores": task_scores(s),
        "error": error,
        "files": {k: v for k, v in files.items() if v},
    }
    return record, (dict(summary) if summary is not None else None)


def collect_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """(rollup dict, summary.json dicts of the stages that have one, in table order)."""
    run_dir = Path(run_dir)
    run = _read_json_or_none(run_dir / "run.json") if (run_dir / "run.json").is_file() else None
    run = run if isinstance(run, Mapping) else {}
    planned, info = _planned_stages(run)
    for name, state in (run.get("stage_status") or {}).items():
        if state in ("interrupted", "failed"):  # interrupted: stopped by Ctrl-C, SIGTERM or Stop
            info.setdefault(str(name), {})["status"] = state
    for name, error in (run.get("stage_errors") or {}).items():  # failures the disk kept out of failure.json
        info.setdefault(str(name), {}).update(status="failed", error=error)
    run_status = effective_run_status(run)
    names = list(dict.fromkeys(planned + _discovered_stages(run_dir)))
    if not planned:
        names.sort(key=_stage_order)
    records, summaries = [], []
    for name in names:
        record, summary = _stage_record(run_dir, name, info.get(name, {}))
        if run_status == ABANDONED and record["status"] == "incomplete":  # the stage its owner was running
            record["status"] = ABANDONED
        records.append(record)
        if summary is not None:
            summaries.append(summary)

    def joined(key: str) -> Optional[str]:
        if run.get(key):
            return str(run[key])
        values = list(dict.fromkeys(str(s[key]) for s in summaries if s.get(key)))
        return ", ".join(values) if values else None

    started = run.get("started")
    if not started:
        times = sorted(str((s.get("loadgen") or {}).get("test_datetime")) for s in summaries if (s.get("loadgen") or {}).get("test_datetime"))
        started = times[0] if times else None
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    rollup = {
        "schema_version": ROLLUP_SCHEMA_VERSION,
        "run_id": str(run.get("run_id") or run_dir.resolve().name),
        "preset": run.get("preset"),
        "model": joined("model"),
        "backend": joined("backend"),
        "started": started,
        "finished": run.get("finished"),
        "status": run_status or ("failed" if counts.get("failed") else None),
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "any_simulated": any(r.get("simulated") for r in records),
        "counts": counts,
        "stages": records,
    }
    return rollup, summaries


def build_rollup(run_dir: str | Path) -> dict:
    """The run's overview as a JSON-ready dict (what run_rollup.json holds)."""
    return collect_run(Path(run_dir))[0]


def comparison_summaries(run_dir: str | Path) -> list[dict]:
    """summary.json of every finished LoadGen stage, in pipeline order."""
    return collect_run(Path(run_dir))[1]


def write_rollup(run_dir: str | Path) -> Path:
    """Write ``run_dir/rollup/run_rollup.json`` atomically and return its path."""
    run_dir = Path(run_dir)
    return write_json_atomic(run_dir / ROLLUP_FILE, build_rollup(run_dir))


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------


def _href(prefix: str, rel: Optional[str]) -> Optional[str]:
    return quote(prefix + rel, safe="/.-_~") if rel else None


def _stage_row(r: Mapping[str, Any], link_prefix: str) -> dict[str, Any]:
    """One row of the stage table, as data for stage_table.html.j2."""
    m = r.get("metrics") or {}
    files = r.get("files") or {}
    status = str(r.get("status") or "unknown")
    links = [(_href(link_prefix, files.get(key)), label) for key, label in (("report", "report"), ("summary", "summary.json"), ("failure", "failure.json")) if files.get(key)]
    error = r.get("error") if status == "failed" else None
    if error:
        evalue = str(error.get("evalue") or "")
        error = {"cell": error.get("cell_index"), "ename": error.get("ename") or "error",
                 "evalue": evalue[:600] + " \u2026" if len(evalue) > 600 else evalue}
    return {
        "stage": r["stage"],
        "title": r["title"] if r.get("title") and r["title"] != r["stage"] else None,
        "simulated": bool(r.get("simulated")),
        "status": status,
        "status_color": STATUS_COLORS.get(status, plots.COLORS["neutral"]),
        "failed_no_verdict": status == "failed" and not r.get("verdict"),
        "verdict": r.get("verdict"),
        "reasons": [x for x in r.get("verdict_reasons") or [] if x],
        "scenario_mode": [x for x in (r.get("scenario"), r.get("mode")) if x],
        "numbers": [m.get(k) for k in ("samples_per_second", "tokens_per_second", "ttft_p99_ms", "tpot_p99_ms")],
        "accuracy": Markup(accuracy_cell(m, r.get("task_scores"))),
        "links": links,
        "error": error,
        "abandoned": status == ABANDONED,
    }


def stage_table_html(
    rollup: Mapping[str, Any],
    link_prefix: str = "",
    exclude_kinds: Sequence[str] = (),
) -> str:
    """The table of stages. ``link_prefix`` is prepended to run-relative links ("../" from a stage)."""
    header = ["Stage", "Status", "Verdict", "Scenario, mode", "Samples/s", "Tokens/s", "TTFT p99 ms", "TPOT p99 ms", "Accuracy", "Files"]
    rows = [_stage_row(r, link_prefix) for r in rollup.get("stages") or [] if r.get("kind") not in exclude_kinds]
    return str(macro("stage_table.html.j2", "stage_table", header, (4, 5, 6, 7, 8), rows))


def task_scores(summary: Mapping[str, Any]) -> dict[str, Optional[float]]:
    """A custom workload's mean score per task_type (its scorers differ, so there is no one overall figure)."""
    accuracy = summary.get("accuracy")
    groups = accuracy.get("per_task_type") if isinstance(accuracy, Mapping) else None
    if not isinstance(groups, Mapping):
        return {}
    return {str(name): plots.number(g.get("score")) for name, g in groups.items() if isinstance(g, Mapping)}


TASK_SCORES_SHOWN = 3  # the index's cell stays narrow; the stage report has the full table


def accuracy_cell(m: Mapping[str, Any], scores: Optional[Mapping[str, Optional[float]]] = None) -> str:
    """The stage's accuracy figure, named: ROUGE-1 (CNN/DailyMail), exact match (DeepSeek-R1), lm-eval's accuracy,
    or a custom workload's score per task_type."""
    value, label = None, None
    if scores and m.get("rouge1") is None and m.get("exact_match") is None:
        shown = [f"{name} {fmt_value(score, 2) if score is not None else 'not scored'}"
                 for name, score in list(scores.items())[:TASK_SCORES_SHOWN]]
        more = len(scores) - TASK_SCORES_SHOWN
        value = "; ".join(shown) + (f"; {more} more" if more > 0 else "")
        return str(macro("stage_table.html.j2", "accuracy", value, "score per task_type"))
    if m.get("rouge1") is not None:
        value, label = fmt_value(m["rouge1"], 2), "ROUGE-1"
    elif m.get("exact_match") is not None:
        value, label = fmt_value(m["exact_match"], 2), "exact match"
    elif m.get("lmeval_accuracy") is not None:
        acc, stderr = m["lmeval_accuracy"], m.get("lmeval_accuracy_stderr")
        value = f"{100 * acc:.1f} %" + (f" \u00b1 {100 * stderr:.1f}" if stderr is not None else "")
        label = "lm-eval accuracy"
    return str(macro("stage_table.html.j2", "accuracy", value, label))


def index_html(run_dir: str | Path) -> str:
    """The index page as a string (see :func:`write_index`)."""
    from mlnb.compare.links import comparisons_html
    from mlnb.report.sol_view import device_line_html

    rollup, summaries = collect_run(Path(run_dir))
    keys = ("preset", "model", "backend", "started", "finished", "status")
    comparable = plots.comparable_summaries(summaries)
    return render(
        "index.html.j2",
        css=Markup(CSS),
        run_id=rollup["run_id"],
        facts=[(key, rollup[key]) for key in keys if rollup.get(key)],
        n_stages=len(rollup.get("stages") or []),
        counts=", ".join(f"{n} {status}" for status, n in (rollup.get("counts") or {}).items()),
        device_line=Markup(device_line_html(run_dir)),
        simulated=[r["stage"] for r in rollup.get("stages") or [] if r.get("simulated")],
        what_am_i_looking_at=WHAT_AM_I_LOOKING_AT,
        stage_table=Markup(stage_table_html(rollup)),
        chart_uri=plots.figure_data_uri(plots.stage_comparison(comparable)) if comparable else None,
        comparisons=Markup(comparisons_html(Path(run_dir))),  # links to this run's comparisons (mlnb compare)
        generated=rollup["generated"],
        rollup_file=ROLLUP_FILE.as_posix(),
    ) + "\n"


def write_index(run_dir: str | Path) -> Path:
    """Write ``run_dir/index.html`` atomically and return its path."""
    run_dir = Path(run_dir)
    return write_text_atomic(run_dir / INDEX_FILE, index_html(run_dir))
