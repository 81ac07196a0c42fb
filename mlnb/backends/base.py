"""The contract between the LoadGen harness and an inference engine.

The harness hands a backend ``Request`` objects and a ``ResponseSink``; the backend calls
``sink.first_token`` once per streaming request as soon as the first token exists, and
``sink.complete`` once per request with every generated token id (EOS included, as vLLM reports
it). Backends never import LoadGen: the harness owns that.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from mlnb.config import StageParams


@dataclass
class Request:
    request_id: int  # LoadGen's response id
    sample_index: int  # QSL index
    prompt_ids: Sequence[int]
    stream: bool  # True: report the first token separately (every scenario but Offline)
    max_new_tokens: int
    min_new_tokens: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    ignore_eos: bool = False  # run to max_new_tokens even past EOS (reference output lengths)


class ResponseSink(Protocol):
    # ``at_ns``: when it happened, as time.monotonic_ns() (one clock for every process of the machine),
    # for events seen in another process or before they were parsed; None: now.
    def first_token(self, request: Request, token_ids: Sequence[int], at_ns: int | None = None) -> None: ...

    def complete(self, request: Request, token_ids: Sequence[int], error: str | None = None, at_ns: int | None = None) -> None: ...

    # Network backends also record when a request left the client and facts about its answer.
    def mark_sent(self, request: Request, at_ns: int | None = None) -> None: ...

    def mark_time(self, request: Request, name: str, at_ns: int | None = None) -> None: ...

    def annotate(self, request: Request, facts: dict) -> None: ...


class Backend(abc.ABC):
    """One inference engine; mlnb.backends.registry names the built-in ones."""

    simulated: bool = False  # True: every number it produces is labelled simulated

    def __init__(self, params: StageParams):
        self.params = params

    @abc.abstractmethod
    def load(self) -> None:
        """Load weights and warm up; runs before LoadGen starts, so it is not measured."""

    @abc.abstractmethod
    def start(self, sink: ResponseSink) -> None:
        """Start worker threads that will report to ``sink``."""

    @abc.abstractmethod
    def submit(self, requests: list[Request]) -> None:
        """Queue requests; must return quickly (it runs on LoadGen's issue thread)."""

    def check_prompts(self, prompts: Sequence[Sequence[int]]) -> None:
        """Before LoadGen starts: raise InputError if the prompts cannot run as asked (the default accepts them)."""

    def flush(self) -> None:
        """LoadGen's flush_queries: no more queries are coming for now."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Finish or abandon outstanding work and join threads."""

    def close(self) -> None:
        """Release the engine (processes, memory) after the last stop(); the default has nothing to do."""

    def describe(self) -> dict[str, Any]:
        """Engine facts for summary.json (device, dtype, versions, concurrency model)."""
        return {"backend": type(self).__name__, "simulated": self.simulated}

    def tokenizer(self):
        """A tokenizer for prompts and decoding, or None."""
        return None

