"""The search for the highest VALID ``target_qps``: a bracketing ladder, then bisection.

The search is a pure function of the trials finished so far (``next_qps``), so a resumed sweep
replays its finished trials and carries on exactly where it stopped. Each trial is sized so that
LoadGen's early stopping can pass (``early_stopping_min_queries``); a trial that failed on early
stopping alone is run once more with the number of queries LoadGen said it would need.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional, Sequence

# LoadGen's Server early stopping: percentile 0.99, tolerance 0, confidence 0.99 (loadgen/results.cc).
EARLY_STOPPING_PERCENTILE = 0.99
EARLY_STOPPING_CONFIDENCE = 0.99
LOWEST_QPS = 1e-3  # the downward ladder gives up below this
_MORE_QUERIES = re.compile(r"Would need to run at least (\d+) more queries")


def _log_binomial_cdf(t: int, n: int, q: float) -> float:
    """log P(X <= t) for X ~ Binomial(n, q)."""
    terms = [
        math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1) + x * math.log(q) + (n - x) * math.log1p(-q)
        for x in range(0, min(t, n) + 1)
    ]
    top = max(terms)
    return top + math.log(sum(math.exp(v - top) for v in terms))


def early_stopping_min_queries(overlatency: int = 0, percentile: float = EARLY_STOPPING_PERCENTILE,
                               confidence: float = EARLY_STOPPING_CONFIDENCE) -> int:
    """The fewest queries (h + t) with which LoadGen's early stopping passes when ``t`` of them are over the limit.

    LoadGen's test: the odds of t or fewer over-latency queries among h + t, each over the limit
    with probability 1 - percentile, must be below 1 - confidence. With t = 0 and p99 this is 459.
    """
    t = overlatency
    limit = math.log(1 - confidence)
    low, high = 1, 1
    while _log_binomial_cdf(t, high + t, 1 - percentile) >= limit:
        high *= 2
    while low < high:  # the smallest h that passes
        mid = (low + high) // 2
        if _log_binomial_cdf(t, mid + t, 1 - percentile) < limit:
            high = mid
        else:
            low = mid + 1
    return low + t


def more_queries_needed(early_stopping: dict[str, str]) -> Optional[int]:
    """The largest "Would need to run at least N more queries" in LoadGen's early-stopping results."""
    needs = [int(m.group(1)) for text in early_stopping.values() for m in _MORE_QUERIES.finditer(text or "")]
    return max(needs) if needs else None


@dataclass(frozen=True)
class Bracket:
    highest_valid: Optional[float]
    lowest_invalid_above: Optional[float]


def bracket(history: Sequence[tuple[float, bool]]) -> Bracket:
    """The highest VALID QPS tried and the lowest INVALID one above it (None where there is none)."""
    valid = [qps for qps, ok in history if ok]
    low = max(valid) if valid else None
    above = [qps for qps, ok in history if not ok and (low is None or qps > low)]
    return Bracket(low, min(above) if above else None)


def next_qps(history: Sequence[tuple[float, bool]], start: float, factor: float, tolerance: float) -> Optional[float]:
    """The next target_qps to try, or None when the search is done.

    Up by ``factor`` from ``start`` while VALID, down by it while INVALID, then bisect the bracket
    until (high - low) / low <= tolerance.
    """
    if not history:
        return start
    found = bracket(history)
    low, high = found.highest_valid, found.lowest_invalid_above
    if low is None:  # nothing VALID yet: step down
        lower = min(qps for qps, _ in history) / factor
        return None if lower < LOWEST_QPS else round(lower, 6)
    if high is None:  # nothing INVALID above yet: step up
        return round(low * factor, 6)
    if (high - low) / low <= tolerance:
        return None
    return round((low + high) / 2, 6)


def resized_query_count(summary: dict) -> Optional[int]:
    """The query count a trial needs when it failed on early stopping alone (None otherwise).

    Only when LoadGen met the latency constraints and the duration and said how many more
    queries it would need: then a longer trial, not a lower rate, is what the verdict asks for.
    """
    loadgen = summary.get("loadgen") or {}
    if summary.get("verdict") != "INVALID" or loadgen.get("early_stopping_met") is not False:
        return None
    if loadgen.get("perf_constraints_met") is False or loadgen.get("min_duration_met") is False:
        return None
    if (summary.get("sut") or {}).get("errors") or loadgen.get("num_errors"):
        return None
    more = more_queries_needed(loadgen.get("early_stopping") or {})
    issued = loadgen.get("query_count")
    if more is None or not issued:
        return None
    return int(math.ceil((issued + more) * 1.1))  # a margin: more queries bring more over-latency ones
