"""The report of an lm-eval stage (08_mmlu): overall accuracy first, then per subject with error bars.

:func:`lmeval_parts` returns the same ``("html", str)`` / ``("png", bytes, alt)`` parts as
:func:`mlnb.report.stage_view.stage_parts`, which hands lm-eval summaries (those with an ``lmeval``
section) to it.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from mlnb.report import plots
from mlnb.report.plots import COLORS, house_style

CHANCE = 0.25  # four choices


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _pm(row: Mapping[str, Any]) -> str:
    stderr = row.get("acc_stderr")
    return _pct(row.get("acc")) + (f" \u00b1 {100 * stderr:.1f}" if stderr is not None else "")


def subject_accuracy_figure(accuracy: Mapping[str, Any], simulated: bool = False) -> Figure:
    """Horizontal bars: accuracy per subject with +-1 standard error, the overall value and chance marked."""
    subjects = list(accuracy.get("subjects") or [])
    with house_style():
        fig = Figure(figsize=(9.5, 0.32 * max(len(subjects), 4) + 1.6), dpi=plots.DPI, layout="constrained")
        ax = fig.subplots()
        if not subjects:
            ax.text(0.5, 0.5, "no subjects", ha="center", va="center", transform=ax.transAxes)
            return fig
        values = np.array([s.get("acc") if s.get("acc") is not None else np.nan for s in subjects], dtype=float)
        errors = np.array([s.get("acc_stderr") or 0.0 for s in subjects], dtype=float)
        y = np.arange(len(subjects))
        ax.barh(y, values, xerr=errors, height=0.65, color=COLORS["primary"], alpha=0.45 if simulated else 0.85,
                hatch="///" if simulated else None, error_kw={"ecolor": COLORS["text"], "capsize": 3, "elinewidth": 1})
        overall = accuracy.get("acc")
        if overall is not None:
            ax.axvline(overall, color=COLORS["secondary"], linewidth=2, label=f"overall {_pct(overall)}")
        ax.axvline(CHANCE, color=COLORS["muted"], linestyle="--", linewidth=1.2, label="chance (1 in 4)")
        ax.set_yticks(y, [f"{s.get('name')} (n={s.get('n')})" for s in subjects])
        ax.set_ylim(len(subjects) - 0.5, -0.5)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(plots.matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel("accuracy (bars: \u00b11 standard error)")
        shots = accuracy.get("num_fewshot")
        title = f"{accuracy.get('task')}: accuracy per subject" + (f", {shots}-shot" if shots is not None else "")
        ax.set_title(title + (" (SIMULATED)" if simulated else ""), loc="left")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=2)  # outside the axes: never over a bar
    return fig


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int]) -> str:
    from mlnb.report.markup import esc

    head = "".join(f'<th class="n">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _rows(items: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    from mlnb.report.markup import esc

    return [[esc(s.get("name")), _pct(s.get("acc")),
             "n/a" if s.get("acc_stderr") is None else f"{100 * s['acc_stderr']:.1f}", esc(s.get("n"))] for s in items]


def lmeval_parts(s: Mapping[str, Any]) -> list[tuple]:
    from mlnb.report import markup as sv
    from mlnb.report import stage_sections as sections

    acc = s.get("accuracy") or {}
    info = s.get("lmeval") or {}
    simulated = bool(s.get("simulated"))
    reasons = "".join(f"<li>{sv.esc(r)}</li>" for r in s.get("verdict_reasons") or [])
    cards = [
        ("accuracy" + (" (SIMULATED)" if simulated else ""), _pm(acc)),
        ("questions", str(acc.get("n"))),
        ("subjects", str(len(acc.get("subjects") or []))),
        ("few-shot", str(acc.get("num_fewshot"))),
    ]
    card_html = "".join(f'<div class="card"><div class="v">{sv.esc(v)}</div><div class="k">{sv.esc(k)}</div></div>' for k, v in cards)
    top = [
        sections.header_html(s),
        sections.simulated_banner_html(s).replace("Every latency and throughput number below comes from mlnb's simulator",
                                        "Every accuracy below comes from lm-eval's dummy model (random answers)"),
        f'<div class="banner neutral"><div class="big">{sv.esc(s.get("verdict"))}</div><ul>{reasons}</ul></div>',
        sections.submittable_note_html(s),
        f"<h2>Overall: {sv.esc(acc.get('task'))}</h2>",
        f'<div class="cards">{card_html}</div>',
        '<p class="sub">Accuracy is lm-eval\'s <code>acc</code>: the answer letter with the highest log-likelihood '
        "after the prompt. The standard error is lm-eval's (sample standard deviation over \u221an; for a group, "
        "pooled over its subjects). A group's accuracy is weighted by each subject's number of questions, as lm-eval "
        "does for MMLU.</p>",
    ]
    if acc.get("groups"):
        top.append("<h3>Groups</h3>" + _table(["group", "accuracy", "stderr (pts)", "questions"], _rows(acc["groups"]), (1, 2, 3)))
    parts: list[tuple] = [("html", sv.wrap("".join(top), with_style=True))]
    parts.append(("html", sv.wrap("<h2>Per subject</h2>")))
    parts.append(("png", plots.figure_png(subject_accuracy_figure(acc, simulated)), "Accuracy per subject with standard errors"))
    tail = [_table(["subject", "accuracy", "stderr (pts)", "questions"], _rows(acc.get("subjects") or []), (1, 2, 3))]
    tail.append("<h2>lm-eval and the task</h2>")
    tail.append(
        f"<p>lm-eval <b>{sv.esc(info.get('lm_eval_version'))}</b>, model <code>{sv.esc(info.get('model'))}</code>; "
        f"raw results in <code>{sv.esc(info.get('results_file'))}</code>, every question in "
        f"<code>{sv.esc(info.get('samples_file'))}</code> (this stage's folder).</p>"
        "<p>The same evaluation from lm-eval's own command line:</p>"
        f"<pre>{sv.esc(info.get('command'))}</pre>"
    )
    for note in info.get("notes") or []:
        tail.append(f'<div class="note">{sv.esc(note)}</div>')
    settings = {k: info.get(k) for k in ("tasks", "include_path", "num_fewshot", "limit", "batch_size", "seeds", "model_args", "offline_env")}
    tail.append(sv.details("lm-eval settings", sv.kv_table(settings), open_=True))
    config = info.get("task_configuration") or {}
    tail.append(sv.details("Task configuration (as lm-eval resolved it)", f"<pre>{sv.esc(json.dumps(config, indent=2))}</pre>"))
    tail.append(sections.details_section_html(s))
    parts.append(("html", sv.wrap("".join(tail))))
    return parts
