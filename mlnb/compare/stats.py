"""The difference between two runs' statistic, its bootstrap interval, and the verdict.

Method (percentile bootstrap of the difference of the statistic): draw ``B`` resamples of run A's
per-query values and, independently, of run B's, each with replacement and of the original size;
compute the statistic (median, p99, mean, ...) on each and take ``stat(B*) - stat(A*)``. The 2.5th
and 97.5th percentiles of those ``B`` differences are the 95 % interval. Paired data (the same
accuracy samples scored in both runs) resample the pairs instead, so each resample keeps a sample's
two scores together. The generator is seeded, so a comparison gives the same numbers every time.
A percentile of a resample is drawn from its exact distribution (:func:`resampled_percentiles`)
rather than by sorting every resample, which keeps full-dataset comparisons to seconds.

Verdict, for a metric where lower or higher is better:

- ``no interval`` when a run has too few values to form an interval of the statistic (a percentile
  ``q`` needs at least ``MIN_TAIL`` values beyond it in each run: p99 needs 500), or when a
  metric has one value per run (LoadGen's throughput without repeats): the change is shown, not judged;
- ``inconclusive`` when the interval includes 0 or the change is below the practical threshold
  (a share of run A's value, 5 % by default);
- otherwise ``improvement`` or ``regression`` by the direction of the change.

A metric without a better direction (output length) is ``changed`` or ``inconclusive`` by the same rules.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence

import numpy as np

__all__ = [
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "DEFAULT_THRESHOLD",
    "MIN_REPEATS",
    "MIN_TAIL",
    "NO_INTERVAL",
    "Difference",
    "bootstrap_difference",
    "min_values_for",
    "single_value_difference",
    "statistic",
    "verdict_for",
]

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20240601
DEFAULT_THRESHOLD = 0.05  # 5 % of run A's value: smaller changes are not called either way
MIN_REPEATS = 3  # runs per side before run-level values (throughput) get an interval
CONFIDENCE = 0.95
MIN_TAIL = 5  # values beyond the percentile, in each run, before its interval means anything
_CHUNK_ELEMENTS = 4_000_000  # resample in blocks of at most this many values (32 MB of float64)

IMPROVEMENT, REGRESSION, INCONCLUSIVE, CHANGED = "improvement", "regression", "inconclusive", "changed"
NO_INTERVAL = "no interval"  # too few values (or one value per run): not judged, unlike "inconclusive"


def statistic(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """``"median"``, ``"mean"`` or ``"pNN"`` as a function over the last axis."""
    if name == "mean":
        return lambda values: np.mean(values, axis=-1)
    if name == "median":
        return lambda values: np.percentile(values, 50, axis=-1)
    if name.startswith("p"):
        q = float(name[1:])
        return lambda values: np.percentile(values, q, axis=-1)
    raise ValueError(f"unknown statistic {name!r}")


def min_values_for(stat: str) -> int:
    """The fewest values per run for an interval of ``stat`` (``MIN_TAIL`` beyond a percentile)."""
    if stat == "mean":
        return 2 * MIN_TAIL
    q = 50.0 if stat == "median" else float(stat[1:])
    tail = min(q, 100.0 - q) / 100.0
    return max(2 * MIN_TAIL, math.ceil(MIN_TAIL / tail - 1e-9))


@dataclass
class Difference:
    """One metric of one stage: the two values, their difference, its interval and the verdict."""

    metric: str
    stat: str
    unit: str
    better: Optional[str]  # "lower", "higher" or None (no better direction)
    a: Optional[float]
    b: Optional[float]
    diff: Optional[float]
    rel: Optional[float]  # diff / |a|
    ci_low: Optional[float]
    ci_high: Optional[float]
    n_a: int
    n_b: int
    verdict: str
    reason: str
    method: str
    need: Optional[int] = None  # values per run an interval needs, when there were fewer (verdict "no interval")

    def as_dict(self) -> dict:
        return asdict(self)


def _percentile_q(stat: str) -> Optional[float]:
    if stat == "median":
        return 50.0
    if stat.startswith("p"):
        return float(stat[1:])
    return None


def resampled_percentiles(values: np.ndarray, q: float, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The q-th percentile (numpy's linear rule) of ``resamples`` bootstrap resamples, without building them.

    A resample is n draws F^-1(U_i) from the empirical distribution F, so its k-th smallest value is
    F^-1(U_(k)), and the k-th smallest of n uniforms is Beta(k, n - k + 1); the next one is
    U_(k) + (1 - U_(k)) * Beta(1, n - k). Drawing these two order statistics gives the same
    distribution as sorting every resample, in O(resamples) instead of O(resamples * n log n).
    """
    ordered = np.sort(values)
    n = ordered.size
    h = (n - 1) * q / 100.0
    k = int(math.floor(h))  # 0-based rank of the lower neighbour
    frac = h - k
    u_k = rng.beta(k + 1, n - k, size=resamples)
    lower = ordered[np.minimum((u_k * n).astype(np.int64), n - 1)]
    if frac == 0.0 or k + 1 >= n:
        return lower
    u_next = u_k + (1.0 - u_k) * rng.beta(1, n - k - 1, size=resamples)
    upper = ordered[np.minimum((u_next * n).astype(np.int64), n - 1)]
    return lower + frac * (upper - lower)


def _resampled_stats(values: np.ndarray, stat_fn, resamples: int, rng: np.random.Generator, stat: str = "") -> np.ndarray:
    q = _percentile_q(stat)
    if q is not None:
        return resampled_percentiles(values, q, resamples, rng)
    n = values.size
    out = np.empty(resamples, dtype=float)
    block = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, resamples, block):
        count = min(block, resamples - start)
        idx = rng.integers(0, n, size=(count, n))
        out[start:start + count] = stat_fn(values[idx])
    return out


def _paired_resampled_stats(a: np.ndarray, b: np.ndarray, stat_fn, resamples: int, rng) -> tuple[np.ndarray, np.ndarray]:
    n = a.size
    out_a, out_b = np.empty(resamples), np.empty(resamples)
    block = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, resamples, block):
        count = min(block, resamples - start)
        idx = rng.integers(0, n, size=(count, n))
        out_a[start:start + count] = stat_fn(a[idx])
        out_b[start:start + count] = stat_fn(b[idx])
    return out_a, out_b


def _per_run(n_a: int, n_b: int) -> str:
    return f"{n_a:,}" if n_a == n_b else f"A {n_a:,}, B {n_b:,}"


def verdict_for(
    diff: float,
    rel: Optional[float],
    ci_low: float,
    ci_high: float,
    better: Optional[str],
    threshold: float,
) -> tuple[str, str]:
    """(verdict, reason) from the difference B - A and its interval."""
    if ci_low <= 0.0 <= ci_high:
        return INCONCLUSIVE, "the 95 % interval includes 0"
    if rel is not None and abs(rel) < threshold:
        return INCONCLUSIVE, f"the change ({rel:+.1%}) is below the practical threshold of {threshold:.0%}"
    if better is None:
        return CHANGED, "the 95 % interval excludes 0 (no better direction for this metric)"
    lower_is_better = better == "lower"
    got_better = diff < 0 if lower_is_better else diff > 0
    direction = "lower" if diff < 0 else "higher"
    word = "better" if got_better else "worse"
    return (IMPROVEMENT if got_better else REGRESSION), f"{direction} is {word}; the 95 % interval excludes 0"


def bootstrap_difference(
    a_values: Sequence[float] | np.ndarray,
    b_values: Sequence[float] | np.ndarray,
    metric: str,
    stat: str = "median",
    better: Optional[str] = "lower",
    unit: str = "ms",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    threshold: float = DEFAULT_THRESHOLD,
    paired: bool = False,
    min_values: Optional[int] = None,
) -> Difference:
    """``stat(B) - stat(A)`` with its percentile-bootstrap 95 % interval and the verdict.

    ``paired``: the i-th values of A and B belong to the same sample (equal lengths); pairs are
    resampled together. ``min_values`` overrides the fewest values per run (:func:`min_values_for`).
    """
    a = np.asarray(a_values, dtype=float)
    b = np.asarray(b_values, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    fn = statistic(stat)
    how = "paired" if paired else "independent"
    method = f"percentile bootstrap of the difference of the {stat}, {resamples} {how} resamples, seed {seed}"
    if min_values is not None:
        method += "; one value per repeat run"
    point_a = float(fn(a)) if a.size else None
    point_b = float(fn(b)) if b.size else None
    diff = point_b - point_a if point_a is not None and point_b is not None else None
    rel = diff / abs(point_a) if diff is not None and point_a not in (None, 0.0) else None
    base = dict(metric=metric, stat=stat, unit=unit, better=better, a=point_a, b=point_b, diff=diff, rel=rel,
                n_a=int(a.size), n_b=int(b.size), method=method)
    need = min_values if min_values is not None else min_values_for(stat)
    if a.size < need or b.size < need:
        what = "runs" if min_values is not None else "queries"
        return Difference(**base, ci_low=None, ci_high=None, verdict=NO_INTERVAL, need=need,
                          reason=f"not enough {what} to form an interval of the {stat} "
                                 f"({_per_run(a.size, b.size)} per run, {need} needed)")
    if paired and a.size != b.size:
        raise ValueError("paired data needs equal lengths")
    rng = np.random.default_rng(seed)
    if paired:
        stats_a, stats_b = _paired_resampled_stats(a, b, fn, resamples, rng)
        diffs = stats_b - stats_a
    else:
        diffs = _resampled_stats(b, fn, resamples, rng, stat) - _resampled_stats(a, fn, resamples, rng, stat)
    alpha = (1.0 - CONFIDENCE) / 2
    low, high = (float(x) for x in np.percentile(diffs, [100 * alpha, 100 * (1 - alpha)]))
    verdict, reason = verdict_for(diff, rel, low, high, better, threshold)
    return Difference(**base, ci_low=low, ci_high=high, verdict=verdict, reason=reason)


def single_value_difference(
    a: Optional[float], b: Optional[float], metric: str, stat: str, better: Optional[str], unit: str,
) -> Difference:
    """A metric with one value per run (LoadGen's throughput): the change, no interval."""
    diff = b - a if a is not None and b is not None else None
    rel = diff / abs(a) if diff is not None and a not in (None, 0.0) else None
    return Difference(metric=metric, stat=stat, unit=unit, better=better, a=a, b=b, diff=diff, rel=rel,
                      ci_low=None, ci_high=None, n_a=1 if a is not None else 0, n_b=1 if b is not None else 0,
                      verdict=NO_INTERVAL, reason=f"single run: no interval ({MIN_REPEATS} repeats per side needed)",
                      need=MIN_REPEATS,
                      method="one value per run (LoadGen's result); no interval without repeats")
