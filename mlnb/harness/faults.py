"""A fault anywhere in the harness ends it at once, with the cause written down.

LoadGen waits in C++ for every query it issued. When a backend's worker thread dies, the queries it
held never complete and the test would wait until the stage's timeout. So an uncaught exception in
any thread is fatal here: it is written to ``harness_error.json`` (type, message, thread, traceback),
printed, and the process exits at once. The stage reads the file to put the real exception into
``failure.json``.

Nothing is written into a stage folder that the pipeline has already declared failed.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from pathlib import Path

from mlnb.fileio import write_json_atomic

HARNESS_ERROR_FILE = "harness_error.json"
FAILURE_FILE = "failure.json"
EXIT_FAULT = 70  # EX_SOFTWARE


def stage_declared_failed(stage_dir: Path) -> bool:
    return (stage_dir / FAILURE_FILE).exists()


def record_fault(stage_dir: Path, exc: BaseException, thread_name: str) -> None:
    """Print the fault and write harness_error.json (unless the stage is already declared failed)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    print(f"fatal: {type(exc).__name__} in thread {thread_name}: {exc}\n{text}", file=sys.stderr, flush=True)
    if stage_declared_failed(stage_dir):
        return
    try:
        write_json_atomic(
            stage_dir / HARNESS_ERROR_FILE,
            {"ename": type(exc).__name__, "evalue": str(exc)[:2000], "thread": thread_name, "traceback": text[-8000:]},
        )
    except OSError as err:  # a full or read-only disk: the printed line above is what remains
        print(f"fatal: could not write {HARNESS_ERROR_FILE}: {err}", file=sys.stderr, flush=True)


def end_on_thread_faults(stage_dir: Path) -> None:
    """Make an uncaught exception in any thread end the harness at once (exit code 70)."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "unknown"
        record_fault(stage_dir, args.exc_value, name)
        os._exit(EXIT_FAULT)  # LoadGen's C++ test would otherwise wait forever for the lost queries

    threading.excepthook = hook
