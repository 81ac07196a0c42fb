"""The harness's memory over a long sim run (target: RSS growth under 100 MB over 10^6 queries).

    python tests/benchmarks/harness_memory.py [--queries 1000000] [--qps 2000] [--scenario Server]

Runs ``python -m mlnb.harness`` (the real LoadGen and the harness, sim backend, 2-token outputs)
on a stage folder and samples the subprocess's resident memory every 0.2 s. Prints:

- RSS when the backend is loaded (before LoadGen starts), at the first progress line (LoadGen has
  built its query schedule and issued the first queries), its peak, and the growth from each to
  the peak;
- the growth per 1,000 queries, and where it happened: during the test (up to the harness's last
  progress line, printed every 2 s while LoadGen runs) or in the trace merge that follows.

LoadGen itself keeps a few numbers per query (its schedule and latencies), so some growth is
LoadGen's own and outside mlnb's control (it builds its whole schedule before the first query,
between the first two readings). ``--bare-loadgen`` measures that part alone: the same LoadGen
settings and trace, with a SUT that answers every query inside LoadGen's issue call and keeps
nothing; the harness's own growth is the difference between the two runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil


def stage_params(folder: Path, queries: int, qps: float, scenario: str) -> Path:
    from mlnb.config import StageParams

    params = StageParams(
        run_dir=str(folder.parent), stage=folder.name, backend="sim", scenario=scenario, samples=1024,
        target_qps=qps, min_query_count=queries, max_query_count=queries, min_duration_ms=0,
        sim_output_tokens=2, max_new_tokens=2, sim_ttft_ms=0.5, sim_tpot_ms=0.1, sim_prefill_ms_per_token=0.0,
        sim_max_batch=4096, timeout_s=7200,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(params.model_dump_json())
    return folder


def bare_loadgen(folder: Path) -> int:
    """LoadGen alone, as the harness configures it, with a SUT that answers at once and keeps nothing."""
    import mlperf_loadgen as lg
    import numpy as np

    from mlnb.config import StageParams
    from mlnb.harness.settings import build_test_settings, plan_user_conf, write_user_conf

    params = StageParams.model_validate_json((folder / "params.json").read_text())
    out = folder / "loadgen"
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_user_conf(params, params.samples or 1024, False)
    settings = build_test_settings(params, write_user_conf(params, plan, out / "user.conf"))
    log = lg.LogSettings()
    log.log_output.outdir = str(out)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = True
    tokens = np.array([1, 2], dtype=np.int32)
    done = [0]
    streaming = params.scenario != "Offline"

    def issue(samples) -> None:
        if streaming:
            lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, tokens.ctypes.data, 4) for s in samples])
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, tokens.ctypes.data, tokens.nbytes, 2) for s in samples])
        done[0] += len(samples)

    stop = threading.Event()

    def progress() -> None:
        while not stop.wait(2.0):
            print(f"progress completed={done[0]}", flush=True)

    print("loaded bare LoadGen", flush=True)
    threading.Thread(target=progress, daemon=True).start()
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(params.samples or 1024, params.samples or 1024, lambda _: None, lambda _: None)
    lg.StartTestWithLogSettings(sut, qsl, settings, log, str(out / "no-audit.config"))
    stop.set()
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    print(f"finished: {done[0]} queries", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--qps", type=float, default=2000.0)
    parser.add_argument("--scenario", choices=("Server", "Offline"), default="Server")
    parser.add_argument("--bare-loadgen", action="store_true", help="LoadGen alone with a SUT that keeps nothing")
    parser.add_argument("--child-bare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_bare:
        return bare_loadgen(args.child_bare)
    folder = stage_params(Path(tempfile.mkdtemp(prefix="harness-memory-")) / "stage", args.queries, args.qps, args.scenario)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    started = time.monotonic()
    command = [sys.executable, __file__, "--child-bare", str(folder)] if args.bare_loadgen else [sys.executable, "-m", "mlnb.harness", str(folder)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    marks: dict[str, float] = {}
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                samples.append((time.monotonic() - started, ps.memory_info().rss / 2**20))
            except psutil.Error:
                return
            stop.wait(0.2)

    threading.Thread(target=sample, daemon=True).start()
    last_line = ""
    for line in proc.stdout:
        now_rss = samples[-1][1] if samples else float("nan")
        if line.startswith("loaded ") and "loaded" not in marks:
            marks["loaded"] = ps.memory_info().rss / 2**20
        elif line.startswith("progress"):
            marks.setdefault("first_progress", ps.memory_info().rss / 2**20)
            # progress lines stop when the LoadGen test ends: the peak so far is the test's
            marks["test_peak"] = max((r for _, r in samples), default=now_rss)
        last_line = line.strip() or last_line
    proc.wait()
    stop.set()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        print(f"harness failed ({proc.returncode}): {last_line}")
        return 1
    peak = max(r for _, r in samples)
    during_test = marks.get("test_peak", peak)
    loaded, first = marks.get("loaded", samples[0][1]), marks.get("first_progress", samples[0][1])
    what = "bare LoadGen (SUT keeps nothing)" if args.bare_loadgen else "harness"
    print(f"{args.queries:,} {args.scenario} queries at {args.qps:g} queries/s in {wall:.0f} s ({what} wall time); {last_line}")
    print(f"RSS after load {loaded:.0f} MiB, at the first progress line {first:.0f} MiB, peak {peak:.0f} MiB "
          f"(up to the last progress line, i.e. during the LoadGen test: {during_test:.0f} MiB)")
    print(f"growth: from load to peak {peak - loaded:.0f} MiB, from the first progress line to peak {peak - first:.0f} MiB "
          f"({(peak - first) / args.queries * 1000 * 1024:.1f} KiB per 1,000 queries); "
          f"after the test (trace merge, queries.jsonl) the peak rose by {max(0.0, peak - during_test):.0f} MiB")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; stage folder {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
