"""The versioned table of accelerator peak figures (``devices.json``) and the lookup by device name."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

TABLE_PATH = Path(__file__).with_name("devices.json")


@dataclass(frozen=True)
class DeviceSpec:
    id: str
    name: str
    memory_bandwidth_gbps: Optional[float]
    tflops: dict[str, float]
    source: str
    table_version: int

    def peak_tflops(self, dtype: str) -> Optional[float]:
        return self.tflops.get(dtype)


@lru_cache(maxsize=1)
def device_table() -> dict[str, Any]:
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))


def _spec(entry: dict, version: int) -> DeviceSpec:
    return DeviceSpec(
        id=entry["id"],
        name=entry["name"],
        memory_bandwidth_gbps=entry.get("memory_bandwidth_gbps"),
        tflops=dict(entry.get("tflops") or {}),
        source=entry["source"],
        table_version=version,
    )


def device_by_id(device_id: str) -> DeviceSpec:
    table = device_table()
    for entry in table["devices"]:
        if entry["id"] == device_id:
            return _spec(entry, table["table_version"])
    raise KeyError(device_id)


def match_device(device_name: Optional[str]) -> DeviceSpec:
    """The table entry whose patterns occur in ``device_name`` (e.g. torch's GPU name); the
    generic CPU entry when nothing matches or no name is known. Longer patterns win, so
    "NVIDIA L40S" is not taken for an L4; a pattern must stand as whole words."""
    table = device_table()
    text = (device_name or "").lower()
    best: Optional[tuple[int, dict]] = None
    for entry in table["devices"]:
        for pattern in entry.get("match") or []:
            whole = re.search(rf"(?<![a-z0-9]){re.escape(pattern)}(?![a-z0-9])", text)
            if whole and (best is None or len(pattern) > best[0]):
                best = (len(pattern), entry)
    return _spec(best[1] if best else next(e for e in table["devices"] if e["id"] == "cpu"), table["table_version"])


def device_by_name(name: str) -> DeviceSpec:
    """The table entry whose id or name is ``name`` (case-insensitive); ValueError naming the ids if none."""
    table = device_table()
    wanted = name.strip().lower()
    for entry in table["devices"]:
        if wanted in (entry["id"].lower(), entry["name"].lower()):
            return _spec(entry, table["table_version"])
    ids = ", ".join(e["id"] for e in table["devices"])
    raise ValueError(f"server_device {name!r} is not in devices.json; use one of {ids}")
