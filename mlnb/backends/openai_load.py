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


def process_cpu_s() -> float:
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
        self._wall0, self._thread0, self._process0 = time.perf_counter(), time.thread_time(), process_cpu_s()
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
            "process_cpu_s": process_cpu_s() - self._process0,
            "chunks": float(self.chunks - self._chunks0),
        }

    def raw(self) -> Optional[dict[str, Any]]:
        """What :func:`combined_summary` needs from this loop (picklable: sent back by worker processes)."""
        if self._result is None:
            return None
        return {**self._result, "late_s": self._late.tobytes()}

    def summary(self) -> Optional[dict[str, Any]]:
        raw = self.raw()
        return None if raw is None else combined_summary([raw])


def combined_summary(parts: list, parent_cpu_s: Optional[float] = None, handoff_ns=None) -> Optional[dict[str, Any]]:
    """One loop's figures, or several worker loops' together (``client_workers`` > 1).

    With several loops: CPU is summed (per 1,000 chunks over all chunks), the loop CPU share and the
    lag share are the busiest loop's (the one closest to its limit), lag percentiles pool every probe,
    and the process CPU adds the harness process's (LoadGen and the hand-over) to the workers'.
    """
    parts = [p for p in parts if p]
    if not parts:
        return None
    chunks = sum(p["chunks"] for p in parts)
    wall = max(p["wall_s"] for p in parts)
    thread_cpu = sum(p["thread_cpu_s"] for p in parts)
    process_cpu = sum(p["process_cpu_s"] for p in parts) + (parent_cpu_s or 0.0)
    lates = [np.frombuffer(p["late_s"], dtype=np.float64) for p in parts]
    late_ms = np.concatenate(lates) * 1e3

    def per_1000(cpu: float) -> Optional[float]:
        return round(1000 * cpu / chunks, 4) if chunks else None

    def share(value: float, span: float) -> Optional[float]:
        return round(value / span, 4) if span > 0 else None

    lag_shares = [share(float(late.sum()), p["wall_s"]) if late.size else None for late, p in zip(lates, parts)]
    cpu_shares = [share(p["thread_cpu_s"], p["wall_s"]) for p in parts]
    several = len(parts) > 1
    out: dict[str, Any] = {
        "source": "event loop thread CPU (time.thread_time) and process CPU (getrusage) from LoadGen's start "
        f"to the client's stop; a timer every {PROBE_INTERVAL_S * 1e3:g} ms measures the loop's lateness"
        + (f"; {len(parts)} worker processes: CPU summed, loop CPU share and lag share of the busiest loop, "
           "process CPU includes the harness process (LoadGen)" if several else ""),
        "chunks": int(chunks),
        "wall_s": round(wall, 3),
        "loop_thread_cpu_s": round(thread_cpu, 3),
        "loop_thread_cpu_share": max((s for s in cpu_shares if s is not None), default=None),
        "process_cpu_s": round(process_cpu, 3),
        "loop_cpu_s_per_1000_chunks": per_1000(thread_cpu),
        "process_cpu_s_per_1000_chunks": per_1000(process_cpu),
        "loop_lag_share": max((s for s in lag_shares if s is not None), default=None),
        "loop_lag_ms": {
            "p50": round(float(np.percentile(late_ms, 50)), 3),
            "p99": round(float(np.percentile(late_ms, 99)), 3),
            "max": round(float(late_ms.max()), 3),
            "probes": int(late_ms.size),
        } if late_ms.size else None,
    }
    if several:
        out["workers"] = len(parts)
        out["per_worker"] = [
            {"chunks": int(p["chunks"]), "loop_cpu_s_per_1000_chunks": round(1000 * p["thread_cpu_s"] / p["chunks"], 4)
             if p["chunks"] else None, "loop_cpu_share": c, "lag_share": lag}
            for p, c, lag in zip(parts, cpu_shares, lag_shares)
        ]
    if handoff_ns is not None and len(handoff_ns):
        ms = np.asarray(handoff_ns, dtype=np.float64) / 1e6
        out["handoff_ms"] = {
            "what": "first token: its arrival in a worker to the harness process's FirstTokenComplete "
            "(part of LoadGen's TTFT, not of the client's sent-to-first-token time)",
            "p50": round(float(np.percentile(ms, 50)), 3),
            "p99": round(float(np.percentile(ms, 99)), 3),
            "max": round(float(ms.max()), 3),
        }
    return out
