"""Client capacity: the highest request rate a client sustains with at most 1 ms added to p99 TTFT.

Both clients drive the same zero-compute streaming server (tests/fixtures/openai_server.py) on
loopback, one after the other at each rate of a doubling ladder:

- mlnb: the `openai` backend in a real LoadGen Server run (Poisson arrivals). Its p99 TTFT is
  LoadGen's, measured from each query's scheduled time, so a client that falls behind shows it.
- `vllm bench serve` (Poisson arrivals, `--request-rate`). Its TTFT starts when a request is
  sent, which hides a late send; so a vLLM rate also fails when the achieved request rate falls
  below 95 % of the target.

"Added" TTFT is p99 TTFT at a rate minus p99 TTFT at the lowest rate, where the clients idle. The
server's own delay (``--ttft-ms``) is the same for both. Counts and durations are bounded; the
script prints the machine's load average, because on a shared machine other work slows both.

    .venv/bin/python tests/benchmarks/client_capacity.py [--rates 20,80,...] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.openai_fixture import fake_openai_server  # noqa: E402

MODEL = "fake-model"
OUTPUT_TOKENS = 16
SERVER_TTFT_MS = 10.0
ADDED_LIMIT_MS = 1.0


def mlnb_p99_ttft(url: str, rate: float, seconds: float, workdir: Path) -> dict:
    from mlnb.config import StageParams
    from mlnb.stages.loadgen_stage import run_stage

    count = max(100, int(rate * seconds))
    params = StageParams(
        run_dir=str(workdir), stage=f"mlnb_{rate:g}", scenario="Server", backend="openai", base_url=url,
        served_model_name=MODEL, tokenizer="embedded", samples=64, max_new_tokens=OUTPUT_TOKENS, target_qps=rate, min_duration_ms=0,
        min_query_count=count, timeout_s=600, ttft_latency_ms=10_000, tpot_latency_ms=10_000,
    )
    summary = run_stage(params)
    client = summary.sut["client"]
    return {
        "p50_ttft_ms": summary.metrics["ttft_ms"]["percentiles"]["50.0"],
        "p99_ttft_ms": summary.metrics["ttft_ms"]["percentiles"]["99.0"],
        "p99_ttft_from_send_ms": client["ttft_from_send_ms"]["p99"],
        "achieved_rps": summary.metrics["samples_per_second"],
        "errors": summary.sut["errors"],
        "requests": count,
    }


def vllm_p99_ttft(url: str, rate: float, seconds: float, workdir: Path, tokenizer: str) -> dict:
    count = max(100, int(rate * seconds))
    result = workdir / f"vllm_{rate:g}.json"
    argv = [
        sys.executable, "-m", "mlnb.server.vllm_cli", "bench", "serve", "--backend", "openai",
        "--base-url", url.rsplit("/v1", 1)[0], "--endpoint", "/v1/completions", "--model", MODEL,
        "--tokenizer", tokenizer, "--dataset-name", "random", "--random-input-len", "64",
        "--random-output-len", str(OUTPUT_TOKENS), "--num-prompts", str(count), "--request-rate", str(rate),
        "--seed", "0", "--disable-tqdm", "--save-result", "--result-dir", str(workdir),
        "--result-filename", result.name, "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"vllm bench serve failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    data = json.loads(result.read_text())
    return {
        "p50_ttft_ms": data["median_ttft_ms"],
        "p99_ttft_ms": data["p99_ttft_ms"],
        "achieved_rps": data["request_throughput"],
        "errors": data.get("failed", 0),
        "requests": count,
    }


def ladder(name: str, measure, rates: list[float]) -> tuple[float, list[dict]]:
    """Measure each rate; the best is the highest rate below which every rate passed.

    The ladder goes on past a failure (the machine is shared and p99 is noisy) and stops once the
    client has collapsed, achieving under 70 % of the target rate.
    """
    rows, baseline, best, failed = [], None, 0.0, False
    for rate in rates:
        row = {"rate": rate, **measure(rate)}
        if baseline is None:
            baseline = row["p99_ttft_ms"]
        row["added_p99_ms"] = row["p99_ttft_ms"] - baseline
        keeps_up = row["achieved_rps"] >= 0.95 * rate * (row["requests"] - 1) / row["requests"]
        row["keeps_up"] = keeps_up and row["errors"] == 0
        row["ok"] = row["keeps_up"] and row["added_p99_ms"] <= ADDED_LIMIT_MS
        rows.append(row)
        print(f"  {name:5s} rate {rate:7g}/s: " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k != "rate"),
              flush=True)
        failed = failed or not row["ok"]
        if not failed:
            best = rate
        if row["achieved_rps"] < 0.7 * rate:
            break
    return best, rows


def _fmt(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,80,160,240,320,400,480,560")
    parser.add_argument("--seconds", type=float, default=6.0, help="arrivals per rate: rate x seconds (>= 100)")
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    from mlnb.models.embedded import prepare_embedded_model

    tokenizer = str(prepare_embedded_model())
    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs")
    print(f"fixture: {OUTPUT_TOKENS} tokens per answer, one per chunk, first after {SERVER_TTFT_MS:g} ms; "
          f"limit: p99 TTFT at most {ADDED_LIMIT_MS:g} ms above the lowest rate's")
    with tempfile.TemporaryDirectory(prefix="mlnb-capacity-") as tmp, fake_openai_server(
        model=MODEL, tokens=OUTPUT_TOKENS, ttft_ms=SERVER_TTFT_MS, tokenizer=tokenizer  # counts the probes as mlnb does
    ) as url:
        work = Path(tmp)
        mlnb_best, mlnb_rows = ladder("mlnb", lambda r: mlnb_p99_ttft(url, r, args.seconds, work), rates)
        vllm_best, vllm_rows = None, []
        if not args.skip_vllm:
            vllm_best, vllm_rows = ladder("vllm", lambda r: vllm_p99_ttft(url, r, args.seconds, work, tokenizer), rates)
    print(f"load average after: {os.getloadavg()}")
    print(f"RESULT mlnb openai backend sustains {mlnb_best:g} req/s with <= {ADDED_LIMIT_MS:g} ms added p99 TTFT")
    if vllm_best is not None:
        ratio = mlnb_best / vllm_best if vllm_best else float("inf")
        print(f"RESULT vllm bench serve sustains {vllm_best:g} req/s; mlnb / vllm = {ratio:.2f} (target >= 1.5)")
    for name, rows in (("mlnb", mlnb_rows), ("vllm", vllm_rows)):
        kept = [r["rate"] for r in rows if r["keeps_up"]]
        if rows:
            print(f"RESULT {name}: highest rate kept up with (>= 95 % achieved, no errors): {max(kept, default=0):g} req/s")


if __name__ == "__main__":
    main()
