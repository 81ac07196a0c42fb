"""The DeepSeek-R1 parts of an accuracy stage's report: the per-dataset table and chart."""

from __future__ import annotations

from typing import Any, Mapping

from mlnb.report import plots

KIND_TITLES = {
    "aime": "AIME-style (integer)",
    "math500": "MATH-style (\\boxed{})",
    "gpqa": "GPQA-style (A-D)",
    "mmlu_pro": "MMLU-Pro-style (A-J)",
    "livecodebench": "LiveCodeBench-style (code)",
}


def per_dataset(acc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    data = acc.get("per_dataset") if isinstance(acc, Mapping) else None
    return {k: v for k, v in data.items() if isinstance(v, Mapping)} if isinstance(data, Mapping) else {}


def per_dataset_html(acc: Mapping[str, Any]) -> str:
    from mlnb.report.markup import Markup, macro

    groups = per_dataset(acc)
    if not groups:
        return ""
    rows = [(kind, KIND_TITLES.get(kind, ""), g.get("num_samples"), g.get("correct"), plots.number(g.get("exact_match")),
             plots.number(g.get("tokens_per_sample"))) for kind, g in groups.items()]
    total = (acc.get("num_samples"), sum(int(g.get("correct") or 0) for g in groups.values()),
             plots.number(acc.get("exact_match")), plots.number(acc.get("tokens_per_sample")))
    return str(macro("workloads.html.j2", "per_dataset", rows, total, Markup(sandbox_note(acc.get("code_sandbox"))), acc.get("scored_text")))


def sandbox_note(sandbox: Any) -> str:
    """How code answers were run: in a sandbox, not at all (no sandbox), or, opted in, without one."""
    from mlnb.report.markup import macro

    if not isinstance(sandbox, Mapping):
        return ""
    return str(macro("workloads.html.j2", "sandbox", sandbox))


def per_dataset_figure(acc: Mapping[str, Any]):
    """Bars of exact_match (left) and tokens_per_sample (right) per dataset kind."""
    groups = per_dataset(acc)
    kinds = list(groups)
    with plots.house_style():
        fig = plots.new_figure(8.0, 2.8)
        left, right = fig.subplots(1, 2)
        scores = [plots.number(groups[k].get("exact_match")) or 0.0 for k in kinds]
        tokens = [plots.number(groups[k].get("tokens_per_sample")) or 0.0 for k in kinds]
        left.barh(kinds, scores, color=plots.COLORS["neutral"])
        target = acc.get("targets", [{}])[0].get("lower") if acc.get("targets") else None
        if target:
            left.axvline(target, color=plots.COLORS["limit"], linestyle="--", linewidth=1.5, label="MLPerf target (reference model)")
            fig.legend(loc="outside lower center", fontsize=9)  # outside the axes: never over a bar
        left.set_xlim(0, 100)
        left.set_xlabel("exact_match (0-100)")
        left.invert_yaxis()
        right.barh(kinds, tokens, color=plots.COLORS["neutral"])
        right.set_xlabel("tokens_per_sample")
        right.invert_yaxis()
        right.set_yticklabels([])
    return fig
