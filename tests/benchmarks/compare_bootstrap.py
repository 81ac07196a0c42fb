"""How long `mlnb compare` spends on its bootstrap intervals, at the sizes real runs have.

Per-query values of the full data set (13,368 queries per stage, Offline and Server) are drawn from
lognormal distributions; one stage's comparison (TTFT, TPOT and latency at the median and p99, and
the mean output length: 7 intervals of 2000 resamples each) is timed, with its peak memory.

    .venv/bin/python tests/benchmarks/compare_bootstrap.py [--queries N] [--resamples B]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np

from mlnb.compare.build import stage_differences
from mlnb.compare.loading import StageData


def _stage(n: int, seed: int, slower: float = 1.0) -> StageData:
    rng = np.random.default_rng(seed)
    stage = StageData("03_server_perf", Path("/nowhere"), {"mode": "performance", "metrics": {"tokens_per_second": 1.0}})
    stage._series = {
        "ttft_ms": rng.lognormal(np.log(200), 0.5, n),
        "tpot_ms": rng.lognormal(np.log(20 * slower), 0.2, n),
        "e2e_ms": rng.lognormal(np.log(2500 * slower), 0.4, n),
        "output_tokens": rng.integers(20, 128, n).astype(float),
        "prompt_tokens": np.array([]),
        "done_ms": np.array([]),
    }
    return stage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=13368)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    a, b = _stage(args.queries, 1), _stage(args.queries, 2, slower=1.03)
    tracemalloc.start()
    started = time.perf_counter()
    diffs = stage_differences(a, b, resamples=args.resamples)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    intervals = sum(1 for d in diffs if d["ci_low"] is not None)
    print(f"queries per run: {args.queries}; resamples: {args.resamples}; intervals: {intervals}")
    print(f"one stage: {elapsed:.2f} s ({elapsed / max(intervals, 1):.2f} s per interval); peak memory {peak / 2**20:.0f} MiB")
    print(f"a five-stage comparison: about {5 * elapsed:.0f} s")
    for d in diffs:
        if d["ci_low"] is not None:
            print(f"  {d['label']:>20} {d['stat']:>6}: {d['rel']:+.2%}  [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] {d['unit']}  {d['verdict']}")


if __name__ == "__main__":
    main()
