"""Where one sweep's Pareto frontier dominates another's, over the per-user speed range both measured."""

from mlnb.sweep.compare import dominance, frontier_at
from mlnb.sweep.curve import pareto_frontier


def curve(name, pairs):
    return [{"point": f"{name}{i}", "status": "finished", "per_user_tokens_per_s": speed, "output_tokens_per_s": tokens}
            for i, (speed, tokens) in enumerate(pairs)]


def test_frontier_is_the_best_throughput_at_that_speed_or_faster():
    frontier = pareto_frontier(curve("a", [(10, 100), (20, 80), (15, 50), (30, 40)]))
    assert frontier_at(frontier, 10) == 100 and frontier_at(frontier, 12) == 80
    assert frontier_at(frontier, 25) == 40 and frontier_at(frontier, 31) is None


def test_crossing_curves_are_mixed_and_say_where():
    a = curve("a", [(10, 200), (20, 100), (30, 50)])   # more throughput at low per-user speed
    b = curve("b", [(10, 120), (20, 101), (30, 90)])   # more at high per-user speed
    result = dominance(a, b, threshold=0.05)
    assert [c["dominates"] for c in result["checks"]] == ["A", "neither", "B"]
    assert result["verdict"] == ("mixed: A at 10 tokens/s per user; neither at 20 tokens/s per user; "
                                 "B at 30 tokens/s per user")
    assert result["overlap"] == {"low": 10, "high": 30}


def test_only_the_overlap_counts():
    a = curve("a", [(5, 1000), (10, 200), (20, 100)])
    b = curve("b", [(10, 100), (20, 50), (40, 10)])
    result = dominance(a, b)
    assert result["overlap"] == {"low": 10, "high": 20} and result["verdict"] == "A dominates"
    assert {c["per_user_tokens_per_s"] for c in result["checks"]} == {10, 20}
