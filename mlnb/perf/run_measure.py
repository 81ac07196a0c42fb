"""Measure the run's device once, at the start of a run, into ``<run>/device_measure.json``.

The measurement runs in a child process (``python -m mlnb.perf.measure``) so the pipeline's own
process never imports torch or holds a CUDA context while the stages run. A failed measurement
costs nothing but the measured figures: the reports fall back to the devices table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

from mlnb.perf.measure import MEASURE_FILE

TIMEOUT_S = 180


def measure_run_device(run_dir: Path, device: str = "auto", echo: Callable[[str], None] = print) -> bool:
    out = run_dir / MEASURE_FILE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mlnb.perf.measure", str(out), "--device", device],
            capture_output=True, text=True, timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        echo(f"device measurement: gave up after {TIMEOUT_S}s; reports use the devices table")
        return False
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        echo(f"device measurement failed ({last[0]}); reports use the devices table")
        return False
    echo(f"device: {proc.stdout.strip()}")
    return True
