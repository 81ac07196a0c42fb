"""Load-generator health: trace merging and the client-limited flag on hand-made queries."""

from __future__ import annotations

import pytest

from mlnb.harness.loadgen_trace import merge_trace
from mlnb.report.loadgen_health import LAG_P99_LIMIT_MS, assess, health_html, idle_share

TRACE = """{"traceEvents":[
{"name":"LogDetail","ph":"X","pid":1,"tid":1,"ts":1.0,"dur":1.0,"args":{"key":""loadgen_version""}},
{"name":"Sample","cat":"default","ph":"b","pid":1,"id":1,"ts":2000.0,"args":{"sample_seq":1,"query_seq":1,"sample_idx":7,"issue_start_ns":300000,"complete_ns":90000000}},
{"name":"Sample","cat":"default","ph":"e", "pid":1,"id":1,"ts":92000.0},
{"name":"Sample","cat":"default","ph":"b","pid":1,"id":0,"ts":1000.0,"args":{"sample_seq":0,"query_seq":0,"sample_idx":3,"issue_start_ns":100000,"complete_ns":50000000}},
{"name":"LastTrace","ph":"X","pid":1,"tid":1,"ts":9.0,"dur":1.0,"args":{}}]}
"""


def test_trace_samples_merge_into_rows_in_issue_order(tmp_path):
    path = tmp_path / "mlperf_log_trace.json"
    path.write_text(TRACE)  # not valid JSON as a whole, like LoadGen's
    rows = [{"sample_index": 3, "issued_ms": 0.0, "done_ms": 40.0}, {"sample_index": 7, "issued_ms": 1.5, "done_ms": 80.0}]
    merged, note = merge_trace(rows, path)
    assert note.startswith("merged 2")
    assert merged[0]["scheduled_ms"] == 1.0 and merged[0]["loadgen_issue_delay_ms"] == 0.1 and merged[0]["loadgen_latency_ms"] == 50.0
    assert merged[1]["loadgen_latency_ms"] == 90.0
    swapped, note = merge_trace(list(reversed(rows)), path)
    assert "disagree" in note and "scheduled_ms" not in swapped[0]
    assert merge_trace(rows[:1], path)[1].startswith("LoadGen trace has 2 samples")


def _rows(lags_ms, gap_ms=100.0, e2e_ms=20.0):
    rows = []
    for i, lag in enumerate(lags_ms):
        t = i * gap_ms
        rows.append({
            "sample_index": i, "issued_ms": t, "first_token_ms": t + 5.0, "done_ms": t + e2e_ms, "output_tokens": 4,
            "scheduled_ms": t, "loadgen_issue_delay_ms": 0.05, "loadgen_latency_ms": e2e_ms + lag,
        })
    return rows


def _server(target_qps=10.0, scheduled=10.0, completed=10.0):
    return {"scenario": "Server", "loadgen": {"settings": {"target_qps": target_qps}, "scheduled_samples_per_second": scheduled},
            "metrics": {"samples_per_second": completed}}


def test_a_healthy_run_is_not_flagged():
    h = assess(_server(), _rows([1.0] * 20))
    assert not h.client_limited
    assert h.lag_to_sut_ms == pytest.approx([1.0] * 20)
    assert h.ttft_scheduled_ms == pytest.approx([6.0] * 20)  # 5 ms from receipt + 1 ms of lag
    assert "kept up" in health_html(h)


def test_a_late_load_generator_is_flagged():
    lags = [1.0] * 19 + [LAG_P99_LIMIT_MS * 4]
    h = assess(_server(), _rows(lags))
    assert h.client_limited and "p99 lag" in h.flags[0]
    assert "CLIENT-LIMITED" in health_html(h)


def test_an_idle_sut_starved_of_queries_is_flagged():
    # 10 queries/s offered; the SUT received one every 400 ms (2.5/s) and worked 20 ms of each.
    h = assess(_server(target_qps=10.0), _rows([1.0] * 10, gap_ms=400.0))
    assert h.received_qps == pytest.approx(2.5)
    assert h.sut_idle_share == pytest.approx(1 - 10 * 20 / (9 * 400 + 20))
    assert any("set the pace" in f for f in h.flags)


def test_send_times_give_ttft_from_the_send():
    rows = _rows([1.0] * 5)
    for r in rows:
        r["sent_ms"] = r["issued_ms"] + 2.0
    h = assess(_server(), rows)
    assert h.send_lag_ms == pytest.approx([2.0] * 5) and h.ttft_sent_ms == pytest.approx([3.0] * 5)


def test_idle_share_merges_overlaps():
    assert idle_share([{"issued_ms": 0, "done_ms": 10}, {"issued_ms": 5, "done_ms": 20}, {"issued_ms": 30, "done_ms": 40}]) == pytest.approx(10 / 40)


def test_a_busy_sut_behind_the_offered_rate_is_named_as_the_limit():
    rows = _rows([1.0] * 10, gap_ms=100.0, e2e_ms=150.0)  # always busy: queries overlap
    h = assess(_server(target_qps=10.0, completed=2.0), rows)
    assert not h.client_limited and h.sut_idle_share == 0.0
    assert "The SUT set the pace" in health_html(h)


def test_a_few_poisson_arrivals_below_the_offered_rate_are_not_called_client_limited():
    # 4 queries offered at 0.2/s arrived at 0.167/s: the Poisson draw, not the client (a smoke run's page said
    # CLIENT-LIMITED for this).
    h = assess(_server(target_qps=0.2, scheduled=None), _rows([1.0] * 4, gap_ms=6000.0))
    assert h.received_qps == pytest.approx(1 / 6)
    assert not any("set the pace" in f for f in h.flags)


def test_the_chance_of_slow_arrivals_follows_the_poisson_process():
    from mlnb.report.loadgen_health import slower_arrivals_chance

    # 9 gaps at 10/s lasting 3.6 s instead of about 0.9 s: P(Poisson(36) < 9), about 1e-8.
    assert slower_arrivals_chance(9, 3.6, 10.0) < 1e-6
    # One gap lasting its mean: P(Poisson(1) < 1) = e^-1.
    assert slower_arrivals_chance(1, 0.1, 10.0) == pytest.approx(0.36788, rel=1e-4)
    # A million gaps exactly on schedule: about one half, computed without overflow.
    assert 0.4 < slower_arrivals_chance(1_000_000, 100_000.0, 10.0) < 0.6


def _with_client_load(lag_share: float) -> dict:
    load = {"chunks": 12_000, "loop_thread_cpu_s": 1.2, "loop_thread_cpu_share": 0.3, "process_cpu_s": 2.0,
            "loop_cpu_s_per_1000_chunks": 0.1, "process_cpu_s_per_1000_chunks": 0.1667, "loop_lag_share": lag_share,
            "loop_lag_ms": {"p50": 0.05, "p99": 2.0, "max": 9.0, "probes": 400}}
    return {**_server(), "engine": {"backend": "openai", "client_load": load}}


def test_the_clients_own_load_is_shown_and_a_lagging_loop_is_flagged():
    rows = _rows([1.0] * 50)
    quiet = assess(_with_client_load(0.02), rows)
    assert not quiet.client_limited
    html = health_html(quiet)
    assert "The HTTP client&#x27;s own load" in html or "The HTTP client's own load" in html
    assert "0.1" in html and "2.0%" in html
    busy = assess(_with_client_load(0.4), rows)
    assert busy.client_limited and "event loop ran behind its timers 40%" in busy.flags[0]


def test_client_load_measures_cpu_per_chunk_and_loop_lateness():
    import asyncio
    import time

    from mlnb.backends.openai_load import PROBE_INTERVAL_S, ClientLoad

    async def run() -> dict:
        load = ClientLoad()
        load.begin(asyncio.get_running_loop())
        await asyncio.sleep(5 * PROBE_INTERVAL_S)
        end = time.thread_time() + 0.05
        while time.thread_time() < end:  # block the loop: the next probe runs about 50 ms late
            pass
        load.chunks += 500
        await asyncio.sleep(3 * PROBE_INTERVAL_S)
        load.end()
        return load.summary()

    summary = asyncio.run(run())
    assert summary["chunks"] == 500
    assert summary["loop_thread_cpu_s"] >= 0.05 and summary["loop_cpu_s_per_1000_chunks"] >= 0.1
    assert summary["loop_lag_ms"]["max"] >= 40
    assert 0.05 < summary["loop_lag_share"] < 1  # about 50 ms late in a span of about 0.15 s
    assert ClientLoad().summary() is None  # never started: nothing claimed


def test_client_workers_and_their_hand_over_to_loadgen_are_shown():
    summary = _with_client_load(0.02)
    summary["engine"]["client_load"].update(workers=3, handoff_ms={"p50": 0.2, "p99": 1.7, "max": 4.0})
    html = health_html(assess(summary, _rows([1.0] * 50)))
    assert "client worker processes" in html and "1.7" in html and "FirstTokenComplete" in html
