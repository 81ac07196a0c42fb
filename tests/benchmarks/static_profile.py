"""Where the hf backend's static path spends GPU time: prefill groups of several sizes, and decode steps.

    python tests/benchmarks/static_profile.py [--rows 256] [--prefill-tokens 2048,16384,32768]

Llama-3.1-8B's architecture with random bf16 weights (the config in mlnb/configs), prompts from the
embedded CNN/DailyMail set (its token ids, modulo the vocabulary). One StaticDecoder of ``--rows`` slots
is compiled as the backend compiles it. Then, for each prefill group size, it admits ``--prefill-rows``
rows (a spread of prompt lengths) three times: a warm-up, one under the profiler, one timed. It prints
the wall time, the padded-token TFLOP/s (2 x block weights x padded tokens / s) and the kernels that
took the most GPU time. Last, the decode step with every slot live: ms per step as a CUDA graph
replay, its memory floor (weights plus the live part of every row's cache, or the whole ring, read once
at the measured copy bandwidth), and the kernels of the same step run without the graph.

A diagnostic for choosing what to speed up, not a benchmark of record: ``gpu_targets.py`` measures
the path under LoadGen.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlnb.backends.batch_sizing import ModelShape  # noqa: E402
from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm  # noqa: E402

LLAMA = ROOT / "mlnb" / "configs" / "llama-3.1-8b-instruct"


def top_kernels(prof, count: int) -> list[str]:
    """The GPU kernels (and the ops that launched them) that took the most device time, as lines."""
    from torch.autograd import DeviceType

    events = prof.key_averages()
    on_gpu = any(e.device_type == DeviceType.CUDA for e in events)

    def spent(e) -> float:  # microseconds: on the GPU where there is one, else on the CPU
        return e.self_device_time_total if on_gpu else e.self_cpu_time_total

    total = sum(spent(e) for e in events if not on_gpu or e.device_type == DeviceType.CUDA) or 1.0
    lines = []
    for kind, on_device in ((("kernels", True), ("ops", False)) if on_gpu else (("ops", False),)):
        chosen = [e for e in events if (e.device_type == DeviceType.CUDA) == on_device and spent(e) > 0]
        chosen.sort(key=spent, reverse=True)
        lines.append(f"    top {kind} by {'GPU' if on_gpu else 'CPU'} time (all: {total / 1e3:.1f} ms)")
        for e in chosen[:count]:
            lines.append(f"      {spent(e) / 1e3:9.2f} ms {spent(e) / total:6.1%} x{e.count:<5d} {e.key[:90]}")
    return lines


def main() -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoConfig, AutoModelForCausalLM

    from mlnb.backends.static_decode import Row, StaticDecoder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(LLAMA), help="a config folder")
    ap.add_argument("--rows", type=int, default=256, help="slots, all filled")
    ap.add_argument("--new-tokens", type=int, default=64, help="per row (sets the ring's length with the prompts)")
    ap.add_argument("--prefill-tokens", default="16384", help="comma list of prefill group sizes (tokens)")
    ap.add_argument("--prefill-rows", type=int, default=96, help="rows admitted per prefill measurement (0: none)")
    ap.add_argument("--norms", default="fused", help="comma list: fused (as the backend prefills), own (transformers' RMSNorm)")
    ap.add_argument("--attention", default="decoder",
                    help="comma list: decoder (the backend's prefill kernels), torch (torch's SDPA choice, cuDNN on "
                         "an H100), or SDPBackend names joined by +, e.g. EFFICIENT_ATTENTION")
    ap.add_argument("--steps", type=int, default=20, help="decode steps timed (0: prefill only, nothing compiled)")
    ap.add_argument("--top", type=int, default=12, help="kernels and ops listed per profile")
    ap.add_argument("--device", default="cuda", help="cpu: a self-check of this script (prefill compiled, step eager)")
    args = ap.parse_args()

    device = args.device
    on_gpu = device.startswith("cuda")
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    config = AutoConfig.from_pretrained(args.model)
    shape = ModelShape.from_config(config)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    vocab = config.vocab_size
    records = load_cnndm(EMBEDDED_DATASET)
    prompts = [[t % vocab for t in records[i % len(records)]["tok_input"]] for i in range(args.rows)]
    prompts.sort(key=len)  # as Offline admits them: shortest first, so a group pads little
    max_context = max(map(len, prompts)) + args.new_tokens
    print(f"{torch.cuda.get_device_name() if on_gpu else 'CPU'}, torch {torch.__version__}; {args.rows} rows, prompts "
          f"{min(map(len, prompts))}-{max(map(len, prompts))} tokens (mean {sum(map(len, prompts)) / len(prompts):.0f}); "
          f"rows of up to {max_context} tokens (the ring may round up)", flush=True)

    src = torch.empty(2**32 if on_gpu else 2**28, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    sync()
    started = time.perf_counter()
    for _ in range(5):
        dst.copy_(src)
    sync()
    bandwidth = 2 * src.numel() * 5 / (time.perf_counter() - started)
    del src, dst
    print(f"copy bandwidth {bandwidth / 1e12:.2f} TB/s (read + write)", flush=True)

    sizes = [int(s) for s in args.prefill_tokens.split(",")]
    eos = {int(e) for e in (config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id])}
    started = time.perf_counter()
    decoder = StaticDecoder(model, [args.rows], max_context, eos, 0, use_cuda_graphs=on_gpu and args.steps > 0,
                            prefill_tokens=sizes[0])
    decoder.warm_up()
    print(f"compile + capture {time.perf_counter() - started:.1f} s; step {decoder.step_mode}; "
          f"fallbacks {decoder.fallbacks or 'none'}", flush=True)
    fusable, own_attention = decoder.prefill_norms, decoder.prefill_attention
    chosen_attention = {"decoder": own_attention, "torch": None}
    every = max(1, len(prompts) // max(1, args.prefill_rows))
    variants = [(size, norms, attention) for size in sizes for norms in args.norms.split(",")
                for attention in args.attention.split(",")] if args.prefill_rows else []
    for index, (group_tokens, norms, attention) in enumerate(variants):  # one decoder (one ring) for all
        decoder.prefill_tokens = group_tokens
        decoder.prefill_norms = fusable if norms == "fused" else []
        decoder.prefill_attention = chosen_attention.get(attention, tuple(attention.split("+")))
        # Each variant takes its own rows, so its first admit meets group shapes no earlier one ran:
        # the "cold" time includes whatever a kernel library builds per new shape.
        rows = [Row(p, args.new_tokens, args.new_tokens, True, key=i) for i, p in enumerate(prompts)]
        rows = rows[index % every :: every][: args.prefill_rows]
        print(f"\n== prefill in groups of up to {group_tokens} tokens, RMSNorm {norms} "
              f"({len(decoder.prefill_norms)} layers swapped), attention {attention} "
              f"({'+'.join(decoder.prefill_attention) if decoder.prefill_attention else 'torch chooses'})", flush=True)
        timed = []
        for attempt in range(3):  # cold, profiled, warm
            decoder.evict_all()
            padded, groups = decoder.padded_tokens, decoder.prefills_run
            sync()
            started = time.perf_counter()
            if attempt == 1:
                with profile(activities=activities) as prof:
                    decoder.admit(rows, lambda *_: None)
                    sync()
            else:
                decoder.admit(rows, lambda *_: None)
                sync()
            timed.append(time.perf_counter() - started)
        padded = decoder.padded_tokens - padded
        cold, profiled, seconds = timed
        print(f"  prefill: {seconds:.3f} s for {len(rows)} rows in {decoder.prefills_run - groups} groups, "
              f"{padded:,} padded tokens, {2 * shape.block_parameters * padded / seconds / 1e12:.0f} TFLOP/s "
              f"(cold: {cold:.3f} s, profiled: {profiled:.3f} s)", flush=True)
        print("\n".join(top_kernels(prof, args.top)), flush=True)
    decoder.prefill_norms, decoder.prefill_attention = fusable, own_attention
    decoder.evict_all()

    if not args.steps:
        return
    # Decode with every slot live.
    decoder.evict_all()
    decoder.admit([Row(p, args.new_tokens, args.new_tokens, True, key=i) for i, p in enumerate(prompts)], lambda *_: None)
    for _ in range(3):
        decoder.step(lambda *_: None)
    sync()
    started = time.perf_counter()
    for _ in range(args.steps):
        decoder.step(lambda *_: None)
    per_step = (time.perf_counter() - started) / args.steps
    context = sum(map(len, prompts)) / len(prompts) + 3 + args.steps / 2
    live_bytes = shape.weight_bytes(2) + args.rows * context * shape.kv_bytes_per_token(2)
    ring_bytes = shape.weight_bytes(2) + args.rows * decoder.max_context * shape.kv_bytes_per_token(2)
    print(f"\n== decode, {args.rows} rows live: {per_step * 1e3:.1f} ms per step (graph replay); floor "
          f"{live_bytes / bandwidth * 1e3:.1f} ms reading live columns, {ring_bytes / bandwidth * 1e3:.1f} ms reading "
          f"the whole ring ({decoder.max_context} columns)", flush=True)
    size = decoder.largest
    step_args = (decoder.tokens[:size], decoder.positions[:size], decoder.mask[:size], decoder.ban_eos[:size],
                 decoder.chosen[:size])
    with torch.no_grad():
        with profile(activities=activities) as prof:
            for _ in range(3):
                decoder._step_fn(*step_args)
            sync()
    print("  3 steps of the compiled step without the graph:")
    print("\n".join(top_kernels(prof, args.top)), flush=True)


if __name__ == "__main__":
    main()
