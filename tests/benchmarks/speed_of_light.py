"""The device measurement mlnb takes once per run, and the floors it gives for the shipped configs.

    python tests/benchmarks/speed_of_light.py [--device auto|cpu|cuda] [--repeats 3]

Prints how long ``python -m mlnb.perf.measure`` takes (target: a second or two on a CPU, so every
run can afford it), the measured copy bandwidth and matmul rate of each repeat, and the TPOT and
TTFT floors of SmolLM2-135M (the embedded model) and Llama-3.1-8B at batch 1, 1024 tokens of
context, in the dtype the measurement used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlnb.models.embedded import prepare_embedded_model
from mlnb.perf.model_shape import DTYPE_BYTES, load_shape
from mlnb.perf.speed_of_light import DeviceFigures, compute

LLAMA = Path(__file__).resolve().parents[2] / "mlnb" / "configs" / "llama-3.1-8b-instruct"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    walls, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.json"
        for _ in range(args.repeats):
            start = time.monotonic()
            subprocess.run([sys.executable, "-m", "mlnb.perf.measure", str(out), "--device", args.device], check=True, capture_output=True)
            walls.append(time.monotonic() - start)
            results.append(json.loads(out.read_text()))
    for i, (wall, r) in enumerate(zip(walls, results), 1):
        print(f"repeat {i}: {wall:.2f} s wall with interpreter and torch start-up, {r['measure_seconds']:.2f} s measuring; "
              f"copy {r['copy']['bandwidth_gbps']:.2f} GB/s, matmul {r['matmul']['tflops'] * 1e3:.1f} GFLOPS {r['matmul']['dtype']}")
    bw = statistics.median(r["copy"]["bandwidth_gbps"] for r in results)
    tf = statistics.median(r["matmul"]["tflops"] for r in results)
    dtype = results[0]["matmul"]["dtype"]
    print(f"median: copy {bw:.2f} GB/s, matmul {tf * 1e3:.1f} GFLOPS ({results[0]['device_name']}, {dtype})")
    device = DeviceFigures(results[0]["device_name"], bw, "measured", tf, "measured")
    for name, folder in (("SmolLM2-135M", prepare_embedded_model()), ("Llama-3.1-8B", LLAMA)):
        shape = load_shape(folder)
        sol = compute(shape, dtype, DTYPE_BYTES[dtype], batch=1, context=1024, prompt_tokens=1000, device=device)
        print(f"{name}: {shape.total_params:,} parameters, {sol.bytes_per_step / 1e9:.3f} GB per decode step; "
              f"TPOT floor {sol.tpot_floor_ms:.1f} ms, TTFT floor (1000-token prompt) {sol.ttft_floor_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
