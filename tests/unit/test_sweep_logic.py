"""The sweep's pure parts: early-stopping sizing, the search's next step, saturation, the Pareto frontier."""

import math

import pytest

from mlnb.errors import InputError
from mlnb.sweep.curve import pareto_frontier, query_ttft_tpot, rates_from_queries
from mlnb.sweep.plan import SweepSpec, parse_rates, parse_slo
from mlnb.sweep.runner import next_action
from mlnb.sweep.search import (bracket, early_stopping_min_queries, more_queries_needed, next_qps,
                               resized_query_count)


def test_early_stopping_sizes_match_loadgens_formula():
    # LoadGen: with no over-latency query, h = ceil(log(1 - confidence) / log(percentile)).
    assert early_stopping_min_queries(0) == math.ceil(math.log(0.01) / math.log(0.99)) == 459
    sizes = [early_stopping_min_queries(t) for t in range(6)]
    assert sizes == sorted(set(sizes))  # each over-latency query asks for more
    # With t = 1 the passing odds must be below 1 % at the size found and not one query earlier.
    n = early_stopping_min_queries(1)
    def odds(total):  # P(at most 1 of `total` queries over the p99 limit)
        return 0.99 ** total + total * 0.01 * 0.99 ** (total - 1)
    assert odds(n) < 0.01 <= odds(n - 1)


def test_loadgens_more_queries_message_resizes_a_trial():
    text = (" * Run unsuccessful.\n * Processed 500 queries.\n * Would need to run at least 161 more queries,\n"
            " with the run being successful if every additional\n query were under latency.")
    assert more_queries_needed({"ttft": text, "tpot": "* Run successful."}) == 161
    summary = {"verdict": "INVALID", "sut": {"errors": 0},
               "loadgen": {"early_stopping_met": False, "perf_constraints_met": True, "min_duration_met": True,
                           "query_count": 500, "num_errors": 0, "early_stopping": {"ttft": text}}}
    assert resized_query_count(summary) == math.ceil(661 * 1.1)
    summary["loadgen"]["perf_constraints_met"] = False  # too slow: a longer run would not help
    assert resized_query_count(summary) is None


def test_search_brackets_then_bisects_to_the_tolerance():
    capacity = 37.0
    history = []
    while (qps := next_qps(history, 4.0, 2.0, 0.02)) is not None:
        history.append((qps, qps <= capacity))
    found = bracket(history)
    assert found.highest_valid <= capacity < found.lowest_invalid_above
    assert (found.lowest_invalid_above - found.highest_valid) / found.highest_valid <= 0.02
    assert [q for q, _ in history[:5]] == [4, 8, 16, 32, 64]
    # Starting above capacity: down by the factor until VALID.
    assert next_qps([(100.0, False)], 100.0, 2.0, 0.02) == 50.0
    assert next_qps([(100.0, False), (50.0, True)], 100.0, 2.0, 0.02) == 75.0


def _point(n, qps, verdict, saturated=False, role="ladder", status="finished"):
    return {"point": f"p{n:02d}", "role": role, "target_qps": qps, "status": status, "verdict": verdict,
            "saturated": saturated, "run_dir": f"p{n:02d}"}


def test_ladder_skips_finished_rates_and_stops_at_saturation():
    spec = SweepSpec(kind="ladder", preset="smoke", rates=[1, 2, 4, 8])
    state = {"spec": spec.model_dump(mode="json"), "points": [_point(1, 1, "VALID"), _point(2, 2, "VALID", status="interrupted")],
             "first_qps": 1, "base_min_query_count": 10}
    # the interrupted rate runs again (no server setting, first repeat), the finished one not
    assert next_action(state) == ("ladder", 2, 459, None, 1)
    state["points"].append(_point(3, 2, "INVALID", saturated=True))
    assert next_action(state) is None and state["stop_reason"].startswith("saturated at 2 qps")


def test_rates_and_slos_parse_or_fail_with_one_line():
    assert parse_rates("geom:1:8:4") == [1, 2, 4, 8]
    assert parse_rates("0.5, 1,2") == [0.5, 1, 2]
    for bad in ("", "1,1", "3,2", "a,b", "-1,2", "geom:1:8"):
        with pytest.raises(InputError):
            parse_rates(bad)
    assert parse_slo("ttft=2s") == ("ttft", 2000.0) and parse_slo("tpot=40ms") == ("tpot", 40.0)
    for bad in ("ttft=2", "tpot=30tok/s", "e2e=3s", "ttft=0ms"):
        with pytest.raises(InputError):
            parse_slo(bad)


def test_achieved_rate_falls_below_the_offered_one_only_past_capacity():
    # 101 queries scheduled 10 ms apart (100 qps), each taking 50 ms: one latency is no backlog.
    below = [{"scheduled_ms": 10 * i, "loadgen_latency_ms": 50} for i in range(101)]
    offered, achieved = rates_from_queries(below)
    assert offered == pytest.approx(100) and achieved == pytest.approx(100)
    # One server finishing a query every 20 ms: 50 qps achieved.
    past = [{"scheduled_ms": 10 * i, "loadgen_latency_ms": 20 * (i + 1) - 10 * i} for i in range(101)]
    assert rates_from_queries(past)[1] == pytest.approx(50, rel=0.01)
    # Below capacity, a latency as long as the whole run (a slow model) does not look like saturation.
    batch = [{"scheduled_ms": 10 * i, "loadgen_latency_ms": 1000 + 50 - 10 * i % 50} for i in range(101)]
    assert rates_from_queries(batch)[1] == pytest.approx(100, rel=0.06)


def test_ttft_counts_from_loadgens_scheduled_time():
    row = {"issued_ms": 0, "first_token_ms": 30, "done_ms": 90, "output_tokens": 7, "loadgen_latency_ms": 100}
    assert query_ttft_tpot(row) == (40, 10)


def test_pareto_frontier_keeps_only_undominated_points():
    points = [{"point": name, "per_user_tokens_per_s": x, "output_tokens_per_s": y}
              for name, x, y in (("a", 100, 10), ("b", 50, 40), ("c", 40, 30), ("d", 20, 80), ("e", 100, 5))]
    assert [p["point"] for p in pareto_frontier(points)] == ["a", "b", "d"]


def test_search_resizes_an_early_stopping_failure_once_then_confirms_the_result():
    spec = SweepSpec(kind="search", preset="smoke", tolerance=0.1, confirm=True)
    state = {"spec": spec.model_dump(mode="json"), "first_qps": 10, "base_min_query_count": 10,
             "points": [{**_point(1, 10, "INVALID", role="search"), "resize_to": 700}]}
    assert next_action(state) == ("resize", 10, 700)
    state["points"].append({**_point(2, 10, "VALID", role="resize")})  # the longer trial passed
    assert next_action(state) == ("search", 20, 459)
    state["points"] += [_point(3, 20, "INVALID", role="search"), _point(4, 15, "VALID", role="search"),
                        _point(5, 17.5, "INVALID", role="search"), _point(6, 16.25, "VALID", role="search")]
    assert next_action(state) == ("confirm", 16.25, None)  # full durations: no min_query_count override
    state["points"].append(_point(7, 16.25, "VALID", role="confirm"))
    assert next_action(state) is None and state["stop_reason"] == "tolerance reached"


def test_a_concurrency_point_is_sized_by_queries_not_the_offline_stage_duration():
    from mlnb.sweep.plan import CLOSED_LOOP_NOTE, point_overrides

    spec = SweepSpec(kind="concurrency", preset="smoke", stage="01_offline_perf", concurrencies=[1, 4])
    assert (None, "min_duration_ms", 0) in point_overrides(spec, 4, min_query_count=32)
    assert "minimum duration is 0 unless --trial-duration-ms is given" in CLOSED_LOOP_NOTE
    given = spec.model_copy(update={"trial_duration_ms": 5000})
    durations = [value for _, key, value in point_overrides(given, 4, 32) if key == "min_duration_ms"]
    assert durations == [5000]
    # A Server search keeps the preset's duration unless told, and a confirmation run keeps it always.
    search = SweepSpec(kind="search", preset="smoke")
    assert not [key for _, key, _ in point_overrides(search, 2.0, 459) if key == "min_duration_ms"]
    assert not [key for _, key, _ in point_overrides(spec, 4, None, full_durations=True) if key == "min_duration_ms"]


def test_a_search_stopped_early_says_its_bracket_is_wider_than_the_tolerance_and_counts_only_started_loadgen_runs():
    from mlnb.sweep.page import render_page
    from mlnb.sweep.runner import search_result

    spec = SweepSpec(kind="search", preset="smoke", tolerance=0.25)
    points = [_point(1, 1.0, "VALID", role="search"), _point(2, 2.0, "INVALID", role="search"),
              _point(3, 1.5, "INVALID", role="search"), _point(4, 1.5, "INVALID", role="resize"),
              {**_point(5, 1.25, None, role="search", status="interrupted"), "loadgen_started": False}]
    state = {"spec": spec.model_dump(mode="json"), "first_qps": 1.0, "points": points, "sweep_id": "s",
             "status": "interrupted", "stop_reason": "interrupted during p05"}
    result = search_result(state)
    assert (result["highest_valid_qps"], result["lowest_invalid_qps"]) == (1.0, 1.5)
    assert result["bracket_gap"] == 0.5 and result["tolerance_reached"] is False
    assert result["loadgen_runs"] == 4  # p05 was stopped while its model loaded
    points[4]["loadgen_started"] = True
    assert search_result(state)["loadgen_runs"] == 5
    page = render_page({**state, "result": result})
    assert "the bracket is 50.0 % wide,\n<b>not within it</b>" in page
    points[2:] = [_point(3, 1.25, "INVALID", role="search")]
    assert search_result(state)["tolerance_reached"] is True


def test_a_bound_that_failed_on_early_stopping_alone_without_room_to_rerun_is_called_not_firm():
    spec = SweepSpec(kind="search", preset="smoke", tolerance=0.25, max_trials=3)
    state = {"spec": spec.model_dump(mode="json"), "first_qps": 1, "base_min_query_count": 459,
             "points": [_point(1, 1, "VALID", role="search"), _point(2, 2, "INVALID", role="search"),
                        {**_point(3, 1.25, "INVALID", role="search"), "resize_to": 700}]}
    assert next_action(state) is None
    assert state["stop_reason"].startswith("max_trials=3 reached") or state["stop_reason"].startswith("tolerance")
    assert "1.25 qps failed on early stopping alone" in state["stop_reason"] and "not a firm upper bound" in state["stop_reason"]
