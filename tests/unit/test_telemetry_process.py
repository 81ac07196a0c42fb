"""The telemetry sampler in its own process: it reads the harness's counters from shared memory, is
niced below the harness, leaves no process or file behind, and a sampler that dies costs the stage
nothing but its series."""

from __future__ import annotations

import json
import os
import time

import psutil

from mlnb.config import StageParams
from mlnb.telemetry.aggregate import PARTIAL_SERIES_FILE, SERIES_FILE
from mlnb.telemetry.stage import finish_for_stage, start_for_stage


def _params(tmp_path) -> StageParams:
    return StageParams(stage="01_offline_perf", scenario="Offline", backend="sim", run_dir=str(tmp_path))


def test_sampler_process_reads_the_published_counters_and_leaves_nothing(tmp_path):
    stage_dir = tmp_path / "01_offline_perf"
    stage_dir.mkdir()
    sampler = start_for_stage(_params(tmp_path), stage_dir)
    child = psutil.Process(sampler.proc.pid)
    assert child.ppid() == os.getpid() and child.nice() == 19  # the engine's threads come first
    shared = os.readlink(f"/proc/self/fd/{sampler.counters.fd}")
    assert shared.startswith("/memfd:") or shared.endswith("(deleted)")  # no name to leak, however the run ends
    started = time.monotonic()
    for issued in range(1, 13):  # counters move while it samples at 2 Hz
        sampler.publish(issued * 10, issued * 5, issued * 50)
        time.sleep(0.15)
    sampler.stop()
    test_s = time.monotonic() - started
    out = finish_for_stage(sampler, stage_dir, started, test_s)
    assert out["samples"] >= 3, out
    rows = [json.loads(line) for line in (stage_dir / SERIES_FILE).read_text().splitlines()]
    issued = [row["issued"] for row in rows]
    assert issued == sorted(issued) and issued[-1] == 120 and rows[-1]["completed"] == 60
    assert rows[-1]["output_tokens"] == 600 and max(row["in_flight"] for row in rows) > 0
    assert not (stage_dir / PARTIAL_SERIES_FILE).exists()
    assert 0 < out["sampler_cpu_s"] < test_s
    sampler.publish(121, 61, 610)  # a completion after the stage's end (the counters are closed): ignored
    child.wait(timeout=5)  # the child has exited
    assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE


def test_a_sampler_process_that_dies_leaves_its_partial_series_and_a_note(tmp_path):
    stage_dir = tmp_path / "01_offline_perf"
    stage_dir.mkdir()
    sampler = start_for_stage(_params(tmp_path), stage_dir)
    sampler.publish(4, 2, 20)
    time.sleep(1.2)
    sampler.proc.kill()
    sampler.proc.wait()
    sampler.stop()
    out = finish_for_stage(sampler, stage_dir, None, 1.2)
    assert out["enabled"] and "telemetry not summarised" in out["note"] and "sampler process" in out["note"]
    assert out["samples"] >= 2  # what it took before it died is still on disk
    assert (stage_dir / PARTIAL_SERIES_FILE).is_file() and not (stage_dir / SERIES_FILE).exists()


def test_telemetry_off_starts_no_process(tmp_path):
    before = {p.pid for p in psutil.Process().children()}
    assert start_for_stage(_params(tmp_path).model_copy(update={"telemetry": False}), tmp_path) is None
    assert {p.pid for p in psutil.Process().children()} == before
