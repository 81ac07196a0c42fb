"""One engine replica in its own process: ``python -m mlnb.harness.replica_worker ADDRESS INDEX``.

It connects back to the harness (a Unix socket; the key comes in ``MLNB_REPLICA_KEY``), receives its
StageParams, loads its backend on its own device, and then serves requests: every first token and
completion goes back to the harness, which hands them to LoadGen. See mlnb/harness/replicas.py.
"""

from __future__ import annotations

import os
import sys
import threading
from multiprocessing.connection import Client
from typing import Sequence

KEY_ENV = "MLNB_REPLICA_KEY"
INDEX_ENV = "MLNB_REPLICA_INDEX"


class _Relay:
    """The backend's sink in the worker: every event goes to the harness as a small tuple."""

    def __init__(self, conn):
        self.conn = conn
        self.lock = threading.Lock()  # backend threads and the main loop share one connection

    def send(self, message: tuple) -> None:
        with self.lock:
            self.conn.send(message)

    def first_token(self, request, token_ids: Sequence[int]) -> None:
        self.send(("first", request.request_id, [int(t) for t in token_ids]))

    def complete(self, request, token_ids: Sequence[int], error: str | None = None) -> None:
        self.send(("done", request.request_id, [int(t) for t in token_ids], error))

    def mark_sent(self, request) -> None:
        pass

    def mark_time(self, request, name: str) -> None:
        pass

    def annotate(self, request, facts: dict) -> None:
        self.send(("annotate", request.request_id, facts))


def serve(address: str, index: int) -> int:
    from mlnb.backends.base import Request
    from mlnb.backends.registry import get_backend
    from mlnb.config import StageParams

    conn = Client(address, family="AF_UNIX", authkey=bytes.fromhex(os.environ[KEY_ENV]))
    conn.send(index)  # the harness pairs the connection with the replica it started
    relay = _Relay(conn)
    params = StageParams.model_validate_json(conn.recv())
    try:
        backend = get_backend(params.backend)(params)
        backend.load()
    except Exception as err:  # the harness turns this into the stage's one-line failure
        relay.send(("load_failed", f"{type(err).__name__}: {err}"))
        return 1
    backend.start(relay)
    relay.send(("ready", backend.describe()))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the harness is gone: nothing left to serve
            return 0
        kind = message[0]
        if kind == "submit":
            backend.submit([Request(*fields) for fields in message[1]])
        elif kind == "flush":
            backend.flush()
        elif kind == "stop":
            backend.stop()
            backend.close()
            relay.send(("stopped", backend.describe()))
            return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mlnb.harness.replica_worker ADDRESS INDEX", file=sys.stderr)
        return 2
    return serve(argv[0], int(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
