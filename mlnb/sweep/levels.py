"""A ladder's levels: the repeats of one rate (or concurrency) under one server setting, with their spread.

A point is one run; a level groups the finished runs of one load under one server setting. Its
figures are the mean of its repeats, shown with the smallest, the largest and the sample standard
deviation, so that a curve drawn through the means says how far a single run may fall from it.
"""

from __future__ import annotations

import statistics
from typing import Any, Optional, Sequence

SPREAD_FIELDS = ("output_tokens_per_s", "per_user_tokens_per_s", "ttft_p90_ms", "ttft_p99_ms", "tpot_p90_ms",
                 "tpot_p99_ms", "goodput_rps", "achieved_qps")


def level_of(point: dict) -> float:
    """The load of a point: its requests in flight (concurrency sweeps) or its target_qps."""
    return point["concurrency"] if point.get("concurrency") is not None else point["target_qps"]


def setting_key(setting: Optional[dict]) -> str:
    """One text per server setting, for grouping and labels ("" for no grid)."""
    return "" if not setting else ", ".join(f"{k}={v}" for k, v in sorted(setting.items()))


def spread(values: Sequence[float]) -> dict[str, Optional[float]]:
    if not values:
        return {"mean": None, "min": None, "max": None, "stdev": None}
    return {
        "mean": round(statistics.fmean(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else None,
    }


def levels(points: Sequence[dict], kind: str, margin: float) -> list[dict[str, Any]]:
    """Per (setting, level), in run order of settings and increasing load: repeats, spread, verdicts, saturation.

    Saturated: for a rate ladder, any repeat saturated (achieved rate below the offered one, or
    errors); for a concurrency ladder, failed requests, or mean throughput below (1 + margin) times
    the previous level's (more requests in flight bought almost no throughput).
    """
    groups: dict[tuple[str, float], list[dict]] = {}
    for point in points:
        if point["status"] == "finished" and point["role"] != "confirm":
            groups.setdefault((setting_key(point.get("setting")), level_of(point)), []).append(point)
    order = list(dict.fromkeys(setting_key(p.get("setting")) for p in points))
    out: list[dict[str, Any]] = []
    for setting in order:
        previous: Optional[dict] = None
        for (key, level), runs in sorted(((k, v) for k, v in groups.items() if k[0] == setting), key=lambda kv: kv[0][1]):
            row: dict[str, Any] = {
                "setting": runs[0].get("setting"), "setting_text": key, "level": level, "repeats": len(runs),
                "points": [p["point"] for p in runs], "verdicts": [p.get("verdict") for p in runs],
                "verdict": _level_verdict(runs),
            }
            for field in SPREAD_FIELDS:
                row[field] = spread([p[field] for p in runs if p.get(field) is not None])
            if kind == "concurrency":
                errors = any(p.get("sut_errors") for p in runs)
                flat = (previous is not None and previous["output_tokens_per_s"]["mean"] is not None
                        and row["output_tokens_per_s"]["mean"] is not None
                        and row["output_tokens_per_s"]["mean"] < (1 + margin) * previous["output_tokens_per_s"]["mean"])
                row["saturated"] = True if errors or flat else (False if previous is not None else None)
            else:
                flags = [p.get("saturated") for p in runs]
                row["saturated"] = True if any(flags) else (None if None in flags else False)
            out.append(row)
            previous = row
    return out


def _level_verdict(runs: Sequence[dict]) -> Optional[str]:
    verdicts = {p.get("verdict") for p in runs}
    if len(verdicts) == 1:
        return next(iter(verdicts))
    return "MIXED"
