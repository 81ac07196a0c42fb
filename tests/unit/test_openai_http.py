"""The streaming HTTP client against a scripted server: framing, splits, closes, errors, reuse, limits."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from mlnb.backends.openai_http import ConnectionClosed, StreamClient, failure_reason, new_event_loop
from mlnb.backends.openai_stream import StreamError


def _event(i: int, finish: bool = False) -> bytes:
    choice = {"index": 0, "text": f" t{i}", "token_ids": [i], "finish_reason": "length" if finish else None}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"


def _events(n: int) -> bytes:
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": %d}}\n\n' % n
    return b"".join(_event(i, i == n - 1) for i in range(n)) + usage + b"data: [DONE]\n\n"


def _chunked(body: bytes, size: int) -> bytes:
    """Chunked transfer encoding with chunks of ``size`` bytes, unrelated to where events end."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


class Server:
    """Answers each request on a connection with the next script: a list of bytes to write (None: close;
    a float: sleep that long), written with a drain and a short pause each so that they arrive apart."""

    def __init__(self, scripts: list[list], pause: float = 0.002) -> None:
        self.scripts = list(scripts)
        self.pause = pause
        self.connections = 0
        self.requests: list[bytes] = []
        self.handlers: set[asyncio.Task] = set()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.handlers.add(asyncio.current_task())
        try:
            while self.scripts:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                for step in self.scripts.pop(0):
                    if step is None:
                        writer.close()
                        return
                    if isinstance(step, float):
                        await asyncio.sleep(step)
                        continue
                    writer.write(step)
                    await writer.drain()
                    await asyncio.sleep(self.pause)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def _client(read_s: float = 5.0, total_s: float = 30.0, api_key=None) -> StreamClient:
    return StreamClient(SimpleNamespace(connect_timeout_s=2.0, read_timeout_s=read_s, request_timeout_s=total_s), api_key)


def _run(coro):
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def _stream(client: StreamClient, url: str, firsts: list | None = None):
    firsts = [] if firsts is None else firsts
    return await client.stream(url, "/completions", b'{"prompt": "x"}', False, lambda at, token: firsts.append((at, token)))


def test_events_split_across_reads_and_chunks_give_the_whole_answer_and_one_first_token():
    # 5-byte HTTP chunks, each its own write: every event and even the chunk-size lines arrive in pieces.
    wire = HEAD_CHUNKED + _chunked(_events(6), 5)
    script = [wire[i:i + 23] for i in range(0, len(wire), 23)]

    async def main():
        async with Server([script]) as url:
            client = _client()
            firsts: list = []
            answer, end = await _stream(client, url, firsts)
            client.close()
            return answer, end, firsts

    answer, end, firsts = _run(main())
    assert firsts and len(firsts) == 1 and firsts[0][1] == (" t0", [0])
    assert firsts[0][0] < end  # the first token's arrival, then the last byte's
    assert answer.final_token_ids(None) == list(range(6)) and answer.chunks == 6
    assert answer.text == "".join(f" t{i}" for i in range(6))
    assert answer.done and answer.finish_reason == "length" and answer.usage["completion_tokens"] == 6


def test_several_events_in_one_packet_with_a_content_length():
    body = b": keep-alive comment\n\n" + _events(4)
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def main():
        async with Server([[wire]]) as url:
            client = _client()
            answer, _ = await _stream(client, url)
            client.close()
            return answer

    answer = _run(main())
    assert answer.final_token_ids(None) == [0, 1, 2, 3] and answer.usage["prompt_tokens"] == 3


def test_a_body_that_ends_with_the_connection_and_crlf_lines():
    body = _events(3).replace(b"\n", b"\r\n")
    wire = [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", body[:40], body[40:], None]

    async def main():
        async with Server([wire]) as url:
            client = _client()
            answer, _ = await _stream(client, url)
            client.close()
            return answer

    answer = _run(main())
    assert answer.final_token_ids(None) == [0, 1, 2]


def test_a_server_that_closes_mid_stream_is_an_early_end():
    wire = [HEAD_CHUNKED, _chunked(_event(0) + _event(1), 1000)[:-5], None]  # no terminating chunk

    async def main():
        async with Server([wire]) as url:
            with pytest.raises(ConnectionClosed) as err:
                await _stream(_client(), url)
            return failure_reason(err.value, url)

    reason = _run(main())
    assert reason.startswith("stream ended early: the connection closed mid-answer"), reason


def test_a_non_200_answer_is_an_error_with_its_body():
    body = json.dumps({"error": {"message": "The model `x` does not exist.", "code": 404}}).encode()
    wire = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def main():
        async with Server([[wire]]) as url:
            with pytest.raises(StreamError) as err:
                await _stream(_client(), url)
            return str(err.value), url

    message, url = _run(main())
    assert message.startswith(f"HTTP 404 from {url}/completions: ") and "does not exist" in message


def test_a_malformed_chunk_after_the_first_token_is_named():
    body = _event(0) + b"data: {not json\n\n" + _event(1, True) + b"data: [DONE]\n\n"
    wire = HEAD_CHUNKED + _chunked(body, 4096)

    async def main():
        async with Server([[wire]]) as url:
            with pytest.raises(StreamError, match="malformed stream chunk .not JSON.: b'{not json'"):
                await _stream(_client(), url)

    _run(main())


def test_keep_alive_reuses_the_connection_and_a_stale_one_is_retried_once():
    wire = HEAD_CHUNKED + _chunked(_events(2), 64)
    # One connection answers twice, then takes a third request and closes without a byte (as a server that
    # closed an idle connection): that request goes again on a new connection, which answers it.

    server = Server([[wire], [wire], [None], [wire]])

    async def main():
        async with server as url:
            client = _client(api_key="sk-secret")
            answers = [(await _stream(client, url))[0] for _ in range(3)]
            client.close()
            return answers

    answers = _run(main())
    assert [a.final_token_ids(None) for a in answers] == [[0, 1]] * 3
    assert server.connections == 2 and len(server.requests) == 4
    first = server.requests[0]
    assert first.startswith(b"POST /v1/completions HTTP/1.1\r\n") and b"Authorization: Bearer sk-secret\r\n" in first
    assert first.endswith(b'\r\n\r\n{"prompt": "x"}')


def test_read_limit_and_cancellation_close_the_connection():
    async def main():
        async with Server([[HEAD_CHUNKED, _chunked(_event(0), 100)[:-5], 30.0], [HEAD_CHUNKED, 30.0]]) as url:
            client = _client(read_s=0.3)
            firsts: list = []
            with pytest.raises(asyncio.TimeoutError) as err:
                await _stream(client, url, firsts)
            timeout = failure_reason(err.value, url)
            task = asyncio.ensure_future(_stream(client, url))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.05)
            return timeout, firsts, client

    timeout, firsts, client = _run(main())
    assert timeout.startswith("timeout: "), timeout
    assert len(firsts) == 1  # the first token came before the silence
    assert not client.busy and all(not s.idle for s in client.servers.values())


def test_the_collector_is_quieted_for_the_run_and_restored_after():
    import gc

    from mlnb.backends.openai_http import YOUNG_OBJECTS, quiet_collector

    before = gc.get_threshold()
    quiet_collector()
    try:
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == max(YOUNG_OBJECTS, before[0])
    finally:
        quiet_collector(False)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
