"""How long a stage report takes at 10^5 and 10^6 queries (targets: 10 s and 60 s).

    python tests/benchmarks/report_scale.py [--queries 100000 1000000] [--keep DIR]

1. Runs a short sim Server stage through the real harness, for a genuine summary.json, LoadGen
   logs and the run's files the report reads.
2. Replaces its queries.jsonl with N synthetic queries of the same fields (Poisson arrivals at
   2,000 queries/s, queueing in the SUT, streamed outputs of 2-256 tokens, LoadGen's
   schedule fields as the harness merges them) and sets the summary's query count to N.
3. Times the stage summary's per-query statistics (what the stage computes after the harness) and
   the whole HTML report (stage_html: reading queries.jsonl, every section and every chart).

Prints one line per size: queries, file size, seconds for each step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic_queries(n: int, qps: float = 2000.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scheduled = np.cumsum(rng.exponential(1000.0 / qps, n))
    issue_delay = rng.exponential(0.05, n)
    received = scheduled + issue_delay + rng.exponential(0.02, n)
    tokens = rng.integers(2, 257, n)
    prompt = rng.integers(50, 1500, n)
    wait = rng.exponential(2.0, n)  # queueing in the SUT
    first = received + wait + 20.0 + 0.02 * prompt
    done = first + (tokens - 1) * (4.0 + rng.exponential(0.2, n))
    base = received.min()
    frame = pd.DataFrame({
        "sample_index": rng.integers(0, 13368, n),
        "prompt_tokens": prompt,
        "issued_ms": np.round(received - base, 6),
        "issue_seq": np.arange(n),
        "first_token_ms": np.round(first - base, 6),
        "done_ms": np.round(done - base, 6),
        "output_tokens": tokens,
        "error": None,
        "sent_ms": None,
        "scheduled_ms": np.round(scheduled - scheduled.min(), 4),
        "loadgen_issue_delay_ms": np.round(issue_delay, 4),
        "loadgen_latency_ms": np.round(done - scheduled, 4),
    })
    return frame


def template_stage(work: Path) -> Path:
    from mlnb.config import StageParams
    from mlnb.stages.loadgen_stage import run_stage

    params = StageParams(
        run_dir=str(work), stage="server", backend="sim", scenario="Server", target_qps=200, min_duration_ms=1000,
        min_query_count=50, samples=64, sim_output_tokens=8, max_new_tokens=8,
    )
    run_stage(params)
    return work / "server"


def clone_stage(template: Path, target: Path, queries: pd.DataFrame) -> Path:
    shutil.copytree(template, target)
    queries.to_json(target / "queries.jsonl", orient="records", lines=True)
    summary_path = target / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["metrics"]["query_count"] = len(queries)
    summary["params"]["stage"] = summary["stage"] = target.name
    summary_path.write_text(json.dumps(summary))
    return target


def time_report(stage_dir: Path) -> dict[str, float]:
    from mlnb.client_stats import client_side_stats
    from mlnb.query_table import load_query_table
    from mlnb.report.stage_view import stage_html
    from mlnb.results import describe, query_latencies

    started = time.perf_counter()
    table = load_query_table(stage_dir)
    lat = query_latencies(table)
    {k: describe(v) for k, v in lat.items()}
    client_side_stats(table)
    summary_s = time.perf_counter() - started
    started = time.perf_counter()
    html = stage_html(stage_dir)
    report_s = time.perf_counter() - started
    (stage_dir / "report.html").write_text(html)
    return {"summary_stats_s": summary_s, "report_s": report_s, "html_mb": len(html) / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, default=None, help="keep the stage folders here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="report-scale-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    template = template_stage(work / "template")
    try:
        for n in args.queries:
            started = time.perf_counter()
            stage = clone_stage(template, work / f"synthetic_{n}", synthetic_queries(n))
            made_s = time.perf_counter() - started
            size_mb = (stage / "queries.jsonl").stat().st_size / 1e6
            t = time_report(stage)
            print(
                f"{n:>9,} queries  queries.jsonl {size_mb:7.1f} MB (written in {made_s:.1f} s)  "
                f"summary statistics {t['summary_stats_s']:6.2f} s  report {t['report_s']:6.2f} s  "
                f"(HTML {t['html_mb']:.1f} MB)  load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
