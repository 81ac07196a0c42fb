"""The sweep's outputs besides sweep.json: points.csv and one self-contained HTML page.

The page is a Jinja2 template with autoescaping (every value from a run is inert text) and
matplotlib figures embedded as PNG data URIs, so it opens from disk with nothing else.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from mlnb.fileio import write_bytes_atomic, write_text_atomic
from mlnb.sweep.curve import CSV_FIELDS, pareto_frontier

CSV_FILE = "points.csv"
HTML_FILE = "sweep.html"
_COLOURS = {"VALID": "#15803d", "INVALID": "#b91c1c"}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sweep {{ state.sweep_id }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #111827; padding: 0 12px; }
table { border-collapse: collapse; font-size: 0.86em; margin: 8px 0 18px; }
th, td { border: 1px solid #d1d5db; padding: 3px 7px; text-align: right; }
th { background: #f3f4f6; } td.l { text-align: left; }
td.r { text-align: left; font-size: 0.85em; min-width: 22em; max-width: 40em; }
.wide { overflow-x: auto; }
.VALID { color: #15803d; font-weight: 700; } .INVALID { color: #b91c1c; font-weight: 700; }
.note { color: #4b5563; font-size: 0.9em; } .headline { font-size: 1.15em; margin: 6px 0; }
.banner { background: #fef3c7; border: 1px solid #f59e0b; padding: 6px 10px; margin: 8px 0; }
img { max-width: 100%; }
</style></head><body>
<h1>Sweep {{ state.sweep_id }}</h1>
<p class="note">{{ kind_text }} &middot; preset {{ spec.preset }} &middot; stage {{ spec.stage }} &middot;
status <b>{{ state.status }}</b>{% if result.stop_reason %} ({{ result.stop_reason }}){% endif %} &middot;
{{ result.loadgen_runs }} LoadGen runs in {{ result.elapsed_min }} min</p>
{% if simulated %}<div class="banner">SIMULATED: the sim backend ran, no model. These numbers test the harness, not a system.</div>{% endif %}
{% if relaxed %}<div class="banner">Not submittable: points ran with relaxed MLPerf rules; each point's report lists them.</div>{% endif %}
{% if spec.kind == "search" %}
<p class="headline">Highest VALID target_qps: <b>{{ fmt(result.highest_valid_qps) }}</b>
{% if result.lowest_invalid_qps is not none %}&middot; lowest INVALID above it: <b>{{ fmt(result.lowest_invalid_qps) }}</b>{% endif %}
(tolerance {{ spec.tolerance }})</p>
{% if result.lowest_invalid_reasons %}<p class="note">Why {{ fmt(result.lowest_invalid_qps) }} is INVALID:</p><ul>
{% for reason in result.lowest_invalid_reasons %}<li>{{ reason }}</li>{% endfor %}</ul>{% endif %}
{% if result.confirmation %}<p>Confirmation run at the preset's durations: <span class="{{ result.confirmation.verdict }}">{{ result.confirmation.verdict }}</span>
({{ result.confirmation.point }})</p>{% endif %}
{% endif %}
<p class="note">Goodput counts requests whose TTFT (from LoadGen's scheduled time) and TPOT are within
TTFT &le; {{ fmt(slo_ttft) }} ms and TPOT &le; {{ fmt(slo_tpot) }} ms ({{ slo_source }}). Per-user speed is
1000 / p90 TPOT. A point is saturated when its completions came slower than its schedule by more than
{{ (spec.saturation_margin * 100) | round(1) }} % (achieved &lt; offered rate) or requests failed; "?" when
the point ran fewer than 20 queries, too few for the rates to tell (a ladder does not stop on "?").
Achieved rate: queries over the time from the first scheduled query to the last completion, less the
fastest query's latency.</p>
{% for title, png in figures %}<h2>{{ title }}</h2><img alt="{{ title }}" src="data:image/png;base64,{{ png }}">{% endfor %}
<h2 id="points">Points</h2>
<div class="wide"><table><tr>{% for name in columns %}<th>{{ name }}</th>{% endfor %}</tr>
{% for p in points %}<tr>
<td class="l"><a href="{{ p.run_dir }}/index.html">{{ p.point }}</a></td><td class="l">{{ p.role }}</td>
<td>{{ fmt(p.target_qps) }}</td><td class="l">{{ p.status }}</td><td class="l {{ p.verdict }}">{{ p.verdict or "" }}</td>
<td>{{ fmt(p.queries) }}</td><td>{{ fmt(p.offered_qps) }}</td><td>{{ fmt(p.achieved_qps) }}</td><td>{{ "yes" if p.saturated else ("?" if p.status == "finished" and p.saturated is none else "") }}</td>
<td>{{ fmt(p.output_tokens_per_s) }}</td><td>{{ fmt(p.per_user_tokens_per_s) }}</td>
<td>{{ fmt(p.ttft_p90_ms) }}</td><td>{{ fmt(p.ttft_p99_ms) }}</td><td>{{ fmt(p.tpot_p99_ms) }}</td>
<td>{{ fmt(p.goodput_rps) }}</td><td>{{ pct(p.goodput_share) }}</td><td>{{ "yes" if p.pareto else "" }}</td></tr>
{% endfor %}</table></div>
{% if invalid %}<h3>Why INVALID</h3><ul>{% for p in invalid %}<li><b>{{ p.point }}</b> ({{ fmt(p.target_qps) }} qps): {{ (p.reasons or []) | join("; ") }}</li>{% endfor %}</ul>{% endif %}
<p class="note">The same data: <a href="points.csv">points.csv</a>, <a href="sweep.json">sweep.json</a>. Each point is a
full run with its own report (the link in the first column).</p>
</body></html>
"""
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
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(_TEMPLATE)
    user_slo = spec.get("slo_ttft_ms") is not None or spec.get("slo_tpot_ms") is not None
    first = finished[0] if finished else {}
    kind_text = "Max VALID target_qps search" if spec["kind"] == "search" else "Rate ladder"
    return template.render(
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
