"""A deterministic simulator of an LLM server, for testing the harness itself.

Timing model: a request starts when one of ``sim_max_batch`` slots is free; its first token
comes ``sim_ttft_ms + sim_prefill_ms_per_token * prompt_len`` later and each further token
``sim_tpot_ms`` apart. Output tokens echo the prompt's first tokens, so accuracy numbers are
meaningless by construction. Everything it produces is labelled simulated.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any

from mlnb.backends.base import Backend, Request, ResponseSink


class SimBackend(Backend):
    simulated = True

    def load(self) -> None:
        self._events: list[tuple[float, int, str, Request, list[int]]] = []
        self._slots: list[float] = [0.0] * self.params.sim_max_batch  # time each slot frees up
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._stopping = False
        self._answered = 0

    def output_tokens(self, request: Request) -> list[int]:
        n = self.params.sim_output_tokens or max(2, min(request.max_new_tokens, len(request.prompt_ids) // 4))
        n = max(n, request.min_new_tokens, 2)
        prompt = list(request.prompt_ids) or [0]
        return [prompt[i % len(prompt)] for i in range(n)]

    def start(self, sink: ResponseSink) -> None:
        self._sink = sink
        self._stopping = False  # a backend can be started again after stop()
        self._thread = threading.Thread(target=self._loop, name="sim-backend", daemon=True)
        self._thread.start()

    def submit(self, requests: list[Request]) -> None:
        p = self.params
        with self._cv:
            now = time.monotonic()
            for request in requests:
                tokens = self.output_tokens(request)
                slot = min(range(len(self._slots)), key=self._slots.__getitem__)
                begin = max(now, self._slots[slot])
                first = begin + (p.sim_ttft_ms + p.sim_prefill_ms_per_token * len(request.prompt_ids)) / 1000
                done = first + p.sim_tpot_ms * (len(tokens) - 1) / 1000
                self._slots[slot] = done
                if request.stream:
                    heapq.heappush(self._events, (first, next(self._order), "first", request, tokens))
                heapq.heappush(self._events, (done, next(self._order), "done", request, tokens))
            self._cv.notify()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopping and (not self._events or self._events[0][0] > time.monotonic()):
                    timeout = self._events[0][0] - time.monotonic() if self._events else None
                    self._cv.wait(timeout)
                if self._stopping and not self._events:
                    return
                due, _, kind, request, tokens = heapq.heappop(self._events)
            if kind == "first":
                self._sink.first_token(request, tokens[:1])
            else:
                self._answered += 1
                fault_after = self.params.sim_fault_after
                if fault_after is not None and self._answered > fault_after:
                    tokens = [*tokens[:-1], 2**31]  # what a broken engine may send; the sink cannot pass it on
                self._sink.complete(request, tokens)

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout=60)

    def describe(self) -> dict[str, Any]:
        p = self.params
        return {
            "backend": "sim",
            "simulated": True,
            "engine": "mlnb deterministic simulator",
            "device": "none (simulated)",
            "concurrency": f"{p.sim_max_batch} concurrent sequences; later requests queue",
            "timing_model": {
                "ttft_ms": p.sim_ttft_ms,
                "prefill_ms_per_token": p.sim_prefill_ms_per_token,
                "tpot_ms": p.sim_tpot_ms,
                "max_batch": p.sim_max_batch,
            },
        }
