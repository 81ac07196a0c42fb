"""A max-VALID-QPS search on the embedded model through the `vllm` backend; prints its trials and cost.

    python tests/benchmarks/sweep_embedded.py [--start-qps 2] [--max-new-tokens 16] [--tolerance 0.15]
                                             [--trial-duration-ms 10000] [--outputs DIR]

Runs ``mlnb sweep --search`` on the smoke preset's 03_server_perf stage (embedded SmolLM2-135M, the
embedded 64-record set) and prints every trial (target_qps, queries, verdict, p99 TTFT and TPOT,
output tokens/s), the highest VALID and lowest INVALID target_qps, the number of LoadGen runs, the
minutes it took and the load average before and after. Each trial runs at least 459 queries (what
LoadGen's early stopping needs), so on a CPU a trial takes minutes: this is not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-qps", type=float, default=2.0)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--tolerance", type=float, default=0.15)
    parser.add_argument("--max-trials", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--samples", type=int, default=64,
                        help="QSL size; LoadGen issues at least this many queries per point")
    parser.add_argument("--trial-duration-ms", type=int, default=10000)
    parser.add_argument("--outputs", type=Path, default=None)
    parser.add_argument("--rates", default=None, help="A ladder instead of the search, e.g. 0.25,0.5,1")
    parser.add_argument("--no-early-stopping-sizing", action="store_true",
                        help="Keep the preset's few queries per point: a curve in minutes, every point INVALID")
    args = parser.parse_args()
    outputs = args.outputs or Path(tempfile.mkdtemp(prefix="mlnb-sweep-bench-"))
    command = [
        sys.executable, "-m", "mlnb.cli", "sweep", *(["--rates", args.rates] if args.rates else ["--search"]),
        "--preset", "smoke", "--stage", "03_server_perf",
        "--backend", "vllm", "--samples", str(args.samples), "--set", f"max_new_tokens={args.max_new_tokens}",
        "--start-qps", str(args.start_qps), "--factor", str(args.factor), "--tolerance", str(args.tolerance),
        "--max-trials", str(args.max_trials), "--trial-duration-ms", str(args.trial_duration_ms),
        "--outputs", str(outputs), *(["--no-early-stopping-sizing"] if args.no_early_stopping_sizing else []),
    ]
    load_before = os.getloadavg()
    started = time.monotonic()
    # Ctrl-C reaches the sweep too (same process group); wait for it to mark itself interrupted
    # (subprocess.run would SIGKILL it).
    proc = subprocess.Popen(command, text=True)
    try:
        returncode = proc.wait()
    except KeyboardInterrupt:
        returncode = proc.wait()
    minutes = (time.monotonic() - started) / 60
    load_after = os.getloadavg()
    sweeps = sorted(p for p in outputs.iterdir() if (p / "sweep.json").is_file())
    if not sweeps:
        print(f"no sweep written (exit {returncode})")
        return 1
    state = json.loads((sweeps[-1] / "sweep.json").read_text())
    print(f"{'point':6} {'role':7} {'qps':>8} {'queries':>8} {'verdict':8} {'p99 TTFT ms':>12} {'p99 TPOT ms':>12} {'tok/s':>8}")
    for p in state["points"]:
        print(f"{p['point']:6} {p['role']:7} {p['target_qps']:8.3g} {p.get('queries') or '-':>8} "
              f"{p.get('verdict') or p['status']:8} {p.get('ttft_p99_ms') or '-':>12} {p.get('tpot_p99_ms') or '-':>12} "
              f"{p.get('output_tokens_per_s') or '-':>8}")
    res = state["result"] or {}
    print(f"highest VALID target_qps: {res.get('highest_valid_qps')}; lowest INVALID above it: "
          f"{res.get('lowest_invalid_qps')} ({res.get('stop_reason')})")
    print(f"{res.get('loadgen_runs')} LoadGen runs; {minutes:.1f} min wall clock (exit {returncode})")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} cores)")
    print(f"page: {sweeps[-1] / 'sweep.html'}")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
