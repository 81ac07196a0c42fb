"""Offline harness efficiency of the vllm backend: LoadGen + SUT against plain ``LLM.generate``.

    python tests/benchmarks/vllm_efficiency.py [--samples 32] [--max-new-tokens 64] [--repeats 3]

Each measurement runs in a fresh process with the same engine arguments, environment and prompts:

1. ``LLM.generate``: the embedded data set's prompts as token ids, the same sampling settings
   (greedy, max_tokens, min_tokens, no detokenization), after the same small warm-up the backend
   does; tokens/s = generated tokens / time of the generate call.
2. Through LoadGen: an Offline performance stage of the real harness (``python -m mlnb.harness``);
   tokens/s as LoadGen reports it (tokens / time from the first issue to the last completion).

Efficiency = median LoadGen tokens/s / median LLM.generate tokens/s (target at least 0.98). The two
are measured alternately, because the machine's speed drifts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlnb.config import StageParams


def direct_worker(params_path: str, out_path: str) -> None:
    """One LLM.generate measurement (runs in its own process)."""
    from transformers import AutoTokenizer

    from mlnb.backends.vllm_args import import_vllm, sampling_params, tokens_prompt
    from mlnb.backends.vllm_engine import VLLMBackend
    from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm, prompt_token_ids
    from mlnb.models.embedded import resolve_model

    p = StageParams.model_validate_json(Path(params_path).read_text())
    vllm = import_vllm()
    model_path = str(resolve_model(p.model))
    llm = vllm.LLM(**VLLMBackend.engine_kwargs(p, model_path))
    prompts = prompt_token_ids(load_cnndm(EMBEDDED_DATASET)[: p.samples], AutoTokenizer.from_pretrained(model_path))
    llm.generate([tokens_prompt([2] * 8)], sampling_params(4, 1, streaming=False), use_tqdm=False)  # warm-up
    sp = sampling_params(p.max_new_tokens, p.min_new_tokens, streaming=False)
    started = time.monotonic()
    outputs = llm.generate([tokens_prompt(ids) for ids in prompts.token_ids], sp, use_tqdm=False)
    elapsed = time.monotonic() - started
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    Path(out_path).write_text(json.dumps({"tokens": tokens, "seconds": elapsed, "tokens_per_second": tokens / elapsed}))
    llm.llm_engine.engine_core.shutdown()


def direct_tokens_per_second(params: StageParams, tmp: Path, index: int) -> float:
    params_path, out_path = tmp / f"direct_{index}.params.json", tmp / f"direct_{index}.json"
    params_path.write_text(params.model_dump_json())
    subprocess.run(
        [sys.executable, __file__, "--direct-worker", str(params_path), str(out_path)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return json.loads(out_path.read_text())["tokens_per_second"]


def loadgen_tokens_per_second(params: StageParams, tmp: Path, index: int) -> float:
    from mlnb.stages.loadgen_stage import run_stage

    summary = run_stage(params.model_copy(update={"run_dir": str(tmp), "stage": f"offline_{index}"}))
    if summary.verdict != "VALID":
        raise SystemExit(f"LoadGen run {index} is {summary.verdict}: {summary.verdict_reasons}")
    return summary.metrics["tokens_per_second"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more StageParams, e.g. dtype=float32")
    parser.add_argument("--direct-worker", nargs=2, metavar=("PARAMS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct_worker:
        direct_worker(*args.direct_worker)
        return 0
    from mlnb.config import parse_set_option

    extra = {name: value for _, name, value in map(parse_set_option, args.set)}
    params = StageParams(
        stage="bench", scenario="Offline", backend="vllm", model=args.model, samples=args.samples,
        max_new_tokens=args.max_new_tokens, min_query_count=args.samples, min_duration_ms=0, **extra,
    )
    direct, through = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # interleaved, so a noisy neighbour hits both sides alike
            direct.append(direct_tokens_per_second(params, Path(tmp), i))
            through.append(loadgen_tokens_per_second(params, Path(tmp), i))
            print(f"repeat {i + 1}: LLM.generate {direct[-1]:.1f} tok/s, LoadGen {through[-1]:.1f} tok/s", flush=True)
    d, t = statistics.median(direct), statistics.median(through)
    print(f"\nvllm backend, model={args.model} samples={args.samples} max_new_tokens={args.max_new_tokens} {extra or ''}")
    print(f"| measurement | {' | '.join(f'run {i + 1}' for i in range(args.repeats))} | median |")
    print(f"|---|{'---|' * args.repeats}---|")
    print(f"| LLM.generate tokens/s | {' | '.join(f'{x:.1f}' for x in direct)} | {d:.1f} |")
    print(f"| LoadGen + SUT tokens/s | {' | '.join(f'{x:.1f}' for x in through)} | {t:.1f} |")
    print(f"efficiency (LoadGen / LLM.generate): {t / d:.3f}  target >= 0.98")
    return 0


if __name__ == "__main__":
    sys.exit(main())
