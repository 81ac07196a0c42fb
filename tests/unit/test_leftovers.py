"""FORCE_FREE_GPU: only processes of mlnb runs that have ended are stopped; nothing else."""

import json
import os
import subprocess
import sys
import time

import psutil

from mlnb.leftovers import free_leftovers
from mlnb.lifecycle import RUN_MARK_ENV, owner_record


def _sleeper(env_extra):
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=dict(os.environ, **env_extra))


def test_only_an_ended_runs_processes_are_stopped(tmp_path):
    ended, running = tmp_path / "outputs" / "ended", tmp_path / "outputs" / "running"
    ended.mkdir(parents=True)
    running.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # "running" in run.json but its owner is gone: abandoned, its leftovers may go
    (ended / "run.json").write_text(json.dumps({"status": "running", "owner": {"pid": dead.pid, "create_time": 1.0}}))
    (running / "run.json").write_text(json.dumps({"status": "running", "owner": owner_record()}))  # we own it, alive
    leftover = _sleeper({RUN_MARK_ENV: str(ended)})
    live_run = _sleeper({RUN_MARK_ENV: str(running)})
    stranger = _sleeper({})
    other = tmp_path / "other" / "elsewhere"
    other.mkdir(parents=True)
    (other / "run.json").write_text((ended / "run.json").read_text())
    elsewhere = _sleeper({RUN_MARK_ENV: str(other)})
    try:
        deadline = time.time() + 10  # the marker is read from /proc: wait until the children have exec'd
        while time.time() < deadline and psutil.Process(leftover.pid).environ().get(RUN_MARK_ENV) != str(ended):
            time.sleep(0.05)
        lines = free_leftovers(tmp_path / "outputs")
        assert any(str(ended) in line and "stopped 1" in line for line in lines), lines
        assert any(str(running) in line and "left alone" in line for line in lines), lines
        assert leftover.wait(timeout=10) is not None
        assert live_run.poll() is None and stranger.poll() is None
        assert not any("elsewhere" in line for line in lines)
        assert elsewhere.poll() is None  # a run of another outputs folder is not this run's business
    finally:
        for proc in (leftover, live_run, stranger, elsewhere):
            proc.kill()
            proc.wait()
