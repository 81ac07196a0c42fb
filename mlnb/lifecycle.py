"""No process outlives the run that started it, and a run whose owner is gone says so.

Three mechanisms, each covering what the others cannot:

- Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) set in every child mlnb starts
  (kernel, harness, lm-eval, managed server): when the parent dies, however it dies, SIGKILL included,
  the kernel delivers SIGKILL to the child at once. The child checks its parent afterwards, because the
  parent may have died between fork and prctl.
- A marker in the environment (``MLNB_RUN_DIR``, ``MLNB_STAGE_DIR``) that every process of a run inherits,
  so that the pipeline can find and stop whatever of a stage is left before it declares the stage
  failed, and tests can check that nothing of a run is left.
- The owner of a run (pid, start time, host) in ``run.json``: a run that says "running" but whose owner
  is gone (or whose pid now belongs to another process) is "abandoned".
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
from typing import Any, Callable, Mapping, Optional

import psutil

RUN_MARK_ENV = "MLNB_RUN_DIR"
STAGE_MARK_ENV = "MLNB_STAGE_DIR"
STOP_WAIT_S = 5.0
ABANDONED = "abandoned"

_PR_SET_PDEATHSIG = 1
try:  # resolved once here: a child between fork and exec must not load libraries
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: only the marker sweep and the owner check remain
    _prctl = None


def set_parent_death_signal(expected_parent: Optional[int] = None, sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False where that is not possible.

    When the parent is already gone (it died before the call), this process kills itself.
    """
    if _prctl is None or _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)
    return True


def die_with_parent_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets SIGKILL when this process dies.

    The signal is tied to the thread that starts the child: start long-lived children from a thread
    that lives as long as they should.
    """
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(parent)

    return preexec


def child_env(base: Optional[Mapping[str, str]] = None, **extra: str) -> dict[str, str]:
    """``base`` (default: this environment) with ``extra`` (the run's and stage's markers) added."""
    return dict(os.environ if base is None else base, **extra)


def marked_processes(key: str, value: str, exclude_self: bool = True) -> list[psutil.Process]:
    """Processes whose environment has ``key=value`` (the run's or a stage's marker)."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if exclude_self and proc.pid == me:
            continue
        try:
            if proc.environ().get(key) == value and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def run_processes(run_dir: str | os.PathLike) -> list[psutil.Process]:
    return marked_processes(RUN_MARK_ENV, str(run_dir))


def stop_marked(key: str, value: str, wait_s: float = STOP_WAIT_S) -> int:
    """SIGKILL every process marked ``key=value`` and wait until they are gone; returns how many there were."""
    procs = marked_processes(key, value)
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=wait_s)
    return len(procs)


# ---------------------------------------------------------------------------------------------
# The owner of a run
# ---------------------------------------------------------------------------------------------


def owner_record(pid: Optional[int] = None) -> dict[str, Any]:
    """What run.json records of the process that owns a run: pid, start time and host."""
    proc = psutil.Process(pid or os.getpid())
    return {"pid": proc.pid, "create_time": proc.create_time(), "host": socket.gethostname()}


def owner_alive(owner: Any) -> Optional[bool]:
    """True/False when it can be told whether the recorded owner still runs; None when it cannot.

    A pid now used by another process (another start time) counts as gone; a run owned on another
    host cannot be told from here.
    """
    if not isinstance(owner, Mapping) or not isinstance(owner.get("pid"), int):
        return None
    if owner.get("host") not in (None, socket.gethostname()):
        return None
    try:
        proc = psutil.Process(owner["pid"])
        created = proc.create_time()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, OSError):
        return None
    recorded = owner.get("create_time")
    if isinstance(recorded, (int, float)) and abs(created - recorded) > 0.05:
        return False
    return True


def effective_run_status(run: Mapping[str, Any]) -> Optional[str]:
    """run.json's status, except that a "running" run whose owner is gone is "abandoned"."""
    status = run.get("status")
    if status == "running" and owner_alive(run.get("owner")) is False:
        return ABANDONED
    return status

