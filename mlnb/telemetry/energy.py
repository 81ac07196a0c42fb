"""Energy from power samples: the trapezoid rule over each sampled interval."""

from __future__ import annotations

from typing import Optional, Sequence


def integrate_joules(times_s: Sequence[float], watts: Sequence[Optional[float]]) -> Optional[float]:
    """Joules between the first and last sample; intervals with a missing end are skipped.
    None when fewer than two samples have a power reading."""
    total, pairs = 0.0, 0
    for i in range(1, len(times_s)):
        a, b = watts[i - 1], watts[i]
        if a is None or b is None:
            continue
        total += (a + b) / 2.0 * (times_s[i] - times_s[i - 1])
        pairs += 1
    return total if pairs else None


def energy_figures(joules: Optional[float], seconds: float, output_tokens: int, source: str) -> dict:
    """J per stage, J per output token and output tokens/s per kW, or "not available" with why."""
    if joules is None or joules <= 0 or seconds <= 0:
        return {"available": False, "source": source}
    mean_kw = joules / seconds / 1000.0
    return {
        "available": True,
        "source": source,
        "joules": round(joules, 3),
        "seconds": round(seconds, 3),
        "mean_power_w": round(mean_kw * 1000.0, 3),
        "output_tokens": int(output_tokens),
        "joules_per_output_token": round(joules / output_tokens, 6) if output_tokens else None,
        "output_tokens_per_s_per_kw": round(output_tokens / seconds / mean_kw, 3) if output_tokens else None,
    }
