"""One client worker process (``client_workers`` > 1): its own event loop and streaming client.

Started by :mod:`mlnb.backends.openai_workers` as ``python -m mlnb.backends.openai_worker FD`` with one
end of a socket pair. It reads its settings, then batches of requests (LoadGen's ids, the path and the
JSON body already made by the parent), streams them, and sends back, batched once per loop turn:

- ``("first", id, sent_ns, first_ns, (text, ids))`` when the first token arrived (streaming scenarios);
- ``("done", id, sent_ns, first_ns, end_ns, url, answer, error)`` when the answer ended (the parsed
  :class:`StreamedAnswer`) or failed (``answer`` None, ``error`` the one-line reason).

A worker needs no tokenizer (importing transformers would cost each worker seconds of CPU): an answer
without the server's token ids goes back as text and the parent counts it, as it would in-process.

Times are ``time.monotonic_ns()``: CLOCK_MONOTONIC, one clock for every process of the machine, so
the parent's per-query times and these compare directly. The chunk's arrival is read before it is
parsed. The worker measures its own loop CPU per chunk and loop lag (:class:`ClientLoad`) and sends
them when stopped. It dies with its parent (parent-death signal, and an end-of-file on the pipe).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Optional

from mlnb.backends.openai_http import StreamClient, failure_reason, new_event_loop, quiet_collector
from mlnb.backends.openai_stream import StreamError
from mlnb.backends.openai_load import ClientLoad


class Worker:
    def __init__(self, conn: Connection, settings: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.loop = loop
        self.urls: list[str] = settings["urls"]
        self.chat: bool = settings["chat"]
        self.params = settings["params"]
        self.outstanding = {url: 0 for url in self.urls}
        self.load = ClientLoad()
        self.inflight: set[asyncio.Task] = set()
        self._out: list[tuple] = []
        self._stopped = loop.create_future()

    # Messages ------------------------------------------------------------------------------
    def _emit(self, message: tuple) -> None:
        if not self._out:
            self.loop.call_soon(self._flush)  # once per loop turn: every chunk read in it goes in one write
        self._out.append(message)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out:
            self.conn.send(out)

    def _read(self) -> None:
        """A thread that blocks on the pipe: the socket stays blocking (an event loop's reader would make
        it non-blocking, and a message larger than one read would then fail half-read)."""
        try:
            while True:
                self.loop.call_soon_threadsafe(self._handle, self.conn.recv())
        except (EOFError, OSError):  # the parent is gone: nothing to report to
            os._exit(0)

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "go":
            for rid, path, body, stream in message[1]:
                task = self.loop.create_task(self._serve(rid, path, body, stream))
                self.inflight.add(task)
                task.add_done_callback(self.inflight.discard)
        elif kind == "begin":
            quiet_collector()
            self.load.begin(self.loop)
        elif kind == "stop":
            if not self._stopped.done():
                self._stopped.set_result(None)

    # One request ---------------------------------------------------------------------------
    async def _serve(self, rid: int, path: str, body: bytes, stream: bool) -> None:
        url = min(self.urls, key=self.outstanding.__getitem__)  # least outstanding requests
        self.outstanding[url] += 1
        sent = time.monotonic_ns()
        first: list[Optional[int]] = [None]

        def on_first(arrived: int, token: tuple[str, list[int]]) -> None:
            first[0] = arrived
            if stream:
                self._emit(("first", rid, sent, arrived, token))

        try:
            answer, end = await self.client.stream(url, path, body, self.chat, on_first)
            self.load.chunks += answer.chunks
            self._emit(("done", rid, sent, first[0], end, url, answer, None))
        except (Exception, asyncio.CancelledError) as err:  # never a lost query
            self._emit(("done", rid, sent, first[0], time.monotonic_ns(), url, None, failure_reason(err, url)))
        finally:
            self.outstanding[url] -= 1

    async def run(self) -> None:
        self.client = StreamClient(self.params, os.environ.get(self.params.api_key_env) or None)
        threading.Thread(target=self._read, name="client-worker-pipe", daemon=True).start()
        self.conn.send([("ready", os.getpid())])
        await self._stopped
        self.load.end()
        for task in list(self.inflight):
            task.cancel()
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)
        self.client.close()
        self._flush()
        self.conn.send([("stopped", self.load.raw())])


def main(argv: list[str]) -> int:
    from mlnb.lifecycle import set_parent_death_signal

    set_parent_death_signal(int(argv[2]) if len(argv) > 2 else None)
    conn = Connection(int(argv[1]))
    try:
        settings = conn.recv()
    except EOFError:
        return 0
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(Worker(conn, settings, loop).run())
    except StreamError as err:  # pragma: no cover - a start-up problem, said in one line
        print(f"client worker: {err}", file=sys.stderr)
        return 1
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
