"""Comparisons listed with the runs they compare: ``comparisons.json`` in each run folder.

Each entry points at the comparison's HTML relative to the run folder. The run's ``index.html``
shows the list (:func:`comparisons_html`), read from that file. After a comparison is written,
:func:`link_runs` adds the entry atomically and the caller rewrites each run's index (this module does
not import the report, which imports it). Nothing else in a run folder changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from mlnb.fileio import read_json, write_json_atomic

__all__ = ["COMPARISONS_FILE", "comparisons_html", "link_runs", "read_comparisons"]

COMPARISONS_FILE = "comparisons.json"


def read_comparisons(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / COMPARISONS_FILE
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return []
    entries = data.get("comparisons") if isinstance(data, Mapping) else None
    return [dict(e) for e in entries or [] if isinstance(e, Mapping) and e.get("href")]


def link_runs(comparison: Mapping[str, Any], compare_dir: Path, html_name: str) -> list[Path]:
    """Add the comparison to each run's comparisons.json; returns the run folders, whose index.html is now stale."""
    import os

    verdicts = {line["run_id"]: line["verdict"] for line in comparison.get("overall") or []}
    summary = "; ".join(f"{run_id}: {verdict}" for run_id, verdict in verdicts.items())
    records = [r for run in comparison["runs"] for r in [run, *(run.get("repeats") or [])]]
    folders = []
    for run in records:
        folder = Path(run["folder"])
        href = Path(os.path.relpath(compare_dir / html_name, folder)).as_posix()
        entries = [e for e in read_comparisons(folder) if e.get("id") != comparison["id"]]
        entries.append({
            "id": comparison["id"],
            "href": href,
            "runs": [r.get("label") or r["run_id"] for r in comparison["runs"]],
            "baseline": comparison["baseline"],
            "created": comparison["created"],
            "verdicts": summary,
        })
        write_json_atomic(folder / COMPARISONS_FILE, {"comparisons": entries})
        folders.append(folder)
    return folders


def comparisons_html(run_dir: str | Path) -> str:
    """The index page's "Comparisons" section; empty when the run was never compared."""
    from mlnb.report.markup import macro

    entries = read_comparisons(run_dir)
    if not entries:
        return ""
    rows = []
    for e in entries:
        runs: Sequence[str] = e.get("runs") or []
        rows.append((quote(str(e["href"]), safe="/.-_~"), " vs ".join(runs) or e.get("id"), e.get("created"), e.get("verdicts")))
    return str(macro("stage_table.html.j2", "comparisons", rows))
