"""Where the hf backend's static decode path spent the LoadGen test: prefill, decode steps, the rest.

The figures are the decoder's own counters (``engine.static_decode`` in the summary). Each phase ends
in a host read-back of the GPU's result, so its wall time includes the GPU's work; what is left of the
test is host work between phases and time with nothing to do (waiting for queries).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from mlnb.report.markup import macro
from mlnb.report.plots import number as _number


def static_path_rows(s: Mapping[str, Any]) -> list[list[str]]:
    """(phase, count, wall s, share of the test, per unit, detail) rows; empty when the stage has no static path."""
    engine = s.get("engine") if isinstance(s.get("engine"), Mapping) else {}
    facts = engine.get("static_decode")
    if not isinstance(facts, Mapping):
        return []
    test_s = _number((s.get("timings_s") or {}).get("loadgen_test"))
    prefill_s, decode_s = _number(facts.get("prefill_seconds")), _number(facts.get("decode_seconds"))
    steps, prefills = _number(facts.get("decode_steps")), _number(facts.get("prefills"))
    if prefill_s is None or decode_s is None:
        return []

    def share(seconds: Optional[float]) -> str:
        return f"{seconds / test_s:.0%}" if seconds is not None and test_s else "\u2014"

    padding = _number(facts.get("prefill_padding"))
    tokens = _number(facts.get("prompt_tokens"))
    fused_norms = _number(facts.get("prefill_fused_norms"))
    rows = [
        ["prefill", f"{int(prefills or 0):,} groups", f"{prefill_s:,.2f}", share(prefill_s),
         f"{1e3 * prefill_s / prefills:,.1f} ms a group" if prefills else "\u2014",
         (f"{int(tokens):,} prompt tokens" if tokens is not None else "")
         + (f", {padding:.1%} padding" if padding is not None else "")
         + (f"; RMSNorm fused in {int(fused_norms)} layers" if fused_norms else "")],
        ["decode steps", f"{int(steps or 0):,} steps", f"{decode_s:,.2f}", share(decode_s),
         f"{1e3 * decode_s / steps:,.1f} ms a step" if steps else "\u2014",
         (f"{facts.get('mean_rows_per_step')} live rows of a batch of {facts.get('mean_batch_per_step')} on average"
          + (f"; {int(facts['rows_moved']):,} rows moved to lower slots" if facts.get("rows_moved") else ""))
         if steps else ""],
    ]
    if test_s:
        rest = test_s - prefill_s - decode_s
        rows.append(["the rest", "", f"{rest:,.2f}", share(rest), "",
                     "host work between phases, and time with no query to serve"])
    return rows


def static_path_html(s: Mapping[str, Any]) -> str:
    rows = static_path_rows(s)
    if not rows:
        return ""
    engine = s.get("engine") or {}
    facts = engine.get("static_decode") or {}
    return str(macro("stage.html.j2", "static_path", rows, str(facts.get("step") or ""),
                     _number(facts.get("compile_seconds")), bool(facts.get("cuda_graphs"))))
