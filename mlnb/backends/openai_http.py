"""The openai backend's streaming HTTP/1.1 client: an asyncio protocol and httptools' C parser.

Shared by the in-process client and its worker processes. Why not aiohttp for the streams: its reader
wakes a coroutine for every network read and keeps per-read timers and buffers in Python, and that
per-chunk cost was the client's limit at GPU token rates. Here a network read is one ``data_received``
call and nothing else:

- the clock is read first, so a chunk's time is its arrival's, however long the parsing takes;
- httptools (llhttp, the parser uvicorn uses) takes the HTTP framing, chunked or not, in C;
- until the first token the events are parsed as they come (its time and token go to LoadGen at
  once); after it the body is only kept, and :meth:`StreamedAnswer.feed_body` parses it with one
  orjson call when the answer ends: TPOT needs the last byte's time, not each chunk's content.

Connections are kept alive and reused per server (the newest idle one first); a request whose reused
connection closes before a single response byte is sent once more on a new one (the server closed it
while idle). No pool cap: LoadGen sets the arrivals. A failure raises what :func:`failure_reason` words:
``StreamError`` (an HTTP status, a malformed stream), ``asyncio.TimeoutError`` (connect, read or total
limit), :class:`ConnectionClosed` (closed mid-answer), ``OSError`` (the connection could not be made).
aiohttp stays for the pre-run checks (``/v1/models``, the probes) in openai_api.py.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import time
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import httptools

from mlnb.backends.openai_stream import StreamError, StreamedAnswer

OnFirst = Callable[[int, tuple[str, list[int]]], None]  # (arrival time in monotonic ns, the first token)
_clock = time.monotonic_ns


class ConnectionClosed(ConnectionError):
    """The server closed the connection before the answer's end."""


class _Stale(Exception):
    """A reused connection closed before any response byte: the request may go again on a new one."""


class _Server:
    """One base URL: where to connect, the fixed part of the request head, the idle connections."""

    def __init__(self, url: str, api_key: Optional[str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.prefix = parts.path.rstrip("/")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""  # in the request only, never logged
        self.headers = f"Host: {host}:{self.port}\r\nAccept: */*\r\nContent-Type: application/json\r\n{auth}"
        self.idle: list[_Connection] = []

    def head(self, path: str, length: int) -> bytes:
        return f"POST {self.prefix}{path} HTTP/1.1\r\n{self.headers}Content-Length: {length}\r\n\r\n".encode("latin-1")


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; the state of the current request lives here."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self.closed = False
        self.waiter: Optional[asyncio.Future] = None  # the current request's: done when its answer ended or failed

    # Transport events --------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if not self.got_bytes and self.reused:
            self._end(_Stale())
        elif self.status and not self.framed:  # no length and not chunked: the body ends with the connection
            self.keep = False
            self._end(None)
        else:
            why = f": {exc}" if exc else ""
            self._end(ConnectionClosed(f"the server closed the connection after {self.got_bytes} response bytes{why}"))

    def data_received(self, data: bytes) -> None:
        self.arrived = _clock()  # before parsing: the bytes were here then
        if self.waiter is None or self.waiter.done():  # bytes on an idle connection: not ours to guess at
            self.transport.close()
            return
        self.got_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as err:
            cause = err.__context__ if isinstance(err, httptools.HttpParserCallbackError) else None
            self._end(cause or StreamError(f"malformed HTTP response: {err}"))

    # httptools callbacks (from inside feed_data) ---------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status != 200:
            self.seen_first = True  # the body is an error message: keep it whole

    def on_body(self, body: bytes) -> None:
        if self.seen_first:  # the hot path, every chunk after the first token: keep the bytes
            self.rest.append(body)
        else:
            self._before_first(body)

    def on_message_complete(self) -> None:
        self.keep = self.parser.should_keep_alive()
        self._end(None)

    # The current request -----------------------------------------------------------------
    def start(self, head: bytes, body: bytes, chat: bool, on_first: OnFirst, reused: bool, timer_s: float) -> None:
        self.answer = StreamedAnswer(chat=chat)
        self.on_first = on_first
        self.reused = reused
        self.status = 0
        self.framed = self.seen_first = self.keep = False
        self.got_bytes = 0
        self.pending = b""  # a line not yet whole, before the first token
        self.rest: list[bytes] = []  # body bytes after the first token (or an error body)
        self.parser = httptools.HttpResponseParser(self)
        self.waiter = self.loop.create_future()
        self.arrived = self.ended = _clock()
        self.transport.writelines((head, body))
        self.timer = self.loop.call_later(timer_s, self._watch)

    def _before_first(self, body: bytes) -> None:
        data = self.pending + body if self.pending else body
        start = 0
        try:
            while not self.seen_first:
                end = data.find(b"\n", start)
                if end < 0:
                    self.pending = data[start:]
                    return
                line, start = data[start:end], end + 1
                token = self.answer.feed_line(line) if line else None
                if token is not None:
                    self.seen_first = True
                    self.on_first(self.arrived, token)
        except Exception as err:  # a malformed first chunk, or the sink's own failure: this request fails
            self.seen_first = True
            self._end(err)
            return
        self.pending = b""
        if start < len(data):
            self.rest.append(data[start:])

    def _end(self, error: Optional[BaseException]) -> None:
        if self.waiter.done():
            return
        self.ended = self.arrived
        self.timer.cancel()
        if error is None:
            self.waiter.set_result(None)
        else:
            self.waiter.set_exception(error)
            self.transport.close()

    def abort(self) -> None:
        self.timer.cancel()
        self.transport.close()

    def _watch(self) -> None:
        """The read and total limits with one timer per read limit, not one reset per chunk."""
        now = _clock()
        due = min(self.total_due, self.arrived + self.read_ns)
        if now >= due:
            self._end(asyncio.TimeoutError())
        else:
            self.timer = self.loop.call_later((due - now) / 1e9, self._watch)


class StreamClient:
    """Streams answers from any number of servers; one per event loop, used on that loop only."""

    def __init__(self, params, api_key: Optional[str]) -> None:
        self.connect_s = params.connect_timeout_s
        self.read_ns = int(params.read_timeout_s * 1e9)
        self.total_ns = int(params.request_timeout_s * 1e9)
        self.api_key = api_key
        self.servers: dict[str, _Server] = {}
        self.busy: set[_Connection] = set()

    async def stream(self, url: str, path: str, body: bytes, chat: bool, on_first: OnFirst) -> tuple[StreamedAnswer, int]:
        """POST ``body`` (JSON bytes) and read the event stream: the whole answer and the last byte's arrival
        (monotonic ns); ``on_first`` gets the first token's arrival time."""
        server = self.servers.get(url) or self.servers.setdefault(url, _Server(url, self.api_key))
        head = server.head(path, len(body))
        total_due = _clock() + self.total_ns
        while True:
            conn, reused = await self._connection(server)
            conn.total_due, conn.read_ns = total_due, self.read_ns
            self.busy.add(conn)
            try:
                conn.start(head, body, chat, on_first, reused, min(self.read_ns, self.total_ns) / 1e9)
                await conn.waiter
            except _Stale:
                continue
            except BaseException:  # a failure or a cancellation: this connection's state is unknown
                conn.abort()
                raise
            finally:
                self.busy.discard(conn)
                conn.waiter = None
            return self._answer(conn, server, url, path)

    def _answer(self, conn: _Connection, server: _Server, url: str, path: str) -> tuple[StreamedAnswer, int]:
        if conn.keep and not conn.closed:
            server.idle.append(conn)
        else:
            conn.transport.close()
        if conn.status != 200:
            detail = b"".join(conn.rest).decode("utf-8", "replace")[:300].replace("\n", " ")
            raise StreamError(f"HTTP {conn.status} from {url}{path}: {detail}")
        answer = conn.answer
        rest = b"".join(conn.rest) + conn.pending
        if rest:
            answer.feed_body(rest)
        answer.check_complete()
        return answer, conn.ended

    async def _connection(self, server: _Server) -> tuple[_Connection, bool]:
        while server.idle:
            conn = server.idle.pop()
            if not conn.closed:
                return conn, True
        loop = asyncio.get_running_loop()
        connect = loop.create_connection(lambda: _Connection(loop), server.host, server.port, ssl=server.ssl)
        _, conn = await asyncio.wait_for(connect, self.connect_s)
        return conn, False

    def close(self) -> None:
        for server in self.servers.values():
            for conn in server.idle:
                conn.transport.close()
            server.idle.clear()
        for conn in self.busy:
            conn.transport.close()


def failure_reason(err: BaseException, url: str) -> str:
    """One line for a request that failed with ``err``: what queries.jsonl and LoadGen's error say."""
    if isinstance(err, StreamError):
        return str(err)
    if isinstance(err, asyncio.TimeoutError):
        return f"timeout: no answer within read_timeout_s/request_timeout_s from {url}"
    if isinstance(err, asyncio.CancelledError):
        return "cancelled: the run stopped before the answer ended"
    if isinstance(err, ConnectionClosed):
        return f"stream ended early: the connection closed mid-answer ({describe_error(err)})"
    if isinstance(err, OSError):
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


_GC_THRESHOLD = gc.get_threshold()
YOUNG_OBJECTS = 50_000


def quiet_collector(on: bool = True) -> None:
    """For the run (``on``) or after it: keep Python's cyclic collector from stopping the loop.

    Everything loaded before the run (the tokenizer, transformers, torch: millions of objects) is frozen
    out of the collector's sight: a full collection over it stopped the loop for up to 0.3 s mid-run. A
    young-generation collection runs every :data:`YOUNG_OBJECTS` allocations instead of 700: an answer's
    parsed chunks (thousands of objects, freed by reference counting) were walked and promoted by several
    collections each, a few microseconds per chunk.
    """
    if on:
        gc.freeze()
        gc.set_threshold(max(YOUNG_OBJECTS, _GC_THRESHOLD[0]), *_GC_THRESHOLD[1:])
    else:
        gc.set_threshold(*_GC_THRESHOLD)
        gc.unfreeze()


def answer_facts(answer: StreamedAnswer, ids: list[int], url: str) -> dict[str, Any]:
    facts = answer.accounting(len(ids))
    facts["server"] = url
    return facts
