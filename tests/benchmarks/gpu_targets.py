"""The GPU targets of the hf backend, each measured beside its physical floor or ceiling.

    python tests/benchmarks/gpu_targets.py                       # on a CUDA machine: Llama-3.1-8B, bf16, random weights
    python tests/benchmarks/gpu_targets.py --only bandwidth,singlestream,offline
    python tests/benchmarks/gpu_targets.py --tiny                # a quick self-check on a CPU (tiny config)

It prints one table. Every figure is measured in this call on this machine:

- copy bandwidth: a device-to-device copy of a large buffer, bytes read + bytes written per second;
  matmul throughput: a large square matmul in the model's dtype (the compute ceiling).
- Greedy tokens of the static path (8 rows through 4 slots, so rows join as others leave) against
  eager ``generate`` of each prompt alone, on the embedded model's architecture with random weights, in
  float32 (target: identical) and bfloat16 (the agreement rate). The GPU bundle carries no model
  weights; the CPU test in tests/integration/test_static_decode.py checks the real weights in fp32.
- SingleStream TPOT at batch 1 on the static decode path (compiled layer + CUDA graph), against the
  floor = bytes read per decode step / copy bandwidth, where bytes = all weights + the KV cache at the
  mean context (prompt + half the output). Target: at most 1.4 x the floor. Eager ``generate`` beside it.
- Offline tokens/s on the CNN/DailyMail shape (prompts from the embedded set, output lengths from its
  reference summaries capped at 128) through LoadGen, against the speed-of-light ceiling for that shape:
  per output token, one decode step at the largest batch that fits in memory (the slower of its bytes
  / bandwidth and its FLOPs / matmul throughput) divided by that batch, plus the prompt's prefill FLOPs
  spread over its output tokens. Target: at least half the ceiling.
- Server: the highest target QPS (and, beside Offline, QPS x mean output tokens / Offline tok/s,
  target >= 0.6) at which LoadGen says VALID under TTFT 2 s / TPOT 100 ms, and under
  the interactive 500 ms / 30 ms: a ladder (x2 up while VALID, /2 down while INVALID) then bisection
  (mlnb/sweep/search.py's ``next_qps``). Each trial runs at least the queries LoadGen's early stopping
  needs to pass with none over the limit (459 at p99), or ``qps x --server-seconds`` if more; a trial
  that met its latency limits but failed early stopping alone is rerun once with the count LoadGen
  said it would need. Min duration ``--server-seconds`` is far below MLPerf's 600 s: a search figure,
  not a submission. LoadGen runs in this process with settings set field by field, without
  mlperf.conf, so its seeds are LoadGen's defaults.

The table is printed as it goes: its header first, then each section's rows as soon as the section
has finished, so a long run shows what it has found so far.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlnb.backends.base import Request  # noqa: E402
from mlnb.backends.hf import request_row  # noqa: E402
from mlnb.backends.registry import get_backend  # noqa: E402
from mlnb.backends.batch_sizing import ModelShape, rows_that_fit  # noqa: E402
from mlnb.config import StageParams  # noqa: E402
from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm  # noqa: E402
from mlnb.data.output_lengths import plan_output_lengths  # noqa: E402
from mlnb.sweep.search import early_stopping_min_queries, more_queries_needed, next_qps  # noqa: E402

LLAMA = ROOT / "mlnb" / "configs" / "llama-3.1-8b-instruct"
TINY = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128, "intermediate_size": 256,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
    "vocab_size": 128256, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "bos_token_id": 128000, "eos_token_id": [128001, 128009], "tie_word_embeddings": False,
}
# SmolLM2-135M-Instruct's architecture (the embedded model), for the token check: the GPU bundle
# carries no weights, so the check runs it with random ones.
EMBEDDED_ARCH = json.loads((ROOT / "mlnb" / "configs" / "smollm2-135m-instruct" / "config.json").read_text())
SECTIONS = ("bandwidth", "tokens", "singlestream", "offline", "server", "interactive")
TPOT_TARGET = 1.4  # x the floor (issue target for batch-1 decode)
SERVER_TARGET = 0.6  # highest VALID Server QPS x output tokens / Offline tok/s
COMPILE_TARGET_S = 60.0  # compile + graph capture for one model's batch sizes
LIMITS = {"server": (2000.0, 100.0), "interactive": (500.0, 30.0)}  # Llama-3.1-8B TTFT, TPOT in ms


def tiny_model_folder() -> Path:
    """A new folder holding the tiny config (random weights), for CPU self-checks."""
    folder = Path(tempfile.mkdtemp(prefix="tiny-llama-"))
    (folder / "config.json").write_text(json.dumps(TINY))
    return folder


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_copy_bandwidth(device: str, mib: int) -> float:
    """Bytes read + written per second by a device-to-device copy (best of a few)."""
    import torch

    n = mib * 2**20
    src = torch.empty(n, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = math.inf
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        for _ in range(10):
            dst.copy_(src)
        sync(device)
        best = min(best, (time.perf_counter() - t) / 10)
    del src, dst
    return 2 * n / best


def measure_matmul_flops(device: str, dtype, size: int) -> float:
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(3):
        sync(device)
        t = time.perf_counter()
        for _ in range(5):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / 5)
    return 2 * size**3 / best


class Recorder:
    """A sink that keeps every token's arrival time."""

    def __init__(self, n: int):
        self.n, self.done = n, threading.Event()
        self.times: dict[int, list[float]] = {}
        self.tokens: dict[int, list[int]] = {}

    def first_token(self, request, ids):
        self.times.setdefault(request.request_id, []).append(time.perf_counter())

    def complete(self, request, ids, error=None):
        if error:
            raise RuntimeError(error)
        self.tokens[request.request_id] = list(ids)
        self.times.setdefault(request.request_id, []).append(time.perf_counter())
        if len(self.tokens) == self.n:
            self.done.set()


def params_for(args, scenario: str, decode_path: str = "static", **extra) -> StageParams:
    values = dict(
        backend="hf", model=str(args.model), load_format="dummy", scenario=scenario, decode_path=decode_path,
        samples=args.samples, max_new_tokens=args.max_new_tokens, static_max_batch=args.max_batch, device=args.device,
        dtype=args.dtype, tokenizer=args.tokenizer, seed=0,
    )
    return StageParams(**{**values, **extra})


PREFILL_ATTENTION: tuple[str, ...] | None = None  # --prefill-attention: SDPA kernels for the static prefill


def load_backend(params: StageParams):
    backend = get_backend("hf")(params)
    t = time.perf_counter()
    backend.load()
    if PREFILL_ATTENTION and getattr(backend, "decoder", None) is not None:
        backend.decoder.prefill_attention = PREFILL_ATTENTION
    return backend, time.perf_counter() - t


def free_backend(backend) -> None:
    import torch

    if getattr(backend, "decoder", None) is not None:
        backend.decoder.release()  # a caller's local reference must not keep the ring alive
    backend.decoder = None
    backend.model = None
    # The compiled step's code cache still refers to its decoder (and so to its ring): drop it too.
    # Without this the Offline section's 60 GiB outlived it, and the Server section's load ran out of memory.
    torch._dynamo.reset()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def decode_tpot(backend, prompt: list[int], new_tokens: int, decode_path: str) -> tuple[float, list[int]]:
    """Mean time per output token after the first, at batch 1, on the given path."""
    backend.params = backend.params.model_copy(update={"decode_path": decode_path})
    decoder, backend.decoder = backend.decoder, (backend.decoder if decode_path == "static" else None)
    rec = Recorder(1)
    backend.start(rec)
    backend.submit([Request(0, 0, prompt, True, new_tokens, 1, ignore_eos=True)])
    assert rec.done.wait(3600)
    backend.stop()
    backend.decoder = decoder
    first, last = rec.times[0][0], rec.times[0][-1]
    return (last - first) / max(1, len(rec.tokens[0]) - 1), rec.tokens[0]


def loadgen_run(backend, params: StageParams, scenario: str, qps: float, seconds: float, queries: int, ttft_ms=None, tpot_ms=None):
    """One LoadGen test in this process, with settings set field by field (no mlperf.conf)."""
    import mlperf_loadgen as lg

    from mlnb.harness.sut import LoadgenSUT
    from mlnb.logs.mlperf_log import parse_loadgen_dir

    records = load_cnndm(EMBEDDED_DATASET)[: params.samples]
    vocab = backend.model.config.vocab_size
    prompts = [[t % vocab for t in r["tok_input"]] for r in records]
    lengths = plan_output_lengths("reference", records, params.max_new_tokens, 1, backend.tokenizer() or _tokenizer(params))
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Offline if scenario == "Offline" else lg.TestScenario.Server
    settings.mode = lg.TestMode.PerformanceOnly
    settings.use_token_latencies = True
    settings.min_duration_ms = int(seconds * 1000)
    settings.min_query_count = queries
    if scenario == "Offline":
        settings.offline_expected_qps = qps
    else:
        settings.server_target_qps = qps
        settings.server_target_latency_ns = 0
        settings.server_target_latency_percentile = 0.99
        settings.ttft_latency = int(ttft_ms * 1e6)
        settings.tpot_latency = int(tpot_ms * 1e6)
    out = Path(tempfile.mkdtemp(prefix="gpu-targets-"))
    log = lg.LogSettings()
    log.log_output.outdir = str(out)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    sut = LoadgenSUT(backend, prompts, scenario != "Offline", params.max_new_tokens, 1, lengths.limits, lengths.ignore_eos)
    backend.start(sut)
    lg_sut = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
    lg_qsl = lg.ConstructQSL(len(prompts), len(prompts), lambda _: None, lambda _: None)
    try:
        lg.StartTestWithLogSettings(lg_sut, lg_qsl, settings, log)
    finally:
        backend.stop()
        lg.DestroyQSL(lg_qsl)
        lg.DestroySUT(lg_sut)
    return parse_loadgen_dir(out), lengths, prompts


def _tokenizer(params: StageParams):
    from mlnb.models.tokenizer_at_hand import tokenizer_at_hand

    return tokenizer_at_hand(params).tokenizer


def offline_ceiling(shape: ModelShape, dtype_bytes: int, bandwidth: float, flops: float, free: int, isl: float, osl: float, max_context: int) -> tuple[float, int]:
    """Speed-of-light output tokens/s for a prompt/output shape; the batch it assumes."""
    # FLOPs per token: 2 per weight it multiplies through; decode adds the output head, prefill does
    # not (only its last position reaches the head). Attention's own FLOPs are left out (small at these contexts).
    decode_params = shape.block_parameters + shape.vocab * shape.hidden
    batch = max(1, rows_that_fit(free, shape, dtype_bytes, max_context, reserve_fraction=0.0))
    context = isl + osl / 2
    step_bytes = shape.weight_bytes(dtype_bytes) + batch * context * shape.kv_bytes_per_token(dtype_bytes)
    step = max(step_bytes / bandwidth, 2 * decode_params * batch / flops)
    prefill_per_token = 2 * shape.block_parameters * isl / flops / osl
    return 1.0 / (step / batch + prefill_per_token), batch


def compile_row(label: str, facts: dict) -> tuple[str, str, str, str]:
    """The load's compile + capture time against its target, with the state of inductor's cache: only a
    new (empty) cache gives the cold figure the target is about; a reused one makes it look far shorter."""
    seconds = facts.get("compile_seconds")
    met = "met" if seconds is not None and seconds <= COMPILE_TARGET_S else "NOT met"
    if not facts.get("cuda_graphs"):
        met = "no target: nothing is compiled without CUDA"
    return (label, f"{seconds} s", f"target <= {COMPILE_TARGET_S:.0f} s ({met}); sizes "
            f"{', '.join(map(str, facts.get('batch_sizes', [])))}; cache {facts.get('compile_cache')}", "")


def trial_queries(qps: float, seconds: float, needed: int | None = None) -> int:
    """Queries for one Server trial: enough for early stopping to pass with none over the limit (459 at
    p99), the trial's duration at this rate if that is more, or what LoadGen said it would need."""
    return max(early_stopping_min_queries(), math.ceil(qps * seconds), needed or 0)


def trial_estimate_s(qps: float, seconds: float, queries: int) -> float:
    """How long LoadGen will issue for: until both the minimum duration and the query count are met."""
    return max(seconds, queries / qps)


@dataclass
class Trial:
    qps: float
    queries: int
    valid: bool
    p99_ttft_ms: float | None = None
    p99_tpot_ms: float | None = None
    needs_more: int | None = None  # early stopping alone failed: LoadGen's "would need N more queries"


def search_highest_valid(run_trial, start: float, seconds: float, max_trials: int, tolerance: float = 0.1,
                         factor: float = 2.0) -> tuple[float | None, list[Trial]]:
    """The highest VALID QPS: ``run_trial(qps, queries) -> Trial`` at the rates ``next_qps`` picks.

    A trial that failed on early stopping alone is run once more, sized by LoadGen's estimate; only
    its second outcome counts. At most ``max_trials`` LoadGen runs in all.
    """
    tried: list[Trial] = []
    history: list[tuple[float, bool]] = []
    while len(tried) < max_trials:
        qps = next_qps(history, start, factor, tolerance)
        if qps is None:
            break
        trial = run_trial(qps, trial_queries(qps, seconds))
        tried.append(trial)
        if not trial.valid and trial.needs_more and len(tried) < max_trials:
            trial = run_trial(qps, trial_queries(qps, seconds, math.ceil((trial.queries + trial.needs_more) * 1.1)))
            tried.append(trial)
        history.append((qps, trial.valid))
    valid = [trial.qps for trial in tried if trial.valid]
    return (max(valid) if valid else None), tried


def highest_valid_qps(backend, params, start: float, seconds: float, ttft_ms: float, tpot_ms: float, trials: int):
    """The search against the real backend through LoadGen."""

    def run_trial(qps: float, queries: int) -> Trial:
        print(f"    trial: {qps:.3g} QPS x {queries} queries (~{trial_estimate_s(qps, seconds, queries):.0f} s)", flush=True)
        result, _, _ = loadgen_run(backend, params, "Server", qps, seconds, queries, ttft_ms, tpot_ms)
        valid = result.validity == "VALID" and not result.num_errors
        p99 = lambda stats: (stats.percentiles.get("99.0") if stats else None)  # noqa: E731
        alone = (not valid and result.early_stopping_met is False and result.perf_constraints_met is not False
                 and result.min_duration_met is not False and not result.num_errors)
        return Trial(qps, queries, valid, p99(result.ttft), p99(result.tpot),
                     more_queries_needed(result.early_stopping) if alone else None)

    return search_highest_valid(run_trial, start, seconds, trials)


class TablePrinter:
    """The results table, printed as it grows: the header once, then each finished section's rows."""

    WIDTHS = (52, 20, 64)
    HEADER = ("figure", "measured", "floor / ceiling / target", "fraction")

    def __init__(self, title: str, out=None):
        self.out = out or sys.stdout
        self.rows: list[tuple[str, str, str, str]] = []
        print(title, file=self.out, flush=True)
        self._print(self.HEADER)
        self._print(tuple("-" * w for w in self.WIDTHS) + ("-" * 10,))

    def _print(self, row) -> None:
        cells = [str(c).ljust(w) for c, w in zip(row, self.WIDTHS)] + [str(row[3])]
        print("  ".join(cells).rstrip(), file=self.out, flush=True)

    def section(self, rows) -> None:
        """A section has finished: its rows go out now."""
        for row in rows:
            self.rows.append(row)
            self._print(row)


def check_tokens(args, rows):
    """Static path against eager ``generate`` (each prompt alone) on the embedded architecture, fp32 and bf16."""
    import torch

    folder = Path(tempfile.mkdtemp(prefix="embedded-arch-"))
    (folder / "config.json").write_text(json.dumps(EMBEDDED_ARCH))
    gen = torch.Generator().manual_seed(1)
    prompts = [[int(t) for t in torch.randint(3, EMBEDDED_ARCH["vocab_size"], (n,), generator=gen)] for n in (17, 64, 130, 255, 9, 300, 48, 77)]
    new = 32 if args.tiny else 64
    for dtype in ("float32", "bfloat16"):
        params = StageParams(backend="hf", model=str(folder), load_format="dummy", scenario="Server",
                             decode_path="static", samples=8, max_new_tokens=new, static_max_batch=4,
                             device=args.device, dtype=dtype, seed=0)
        backend, _ = load_backend(params)
        requests = [Request(i, i, p, True, new, new, ignore_eos=True) for i, p in enumerate(prompts)]
        assert all(backend.decoder.fits(request_row(r)) for r in requests), "the ring is sized from the dataset's prompts"
        static = Recorder(len(requests))
        backend._generate_static(requests, static)  # 8 rows through 4 slots: rows join as others leave
        equal = 0
        for request in requests:
            eager = Recorder(1)
            backend._generate_eager([request], eager)
            equal += eager.tokens[request.request_id] == static.tokens[request.request_id]
        rows.append((f"static = eager greedy tokens, embedded arch, {dtype}", f"{equal}/{len(requests)} rows identical",
                     f"{new} tokens each, random weights", "target: identical" if dtype == "float32" else "agreement rate"))
        free_backend(backend)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny config, CPU-sized workloads (a self-check)")
    ap.add_argument("--model", default=None, help="a config folder (default: Llama-3.1-8B-Instruct's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--tokenizer", default=None, help="tokenizer folder for the reference output lengths")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument("--server-seconds", type=float, default=None, help="min duration of each Server trial")
    ap.add_argument("--server-start-qps", type=float, default=None, help="first target QPS of the search")
    ap.add_argument("--server-trials", type=int, default=None, help="LoadGen runs per latency limit")
    ap.add_argument("--samples", type=int, default=None, help="dataset records used (the QSL size); default 64 (tiny: 8)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--offline-json", default=None,
                    help="an earlier call's --json file: its Offline tok/s and output length give the Server ratio")
    ap.add_argument("--compile-scope", default=None, choices=("layers", "step"),
                    help="what the static path compiles: one decoder layer reused by all, or the whole step")
    ap.add_argument("--prefill-attention", default=None,
                    help="SDPBackend names joined by + for the static prefill's attention (default: the decoder's)")
    args = ap.parse_args(argv)
    import torch

    global PREFILL_ATTENTION
    PREFILL_ATTENTION = tuple(args.prefill_attention.split("+")) if args.prefill_attention else None
    if args.compile_scope:
        from mlnb.backends.static_decode import StaticDecoder

        StaticDecoder.compile_scope = args.compile_scope

    only = set(args.only.split(","))
    if args.tiny:
        args.model = args.model or tiny_model_folder()
        args.samples, args.max_new_tokens, args.max_batch = args.samples or 8, 16, 4
        copy_mib, matmul, ss_prompt, ss_new, offline_queries = 64, 512, 64, 16, 16
        server_seconds, trials = args.server_seconds or 2.0, args.server_trials or 2
    else:
        args.model = args.model or LLAMA
        args.samples, args.max_new_tokens, args.max_batch = args.samples or 64, 128, 256
        copy_mib, matmul, ss_prompt, ss_new, offline_queries = 4096, 8192, 512, 128, 0
        server_seconds, trials = args.server_seconds or 20.0, args.server_trials or 6
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    args.device = device
    figures: dict[str, object] = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"}
    if args.offline_json:  # the Server ratio's denominator, measured by an earlier call on this machine kind
        earlier = json.loads(Path(args.offline_json).read_text())
        figures.update({key: earlier[key] for key in ("offline_tokens_per_s", "osl_mean") if key in earlier})

    config = json.loads((Path(args.model) / "config.json").read_text())
    shape = ModelShape.from_config(config)
    from mlnb.backends.hf import pick_dtype

    dtype = pick_dtype(args.dtype, device)
    dtype_bytes = torch.finfo(dtype).bits // 8
    table = TablePrinter(f"gpu_targets on {figures['device']} ({'tiny self-check' if args.tiny else Path(args.model).name}, "
                         f"{str(dtype).replace('torch.', '')}, random weights, {args.samples} samples"
                         + (f", prefill attention {args.prefill_attention}" if args.prefill_attention else "")
                         + (f", compile scope {args.compile_scope}" if args.compile_scope else "") + ")")
    figures["prefill_attention"] = args.prefill_attention or "the decoder's default"
    rows: list[tuple[str, str, str, str]] = []  # this section's rows: figure, measured, floor/ceiling, fraction
    bandwidth = measure_copy_bandwidth(device, copy_mib)
    flops = measure_matmul_flops(device, dtype, matmul)
    figures.update(copy_bandwidth_gbs=bandwidth / 1e9, matmul_tflops=flops / 1e12)
    rows.append(("copy bandwidth (read+write)", f"{bandwidth / 1e9:,.0f} GB/s", "", ""))
    rows.append((f"matmul {str(dtype).replace('torch.', '')} {matmul}^3", f"{flops / 1e12:,.3g} TFLOP/s", "", ""))
    table.section(rows)
    rows = []

    def guarded(name: str, section) -> None:
        """Run one section; a failure prints its traceback and one table row, and the next section still runs."""
        try:
            table.section(section())
        except Exception as err:  # noqa: BLE001 - a first run on new hardware: keep the other figures
            traceback.print_exc()
            figures.setdefault("failed", {})[name] = f"{type(err).__name__}: {err}"[:400]
            table.section([(f"{name}: FAILED", type(err).__name__, str(err).splitlines()[0][:64] if str(err) else "", "")])
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if args.json:  # after every section, so a run cut short still leaves its figures
            Path(args.json).write_text(json.dumps(figures, indent=2, default=str))

    if "tokens" in only:
        guarded("tokens", lambda: check_tokens(args, []))

    def singlestream():
        rows = []
        backend, load_s = load_backend(params_for(args, "SingleStream", static_max_batch=1))
        prompt = [int(t) for t in torch.randint(0, shape.vocab, (ss_prompt,), generator=torch.Generator().manual_seed(0))]
        static_tpot, static_tokens = decode_tpot(backend, prompt, ss_new, "static")
        eager_new = min(ss_new, 32)
        eager_tpot, eager_tokens = decode_tpot(backend, prompt, eager_new, "eager")
        context = ss_prompt + ss_new / 2
        floor = (shape.weight_bytes(dtype_bytes) + context * shape.kv_bytes_per_token(dtype_bytes)) / bandwidth
        same = next((i for i, (a, b) in enumerate(zip(static_tokens, eager_tokens)) if a != b), len(eager_tokens))
        figures.update(tpot_floor_ms=floor * 1e3, singlestream_tpot_ms=static_tpot * 1e3, eager_tpot_ms=eager_tpot * 1e3,
                       static_compile_s=backend.static_facts.get("compile_seconds"), tokens_equal_prefix=same,
                       tokens_compared=len(eager_tokens))
        target = "met" if static_tpot <= TPOT_TARGET * floor else "NOT met"
        rows.append(("TPOT floor, batch 1 (weights + KV at ctx)", f"{floor * 1e3:.2f} ms", f"ctx {context:.0f}", ""))
        graph = " + CUDA graph" if backend.static_facts.get("cuda_graphs") else " (no graph on CPU)"
        rows.append((f"SingleStream TPOT, static{graph}, batch 1", f"{static_tpot * 1e3:.2f} ms",
                     f"target <= {TPOT_TARGET * floor * 1e3:.2f} ms ({target})",
                     f"{static_tpot / floor:.2f}x floor"))
        rows.append(("  eager generate, batch 1", f"{eager_tpot * 1e3:.2f} ms", "", f"floor/TPOT {floor / eager_tpot:.0%}"))
        rows.append(("  static = eager greedy tokens", f"{same}/{len(eager_tokens)} equal", "first difference at the count" if same < len(eager_tokens) else "", ""))
        rows.append(compile_row(f"  compile + graph capture (load {load_s:.1f} s)", backend.static_facts))
        rows.append(("  step", str(backend.static_facts.get("step")), "", ""))
        for why in backend.static_facts.get("fallbacks", []):
            rows.append(("  fell back from", why[:150], "", ""))
        free_backend(backend)
        return rows

    if "singlestream" in only:
        guarded("singlestream", singlestream)

    def offline():
        rows = []
        params = params_for(args, "Offline")
        backend, load_s = load_backend(params)
        batch = backend.decoder.largest
        queries = offline_queries or 3 * batch
        decoder = backend.decoder
        before = (decoder.prefill_seconds, decoder.step_seconds, decoder.steps_run, decoder.rows_stepped,
                  decoder.prompt_tokens, decoder.padded_tokens)
        started = time.perf_counter()
        result, lengths, prompts = loadgen_run(backend, params, "Offline", 1000.0, 0.0, queries)
        wall = time.perf_counter() - started
        prefill_s, step_s, steps, rows_stepped, prompt_tokens, padded = (
            now - then for now, then in zip((decoder.prefill_seconds, decoder.step_seconds, decoder.steps_run,
                                             decoder.rows_stepped, decoder.prompt_tokens, decoder.padded_tokens), before))
        isl = sum(map(len, prompts)) / len(prompts)
        limits = lengths.limits or [params.max_new_tokens] * len(prompts)
        osl = sum(limits) / len(limits)
        free = backend.static_facts["free_memory_gib"] * 2**30  # after the weights, before the caches
        ceiling, ceiling_batch = offline_ceiling(shape, dtype_bytes, bandwidth, flops, int(free), isl, osl,
                                                 backend.static_facts["max_context"])
        tps = result.tokens_per_second or 0.0
        figures.update(offline_tokens_per_s=tps, offline_ceiling_tokens_per_s=ceiling, offline_batch=batch,
                       offline_ceiling_batch=ceiling_batch, isl_mean=isl, osl_mean=osl, output_lengths=lengths.note)
        target = "met" if tps >= ceiling / 2 else "NOT met"
        rows.append((f"Offline tokens/s, static batch {batch}, {queries} queries", f"{tps:,.0f} tok/s",
                     f"ceiling {ceiling:,.0f} (batch {ceiling_batch}); target >= {ceiling / 2:,.0f} ({target})",
                     f"{tps / ceiling:.0%} of ceiling"))
        rows.append(("  shape: mean prompt / output tokens", f"{isl:.0f} / {osl:.0f}", lengths.note, ""))
        rows.append(compile_row("  compile + graph capture (in load)", backend.static_facts))
        figures["offline_compile_s"] = backend.static_facts.get("compile_seconds")
        # Where the run's wall time went: prefill and decode end in a host read-back, so these are GPU-bound times.
        figures.update(offline_prefill_s=prefill_s, offline_decode_s=step_s, offline_wall_s=wall, offline_steps=steps,
                       offline_prefill_tflops=2 * shape.block_parameters * padded / max(prefill_s, 1e-9) / 1e12)
        rows.append(("  prefill: wall time, padded-token TFLOP/s",
                     f"{prefill_s:.1f} s", f"{2 * shape.block_parameters * padded / max(prefill_s, 1e-9) / 1e12:,.3g} TFLOP/s; "
                     f"padding {1 - prompt_tokens / max(padded, 1):.0%}", f"{prefill_s / wall:.0%} of wall"))
        rows.append(("  decode: wall time, steps, ms per step", f"{step_s:.1f} s",
                     f"{steps} steps, {1e3 * step_s / max(steps, 1):.1f} ms/step, {rows_stepped / max(steps, 1):.0f} rows/step "
                     f"(max_context {backend.static_facts['max_context']})", f"{step_s / wall:.0%} of wall"))
        free_backend(backend)
        return rows

    if "offline" in only:
        guarded("offline", offline)

    def search(name: str, holder: dict):
        rows = []
        ttft_ms, tpot_ms = LIMITS[name]
        # Slots up to 128: steps recorded at 1, 2, 4, ... 128 rows (one compile, one graph per size).
        params = params_for(args, "Server", static_max_batch=min(args.max_batch, 128))
        if holder.get("backend") is None:
            holder["backend"], load_s = load_backend(params)
            rows.append(compile_row("Server backend: compile + graph capture (in load)", holder["backend"].static_facts))
            figures["server_compile_s"] = holder["backend"].static_facts.get("compile_seconds")
        backend = holder["backend"]
        best, tried = highest_valid_qps(backend, params, args.server_start_qps or (16.0 if args.tiny else 8.0),
                                        server_seconds, ttft_ms, tpot_ms, trials)
        figures[f"{name}_highest_valid_qps"] = best
        figures[f"{name}_trials"] = [vars(trial) for trial in tried]
        rows.append((f"{name.capitalize()} highest VALID QPS (TTFT {ttft_ms:.0f} / TPOT {tpot_ms:.0f} ms)",
                     "none VALID" if best is None else f"{best:.2f} QPS",
                     f"{len(tried)} runs of >= {early_stopping_min_queries()} queries and >= {server_seconds:.0f} s",
                     "no floor: queueing"))
        if name == "server" and best is not None and figures.get("offline_tokens_per_s"):
            ratio = best * figures["osl_mean"] / figures["offline_tokens_per_s"]
            figures["server_over_offline"] = ratio
            rows.append(("  Server QPS x mean output tokens / Offline tok/s", f"{ratio:.2f}",
                         f"target >= {SERVER_TARGET} ({'met' if ratio >= SERVER_TARGET else 'NOT met'})", ""))
        for trial in tried:
            ttft, tpot = trial.p99_ttft_ms, trial.p99_tpot_ms
            rows.append((f"  {trial.qps:.3g} QPS x {trial.queries} queries", "VALID" if trial.valid else "INVALID",
                         f"p99 TTFT {ttft if ttft is None else round(ttft)} ms, p99 TPOT {tpot if tpot is None else round(tpot, 1)} ms"
                         + (f"; early stopping alone: {trial.needs_more} more needed" if trial.needs_more else ""), ""))
        return rows

    holder: dict = {}
    for name in ("server", "interactive"):
        if name in only:
            guarded(name, lambda name=name: search(name, holder))
    if holder.get("backend") is not None:
        free_backend(holder["backend"])
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    return 1 if figures.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
