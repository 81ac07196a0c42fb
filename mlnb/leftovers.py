"""Leftover engine processes of earlier mlnb runs, stopped before a new run (``FORCE_FREE_GPU=1``).

Only processes mlnb itself started for runs in the outputs folder of this run are touched, found two ways (:mod:`mlnb.lifecycle`,
:mod:`mlnb.server.processes`); nothing is ever found or killed by name:

- managed servers recorded in ``RUN/server/process.json`` that still run the recorded command;
- processes carrying a run's marker (``MLNB_RUN_DIR`` in their environment: kernels, harnesses,
  lm-eval, servers), whose run is no longer running: its owner process is gone (the run was killed)
  or run.json says it ended.

A run whose owner still runs (another ``mlnb run`` in progress) is left alone, and so is anything of
a run whose run.json cannot be read: nothing says it is over.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import psutil

from mlnb.fileio import read_json
from mlnb.lifecycle import RUN_MARK_ENV, effective_run_status, stop_marked
from mlnb.server.processes import recorded_processes, stop_group

GRACE_S = 10.0


def _run_over(run_dir: Path) -> Optional[bool]:
    """True when the run has ended (or was abandoned); False while it runs; None when it cannot be told."""
    try:
        run = read_json(run_dir / "run.json")
    except (OSError, ValueError):
        return None
    if not isinstance(run, dict):
        return None
    return effective_run_status(run) != "running"


def _ancestors() -> set[int]:
    pids, proc = set(), psutil.Process(os.getpid())
    while proc is not None:
        pids.add(proc.pid)
        try:
            proc = proc.parent()
        except psutil.Error:
            break
    return pids


def marked_run_dirs() -> dict[str, int]:
    """Run folders named by live processes' markers, with how many processes carry each."""
    found: dict[str, int] = {}
    mine = _ancestors()  # a run started from inside another run's stage carries its marker too
    for proc in psutil.process_iter(["pid"]):
        if proc.pid in mine:
            continue
        try:
            value = proc.environ().get(RUN_MARK_ENV)
        except (psutil.Error, OSError):
            continue
        if value:
            found[value] = found.get(value, 0) + 1
    return found


def free_leftovers(outputs: Path, grace_s: float = GRACE_S) -> list[str]:
    """Stop what earlier, ended runs left behind; one line per thing found (none: one line saying so)."""
    lines = []
    for path, record in recorded_processes(Path(outputs)):
        run_dir = path.parent.parent
        if record.live_process() is None:
            continue
        if _run_over(run_dir) is not True:
            lines.append(f"{run_dir.name}: {record.role} pid {record.pid} left alone (its run is still running or unreadable)")
            continue
        lines.append(f"{run_dir.name}: {record.role} pid {record.pid}: {stop_group(record, grace_s)}")
    root = Path(outputs).resolve()
    for run_dir, count in sorted(marked_run_dirs().items()):
        if Path(run_dir).resolve().parent != root:  # another outputs folder: another workspace's business
            continue
        over = _run_over(Path(run_dir))
        if over is not True:
            lines.append(f"{run_dir}: {count} processes left alone (its run is still running or unreadable)")
            continue
        stopped = stop_marked(RUN_MARK_ENV, run_dir)
        lines.append(f"{run_dir}: stopped {stopped} leftover processes of an ended run")
    return lines or [f"no leftover processes of earlier mlnb runs in {outputs}"]
