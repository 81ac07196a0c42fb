"""The openai backend through the real LoadGen, against the zero-compute server fixture.

Each fault ends the stage with a clear reason, keeps LoadGen's logs, and never hangs (every
run here is bounded by a small timeout_s).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixtures.openai_fixture import fake_openai_server as _fake_openai_server
from fixtures.openai_fixture import requests_served, server_stats
from mlnb.backends.prompt_check import PROBE_PROMPTS
from mlnb.config import StageParams
from mlnb.errors import StageFailed
from mlnb.stages.loadgen_stage import run_stage

MODEL = "fake-model"


def fake_openai_server(**options):
    """The fixture server counting text prompts with the embedded model's tokenizer (as vLLM serving it would)."""
    options.setdefault("tokenizer", os.environ["MLNB_TEST_TOKENIZER"])
    return _fake_openai_server(**options)


def _params(tmp_path: Path, url: str, scenario: str = "Server", **extra) -> StageParams:
    values = dict(
        run_dir=str(tmp_path), stage=f"{scenario.lower()}_openai", scenario=scenario, backend="openai",
        base_url=url, served_model_name=MODEL, tokenizer="embedded", samples=8, max_new_tokens=16, min_duration_ms=0,
        min_query_count=8, timeout_s=120, read_timeout_s=5, request_timeout_s=20,
    )
    if scenario == "Server":
        values["target_qps"] = 40
    values.update(extra)
    return StageParams(**values)


def _rows(stage_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (stage_dir / "queries.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("scenario", ["Server", "Offline"])
def test_streams_through_loadgen_with_server_token_ids(tmp_path, scenario):
    # Two servers: least outstanding requests spreads the load over both.
    with fake_openai_server(tokens=12, ttft_ms=20, itl_ms=1) as a, fake_openai_server(tokens=12, ttft_ms=20, itl_ms=1) as b:
        summary = run_stage(_params(tmp_path, f"{a},{b}", scenario, samples=16, min_query_count=16))
        served = requests_served(a) - PROBE_PROMPTS, requests_served(b) - PROBE_PROMPTS  # less the text probes
    stage_dir = tmp_path / summary.stage
    rows = _rows(stage_dir)
    assert summary.sut["errors"] == 0, summary.sut
    assert sum(served) == len(rows) >= 16
    if scenario == "Offline":  # all at once: split evenly
        assert min(served) >= 6, served
    else:
        assert min(served) >= 1, served
    assert all(r["output_tokens"] == 12 and r["token_source"] == "server_token_ids" for r in rows)
    assert all(r["usage_completion_tokens"] == 12 and not r["token_count_mismatch"] for r in rows)
    # Issue <= send <= first chunk <= end, per request.
    first = "first_token_ms" if scenario == "Server" else "first_chunk_ms"
    assert all(r["issued_ms"] <= r["sent_ms"] <= r[first] <= r["done_ms"] for r in rows)
    if scenario == "Server":
        client = summary.sut["client"]
        assert client["ttft_from_send_ms"]["count"] == len(rows)
        assert client["ttft_from_issue_ms"]["p50"] >= client["ttft_from_send_ms"]["p50"]
    assert summary.metrics["tokens_per_second"] > 0
    assert summary.engine["backend"] == "openai" and not summary.simulated
    # The client's own cost: every token chunk counted (one token per chunk here), CPU and loop lag measured.
    load = summary.engine["client_load"]
    assert load["chunks"] == sum(r["chunks"] for r in rows) == 12 * len(rows)
    assert 0 < load["loop_thread_cpu_s"] <= load["process_cpu_s"]
    assert load["loop_cpu_s_per_1000_chunks"] > 0 and load["loop_lag_ms"]["probes"] > 0
    assert 0 <= load["loop_lag_share"] < 1
    assert (stage_dir / "loadgen" / "mlperf_log_summary.txt").is_file()


def test_chat_api_with_an_api_key_that_is_never_written(tmp_path, monkeypatch):
    key = "sk-" + "Xy9" * 10
    monkeypatch.setenv("MLNB_TEST_KEY", key)
    with fake_openai_server(tokens=6, api_key_env="MLNB_TEST_KEY") as url:
        summary = run_stage(
            _params(tmp_path, url, "Offline", api="chat", samples=4, min_query_count=4, api_key_env="MLNB_TEST_KEY")
        )
    assert summary.sut["errors"] == 0 and summary.sut["output_tokens"]["mean"] == 6  # the server checked the key
    assert summary.engine["api_key"] == "set"
    # The chat template's tokens are counted on both sides: the server's usage agrees with the local count.
    assert "equals the local count" in summary.engine["prompt_token_check"]
    assert summary.engine["prompt_form"] == "text (chat messages)"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(errors="replace"), path


def test_retokenizes_when_the_server_returns_no_ids(tmp_path):
    with fake_openai_server(tokens=5) as url:
        summary = run_stage(_params(tmp_path, url, "Offline", samples=4, min_query_count=4, vllm_extras=False))
    rows = _rows(tmp_path / summary.stage)
    assert summary.sut["errors"] == 0
    assert {r["token_source"] for r in rows} == {"retokenized"}
    # " t1000 t1001 ..." is more than 5 tokens for a real tokenizer: the mismatch is flagged, not hidden.
    assert all(r["token_count_mismatch"] for r in rows)
    assert summary.sut["client"]["token_count_mismatches"] == 4


@pytest.mark.parametrize(
    "fault, expected",
    [
        ("http500", "HTTP 500"),
        ("drop", "stream ended early"),
        ("malformed", "malformed stream chunk"),
        ("hang", "timeout"),
    ],
)
def test_faults_make_the_stage_invalid_with_the_reason(tmp_path, fault, expected):
    with fake_openai_server(tokens=8, fault=fault) as url:
        summary = run_stage(_params(tmp_path, url, "Server", read_timeout_s=1.5))
    stage_dir = tmp_path / summary.stage
    assert summary.verdict == "INVALID"
    assert summary.sut["errors"] >= 1
    assert any(expected in reason for reason in summary.verdict_reasons), summary.verdict_reasons
    assert (stage_dir / "loadgen" / "mlperf_log_detail.txt").is_file()
    rows = _rows(stage_dir)
    assert all(r["error"] and r["output_tokens"] == 0 for r in rows)  # never a silent zero-token success
    assert summary.sut["errors"] == len(rows)
    assert summary.sut["client"]["errors_by_kind"], summary.sut["client"]


def test_wrong_model_name_fails_before_loadgen_starts(tmp_path):
    with fake_openai_server() as url:
        with pytest.raises(StageFailed) as err:
            run_stage(_params(tmp_path, url, served_model_name="no-such-model"))
    assert "served_model_name 'no-such-model'" in str(err.value) and MODEL in str(err.value)


def test_unreachable_url_fails_with_the_url(tmp_path):
    with pytest.raises(StageFailed) as err:
        run_stage(_params(tmp_path, "http://127.0.0.1:9/v1", connect_timeout_s=2))
    assert "http://127.0.0.1:9/v1" in str(err.value) and "not reachable" in str(err.value)
    assert (tmp_path / "server_openai" / "harness.log").is_file()


# The tokenizer and the prompt form ---------------------------------------------------------------


def test_token_ids_without_a_named_tokenizer_are_refused(tmp_path):
    with fake_openai_server() as url:
        with pytest.raises(StageFailed) as err:
            run_stage(_params(tmp_path, url, "Offline", tokenizer=None, prompt_form="tokens"))
        assert requests_served(url) == 0
    assert "prompt_form 'tokens': token ids need the served model's tokenizer" in str(err.value)
    assert "set tokenizer=" in str(err.value)


def test_no_named_tokenizer_sends_text_and_checks_the_count(tmp_path):
    with fake_openai_server(tokens=6) as url:
        summary = run_stage(_params(tmp_path, url, "Server", tokenizer=None, samples=4, min_query_count=4))
        forms = server_stats(url)["prompt_forms"]
    assert summary.sut["errors"] == 0, summary.verdict_reasons
    assert forms["tokens"] == 0 and forms["text"] >= 4 + 2  # the queries and the probes, all as text
    assert summary.engine["prompt_form"] == "text" and "no tokenizer named" in summary.engine["prompt_form_why"]
    assert "equals the local count" in summary.engine["prompt_token_check"]
    rows = _rows(tmp_path / summary.stage)
    assert all(r["usage_prompt_tokens"] == r["prompt_tokens"] for r in rows)  # the fixture counted what we count


def test_without_usage_an_unnamed_tokenizer_cannot_be_checked_and_stops(tmp_path):
    with fake_openai_server(no_usage=True) as url:
        with pytest.raises(StageFailed) as err:
            run_stage(_params(tmp_path, url, "Offline", tokenizer=None))
    errors = [ln for ln in str(err.value).splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "reports no usage" in errors[0] and "set tokenizer=" in errors[0]


def test_without_usage_a_named_tokenizer_runs_and_says_it_was_not_checked(tmp_path):
    with fake_openai_server(no_usage=True, tokens=4) as url:
        summary = run_stage(_params(tmp_path, url, "Offline", samples=4, min_query_count=4))
    assert summary.sut["errors"] == 0
    assert summary.engine["prompt_token_check"].startswith("not possible: the server at")
    assert "tokenizer=embedded" in summary.engine["prompt_token_check"]


def test_a_named_tokenizer_sends_token_ids(tmp_path):
    with fake_openai_server(tokens=4, max_model_len=2048) as url:
        summary = run_stage(_params(tmp_path, url, "Offline", samples=4, min_query_count=4))
        forms = server_stats(url)["prompt_forms"]
    assert summary.sut["errors"] == 0
    assert forms["tokens"] >= 4 and forms["text"] == 2  # the probes go as text, the queries as ids
    assert summary.engine["prompt_form"] == "tokens" and summary.engine["max_model_len"] == {url: 2048}


def test_a_server_with_another_tokenizer_stops_the_stage_with_what_to_pass(tmp_path):
    # Without --tokenizer the fixture counts words: like a server whose model tokenizes differently.
    with _fake_openai_server(tokens=4) as url:
        with pytest.raises(StageFailed) as err:
            run_stage(_params(tmp_path, url, "Server"))
        served = requests_served(url)
    line = [ln for ln in str(err.value).splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "tokenizer: the server at" in line[0] and "set tokenizer=" in line[0], err.value
    assert "prompt tokens in sample 0 where the local tokenizer (tokenizer=embedded) counts" in line[0]
    assert served == 1  # stopped at the first probe, before LoadGen sent anything


def test_a_mismatch_during_the_run_fails_the_queries(tmp_path, monkeypatch):
    # A server that agrees on the text probes but counts token-id prompts differently (say it adds a BOS).
    from mlnb.backends import prompt_check

    monkeypatch.setattr(prompt_check.LocalPrompts, "count", lambda self, index: len(self.ids[index]) + 1)
    with fake_openai_server(tokens=4) as url:
        from mlnb.backends.openai_api import OpenAIBackend

        backend = OpenAIBackend(_params(tmp_path, url, "Offline"))
        backend.load()
        try:
            sink = _Sink()
            backend.start(sink)
            backend.check_prompts([[1, 2, 3, 4, 5]])
            from mlnb.backends.base import Request

            backend.submit([Request(1, 0, [1, 2, 3, 4, 5], False, 4)])
            sink.done.wait(20)
        finally:
            backend.stop()
    assert sink.errors and "counts 5 prompt tokens in sample 0 where the local tokenizer" in sink.errors[0]
    assert backend.describe()["request_stats"]["prompt_count_mismatches"] == 1


class _Sink:
    def __init__(self):
        import threading

        self.done = threading.Event()
        self.errors: list[str] = []

    def first_token(self, request, ids, at_ns=None):
        pass

    def complete(self, request, ids, error=None, at_ns=None):
        if error:
            self.errors.append(error)
        self.done.set()

    def mark_sent(self, request, at_ns=None):
        pass

    def mark_time(self, request, name, at_ns=None):
        pass

    def annotate(self, request, facts):
        pass


def test_a_model_the_server_does_not_serve_is_one_line(tmp_path):
    with fake_openai_server(model="other-model") as url:
        with pytest.raises(StageFailed) as err:
            run_stage(_params(tmp_path, url, "Offline"))
    errors = [ln for ln in str(err.value).splitlines() if ln.startswith("error:")]
    assert errors == [f"error: served_model_name '{MODEL}': the server at {url} serves ['other-model']; "
                      "set served_model_name to one of them"]


def test_prompts_longer_than_max_model_len_are_one_line(tmp_path):
    with fake_openai_server(max_model_len=64) as url:
        with pytest.raises(StageFailed) as err:
            run_stage(_params(tmp_path, url, "Offline", max_new_tokens=16))
        assert requests_served(url) == 0
    errors = [ln for ln in str(err.value).splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: max_model_len: the server at {url} serves 'fake-model' "
                                                     "with max_model_len 64, but the longest prompt"), errors
    assert "+ max_new_tokens 16 =" in errors[0]
