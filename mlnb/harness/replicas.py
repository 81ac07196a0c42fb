"""Several engine replicas behind the one LoadGen: one worker process per device.

``ReplicaSet`` is a Backend to the harness. It starts one ``mlnb.harness.replica_worker`` per device,
each loading its own engine (the stage's backend, ``hf`` or ``sim``) with ``replicas=1`` and its own
``device``. Queries go to the live replica with the least outstanding work, counted in tokens (each
in-flight query's prompt tokens plus its output budget), ties to the lower index; LoadGen's issue
thread only appends to a socket. One reader thread per replica passes first tokens and completions
to the harness's sink, so LoadGen hears them in the parent; first-token and completion times are taken
there, on arrival (the socket adds well under a millisecond). Each query's row records its
``replica``.

A replica that dies (its socket closes before it was told to stop) fails its in-flight queries with
the reason. With ``replica_failure=continue`` the others go on and get all later queries; otherwise
(the default) the harness writes the cause to harness_error.json, prints one line, stops every other
replica and exits at once. Workers die with the harness (parent-death signal) and carry the stage's
mark; on CUDA their environment keeps NVLink multicast off.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any, Optional

from mlnb.backends.base import Backend, Request, ResponseSink
from mlnb.backends.registry import get_backend
from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.fileio import write_json_atomic
from mlnb.harness.faults import EXIT_FAULT, HARNESS_ERROR_FILE, stage_declared_failed
from mlnb.harness.replica_worker import INDEX_ENV, KEY_ENV
from mlnb.lifecycle import child_env, die_with_parent_preexec

# Every process on CUDA keeps NVLink multicast off (NVLS and torch's symmetric-memory multicast).
CUDA_CHILD_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
ROUTING = "least outstanding tokens (prompt + output budget of each in-flight query)"
CONNECT_TIMEOUT_S = 120.0
STOP_WAIT_S = 10.0


class ReplicaFailed(RuntimeError):
    """A replica could not start, or died while the stage asked to fail on that."""


def replica_devices(params: StageParams) -> tuple[list[str], str]:
    """The device of each replica and a sentence saying how they were chosen."""
    if params.devices:
        return params.devices.split(","), f"devices as given: {params.devices}"
    from mlnb.backends.device_choice import choose_devices, cuda_free_memory

    if params.backend == "sim":  # the simulator runs on no device
        return [params.device] * params.replicas, "simulated replicas: no device is used"
    if params.device == "auto":
        free = cuda_free_memory()
        try:
            return choose_devices(params.replicas, free)
        except ValueError as err:
            raise InputError(f"replicas={params.replicas}", str(err)) from None
    if params.device == "cpu":
        return [params.device] * params.replicas, f"device={params.device} for every replica"
    raise InputError(f"replicas={params.replicas} with device={params.device}",
                     "name one device per replica (devices=cuda:0,cuda:1,...) or use device=auto")


def worker_env(device: str, index: int, key: str, replicas: int) -> dict[str, str]:
    extra = {KEY_ENV: key, INDEX_ENV: str(index)}
    if device.startswith("cuda"):
        extra.update(CUDA_CHILD_ENV)
    elif "OMP_NUM_THREADS" not in os.environ:  # CPU replicas share the cores instead of each taking all
        extra["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // replicas))
    return child_env(**extra)


@dataclass
class Replica:
    index: int
    device: str
    proc: subprocess.Popen
    conn: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: dict[int, tuple[Request, int]] = field(default_factory=dict)  # request id -> (request, work)
    outstanding: int = 0
    alive: bool = True
    stopping: bool = False
    describe: dict = field(default_factory=dict)
    served: int = 0
    reader: Optional[threading.Thread] = None
    simulated: bool = False

    @property
    def shown_device(self) -> str:
        return "simulated" if self.simulated else self.device

    @property
    def label(self) -> str:
        return f"replica {self.index} ({self.shown_device})"


class ReplicaSet(Backend):
    def __init__(self, params: StageParams):
        super().__init__(params)
        self.simulated = get_backend(params.backend).simulated
        self.stage_dir = Path(params.run_dir) / params.stage
        self.replicas: list[Replica] = []
        self.failures: list[str] = []
        self._route_lock = threading.Lock()
        self.device_note = ""

    # Start ----------------------------------------------------------------------------------------
    def load(self) -> None:
        devices, self.device_note = replica_devices(self.params)
        print(f"{len(devices)} replicas: {self.device_note}", flush=True)
        key = secrets.token_hex(16)
        self._socket_dir = tempfile.mkdtemp(prefix="mlnb-replicas-")
        address = str(Path(self._socket_dir) / "harness.sock")
        listener = Listener(address, family="AF_UNIX", authkey=bytes.fromhex(key))
        try:
            for index, device in enumerate(devices):
                proc = subprocess.Popen(
                    [sys.executable, "-m", "mlnb.harness.replica_worker", address, str(index)],
                    env=worker_env(device, index, key, len(devices)),
                    preexec_fn=die_with_parent_preexec(),  # load() runs on the harness's main thread
                )
                self.replicas.append(Replica(index, device, proc, simulated=self.simulated))
            for _ in devices:  # workers connect in any order; each says its index first
                conn = self._accept(listener)
                index = conn.recv()
                self.replicas[index].conn = conn
            for replica in self.replicas:
                one = self.params.model_copy(update={"device": replica.device, "replicas": 1, "devices": None})
                replica.conn.send(one.model_dump_json())
            for replica in self.replicas:  # the engines load in parallel; wait for each
                message = self._recv_or_died(replica, "while loading")
                if message[0] == "load_failed":
                    raise ReplicaFailed(f"{replica.label} failed to load: {message[1]}")
                replica.describe = message[1]
        except BaseException:
            self.close()
            raise
        finally:
            listener.close()

    def _accept(self, listener):
        # Listener.accept has no timeout: a worker that dies before connecting must not hang the stage.
        result: list = []
        thread = threading.Thread(target=lambda: result.append(listener.accept()), daemon=True)
        thread.start()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not result:
            thread.join(0.2)
            dead = [r for r in self.replicas if r.proc.poll() is not None and r.conn is None]
            if dead and not result:
                raise ReplicaFailed(f"{dead[0].label} exited ({_how(dead[0].proc.returncode)}) before it connected")
            if time.monotonic() > deadline and not result:
                raise ReplicaFailed(f"a replica worker did not connect within {CONNECT_TIMEOUT_S:.0f} s")
        return result[0]

    def _recv_or_died(self, replica: Replica, when: str):
        try:
            return replica.conn.recv()
        except (EOFError, OSError):
            code = replica.proc.wait(timeout=STOP_WAIT_S)
            raise ReplicaFailed(f"{replica.label} died {when} ({_how(code)})") from None

    def start(self, sink: ResponseSink) -> None:
        self.sink = sink
        for replica in self.replicas:
            replica.stopping = False
            replica.reader = threading.Thread(target=self._read, args=(replica,), name=f"replica-{replica.index}", daemon=True)
            replica.reader.start()

    # Requests -------------------------------------------------------------------------------------
    def _pick(self) -> Replica:
        live = [r for r in self.replicas if r.alive]
        if not live:
            raise ReplicaFailed("every replica has died: " + "; ".join(self.failures))
        return min(live, key=lambda r: (r.outstanding, r.index))

    def submit(self, requests: list[Request]) -> None:
        batches: dict[int, list[Request]] = {}
        with self._route_lock:
            for request in requests:
                replica = self._pick()
                work = len(request.prompt_ids) + request.max_new_tokens
                replica.in_flight[request.request_id] = (request, work)
                replica.outstanding += work
                batches.setdefault(replica.index, []).append(request)
        for index, batch in batches.items():
            replica = self.replicas[index]
            for request in batch:
                self.sink.annotate(request, {"replica": index})
            wire = [(r.request_id, r.sample_index, list(r.prompt_ids), r.stream, r.max_new_tokens, r.min_new_tokens,
                     r.extra, r.ignore_eos) for r in batch]
            try:
                with replica.lock:
                    replica.conn.send(("submit", wire))
            except OSError:  # the reader thread sees the death and fails these queries
                pass

    def flush(self) -> None:
        for replica in self.replicas:
            if replica.alive:
                try:
                    with replica.lock:
                        replica.conn.send(("flush",))
                except OSError:
                    pass

    def _read(self, replica: Replica) -> None:
        while True:
            try:
                message = replica.conn.recv()
            except (EOFError, OSError):
                if not replica.stopping:
                    self._died(replica)
                return
            kind = message[0]
            if kind == "first":
                entry = replica.in_flight.get(message[1])
                if entry is not None:
                    self.sink.first_token(entry[0], message[2])
            elif kind == "done":
                with self._route_lock:
                    entry = replica.in_flight.pop(message[1], None)
                    if entry is not None:
                        replica.outstanding -= entry[1]
                        replica.served += 1
                if entry is not None:
                    self.sink.complete(entry[0], message[2], error=message[3])
            elif kind == "annotate":
                entry = replica.in_flight.get(message[1])
                if entry is not None:
                    self.sink.annotate(entry[0], message[2])
            elif kind == "stopped":
                replica.describe = message[1]
                return

    def _died(self, replica: Replica) -> None:
        try:
            code = replica.proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            replica.proc.kill()
            code = replica.proc.wait()
        with self._route_lock:
            replica.alive = False
            lost = list(replica.in_flight.values())
            replica.in_flight.clear()
            replica.outstanding = 0
        reason = f"{replica.label} died ({_how(code)}) with {len(lost)} {'query' if len(lost) == 1 else 'queries'} in flight"
        self.failures.append(reason)
        if self.params.replica_failure != "continue" or not any(r.alive for r in self.replicas):
            self._fail_now(reason)
        print(f"warning: {reason}; replica_failure=continue: going on with the others", flush=True)
        for request, _ in lost:
            self.sink.complete(request, [], error=f"{replica.label} died ({_how(code)})")

    def _fail_now(self, reason: str) -> None:
        """The stage ends here: the cause goes to harness_error.json and one line to the log."""
        print(f"fatal: {reason} (replica_failure={self.params.replica_failure})", file=sys.stderr, flush=True)
        if not stage_declared_failed(self.stage_dir):
            try:
                write_json_atomic(self.stage_dir / HARNESS_ERROR_FILE, {
                    "ename": "ReplicaFailed", "evalue": reason, "thread": threading.current_thread().name,
                    "traceback": "",
                })
            except OSError:
                pass
        self._kill_all()
        os._exit(EXIT_FAULT)  # LoadGen would otherwise wait for the lost queries

    # Stop -----------------------------------------------------------------------------------------
    def stop(self) -> None:
        for replica in self.replicas:
            if not replica.alive or replica.conn is None:
                continue
            replica.stopping = True
            try:
                with replica.lock:
                    replica.conn.send(("stop",))
            except OSError:
                continue
        for replica in self.replicas:
            if replica.reader is not None:
                replica.reader.join(timeout=self.params.timeout_s)

    def close(self) -> None:
        self._kill_all(grace_s=STOP_WAIT_S)
        for replica in self.replicas:
            if replica.conn is not None:
                replica.conn.close()
        socket_dir = getattr(self, "_socket_dir", None)
        if socket_dir:
            for leftover in Path(socket_dir).glob("*"):
                leftover.unlink(missing_ok=True)
            Path(socket_dir).rmdir()
            self._socket_dir = None

    def _kill_all(self, grace_s: float = 0.0) -> None:
        for replica in self.replicas:
            if replica.proc.poll() is None:
                try:
                    replica.proc.wait(timeout=grace_s) if grace_s else None
                except subprocess.TimeoutExpired:
                    pass
                if replica.proc.poll() is None:
                    replica.proc.kill()
                    replica.proc.wait()

    def describe(self) -> dict[str, Any]:
        first = dict(self.replicas[0].describe) if self.replicas else {}
        return {
            **first,
            "backend": self.params.backend,
            "simulated": self.simulated,
            "device": ", ".join(r.shown_device for r in self.replicas),
            "replicas": [
                {"index": r.index, "device": r.shown_device, "alive": r.alive, "queries": r.served,
                 "engine": {k: v for k, v in r.describe.items() if k in ("device", "gpu", "dtype", "cpu_threads", "batch_size", "load_seconds")}}
                for r in self.replicas
            ],
            "replica_count": len(self.replicas),
            "replica_routing": ROUTING,
            "replica_devices_note": self.device_note,
            "replica_failure": self.params.replica_failure,
            "replica_failures": list(self.failures),
            "concurrency": f"{len(self.replicas)} replicas, each: {first.get('concurrency', 'its own engine')}",
        }


def _how(code: Optional[int]) -> str:
    if code is None:
        return "still running"
    return f"exit code {code}" if code >= 0 else f"killed by signal {-code}"


def make_backend(params: StageParams) -> Backend:
    """The stage's backend: the engine itself, or a set of replicas of it when more than one is asked for."""
    if params.replica_count > 1:
        if params.backend not in ("hf", "sim"):
            raise InputError(f"replicas={params.replica_count} with backend={params.backend}",
                             "replicas run the hf and sim backends; for servers, list several base_url endpoints")
        return ReplicaSet(params)
    return get_backend(params.backend)(params)
