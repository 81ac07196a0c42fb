"""The custom and synthetic workloads' parts of a stage report: prompts, lengths, per-task_type scores."""

from __future__ import annotations

from typing import Any, Mapping

from mlnb.report import plots


def per_task_type_html(acc: Mapping[str, Any]) -> str:
    from mlnb.report.markup import esc, fmt_value, table

    groups = acc.get("per_task_type") or {}
    rows = [
        [f"<code>{esc(name)}</code>", esc(g.get("scorer")), fmt_value(g.get("num_samples")), fmt_value(g.get("scored")),
         fmt_value(plots._number(g.get("score")), 2) if g.get("score") is not None else "not scored",
         fmt_value(plots._number(g.get("tokens_per_sample")), 1)]
        for name, g in groups.items() if isinstance(g, Mapping)
    ]
    out = ["<h2>Accuracy (per task_type)</h2>",
           table(["task_type", "scorer", "samples", "scored", "score (0-100)", "tokens per sample"], rows, numeric=(2, 3, 4, 5))]
    scorers = acc.get("per_scorer") or {}
    if scorers:
        facts = [f"{esc(name)}: <b>{fmt_value(plots._number(g.get('score')), 2)}</b> over {fmt_value(g.get('num_samples'))}"
                 for name, g in scorers.items() if isinstance(g, Mapping)]
        out.append('<p class="sub">Per scorer: ' + " \u00b7 ".join(facts) + "</p>")
    if acc.get("targets_note"):
        out.append(f'<div class="note">{esc(acc["targets_note"])}</div>')
    return "".join(out)


def prompts_html(s: Mapping[str, Any]) -> str:
    """How the prompts were made and tokenized, what was dropped, and output tokens asked for vs produced."""
    from mlnb.report.markup import esc, fmt_value, table

    data = s.get("dataset") or {}
    if data.get("workload") not in ("custom", "synthetic"):
        return ""
    out = ["<h2>Prompts and output lengths</h2>", f'<p class="sub">{esc(data.get("tokenization_note"))}</p>']
    if data.get("context_tokens"):
        dropped = int(data.get("dropped_too_long") or 0)
        out.append(f'<p class="sub">Model context: {fmt_value(data["context_tokens"])} tokens ({esc(data.get("context_source"))}); '
                   f"records dropped as longer: <b>{dropped}</b></p>")
    lengths = data.get("output_lengths")
    if isinstance(lengths, Mapping) and lengths.get("requested"):
        req, got = lengths["requested"], lengths.get("produced") or {}
        rows = [[name, fmt_value(req.get(key)), fmt_value(got.get(key))] for name, key in
                (("mean", "mean"), ("p50", "p50"), ("p90", "p90"), ("max", "max"))]
        out.append(table(["output tokens", "requested", "produced"], rows, numeric=(1, 2)))
        out.append(f'<p class="sub">Stop rule: {esc(lengths.get("stop"))}. Of {fmt_value(lengths.get("queries"))} queries, '
                   f"{fmt_value(lengths.get('at_requested'))} produced exactly the requested length, "
                   f"{fmt_value(lengths.get('shorter'))} fewer, {fmt_value(lengths.get('longer'))} more.</p>")
    return "".join(out)
