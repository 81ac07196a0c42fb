"""NVIDIA GPUs through NVML (nvidia-ml-py): per-GPU samples and the hardware state, read-only.

Every NVML call can fail on its own (a field a board does not support): such a field is None.
Without the library, the driver or a GPU, ``open_nvml`` returns None and says why, and the
stage records "not available" instead of numbers.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

# bit -> name of nvmlDeviceGetCurrentClocksEventReasons (formerly ...ClocksThrottleReasons)
_REASON_CONSTANTS = (
    ("GpuIdle", "idle"), ("ApplicationsClocksSetting", "application clocks setting"),
    ("SwPowerCap", "software power cap"), ("HwSlowdown", "hardware slowdown"), ("SyncBoost", "sync boost"),
    ("SwThermalSlowdown", "software thermal slowdown"), ("HwThermalSlowdown", "hardware thermal slowdown"),
    ("HwPowerBrakeSlowdown", "hardware power brake"), ("DisplayClockSetting", "display clock setting"),
)


def _call(fn: Callable, *args) -> Any:
    """One NVML query; None when this GPU or driver does not support it."""
    import pynvml

    try:
        return fn(*args)
    except pynvml.NVMLError:
        return None


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def visible_indices(uuids: list[str], device_param: str = "auto") -> list[int]:
    """The NVML indices the engine can use: CUDA_VISIBLE_DEVICES (indices or UUID prefixes, read up to
    the first entry that names no GPU, as CUDA does) narrows them, ``device=cuda:N`` picks one of those.
    NVML numbers GPUs in PCI order; CUDA does too only with CUDA_DEVICE_ORDER=PCI_BUS_ID."""
    indices = list(range(len(uuids)))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        indices = []
        for entry in (e.strip() for e in visible.split(",")):
            found = [int(entry)] if entry.isdigit() and int(entry) < len(uuids) else [
                i for i, u in enumerate(uuids) if entry and u.startswith(entry)][:1]
            if not found:
                break
            indices += found
    if device_param.startswith("cuda:") and device_param[5:].isdigit():
        n = int(device_param[5:])
        indices = indices[n:n + 1]
    return indices


class Nvml:
    """An initialised NVML with the handles of every GPU; ``close`` shuts it down."""

    def __init__(self, pynvml, handles: list):
        self.nv = pynvml
        self.handles = handles

    def uuids(self) -> list[str]:
        return [_text(_call(self.nv.nvmlDeviceGetUUID, h)) or "" for h in self.handles]

    def close(self) -> None:
        _call(self.nv.nvmlShutdown)

    def sample(self) -> list[dict]:
        """One row per GPU: utilisation %, memory MiB, power W, clocks MHz, temperature C, event-reason bits."""
        nv = self.nv
        rows = []
        for index, handle in enumerate(self.handles):
            util = _call(nv.nvmlDeviceGetUtilizationRates, handle)
            mem = _call(nv.nvmlDeviceGetMemoryInfo, handle)
            power_mw = _call(nv.nvmlDeviceGetPowerUsage, handle)
            reasons = _call(getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", nv.nvmlDeviceGetCurrentClocksThrottleReasons), handle)
            rows.append({
                "gpu": index,
                "util_pct": None if util is None else util.gpu,
                "mem_used_mib": None if mem is None else mem.used / 2**20,
                "power_w": None if power_mw is None else power_mw / 1000.0,
                "sm_clock_mhz": _call(nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM),
                "mem_clock_mhz": _call(nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_MEM),
                "temp_c": _call(nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU),
                "clock_reasons": reasons,
            })
        return rows

    def energy_mj(self) -> list[Optional[int]]:
        """Each GPU's energy counter (mJ since the driver loaded; Volta and newer), None where absent."""
        return [_call(self.nv.nvmlDeviceGetTotalEnergyConsumption, h) for h in self.handles]

    def reason_names(self, bits: int) -> list[str]:
        names = []
        for suffix, label in _REASON_CONSTANTS:
            mask = getattr(self.nv, "nvmlClocksEventReason" + suffix, None) or getattr(self.nv, "nvmlClocksThrottleReason" + suffix, 0)
            if mask and bits & mask:
                names.append(label)
        return names

    def hardware_state(self, own_pids: set[int]) -> dict:
        """Driver, and per GPU: clocks, power limits, persistence mode, ECC and the processes on it."""
        import psutil

        nv = self.nv
        gpus = []
        for index, h in enumerate(self.handles):
            ecc = _call(nv.nvmlDeviceGetEccMode, h)
            procs = []
            for proc in (_call(nv.nvmlDeviceGetComputeRunningProcesses, h) or []) + (_call(nv.nvmlDeviceGetGraphicsRunningProcesses, h) or []):
                try:
                    name = psutil.Process(proc.pid).name()
                except (psutil.Error, OSError):
                    name = "?"
                used = getattr(proc, "usedGpuMemory", None)
                procs.append({"pid": proc.pid, "name": name, "used_mib": None if used is None else round(used / 2**20),
                              "ours": proc.pid in own_pids})
            limit = _call(nv.nvmlDeviceGetEnforcedPowerLimit, h)
            default_limit = _call(nv.nvmlDeviceGetPowerManagementDefaultLimit, h)
            persistence = _call(nv.nvmlDeviceGetPersistenceMode, h)
            mem = _call(nv.nvmlDeviceGetMemoryInfo, h)
            gpus.append({
                "index": index,
                "name": _text(_call(nv.nvmlDeviceGetName, h)),
                "uuid": _text(_call(nv.nvmlDeviceGetUUID, h)),
                "memory_total_mib": None if mem is None else round(mem.total / 2**20),
                "power_limit_w": None if limit is None else limit / 1000.0,
                "default_power_limit_w": None if default_limit is None else default_limit / 1000.0,
                "persistence_mode": None if persistence is None else bool(persistence),
                "ecc_current": None if ecc is None else bool(ecc[0]),
                "ecc_pending": None if ecc is None else bool(ecc[1]),
                "sm_clock_mhz": _call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM),
                "mem_clock_mhz": _call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM),
                "max_sm_clock_mhz": _call(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_SM),
                "max_mem_clock_mhz": _call(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_MEM),
                "applications_sm_clock_mhz": _call(nv.nvmlDeviceGetApplicationsClock, h, nv.NVML_CLOCK_SM),
                "processes": procs,
                "other_processes": [p for p in procs if not p["ours"]],
            })
        cuda = _call(nv.nvmlSystemGetCudaDriverVersion)
        return {
            "driver": _text(_call(nv.nvmlSystemGetDriverVersion)),
            "cuda_driver": None if cuda is None else f"{cuda // 1000}.{cuda % 1000 // 10}",
            "gpus": gpus,
        }


def open_nvml() -> tuple[Optional[Nvml], str]:
    """NVML ready to sample, or None and why not (no nvidia-ml-py, no driver, no GPU)."""
    try:
        import pynvml
    except ImportError:
        return None, "not available: nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return None, "not available: no NVIDIA driver on this machine (libnvidia-ml not found)"
    except pynvml.NVMLError as err:
        return None, f"not available: NVML did not start ({err})"
    count = _call(pynvml.nvmlDeviceGetCount) or 0
    if not count:
        _call(pynvml.nvmlShutdown)
        return None, "not available: NVML sees no NVIDIA GPU"
    handles = [h for h in (_call(pynvml.nvmlDeviceGetHandleByIndex, i) for i in range(count)) if h is not None]
    return Nvml(pynvml, handles), f"NVML: {len(handles)} GPU(s)"
