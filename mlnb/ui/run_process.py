"""The launcher's child process: an ``mlnb`` command in its own process group, read line by line.

Stop sends SIGINT to the group (what Ctrl-C in a terminal does): ``mlnb run`` marks the run
interrupted, ``mlnb sweep`` keeps its finished points; SIGTERM, then SIGKILL, follow only if it
does not end. Used by the launcher's run form and its sweep section.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

from mlnb.ui.progress import CliEvent, parse_cli_line

__all__ = ["EXIT_MEANING", "RunProcess", "link_path"]

STOP_SIGTERM_AFTER_S = 90.0  # after SIGINT; the pipeline needs seconds, not minutes
STOP_SIGKILL_AFTER_S = 30.0  # after SIGTERM
EXIT_MEANING = {0: "finished", 1: "failed", 2: "refused (bad input)", 130: "interrupted"}


def link_path(target: Path, base: Optional[Path] = None) -> str:
    """``target`` relative to ``base`` (the notebook's folder), as a URL path."""
    base = Path.cwd() if base is None else base
    try:
        rel = os.path.relpath(Path(target).resolve(), Path(base).resolve())
    except ValueError:  # another drive
        rel = str(Path(target).resolve())
    return Path(rel).as_posix()


# ---------------------------------------------------------------------------------------------
# The run as a process
# ---------------------------------------------------------------------------------------------


class RunProcess:
    """``python -m mlnb.cli run ARGS --outputs OUT --progress-lines`` in its own process group.

    ``on_line(line)`` gets every output line, ``on_event(CliEvent)`` the ones that mean something
    (stage start and end, progress, run folder), ``on_exit(returncode)`` the end; all are called
    from a reader thread.
    """

    def __init__(
        self,
        args: Sequence[str],
        outputs: Path,
        cwd: Optional[Path] = None,
        on_line: Optional[Callable[[str], None]] = None,
        on_event: Optional[Callable[[CliEvent], None]] = None,
        on_exit: Optional[Callable[[int], None]] = None,
    ):
        self.argv = [
            sys.executable, "-m", "mlnb.cli", "run", *args,
            "--outputs", str(outputs), "--progress-lines", "--no-progress",
        ]
        self.cwd = Path.cwd() if cwd is None else Path(cwd)
        self.on_line, self.on_event, self.on_exit = on_line, on_event, on_exit
        self.lines: list[str] = []
        self.run_dir: Optional[Path] = None
        self.returncode: Optional[int] = None
        self.stop_requested = False
        self._proc: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._done = threading.Event()

    @property
    def running(self) -> bool:
        return self._proc is not None and not self._done.is_set()

    def start(self) -> "RunProcess":
        env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        self._proc = subprocess.Popen(
            self.argv,
            cwd=str(self.cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
            start_new_session=True,  # its own process group: Stop signals the run, never the kernel
        )
        self._reader = threading.Thread(target=self._read, name="mlnb-launcher-reader", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            for raw in self._proc.stdout:
                line = raw.rstrip("\n")
                self.lines.append(line)
                event = parse_cli_line(line)
                if event is not None and event.kind == "run" and event.path:
                    self.run_dir = Path(event.path)
                self._call(self.on_line, line)
                if event is not None:
                    self._call(self.on_event, event)
        finally:
            self.returncode = self._proc.wait()
            self._done.set()
            self._call(self.on_exit, self.returncode)

    @staticmethod
    def _call(callback, *args) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as err:  # a display problem must not stop reading the run's output
            print(f"mlnb launcher: {type(err).__name__}: {err}", file=sys.stderr)

    def stop(self) -> None:
        """SIGINT to the run's process group; SIGTERM and SIGKILL follow if it does not end."""
        if not self.running:
            return
        self.stop_requested = True
        self._signal(signal.SIGINT)
        threading.Thread(target=self._escalate, name="mlnb-launcher-stop", daemon=True).start()

    def _escalate(self) -> None:
        if self._done.wait(STOP_SIGTERM_AFTER_S):
            return
        self._signal(signal.SIGTERM)
        if self._done.wait(STOP_SIGKILL_AFTER_S):
            return
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self._proc is None or self._done.is_set():
            return
        try:
            os.killpg(self._proc.pid, sig)
        except OSError:
            pass

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        self._done.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.returncode
