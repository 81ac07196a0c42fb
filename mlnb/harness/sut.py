"""The LoadGen side of a run: SUT callbacks, response buffers and per-query timestamps."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Optional, Sequence

import numpy as np

from mlnb.backends.base import Backend, Request


ROW_BUFFER_BYTES = 1 << 20  # rows reach the disk in 1 MiB writes, not one syscall per query


@dataclass(slots=True)
class QueryRecord:
    """One sample's life as the SUT saw it; times in ms since the first issue.

    Held only while the query is in flight: at completion it becomes a queries.jsonl row and is
    dropped, so the harness's memory follows the queries in flight, not the length of the run.
    """

    sample_index: int
    prompt_tokens: int
    issued_ms: float
    issue_seq: int  # order in which the SUT received the query; pairs it with LoadGen's trace
    first_token_ms: float | None = None
    done_ms: float | None = None
    output_tokens: int = 0
    error: str | None = None
    sent_ms: float | None = None  # when the request left the client (network backends)
    extra: dict | None = None  # backend facts, e.g. the server's usage counts

    def as_row(self) -> dict:
        row = {
            "sample_index": self.sample_index, "prompt_tokens": self.prompt_tokens, "issued_ms": self.issued_ms,
            "issue_seq": self.issue_seq, "first_token_ms": self.first_token_ms, "done_ms": self.done_ms,
            "output_tokens": self.output_tokens, "error": self.error, "sent_ms": self.sent_ms,
        }
        if self.extra:
            row.update(self.extra)
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
        rows_path: Optional[Path] = None,
    ):
        """``rows_path``: where finished queries' rows are appended as they complete (JSON lines, in
        completion order); without it they are kept in memory for :meth:`rows` (small tests)."""
        self.backend = backend
        self.max_new_per_sample = max_new_per_sample
        self.ignore_eos = ignore_eos
        self.prompts = prompts
        self.streaming = streaming
        self.max_new = max_new
        self.min_new = min_new
        self.records: dict[int, QueryRecord] = {}  # in flight only
        self._first_sent: set[int] = set()
        self._lock = threading.Lock()
        self._t0: int | None = None
        self._rows_file: Optional[IO[str]] = open(rows_path, "w", encoding="utf-8", buffering=ROW_BUFFER_BYTES) if rows_path else None
        self._kept_rows: list[dict] = []
        self._error_examples: set[str] = set()
        self.issued = 0
        self.completed = 0
        self.tokens = 0
        self.errors = 0
        # publish(issued, completed, tokens), called as they change: the telemetry sampler's shared counters
        self.publish: Optional[Callable[[int, int, int], None]] = None

    @property
    def origin_s(self) -> float | None:
        """time.monotonic() of the first issue, the origin of every query timestamp; None before it."""
        return None if self._t0 is None else self._t0 / 1e9

    def _now_ms(self, at_ns: int | None = None) -> float:
        """``at_ns``: a time.monotonic_ns() taken elsewhere (a client worker process: the same clock)."""
        now = time.monotonic_ns() if at_ns is None else at_ns
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
                self.records[qs.id] = QueryRecord(qs.index, len(prompt), issued, self.issued)
                self.issued += 1
                max_new = self.max_new if self.max_new_per_sample is None else self.max_new_per_sample[qs.index]
                min_new = min(self.min_new, max_new)
                requests.append(
                    Request(qs.id, qs.index, prompt, self.streaming, max_new, min_new, ignore_eos=self.ignore_eos)
                )
            if self.publish is not None:
                self.publish(self.issued, self.completed, self.tokens)
        self.backend.submit(requests)

    def flush_queries(self) -> None:
        self.backend.flush()

    # Backend sink ------------------------------------------------------------------------
    def first_token(self, request: Request, token_ids: Sequence[int], at_ns: int | None = None) -> None:
        import mlperf_loadgen as lg

        data = np.asarray(token_ids, dtype=np.int32)
        with self._lock:
            record = self.records.get(request.request_id)
            if record is not None:
                record.first_token_ms = self._now_ms(at_ns)
            self._first_sent.add(request.request_id)
        # The buffer must stay alive until the call returns; `data` does.
        lg.FirstTokenComplete([lg.QuerySampleResponse(request.request_id, data.ctypes.data, data.nbytes)])

    def complete(self, request: Request, token_ids: Sequence[int], error: str | None = None, at_ns: int | None = None) -> None:
        import mlperf_loadgen as lg

        data = np.asarray(token_ids, dtype=np.int32)
        if self.streaming and request.request_id not in self._first_sent:
            # LoadGen needs a first token before completion; an errored request still ends.
            self.first_token(request, token_ids[:1], at_ns)
        with self._lock:
            record = self.records.pop(request.request_id, None)
            self._first_sent.discard(request.request_id)
            if record is not None:  # None: a second completion of one query; LoadGen still hears it
                record.done_ms = self._now_ms(at_ns)
                record.output_tokens = len(data)
                record.error = error
                self.completed += 1
                self.tokens += len(data)
                self.errors += error is not None
                if self.publish is not None:
                    self.publish(self.issued, self.completed, self.tokens)
                if error is not None and len(self._error_examples) < 64:
                    self._error_examples.add(error)
                self._emit(record)
        response = lg.QuerySampleResponse(request.request_id, data.ctypes.data, data.nbytes, len(data))
        lg.QuerySamplesComplete([response])

    def mark_sent(self, request: Request, at_ns: int | None = None) -> None:
        with self._lock:
            record = self.records.get(request.request_id)
            if record is not None:
                record.sent_ms = self._now_ms(at_ns)

    def mark_time(self, request: Request, name: str, at_ns: int | None = None) -> None:
        """Record an extra event time (ms since the first issue), e.g. ``first_chunk_ms`` in Offline."""
        self.annotate(request, {name: self._now_ms(at_ns)})

    def annotate(self, request: Request, facts: dict) -> None:
        with self._lock:
            record = self.records.get(request.request_id)
            if record is not None:
                record.extra = {**(record.extra or {}), **facts}

    # Rows ------------------------------------------------------------------------------------
    def _emit(self, record: QueryRecord) -> None:
        """One finished (or, at the end, unfinished) query leaves memory: to the rows file, if any."""
        if self._rows_file is not None:
            self._rows_file.write(json.dumps(record.as_row()) + "\n")
        else:
            self._kept_rows.append(record.as_row())

    def finish_rows(self) -> None:
        """Write the queries still in flight (never completed, e.g. a stopped run) and close the file."""
        with self._lock:
            for record in sorted(self.records.values(), key=lambda r: r.issue_seq):
                self._emit(record)
            self.records.clear()
            if self._rows_file is not None:
                self._rows_file.close()
                self._rows_file = None

    def error_examples(self, limit: int = 5) -> list[str]:
        with self._lock:
            return sorted(self._error_examples)[:limit]

    def rows(self) -> list[dict]:
        """Rows kept in memory (no ``rows_path``), finished and in flight, in issue order."""
        with self._lock:
            rows = self._kept_rows + [r.as_row() for r in self.records.values()]
        return sorted(rows, key=lambda r: r["issue_seq"])
