"""One streamed request over aiohttp, shared by the in-process client and its worker processes.

The per-chunk path is kept short: one clock read per network read, taken before any parsing, so a
slow parse never moves the first-token time; whatever bytes arrived are split into lines at once
(one await per read, not per SSE line); blank separator lines are skipped unparsed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Optional

from mlnb.backends.openai_stream import StreamError, StreamedAnswer

OnFirst = Callable[[int, tuple[str, list[int]]], None]  # (arrival time in monotonic ns, the first token)


def open_session(params, api_key: Optional[str]):
    """An aiohttp session with no pool cap: LoadGen, not the client, decides how many requests are in flight."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(
        total=params.request_timeout_s, sock_connect=params.connect_timeout_s, sock_read=params.read_timeout_s
    )
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    # read_bufsize: long prompts' usage chunks and long SSE lines exceed aiohttp's 64 KiB default.
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, read_bufsize=2**20, max_line_size=2**20
    )


JSON_HEADERS = {"Content-Type": "application/json"}


async def stream_answer(session, url: str, path: str, body: bytes, chat: bool, on_first: OnFirst) -> StreamedAnswer:
    """POST ``body`` (JSON bytes), read the event stream; ``on_first`` gets the first token's arrival time."""
    answer = StreamedAnswer(chat=chat)
    first_seen = False
    clock = time.monotonic_ns
    async with session.post(url + path, data=body, headers=JSON_HEADERS) as response:
        if response.status != 200:
            detail = (await response.text())[:300].replace("\n", " ")
            raise StreamError(f"HTTP {response.status} from {url}{path}: {detail}")
        pending = b""
        async for data in response.content.iter_any():
            arrived = clock()  # before parsing: the chunk was here then, however long the parse takes
            lines = (pending + data if pending else data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if not line:
                    continue
                token = answer.feed_line(line)
                if token is not None and not first_seen:
                    first_seen = True
                    on_first(arrived, token)
        if pending.strip():
            answer.feed_line(pending)
    answer.check_complete()
    return answer


def failure_reason(err: BaseException, url: str) -> str:
    """One line for a request that failed with ``err``: what queries.jsonl and LoadGen's error say."""
    import aiohttp

    if isinstance(err, StreamError):
        return str(err)
    if isinstance(err, asyncio.TimeoutError):
        return f"timeout: no answer within read_timeout_s/request_timeout_s from {url}"
    if isinstance(err, asyncio.CancelledError):
        return "cancelled: the run stopped before the answer ended"
    if isinstance(err, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        return f"stream ended early: the connection closed mid-answer ({describe_error(err)})"
    if isinstance(err, aiohttp.ClientConnectionError):
        return f"connection failed: {type(err).__name__}: {describe_error(err)}"
    return f"{type(err).__name__}: {describe_error(err)}"


def describe_error(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:300]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed (about twice asyncio's throughput per core), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def answer_facts(answer: StreamedAnswer, ids: list[int], url: str) -> dict[str, Any]:
    facts = answer.accounting(len(ids))
    facts["server"] = url
    return facts
