"""A short torch.profiler window over a stage's first batches after warm-up (``profile=true``).

The window opens on the backend's worker thread at its first measured batch and closes after
``profile_batches`` batches, so it sees the engine as LoadGen drives it, not the warm-up. It writes a
Chrome trace into the stage folder (``profile/trace.json``, one per replica) and keeps the top ops by
self device time (CUDA) or self CPU time for the report. Profiling slows those batches: a profiled
stage's figures are not a clean measurement, and the report says so.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional

TOP_OPS = 15


class ProfileWindow:
    def __init__(self, stage_dir: Path, device: str, batches: int):
        self.stage_dir = Path(stage_dir)
        self.device = device
        self.batches_left = batches
        self.batches = batches
        self._profiler = None
        self._started = 0.0
        self._requests = 0
        self.result: Optional[dict[str, Any]] = None

    @property
    def open(self) -> bool:
        return self._profiler is not None

    def before_batch(self, rows: int) -> None:
        if self.batches_left <= 0 or self.result is not None:
            return
        if self._profiler is None:
            import torch
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU]
            if self.device.startswith("cuda") and torch.cuda.is_available():
                activities.append(ProfilerActivity.CUDA)
            self._profiler = profile(activities=activities, record_shapes=False)
            self._profiler.start()
            self._started = time.monotonic()
        self._requests += rows

    def after_batch(self) -> None:
        if self._profiler is None:
            return
        self.batches_left -= 1
        if self.batches_left <= 0:
            self.close()

    def close(self) -> None:
        """Stop the window (early if the stage ended first) and write the trace and the top ops."""
        if self._profiler is None:
            return
        profiler, self._profiler = self._profiler, None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(torch.device(self.device))
        profiler.stop()
        seconds = time.monotonic() - self._started
        replica = os.environ.get("MLNB_REPLICA_INDEX")
        name = f"trace.replica{replica}.json" if replica is not None else "trace.json"
        folder = self.stage_dir / "profile"
        folder.mkdir(parents=True, exist_ok=True)
        profiler.export_chrome_trace(str(folder / name))
        on_device = self.device.startswith("cuda")
        events = [e for e in profiler.key_averages() if not e.key.startswith("ProfilerStep")]

        def self_us(e) -> float:
            return float(e.self_device_time_total if on_device else e.self_cpu_time_total)

        def total_us(e) -> float:
            return float(e.device_time_total if on_device else e.cpu_time_total)

        events.sort(key=self_us, reverse=True)
        done = self.batches - max(self.batches_left, 0)
        self.result = {
            "device": self.device,
            "sorted_by": "device time" if on_device else "CPU time",
            "trace_file": f"profile/{name}",
            "window": f"The first {done} batches after warm-up ({self._requests} requests, {seconds:.2f} s with the "
                      "profiler on); profiling slows them, so this stage's figures are not a clean measurement.",
            "top_ops": [
                {"name": e.key, "calls": int(e.count), "self_ms": round(self_us(e) / 1e3, 3),
                 "total_ms": round(total_us(e) / 1e3, 3)}
                for e in events[:TOP_OPS]
            ],
        }
