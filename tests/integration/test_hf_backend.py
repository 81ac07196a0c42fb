"""The real embedded model through the real LoadGen: Offline and Server, performance and accuracy."""

import json
import threading

import numpy as np
import pytest

from mlnb.backends.base import Request
from mlnb.backends.registry import get_backend
from mlnb.config import StageParams
from mlnb.stages.loadgen_stage import run_stage

pytestmark = pytest.mark.slow

SMALL = dict(backend="hf", model="embedded", samples=4, max_new_tokens=24, batch_size=4)


def _accuracy_entries(stage_dir):
    return json.loads((stage_dir / "loadgen" / "mlperf_log_accuracy.json").read_text())


def test_offline_accuracy_with_the_real_model(tmp_path, embedded_model_dir):
    from transformers import AutoTokenizer

    p = StageParams(run_dir=str(tmp_path), stage="offline_acc", scenario="Offline", mode="accuracy", **SMALL)
    summary = run_stage(p)
    assert summary.simulated is False and summary.engine["device"] == "cpu"
    entries = _accuracy_entries(tmp_path / "offline_acc")
    assert sorted(e["qsl_idx"] for e in entries) == [0, 1, 2, 3]
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    for entry in entries:
        ids = np.frombuffer(bytes.fromhex(entry["data"]), np.int32)
        # n_tokens reported to LoadGen equals the tokens in the buffer (TEST06's length check)
        assert entry["token_count"] == len(ids) and 2 <= len(ids) <= 24
        assert len(tokenizer.decode(ids, skip_special_tokens=True).split()) >= 2
    acc = summary.accuracy
    assert acc["gen_num"] == 4 and 0 < acc["rouge1"] <= 100
    assert summary.verdict == "FAIL"  # 4 samples of a 135M model cannot meet Llama-3.1-8B's targets


def test_server_performance_streams_first_tokens(tmp_path):
    p = StageParams(
        run_dir=str(tmp_path), stage="server", scenario="Server", target_qps=2.0, min_duration_ms=2000,
        min_query_count=6, **SMALL,
    )
    summary = run_stage(p)
    lg = summary.loadgen
    assert lg["scenario"] == "Server" and lg["num_errors"] == 0
    assert summary.metrics["ttft_ms"]["mean"] < summary.metrics["latency_ms"]["mean"]
    rows = [json.loads(line) for line in (tmp_path / "server" / "queries.jsonl").read_text().splitlines()]
    assert len(rows) >= 6
    for row in rows:
        assert row["issued_ms"] <= row["first_token_ms"] <= row["done_ms"] and row["error"] is None


def test_server_accuracy_first_token_is_a_prefix(tmp_path):
    p = StageParams(run_dir=str(tmp_path), stage="server_acc", scenario="Server", mode="accuracy", target_qps=4.0, **SMALL)
    run_stage(p)
    for entry in _accuracy_entries(tmp_path / "server_acc"):
        data = np.frombuffer(bytes.fromhex(entry["data"]), np.int32)
        first = np.frombuffer(bytes.fromhex(entry["token_data"]), np.int32)
        assert len(first) >= 1 and np.array_equal(data[: len(first)], first)


class _Recorder:
    def __init__(self, n):
        self.events, self.n = [], n
        self.done = threading.Event()

    def first_token(self, request, ids):
        self.events.append(("first", request.request_id))

    def complete(self, request, ids, error=None):
        self.events.append(("done", request.request_id, list(ids), error))
        if sum(e[0] == "done" for e in self.events) == self.n:
            self.done.set()


def test_concurrent_streaming_requests_share_a_batch_and_match_batch_one():
    params = StageParams(**{**SMALL, "max_new_tokens": 12})
    backend = get_backend("hf")(params)
    backend.load()
    tok = backend.tokenizer()
    prompts = [tok(text).input_ids for text in ("The weather today is", "In the news this morning,", "A short story about a cat:")]

    rec = _Recorder(3)
    backend.start(rec)
    before = backend.batches_run
    backend.submit([Request(i, i, p, True, 12, 1) for i, p in enumerate(prompts)])
    assert rec.done.wait(120)
    backend.stop()
    assert backend.batches_run - before == 1  # one batched generate, not three serial ones
    assert [e[0] for e in rec.events[:3]] == ["first"] * 3  # every row streamed its first token first
    batched = {e[1]: e[2] for e in rec.events if e[0] == "done"}

    # Left padding must not change greedy output: compare with batch size 1.
    solo = _Recorder(3)
    backend.params = params.model_copy(update={"batch_size": 1})
    backend.start(solo)
    for i, p in enumerate(prompts):
        backend.submit([Request(i, i, p, True, 12, 1)])
    assert solo.done.wait(120)
    backend.stop()
    alone = {e[1]: e[2] for e in solo.events if e[0] == "done"}
    assert batched == alone
