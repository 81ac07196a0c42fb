"""The report of an lm-eval stage (08_mmlu): overall accuracy first, then per subject with error bars.

:func:`lmeval_parts` returns the same ``("html", str)`` / ``("png", bytes, alt)`` parts as
:func:`mlnb.report.stage_view.stage_parts`, which hands lm-eval summaries (those with an ``lmeval``
section) to it.
"""

from __future__ import annotations

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


def _rows(items: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [[s.get("name"), _pct(s.get("acc")), "n/a" if s.get("acc_stderr") is None else f"{100 * s['acc_stderr']:.1f}", s.get("n")]
            for s in items]


def lmeval_parts(s: Mapping[str, Any]) -> list[tuple]:
    from mlnb.report import stage_sections as sections
    from mlnb.report.markup import Markup, macro, wrap

    acc = s.get("accuracy") or {}
    info = s.get("lmeval") or {}
    simulated = bool(s.get("simulated"))
    cards = [
        ("accuracy" + (" (SIMULATED)" if simulated else ""), _pm(acc)),
        ("questions", str(acc.get("n"))),
        ("subjects", str(len(acc.get("subjects") or []))),
        ("few-shot", str(acc.get("num_fewshot"))),
    ]
    top = macro(
        "lmeval.html.j2", "top",
        header=Markup(sections.header_html(s)),
        simulated_banner=Markup(sections.simulated_banner_html(s, what="Every accuracy below comes from lm-eval's dummy model (random answers)")),
        verdict=s.get("verdict"),
        reasons=list(s.get("verdict_reasons") or []),
        submittable_note=Markup(sections.submittable_note_html(s)),
        task=acc.get("task"),
        card_items=cards,
        groups=_rows(acc["groups"]) if acc.get("groups") else [],
    )
    parts: list[tuple] = [("html", wrap(top, with_style=True))]
    parts.append(("html", wrap(macro("lmeval.html.j2", "per_subject_heading"))))
    parts.append(("png", plots.figure_png(subject_accuracy_figure(acc, simulated)), "Accuracy per subject with standard errors"))
    settings = {k: info.get(k) for k in ("tasks", "include_path", "num_fewshot", "limit", "batch_size", "seeds", "model_args", "offline_env")}
    tail = macro(
        "lmeval.html.j2", "tail",
        subjects=_rows(acc.get("subjects") or []),
        info=info,
        notes=list(info.get("notes") or []),
        settings=settings,
        config=info.get("task_configuration") or {},
        details_section=Markup(sections.details_section_html(s)),
    )
    parts.append(("html", wrap(tail)))
    return parts
