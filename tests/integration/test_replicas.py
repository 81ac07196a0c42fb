"""Replicas: one worker process per device behind the one LoadGen (sim and the embedded model), and replica death."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psutil
import pytest

from mlnb.config import StageParams
from mlnb.errors import StageFailed
from mlnb.lifecycle import STAGE_MARK_ENV, marked_processes
from mlnb.report.stage_view import stage_html
from mlnb.stages.loadgen_stage import run_stage

# Each sim replica decodes 2 queries at a time, 20 tokens 10 ms apart: capacity ~2 queries / 0.22 s per replica.
SIM = dict(backend="sim", scenario="Offline", samples=16, sim_output_tokens=20, sim_tpot_ms=10, sim_max_batch=2,
           min_query_count=48, min_duration_ms=0)


def _rows(stage_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (stage_dir / "queries.jsonl").read_text().splitlines()]


def _workers(stage_dir: Path | None = None) -> list[psutil.Process]:
    """Replica workers: this test's descendants, or (``stage_dir``) any process of that stage, orphans included."""
    found = []
    candidates = marked_processes(STAGE_MARK_ENV, str(stage_dir)) if stage_dir else psutil.Process().children(recursive=True)
    for child in candidates:
        try:
            if any("mlnb.harness.replica_worker" in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_sim_replicas_serve_every_query_once_and_add_up(tmp_path):
    one = run_stage(StageParams(run_dir=str(tmp_path), stage="one", replicas=1, **SIM))
    two = run_stage(StageParams(run_dir=str(tmp_path), stage="two", replicas=2, **SIM))
    assert two.verdict == "VALID" and two.loadgen["num_errors"] == 0
    rows = _rows(tmp_path / "two")
    # every query LoadGen issued came back once, with no error, from one of the two replicas
    assert len(rows) == 48  # Offline: one LoadGen query of 48 samples
    assert sorted(r["issue_seq"] for r in rows) == list(range(48))
    assert all(r["error"] is None and r["done_ms"] is not None for r in rows)
    served = [sum(r["replica"] == i for r in rows) for i in (0, 1)]
    assert min(served) >= 16, served  # least outstanding work spreads a uniform load
    assert [r["queries"] for r in two.engine["replicas"]] == served
    assert "least outstanding tokens" in two.engine["replica_routing"]
    assert "replica" not in _rows(tmp_path / "one")[0]
    # two replicas of a capacity-bound simulator: throughput roughly doubles
    ratio = two.metrics["tokens_per_second"] / one.metrics["tokens_per_second"]
    assert 1.6 <= ratio <= 2.2, ratio
    assert not _workers()


def test_sim_replicas_stream_first_tokens_in_a_server_stage(tmp_path):
    summary = run_stage(StageParams(run_dir=str(tmp_path), stage="server", backend="sim", scenario="Server",
                                    replicas=2, samples=8, target_qps=40, min_query_count=60, min_duration_ms=1000))
    assert summary.loadgen["num_errors"] == 0 and summary.sut["errors"] == 0
    rows = _rows(tmp_path / "server")
    assert len(rows) >= 60 and {r["replica"] for r in rows} == {0, 1}
    for row in rows:  # the first token came back from the worker before the completion
        assert row["issued_ms"] <= row["first_token_ms"] < row["done_ms"]
    page = stage_html(tmp_path / "server")
    assert "<h3>Replicas</h3>" in page and "least outstanding tokens" in page


@pytest.mark.slow
def test_embedded_model_in_two_worker_processes(tmp_path):
    p = StageParams(run_dir=str(tmp_path), stage="hf2", backend="hf", model="embedded", scenario="Offline",
                    samples=2, max_new_tokens=4, batch_size=1, replicas=2, device="cpu",
                    min_query_count=4, min_duration_ms=0)
    summary = run_stage(p)
    assert summary.simulated is False and summary.loadgen["num_errors"] == 0 and summary.sut["errors"] == 0
    rows = _rows(tmp_path / "hf2")
    assert len(rows) == 4 and {r["replica"] for r in rows} == {0, 1}
    assert all(1 <= r["output_tokens"] <= 4 for r in rows)
    assert summary.engine["replica_count"] == 2 and summary.engine["device"] == "cpu, cpu"
    assert all(r["engine"]["device"] == "cpu" for r in summary.engine["replicas"])
    assert not _workers()


# A query lasts 40 x 25 ms = 1 s and each replica runs one at a time: 16 queries take ~8 s on two replicas.
SLOW = dict(backend="sim", scenario="Offline", samples=8, sim_output_tokens=40, sim_tpot_ms=25, sim_max_batch=1,
            min_query_count=16, min_duration_ms=0, replicas=2, timeout_s=120)


def _kill_replica_one_mid_run(stage_dir: Path, killed: list) -> None:
    """SIGKILL replica 1 about 2.5 s after LoadGen started: a query or two done, one in flight."""
    deadline = time.monotonic() + 60
    log = stage_dir / "harness.log"
    while time.monotonic() < deadline and not (log.exists() and "output lengths" in log.read_text()):
        time.sleep(0.05)
    time.sleep(2.5)
    for worker in _workers():
        try:
            if worker.environ().get("MLNB_REPLICA_INDEX") == "1":
                worker.kill()
                killed.append(worker.pid)
        except psutil.NoSuchProcess:
            continue


def _run_with_a_kill(tmp_path: Path, stage: str, policy: str):
    killed: list = []
    killer = threading.Thread(target=_kill_replica_one_mid_run, args=(tmp_path / stage, killed), daemon=True)
    killer.start()
    started = time.monotonic()
    try:
        return run_stage(StageParams(run_dir=str(tmp_path), stage=stage, replica_failure=policy, **SLOW)), killed, started
    finally:
        killer.join(timeout=5)


def test_a_replica_killed_mid_run_fails_the_stage_at_once(tmp_path):
    with pytest.raises(StageFailed) as failed:
        _, killed, started = _run_with_a_kill(tmp_path, "fail", "fail")
    first_line = str(failed.value).splitlines()[0]
    assert "ReplicaFailed" in first_line and "replica 1 (" in first_line and "killed by signal 9" in first_line
    assert " in flight" in first_line
    error = json.loads((tmp_path / "fail" / "harness_error.json").read_text())
    assert error["ename"] == "ReplicaFailed"
    assert not _workers(tmp_path / "fail")


def test_a_replica_killed_mid_run_continues_when_asked(tmp_path):
    summary, killed, _ = _run_with_a_kill(tmp_path, "cont", "continue")
    assert killed
    rows = _rows(tmp_path / "cont")
    assert len(rows) == 16 and all(r["done_ms"] is not None for r in rows)
    lost = [r for r in rows if r["error"] is not None]
    assert lost and all(r["replica"] == 1 and "replica 1 (" in r["error"] and "died" in r["error"] for r in lost)
    # after the death, replica 0 served everything that was still to come
    last_lost = max(r["issue_seq"] for r in lost)
    assert summary.sut["errors"] == len(lost) and summary.verdict == "INVALID"
    assert sum(r["replica"] == 0 and r["error"] is None for r in rows) == 16 - len(lost) - sum(
        r["replica"] == 1 and r["error"] is None for r in rows)
    assert summary.engine["replica_failures"] and "replica 1" in summary.engine["replica_failures"][0]
    assert [r["alive"] for r in summary.engine["replicas"]] == [True, False]
    assert last_lost >= 0
    assert not _workers()


def test_workers_die_with_the_harness_and_carry_the_stage_mark(tmp_path):
    stage_dir = tmp_path / "orphan"
    marks: list = []

    def kill_the_harness() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_workers()) < 2:
            time.sleep(0.05)
        for worker in _workers():
            marks.append(worker.environ().get("MLNB_STAGE_DIR"))
        for child in psutil.Process().children(recursive=True):
            try:  # a child that ended meanwhile (a zombie until reaped) has no command line to read
                if child.cmdline()[-2:] == ["mlnb.harness", str(stage_dir)]:
                    child.kill()
                    return
            except psutil.NoSuchProcess:
                continue

    killer = threading.Thread(target=kill_the_harness, daemon=True)
    killer.start()
    with pytest.raises(StageFailed, match="killed by signal 9"):
        run_stage(StageParams(run_dir=str(tmp_path), stage="orphan", **SLOW))
    killer.join(timeout=5)
    assert marks == [str(stage_dir)] * 2
    deadline = time.monotonic() + 5  # the parent-death signal: gone within 5 s of the harness
    while _workers(stage_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _workers(stage_dir)
