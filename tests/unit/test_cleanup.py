"""`mlnb cleanup` stops recorded processes that are still the same process, and nothing else."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from click.testing import CliRunner

from mlnb.cli import main
from mlnb.server.processes import RECORD_NAME, ProcessRecord


def _record(outputs, run, proc_pid, **changes):
    folder = outputs / run / "server"
    folder.mkdir(parents=True)
    record = dataclasses.replace(ProcessRecord.of(proc_pid, "server", outputs / run), **changes)
    record.save(folder / RECORD_NAME)
    return record


def test_cleanup_stops_only_what_mlnb_recorded(tmp_path):
    outputs = tmp_path / "outputs"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    try:
        _record(outputs, "run_a", child.pid)
        # A record whose pid now runs something else (same pid, other start time): never signalled.
        _record(outputs, "run_b", bystander.pid, create_time=1.0)
        # Our own pytest process, recorded with another command line: never signalled either.
        _record(outputs, "run_c", os.getpid(), cmdline=["vllm", "serve"])

        dry = CliRunner().invoke(main, ["cleanup", "--outputs", str(outputs), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "run_a: server pid" in dry.output and "would stop it" in dry.output
        assert child.poll() is None

        result = CliRunner().invoke(main, ["cleanup", "--outputs", str(outputs), "--grace", "5"])
        assert result.exit_code == 0, result.output
        assert "run_a" in result.output and "stopped with SIGTERM" in result.output
        assert child.wait(timeout=10) is not None
        assert "run_b: server pid" in result.output and "not running" in result.output
        assert bystander.poll() is None  # untouched
    finally:
        for proc in (child, bystander):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cleanup_with_nothing_recorded(tmp_path):
    result = CliRunner().invoke(main, ["cleanup", "--outputs", str(tmp_path)])
    assert result.exit_code == 0 and "no recorded processes" in result.output
