"""The telemetry sampler in a process of its own, so the harness pays nothing per tick.

As a thread of the harness, the sampler shared the interpreter lock and the cores with an in-process
engine: on a 2-core machine that cost about 5 % of throughput although its ticks used under 1 % of a
core. Here it runs in a child interpreter at the lowest CPU priority (nice 19), so the engine's threads
always come first; the harness only stores its three progress counters into shared memory
(``counters.py``, inherited as a descriptor) and answers no request.

The harness and the child speak JSON lines over the child's stdin and stdout:

    harness -> child   {"config": {...}}            child -> harness   {"ready": true}
    harness -> child   {"stop": true}               child -> harness   {"stopped": <samples>}
    harness -> child   {"finish": {stage_dir, origin_s, test_s}}   ->  {"summary": {...}}, then it exits

The child dies with the harness (parent-death signal), and exits by itself when its stdin closes.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Optional

READY_TIMEOUT_S = 60.0  # a cold interpreter importing psutil, NVML and the Prometheus parser
STOP_TIMEOUT_S = 10.0  # the last tick: a scrape times out after 1 s
FINISH_TIMEOUT_S = 120.0  # writing the series of a long stage
NICE = 19


class SamplerProcessError(RuntimeError):
    pass


class SamplerProcess:
    """The harness's handle on the child; ``stop`` at the end of the test, ``finish`` for the summary."""

    def __init__(self, proc: subprocess.Popen, counters):
        self.proc = proc
        self.counters = counters
        self.publish = counters.publish  # the harness's SUT calls this as its counters move
        self._stop_error: Optional[str] = None

    @classmethod
    def start(cls, counters, targets: list[tuple[str, str]], server_pid: Optional[int], device: str,
              partial_path: Optional[Path]) -> "SamplerProcess":
        from mlnb.lifecycle import die_with_parent_preexec

        proc = subprocess.Popen(
            [sys.executable, "-m", "mlnb.telemetry.sampler_process"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, pass_fds=(counters.fd,),
            preexec_fn=die_with_parent_preexec(),  # noqa: PLW1509 - the child must die with the harness
        )
        handle = cls(proc, counters)
        config = {"parent_pid": os.getpid(), "counters_fd": counters.fd, "targets": targets, "server_pid": server_pid,
                  "device": device, "partial_path": str(partial_path) if partial_path else None}
        try:
            handle._ask({"config": config}, "ready", READY_TIMEOUT_S)
        except Exception:
            handle.kill()
            raise
        return handle

    def stop(self) -> None:
        """End sampling (the child takes its last sample now); a failure here is for ``finish`` to report."""
        try:
            self._ask({"stop": True}, "stopped", STOP_TIMEOUT_S)
        except SamplerProcessError as err:
            self._stop_error = str(err)

    def finish(self, stage_dir: Path, origin_s: Optional[float], test_s: float) -> dict:
        """The child writes the series file and returns the summary, then exits."""
        if self._stop_error:
            self.kill()
            raise SamplerProcessError(self._stop_error)
        try:
            reply = self._ask({"finish": {"stage_dir": str(stage_dir), "origin_s": origin_s, "test_s": test_s}},
                              "summary", FINISH_TIMEOUT_S)
        finally:
            self.kill()
        return reply

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # a child between requests exits on end of input
                self.proc.wait(timeout=2.0)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.counters.close()

    def _ask(self, message: dict, answer: str, timeout_s: float):
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError) as err:
            raise SamplerProcessError(f"the sampler process is gone ({type(err).__name__}: {err})") from err
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            why = "no answer" if not ready else f"exited with {self.proc.poll()}"
            raise SamplerProcessError(f"the sampler process gave {why} to {next(iter(message))} within {timeout_s:.0f} s")
        try:
            reply = json.loads(line)
        except ValueError as err:
            raise SamplerProcessError(f"the sampler process answered {line[:200]!r}") from err
        if answer not in reply:
            raise SamplerProcessError(f"the sampler process failed: {reply.get('error', reply)}")
        return reply[answer]


def _child() -> int:
    """The child's side: sample until told to stop, then summarise into the stage folder."""
    # The protocol owns stdout; anything a library prints goes to stderr (the harness's log) instead.
    protocol, sys.stdout = sys.stdout, sys.stderr
    import psutil

    from mlnb.lifecycle import set_parent_death_signal
    from mlnb.telemetry.aggregate import finish
    from mlnb.telemetry.counters import SharedCounters
    from mlnb.telemetry.prometheus import ScrapeTarget
    from mlnb.telemetry.sampler import TelemetrySampler

    def say(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    def next_message() -> Optional[dict]:
        line = sys.stdin.readline()
        return json.loads(line) if line else None

    message = next_message()
    if message is None:
        return 0
    config = message["config"]
    set_parent_death_signal(config["parent_pid"])
    os.nice(NICE)  # the engine's threads come first; a tick that waits is stamped when it runs
    try:
        counters = SharedCounters.attach(config["counters_fd"])
        server = psutil.Process(config["server_pid"]) if config["server_pid"] else None
        sampler = TelemetrySampler(counters.read, [ScrapeTarget(url, origin) for url, origin in config["targets"]], server,
                                   config["device"], Path(config["partial_path"]) if config["partial_path"] else None,
                                   harness_pid=config["parent_pid"])
        sampler.start()
    except Exception as err:  # noqa: BLE001 - the harness records why telemetry is missing
        say({"error": f"{type(err).__name__}: {err}"})
        return 1
    say({"ready": True})
    message = next_message()
    sampler.stop()
    if message is None or "stop" not in message:
        return 0
    say({"stopped": len(sampler.rows)})
    message = next_message()
    if message is None or "finish" not in message:
        return 0
    ask = message["finish"]
    try:
        summary = finish(sampler, Path(ask["stage_dir"]), ask["origin_s"], ask["test_s"])
    except Exception as err:  # noqa: BLE001
        say({"error": f"{type(err).__name__}: {err}"})
        return 1
    say({"summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(_child())
