"""client_workers=2: the HTTP streaming in two worker processes, LoadGen in the harness, against the fixture."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from fixtures.openai_fixture import fake_openai_server as _fake_openai_server
from mlnb.config import StageParams
from mlnb.errors import StageFailed
from mlnb.lifecycle import STAGE_MARK_ENV, marked_processes
from mlnb.stages.loadgen_stage import run_stage

MODEL = "fake-model"
WORKER_MODULE = "mlnb.backends.openai_worker"


def fake_openai_server(**options):
    options.setdefault("tokenizer", os.environ["MLNB_TEST_TOKENIZER"])
    return _fake_openai_server(**options)


def _params(tmp_path: Path, url: str, **extra) -> StageParams:
    values = dict(
        run_dir=str(tmp_path), stage="server_workers", scenario="Server", backend="openai", base_url=url,
        served_model_name=MODEL, tokenizer="embedded", samples=16, max_new_tokens=16, min_duration_ms=0,
        min_query_count=48, target_qps=40, timeout_s=120, read_timeout_s=5, request_timeout_s=30, client_workers=2,
    )
    values.update(extra)
    return StageParams(**values)


def _client_workers() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if WORKER_MODULE in cmdline:
            found.append(proc)
    return found


def test_two_workers_complete_every_query_once_with_the_fixtures_pacing(tmp_path):
    tokens, ttft_ms, itl_ms = 16, 40.0, 5.0
    with fake_openai_server(tokens=tokens, ttft_ms=ttft_ms, itl_ms=itl_ms) as url:
        summary = run_stage(_params(tmp_path, url))
    stage_dir = tmp_path / summary.stage
    rows = [json.loads(line) for line in (stage_dir / "queries.jsonl").read_text().splitlines()]
    assert summary.sut["errors"] == 0, summary.sut
    # Every query LoadGen issued completed exactly once, each with all its tokens.
    assert len(rows) >= 48 and sorted(r["issue_seq"] for r in rows) == list(range(len(rows)))
    assert all(r["done_ms"] is not None and r["error"] is None for r in rows)
    assert [r["output_tokens"] for r in rows] == [tokens] * len(rows)
    # The workers' times on the harness's clock: sent after issued, first token after sent by at least the
    # fixture's TTFT, the end after the first token by at least (tokens - 1) token intervals.
    issued, sent = np.array([r["issued_ms"] for r in rows]), np.array([r["sent_ms"] for r in rows])
    first, done = np.array([r["first_token_ms"] for r in rows]), np.array([r["done_ms"] for r in rows])
    assert (sent >= issued).all()
    ttft = first - sent
    tpot = (done - first) / (tokens - 1)
    assert ttft.min() >= ttft_ms - 1.0, ttft.min()
    assert np.median(ttft) <= ttft_ms * 2, np.median(ttft)  # the pacing, plus at most its own length of delay
    assert tpot.min() >= itl_ms * 0.9, tpot.min()
    assert np.median(tpot) <= itl_ms * 2, np.median(tpot)
    # LoadGen's TPOT agrees with the workers' times (the hand-over delay is small against the pacing).
    assert itl_ms * 0.9 <= summary.metrics["tpot_ms"]["percentiles"]["50.0"] <= itl_ms * 2
    load = summary.engine["client_load"]
    assert summary.engine["client_workers"] == 2 and load["workers"] == 2
    assert load["chunks"] == tokens * len(rows)
    assert all(w["chunks"] > 0 for w in load["per_worker"]), load["per_worker"]
    assert load["loop_cpu_s_per_1000_chunks"] > 0 and load["handoff_ms"]["p50"] >= 0
    assert not marked_processes(STAGE_MARK_ENV, str(stage_dir))
    assert not _client_workers()


def test_a_killed_worker_fails_the_stage_with_one_line_and_leaves_nothing(tmp_path):
    killed: list[int] = []

    def kill_one_worker_while_streaming() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not killed:
            workers = _client_workers()
            if len(workers) == 2 and (tmp_path / "server_workers" / "queries.partial.jsonl").exists():
                time.sleep(1.0)  # let queries be in flight, in both
                workers[0].send_signal(signal.SIGKILL)
                killed.append(workers[0].pid)
            time.sleep(0.05)

    # Long answers (2 s each): the kill always finds queries in flight.
    with fake_openai_server(tokens=200, ttft_ms=20, itl_ms=10) as url:
        killer = threading.Thread(target=kill_one_worker_while_streaming, daemon=True)
        killer.start()
        with pytest.raises(StageFailed) as failed:
            run_stage(_params(tmp_path, url, max_new_tokens=200, min_query_count=400))
        killer.join(timeout=5)
    assert killed, "no worker was found to kill"
    cause = str(failed.value).splitlines()[0]
    assert f"ClientWorkerDied in thread openai-workers: client worker 0 (pid {killed[0]}) died (killed by SIGKILL) with " in cause
    assert "queries in flight" in cause
    stage_dir = tmp_path / "server_workers"
    assert (stage_dir / "harness_error.json").exists()
    time.sleep(0.5)  # the parent-death signal is delivered at once; give the kernel a moment to reap
    assert not marked_processes(STAGE_MARK_ENV, str(stage_dir))
    assert not _client_workers()


def test_offline_deals_its_one_batch_out_to_both_workers(tmp_path):
    with fake_openai_server(tokens=8, ttft_ms=20, itl_ms=2) as url:
        summary = run_stage(_params(tmp_path, url, scenario="Offline", stage="offline_workers", min_query_count=16,
                                    target_qps=None, max_new_tokens=8))
    rows = [json.loads(line) for line in (tmp_path / summary.stage / "queries.jsonl").read_text().splitlines()]
    assert summary.sut["errors"] == 0 and len(rows) >= 16
    assert all(r["output_tokens"] == 8 and r["first_chunk_ms"] >= r["sent_ms"] for r in rows)
    per_worker = summary.engine["client_load"]["per_worker"]
    assert [w["chunks"] for w in per_worker] == [8 * len(rows) // 2] * 2, per_worker
