"""Hugging Face transformers backend: CUDA when present, else CPU.

``decode_path=static`` runs continuous batching (``static_decode.py``). The rest of this note is the
eager path, the reference. Concurrency model (README, "How the hf backend batches"): one worker thread runs batched
greedy ``generate`` calls. Each call takes up to ``batch_size`` waiting requests: Offline
requests are taken shortest-prompt-first so padding stays small, streaming requests in
arrival order. A request that arrives while a batch decodes waits for the next batch (dynamic
batching, not continuous batching). Within a batch every row is reported the moment it ends:
its first token as soon as prefill produces it, its completion when it emits EOS or reaches
``max_new_tokens``, not when the slowest row of the batch finishes.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from mlnb.backends.base import Backend, Request, ResponseSink
from mlnb.models.embedded import resolve_model
from mlnb.secrets import export_hf_token


def pick_device(requested: str) -> str:
    """The device to run on; ``auto`` takes the CUDA GPU with the most free memory (the CPU without one) and says so."""
    if requested != "auto":
        return requested
    from mlnb.backends.device_choice import choose_devices, cuda_free_memory

    devices, why = choose_devices(1, cuda_free_memory())
    print(why, flush=True)
    return devices[0]


def pick_dtype(requested: str, device: str):
    import torch

    if requested == "auto":
        # bf16 is the MLPerf reference dtype on GPUs. On CPUs without bf16 matrix units, bf16
        # prefill measured 4x slower than fp32 (2-core AVX-512 machine), so CPUs get fp32.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return getattr(torch, requested)
    except AttributeError:
        from mlnb.errors import InputError

        raise InputError(f"dtype {requested!r}", "expected auto, bfloat16, float16 or float32") from None


class _RowStreamer:
    """A transformers streamer that sees each decode step of a batch and reports rows as they end."""

    def __init__(self, sink: ResponseSink, batch: list[Request], eos_ids: set[int]):
        self.sink = sink
        self.batch = batch
        self.eos_ids = eos_ids
        self.tokens: list[list[int]] = [[] for _ in batch]
        self.finished = [False] * len(batch)
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first passes the prompt ids
            self._prompt_seen = True
            return
        step = value.reshape(-1).tolist()
        for row, token in enumerate(step):
            if self.finished[row]:
                continue
            request = self.batch[row]
            self.tokens[row].append(int(token))
            if len(self.tokens[row]) == 1 and request.stream:
                self.sink.first_token(request, self.tokens[row][:1])
            if int(token) in self.eos_ids or len(self.tokens[row]) >= request.max_new_tokens:
                self._finish(row)

    def end(self) -> None:
        for row in range(len(self.batch)):
            if not self.finished[row]:
                self._finish(row)

    def _finish(self, row: int) -> None:
        self.finished[row] = True
        self.sink.complete(self.batch[row], self.tokens[row])


class HFBackend(Backend):
    def load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        export_hf_token()
        p = self.params
        self.model_path = resolve_model(p.model)
        self.device = pick_device(p.device)
        self.dtype = pick_dtype(p.dtype, self.device)
        # Decided before anything is built, so every compile of this load uses the run folder's cache.
        self.compile_cache_note = None
        if p.decode_path == "static" and self.device.startswith("cuda"):
            self.compile_cache_note = use_run_compile_cache(Path(p.run_dir))
        torch.manual_seed(p.seed)
        started = time.monotonic()
        self._tokenizer = self._load_tokenizer(AutoTokenizer)
        if p.load_format == "dummy":
            # The real architecture from config.json, random weights built on the device (seconds).
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(self.model_path)
            with torch.device(self.device):
                self.model = AutoModelForCausalLM.from_config(config, dtype=self.dtype)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=self.dtype).to(self.device)
        self.model.eval()
        self.load_seconds = time.monotonic() - started
        eos = self.model.generation_config.eos_token_id
        if eos is None and self._tokenizer is not None:
            eos = self._tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = self._tokenizer.pad_token_id if self._tokenizer is not None else None
        if self.pad_id is None:
            self.pad_id = min(self.eos_ids)
        self._pending: list[Request] = []
        self._cv = threading.Condition()
        self._stopping = False
        self.batches_run = 0
        self.static_batches_run = 0
        self.decoder = None
        self.static_facts: dict[str, Any] = {}
        self._warm_up()
        if p.decode_path == "static":
            self._build_static_decoder()
        self.profile_window = None
        if p.profile:  # opened by the worker at its first measured batch
            from mlnb.backends.profile_window import ProfileWindow

            self.profile_window = ProfileWindow(Path(p.run_dir) / p.stage, self.device, p.profile_batches)

    def _load_tokenizer(self, auto_tokenizer):
        folder = Path(self.model_path)
        if self.params.load_format == "dummy" and folder.is_dir() and not any(
            (folder / name).exists() for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
        ):
            return None  # an architecture-only folder: prompts come from the dataset's tok_input
        return auto_tokenizer.from_pretrained(self.model_path)

    def _warm_up(self) -> None:
        # One tiny generate so first-call costs (allocations, kernel selection) are not measured.
        self._generate([Request(-1, -1, [self.pad_id] * 8, False, 2, 1)], _NullSink())

    def _build_static_decoder(self) -> None:
        # Sized and compiled here, in load(), so LoadGen never measures it.
        import torch

        from mlnb.backends.batch_sizing import ModelShape, rows_that_fit, static_batch_sizes
        from mlnb.backends.kv_ring import ring_columns
        from mlnb.backends.static_decode import StaticDecoder
        from mlnb.errors import InputError

        p = self.params
        started = time.monotonic()
        graphs = self.device.startswith("cuda")
        max_context = ring_columns(self._max_context(), on_gpu=graphs)  # sized as the decoder will round it
        free = free_memory_bytes(self.device)
        dtype_bytes = torch.finfo(self.dtype).bits // 8
        # Whole prompts go through prefill in groups of this many tokens: large on GPUs, where a wide
        # forward runs near the matrix units' peak; on CPUs a group's cost is its tokens either way.
        prefill_tokens = 16384 if self.device.startswith("cuda") else 2048
        rows = rows_that_fit(free, ModelShape.from_config(self.model.config), dtype_bytes, max_context, prefill_tokens)
        # SingleStream has one query in flight at a time: one size, batch 1, as MLPerf measures it.
        limit = 1 if p.scenario == "SingleStream" else p.static_max_batch
        sizes = static_batch_sizes(rows, limit, streaming=p.scenario != "Offline", compiled=graphs)
        if not sizes:
            raise InputError(
                "decode_path 'static'", f"no KV cache of {max_context} tokens fits in {free / 2**30:.1f} GiB free memory"
            )
        self.decoder = StaticDecoder(
            self.model, sizes, max_context, self.eos_ids, self.pad_id, use_cuda_graphs=graphs, prefill_tokens=prefill_tokens
        )
        self.decoder.warm_up()  # CPUs run the step uncompiled: nothing to compile or record
        self.static_facts = {
            "batch_sizes": sizes,
            "max_context": max_context,
            "rows_that_fit": rows,
            "free_memory_gib": round(free / 2**30, 2),
            "cuda_graphs": graphs,
            "prefill_tokens": prefill_tokens,
            "prefill_fused_norms": len(self.decoder.prefill_norms),
            "prefill_attention": list(self.decoder.prefill_attention or []) or "torch's choice",
            "step": self.decoder.step_mode,
            "compile_cache": self.compile_cache_note,
            "fallbacks": self.decoder.fallbacks,
            "record_seconds": self.decoder.record_seconds,  # per batch size; the first includes the compile
            "compile_seconds": round(time.monotonic() - started, 2),
        }

    def _max_context(self) -> int:
        """The longest prompt of this run's samples plus max_new_tokens: each static cache row's length."""
        # The stage's own workload decides how prompts are read (CNN/DM, DeepSeek-R1, ...).
        from mlnb.workloads import load_records, workload_for

        workload = workload_for(self.params)
        records = load_records(self.params)
        if self.params.samples is not None:
            records = records[: self.params.samples]
        tokenizer = self._tokenizer
        if tokenizer is None and workload.needs_tokenizer:  # an architecture-only folder (random weights)
            from mlnb.models.tokenizer_at_hand import tokenizer_at_hand

            tokenizer = tokenizer_at_hand(self.params).tokenizer
        prompts = workload.prompts(records, tokenizer).token_ids
        return max(len(ids) for ids in prompts) + self.params.max_new_tokens

    def tokenizer(self):
        return self._tokenizer

    def start(self, sink: ResponseSink) -> None:
        self.sink = sink
        self._stopping = False  # a backend can be started again after stop()
        self._thread = threading.Thread(target=self._worker, name="hf-backend", daemon=True)
        self._thread.start()

    def submit(self, requests: list[Request]) -> None:
        with self._cv:
            self._pending.extend(requests)
            self._cv.notify()

    def _take_batch(self) -> list[Request]:
        streaming = [r for r in self._pending if r.stream]
        limit = self.decoder.largest if self.decoder is not None else self.params.batch_size
        if streaming:  # arrival order: a Server query must not be overtaken indefinitely
            batch = streaming[:limit]
        else:
            self._pending.sort(key=lambda r: len(r.prompt_ids))  # length-bucketed batches
            batch = self._pending[:limit]
        taken = {id(r) for r in batch}
        self._pending = [r for r in self._pending if id(r) not in taken]
        return batch

    def _generate(self, batch: list[Request], sink: ResponseSink) -> None:
        """Decode a whole batch outside the worker (warm-up, scripts): the static path when it holds them."""
        if self.decoder is not None and all(self.decoder.fits(request_row(r)) for r in batch):
            self._generate_static(batch, sink)
        else:
            self._generate_eager(batch, sink)

    def _generate_static(self, batch: list[Request], sink: ResponseSink) -> None:
        self.decoder.generate([request_row(r) for r in batch], _token_reporter(sink, set()))
        self.batches_run += 1
        self.static_batches_run += 1

    def _worker(self) -> None:
        if self.decoder is not None:
            return self._continuous_worker()
        while True:
            with self._cv:
                while not self._pending and not self._stopping:
                    self._cv.wait()
                if self._stopping and not self._pending:
                    return
                batch = self._take_batch()
            if self.profile_window is not None:
                self.profile_window.before_batch(len(batch))
            self._generate_eager(batch, self.sink)
            if self.profile_window is not None:
                self.profile_window.after_batch()

    def _continuous_worker(self) -> None:
        """Static path: rows join between decode steps as slots free up (continuous batching)."""
        decoder = self.decoder
        while True:
            with self._cv:
                while not self._pending and not decoder.live and not self._stopping:
                    self._cv.wait()
                if self._stopping and not self._pending and not decoder.live:
                    return
                joining, too_long = self._take_joining(decoder.free_slots())
            if self.profile_window is not None:
                self.profile_window.before_batch(decoder.live + len(joining))
            if too_long:  # longer than the ring holds: the eager reference path, alone
                self._generate_eager(too_long, self.sink)
            self._decode_static(joining)
            if self.profile_window is not None:
                self.profile_window.after_batch()

    def _take_joining(self, room: int) -> tuple[list[Request], list[Request]]:
        """Up to ``room`` waiting requests (streaming ones in arrival order, else shortest first)."""
        if not room or not self._pending:
            return [], []
        if not any(r.stream for r in self._pending):
            self._pending.sort(key=lambda r: len(r.prompt_ids))  # rows of a prefill group pad less
        joining, too_long = [], []
        while self._pending and len(joining) < room:
            request = self._pending.pop(0)
            (joining if self.decoder.fits(request_row(request)) else too_long).append(request)
        return joining, too_long

    def _decode_static(self, joining: list[Request]) -> None:
        """Admit ``joining`` and run one decode step; a failure ends every request in flight with its error."""
        sink = self.sink
        completed: set[int] = set()
        on_token = _token_reporter(sink, completed)
        try:
            if joining:
                self.decoder.admit([request_row(r) for r in joining], on_token)
                self.batches_run += 1
                self.static_batches_run += 1
            self.decoder.step(on_token)
        except Exception as err:  # end every request in flight with the error, so LoadGen can end the run
            error = f"{type(err).__name__}: {err}"
            for live in self.decoder.evict_all():
                completed.add(id(live.row.key))
                sink.complete(live.row.key, list(live.tokens), error=error)
            for request in joining:
                if id(request) not in completed:
                    sink.complete(request, [], error=error)

    def _generate_eager(self, batch: list[Request], sink: ResponseSink) -> None:
        import torch

        width = max(len(r.prompt_ids) for r in batch)
        # Left padding keeps every row's last prompt token in the last column, as generate expects.
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            n = len(request.prompt_ids)
            ids[row, width - n :] = torch.tensor(list(request.prompt_ids), dtype=torch.long)
            mask[row, width - n :] = 1
        ignore_eos = any(r.ignore_eos for r in batch)
        # An empty EOS list: generate neither stops at EOS nor pads a row after it.
        eos_ids = set() if ignore_eos else self.eos_ids
        streamer = _RowStreamer(sink, batch, eos_ids)
        try:
            with torch.inference_mode():
                self.model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    max_new_tokens=max(r.max_new_tokens for r in batch),
                    min_new_tokens=min(r.min_new_tokens for r in batch),
                    do_sample=False,
                    pad_token_id=self.pad_id,
                    eos_token_id=sorted(eos_ids),
                    streamer=streamer,
                )
        except Exception as err:  # report every unfinished request so LoadGen can end the run
            for row, request in enumerate(batch):
                if not streamer.finished[row]:
                    streamer.finished[row] = True
                    sink.complete(request, streamer.tokens[row], error=f"{type(err).__name__}: {err}")
        self.batches_run += 1

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout=self.params.timeout_s)
        if self.profile_window is not None:  # a stage shorter than the window still gets its trace
            self.profile_window.close()

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        info: dict[str, Any] = {
            "backend": "hf",
            "simulated": False,
            "engine": f"transformers {transformers.__version__}",
            "torch": torch.__version__,
            "model_path": self.model_path,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "load_format": self.params.load_format,
            "batch_size": self.params.batch_size,
            "load_seconds": round(self.load_seconds, 2),
            "eos_token_ids": sorted(self.eos_ids),
            "concurrency": (
                f"dynamic batching: up to {self.params.batch_size} requests per generate call; "
                "requests arriving during a batch wait for the next one"
            ),
            "decode_path": self.params.decode_path,
        }
        if self.profile_window is not None and self.profile_window.result is not None:
            info["profile"] = self.profile_window.result
        if self.decoder is not None:
            info["batch_size"] = self.decoder.largest
            info["concurrency"] = (
                f"continuous batching: {self.decoder.largest} slots (sized from free memory), steps recorded at "
                f"{', '.join(map(str, self.decoder.batch_sizes))} rows; a request joins at the next step after "
                "its prefill, and leaves its slot when it ends"
            )
            info["static_decode"] = {**self.static_facts, **self.decoder.time_split()}
        if self.device.startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(torch.device(self.device))
        else:
            info["cpu_threads"] = torch.get_num_threads()
        return info


def use_run_compile_cache(run_dir: Path) -> str:
    """Point inductor's on-disk cache at the run folder, so later stages of the run reuse its kernels.

    A folder the user set is kept. Importing ``torch._dynamo`` (transformers does) sets the variable to
    inductor's default folder, so that value does not count as the user's: taking it as theirs left every
    stage compiling into the default folder while the run folder's cache stayed empty.
    """
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current and current != _inductor_default_cache_dir():
        return f"TORCHINDUCTOR_CACHE_DIR from the environment ({current})"
    folder = run_dir / "compile-cache"
    warm = folder.is_dir() and any(folder.iterdir())
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)  # read by inductor when it first compiles
    return f"{folder.name}/ in the run folder ({'reused' if warm else 'new'})"


def _inductor_default_cache_dir() -> str | None:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # moved in another torch release: any value set counts as the user's
        return None
    return default_cache_dir()


def _token_reporter(sink: ResponseSink, completed: set[int]):
    """The static path's callback: a streaming request's first token, then its completion (noted in ``completed``)."""

    def on_token(row, tokens: list[int], done: bool) -> None:
        request = row.key
        if len(tokens) == 1 and request.stream:
            sink.first_token(request, tokens[:1])
        if done:
            completed.add(id(request))
            sink.complete(request, list(tokens))

    return on_token


def request_row(request: Request):
    from mlnb.backends.static_decode import Row

    return Row(request.prompt_ids, request.max_new_tokens, request.min_new_tokens, request.ignore_eos, key=request)


def free_memory_bytes(device: str) -> int:
    """Free memory where the KV caches will live: the GPU's, or the host's on CPUs."""
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class _NullSink:
    def first_token(self, request: Request, token_ids: Sequence[int]) -> None:
        pass

    def complete(self, request: Request, token_ids: Sequence[int], error: str | None = None) -> None:
        pass
