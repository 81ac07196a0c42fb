"""Facts about the host read from /proc and /sys: fast, read-only, no external tool.

``mlnb sysinfo`` builds the system description from them; every stage's telemetry records
``host_settings()`` beside its results.
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional


def read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def key_values(text: str) -> dict[str, str]:
    """``key: value`` lines, first occurrence wins."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in found:
            found[key.strip()] = value.strip()
    return found


def cpuinfo_blocks() -> list[dict[str, str]]:
    text = read_text("/proc/cpuinfo") or ""
    return [key_values(block) for block in text.split("\n\n") if block.strip()]


def host_settings() -> dict[str, Any]:
    """The host settings a stage records with its results (read-only, fast: no external tool runs):
    CPU model, scaling governor, transparent huge pages, CUDA_VISIBLE_DEVICES."""
    observed: dict[str, Any] = {}
    governor = read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    observed["cpu_scaling_governor"] = governor.strip() if governor else "not exposed (no cpufreq for cpu0)"
    thp = read_text("/sys/kernel/mm/transparent_hugepage/enabled")
    if thp:
        chosen = re.search(r"\[(\w+)\]", thp)
        observed["transparent_hugepage"] = chosen.group(1) if chosen else thp.strip()
    blocks = cpuinfo_blocks()
    observed["cpu_model"] = next((b["model name"] for b in blocks if b.get("model name")), "")
    observed["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    return observed
