"""The host through psutil: CPU %, and CPU % and RSS of the engine's process trees; RAPL power.

RAPL is read from ``/sys/class/powercap`` (the kernel's powercap interface, also used on AMD):
each top-level ``package`` zone's ``energy_uj`` counter, differenced between samples. Since 2020
most kernels let only root read it; then host power is "not available" and says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import psutil

POWERCAP = Path("/sys/class/powercap")


class ProcessTree:
    """A process and its descendants, followed as children come and go; CPU % summed over the tree."""

    def __init__(self, root: psutil.Process, exclude: frozenset[int] = frozenset()):
        """``exclude``: pids left out of the tree (the sampler's own process, a child of the harness)."""
        self.root = root
        self.exclude = exclude
        self._known: dict[int, psutil.Process] = {}

    def sample(self) -> tuple[Optional[float], Optional[float]]:
        """(CPU % since the last sample, RSS MiB); (None, None) once the root has gone."""
        try:
            members = [p for p in (self.root, *self.root.children(recursive=True)) if p.pid not in self.exclude]
        except psutil.Error:
            return None, None
        cpu = rss = 0.0
        alive = {}
        for proc in members:
            proc = self._known.get(proc.pid, proc)  # the same object keeps cpu_percent's last reading
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            alive[proc.pid] = proc
        self._known = alive
        return cpu, rss / 2**20

    def pids(self) -> set[int]:
        try:
            return {self.root.pid, *(p.pid for p in self.root.children(recursive=True))} - self.exclude
        except psutil.Error:
            return set()


class Rapl:
    """Package power from RAPL energy counters; ``power_w`` is None on the first read."""

    def __init__(self, files: list[tuple[Path, int]]):
        self.files = files  # (energy_uj path, counter range in uJ)
        self._last: Optional[tuple[float, list[int]]] = None

    def power_w(self, now_s: float) -> Optional[float]:
        try:
            readings = [int(path.read_text()) for path, _ in self.files]
        except (OSError, ValueError):
            return None
        last, self._last = self._last, (now_s, readings)
        if last is None or now_s <= last[0]:
            return None
        joules = 0.0
        for (then, (_, wrap)), now in zip(zip(last[1], self.files), readings):
            joules += ((now - then) % wrap if wrap else now - then) / 1e6  # the counter wraps at its range
        return joules / (now_s - last[0])


def open_rapl() -> tuple[Optional[Rapl], str]:
    """RAPL package counters when readable, else None and why."""
    if not POWERCAP.is_dir():
        return None, "not available: the kernel exposes no /sys/class/powercap (no RAPL)"
    files = []
    for zone in sorted(POWERCAP.glob("*:*")):
        if zone.name.count(":") != 1:  # sub-zones (core, uncore, dram) are inside their package
            continue
        try:
            if not (zone / "name").read_text().startswith("package"):
                continue
            (zone / "energy_uj").read_text()
            wrap = int((zone / "max_energy_range_uj").read_text())
        except PermissionError:
            return None, f"not available: {zone / 'energy_uj'} is readable only by root"
        except (OSError, ValueError):
            continue
        files.append((zone / "energy_uj", wrap))
    if not files:
        return None, "not available: /sys/class/powercap has no readable package zone"
    return Rapl(files), f"RAPL: {len(files)} CPU package(s), measured package power (CPU and, where counted, DRAM)"
