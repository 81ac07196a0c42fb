"""Measure the device's memory bandwidth and matrix rate with torch: a large copy and a large matmul.

``python -m mlnb.perf.measure OUT.json [--device cpu|cuda|auto]`` writes the result atomically; the
pipeline runs it once per run, in a child process, so the run's own process never holds a CUDA
context. Each figure is the best of a few repeats after a warm-up (the best repeat is the one
least disturbed by other work on the machine). A copy moves every byte twice (read + write), and
the bandwidth counts both, as STREAM's "copy" does.

Sizes are chosen to take about a second on a small CPU and well under that on a GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MEASURE_FILE = "device_measure.json"

# (copy bytes, matmul n, dtype, repeats) per device kind.
_PLAN = {
    "cpu": (256 * 2**20, 1024, "float32", 3),
    "cuda": (2 * 2**30, 8192, "bfloat16", 10),
}


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _best_seconds(fn, device: str, repeats: int) -> float:
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def measure_device(device: str = "auto") -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    kind = "cuda" if device.startswith("cuda") else "cpu"
    copy_bytes, n, dtype_name, repeats = _PLAN[kind]
    dtype = getattr(torch, dtype_name)

    src = torch.empty(copy_bytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    copy_s = _best_seconds(lambda: dst.copy_(src), device, repeats)
    del src, dst

    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    mm_s = _best_seconds(lambda: torch.matmul(a, b), device, repeats)
    flops = 2.0 * n**3

    if kind == "cuda":
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = _cpu_name()
    return {
        "schema_version": SCHEMA_VERSION,
        "device": device,
        "device_name": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads() if kind == "cpu" else None,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "copy": {
            "bytes_each_way": copy_bytes,
            "best_seconds": round(copy_s, 6),
            "bandwidth_gbps": round(2 * copy_bytes / copy_s / 1e9, 3),
            "repeats": repeats,
        },
        "matmul": {
            "n": n,
            "dtype": dtype_name,
            "best_seconds": round(mm_s, 6),
            "tflops": round(flops / mm_s / 1e12, 4),
            "repeats": repeats,
        },
        "method": "best of the repeats after one warm-up; copy bandwidth counts the read and the write",
        "measure_seconds": round(time.perf_counter() - started, 3),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "CPU"


def main(argv: list[str] | None = None) -> int:
    from mlnb.fileio import write_json_atomic

    parser = argparse.ArgumentParser(prog="python -m mlnb.perf.measure")
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    result = measure_device(args.device)
    write_json_atomic(args.out, result)
    print(f"{result['device_name']}: copy {result['copy']['bandwidth_gbps']:.1f} GB/s, "
          f"matmul {result['matmul']['tflops']:.3f} TFLOPS ({result['matmul']['dtype']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
