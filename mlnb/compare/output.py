"""``mlnb compare``: check the runs, compute the comparison, write its folder, link it from the runs.

The folder (default ``<outputs>/compare-<timestamp>_<a>_vs_<b>/`` next to the first run) holds
``compare.json``, the executed ``compare.ipynb`` and ``compare.html`` (nbconvert, code hidden,
nothing fetched). It is built in a hidden temporary folder beside it and renamed into place, so a
reader never sees half of it and an existing folder is never overwritten. Bad input raises
:class:`mlnb.errors.InputError` before anything is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from mlnb.compare import stats
from mlnb.compare.build import build_comparison
from mlnb.compare.comparability import check_comparable
from mlnb.compare.loading import RunData, load_runs
from mlnb.errors import InputError
from mlnb.fileio import write_json_atomic

__all__ = ["COMPARE_FILE", "HTML_FILE", "NOTEBOOK_FILE", "compute_comparison", "default_folder_name", "write_comparison"]

COMPARE_FILE = "compare.json"
NOTEBOOK_FILE = "compare.ipynb"
HTML_FILE = "compare.html"
_MAX_NAME = 120


def default_folder_name(runs: Sequence[RunData], stamp: Optional[str] = None) -> str:
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    ids = [run.run_id for run in runs]
    name = f"compare-{stamp}_{ids[0]}_vs_{ids[1]}" + (f"_and_{len(ids) - 2}_more" if len(ids) > 2 else "")
    return name[:_MAX_NAME]


def compute_comparison(
    paths: Sequence[str | Path],
    force: bool = False,
    comparison_id: str = "",
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    threshold: float = stats.DEFAULT_THRESHOLD,
) -> tuple[dict[str, Any], list[RunData]]:
    """Load and check the runs and compare them (nothing written)."""
    if resamples < 100:
        raise InputError(f"--resamples {resamples}", "use at least 100 resamples")
    if not 0 <= threshold < 1:
        raise InputError(f"--threshold {threshold}", "expected a share of run A's value in [0, 1), e.g. 0.05")
    runs = load_runs(list(paths))
    stages, diffs = check_comparable(runs, force=force)
    comparison = build_comparison(runs, stages, diffs, comparison_id or default_folder_name(runs), forced=force,
                                  resamples=resamples, seed=seed, threshold=threshold)
    return comparison, runs


def _execute_notebook(folder: Path) -> None:
    import papermill as pm

    from mlnb.kernel import KERNEL, kernel_manager_class
    from mlnb.paths import notebook_path
    from mlnb.report.html import export_notebook_html

    socket_dir = tempfile.mkdtemp(prefix="mlnb-kernel-")
    try:
        with open(folder / "compare.log", "w", encoding="utf-8") as log:
            pm.execute_notebook(
                str(notebook_path(NOTEBOOK_FILE)), str(folder / NOTEBOOK_FILE),
                parameters={"compare_dir": str(folder)}, kernel_name=KERNEL, progress_bar=False,
                stdout_file=log, stderr_file=log, cwd=str(folder), execution_timeout=600, start_timeout=180,
                kernel_manager_class=kernel_manager_class(socket_dir),
            )
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
    export_notebook_html(folder / NOTEBOOK_FILE, folder / HTML_FILE)


def write_comparison(
    paths: Sequence[str | Path],
    out: Optional[str | Path] = None,
    force: bool = False,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    threshold: float = stats.DEFAULT_THRESHOLD,
    echo=print,
) -> tuple[Path, dict[str, Any]]:
    """The whole command; returns (the comparison folder, compare.json's content)."""
    from mlnb.compare.links import link_runs
    from mlnb.compare.view import relative_to
    from mlnb.report.run_index import write_index

    if out is not None and Path(out).exists():
        raise InputError(f"--out {out}", "already exists; comparisons are never overwritten")
    comparison, runs = compute_comparison(paths, force, "", resamples, seed, threshold)
    final = Path(out) if out is not None else runs[0].folder.parent / comparison["id"]
    if final.exists():
        raise InputError(str(final), "already exists; comparisons are never overwritten")
    comparison["id"] = final.name
    final.parent.mkdir(parents=True, exist_ok=True)
    for record, run in zip(comparison["runs"], runs):
        for rec, member in zip([record, *record["repeats"]], run.members()):
            rec["relative"] = relative_to(member.folder, final.resolve().parent / final.name)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        write_json_atomic(work / COMPARE_FILE, comparison)
        echo(f"compared {len(comparison['stages'])} stages; writing the report ...")
        _execute_notebook(work)
        os.chmod(work, 0o755)  # mkdtemp makes it private; reports are meant to be shared
        os.rename(work, final)
    except Exception as err:  # keep what was written, next to failure.json, for a look at the log
        write_json_atomic(work / "failure.json", {"ename": type(err).__name__, "evalue": str(err)[:2000]})
        os.chmod(work, 0o755)
        os.rename(work, final)
        raise
    except BaseException:  # interrupted: nothing half-done stays behind
        shutil.rmtree(work, ignore_errors=True)
        raise
    for folder in link_runs(comparison, final.resolve(), HTML_FILE):
        write_index(folder)  # its Comparisons section reads the comparisons.json just written
    return final, comparison
