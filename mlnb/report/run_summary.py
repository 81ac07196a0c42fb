"""The 99_run_summary notebook's view: every stage of the run side by side.

The notebook's report lives in ``<run_dir>/99_run_summary/``, so links to the other stages'
files go one folder up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mlnb.report import plots
from mlnb.report.run_index import WHAT_AM_I_LOOKING_AT, collect_run, stage_table_html
from mlnb.report.markup import Markup, display_parts, macro, wrap

__all__ = ["run_summary_parts", "show_run_summary", "stage_counts"]


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
    head = macro(
        "runs.html.j2",
        "run_summary",
        run_id=rollup["run_id"],
        facts=[(key, rollup[key]) for key in ("preset", "model", "backend") if rollup.get(key)],
        counts=", ".join(f"{n} {status}" for status, n in stage_counts(rollup).items()),
        simulated=[r["stage"] for r in rollup.get("stages") or [] if r.get("simulated")],
        stage_table=Markup(stage_table_html(rollup, link_prefix=link_prefix, exclude_kinds=("summary",))),
        what_am_i_looking_at=WHAT_AM_I_LOOKING_AT,
    )
    parts: list[tuple] = [("html", wrap(head, with_style=True))]
    summaries = plots.comparable_summaries(summaries)
    if summaries:
        parts.append(("png", plots.figure_png(plots.stage_comparison(summaries)), "Stages compared"))
    else:
        parts.append(("html", wrap(macro("runs.html.j2", "nothing_to_compare"))))
    return parts


def show_run_summary(run_dir: str | Path) -> None:
    """Display the table of all stages and the comparison chart in the notebook."""
    display_parts(run_summary_parts(run_dir))
