"""The parent's side of ``client_workers`` > 1: HTTP streaming spread over worker processes.

One LoadGen stays in the harness process. Each request goes, with its JSON body already made, to the
worker with the fewest requests outstanding; a receiver thread takes the workers' batched replies and
hands them to the backend, which calls LoadGen (FirstTokenComplete, QuerySamplesComplete) with the
times the worker took. LoadGen's own clock reads the call's time, so the hand-over from the worker to
LoadGen is measured (``handoff_ms``) and reported beside the client's load.

A worker that dies mid-run fails its in-flight queries with the reason, and the receiver thread raises
:class:`ClientWorkerDied`: the harness ends the stage with that one line (harness/faults.py).
Workers get the parent-death signal and the stage's mark, so none outlives the harness.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Optional

from mlnb.lifecycle import child_env, die_with_parent_preexec

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


class ClientWorkerDied(RuntimeError):
    """A client worker process ended during the run; the message is the stage's one-line reason."""


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen
    conn: Connection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    outstanding: set[int] = field(default_factory=set)  # LoadGen ids sent and not yet done
    load: Optional[dict] = None  # its ClientLoad.raw(), once stopped
    stopped: bool = False


@dataclass
class Handlers:
    """What the backend does with the workers' replies (all called on the receiver thread)."""

    first: Callable[[int, int, int, tuple[str, list[int]]], None]  # (id, sent_ns, first_ns, (text, ids))
    done: Callable[[int, int, Optional[int], int, str, Any, Optional[str]], None]  # (..., end_ns, url, answer, error)
    died: Callable[[int, str], None]  # (id, reason): fail a query whose worker is gone


class ClientWorkers:
    def __init__(self, count: int, settings: dict[str, Any], handlers: Handlers) -> None:
        self.handlers = handlers
        self.workers: list[_Worker] = []
        self._lock = threading.Lock()  # outstanding sets: the issue thread adds, the receiver removes
        self._stopping = False
        self.handoff_ns = array("q")  # first token: worker's arrival time -> the parent's handling
        try:
            for index in range(count):
                self.workers.append(self._start(index, settings))
            self._await_ready()
        except BaseException:
            self.kill()
            raise
        self._receiver = threading.Thread(target=self._receive, name="openai-workers", daemon=True)
        self._receiver.start()

    def _start(self, index: int, settings: dict[str, Any]) -> _Worker:
        parent_end, child_end = socket.socketpair()
        argv = [sys.executable, "-m", "mlnb.backends.openai_worker", str(child_end.fileno()), str(os.getpid())]
        proc = subprocess.Popen(
            argv, pass_fds=[child_end.fileno()], env=child_env(), preexec_fn=die_with_parent_preexec(),
            stdin=subprocess.DEVNULL,
        )
        child_end.close()
        conn = Connection(parent_end.detach())
        conn.send(settings)
        return _Worker(index, proc, conn)

    def _await_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = {w.conn: w for w in self.workers}
        while waiting:
            ready = wait(list(waiting), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise ClientWorkerDied(f"client workers did not start within {START_TIMEOUT_S:g} s")
            for conn in ready:
                worker = waiting.pop(conn)
                try:
                    conn.recv()
                except EOFError:
                    raise ClientWorkerDied(f"client worker {worker.index} ended while starting ({_how(worker.proc)})") from None

    # The issue side --------------------------------------------------------------------------
    def begin(self) -> None:
        for worker in self.workers:
            with worker.send_lock:
                worker.conn.send(("begin",))

    def send(self, batch: list[tuple[int, str, bytes, bool]]) -> None:
        """(LoadGen id, path, JSON body, stream) each, to the worker with the fewest outstanding; an
        Offline batch (every query at once) is dealt out one by one, so it is spread evenly."""
        shares: dict[int, list] = {}
        with self._lock:
            for item in batch:
                worker = min(self.workers, key=lambda w: len(w.outstanding))
                worker.outstanding.add(item[0])
                shares.setdefault(worker.index, []).append(item)
        for index, items in shares.items():
            worker = self.workers[index]
            with worker.send_lock:
                worker.conn.send(("go", items))

    # The receiver thread ---------------------------------------------------------------------
    def _receive(self) -> None:
        by_conn = {w.conn: w for w in self.workers}
        while by_conn:
            for conn in wait(list(by_conn), timeout=0.5):
                worker = by_conn[conn]
                try:
                    messages = conn.recv()
                except (EOFError, OSError):
                    del by_conn[conn]
                    if not worker.stopped:
                        self._worker_died(worker)
                    continue
                for message in messages:
                    self._dispatch(worker, message)
                if worker.stopped:
                    del by_conn[conn]

    def _dispatch(self, worker: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "first":
            _, rid, sent, first, token = message
            self.handlers.first(rid, sent, first, token)
            self.handoff_ns.append(time.monotonic_ns() - first)
        elif kind == "done":
            _, rid, sent, first, end, url, answer, error = message
            with self._lock:
                worker.outstanding.discard(rid)
            self.handlers.done(rid, sent, first, end, url, answer, error)
        elif kind == "stopped":
            worker.load, worker.stopped = message[1], True

    def _worker_died(self, worker: _Worker) -> None:
        try:
            worker.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        with self._lock:
            lost, worker.outstanding = sorted(worker.outstanding), set()
        if self._stopping:
            return
        reason = f"client worker {worker.index} (pid {worker.proc.pid}) died ({_how(worker.proc)}) with {len(lost)} queries in flight"
        for rid in lost:
            self.handlers.died(rid, reason)
        raise ClientWorkerDied(reason)

    # The end ---------------------------------------------------------------------------------
    def stop(self) -> list[dict]:
        """Cancel what is in flight (each fails as cancelled), collect each worker's load, end them."""
        self._stopping = True
        for worker in self.workers:
            try:
                with worker.send_lock:
                    worker.conn.send(("stop",))
            except OSError:
                pass
        self._receiver.join(timeout=STOP_TIMEOUT_S)
        loads = [w.load for w in self.workers if w.load is not None]
        self.kill()
        return loads

    def kill(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                try:
                    worker.proc.wait(timeout=5 if worker.stopped else 0.01)
                except subprocess.TimeoutExpired:
                    worker.proc.kill()
                    worker.proc.wait()
            worker.conn.close()

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers]


def _how(proc: subprocess.Popen) -> str:
    code = proc.poll()
    if code is None:
        return "pipe closed"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
