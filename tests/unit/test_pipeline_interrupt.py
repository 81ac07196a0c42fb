"""SIGINT or SIGTERM during a run: run.json says interrupted, the index is written, logs stay."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from mlnb import pipeline
from mlnb.pipeline import RunInterrupted, execute_run, plan_run


def _slow_stage(name, run_dir, parameters, timeout, kernels=None, cancel=None, **_):
    """Stands in for a stage notebook: writes a log, then waits until the run is cancelled."""
    stage_dir = run_dir / name
    stage_dir.mkdir(parents=True, exist_ok=True)
    (stage_dir / "stage.log").write_text("started\n")
    (stage_dir / "harness.log").write_text("progress issued=4 completed=1 tokens=100 tok/s=50.0 elapsed=2.0s\n")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cancel is not None and cancel.wait(0.05):
            return "interrupted"
    return "finished"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_marks_the_run_interrupted(tmp_path, monkeypatch, signum):
    monkeypatch.setattr(pipeline, "run_stage_notebook", _slow_stage)
    monkeypatch.setattr(pipeline, "_measure_device", lambda *args: None)  # timing here is about stages
    plan = plan_run("smoke", ["01_offline_perf", "03_server_perf", "99_run_summary"],
                    [(None, "backend", "sim"), (None, "samples", 4)])
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signum))
    timer.start()
    printed: list[str] = []
    try:
        with pytest.raises(RunInterrupted) as stopped:
            execute_run(plan, tmp_path / "outputs", run_id="stopped", echo=printed.append)
    finally:
        timer.cancel()
    run_dir = tmp_path / "outputs" / "stopped"
    assert stopped.value.run_dir == run_dir
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and run["finished"]
    assert run["stage_status"] == {"01_offline_perf": "interrupted"}
    assert (run_dir / "index.html").is_file() and (run_dir / "rollup" / "run_rollup.json").is_file()
    assert (run_dir / "01_offline_perf" / "stage.log").read_text() == "started\n"
    assert not (run_dir / "01_offline_perf" / "failure.json").exists()
    assert not (run_dir / "03_server_perf").exists()
    assert (tmp_path / "outputs" / "latest").resolve() == run_dir.resolve()
    assert any(line.startswith("[01_offline_perf] interrupted in") for line in printed), printed
    assert "interrupted" in (run_dir / "index.html").read_text()
    # The handlers are the caller's again.
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_progress_hooks_see_the_stages(tmp_path, monkeypatch):
    """A run that ends normally calls the reporter for each stage, and the reporter is closed."""
    calls: list[tuple] = []

    class Recorder:
        def start(self, run_dir, stages):
            calls.append(("start", tuple(stages)))

        def stage_started(self, name, stage_dir):
            calls.append(("started", name))

        def poll(self):
            pass

        def stage_finished(self, name, status):
            calls.append(("finished", name, status))

        def close(self):
            calls.append(("close",))

    def quick_stage(name, run_dir, parameters, timeout, kernels=None, cancel=None, **_):
        (run_dir / name).mkdir(parents=True, exist_ok=True)
        return "finished"

    monkeypatch.setattr(pipeline, "run_stage_notebook", quick_stage)
    plan = plan_run("smoke", ["01_offline_perf", "99_run_summary"], [(None, "backend", "sim")])
    outcome = execute_run(plan, tmp_path / "outputs", run_id="ok", echo=lambda _: None, progress=Recorder())
    assert outcome.ok
    assert calls == [
        ("start", ("01_offline_perf", "99_run_summary")),
        ("started", "01_offline_perf"), ("finished", "01_offline_perf", "finished"),
        ("started", "99_run_summary"), ("finished", "99_run_summary", "finished"),
        ("close",),
    ]
    assert json.loads((tmp_path / "outputs" / "ok" / "run.json").read_text())["status"] == "finished"
