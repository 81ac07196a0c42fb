"""The 99_run_summary notebook's view: every stage of the run side by side.

The notebook's report lives in ``<run_dir>/99_run_summary/``, so links to the other stages'
files go one folder up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mlnb.report import plots
from mlnb.report.run_index import WHAT_AM_I_LOOKING_AT, collect_run, stage_table_html
from mlnb.report.markup import display_parts, esc, style_tag

__all__ = ["run_summary_parts", "show_run_summary", "stage_counts"]


def _simulated_note(rollup: Mapping[str, Any]) -> str:
    sims = [r["stage"] for r in rollup.get("stages") or [] if r.get("simulated")]
    if not sims:
        return ""
    return (
        '<div class="banner sim"><div class="big">SIMULATED \u2014 no model ran</div>'
        f"<p>Stages <b>{esc(', '.join(sims))}</b> ran on mlnb's simulator: their latency and throughput "
        "numbers come from a timing model, not from a model on hardware, and must not be compared with real "
        "runs. Their bars below are hatched.</p></div>"
    )


def stage_counts(rollup: Mapping[str, Any]) -> dict[str, int]:
    """Stages by status, the summary stage left out: this page is it, still being written when counted."""
    counts: dict[str, int] = {}
    for record in rollup.get("stages") or []:
        if record.get("kind") != "summary":
            counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


def run_summary_parts(run_dir: str | Path, link_prefix: str = "../") -> list[tuple]:
    """``("html", str)`` and ``("png", bytes, alt)`` parts of the run summary."""
    rollup, summaries = collect_run(Path(run_dir))
    facts = [f"{label} <b>{esc(rollup[key])}</b>" for key, label in (("preset", "preset"), ("model", "model"), ("backend", "backend")) if rollup.get(key)]
    counts = ", ".join(f"{n} {esc(status)}" for status, n in stage_counts(rollup).items())
    head = (
        f"<h2>Run {esc(rollup['run_id'])}: all stages</h2>"
        + ('<p class="sub">' + " \u00b7 ".join(facts) + "</p>" if facts else "")
        + (f'<p class="sub">Stages: {counts}</p>' if counts else "")
        + _simulated_note(rollup)
        + stage_table_html(rollup, link_prefix=link_prefix, exclude_kinds=("summary",))
        + f'<details><summary>What am I looking at?</summary><p>{WHAT_AM_I_LOOKING_AT}</p></details>'
    )
    parts: list[tuple] = [("html", style_tag() + f'<div class="mlnb">{head}</div>')]
    summaries = plots.comparable_summaries(summaries)
    if summaries:
        parts.append(("png", plots.figure_png(plots.stage_comparison(summaries)), "Stages compared"))
    else:
        parts.append(("html", '<div class="mlnb"><p class="muted">No performance stage finished, so there is nothing to compare.</p></div>'))
    return parts


def show_run_summary(run_dir: str | Path) -> None:
    """Display the table of all stages and the comparison chart in the notebook."""
    display_parts(run_summary_parts(run_dir))
