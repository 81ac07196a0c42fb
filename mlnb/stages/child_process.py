"""A stage's worker process (the harness, lm-eval): logged line by line, timed, never outliving the stage."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlnb.lifecycle import STAGE_MARK_ENV, child_env, die_with_parent_preexec
from mlnb.secrets import redact

STOP_GRACE_S = 10.0


@dataclass
class ChildOutcome:
    code: int
    timed_out: bool
    tail: deque[str]  # the log's last lines, for the failure message


def stop_child(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``: LoadGen runs in C++ and takes SIGINT only when its test returns."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_logged_child(
    module: str,
    stage_dir: Path,
    log_path: Path,
    timeout_s: float,
    api_key_env: str,
    show: Callable[[str], None],
    label: str,
    stop_grace_s: float = STOP_GRACE_S,
) -> ChildOutcome:
    """Run ``python -m module stage_dir``; every line (secrets masked) goes to ``log_path`` and to ``show``.

    ``label`` names the child in the log ("the harness was stopped").

    The child is SIGKILLed when this process dies, however it dies, and carries the stage's mark so that
    whatever is left of it can be found. A timer, not a check per output line, enforces ``timeout_s``:
    a child that stops printing is stopped all the same.
    """
    env = child_env(
        TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_VERBOSITY="error",
        **{STAGE_MARK_ENV: str(stage_dir)},
    )
    tail: deque[str] = deque(maxlen=30)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(stage_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=die_with_parent_preexec(),
        )
        assert proc.stdout is not None
        timed_out = threading.Event()
        watchdog = threading.Timer(timeout_s, lambda: (timed_out.set(), proc.kill()))
        watchdog.daemon = True
        watchdog.start()
        try:
            for line in proc.stdout:
                line = redact(line, (api_key_env,))
                log.write(line)
                log.flush()
                tail.append(line.rstrip())
                show(line.rstrip())
            code = proc.wait()
        except BaseException as err:  # the child must not outlive the stage
            stop_child(proc, stop_grace_s)
            if isinstance(err, KeyboardInterrupt):  # the kernel was interrupted: the run is being stopped
                log.write(f"interrupted: {label} was stopped\n")
            raise
        finally:
            watchdog.cancel()
    return ChildOutcome(code, timed_out.is_set(), tail)
