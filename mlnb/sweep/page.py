"""The sweep's outputs besides sweep.json: points.csv and one self-contained HTML page.

The page is a Jinja2 template (mlnb/report/templates/sweep.html.j2, in the environment of every mlnb
page) with autoescaping (every value from a run is inert text) and matplotlib figures embedded as
PNG data URIs, so it opens from disk with nothing else.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Any

from mlnb.fileio import write_bytes_atomic, write_text_atomic
from mlnb.report.markup import render
from mlnb.sweep.curve import CSV_FIELDS, pareto_frontier

CSV_FILE = "points.csv"
HTML_FILE = "sweep.html"
_COLOURS = {"VALID": "#15803d", "INVALID": "#b91c1c"}

_COLUMNS = ["point", "role", "target_qps", "status", "verdict", "queries", "offered qps", "achieved qps", "saturated",
            "output tok/s", "per-user tok/s", "p90 TTFT ms", "p99 TTFT ms", "p99 TPOT ms", "goodput req/s",
            "goodput share", "Pareto"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(spec: dict, points: list[dict], frontier: list[dict]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [p for p in points if p["status"] == "finished" and p.get("output_tokens_per_s")]
    if not done:
        return []
    figures = []
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for verdict, colour in _COLOURS.items():
        chosen = [p for p in done if p["verdict"] == verdict and p.get("per_user_tokens_per_s")]
        ax.scatter([p["per_user_tokens_per_s"] for p in chosen], [p["output_tokens_per_s"] for p in chosen],
                   c=colour, label=verdict, zorder=3)
    for p in done:
        if p.get("per_user_tokens_per_s"):
            ax.annotate(f"{p['target_qps']:g}", (p["per_user_tokens_per_s"], p["output_tokens_per_s"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    if frontier:
        xs = [p["per_user_tokens_per_s"] for p in frontier]
        ys = [p["output_tokens_per_s"] for p in frontier]
        ax.step(xs, ys, where="post", color="#1f2937", lw=1.2, label="Pareto frontier")
    limit = next((p.get("scenario_tpot_limit_ms") for p in done if p.get("scenario_tpot_limit_ms")), None)
    if limit:
        ax.axvline(1000 / limit, color="#9ca3af", ls="--", lw=1, label=f"LoadGen TPOT limit ({limit:g} ms)")
    ax.set_xlabel("per-user speed, tokens/s (1000 / p90 TPOT)")
    ax.set_ylabel("system output tokens/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figures.append(("Throughput against per-user speed (labels: target_qps)", _png(fig)))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ordered = sorted(done, key=lambda p: p["target_qps"])
    for ax, key, limit_key, title in ((axes[0], "ttft_p99_ms", "scenario_ttft_limit_ms", "p99 TTFT (ms)"),
                                      (axes[1], "tpot_p99_ms", "scenario_tpot_limit_ms", "p99 TPOT (ms)")):
        ax.plot([p["target_qps"] for p in ordered], [p.get(key) for p in ordered], color="#6b7280", lw=1)
        for verdict, colour in _COLOURS.items():
            chosen = [p for p in ordered if p["verdict"] == verdict]
            ax.scatter([p["target_qps"] for p in chosen], [p.get(key) for p in chosen], c=colour, zorder=3, label=verdict)
        limit = next((p.get(limit_key) for p in done if p.get(limit_key)), None)
        if limit:
            ax.axhline(limit, color="#b91c1c", ls="--", lw=1, label="LoadGen limit")
        ax.set_xlabel("target_qps")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figures.append(("Latency against offered load", _png(fig)))
    return figures


def points_with_pareto(state: dict) -> list[dict]:
    points = [{**dict.fromkeys(CSV_FIELDS), **p} for p in state["points"]]
    frontier_ids = {p["point"] for p in pareto_frontier([p for p in points if p["status"] == "finished"])}
    for p in points:
        p["pareto"] = p["point"] in frontier_ids
    return points


def write_csv(sweep_dir: Path, state: dict) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for p in points_with_pareto(state):
        writer.writerow({**{k: p.get(k) for k in CSV_FIELDS}, "reasons": "; ".join(p.get("reasons") or [])})
    return write_text_atomic(sweep_dir / CSV_FILE, buffer.getvalue())


def render_page(state: dict) -> str:
    points = points_with_pareto(state)
    spec = state["spec"]
    finished = [p for p in points if p["status"] == "finished"]
    frontier = pareto_frontier(finished)
    user_slo = spec.get("slo_ttft_ms") is not None or spec.get("slo_tpot_ms") is not None
    first = finished[0] if finished else {}
    kind_text = "Max VALID target_qps search" if spec["kind"] == "search" else "Rate ladder"
    return render(
        "sweep.html.j2",
        invalid=[p for p in points if p.get("verdict") == "INVALID"], state=state, spec=spec, result=state.get("result") or {}, points=points, columns=_COLUMNS,
        figures=_figures(spec, points, frontier), fmt=_fmt, pct=_pct, kind_text=kind_text,
        slo_ttft=first.get("slo_ttft_ms"), slo_tpot=first.get("slo_tpot_ms"),
        slo_source="the limits given to the sweep" if user_slo else "the limits LoadGen checked: the scenario's, or the stage's overrides",
        simulated=any(p.get("simulated") for p in finished),
        relaxed=any(not p.get("submittable") for p in finished),
    )


def write_page(sweep_dir: Path, state: dict) -> Path:
    write_csv(sweep_dir, state)
    return write_bytes_atomic(sweep_dir / HTML_FILE, render_page(state).encode("utf-8"))


def show_in_notebook(state: dict) -> None:
    """The page's figures and table in a notebook (the same data as sweep.html)."""
    import pandas as pd
    from IPython.display import Image, display

    points = points_with_pareto(state)
    for _, png in _figures(state["spec"], points, pareto_frontier([p for p in points if p["status"] == "finished"])):
        display(Image(data=base64.b64decode(png)))
    display(pd.DataFrame([{k: p.get(k) for k in CSV_FIELDS} for p in points]))
