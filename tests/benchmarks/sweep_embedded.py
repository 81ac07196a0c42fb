"""A max-VALID-QPS search on the embedded model through the `vllm` backend; prints its trials and cost.

    python tests/benchmarks/sweep_embedded.py [--workload synthetic] [--input-tokens 16] [--output-tokens 4]
                                             [--ttft-limit-ms 5000] [--tpot-limit-ms 1500]
                                             [--start-qps 1] [--tolerance 0.25] [--max-trials 5]
                                             [--trial-duration-ms 10000] [--outputs DIR]

Runs ``mlnb sweep --search`` on the smoke preset's 03_server_perf stage (LoadGen Server, embedded
SmolLM2-135M on vllm) and prints the workload and limits it ran with, every trial (target_qps, queries,
verdict, p99 TTFT and TPOT, output tokens/s), the highest VALID and lowest INVALID target_qps, the number
of LoadGen runs, the minutes it took and the load average before and after.

The default workload is ``synthetic``: 64 prompts of --input-tokens tokens, each answer exactly
--output-tokens tokens (min_new_tokens = max_new_tokens), so a 2-core CPU serves one or two queries a second;
``--workload cnndm`` uses the embedded CNN/DailyMail prompts (median 673 tokens, about one query a second
at 16 new tokens). Each trial runs at least 459 queries (what LoadGen's early stopping needs), so a trial
takes minutes: this is not part of the tests. The default LoadGen limits (p99 TTFT 5 s, TPOT 1.5 s) are
sized for that CPU, not the Server scenario's 2 s and 100 ms, which it misses at 1 QPS; give 0 to keep the
scenario's. The defaults are the run recorded in tests/benchmarks/README.md (about 36 minutes).
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


def workload_sets(args) -> list[str]:
    """The --set options of the workload: every point runs the same prompts and answer lengths."""
    if args.workload == "cnndm":
        values = ["workload=cnndm", f"max_new_tokens={args.output_tokens}"]
    else:
        n = args.output_tokens
        values = ["workload=synthetic", f"synthetic_records={args.samples}", f"synthetic_input_tokens={args.input_tokens}",
                  f"synthetic_output_tokens={n}", f"max_new_tokens={n}", f"min_new_tokens={n}"]
    values += [f"{name}={limit:g}" for name, limit in (("ttft_latency_ms", args.ttft_limit_ms),
                                                       ("tpot_latency_ms", args.tpot_limit_ms)) if limit]
    return [item for value in values for item in ("--set", value)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("synthetic", "cnndm"), default="synthetic")
    parser.add_argument("--input-tokens", type=int, default=16, help="synthetic: prompt length")
    parser.add_argument("--output-tokens", type=int, default=4,
                        help="synthetic: every answer's length; cnndm: max_new_tokens")
    parser.add_argument("--ttft-limit-ms", type=float, default=5000.0,
                        help="LoadGen's p99 TTFT limit for the verdict (ttft_latency_ms; 0: the Server scenario's)")
    parser.add_argument("--tpot-limit-ms", type=float, default=1500.0,
                        help="LoadGen's p99 TPOT limit for the verdict (tpot_latency_ms; 0: the Server scenario's)")
    parser.add_argument("--start-qps", type=float, default=1.0)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--tolerance", type=float, default=0.25)
    parser.add_argument("--max-trials", type=int, default=5)
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
        "--backend", "vllm", "--samples", str(args.samples), *workload_sets(args),
        "--start-qps", str(args.start_qps), "--factor", str(args.factor), "--tolerance", str(args.tolerance),
        "--max-trials", str(args.max_trials), "--trial-duration-ms", str(args.trial_duration_ms),
        "--outputs", str(outputs), *(["--no-early-stopping-sizing"] if args.no_early_stopping_sizing else []),
    ]
    print("workload:", " ".join(workload_sets(args)[1::2]))
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
    first = next((p for p in state["points"] if p["status"] == "finished"), {})
    print(f"LoadGen Server limits: p99 TTFT {first.get('scenario_ttft_limit_ms')} ms, "
          f"p99 TPOT {first.get('scenario_tpot_limit_ms')} ms; search from {args.start_qps:g} qps, x{args.factor:g}, "
          f"tolerance {args.tolerance:g}, at most {args.max_trials} trials, min_duration {args.trial_duration_ms} ms")
    print(f"{'point':6} {'role':7} {'qps':>8} {'queries':>8} {'verdict':8} {'p99 TTFT ms':>12} {'p99 TPOT ms':>12} {'tok/s':>8}")
    for p in state["points"]:
        print(f"{p['point']:6} {p['role']:7} {p['target_qps']:8.3g} {p.get('queries') or '-':>8} "
              f"{p.get('verdict') or p['status']:8} {p.get('ttft_p99_ms') or '-':>12} {p.get('tpot_p99_ms') or '-':>12} "
              f"{p.get('output_tokens_per_s') or '-':>8}")
    res = state["result"] or {}
    print(f"highest VALID target_qps: {res.get('highest_valid_qps')}; lowest INVALID above it: "
          f"{res.get('lowest_invalid_qps')} ({res.get('stop_reason')})")
    print(f"{res.get('loadgen_runs')} LoadGen runs; {minutes:.1f} min wall clock (exit {returncode})")
    print(f"load average before {load_before[0]:.2f}; after (1, 5, 15 min) "
          f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} cores)")
    print(f"page: {sweeps[-1] / 'sweep.html'}")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
