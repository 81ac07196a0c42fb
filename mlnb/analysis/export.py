"""A run's tables as files: each stage's per-query table and the table of the stage summaries.

``export_run(run_dir, "csv" | "parquet", out)`` writes, into a new folder ``out`` (default
``RUN/exports/FORMAT``):

- ``stages.FORMAT``: :func:`mlnb.analysis.stages` (one row per stage, the summaries' key figures);
- ``queries/STAGE.FORMAT``: :func:`mlnb.analysis.queries` of every stage that has a queries.jsonl;
- ``export.json``: what was written (run, format, files and their row counts).

The files are written into a temporary folder beside ``out`` (each through mlnb.fileio) and the folder
is renamed into place at the end, so ``out`` holds a whole export or nothing. A folder that exists and
is not empty is never written over.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from mlnb.errors import InputError
from mlnb.fileio import atomic_output, write_json_atomic

FORMATS = ("csv", "parquet")
MANIFEST = "export.json"


def default_out(run_dir: Path, fmt: str) -> Path:
    return Path(run_dir) / "exports" / fmt


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding anything but text (a dict, a list) as JSON text: one type per column."""
    frame = frame.copy()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v, default=str))
    return frame


def write_table(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    """``frame`` to ``path`` as CSV (no index) or Parquet, atomically."""
    frame = _plain(frame)
    if fmt == "csv":
        with atomic_output(path, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
    else:
        with atomic_output(path, "wb") as handle:
            frame.to_parquet(handle, index=False)
    return path


def read_table(path: Path) -> pd.DataFrame:
    """A table :func:`write_table` wrote, read back by its suffix."""
    path = Path(path)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def export_run(run_dir: str | Path, fmt: str, out: Optional[str | Path] = None) -> dict[str, Any]:
    """Write the run's tables (see the module docstring); returns the manifest written as export.json."""
    from mlnb.analysis.query_frame import queries
    from mlnb.analysis.stage_frame import stages
    from mlnb.paths import check_run_dir

    run_dir = Path(run_dir)
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}", f"expected one of {', '.join(FORMATS)}")
    check_run_dir(run_dir, argument="RUN")
    out = Path(out) if out is not None else default_out(run_dir, fmt)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        finished = (out / MANIFEST).is_file()
        raise InputError(f"--out {str(out)!r}", ("holds a finished export" if finished else "exists and is not empty")
                         + "; remove it or give another --out")
    table = stages(run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        files: dict[str, int] = {}
        write_table(table, work / f"stages.{fmt}", fmt)
        files[f"stages.{fmt}"] = len(table)
        for stage in table["stage"].dropna():
            stage_dir = run_dir / str(stage)
            if not (stage_dir / "queries.jsonl").is_file():
                continue
            frame = queries(stage_dir)
            name = f"queries/{stage}.{fmt}"
            write_table(frame, work / name, fmt)
            files[name] = len(frame)
        manifest = {"run_id": str(table["run_id"].iloc[0]) if len(table) else run_dir.name, "run_dir": str(run_dir),
                    "format": fmt, "files": files}
        write_json_atomic(work / MANIFEST, manifest)
        work.chmod(0o755)  # mkdtemp makes it private; an export is meant to be shared like the run
        if out.exists():
            out.rmdir()  # empty (checked above): the rename needs the name free
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest
