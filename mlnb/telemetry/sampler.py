"""The sampler: a thread that samples host, GPUs and servers around the LoadGen test.

A stage runs it in a process of its own (``sampler_process.py``), reading the harness's progress from
shared memory; tests and scripts may run it in their own process.

Rate: 2 Hz. NVML's utilisation is itself an average over the driver's sample window (1/6 s to 1 s
by board), so faster sampling repeats readings; 2 Hz still gives 20 points in a 10 s test and
resolves ramp-up, steady state and drain. Each tick costs a few psutil reads, one NVML query per
field and GPU, and a /metrics scrape and parse (a few ms for vLLM's page), i.e. well under 1 % of
one core, on the harness's side and on the server's.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import psutil

from mlnb.telemetry.device import open_nvml, visible_indices
from mlnb.telemetry.host import ProcessTree, open_rapl
from mlnb.telemetry.prometheus import ScrapeTarget, metrics_url

SAMPLE_HZ = 2.0
STOP_JOIN_S = 5.0  # one scrape times out after 1 s; the thread is a daemon and never holds the stage longer

Progress = Callable[[], tuple[int, int, int]]  # (issued, completed, output tokens) so far


def managed_server_root(run_dir: Path) -> Optional[psutil.Process]:
    """The run's managed server process, when its record names a process that still runs that command."""
    from mlnb.server.processes import RECORD_NAME, ProcessRecord

    record = run_dir / "server" / RECORD_NAME
    if not record.is_file():
        return None
    try:
        return ProcessRecord.load(record).live_process()
    except (OSError, ValueError, TypeError, KeyError):
        return None


def scrape_targets(base_url: Optional[str], managed: bool) -> list[ScrapeTarget]:
    urls = [u.strip() for u in (base_url or "").split(",") if u.strip()]
    origin = "managed server" if managed else "base_url"
    return [ScrapeTarget(metrics_url(u), origin) for u in dict.fromkeys(urls)]


class TelemetrySampler:
    """Samples host, GPUs and servers at SAMPLE_HZ in a daemon thread between ``start`` and ``stop``."""

    def __init__(self, progress: Progress, targets: list[ScrapeTarget], server: Optional[psutil.Process],
                 device_param: str = "auto", partial_path: Optional[Path] = None, harness_pid: Optional[int] = None):
        """``partial_path``: each sample is also appended there as it is taken, so a stage that is stopped
        or killed before it can write its series still leaves what the system did until then.
        ``harness_pid``: the harness, when this sampler runs in a process of its own (``sampler_process.py``);
        its tree then leaves this process out. Default: this process."""
        self.progress = progress
        self.partial_path = partial_path
        self.targets = targets
        own = frozenset() if harness_pid is None else frozenset({os.getpid()})
        self.harness = ProcessTree(psutil.Process(harness_pid or os.getpid()), exclude=own)
        self.server = ProcessTree(server) if server is not None else None
        self.nvml, self.nvml_note = open_nvml()
        self.chosen = visible_indices(self.nvml.uuids(), device_param) if self.nvml else []
        self.rapl, self.rapl_note = open_rapl()
        self.rows: list[dict] = []
        self.tick_errors: dict[str, str] = {}
        self.cpu_s = 0.0
        self.energy_counters_mj: list[list[Optional[int]]] = []
        self.hardware: dict = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        if self.partial_path is not None:
            self.partial_path.write_text("", encoding="utf-8")
        own = self.harness.pids() | (self.server.pids() if self.server else set())
        self.hardware = self._hardware_state(own)
        psutil.cpu_percent(None)  # the first reading of each counter starts its interval
        self.harness.sample()
        if self.server:
            self.server.sample()
        if self.nvml:
            self.energy_counters_mj.append(self.nvml.energy_mj())
        self._tick()
        self._thread = threading.Thread(target=self._loop, name="mlnb-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_S)
        self._tick()  # the last sample closes the window at the end of the test
        if self.nvml:
            self.energy_counters_mj.append(self.nvml.energy_mj())
            self.nvml.close()

    def _loop(self) -> None:
        period = 1.0 / SAMPLE_HZ
        next_at = time.monotonic() + period
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self._tick()
            next_at = max(next_at + period, time.monotonic())  # a slow tick skips, never bunches

    def _tick(self) -> None:
        started = time.thread_time()  # this thread's CPU time: the sampler's own cost, whatever the load
        try:
            row = self._sample()
            self.rows.append(row)
            if self.partial_path is not None:
                # Opened per line, not held: the line is written before the next tick, should the process be
                # killed, and no file of the stage stays open for writing between ticks.
                with open(self.partial_path, "a", encoding="utf-8") as partial:
                    partial.write(json.dumps(row) + "\n")
        except Exception as err:  # telemetry must never cost the stage: count and say what failed
            key = type(err).__name__
            self.tick_errors.setdefault(key, f"{key}: {err}"[:300])
        self.cpu_s += time.thread_time() - started

    def _sample(self) -> dict:
        now = time.monotonic()
        issued, completed, tokens = self.progress()
        row: dict = {"mono_s": now, "issued": issued, "completed": completed, "output_tokens": tokens,
                     "host_cpu_pct": psutil.cpu_percent(None)}
        row["harness_cpu_pct"], row["harness_rss_mib"] = self.harness.sample()
        if self.server is not None:
            row["server_cpu_pct"], row["server_rss_mib"] = self.server.sample()
        if not self.rows:  # CPU % over the moment since start() primed the counters says nothing
            row.update({k: None for k in ("host_cpu_pct", "harness_cpu_pct", "server_cpu_pct") if k in row})
        if self.rapl is not None:
            row["host_power_w"] = self.rapl.power_w(now)
        if self.nvml is not None:
            for gpu in self.nvml.sample():
                index = gpu.pop("gpu")
                row.update({f"gpu{index}_{k}": v for k, v in gpu.items()})
        for j, target in enumerate(self.targets):
            scrape = target.scrape(now)
            prefix = "srv_" if j == 0 else f"srv{j}_"
            if scrape is not None:
                row.update({prefix + k: v for k, v in scrape.values.items()})
        return row

    def _hardware_state(self, own_pids: set[int]) -> dict:
        from mlnb.perf.host_facts import host_settings

        state: dict = {"host": host_settings(), "gpu": None, "gpu_note": self.nvml_note}
        state["host"]["logical_cpus"] = psutil.cpu_count()
        state["host"]["memory_total_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
        if self.nvml is not None:
            try:
                state["gpu"] = self.nvml.hardware_state(own_pids)
                state["gpu"]["chosen"] = self.chosen
            except Exception as err:  # a read-only record: a failing query leaves a note, not a failed stage
                state["gpu_note"] = f"hardware state not read: {type(err).__name__}: {err}"
        return state
