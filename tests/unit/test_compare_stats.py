"""The bootstrap interval and the verdict on synthetic per-query data whose truth is known."""

from pathlib import Path

import numpy as np
import pytest

from mlnb.compare import stats


def _lognormal(median_ms, n, seed):
    return np.random.default_rng(seed).lognormal(np.log(median_ms), 0.3, n)


def test_a_clear_latency_regression_is_flagged():
    a, b = _lognormal(100, 400, 1), _lognormal(130, 400, 2)  # B's median is 30 % slower
    d = stats.bootstrap_difference(a, b, "ttft_ms", "median", better="lower")
    assert d.verdict == "regression"
    assert d.ci_low > 0 and d.ci_low < d.diff < d.ci_high
    assert 20 < d.ci_low < 30 + 15 and d.ci_high < 45  # the true difference (30 ms) lies inside


def test_the_same_change_is_an_improvement_when_higher_is_better():
    a, b = _lognormal(100, 400, 1), _lognormal(130, 400, 2)
    assert stats.bootstrap_difference(a, b, "rouge1", "mean", better="higher").verdict == "improvement"
    assert stats.bootstrap_difference(b, a, "ttft_ms", "median", better="lower").verdict == "improvement"
    assert stats.bootstrap_difference(b, a, "rouge1", "mean", better="higher").verdict == "regression"


def test_identical_distributions_are_inconclusive():
    # Pairs of samples of one distribution: a verdict either way is a false alarm, and must be rare.
    for stat in ("median", "p90", "mean"):
        verdicts = [
            stats.bootstrap_difference(_lognormal(100, 400, 2 * k), _lognormal(100, 400, 2 * k + 1), "ttft_ms", stat,
                                       better="lower", resamples=400).verdict
            for k in range(20)
        ]
        assert verdicts.count("inconclusive") >= 18, (stat, verdicts)


def test_a_real_but_small_change_is_below_the_threshold():
    a = _lognormal(100, 5000, 1)
    b = a * 1.02  # 2 %: the interval excludes 0, but the change is below the 5 % threshold
    d = stats.bootstrap_difference(a, b, "tpot_ms", "median", better="lower")
    assert d.ci_low > 0
    assert d.verdict == "inconclusive" and "threshold" in d.reason
    assert stats.bootstrap_difference(a, b, "tpot_ms", "median", better="lower", threshold=0.01).verdict == "regression"


def test_too_few_values_for_a_tail_percentile():
    a, b = _lognormal(100, 100, 1), _lognormal(300, 100, 2)
    assert stats.bootstrap_difference(a, b, "e2e_ms", "median").verdict == "regression"
    p99 = stats.bootstrap_difference(a, b, "e2e_ms", "p99")
    assert p99.verdict == "no interval" and p99.ci_low is None and "not enough queries" in p99.reason
    assert stats.min_values_for("p99") == 500 and stats.min_values_for("median") == 10


def test_seeded_results_repeat_and_other_seeds_differ_slightly():
    a, b = _lognormal(100, 300, 1), _lognormal(110, 300, 2)
    first = stats.bootstrap_difference(a, b, "ttft_ms", "p90", resamples=500)
    again = stats.bootstrap_difference(a, b, "ttft_ms", "p90", resamples=500)
    other = stats.bootstrap_difference(a, b, "ttft_ms", "p90", resamples=500, seed=7)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_interval_coverage_on_known_truth():
    # 40 experiments with a true median difference of 10 ms: a 95 % interval should miss it rarely.
    misses = 0
    for seed in range(40):
        a = np.random.default_rng(seed).normal(100, 10, 200)
        b = np.random.default_rng(1000 + seed).normal(110, 10, 200)
        d = stats.bootstrap_difference(a, b, "tpot_ms", "median", resamples=400, seed=seed)
        misses += not (d.ci_low <= 10 <= d.ci_high)
    assert misses <= 6


def test_paired_resampling_sees_a_small_consistent_gain():
    rng = np.random.default_rng(3)
    base = rng.uniform(10, 60, 64)  # per-sample ROUGE varies a lot between samples
    better = base + 2.0 + rng.normal(0, 0.3, 64)  # every sample gains about 2 points
    paired = stats.bootstrap_difference(base, better, "rouge1", "mean", better="higher", unit="ROUGE", paired=True, threshold=0.01)
    unpaired = stats.bootstrap_difference(base, better, "rouge1", "mean", better="higher", unit="ROUGE", threshold=0.01)
    assert paired.verdict == "improvement"
    assert (paired.ci_high - paired.ci_low) < (unpaired.ci_high - unpaired.ci_low) / 5


def test_no_direction_metric_is_changed_not_better_or_worse():
    a, b = _lognormal(50, 300, 1), _lognormal(80, 300, 2)
    assert stats.bootstrap_difference(a, b, "output_tokens", "mean", better=None, unit="tokens").verdict == "changed"


def test_single_values_get_no_interval():
    d = stats.single_value_difference(100.0, 50.0, "tokens_per_second", "LoadGen", "higher", "/s")
    assert d.verdict == "no interval" and d.reason == "single run: no interval (3 repeats per side needed)"
    assert d.rel == pytest.approx(-0.5)


def test_verdict_rules_directly():
    assert stats.verdict_for(5, 0.5, -1, 10, "lower", 0.05)[0] == "inconclusive"
    assert stats.verdict_for(5, 0.5, 1, 10, "lower", 0.05)[0] == "regression"
    assert stats.verdict_for(-5, -0.5, -10, -1, "lower", 0.05)[0] == "improvement"
    assert stats.verdict_for(-5, -0.5, -10, -1, "higher", 0.05)[0] == "regression"
    assert stats.verdict_for(-5, -0.01, -10, -1, "higher", 0.05)[0] == "inconclusive"


def _stage(tokens_per_second, ttft_ms, name="03_server_perf"):
    from mlnb.compare.loading import StageData

    summary = {"mode": "performance", "metrics": {"tokens_per_second": tokens_per_second, "samples_per_second": 1.0}}
    stage = StageData(name, Path("/nowhere"), summary)
    stage._series = {"ttft_ms": np.asarray(ttft_ms, dtype=float), "tpot_ms": np.array([]), "e2e_ms": np.asarray(ttft_ms),
                     "output_tokens": np.full(len(ttft_ms), 32.0), "prompt_tokens": np.array([]), "done_ms": np.array([])}
    return stage


def _with_repeats(values, ttft_median):
    first, *more = [_stage(v, _lognormal(ttft_median, 60, int(v))) for v in values]
    first.repeats = more
    return first


def test_throughput_gets_an_interval_only_with_repeats():
    from mlnb.compare.build import stage_differences

    single = {d["metric"]: d for d in stage_differences(_stage(1000.0, _lognormal(20, 60, 1)), _stage(700.0, _lognormal(20, 60, 2)))}
    assert single["tokens_per_second"]["reason"] == "single run: no interval (3 repeats per side needed)"
    a = _with_repeats([1000.0, 1010.0, 995.0, 1005.0], 20)
    b = _with_repeats([700.0, 712.0, 695.0, 705.0], 20)
    diffs = {(d["metric"], d["stat"]): d for d in stage_differences(a, b, resamples=500)}
    tps = diffs[("tokens_per_second", "mean")]
    assert tps["verdict"] == "regression" and tps["n_a"] == 4 and tps["ci_high"] < 0
    assert diffs[("ttft_ms", "median")]["n_a"] == 240  # the repeats' queries are pooled
    two = stage_differences(_with_repeats([1000.0, 1010.0], 20), _with_repeats([700.0, 712.0], 20), resamples=200)
    tps_two = next(d for d in two if d["metric"] == "tokens_per_second")
    assert tps_two["verdict"] == "no interval" and "not enough runs" in tps_two["reason"]


@pytest.mark.parametrize("q, n", [(50, 41), (50, 40), (99, 600), (90, 57)])
def test_order_statistic_sampling_matches_resampling(q, n):
    # The fast path draws the bootstrap percentile from its exact distribution; brute force must agree.
    values = np.random.default_rng(11).lognormal(3, 0.6, n)
    fast = stats.resampled_percentiles(values, q, 20000, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    brute = np.percentile(values[rng.integers(0, n, size=(20000, n))], q, axis=1)
    spread = brute.std()
    for level in (2.5, 25, 50, 75, 97.5):
        assert abs(np.percentile(fast, level) - np.percentile(brute, level)) < 0.1 * spread + 1e-9, level
    assert abs(fast.mean() - brute.mean()) < 0.05 * spread
