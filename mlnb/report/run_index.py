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
from mlnb.report.markup import esc, fmt_value, plural, simulated_tag, verdict_pill, CSS

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

WHAT_AM_I_LOOKING_AT = (
    "Each row is one stage of this run: one MLPerf-Inference-style LoadGen test (performance or "
    "accuracy) of an LLM, run through the real MLCommons LoadGen. <b>VALID / INVALID</b> is "
    "LoadGen's own verdict on a performance run (plus any queries the system under test failed); "
    "<b>PASS / FAIL</b> compares an accuracy run's ROUGE scores with the MLPerf targets. "
    "Smoke and quick runs are deliberately short, so they are usually INVALID because of early "
    "stopping or the minimum duration: that is expected and says nothing bad about the system. "
    "Runs made with relaxed rules (fewer samples, shorter duration, another model or data set) are "
    "<b>not submittable</b> to MLPerf; their numbers are for development. Stages marked "
    "<b>SIMULATED</b> ran no model at all. Open a stage's report for its plots and details. "
    "An lm-eval stage (MMLU) runs no LoadGen test: it is <b>ACCURACY ONLY</b>, with its accuracy "
    "\u00b1 standard error in the Accuracy column, and MLPerf sets no target for it."
)


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


def _link(prefix: str, rel: Optional[str], label: str) -> str:
    if not rel:
        return ""
    href = quote(prefix + rel, safe="/.-_~")
    return f'<a href="{esc(href)}">{esc(label)}</a>'


def _status_cell(status: str) -> str:
    color = STATUS_COLORS.get(status, plots.COLORS["neutral"])
    return f'<span class="pill" style="background:{color}">{esc(status.upper())}</span>'


def _verdict_cell(record: Mapping[str, Any]) -> str:
    if record.get("status") == "failed" and not record.get("verdict"):
        return verdict_pill("FAILED")
    if not record.get("verdict"):
        return '<span class="muted">\u2014</span>'
    out = verdict_pill(record["verdict"])
    reasons = [r for r in record.get("verdict_reasons") or [] if r]
    if reasons:
        items = "".join(f"<li>{esc(r)}</li>" for r in reasons)
        word = "reason" if len(reasons) == 1 else "reasons"
        out += f'<details class="why"><summary>{len(reasons)} {word}</summary><ul>{items}</ul></details>'
    return out


def stage_table_html(
    rollup: Mapping[str, Any],
    link_prefix: str = "",
    exclude_kinds: Sequence[str] = (),
) -> str:
    """The table of stages. ``link_prefix`` is prepended to run-relative links ("../" from a stage)."""
    header = [
        "Stage",
        "Status",
        "Verdict",
        "Scenario, mode",
        "Samples/s",
        "Tokens/s",
        "TTFT p99 ms",
        "TPOT p99 ms",
        "Accuracy",
        "Files",
    ]
    numeric = {4, 5, 6, 7, 8}
    head = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header))
    body = []
    for r in rollup.get("stages") or []:
        if r.get("kind") in exclude_kinds:
            continue
        m = r.get("metrics") or {}
        name = f"<b>{esc(r['stage'])}</b>"
        if r.get("title") and r["title"] != r["stage"]:
            name += f'<br><span class="muted">{esc(r["title"])}</span>'
        if r.get("simulated"):
            name += f"<br>{simulated_tag()}"
        files = r.get("files") or {}
        links = "<br>".join(
            x
            for x in (
                _link(link_prefix, files.get("report"), "report"),
                _link(link_prefix, files.get("summary"), "summary.json"),
                _link(link_prefix, files.get("failure"), "failure.json"),
            )
            if x
        ) or '<span class="muted">\u2014</span>'
        scenario_mode = "<br>".join(esc(x) for x in (r.get("scenario"), r.get("mode")) if x) or "\u2014"
        cells = [
            name,
            _status_cell(str(r.get("status") or "unknown")),
            _verdict_cell(r),
            scenario_mode,
            fmt_value(m.get("samples_per_second")),
            fmt_value(m.get("tokens_per_second")),
            fmt_value(m.get("ttft_p99_ms")),
            fmt_value(m.get("tpot_p99_ms")),
            accuracy_cell(m),
            links,
        ]
        failed = r.get("status") == "failed"
        row_style = ' class="failed"' if failed else (' class="notrun"' if r.get("status") == "not run" else "")
        tds = "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(cells))
        body.append(f"<tr{row_style}>{tds}</tr>")
        error = r.get("error")
        if failed and error:
            cell = error.get("cell_index")
            where = f" (notebook cell {esc(cell)})" if cell is not None else ""
            evalue = str(error.get("evalue") or "")
            if len(evalue) > 600:
                evalue = evalue[:600] + " \u2026"
            body.append(
                f'<tr class="failed"><td></td><td colspan="{len(header) - 1}"><span class="err"><b>Error{where}:</b></span>'
                f'<pre>{esc(error.get("ename") or "error")}: {esc(evalue)}</pre></td></tr>'
            )
        if r.get("status") == "interrupted":
            body.append(
                f'<tr><td></td><td colspan="{len(header) - 1}" class="muted">Stopped on request (Ctrl-C, SIGTERM '
                f"or the launcher's Stop) before it finished; its logs are kept in <code>{esc(r['stage'])}/</code>.</td></tr>"
            )
        if r.get("status") == ABANDONED:
            body.append(
                f'<tr><td></td><td colspan="{len(header) - 1}" class="muted">Abandoned: the process running the run is '
                f"gone (killed, or its machine stopped) while this stage ran; its partial logs are in "
                f"<code>{esc(r['stage'])}/</code>. Stages finished before it are complete and usable.</td></tr>"
            )
    return f'<table class="t stages"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def accuracy_cell(m: Mapping[str, Any]) -> str:
    """The stage's accuracy figure, named: ROUGE-1 (CNN/DailyMail), exact match (DeepSeek-R1) or lm-eval's accuracy."""
    if m.get("rouge1") is not None:
        return f'{fmt_value(m["rouge1"], 2)}<br><span class="muted">ROUGE-1</span>'
    if m.get("exact_match") is not None:
        return f'{fmt_value(m["exact_match"], 2)}<br><span class="muted">exact match</span>'
    acc, stderr = m.get("lmeval_accuracy"), m.get("lmeval_accuracy_stderr")
    if acc is not None:
        value = f"{100 * acc:.1f} %" + (f" \u00b1 {100 * stderr:.1f}" if stderr is not None else "")
        return f'{value}<br><span class="muted">lm-eval accuracy</span>'
    return "\u2014"


_INDEX_CSS = """
body { margin: 0; padding: 24px 28px; background: #ffffff; }
body > .mlnb { max-width: 1400px; }
.mlnb footer { margin-top: 24px; color: #6b7280; font-size: 0.85em; }
"""


def _simulated_note(rollup: Mapping[str, Any]) -> str:
    sims = [r["stage"] for r in rollup.get("stages") or [] if r.get("simulated")]
    if not sims:
        return ""
    return (
        '<div class="banner sim"><div class="big">SIMULATED \u2014 no model ran</div>'
        f"<p>These stages are simulated (mlnb's simulator stood in for the model): <b>{esc(', '.join(sims))}</b>. "
        "Their latencies and throughput are made up by the simulator's timing model and say nothing about "
        "any system's performance. Their bars in the chart are hatched.</p></div>"
    )


def _chart_html(summaries: Sequence[Mapping[str, Any]]) -> str:
    summaries = plots.comparable_summaries(summaries)
    if not summaries:
        return '<p class="muted">No performance stage finished, so there is nothing to compare.</p>'
    uri = plots.figure_data_uri(plots.stage_comparison(summaries))
    return f'<img class="fig" alt="Stages compared: tokens/s, samples/s, p99 TTFT, p99 TPOT, p90 latency" src="{uri}">'


def _comparisons_html(run_dir: Path) -> str:
    """Links to the comparisons of this run (``mlnb compare``), from its comparisons.json."""
    from mlnb.compare.links import comparisons_html

    return comparisons_html(run_dir)


def index_html(run_dir: str | Path) -> str:
    """The index page as a string (see :func:`write_index`)."""
    from mlnb.report.sol_view import device_line_html

    rollup, summaries = collect_run(Path(run_dir))
    facts = []
    for key, label in (("preset", "preset"), ("model", "model"), ("backend", "backend"), ("started", "started"), ("finished", "finished"), ("status", "status")):
        if rollup.get(key):
            facts.append(f"{label} <b>{esc(rollup[key])}</b>")
    counts = rollup.get("counts") or {}
    count_text = ", ".join(f"{n} {esc(status)}" for status, n in counts.items())
    body = [
        f"<h1>mlnb run {esc(rollup['run_id'])}</h1>",
        '<p class="sub">' + (" \u00b7 ".join(facts) if facts else "no run.json in this folder") + "</p>",
        f'<p class="sub">{plural(len(rollup.get("stages") or []), "stage")}: {count_text or "none"}</p>',
        device_line_html(run_dir),
        _simulated_note(rollup),
        f'<div class="info"><b>What am I looking at?</b> {WHAT_AM_I_LOOKING_AT}</div>',
        "<h2>Stages</h2>",
        stage_table_html(rollup),
        "<h2>Stages compared</h2>",
        _chart_html(summaries),
        _comparisons_html(Path(run_dir)),
        f'<footer>Written by mlnb on {esc(rollup["generated"])}. Machine-readable: '
        f'<a href="{esc(ROLLUP_FILE.as_posix())}">{esc(ROLLUP_FILE.as_posix())}</a>. '
        "This page is self-contained: it loads nothing from the network.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mlnb run {esc(rollup['run_id'])}</title>"
        f"<style>{CSS}{_INDEX_CSS}</style></head>"
        f'<body><div class="mlnb">{"".join(body)}</div></body></html>\n'
    )


def write_index(run_dir: str | Path) -> Path:
    """Write ``run_dir/index.html`` atomically and return its path."""
    run_dir = Path(run_dir)
    return write_text_atomic(run_dir / INDEX_FILE, index_html(run_dir))
