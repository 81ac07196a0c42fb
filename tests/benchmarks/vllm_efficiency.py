"""Offline harness efficiency of the vllm backend: LoadGen + SUT against plain ``LLM.generate``.

    python tests/benchmarks/vllm_efficiency.py [--samples 16] [--max-new-tokens 64] [--repeats 3]

Each repeat is one fresh process that loads the backend's engine once, runs one untimed pass and
then measures three ways, back to back, on the same prompts (the embedded data set as token ids)
and sampling settings (greedy, max_tokens, min_tokens, no detokenization), with prefix caching off
so that no pass finds the previous pass's prompts cached:

1. ``LLM.generate`` on that engine, with the prompts in the order LoadGen issues them; tokens/s =
   generated tokens / time of the call.
2. An Offline performance LoadGen test through the real harness code (``run_harness``) and the
   backend's SUT; tokens/s as LoadGen reports it (tokens / first issue to last completion).
3. The backend alone, without LoadGen: every prompt submitted at once, timed to the last completion.
   It splits the ratio into the harness's share (LoadGen / backend alone) and the backend's engine
   loop's (backend alone / LLM.generate).

LoadGen allows one test per process (mlperf.conf is read only once), so each repeat is its own
process and the issue order comes from a separate probe on the zero-cost simulator. Within a
repeat the passes run as a palindrome, LLM.generate, backend, LoadGen, backend, LLM.generate, and
the outer two are averaged, so a drift in the machine's speed cancels. Efficiency = the median over
repeats of LoadGen tokens/s / LLM.generate tokens/s; target at least 0.98.
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


def _direct(backend, prompts, p: StageParams) -> float:
    from mlnb.backends.vllm_args import sampling_params, tokens_prompt

    sp = sampling_params(p.max_new_tokens, p.min_new_tokens, streaming=False)
    started = time.monotonic()
    outputs = backend._llm.generate([tokens_prompt(ids) for ids in prompts], sp, use_tqdm=False)
    elapsed = time.monotonic() - started
    return sum(len(o.outputs[0].token_ids) for o in outputs) / elapsed


def _backend_alone(backend, prompts, p: StageParams) -> float:
    from harness_efficiency import backend_tokens_per_second

    return backend_tokens_per_second(backend, prompts, p.max_new_tokens, p.min_new_tokens)


def _through_loadgen(backend, p: StageParams, stage_dir: Path) -> float:
    import mlnb.harness.run as harness
    from mlnb.fileio import write_json_atomic
    from mlnb.logs.mlperf_log import parse_loadgen_dir

    stage_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stage_dir / "params.json", p.model_dump(mode="json"))
    harness.get_backend = lambda name: (lambda params: backend)  # the engine already loaded here
    harness.run_harness(stage_dir)
    result = parse_loadgen_dir(stage_dir / "loadgen")
    if result.validity != "VALID":
        raise SystemExit(f"LoadGen run in {stage_dir} is {result.validity}: {result.invalid_reasons}")
    return result.tokens_per_second


def worker(params_path: str, out_path: str) -> None:
    """One repeat (runs in its own process)."""
    from mlnb.backends.vllm_engine import VLLMBackend
    from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm, prompt_token_ids

    p = StageParams.model_validate_json(Path(params_path).read_text())
    # No prefix caching: every pass repeats the same prompts, and from the second pass on their
    # prefill would come from the cache (three times faster on CPU, where prefill dominates).
    engine_kwargs = VLLMBackend.engine_kwargs
    VLLMBackend.engine_kwargs = staticmethod(lambda *a: {**engine_kwargs(*a), "enable_prefix_caching": False})
    backend = VLLMBackend(p)
    backend.load()  # includes the backend's warm-up, which both measurements then share
    close = backend.close
    backend.load = backend.close = lambda: None  # the harness must reuse this engine, not rebuild or end it
    stage_dir = Path(out_path).with_suffix("")
    order = json.loads(Path(params_path).with_suffix(".order.json").read_text())
    all_prompts = prompt_token_ids(load_cnndm(EMBEDDED_DATASET)[: p.samples], backend.tokenizer()).token_ids
    prompts = [all_prompts[i] for i in order]
    # One untimed pass, so that any one-time cost of the first large batch lands on no side.
    _direct(backend, prompts, p)
    # A palindrome around the one LoadGen test a process may run: a drift in the machine's speed
    # that is linear in time cancels in the means of the two outer pairs.
    runs: dict[str, list[float]] = {"direct": [], "backend": []}
    for side in ("direct", "backend", "loadgen", "backend", "direct"):
        if side == "direct":
            runs["direct"].append(_direct(backend, prompts, p))
        elif side == "backend":
            runs["backend"].append(_backend_alone(backend, prompts, p))
        else:
            loadgen = _through_loadgen(backend, p, stage_dir)
    figures = {"loadgen": loadgen, **{side: statistics.fmean(v) for side, v in runs.items()}, "runs": runs}
    Path(out_path).write_text(json.dumps(figures))
    close()


def _pair(values: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def order_probe(params_path: str, out_path: str) -> None:
    """LoadGen's Offline issue order for these settings, from a run on the zero-cost simulator.

    The order is a seeded shuffle, the same on every run with the same settings and samples. When
    the KV cache cannot hold every sequence at once it decides how requests are packed, so
    LLM.generate gets the prompts in this order too.
    """
    from mlnb.backends.sim import SimBackend

    p = StageParams.model_validate_json(Path(params_path).read_text()).model_copy(
        update={"backend": "sim", "sim_ttft_ms": 0.0, "sim_tpot_ms": 0.0, "sim_prefill_ms_per_token": 0.0}
    )
    backend, issued = SimBackend(p), []
    submit = backend.submit
    backend.submit = lambda requests: (issued.extend(r.sample_index for r in requests), submit(requests))
    stage_dir = Path(out_path).with_suffix("")
    _through_loadgen(backend, p, stage_dir)
    Path(out_path).write_text(json.dumps(issued))


def loadgen_order(params: StageParams, tmp: Path) -> list[int]:
    params_path = tmp / "order.params.json"
    params_path.write_text(params.model_dump_json())
    out = params_path.with_suffix(".order.json")
    subprocess.run([sys.executable, __file__, "--order-probe", str(params_path), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def one_repeat(params: StageParams, tmp: Path, index: int, order: list[int]) -> dict:
    params_path, out_path = tmp / f"repeat_{index}.params.json", tmp / f"repeat_{index}.json"
    params_path.write_text(params.model_dump_json())
    params_path.with_suffix(".order.json").write_text(json.dumps(order))
    with open(tmp / f"repeat_{index}.log", "w") as log:
        code = subprocess.run(
            [sys.executable, __file__, "--worker", str(params_path), str(out_path)],
            stdout=log, stderr=subprocess.STDOUT,
        ).returncode
    if code != 0:
        tail = (tmp / f"repeat_{index}.log").read_text().splitlines()[-15:]
        raise SystemExit(f"repeat {index + 1} failed (exit {code}):\n" + "\n".join(tail))
    return json.loads(out_path.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more StageParams, e.g. dtype=float32")
    parser.add_argument("--worker", nargs=2, metavar=("PARAMS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--order-probe", nargs=2, metavar=("PARAMS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.order_probe:
        order_probe(*args.order_probe)
        return 0
    if args.worker:
        worker(args.worker[0], args.worker[1])
        return 0
    from mlnb.config import parse_set_option

    extra = {name: value for _, name, value in map(parse_set_option, args.set)}
    params = StageParams(
        stage="bench", scenario="Offline", backend="vllm", model=args.model, samples=args.samples,
        max_new_tokens=args.max_new_tokens, min_query_count=args.samples, min_duration_ms=0, **extra,
    )
    direct, alone, through = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        order = loadgen_order(params, Path(tmp))
        print(f"LoadGen issues the {len(order)} samples in this order (LLM.generate gets it too): {order}")
        for i in range(args.repeats):
            figures = one_repeat(params, Path(tmp), i, order)
            direct.append(figures["direct"])
            alone.append(figures["backend"])
            through.append(figures["loadgen"])
            print(
                f"repeat {i + 1}: LLM.generate {_pair(figures['runs']['direct'])} tok/s, backend alone "
                f"{_pair(figures['runs']['backend'])}, LoadGen {through[-1]:.1f}; "
                f"LoadGen / LLM.generate {through[-1] / direct[-1]:.3f}",
                flush=True,
            )
    print(f"\nvllm backend, model={args.model} samples={args.samples} max_new_tokens={args.max_new_tokens} {extra or ''}")
    print("Each run: LLM.generate and backend alone are the means of the two passes either side of LoadGen's.")
    print(f"| tokens/s | {' | '.join(f'run {i + 1}' for i in range(args.repeats))} | median |")
    print(f"|---|{'---|' * args.repeats}---|")
    for name, values in (("LLM.generate", direct), ("backend alone (no LoadGen)", alone), ("LoadGen + SUT", through)):
        print(f"| {name} | {' | '.join(f'{x:.1f}' for x in values)} | {statistics.median(values):.1f} |")
    # Paired: each repeat's ratio, then the median, so a slow process does not pair with a fast one.
    overall = statistics.median(t / d for t, d in zip(through, direct))
    harness = statistics.median(t / a for t, a in zip(through, alone))
    loop = statistics.median(a / d for a, d in zip(alone, direct))
    print(f"efficiency (LoadGen / LLM.generate, median of the runs' ratios): {overall:.3f}  target >= 0.98")
    print(f"  LoadGen / backend alone (the harness): {harness:.3f}; backend alone / LLM.generate "
          f"(the backend's engine loop): {loop:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
