"""The client's self-measurement over worker processes: one clock for all, and figures that add up."""

from __future__ import annotations

import subprocess
import sys
import time
from array import array

import numpy as np

from mlnb.backends.openai_load import combined_summary


def test_monotonic_ns_is_one_clock_for_every_process():
    # Worker processes time chunks with time.monotonic_ns(); the harness compares those times with its own.
    before = time.monotonic_ns()
    child = int(subprocess.run([sys.executable, "-c", "import time; print(time.monotonic_ns())"],
                               capture_output=True, text=True, check=True).stdout)
    after = time.monotonic_ns()
    assert before < child < after


def _part(chunks: int, wall: float, cpu: float, late: list[float]) -> dict:
    return {"chunks": float(chunks), "wall_s": wall, "thread_cpu_s": cpu, "process_cpu_s": cpu * 1.5,
            "late_s": array("d", late).tobytes()}


def test_worker_loads_are_summed_and_the_busiest_loop_is_named():
    parts = [_part(1000, 10.0, 2.0, [0.001] * 100), _part(3000, 10.0, 5.0, [0.01] * 100)]
    out = combined_summary(parts, parent_cpu_s=1.0, handoff_ns=np.array([100_000, 300_000]))
    assert out["workers"] == 2 and out["chunks"] == 4000
    assert out["loop_cpu_s_per_1000_chunks"] == 1000 * 7.0 / 4000
    assert out["process_cpu_s_per_1000_chunks"] == 1000 * (10.5 + 1.0) / 4000
    assert out["loop_thread_cpu_share"] == 0.5  # the busier loop, of one core
    assert out["loop_lag_share"] == 0.1  # 100 x 10 ms late over 10 s
    assert out["loop_lag_ms"]["probes"] == 200 and out["loop_lag_ms"]["max"] == 10.0
    assert [w["chunks"] for w in out["per_worker"]] == [1000, 3000]
    assert [w["loop_cpu_s_per_1000_chunks"] for w in out["per_worker"]] == [2.0, round(5000 / 3000, 4)]
    assert out["handoff_ms"]["max"] == 0.3


def test_one_loop_reads_as_before():
    out = combined_summary([_part(2000, 4.0, 1.0, [0.0, 0.002])])
    assert "workers" not in out and "handoff_ms" not in out
    assert out["loop_cpu_s_per_1000_chunks"] == 0.5 and out["loop_thread_cpu_share"] == 0.25
