"""The custom and synthetic workloads' parts of a stage report: prompts, lengths, per-task_type scores."""

from __future__ import annotations

from typing import Any, Mapping

from mlnb.report import plots


def per_task_type_html(acc: Mapping[str, Any]) -> str:
    from mlnb.report.markup import fmt_value, macro

    groups = acc.get("per_task_type") or {}
    rows = [
        (name, g.get("scorer"), g.get("num_samples"), g.get("scored"),
         fmt_value(plots.number(g.get("score")), 2) if g.get("score") is not None else "not scored",
         plots.number(g.get("tokens_per_sample")))
        for name, g in groups.items() if isinstance(g, Mapping)
    ]
    scorers = [(name, plots.number(g.get("score")), g.get("num_samples")) for name, g in (acc.get("per_scorer") or {}).items() if isinstance(g, Mapping)]
    return str(macro("workloads.html.j2", "per_task_type", rows, scorers, acc.get("targets_note")))


def prompts_html(s: Mapping[str, Any]) -> str:
    """How the prompts were made and tokenized, what was dropped, and output tokens asked for vs produced."""
    from mlnb.report.markup import fmt_value, macro

    data = s.get("dataset") or {}
    if data.get("workload") not in ("custom", "synthetic"):
        return ""
    context = None
    if data.get("context_tokens"):
        context = (data["context_tokens"], data.get("context_source"), int(data.get("dropped_too_long") or 0))
    lengths = data.get("output_lengths")
    length_facts = None
    if isinstance(lengths, Mapping) and lengths.get("requested"):
        req, got = lengths["requested"], lengths.get("produced") or {}
        rows = [[name, fmt_value(req.get(key)), fmt_value(got.get(key))] for name, key in
                (("mean", "mean"), ("p50", "p50"), ("p90", "p90"), ("max", "max"))]
        length_facts = (rows, lengths.get("stop"), lengths.get("queries"), lengths.get("at_requested"), lengths.get("shorter"), lengths.get("longer"))
    return str(macro("workloads.html.j2", "prompts", data.get("tokenization_note"), context, length_facts))
