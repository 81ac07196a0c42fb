"""A ladder's levels: repeats grouped per load and server setting, their spread, and saturation."""

import statistics

import pytest

from mlnb.sweep.levels import levels


def point(name, level, tokens, per_user=10.0, setting=None, errors=0, kind="concurrency", saturated=None):
    load = {"concurrency": level} if kind == "concurrency" else {"target_qps": level}
    return {"point": name, "role": kind, "status": "finished", "verdict": "VALID", "setting": setting,
            "output_tokens_per_s": tokens, "per_user_tokens_per_s": per_user, "sut_errors": errors,
            "saturated": saturated, **load}


def test_repeats_give_mean_min_max_and_stdev():
    rows = levels([point("p1", 1, 10.0), point("p2", 1, 12.0), point("p3", 1, 14.0)], "concurrency", 0.05)
    (row,) = rows
    assert row["repeats"] == 3 and row["points"] == ["p1", "p2", "p3"]
    assert row["output_tokens_per_s"] == {"mean": 12.0, "min": 10.0, "max": 14.0,
                                          "stdev": pytest.approx(statistics.stdev([10, 12, 14]))}


def test_concurrency_saturates_when_more_in_flight_buys_less_than_the_margin():
    rows = levels([point("a", 1, 100.0), point("b", 2, 190.0), point("c", 4, 195.0)], "concurrency", 0.05)
    assert [r["saturated"] for r in rows] == [None, False, True]
    failed = levels([point("a", 1, 100.0), point("b", 2, 200.0, errors=1)], "concurrency", 0.05)
    assert failed[1]["saturated"] is True


def test_settings_are_separate_curves_and_rate_levels_take_their_points_flags():
    pts = [point("a", 1, 100.0, setting={"n": 4}), point("b", 1, 300.0, setting={"n": 8}),
           point("c", 2, 101.0, setting={"n": 4})]
    rows = levels(pts, "concurrency", 0.05)
    assert [(r["setting_text"], r["level"]) for r in rows] == [("n=4", 1), ("n=4", 2), ("n=8", 1)]
    assert rows[1]["saturated"] is True  # compared with n=4 at 1, not with n=8
    rates = levels([point("a", 5, 1.0, kind="ladder", saturated=False), point("b", 5, 1.0, kind="ladder", saturated=True)],
                   "ladder", 0.05)
    assert rates[0]["saturated"] is True
