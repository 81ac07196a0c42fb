"""Client capacity: mlnb's `openai` backend against `vllm bench serve` on streamed chunks, repeated.

Both clients drive the same zero-compute streaming server (tests/fixtures/openai_server.py, in
``--fixture-workers`` processes on one port so that it is not the limit) on loopback, one after the
other, ``--repeats`` times at each rate of a ladder. Each answer is ``--tokens`` tokens, one per
chunk, the first after ``--ttft-ms`` and the next every ``--itl-ms`` (a GPU's token rate), so a
request rate R streams R x tokens chunks per second. Printed, with the load average:

- Added TPOT p99 per rate: p99 TPOT minus the lowest rate's (both medians over the repeats). A rate
  passes when that is at most 1 ms or 5 % of the lowest rate's p99, whichever is larger, and no
  request failed. The spread (max - min of p99 over the repeats) is printed beside it: a spread larger
  than the criterion means the criterion is inside the noise and the ratio is not resolved.
  mlnb's TPOT is LoadGen's; vLLM's its own; both per request, (E2E - TTFT) / (tokens - 1).
- Client CPU per 1,000 chunks: mlnb's event loop thread(s) from LoadGen's start to the client's stop
  (summary engine.client_load; with ``--client-workers N`` the N worker loops summed); its process CPU
  (LoadGen and, with workers, every worker process included) is printed and compared too; vLLM bench's whole
  process from the moment the server sees its requests begin (polled every 0.1 s, after its one test
  request) to its exit, so its start-up (imports, tokenizer, data set) is not counted.
- TTFT from the send at about ``--streams`` concurrent streams (rate = streams / answer duration):
  p99 minus the server's TTFT, for mlnb from its ``sent_ms``, for vLLM from its request start.

    .venv/bin/python tests/benchmarks/client_capacity.py [--rates 20,40,60,80,100,120] [--repeats 3]
        [--seconds 6] [--tokens 256] [--itl-ms 10] [--ttft-ms 50] [--streams 300] [--fixture-workers 2]
        [--client-workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.openai_fixture import fake_openai_server  # noqa: E402

MODEL = "fake-model"
ADDED_LIMIT_MS = 1.0
ADDED_LIMIT_SHARE = 0.05


def run_mlnb(url: str, rate: float, count: int, tokens: int, workdir: Path, tag: str, workers: int = 1) -> dict:
    from mlnb.config import StageParams
    from mlnb.stages.loadgen_stage import run_stage

    params = StageParams(
        run_dir=str(workdir), stage=f"mlnb_{tag}", scenario="Server", backend="openai", base_url=url,
        served_model_name=MODEL, tokenizer="embedded", samples=64, max_new_tokens=tokens, target_qps=rate,
        min_duration_ms=0, min_query_count=count, timeout_s=900, ttft_latency_ms=60_000, tpot_latency_ms=10_000,
        client_workers=workers,
    )
    summary = run_stage(params)
    load = summary.engine.get("client_load") or {}
    return {
        "p99_tpot_ms": summary.metrics["tpot_ms"]["percentiles"]["99.0"],
        "p99_ttft_send_ms": summary.sut["client"]["ttft_from_send_ms"]["p99"],
        "errors": summary.sut["errors"],
        "chunks": load.get("chunks"),
        "cpu_per_1000": load.get("loop_cpu_s_per_1000_chunks"),
        "process_cpu_per_1000": load.get("process_cpu_s_per_1000_chunks"),
        "loop_lag_share": load.get("loop_lag_share"),
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_vllm(url: str, rate: float, count: int, tokens: int, workdir: Path, tag: str, tokenizer: str) -> dict:
    result = workdir / f"vllm_{tag}.json"
    argv = [
        sys.executable, "-m", "mlnb.server.vllm_cli", "bench", "serve", "--backend", "openai",
        "--base-url", url.rsplit("/v1", 1)[0], "--endpoint", "/v1/completions", "--model", MODEL,
        "--tokenizer", tokenizer, "--dataset-name", "random", "--random-input-len", "64",
        "--random-output-len", str(tokens), "--num-prompts", str(count), "--request-rate", str(rate),
        "--seed", "0", "--disable-tqdm", "--save-result", "--result-dir", str(workdir),
        "--result-filename", result.name, "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
    ]
    import psutil

    from fixtures.openai_fixture import requests_served

    served0 = requests_served(url)
    before = _children_cpu_s()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True)
        child, cpu_at_start = psutil.Process(proc.pid), None
        while proc.poll() is None:
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:
                break
            if cpu_at_start is None and requests_served(url) > served0 + 1:  # its test request, then the run
                cpu_at_start = times.user + times.system
            time.sleep(0.1)
        proc.wait(timeout=900)
        cpu = _children_cpu_s() - before - (cpu_at_start or 0.0)
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"vllm bench serve failed:\n{log.read()[-3000:]}")
    data = json.loads(result.read_text())
    return {
        "p99_tpot_ms": data["p99_tpot_ms"],
        "p99_ttft_send_ms": data["p99_ttft_ms"],
        "errors": data.get("failed", 0),
        "chunks": data["total_output_tokens"],  # one token per chunk
        "process_cpu_s": cpu,
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}..{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,40,60,80,100,120", help="requests/s; x tokens = chunks/s")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="arrivals per run: rate x seconds (>= 60)")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--fixture-workers", type=int, default=2)
    parser.add_argument("--client-workers", type=int, default=1, help="mlnb's client_workers")
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    answer_s = (args.ttft_ms + (args.tokens - 1) * args.itl_ms) / 1000
    streams_rate = round(args.streams / answer_s, 1)

    from mlnb.models.embedded import prepare_embedded_model

    tokenizer = str(prepare_embedded_model())
    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    print(f"fixture: {args.fixture_workers} processes, {args.tokens} tokens per answer, one per chunk, first after "
          f"{args.ttft_ms:g} ms, then every {args.itl_ms:g} ms ({answer_s:.2f} s per answer); {args.repeats} repeats per rate; "
          f"mlnb client_workers={args.client_workers}")
    clients = ["mlnb"] + ([] if args.skip_vllm else ["vllm"])
    results: dict[tuple[str, float], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="mlnb-capacity-") as tmp, fake_openai_server(
        model=MODEL, tokens=args.tokens, ttft_ms=args.ttft_ms, itl_ms=args.itl_ms, tokenizer=tokenizer,
        workers=args.fixture_workers,
    ) as url:
        work = Path(tmp)

        def measure(client: str, rate: float, count: int, tag: str) -> dict:
            if client == "mlnb":
                return run_mlnb(url, rate, count, args.tokens, work, tag, args.client_workers)
            return run_vllm(url, rate, count, args.tokens, work, tag, tokenizer)

        for repeat in range(args.repeats):
            for rate in rates + ([] if streams_rate in rates else [streams_rate]):  # the streams rate may be on the ladder
                # Alternate who goes first, so a drift in the machine's load favours neither.
                for client in clients if repeat % 2 == 0 else clients[::-1]:
                    count = max(60, int(rate * args.seconds))
                    row = measure(client, rate, count, f"{client}_{rate:g}_{repeat}")
                    if client == "vllm":
                        row["cpu_per_1000"] = 1000 * row["process_cpu_s"] / row["chunks"]
                    results.setdefault((client, rate), []).append(row)
                    print(f"  repeat {repeat} {client:4s} {rate:6g} req/s ({rate * args.tokens:7.0f} chunks/s): "
                          + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
                          + f"  load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"load average after: {os.getloadavg()}")

    best: dict[str, float] = {}
    for client in clients:
        base = [r["p99_tpot_ms"] for r in results[(client, rates[0])]]
        base_p99 = statistics.median(base)
        limit = max(ADDED_LIMIT_MS, ADDED_LIMIT_SHARE * base_p99)
        best[client], failed = 0.0, False
        print(f"RESULT {client}: TPOT p99 at {rates[0]:g} req/s {spread(base)} ms (median [min..max] of {len(base)}); "
              f"limit +{limit:.2f} ms")
        for rate in rates:
            rows = results[(client, rate)]
            p99s = [r["p99_tpot_ms"] for r in rows]
            added = statistics.median(p99s) - base_p99
            ok = added <= limit and all(r["errors"] == 0 for r in rows)
            noisy = max(p99s) - min(p99s) > limit
            cpu = spread([r["cpu_per_1000"] for r in rows if r.get("cpu_per_1000") is not None])
            print(f"RESULT   {rate:6g} req/s = {rate * args.tokens:7.0f} chunks/s: TPOT p99 {spread(p99s)} ms, added "
                  f"{added:+.2f} ms {'ok' if ok else 'FAIL'}{' (spread > limit: noise)' if noisy else ''}; "
                  f"client CPU s per 1,000 chunks {cpu}"
                  + (f"; process CPU {spread([r['process_cpu_per_1000'] for r in rows])}; loop lag share "
                     f"{spread([r['loop_lag_share'] for r in rows])}" if client == "mlnb" else ""))
            failed = failed or not ok
            if not failed:
                best[client] = rate * args.tokens
    if "vllm" in best:
        ratio = best["mlnb"] / best["vllm"] if best["vllm"] else float("inf")
        print(f"RESULT highest chunk rate within the limit: mlnb {best['mlnb']:g}/s, vllm {best['vllm']:g}/s, "
              f"mlnb/vllm {ratio:.2f} (target >= 1.5)")
        for rate in rates:
            m = statistics.median(r["cpu_per_1000"] for r in results[("mlnb", rate)])
            v = statistics.median(r["cpu_per_1000"] for r in results[("vllm", rate)])
            mp = statistics.median(r["process_cpu_per_1000"] for r in results[("mlnb", rate)])
            print(f"RESULT CPU per 1,000 chunks at {rate * args.tokens:g} chunks/s: mlnb loop(s) {m:.3f} s, vllm bench "
                  f"process {v:.3f} s, mlnb/vllm {m / v:.2f} (target <= 0.5); mlnb all processes {mp:.3f} s, "
                  f"mlnb/vllm {mp / v:.2f}")
    sends = {c: [r["p99_ttft_send_ms"] - args.ttft_ms for r in results[(c, streams_rate)]] for c in clients}
    for client, added in sends.items():
        print(f"RESULT added TTFT p99 from the send at {streams_rate:g} req/s (about {args.streams} streams): "
              f"{client} {spread(added)} ms")
    if "vllm" in sends:
        ratio = statistics.median(sends["mlnb"]) / statistics.median(sends["vllm"])
        print(f"RESULT added TTFT p99 from the send, mlnb/vllm {ratio:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
