"""Up to which rate does one LoadGen process keep its schedule on this CPU?

    python tests/benchmarks/loadgen_schedule.py [--rates 500 1000 2000 5000 10000] [--seconds 10] [--repeats 1]

For each rate, a sim Server stage (the real harness and LoadGen, 2-token outputs, a simulator
with room for every query, so the SUT never sets the pace) runs for ``--seconds``; from its
queries.jsonl (LoadGen's trace merged per query) it prints the delay from each query's scheduled
time to LoadGen issuing it (p50, p99, max), the lag to the SUT (p99), whether the stage report's
load-generator health section flags LoadGen's own lag, and the load average (the machine may be
shared: a busy CPU makes LoadGen late sooner).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np


def run_rate(work: Path, qps: float, seconds: float, tag: str) -> dict:
    from mlnb.config import StageParams
    from mlnb.query_table import load_query_table
    from mlnb.report.loadgen_health import LOADGEN_LAG_P99_LIMIT_MS, assess
    from mlnb.stages.loadgen_stage import run_stage

    params = StageParams(
        run_dir=str(work), stage=f"qps_{qps:g}_{tag}", backend="sim", scenario="Server", samples=1024, target_qps=qps,
        min_duration_ms=int(seconds * 1000), min_query_count=max(1, int(qps * seconds)),
        sim_output_tokens=2, max_new_tokens=2, sim_ttft_ms=0.5, sim_tpot_ms=0.1, sim_prefill_ms_per_token=0.0, sim_max_batch=4096,
    )
    summary = run_stage(params).model_dump(mode="json")
    table = load_query_table(work / params.stage)
    health = assess(summary, table)
    delay = health.issue_delay_ms if health.issue_delay_ms is not None else np.array([np.nan])
    lag = health.lag_to_sut_ms if health.lag_to_sut_ms is not None else np.array([np.nan])
    return {
        "qps": qps, "queries": len(table), "scheduled": health.scheduled_qps,
        "delay_p50": float(np.percentile(delay, 50)), "delay_p99": float(np.percentile(delay, 99)), "delay_max": float(delay.max()),
        "lag_p99": float(np.percentile(lag, 99)), "flagged": health.loadgen_lag_p99_ms is not None,
        "limit": LOADGEN_LAG_P99_LIMIT_MS, "load": os.getloadavg()[0], "verdict": summary["verdict"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[500, 1000, 2000, 5000, 10000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loadgen-schedule-"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs", flush=True)
    print("target q/s  queries  issue delay p50 / p99 / max ms  lag to SUT p99 ms  LoadGen lag flagged  LoadGen verdict  load avg (1 min)")
    for repeat in range(args.repeats):
        for qps in args.rates:
            r = run_rate(work, qps, args.seconds, str(repeat))
            print(
                f"{r['qps']:>10g}  {r['queries']:>7,}  {r['delay_p50']:>8.3f} / {r['delay_p99']:>8.3f} / {r['delay_max']:>8.1f}"
                f"  {r['lag_p99']:>17.2f}  {'yes' if r['flagged'] else 'no':>19}  {r['verdict']:>15}  {r['load']:>6.2f}",
                flush=True,
            )
    print(f"flag: issue delay p99 above {r['limit']:g} ms; stage folders in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
