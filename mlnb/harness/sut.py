"""The LoadGen side of a run: SUT callbacks, response buffers and per-query timestamps."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from mlnb.backends.base import Backend, Request


@dataclass
class QueryRecord:
    """One sample's life as the SUT saw it; times in ms since the first issue."""

    sample_index: int
    prompt_tokens: int
    issued_ms: float
    first_token_ms: float | None = None
    done_ms: float | None = None
    output_tokens: int = 0
    error: str | None = None
    sent_ms: float | None = None  # when the request left the client (network backends)
    extra: dict = field(default_factory=dict)  # backend facts, e.g. the server's usage counts

    def as_row(self) -> dict:
        row = asdict(self)
        row.update(row.pop("extra"))
        return row


class LoadgenSUT:
    """Bridges LoadGen's issue/flush callbacks to a backend and the backend's results back."""

    def __init__(
        self,
        backend: Backend,
        prompts: Sequence[Sequence[int]],
        streaming: bool,
        max_new: int,
        min_new: int,
        max_new_per_sample: Sequence[int] | None = None,
        ignore_eos: bool = False,
    ):
        self.backend = backend
        self.max_new_per_sample = max_new_per_sample
        self.ignore_eos = ignore_eos
        self.prompts = prompts
        self.streaming = streaming
        self.max_new = max_new
        self.min_new = min_new
        self.records: dict[int, QueryRecord] = {}
        self._first_sent: set[int] = set()
        self._lock = threading.Lock()
        self._t0: int | None = None
        self.completed = 0
        self.tokens = 0
        self.errors = 0

    def _now_ms(self) -> float:
        now = time.monotonic_ns()
        if self._t0 is None:
            self._t0 = now
        return (now - self._t0) / 1e6

    # LoadGen callbacks -------------------------------------------------------------------
    def issue_queries(self, query_samples) -> None:
        requests = []
        with self._lock:
            issued = self._now_ms()
            for qs in query_samples:
                prompt = self.prompts[qs.index]
                self.records[qs.id] = QueryRecord(qs.index, len(prompt), issued)
                max_new = self.max_new if self.max_new_per_sample is None else self.max_new_per_sample[qs.index]
                min_new = min(self.min_new, max_new)
                requests.append(
                    Request(qs.id, qs.index, prompt, self.streaming, max_new, min_new, ignore_eos=self.ignore_eos)
                )
        self.backend.submit(requests)

    def flush_queries(self) -> None:
        self.backend.flush()

    # Backend sink ------------------------------------------------------------------------
    def first_token(self, request: Request, token_ids: Sequence[int]) -> None:
        import mlperf_loadgen as lg

        data = np.asarray(token_ids, dtype=np.int32)
        with self._lock:
            self.records[request.request_id].first_token_ms = self._now_ms()
            self._first_sent.add(request.request_id)
        # The buffer must stay alive until the call returns; `data` does.
        lg.FirstTokenComplete([lg.QuerySampleResponse(request.request_id, data.ctypes.data, data.nbytes)])

    def complete(self, request: Request, token_ids: Sequence[int], error: str | None = None) -> None:
        import mlperf_loadgen as lg

        data = np.asarray(token_ids, dtype=np.int32)
        if self.streaming and request.request_id not in self._first_sent:
            # LoadGen needs a first token before completion; an errored request still ends.
            self.first_token(request, token_ids[:1])
        with self._lock:
            record = self.records[request.request_id]
            record.done_ms = self._now_ms()
            record.output_tokens = len(data)
            record.error = error
            self.completed += 1
            self.tokens += len(data)
            self.errors += error is not None
        response = lg.QuerySampleResponse(request.request_id, data.ctypes.data, data.nbytes, len(data))
        lg.QuerySamplesComplete([response])

    def mark_sent(self, request: Request) -> None:
        with self._lock:
            self.records[request.request_id].sent_ms = self._now_ms()

    def mark_time(self, request: Request, name: str) -> None:
        """Record an extra event time (ms since the first issue), e.g. ``first_chunk_ms`` in Offline."""
        with self._lock:
            self.records[request.request_id].extra[name] = self._now_ms()

    def annotate(self, request: Request, facts: dict) -> None:
        with self._lock:
            self.records[request.request_id].extra.update(facts)

    def rows(self) -> list[dict]:
        with self._lock:
            return [r.as_row() for r in self.records.values()]
