"""What the HTTP client itself cost a run: its CPU per streamed chunk and how late its event loop ran.

A client that falls behind adds its own delay to every TTFT and TPOT, and nothing in the latencies
says so. Two figures show how close it came to its limit:

- CPU seconds per 1,000 streamed chunks: the CPU time of the event loop thread (``time.thread_time``,
  read in that thread) over the chunks it parsed, and the whole process's CPU over the same span
  (LoadGen's threads and the harness included). A client at 100 % of one core has reached its rate.
- Loop lag: a timer fires every :data:`PROBE_INTERVAL_S` and measures how late it ran. The lag share
  is the summed lateness over the measured span: the share of time the loop was behind its own
  timers, so the share of time an arrived chunk could wait before it was read.
"""

from __future__ import annotations

import resource
import time
from array import array
from typing import Any, Optional

import numpy as np

PROBE_INTERVAL_S = 0.01


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ClientLoad:
    """Started and ended on the event loop thread; ``chunks`` is added to by that thread alone."""

    def __init__(self) -> None:
        self.chunks = 0
        self._loop = None
        self._handle = None
        self._wall0 = self._thread0 = self._process0 = 0.0
        self._chunks0 = 0
        self._result: Optional[dict[str, float]] = None
        self._late = array("d")  # seconds each probe ran after its due time (8 bytes each)
        self._due = 0.0

    def begin(self, loop) -> None:
        self._loop = loop
        self._chunks0 = self.chunks
        self._wall0, self._thread0, self._process0 = time.perf_counter(), time.thread_time(), _process_cpu_s()
        self._due = loop.time() + PROBE_INTERVAL_S
        self._handle = loop.call_at(self._due, self._probe)

    def _probe(self) -> None:
        now = self._loop.time()
        self._late.append(max(0.0, now - self._due))
        self._due = now + PROBE_INTERVAL_S
        self._handle = self._loop.call_at(self._due, self._probe)

    def end(self) -> None:
        """Called on the loop thread when the run stops (before in-flight requests are cancelled)."""
        if self._handle is None:
            return
        self._handle.cancel()
        self._handle = None
        self._result = {
            "wall_s": time.perf_counter() - self._wall0,
            "thread_cpu_s": time.thread_time() - self._thread0,
            "process_cpu_s": _process_cpu_s() - self._process0,
            "chunks": float(self.chunks - self._chunks0),
        }

    def summary(self) -> Optional[dict[str, Any]]:
        r = self._result
        if r is None:
            return None
        chunks, wall = r["chunks"], r["wall_s"]
        late_ms = np.frombuffer(self._late, dtype=np.float64) * 1e3

        def per_1000(cpu: float) -> Optional[float]:
            return round(1000 * cpu / chunks, 4) if chunks else None

        return {
            "source": "event loop thread CPU (time.thread_time) and process CPU (getrusage) from LoadGen's start "
            f"to the client's stop; a timer every {PROBE_INTERVAL_S * 1e3:g} ms measures the loop's lateness",
            "chunks": int(chunks),
            "wall_s": round(wall, 3),
            "loop_thread_cpu_s": round(r["thread_cpu_s"], 3),
            "loop_thread_cpu_share": round(r["thread_cpu_s"] / wall, 4) if wall > 0 else None,
            "process_cpu_s": round(r["process_cpu_s"], 3),
            "loop_cpu_s_per_1000_chunks": per_1000(r["thread_cpu_s"]),
            "process_cpu_s_per_1000_chunks": per_1000(r["process_cpu_s"]),
            "loop_lag_share": round(float(late_ms.sum()) / 1e3 / wall, 4) if wall > 0 and late_ms.size else None,
            "loop_lag_ms": {
                "p50": round(float(np.percentile(late_ms, 50)), 3),
                "p99": round(float(np.percentile(late_ms, 99)), 3),
                "max": round(float(late_ms.max()), 3),
                "probes": int(late_ms.size),
            } if late_ms.size else None,
        }
