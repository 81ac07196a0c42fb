"""The vectorised report path gives the numbers the per-query loops gave, and the charts draw what
they claim: CDF markers on the curve, throughput from first-token and completion times."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from mlnb.harness.loadgen_trace import merge_trace_file
from mlnb.query_table import load_query_table
from mlnb.report.loadgen_health import LOADGEN_LAG_P99_LIMIT_MS, assess, health_html, idle_share
from mlnb.report.plots import cdf_points, emitted_tokens, latency_distribution, thin_points, throughput_timeline
from mlnb.report.sol_view import effective_batch
from mlnb.results import load_queries, query_latencies


# The algorithms the report used before, kept as references -------------------------------------
def _num(value):
    return None if value is None or isinstance(value, bool) else float(value)


def old_effective_batch(rows, cap):
    spans = []
    for r in rows:
        start = _num(r.get("first_token_ms"))
        start = _num(r.get("issued_ms")) if start is None else start
        end = _num(r.get("done_ms"))
        if start is not None and end is not None and end > start:
            spans.append((start, end))
    if not spans:
        return 1.0
    points = sorted({t for span in spans for t in span})
    busy = weighted = 0.0
    for a, b in zip(points, points[1:]):
        mid = (a + b) / 2
        n = sum(1 for s, e in spans if s <= mid < e)
        if cap:
            n = min(n, cap)
        if n:
            busy += b - a
            weighted += n * (b - a)
    return max(weighted / busy, 1.0) if busy else 1.0


def old_idle_share(rows):
    spans = [(_num(r.get("issued_ms")), _num(r.get("done_ms"))) for r in rows]
    spans = sorted((a, b) for a, b in spans if a is not None and b is not None and b >= a)
    if not spans:
        return None
    start, end = spans[0][0], max(b for _, b in spans)
    if end <= start:
        return None
    covered, cur_a, cur_b = 0.0, spans[0][0], spans[0][1]
    for a, b in spans[1:]:
        if a > cur_b:
            covered += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    covered += cur_b - cur_a
    return max(0.0, 1.0 - covered / (end - start))


def random_rows(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        issued = round(rng.uniform(0, 500), rng.choice([0, 1, 3]))  # rounding makes ties
        first = issued + round(rng.expovariate(1 / 20), 1) if rng.random() < 0.8 else None
        done = (first or issued) + round(rng.expovariate(1 / 60), 1) if rng.random() < 0.95 else None
        if rng.random() < 0.05 and done is not None:
            done = first or issued  # zero-length spans
        rows.append({"sample_index": i, "issued_ms": issued, "first_token_ms": first, "done_ms": done,
                     "output_tokens": rng.randint(1, 50), "prompt_tokens": rng.randint(1, 99)})
    return rows


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("cap", [None, 3, 16])
def test_effective_batch_equals_the_quadratic_reference(seed, cap):
    rows = random_rows(seed, 40 + 25 * seed)
    assert effective_batch(rows, cap) == pytest.approx(old_effective_batch(rows, cap), rel=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_idle_share_equals_the_loop_reference(seed):
    rows = [r for r in random_rows(seed, 30 + 10 * seed) if r["done_ms"] is not None]
    # sparse arrivals, so that there is idle time to find
    for r in rows:
        r["issued_ms"] *= 20
        r["done_ms"] = r["issued_ms"] + (r["done_ms"] - r["issued_ms"]) if r["done_ms"] is not None else None
    assert idle_share(rows) == pytest.approx(old_idle_share(rows), abs=1e-12)
    assert idle_share([]) is None and old_idle_share([]) is None


def test_query_table_reads_what_the_line_reader_reads(tmp_path):
    rows = random_rows(3, 50)
    rows[7]["error"], rows[9]["sent_ms"] = "boom", 12.5
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fast, slow = query_latencies(load_query_table(tmp_path)), query_latencies(load_queries(tmp_path))
    for key in slow:
        np.testing.assert_allclose(fast[key], slow[key])


# Charts ---------------------------------------------------------------------------------------
def test_cdf_percentile_markers_sit_on_the_curve():
    values = [10.0, 20.0, 30.0, 40.0]  # few queries: a linear-interpolated p90 (37 ms) is off the curve
    fig = latency_distribution(values, "t", percentiles=(50, 90, 99))
    ax_cdf = fig.axes[1]
    curve = next(line for line in ax_cdf.get_lines() if line.get_drawstyle() == "steps-post")
    xs, ys = (np.asarray(a, dtype=float) for a in curve.get_data())
    markers = [line for line in ax_cdf.get_lines() if line.get_marker() == "o"]
    assert len(markers) == 3
    for marker in markers:
        x, y = float(marker.get_xdata()[0]), float(marker.get_ydata()[0])
        below = ys[xs < x].max(initial=0.0)  # the curve just left of x
        at = ys[xs <= x].max(initial=0.0)  # ... and at x (the top of its riser)
        assert below <= y <= at, f"marker ({x}, {y}) is off the curve ({below}..{at} % at that x)"


def test_cdf_drawing_is_thinned_but_exact_at_its_points():
    ordered = np.sort(np.random.default_rng(0).exponential(size=100_000))
    x, share = cdf_points(ordered, max_points=1000)
    assert x.size <= 1000 and share[-1] == 1.0
    ranks = np.searchsorted(ordered, x, side="right")
    np.testing.assert_allclose(share, ranks / ordered.size)
    t = np.arange(100_000.0)
    y = np.zeros_like(t)
    y[54_321] = 99.0
    tx, ty = thin_points(t, y, max_points=500)
    assert tx.size <= 500 and ty.max() == 99.0  # a lone spike survives the thinning


def test_throughput_spreads_tokens_from_first_token_to_completion():
    # Batches of 10 queries that stream 101 tokens each over 10 s and finish together, one batch
    # every 10 s: about 101 tokens/s throughout. Counting every token at completion drew a spike of
    # 1,010 tokens/s every tenth second and nothing between.
    rows = [{"issued_ms": b * 10_000.0, "first_token_ms": b * 10_000.0 + 100, "done_ms": b * 10_000.0 + 10_100, "output_tokens": 101}
            for b in range(6) for _ in range(10)]
    fig = throughput_timeline(rows, loadgen_tokens_per_s=None)
    heights = np.array([p.get_height() for p in fig.axes[0].patches])
    widths = np.array([p.get_width() for p in fig.axes[0].patches])
    assert (heights * widths).sum() == pytest.approx(60 * 101)
    steady = heights[1:-2]
    assert steady.max() < 1.2 * steady.mean() and steady.mean() == pytest.approx(101.0, rel=0.1)
    total, streamed = emitted_tokens(rows[::10], np.array([0.0, 100.0, 5100.0, 1e9]))
    assert streamed and list(total[:2]) == [0, 1] and total[2] == pytest.approx(51) and total[3] == 6 * 101


def test_queries_without_a_first_token_count_at_completion():
    rows = [{"issued_ms": 0.0, "done_ms": 2000.0, "output_tokens": 40}]
    total, streamed = emitted_tokens(rows, np.array([1999.0, 2000.0]))
    assert not streamed and list(total) == [0.0, 40.0]


# LoadGen's own lag ------------------------------------------------------------------------------
def _server_rows(n, delay_of):
    gap = 0.5  # 2,000 queries/s
    return [{"sample_index": i, "issued_ms": i * gap + delay_of(i), "first_token_ms": i * gap + 5, "done_ms": i * gap + 9,
             "output_tokens": 4, "scheduled_ms": i * gap, "loadgen_issue_delay_ms": delay_of(i),
             "loadgen_latency_ms": 9.0} for i in range(n)]


def _server_summary():
    return {"scenario": "Server", "loadgen": {"settings": {"target_qps": 2000.0}, "scheduled_samples_per_second": 2000.0},
            "metrics": {"samples_per_second": 2000.0}}


def test_loadgen_falling_behind_its_schedule_is_flagged_with_where_it_started():
    # on time for 3 s, then LoadGen issues each query 5 ms late
    h = assess(_server_summary(), _server_rows(10_000, lambda i: 0.02 if i < 6000 else 5.0))
    assert h.client_limited and h.loadgen_lag_p99_ms == pytest.approx(5.0)
    flag = next(f for f in h.flags if "LoadGen did not keep its own schedule" in f)
    assert "3 s into the run" in flag and "2000 queries/s" in flag
    assert "CLIENT-LIMITED" in health_html(h)


def test_loadgen_on_schedule_is_not_flagged():
    h = assess(_server_summary(), _server_rows(10_000, lambda i: 0.02 + (i % 100) * 0.001))
    assert h.loadgen_lag_p99_ms is None and not any("own schedule" in f for f in h.flags)
    assert float(np.percentile(h.issue_delay_ms, 99)) < LOADGEN_LAG_P99_LIMIT_MS


# The harness's streamed rows --------------------------------------------------------------------
TRACE = """{"traceEvents":[
{"name":"Sample","cat":"default","ph":"b","pid":1,"id":1,"ts":2000.0,"args":{"sample_seq":1,"query_seq":1,"sample_idx":7,"issue_start_ns":300000,"complete_ns":90000000}},
{"name":"Sample","cat":"default","ph":"b","pid":1,"id":0,"ts":1000.0,"args":{"sample_seq":0,"query_seq":0,"sample_idx":3,"issue_start_ns":100000,"complete_ns":50000000}},
{"name":"Sample","cat":"default","ph":"b","pid":1,"id":2,"ts":3000.0,"args":{"sample_seq":2,"query_seq":2,"sample_idx":3,"issue_start_ns":100000,"complete_ns":20000000}},
{"name":"LastTrace","ph":"X","pid":1,"tid":1,"ts":9.0,"dur":1.0,"args":{}}]}
"""


def test_rows_in_completion_order_merge_with_the_trace_by_issue_seq(tmp_path):
    trace = tmp_path / "trace.json"
    trace.write_text(TRACE)
    rows = [{"sample_index": 7, "issue_seq": 1, "done_ms": 80.0}, {"sample_index": 3, "issue_seq": 2, "done_ms": 20.0},
            {"sample_index": 3, "issue_seq": 0, "done_ms": 40.0}]
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(json.dumps(r) + "\n" for r in rows))
    count, note = merge_trace_file(partial, trace, tmp_path / "queries.jsonl")
    merged = load_queries(tmp_path)
    assert count == 3 and note.startswith("merged 3")
    assert [r["loadgen_latency_ms"] for r in merged] == [90.0, 20.0, 50.0]
    assert [r["scheduled_ms"] for r in merged] == [2.0, 3.0, 1.0]
    # a row whose sample disagrees with the trace: nothing merged, every row kept as it was
    rows[0]["sample_index"] = 8
    partial.write_text("".join(json.dumps(r) + "\n" for r in rows))
    count, note = merge_trace_file(partial, trace, tmp_path / "queries.jsonl")
    assert "disagree" in note and load_queries(tmp_path) == rows
    count, note = merge_trace_file(partial, tmp_path / "absent.json", tmp_path / "queries.jsonl")
    assert note == "no LoadGen trace" and load_queries(tmp_path) == rows


def test_the_sut_writes_rows_as_queries_complete_and_holds_only_those_in_flight(tmp_path, monkeypatch):
    import sys
    import types
    from dataclasses import dataclass

    from mlnb.harness.sut import LoadgenSUT

    heard = []
    fake = types.SimpleNamespace(  # LoadGen's response calls, recorded instead of sent to a running test
        QuerySampleResponse=lambda *args: args,
        FirstTokenComplete=lambda responses: heard.append(("first", responses[0][0])),
        QuerySamplesComplete=lambda responses: heard.append(("done", responses[0][0])),
    )
    monkeypatch.setitem(sys.modules, "mlperf_loadgen", fake)

    class Backend:
        def submit(self, requests):
            self.requests = requests

    @dataclass
    class Sample:
        id: int
        index: int

    backend = Backend()
    sut = LoadgenSUT(backend, [[1, 2, 3]] * 5, True, 8, 1, rows_path=tmp_path / "rows.jsonl")
    sut.issue_queries([Sample(100 + i, i) for i in range(4)])
    r = backend.requests
    sut.mark_sent(r[2])
    sut.complete(r[2], [5, 6, 7])  # no first token yet: one is sent to LoadGen first
    sut.first_token(r[0], [5])
    sut.annotate(r[0], {"token_source": "usage"})
    sut.complete(r[0], [5, 6])
    sut.complete(r[1], [], error="boom")
    sut.complete(r[1], [])  # a second completion of one query is passed on and not counted again
    assert set(sut.records) == {103} and sut.completed == 3 and sut.errors == 1 and sut.error_examples() == ["boom"]
    sut.finish_rows()
    rows = load_queries_file(tmp_path / "rows.jsonl")
    assert [row["issue_seq"] for row in rows] == [2, 0, 1, 3]  # completion order, then what was in flight
    assert rows[0]["sent_ms"] is not None and rows[0]["output_tokens"] == 3 and rows[0]["first_token_ms"] is not None
    assert rows[1]["token_source"] == "usage" and rows[2]["error"] == "boom" and rows[3]["done_ms"] is None
    assert ("first", 102) in heard and heard.count(("done", 101)) == 2 and not sut.records


def load_queries_file(path):
    return [json.loads(line) for line in path.read_text().splitlines()]
