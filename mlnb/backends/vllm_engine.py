"""vLLM in-process backend: the offline engine for Offline, the async engine for streaming scenarios.

Offline: one worker thread owns ``vllm.LLM``. Every request LoadGen issues is enqueued at once as a
token-id prompt, then the thread steps the engine (what ``LLM.generate`` does inside) and reports
each request the step it finishes, so a sample's completion time is its own, not the batch's.

Server, SingleStream, Interactive: ``AsyncLLM`` runs on ONE event loop in a dedicated thread for
the whole run. LoadGen's issue thread schedules one task per request on that loop; the task
streams deltas, reports the first token at once and the full token ids at the end. (The MLCommons
reference starts a new loop per query, which kills vLLM's engine: mlperf-reference.md 7.1.)

vLLM starts its engine core in a spawned process, so whatever builds this backend must run under
``if __name__ == "__main__":`` (``python -m mlnb.harness`` does).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from mlnb.backends.base import Backend, Request, ResponseSink
from mlnb.backends.vllm_args import (
    CPU_DEFAULT_KV_CACHE_BYTES,
    failure_reason,
    import_vllm,
    on_cpu,
    sampling_params,
    tokens_prompt,
)
from mlnb.config import StageParams
from mlnb.models.embedded import resolve_model
from mlnb.secrets import export_hf_token


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class _OfflineWorker:
    """Owns the engine's step loop; only this thread touches ``llm``."""

    def __init__(self, llm, sink: ResponseSink):
        self.llm = llm
        self.sink = sink
        self._pending: list[Request] = []
        self._inflight: dict[str, Request] = {}
        self._cv = threading.Condition()
        self._stopping = False
        self._dead: str | None = None  # set when the engine raised; later requests fail fast
        self.steps = 0
        self.thread = threading.Thread(target=self._run, name="vllm-offline", daemon=True)

    def submit(self, requests: list[Request]) -> None:
        with self._cv:
            self._pending.extend(requests)
            self._cv.notify()

    def stop(self, timeout: float) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self.thread.join(timeout)

    def _run(self) -> None:
        engine = self.llm.llm_engine
        while True:
            with self._cv:
                while not self._pending and not self._inflight and not self._stopping:
                    self._cv.wait()
                if self._stopping and not self._pending and not self._inflight:
                    return
                batch, self._pending = self._pending, []
            try:
                if batch:
                    self._enqueue(batch)
                if self._inflight:
                    self._step(engine)
            except Exception as err:  # the engine is gone: fail every request so LoadGen ends
                self._dead = _error_text(err)
                failed = list(self._inflight.values())
                failed += [r for r in batch if all(r is not f for f in failed)]
                self._inflight.clear()
                for request in failed:
                    self.sink.complete(request, [], error=f"vLLM engine failed: {self._dead}")

    def _enqueue(self, batch: list[Request]) -> None:
        if self._dead:
            for request in batch:
                self.sink.complete(request, [], error=f"vLLM engine failed earlier: {self._dead}")
            return
        try:
            self._add(batch)
        except Exception:  # e.g. one prompt longer than max_model_len: retry one by one, fail only it
            for request in batch:
                try:
                    self._add([request])
                except Exception as err:
                    self.sink.complete(request, [], error=f"vLLM rejected the request: {_error_text(err)}")

    def _add(self, batch: list[Request]) -> None:
        # A failing enqueue aborts the part of the batch it had added, so a retry starts clean.
        params = [sampling_params(r.max_new_tokens, r.min_new_tokens, streaming=False, ignore_eos=r.ignore_eos) for r in batch]
        ids = self.llm.enqueue([tokens_prompt(r.prompt_ids) for r in batch], params, use_tqdm=False)
        for request, internal_id in zip(batch, ids):
            # enqueue returns "<external id>-<random suffix>"; outputs carry the external id.
            self._inflight[internal_id.rsplit("-", 1)[0]] = request

    def _step(self, engine) -> None:
        for output in engine.step():
            if not output.finished:
                continue
            request = self._inflight.pop(output.request_id, None)
            if request is None:
                continue
            error = failure_reason(output)
            tokens = list(output.outputs[0].token_ids) if output.outputs else []
            if error is None and not tokens:
                error = "engine finished the request with no tokens"
            self.sink.complete(request, tokens, error=error)
        self.steps += 1


class _StreamingLoop:
    """One asyncio loop on one thread for the whole run; the async engine lives on it."""

    def __init__(self, engine_args: dict[str, Any]):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="vllm-async-loop", daemon=True)
        self.thread.start()
        self.engine = self.call(self._build(engine_args))
        self.sink: ResponseSink | None = None
        self._tasks: set[asyncio.Task] = set()
        self._count = 0

    def call(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @staticmethod
    async def _build(engine_args: dict[str, Any]):
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        return AsyncLLM.from_engine_args(AsyncEngineArgs(**engine_args))

    def submit(self, requests: list[Request]) -> None:
        self.loop.call_soon_threadsafe(self._spawn, requests)

    def _spawn(self, requests: list[Request]) -> None:
        for request in requests:
            task = self.loop.create_task(self.stream(request, self.sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stream(self, request: Request, sink: ResponseSink) -> None:
        tokens: list[int] = []
        params = sampling_params(request.max_new_tokens, request.min_new_tokens, streaming=True, ignore_eos=request.ignore_eos)
        self._count += 1
        request_id = f"{request.request_id}-{self._count}"
        error = None
        try:
            # The renderer turns the token-id prompt into engine input (raw prompts are deprecated).
            (engine_input,) = self.engine.renderer.render_cmpl([tokens_prompt(request.prompt_ids)])
            async for output in self.engine.generate(engine_input, params, request_id):
                new = output.outputs[0].token_ids if output.outputs else ()
                if new:
                    first = not tokens
                    tokens.extend(new)
                    if first and request.stream:  # the first token alone, as the hf backend sends it
                        sink.first_token(request, [new[0]])
                if output.finished:
                    error = failure_reason(output)
                    break
            else:
                error = "engine stream ended before the request finished"
            if error is None and not tokens:
                error = "engine finished the request with no tokens"
        except Exception as err:  # EngineDeadError, bad request, ...: reported, never swallowed
            error = f"vLLM request failed: {_error_text(err)}"
        sink.complete(request, tokens, error=error)

    async def _wait_idle(self, timeout: float) -> None:
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    def drain(self, timeout: float) -> None:
        self.call(self._wait_idle(timeout))

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.engine.shutdown()

    def close(self) -> None:
        self.call(self._shutdown(), timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


class VLLMBackend(Backend):
    @staticmethod
    def engine_kwargs(p: StageParams, model_path: str) -> dict[str, Any]:
        """Keyword arguments for ``vllm.LLM`` / ``AsyncEngineArgs``, the same for both."""
        cpu = on_cpu()
        kwargs: dict[str, Any] = {
            "model": model_path,
            "tokenizer": model_path,
            "dtype": p.dtype,
            "seed": p.seed,
            "load_format": p.load_format,
            "tensor_parallel_size": p.tensor_parallel_size,
            "pipeline_parallel_size": p.pipeline_parallel_size,
            "kv_cache_dtype": p.kv_cache_dtype,
            # eager on CPU: ~33 s to load instead of ~106 s with torch.compile, for ~15% less decode speed
            "enforce_eager": p.enforce_eager if p.enforce_eager is not None else cpu,
            "disable_log_stats": True,  # periodic stats lines would flood harness.log
            "enable_prefix_caching": p.prefix_caching,
        }
        optional = {
            "distributed_executor_backend": p.distributed_executor_backend,
            "gpu_memory_utilization": p.gpu_memory_utilization,
            "max_model_len": p.max_model_len,
            "max_num_seqs": p.max_num_seqs,
            "kv_cache_memory_bytes": p.kv_cache_memory_bytes,
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        if cpu and p.kv_cache_memory_bytes is None and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            # On CPU gpu_memory_utilization reserves that fraction of all RAM (0.92 by default), which
            # fails on a shared 24 GB machine; an explicit KV size skips that reservation.
            kwargs["kv_cache_memory_bytes"] = CPU_DEFAULT_KV_CACHE_BYTES
        return kwargs

    def load(self) -> None:
        vllm = import_vllm()
        export_hf_token()
        p = self.params
        self.model_path = str(resolve_model(p.model))
        self.engine_args = self.engine_kwargs(p, self.model_path)
        self.streaming = p.scenario != "Offline"
        started = time.monotonic()
        if self.streaming:
            self._loop: _StreamingLoop | None = _StreamingLoop(self.engine_args)
            self._llm = None
            model_config = self._loop.engine.model_config
        else:
            self._loop = None
            self._llm = vllm.LLM(**self.engine_args)
            model_config = self._llm.llm_engine.model_config
        self.load_seconds = time.monotonic() - started
        self.vllm_version = vllm.__version__
        self.dtype = str(model_config.dtype).replace("torch.", "")
        self.max_model_len = model_config.max_model_len
        self._tokenizer = self._load_tokenizer()
        self.eos_ids = self._eos_ids(model_config)
        self._worker: _OfflineWorker | None = None
        started = time.monotonic()
        self._warm_up()
        self.warm_up_seconds = time.monotonic() - started

    def _load_tokenizer(self):
        from transformers import AutoTokenizer

        folder = Path(self.model_path)
        if self.params.load_format == "dummy" and folder.is_dir() and not any(
            (folder / name).exists() for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
        ):
            return None  # an architecture-only folder: prompts come from the dataset's tok_input
        return AutoTokenizer.from_pretrained(self.model_path)

    def _eos_ids(self, model_config) -> set[int]:
        eos = getattr(model_config.hf_config, "eos_token_id", None)
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        try:
            from transformers import GenerationConfig

            gen = GenerationConfig.from_pretrained(self.model_path).eos_token_id
            ids |= set(gen if isinstance(gen, list) else [gen] if gen is not None else [])
        except (OSError, ValueError):  # no generation_config.json
            pass
        if not ids and self._tokenizer is not None and self._tokenizer.eos_token_id is not None:
            ids.add(self._tokenizer.eos_token_id)
        return ids

    def _warm_up(self) -> None:
        # The first steps pay one-time set-up costs; keep them unmeasured. (A second pass over the same
        # prompts is faster for another reason: vLLM's prefix cache. It is not a warm-up effect.)
        prompt = [min(self.eos_ids) if self.eos_ids else 0] * 8
        request = Request(-1, -1, prompt, self.streaming, 4, 1)
        sink = _CollectSink()
        if self._loop is not None:
            self._loop.call(self._loop.stream(request, sink))
        else:
            worker = _OfflineWorker(self._llm, sink)
            worker.thread.start()
            worker.submit([request])
            sink.done.wait()
            worker.stop(60)
        if sink.errors:
            raise RuntimeError(f"vLLM warm-up failed: {sink.errors[0]}")

    def tokenizer(self):
        return self._tokenizer

    def start(self, sink: ResponseSink) -> None:
        self.sink = sink
        if self._loop is not None:
            self._loop.sink = sink
        else:
            self._worker = _OfflineWorker(self._llm, sink)
            self._worker.thread.start()

    def submit(self, requests: list[Request]) -> None:
        if self._loop is not None:
            self._loop.submit(requests)
        else:
            assert self._worker is not None, "start() before submit()"
            self._worker.submit(requests)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.drain(self.params.timeout_s)
        elif self._worker is not None:
            self._worker.stop(self.params.timeout_s)

    def close(self) -> None:
        """Shut the engine and its processes down, so the harness exits without vLLM force-killing them."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        elif self._llm is not None:
            self._llm.llm_engine.engine_core.shutdown()
            self._llm = None

    def describe(self) -> dict[str, Any]:
        import torch

        shown = {k: v for k, v in self.engine_args.items() if k not in ("model", "tokenizer")}
        info: dict[str, Any] = {
            "backend": "vllm",
            "simulated": False,
            "engine": f"vllm {self.vllm_version}",
            "engine_api": "AsyncLLM, one persistent event loop" if self.streaming else "LLM, step loop",
            "torch": torch.__version__,
            "model_path": self.model_path,
            "device": "cpu" if on_cpu() else "cuda",
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "prefix_caching": "on: shared prompt prefixes are served from the KV cache" if self.params.prefix_caching
            else "off: every prompt is prefilled in full",
            "engine_args": shown,
            "load_format": self.params.load_format,
            "load_seconds": round(self.load_seconds, 2),
            "warm_up_seconds": round(self.warm_up_seconds, 2),
            "eos_token_ids": sorted(self.eos_ids),
            "sampling": "greedy (temperature 0), max_tokens=max_new_tokens, min_tokens=min_new_tokens, ignore_eos per request (reference lengths)",
            "concurrency": (
                "continuous batching: every request goes to the engine when it arrives; "
                + ("streamed deltas, first token reported at once" if self.streaming else "reported the step it finishes")
            ),
        }
        if on_cpu():
            info["cpu_threads"] = torch.get_num_threads()
        return info


class _CollectSink:
    def __init__(self):
        self.errors: list[str] = []
        self.done = threading.Event()

    def first_token(self, request: Request, token_ids: Sequence[int]) -> None:
        pass

    def complete(self, request: Request, token_ids: Sequence[int], error: str | None = None) -> None:
        if error:
            self.errors.append(error)
        self.done.set()
