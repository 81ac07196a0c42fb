"""Processes mlnb started: recorded in the run folder, and stopped only when still the same process.

A record holds the pid, its process group, the exact command line and the kernel's start time.
``mlnb cleanup`` signals a recorded group only when the pid still runs that command and started at
that time, so a recycled pid (someone else's process) is never touched, and nothing is ever killed
by name.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

import psutil

from mlnb.fileio import read_json, write_json_atomic

RECORD_NAME = "process.json"


@dataclass
class ProcessRecord:
    pid: int
    pgid: int
    cmdline: list[str]
    create_time: float
    role: str
    run_dir: str
    started: str

    @classmethod
    def of(cls, pid: int, role: str, run_dir: Path, argv: Optional[list[str]] = None) -> "ProcessRecord":
        """``argv``: the command we started; a child read right after fork may not have exec'd it yet."""
        proc = psutil.Process(pid)
        return cls(
            pid=pid,
            pgid=os.getpgid(pid),
            cmdline=list(argv) if argv is not None else proc.cmdline(),
            create_time=proc.create_time(),
            role=role,
            run_dir=str(run_dir),
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )

    def save(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> "ProcessRecord":
        return cls(**read_json(path))

    def live_process(self) -> Optional[psutil.Process]:
        """The recorded process if it still runs the same command since the same start; else None."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.05 or proc.cmdline() != self.cmdline:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None


def stop_group(record: ProcessRecord, grace_s: float) -> str:
    """SIGTERM the recorded process group, SIGKILL what is left after ``grace_s``; says what it did."""
    proc = record.live_process()
    if proc is None:
        return "not running (or the pid now belongs to another process): nothing signalled"
    # Its own session (start_new_session): the group is the server's alone, never ours.
    target_group = record.pgid if record.pgid == record.pid and record.pgid != os.getpgrp() else None
    members = _group_members(record.pgid) if target_group else [proc]
    _signal(target_group, proc, signal.SIGTERM)
    gone, alive = psutil.wait_procs(members, timeout=grace_s)
    if not alive:
        return f"stopped with SIGTERM ({len(gone)} processes)"
    _signal(target_group, proc, signal.SIGKILL)
    for p in alive:  # children that left the group still belong to the server
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    return f"stopped with SIGKILL after {grace_s:g}s ({len(alive)} processes ignored SIGTERM)"


def _signal(group: Optional[int], proc: psutil.Process, sig: int) -> None:
    try:
        if group is not None:
            os.killpg(group, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, psutil.NoSuchProcess):
        pass


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return members


def recorded_processes(outputs: Path) -> Iterator[tuple[Path, ProcessRecord]]:
    """Every process record under ``outputs/<run>/server/`` (and ``server-N/``, one per device)."""
    for path in sorted(outputs.glob(f"*/server*/{RECORD_NAME}")):
        try:
            yield path, ProcessRecord.load(path)
        except (ValueError, TypeError, KeyError, OSError):
            continue  # an unreadable record names no process we can safely signal


def cleanup(outputs: Path, dry_run: bool = False, grace_s: float = 30.0) -> list[str]:
    """Stop the recorded processes that still run; returns one line per record."""
    lines = []
    for path, record in recorded_processes(outputs):
        live = record.live_process()
        where = f"{path.parent.parent.name}: {record.role} pid {record.pid}"
        if live is None:
            lines.append(f"{where}: not running")
            continue
        if dry_run:
            lines.append(f"{where}: running ({' '.join(record.cmdline)[:120]}); would stop it")
            continue
        lines.append(f"{where}: {stop_group(record, grace_s)}")
    return lines
