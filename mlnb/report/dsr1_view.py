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
    from mlnb.report.markup import esc, fmt_value, table

    groups = per_dataset(acc)
    if not groups:
        return ""
    rows = [
        [f"<code>{esc(kind)}</code> {esc(KIND_TITLES.get(kind, ''))}", fmt_value(g.get("num_samples")), fmt_value(g.get("correct")),
         fmt_value(plots._number(g.get("exact_match")), 2), fmt_value(plots._number(g.get("tokens_per_sample")), 1)]
        for kind, g in groups.items()
    ]
    rows.append(["<b>all</b>", fmt_value(acc.get("num_samples")), fmt_value(sum(int(g.get("correct") or 0) for g in groups.values())),
                 fmt_value(plots._number(acc.get("exact_match")), 2), fmt_value(plots._number(acc.get("tokens_per_sample")), 1)])
    table = table(["dataset", "samples", "correct", "exact_match", "tokens_per_sample"], rows, numeric=(1, 2, 3, 4))
    sandbox = acc.get("code_sandbox")
    scored = f'<p class="sub">Scored text: {esc(acc["scored_text"])}.</p>' if acc.get("scored_text") else ""
    return "<h3>Per dataset</h3>" + table + sandbox_note(sandbox) + scored


def sandbox_note(sandbox: Any) -> str:
    """How code answers were run: in a sandbox, not at all (no sandbox), or, opted in, without one."""
    from mlnb.report.markup import esc

    if not isinstance(sandbox, Mapping):
        return ""
    limits = (f"limits {esc(sandbox.get('timeout_s_per_test'))} s per test, {esc(sandbox.get('memory_mb'))} MB memory, "
              f"{esc(sandbox.get('output_kb'))} KiB output")
    if sandbox.get("executed") is False:
        return ('<div class="note"><b>Code answers were not executed: no sandbox.</b> '
                f"{esc(sandbox.get('reason'))}. Code samples scored 0 without running, so exact_match "
                "understates the model.</div>")
    if sandbox.get("warning"):
        return f'<div class="note"><b>{esc(sandbox.get("warning"))}.</b> {limits}.</div>'
    where = f"{esc(sandbox.get('isolation'))}; " if sandbox.get("isolation") else ""
    return (
        f'<p class="sub">Code answers ran in a sandbox: {where}{esc(sandbox.get("process"))}; '
        f"network: {esc(sandbox.get('network'))}; user: {esc(sandbox.get('user'))}; {limits}.</p>"
    )


def per_dataset_figure(acc: Mapping[str, Any]):
    """Bars of exact_match (left) and tokens_per_sample (right) per dataset kind."""
    groups = per_dataset(acc)
    kinds = list(groups)
    with plots.house_style():
        fig = plots._figure(8.0, 2.8)
        left, right = fig.subplots(1, 2)
        scores = [plots._number(groups[k].get("exact_match")) or 0.0 for k in kinds]
        tokens = [plots._number(groups[k].get("tokens_per_sample")) or 0.0 for k in kinds]
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
