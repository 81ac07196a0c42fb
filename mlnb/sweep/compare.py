"""Two sweeps side by side: their curves on one chart, and where one's Pareto frontier dominates the other's.

Each sweep's frontier is a step function F(x): the most output tokens/s any of its finished points
offers at per-user speed x or faster. The two are compared at every frontier point's speed inside
the per-user speed range both sweeps measured (if the ranges do not meet, at the fastest speed both
reach, where F still holds every point faster than it). Where one's F exceeds the other's by more
than the threshold it dominates there; closer than that, neither does.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional, Sequence


from mlnb.errors import InputError
from mlnb.fileio import write_bytes_atomic, write_json_atomic
from mlnb.report.markup import render
from mlnb.sweep.curve import pareto_frontier
from mlnb.sweep.page import widen_narrow_axis
from mlnb.sweep.plan import SWEEP_FILE

COMPARE_JSON = "sweep_compare.json"
COMPARE_HTML = "sweep_compare.html"


def load_sweep(folder: Path) -> dict[str, Any]:
    from mlnb.sweep.runner import load_state

    try:
        return load_state(Path(folder))
    except InputError as err:
        raise InputError(f"mlnb compare {folder}", err.args[-1] if err.args else "not a sweep") from None


def frontier_at(frontier: Sequence[dict], speed: float) -> Optional[float]:
    """F(speed): the most output tokens/s of a frontier point at this per-user speed or faster."""
    values = [p["output_tokens_per_s"] for p in frontier if p["per_user_tokens_per_s"] >= speed - 1e-9]
    return max(values) if values else None


def dominance(points_a: Sequence[dict], points_b: Sequence[dict], threshold: float = 0.05) -> dict[str, Any]:
    """Where A's frontier beats B's by more than ``threshold`` (a share), where B's beats A's, and where neither."""
    fa = pareto_frontier([p for p in points_a if p.get("status") == "finished"])
    fb = pareto_frontier([p for p in points_b if p.get("status") == "finished"])
    if not fa or not fb:
        return {"verdict": "no curve to compare", "overlap": None, "checks": [], "frontier_a": fa, "frontier_b": fb}
    speeds_a = [p["per_user_tokens_per_s"] for p in fa]
    speeds_b = [p["per_user_tokens_per_s"] for p in fb]
    low, high = max(min(speeds_a), min(speeds_b)), min(max(speeds_a), max(speeds_b))
    meet = low <= high
    speeds = sorted({s for s in speeds_a + speeds_b if low - 1e-9 <= s <= high + 1e-9}) if meet else [high]
    checks = []
    for speed in speeds:
        a, b = frontier_at(fa, speed), frontier_at(fb, speed)
        if a > b * (1 + threshold):
            winner = "A"
        elif b > a * (1 + threshold):
            winner = "B"
        else:
            winner = "neither"
        checks.append({"per_user_tokens_per_s": round(speed, 4), "a_output_tokens_per_s": a,
                       "b_output_tokens_per_s": b, "dominates": winner})
    winners = {c["dominates"] for c in checks}
    if winners == {"A"}:
        verdict = "A dominates"
    elif winners == {"B"}:
        verdict = "B dominates"
    elif winners == {"neither"}:
        verdict = f"neither: the frontiers are within {threshold:.0%} of each other"
    else:
        verdict = "mixed: " + "; ".join(_runs_text(checks))
    return {
        "verdict": verdict,
        "overlap": {"low": round(low, 4), "high": round(high, 4)} if meet else None,
        "overlap_note": None if meet else (f"the per-user speed ranges do not meet; compared at {high:g} tokens/s, "
                                          "the fastest both reach"),
        "threshold": threshold,
        "checks": checks,
        "frontier_a": [p["point"] for p in fa],
        "frontier_b": [p["point"] for p in fb],
    }


def _runs_text(checks: Sequence[dict]) -> list[str]:
    """Consecutive speeds with one winner, as 'A from 10 to 20 tokens/s per user'."""
    out, start = [], 0
    for i in range(1, len(checks) + 1):
        if i == len(checks) or checks[i]["dominates"] != checks[start]["dominates"]:
            who = checks[start]["dominates"]
            lo, hi = checks[start]["per_user_tokens_per_s"], checks[i - 1]["per_user_tokens_per_s"]
            where = f"at {lo:g}" if lo == hi else f"from {lo:g} to {hi:g}"
            out.append(f"{who if who != 'neither' else 'neither'} {where} tokens/s per user")
            start = i
    return out


def _overlay_png(states: Sequence[dict], labels: Sequence[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for state, label, colour in zip(states, labels, ("#2563eb", "#d97706")):
        done = [p for p in state["points"] if p.get("status") == "finished" and p.get("per_user_tokens_per_s")
                and p.get("output_tokens_per_s")]
        ax.scatter([p["per_user_tokens_per_s"] for p in done], [p["output_tokens_per_s"] for p in done], c=colour,
                   s=18, alpha=0.6)
        frontier = pareto_frontier(done)
        ax.step([p["per_user_tokens_per_s"] for p in frontier], [p["output_tokens_per_s"] for p in frontier],
                where="post", color=colour, lw=1.6, label=f"{label} frontier")
    widen_narrow_axis(ax)
    ax.set_xlabel("per-user speed, tokens/s (1000 / p90 TPOT)")
    ax.set_ylabel("system output tokens/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def compare_sweeps(folder_a: Path, folder_b: Path, out: Optional[Path] = None, threshold: float = 0.05) -> tuple[Path, dict]:
    """Write sweep_compare.json and sweep_compare.html (default: into a new folder next to A); returns (folder, result)."""
    import base64
    import os
    import time

    if not 0 < threshold < 1:
        raise InputError(f"--threshold {threshold:g}", "must be between 0 and 1 (a share, e.g. 0.05)")
    states = [load_sweep(Path(folder_a)), load_sweep(Path(folder_b))]
    labels = [s["sweep_id"] for s in states]
    result = dominance(states[0]["points"], states[1]["points"], threshold)
    result.update(a=str(folder_a), b=str(folder_b))
    if out is None:
        out = Path(folder_a).parent / f"compare-{time.strftime('%Y%m%d-%H%M%S')}_{labels[0]}_vs_{labels[1]}"
    out = Path(out)
    if out.exists():
        raise InputError(f"--out {out}", "already exists; a comparison never overwrites a folder")
    out.mkdir(parents=True)
    write_json_atomic(out / COMPARE_JSON, result)
    page = render(
        "sweep_compare.html.j2",
        result=result, labels=labels, kinds=[s["spec"]["kind"] for s in states],
        links=[os.path.relpath(Path(f) / "sweep.html", out) for f in (folder_a, folder_b)],
        png=base64.b64encode(_overlay_png(states, ["A " + labels[0], "B " + labels[1]])).decode("ascii"),
    )
    write_bytes_atomic(out / COMPARE_HTML, page.encode("utf-8"))
    return out, result


def is_sweep(folder: Path) -> bool:
    return (Path(folder) / SWEEP_FILE).is_file()


__all__ = ["compare_sweeps", "dominance", "frontier_at", "is_sweep"]
