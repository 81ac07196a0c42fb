"""The ``openai`` backend: any OpenAI-compatible server (vLLM's first), streamed over HTTP.

One event loop thread and the streaming client of openai_http.py (keep-alive connections, no pool
cap) serve the whole run; an aiohttp session makes the pre-run checks. LoadGen's issue thread hands
requests over with a single ``call_soon_threadsafe`` per batch; nothing waits on a lock across an
``await``, and there is no concurrency cap unless ``max_concurrency`` sets one (then requests beyond
it wait unsent in the client): LoadGen sets the arrivals. With several base URLs each request goes
to the one with the fewest requests in flight (only the loop thread touches those counters). With
``client_workers`` > 1 the streaming runs in that many worker processes instead (openai_workers.py);
the preflight checks stay here.

Every failure (refused connection, HTTP status, timeout, a stream that ends early or is not JSON,
an answer without tokens) completes the query with an error, so LoadGen ends the run and the
stage is INVALID with the reason. After ``stop_sending_after_errors`` failures, new queries fail
at once without being sent, so a dead server cannot keep a run busy.

Prompts go as token ids (``prompt_form=tokens``, MLPerf's way) only when the served model's
tokenizer is named; otherwise as text (``prompt_form=text``). Before LoadGen starts, the served
name and its ``max_model_len`` are checked against ``/v1/models``, and a few prompts are sent as
text with one output token: a server whose ``usage.prompt_tokens`` differs from the local
tokenizer's count is serving another tokenizer, and the stage stops (see prompt_check.py).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from mlnb.backends.base import Backend, Request, ResponseSink
from mlnb.backends.openai_http import (
    StreamClient,
    answer_facts,
    describe_error as _describe,
    failure_reason,
    new_event_loop as _new_event_loop,
    quiet_collector,
)
from mlnb.backends.openai_load import ClientLoad, combined_summary, process_cpu_s
from mlnb.backends.openai_stream import StreamError, StreamedAnswer, encode_body, first_token_ids
from mlnb.backends.prompt_check import (
    CHECKED_ANSWERS,
    PROBE_PROMPTS,
    WHAT_TO_PASS,
    LocalPrompts,
    choose_prompt_form,
    count_mismatch_line,
    longest_prompt_line,
    tokenizer_named,
)
from mlnb.paths import MANAGED_SERVER_RECORD
from mlnb.errors import InputError

PREFLIGHT_TIMEOUT_S = 15.0
SWITCH_INTERVAL_S = 0.0005


def split_base_urls(value: Optional[str]) -> list[str]:
    urls = [u.strip().rstrip("/") for u in (value or "").split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"base_url {url!r}", "expected http://HOST:PORT/v1 (comma-separated for several)")
    return urls


_KIND = re.compile(r"^(HTTP \d+|[^:]+?)(?: from |:|$)")


def error_kind(error: str) -> str:
    """A short category for summary.json's error counts: "HTTP 500", "timeout", "stream ended early"."""
    match = _KIND.match(error)
    return (match.group(1) if match else error)[:60]


class OpenAIBackend(Backend):
    def load(self) -> None:
        p = self.params
        self.urls = split_base_urls(p.base_url)
        if not self.urls:
            raise InputError("base_url", "the openai backend needs base_url (or a managed `server:` in the preset)")
        self.model_name = p.served_model_name or p.model
        self.api_key = os.environ.get(p.api_key_env) or None  # never logged, never written
        self.tokenizer_source = tokenizer_named(p) or "the default embedded one, not named"
        self.prompt_form, self.prompt_form_why = choose_prompt_form(p)
        self._tokenizer = self._load_tokenizer()
        self._local: Optional[LocalPrompts] = None
        self.max_model_len: dict[str, Optional[int]] = {}
        self.prompt_check = "not run"
        self.stats: Counter[str] = Counter()
        self._outstanding = {url: 0 for url in self.urls}
        self._errors = 0
        self._first_error: Optional[str] = None
        self._inflight: set[asyncio.Task] = set()
        # A closed loop of max_concurrency requests: the rest wait unsent (not in sent_ms, not at the server).
        self._slots = asyncio.Semaphore(p.max_concurrency) if p.max_concurrency else None
        self._client_load = ClientLoad()
        self._workers = None  # ClientWorkers when client_workers > 1
        self._requests: dict[int, Request] = {}  # in flight in a worker, by LoadGen id
        self._load_summary: Optional[dict] = None
        # LoadGen's threads and the client's loop share the GIL: hand it over every 0.5 ms, not 5 ms,
        # so a chunk that arrived is not left waiting behind a thread that holds it.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._loop = _new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-client", daemon=True)
        self._thread.start()
        self._session = self._call(self._open_session())
        self._client = StreamClient(p, self.api_key)
        # Closed at exit too, if an error ends the process before stop(): no "Unclosed client session".
        atexit.register(self.stop)
        self._closing_on_error(self._preflight(), timeout=PREFLIGHT_TIMEOUT_S * len(self.urls) + 5)
        if p.client_workers > 1:
            self._start_workers()

    def _start_workers(self) -> None:
        """Started here, on the harness's main thread: the parent-death signal follows the thread that starts a child."""
        from mlnb.backends.openai_workers import ClientWorkers, Handlers

        settings = {"urls": self.urls, "chat": self.params.api == "chat", "params": self.params}
        handlers = Handlers(first=self._worker_first, done=self._worker_done, died=self._worker_lost)
        try:
            self._workers = ClientWorkers(self.params.client_workers, settings, handlers)
        except BaseException:
            self.stop()
            raise

    def _closing_on_error(self, coro, timeout: float):
        """Run a pre-run check; if it fails, close the session and the loop before the error goes up.

        A session left to the garbage collector makes aiohttp print "Unclosed client session" noise
        into the log and the stage's failure.json.
        """
        try:
            return self._call(coro, timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def _load_tokenizer(self):
        """The served model's tokenizer (``tokenizer``, else ``model``): it makes prompt ids and texts
        and counts tokens when the server returns none."""
        from pathlib import Path

        from transformers import AutoTokenizer

        from mlnb.models.embedded import resolve_model

        p = self.params
        field, name = ("tokenizer", p.tokenizer) if p.tokenizer else ("model", p.model)
        try:
            where = resolve_model(name) if field == "model" or name == "embedded" else str(Path(name).expanduser())
            return AutoTokenizer.from_pretrained(where)
        except InputError:
            raise
        except Exception as err:
            raise InputError(f"{field} {name!r}", f"cannot load its tokenizer: {_describe(err)}") from None

    def _call(self, coro, timeout: Optional[float] = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _open_session(self):
        """aiohttp for the pre-run checks (/models, the probes): a few requests, where its convenience costs nothing."""
        import aiohttp

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        # read_bufsize: long prompts' usage chunks and long SSE lines exceed aiohttp's 64 KiB default.
        return aiohttp.ClientSession(headers=headers, read_bufsize=2**20, max_line_size=2**20)

    async def _preflight(self) -> None:
        """Each server answers /models and serves the model: fail before LoadGen starts if not."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=PREFLIGHT_TIMEOUT_S)
        for url in self.urls:
            try:
                async with self._session.get(f"{url}/models", timeout=timeout) as response:
                    if response.status != 200:
                        raise InputError(f"base_url {url}", f"GET /models answered HTTP {response.status}")
                    cards = [m for m in (await response.json()).get("data", []) if isinstance(m, dict)]
            except InputError:
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError) as err:
                raise InputError(f"base_url {url}", f"server not reachable: {_describe(err)}") from None
            served = [m.get("id") for m in cards]
            if self.model_name not in served:
                raise InputError(
                    f"served_model_name {self.model_name!r}",
                    f"the server at {url} serves {served}; set served_model_name to one of them",
                )
            card = cards[served.index(self.model_name)]
            length = card.get("max_model_len")  # vLLM's field; other servers may not say
            self.max_model_len[url] = int(length) if isinstance(length, int) and length > 0 else None

    def check_prompts(self, prompts) -> None:
        """Before LoadGen: prompts + max_new_tokens fit every server, and the server's tokenizer is ours."""
        self._local = LocalPrompts.build(self._tokenizer, prompts, self.prompt_form, self.params.api)
        for url, length in self.max_model_len.items():
            line = longest_prompt_line(self._local, self.params.max_new_tokens, length, url, self.model_name)
            if line:
                self.stop()
                raise InputError("max_model_len", line)
        timeout = self.params.read_timeout_s * len(self.urls) * PROBE_PROMPTS + 5
        self.prompt_check = self._closing_on_error(self._probe(), timeout=timeout)

    async def _probe(self) -> str:
        """Send the first prompts as text, one output token each: does the server count them as we do?"""
        import aiohttp

        local = self._local
        assert local is not None
        # A probe is a real completion, so it gets a real request's wait (read_timeout_s), not the 15 s of
        # the /models check: a busy CPU server's first completion took longer than 15 s (seen in CI).
        limit = self.params.read_timeout_s
        timeout = aiohttp.ClientTimeout(total=limit)
        checked = 0
        for url in self.urls:
            for index in range(min(PROBE_PROMPTS, len(local.ids))):
                expected = local.text_count(index)
                if expected is None:
                    return self._unverifiable("the local tokenizer has no chat template to count a chat prompt with")
                path, body = self._payload_for(index, max_new=1, min_new=1, form="text")
                answer = StreamedAnswer(chat=self.params.api == "chat")
                try:
                    async with self._session.post(url + path, json=body, timeout=timeout) as response:
                        if response.status != 200:
                            detail = (await response.text())[:200].replace("\n", " ")
                            raise InputError(f"base_url {url}", f"a probe request answered HTTP {response.status}: {detail}")
                        async for line in response.content:
                            answer.feed_line(line)
                except (StreamError, aiohttp.ClientError, asyncio.TimeoutError) as err:
                    why = (f"no answer within read_timeout_s={limit:g} s" if isinstance(err, asyncio.TimeoutError)
                           else _describe(err))
                    raise InputError(f"base_url {url}", f"a probe request (one output token) failed: {why}") from None
                counted = (answer.usage or {}).get("prompt_tokens")
                if counted is None:
                    return self._unverifiable(f"the server at {url} reports no usage")
                if counted != expected:
                    raise InputError("tokenizer", count_mismatch_line(url, index, counted, expected, self.tokenizer_source))
                checked += 1
        return f"the server's usage.prompt_tokens equals the local count on {checked} probe prompt(s) sent as text"

    def _unverifiable(self, why: str) -> str:
        """No count to compare: fine for a tokenizer the user named, a stop for the unnamed default."""
        if tokenizer_named(self.params) is None:
            raise InputError("tokenizer", f"{why}, so the local tokenizer cannot be checked against the served model's: {WHAT_TO_PASS}")
        return f"not possible: {why} (tokenizer named by {self.tokenizer_source})"

    def tokenizer(self):
        return self._tokenizer

    def start(self, sink: ResponseSink) -> None:
        self._sink = sink
        quiet_collector()
        # From here to stop(): the client's CPU and its event loop's lag are what the run cost it.
        if self._workers is not None:
            self._parent_cpu0 = process_cpu_s()
            self._workers.begin()
        else:
            self._loop.call_soon_threadsafe(self._client_load.begin, self._loop)

    # LoadGen's issue thread --------------------------------------------------------------
    def submit(self, requests: list[Request]) -> None:
        if self._workers is None:
            self._loop.call_soon_threadsafe(self._spawn, requests)
            return
        batch = []
        for request in requests:
            if self._stopped_sending():
                self._fail(request, f"not sent: stopped after {self._errors} failed requests (first: {self._first_error})")
                continue
            path, body = self._payload(request)
            self._requests[request.request_id] = request
            batch.append((request.request_id, path, encode_body(body), request.stream))
        if batch:
            self._workers.send(batch)

    def _stopped_sending(self) -> bool:
        limit = self.params.stop_sending_after_errors
        return bool(limit) and self._errors >= limit

    # The workers' receiver thread (client_workers > 1) ---------------------------------------
    def _worker_first(self, rid: int, sent: int, first: int, token: tuple[str, list[int]]) -> None:
        request = self._requests.get(rid)
        if request is not None:
            self._sink.mark_sent(request, sent)
            self._sink.first_token(request, first_token_ids(token[0], token[1], self._tokenizer), first)

    def _worker_done(self, rid: int, sent: int, first: Optional[int], end: int, url: str,
                     answer: Optional[StreamedAnswer], error: Optional[str]) -> None:
        request = self._requests.pop(rid, None)
        if request is None:
            return
        self._sink.mark_sent(request, sent)
        if first is not None and not request.stream:
            self._sink.mark_time(request, "first_chunk_ms", first)
        if answer is None:
            self._fail(request, error or "no answer", url, end)
            return
        try:
            ids = answer.final_token_ids(self._tokenizer)  # the server's ids, or the text counted here
            self._finish(request, ids, answer_facts(answer, ids, url), url, end)
        except StreamError as err:
            self._fail(request, str(err), url, end)

    def _worker_lost(self, rid: int, reason: str) -> None:
        request = self._requests.pop(rid, None)
        if request is not None:
            self._fail(request, reason)

    # The event loop thread ---------------------------------------------------------------
    def _spawn(self, requests: list[Request]) -> None:
        for request in requests:
            task = self._loop.create_task(self._serve(request))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _pick_url(self) -> str:
        return min(self.urls, key=self._outstanding.__getitem__)  # least outstanding requests

    def _payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        if self._local is None:  # check_prompts was not called: build the texts from this request alone
            self._local = LocalPrompts.lazy(self._tokenizer, self.prompt_form, self.params.api)
        self._local.remember(request.sample_index, request.prompt_ids)
        return self._payload_for(request.sample_index, request.max_new_tokens, request.min_new_tokens)

    def _payload_for(self, index: int, max_new: int, min_new: int, form: Optional[str] = None) -> tuple[str, dict[str, Any]]:
        p = self.params
        local = self._local
        assert local is not None
        body: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": max_new,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if p.vllm_extras:
            # min_tokens keeps the output length MLPerf's; special tokens stay in the stream so the
            # first token is not hidden (mlperf-reference.md 7.11); token ids spare a re-tokenization.
            body.update(min_tokens=min_new, skip_special_tokens=False, return_token_ids=True)
        if p.api == "chat":
            body["messages"] = [{"role": "user", "content": local.text(index)}]
            return "/chat/completions", body
        if (form or self.prompt_form) == "text":
            body["prompt"] = local.text(index)  # the server tokenizes it (vLLM bench's and guidellm's way)
        else:
            body["prompt"] = list(local.ids[index])  # token ids: what LoadGen's QSL holds, no re-tokenization
        return "/completions", body

    async def _serve(self, request: Request) -> None:
        if self._slots is None:
            await self._serve_now(request)
            return
        async with self._slots:  # max_concurrency: wait here, unsent, until a request in flight ends
            await self._serve_now(request)

    async def _serve_now(self, request: Request) -> None:
        if self._stopped_sending():
            self._fail(request, f"not sent: stopped after {self._errors} failed requests (first: {self._first_error})")
            return
        url = self._pick_url()
        self._outstanding[url] += 1
        try:
            await self._stream(url, request)
        except (Exception, asyncio.CancelledError) as err:  # never a lost query
            self._fail(request, failure_reason(err, url), url)
        finally:
            self._outstanding[url] -= 1

    async def _stream(self, url: str, request: Request) -> None:
        path, body = self._payload(request)

        def on_first(arrived: int, token: tuple[str, list[int]]) -> None:
            if request.stream:
                self._sink.first_token(request, first_token_ids(token[0], token[1], self._tokenizer), arrived)
            else:  # Offline reports no first token to LoadGen; the time is kept for the report
                self._sink.mark_time(request, "first_chunk_ms", arrived)

        self._sink.mark_sent(request)
        answer, end = await self._client.stream(url, path, encode_body(body), self.params.api == "chat", on_first)
        self._client_load.chunks += answer.chunks
        ids = answer.final_token_ids(self._tokenizer)
        self._finish(request, ids, answer_facts(answer, ids, url), url, end)

    def _finish(self, request: Request, ids: list[int], facts: dict, url: Optional[str], at_ns: Optional[int] = None) -> None:
        """A whole answer: check the first answers' prompt counts, count, and complete the query."""
        counted = facts["usage_prompt_tokens"]
        if counted is not None and self.stats["prompt_counts_checked"] < CHECKED_ANSWERS:  # the first answers
            expected = self._local.count(request.sample_index) if self._local is not None else None
            if expected is not None:
                self.stats["prompt_counts_checked"] += 1
                if counted != expected:
                    self.stats["prompt_count_mismatches"] += 1
                    raise StreamError(count_mismatch_line(url, request.sample_index, counted, expected, self.tokenizer_source))
        self.stats["requests_ok"] += 1
        self.stats["token_count_mismatches"] += facts["token_count_mismatch"]
        self.stats[facts["token_source"]] += 1
        self._sink.annotate(request, facts)
        self._sink.complete(request, ids, at_ns=at_ns)

    def _fail(self, request: Request, error: str, url: Optional[str] = None, at_ns: Optional[int] = None) -> None:
        self._errors += 1
        self._first_error = self._first_error or error
        self.stats["requests_failed"] += 1
        self.stats[f"error: {error_kind(error)}"] += 1
        self._sink.annotate(request, {"server": url, "error_kind": error_kind(error)})
        self._sink.complete(request, [], error=error, at_ns=at_ns)

    def stop(self) -> None:
        """Cancel what is in flight, close the session and its connections, end the loop; safe to call twice."""
        atexit.unregister(self.stop)
        quiet_collector(False)
        if self._workers is not None:
            workers, self._workers = self._workers, None
            loads = workers.stop()
            parent_cpu = process_cpu_s() - self._parent_cpu0 if hasattr(self, "_parent_cpu0") else None
            self._load_summary = combined_summary(loads, parent_cpu, workers.handoff_ns)
            for rid in list(self._requests):  # a worker that did not answer its cancellations
                self._worker_lost(rid, "cancelled: the run stopped before the answer ended")
        if not self._thread.is_alive():
            return

        async def close() -> None:
            self._client_load.end()
            for task in list(self._inflight):
                task.cancel()
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            self._client.close()
            await self._session.close()
            # aiohttp's documented graceful shutdown: let the transports finish closing before the loop stops.
            await asyncio.sleep(0.25)

        try:
            self._call(close(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()

    def describe(self) -> dict[str, Any]:
        p = self.params
        return {
            "backend": "openai",
            "simulated": False,
            "engine": f"OpenAI-compatible server ({p.api} API, streaming)",
            "base_urls": self.urls,
            "served_model_name": self.model_name,
            "prompt_form": self.prompt_form if p.api == "completions" else "text (chat messages)",
            "prompt_form_why": self.prompt_form_why,
            "tokenizer": self.tokenizer_source,
            "prompt_token_check": self.prompt_check,
            "max_model_len": {url: n if n else "not reported" for url, n in self.max_model_len.items()},
            "device": _server_device(p),
            "server_settings": _managed_server_settings(p, self.urls),
            "concurrency": (f"at most {p.max_concurrency} requests in flight; the rest wait in the client"
                            if p.max_concurrency else "no client cap; LoadGen sets arrivals")
            + (f"; least outstanding requests over {len(self.urls)} servers" if len(self.urls) > 1 else ""),
            "client": _client_versions(),
            "api_key": "set" if self.api_key else "none",
            "vllm_extras": p.vllm_extras,
            "timeouts_s": {"connect": p.connect_timeout_s, "read": p.read_timeout_s, "request": p.request_timeout_s},
            "request_stats": dict(self.stats),
            "client_workers": p.client_workers,
            "client_load": self._load_summary if p.client_workers > 1 else self._client_load.summary(),
            "eos_token_ids": [self._tokenizer.eos_token_id] if self._tokenizer is not None else None,
        }


def _managed_server_settings(p, urls: list[str]) -> Any:
    """What the server mlnb started for this run was started with (prefix caching included), when it is this one."""
    path = Path(p.run_dir) / MANAGED_SERVER_RECORD
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError):
        settings = None
    if isinstance(settings, dict) and settings.get("base_url") in urls:
        return settings
    return "not started by mlnb: its engine settings, prefix caching included, are the server's own"


def _server_device(p) -> str:
    if p.server_device:
        return f"{p.server_device_count} × {p.server_device} (the server's, as given by server_device)"
    return "remote (the server's; unknown: set server_device and server_device_count)"


def _client_versions() -> str:
    import aiohttp
    import httptools

    try:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    except ImportError:
        loop = "asyncio"
    return f"httptools {httptools.__version__} streams, {loop}; aiohttp {aiohttp.__version__} for the pre-run checks"
