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
from mlnb.sweep.levels import level_of, setting_key

CSV_FILE = "points.csv"
HTML_FILE = "sweep.html"
_COLOURS = {"VALID": "#15803d", "INVALID": "#b91c1c"}

_COLUMNS = ["point", "role", "target_qps", "status", "verdict", "queries", "offered qps", "achieved qps", "saturated",
            "output tok/s", "per-user tok/s", "p90 TTFT ms", "p99 TTFT ms", "p99 TPOT ms", "goodput req/s",
            "goodput share", "Pareto"]


_SPREAD_LABELS = [("output_tokens_per_s", "output tok/s"), ("per_user_tokens_per_s", "per-user tok/s"),
                  ("ttft_p90_ms", "p90 TTFT ms"), ("tpot_p90_ms", "p90 TPOT ms"), ("goodput_rps", "goodput req/s")]


def _level_name(spec: dict) -> str:
    return "requests in flight" if spec["kind"] == "concurrency" else "target_qps"


def _load_text(point: dict) -> str:
    if point.get("concurrency") is not None:
        return f"{point['concurrency']} in flight"
    return f"{_fmt(point.get('target_qps'))} qps"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


NARROW_SHARE = 0.05  # per-user speeds within 5 % of each other are one speed within run-to-run noise


def widen_narrow_axis(ax) -> None:
    """Show at least +-5 % around per-user speeds that barely differ: matplotlib would stretch a 0.3 % spread
    across the whole axis and draw noise as a trade-off."""
    low, high = ax.get_xlim()
    middle = (low + high) / 2
    if middle > 0 and high - low < 2 * NARROW_SHARE * middle:
        ax.set_xlim(middle * (1 - NARROW_SHARE), middle * (1 + NARROW_SHARE))


WIDE_RANGE = 30  # latencies spanning more than this factor (limit included) get a log axis


def latency_axis(ax, values: list, limit) -> None:
    """A log axis when the latencies and the limit span a wide range: on a linear one a 2 s limit under a
    170 s TTFT is a line on the floor, and which points are near it cannot be read."""
    shown = [v for v in [*values, limit] if v]
    if shown and min(shown) > 0 and max(shown) / min(shown) > WIDE_RANGE:
        ax.set_yscale("log")


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(spec: dict, points: list[dict], frontier: list[dict], level_rows: list[dict] = ()) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [p for p in points if p["status"] == "finished" and p.get("output_tokens_per_s")]
    if not done:
        return []
    closed_loop = spec["kind"] == "concurrency"
    level_label = "requests in flight" if closed_loop else "target_qps"
    figures = []
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for verdict, colour in _COLOURS.items():
        chosen = [p for p in done if p["verdict"] == verdict and p.get("per_user_tokens_per_s")]
        if not chosen:
            continue
        label = f"{verdict} (LoadGen Offline: duration and count only)" if closed_loop else verdict
        ax.scatter([p["per_user_tokens_per_s"] for p in chosen], [p["output_tokens_per_s"] for p in chosen],
                   c=colour, label=label, zorder=3, s=22)
    for p in done:
        if p.get("per_user_tokens_per_s"):
            ax.annotate(f"{level_of(p):g}", (p["per_user_tokens_per_s"], p["output_tokens_per_s"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    settings = list(dict.fromkeys(row["setting_text"] for row in level_rows))
    if spec.get("server_grid") or spec.get("repeats", 1) > 1:
        palette = plt.get_cmap("tab10")
        for i, key in enumerate(settings):  # one curve per server setting, through the means of its repeats
            rows = [r for r in level_rows if r["setting_text"] == key and r["per_user_tokens_per_s"]["mean"]]
            xs = [r["per_user_tokens_per_s"]["mean"] for r in rows]
            ys = [r["output_tokens_per_s"]["mean"] for r in rows]
            low = [y - r["output_tokens_per_s"]["min"] for y, r in zip(ys, rows)]
            high = [r["output_tokens_per_s"]["max"] - y for y, r in zip(ys, rows)]
            ax.errorbar(xs, ys, yerr=[low, high], color=palette(i % 10), lw=1.2, capsize=3, marker="s", ms=4,
                        label=(key or "mean of repeats") + (" (min-max)" if spec.get("repeats", 1) > 1 else ""))
    if frontier and not spec.get("server_grid"):
        xs = [p["per_user_tokens_per_s"] for p in frontier]
        ys = [p["output_tokens_per_s"] for p in frontier]
        ax.step(xs, ys, where="post", color="#1f2937", lw=1.2, label="Pareto frontier")
    limit = next((p.get("scenario_tpot_limit_ms") for p in done if p.get("scenario_tpot_limit_ms")), None)
    if limit:
        # LoadGen judges p99 TPOT, the axis is p90: a point right of this line can still fail the limit.
        ax.axvline(1000 / limit, color="#9ca3af", ls="--", lw=1,
                   label=f"1000 / LoadGen's p99 TPOT limit ({limit:g} ms); points are p90")
    widen_narrow_axis(ax)
    ax.set_ylim(bottom=0)  # from zero: a 2 % spread of throughput must not fill the height as if it were a trade-off
    ax.set_xlabel("per-user speed, tokens/s (1000 / p90 TPOT)")
    ax.set_ylabel("system output tokens/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figures.append((f"Throughput against per-user speed (labels: {level_label})", _png(fig)))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ordered = sorted(done, key=level_of)
    for ax, key, limit_key, title in ((axes[0], "ttft_p99_ms", "scenario_ttft_limit_ms", "p99 TTFT (ms)"),
                                      (axes[1], "tpot_p99_ms", "scenario_tpot_limit_ms", "p99 TPOT (ms)")):
        for setting in dict.fromkeys(setting_key(p.get("setting")) for p in ordered):
            mine = [p for p in ordered if setting_key(p.get("setting")) == setting]
            ax.plot([level_of(p) for p in mine], [p.get(key) for p in mine], color="#6b7280", lw=1)
        for verdict, colour in _COLOURS.items():
            chosen = [p for p in ordered if p["verdict"] == verdict]
            if not chosen:
                continue
            ax.scatter([level_of(p) for p in chosen], [p.get(key) for p in chosen], c=colour, zorder=3, label=verdict)
        limit = next((p.get(limit_key) for p in done if p.get(limit_key)), None)
        if limit:
            ax.axhline(limit, color="#b91c1c", ls="--", lw=1, label=f"LoadGen limit ({limit:,.0f} ms)")
        latency_axis(ax, [p.get(key) for p in ordered], limit)
        ax.set_xlabel(level_label)
        scale = ", log scale" if ax.get_yscale() == "log" else ""
        ax.set_title(title + (" from the send" if closed_loop and key.startswith("ttft") else "") + scale, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figures.append(("Latency against offered load" if not closed_loop else "Latency against requests in flight", _png(fig)))
    return figures


def points_with_pareto(state: dict) -> list[dict]:
    points = [{**dict.fromkeys(CSV_FIELDS), **p} for p in state["points"]]
    if state["spec"]["kind"] == "concurrency":  # saturation is a level's: its throughput against the previous N's
        by_level = {(row["setting_text"], row["level"]): row["saturated"]
                    for row in (state.get("result") or {}).get("levels") or []}
        for p in points:
            if p["status"] == "finished" and not p.get("saturated"):
                p["saturated"] = by_level.get((setting_key(p.get("setting")), p.get("concurrency")), p.get("saturated"))
    frontier_ids = {p["point"] for p in pareto_frontier([p for p in points if p["status"] == "finished"])}
    for p in points:
        p["pareto"] = p["point"] in frontier_ids
    return points


def write_csv(sweep_dir: Path, state: dict) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for p in points_with_pareto(state):
        writer.writerow({**{k: p.get(k) for k in CSV_FIELDS}, "reasons": "; ".join(p.get("reasons") or []),
                         "setting": setting_key(p.get("setting"))})
    return write_text_atomic(sweep_dir / CSV_FILE, buffer.getvalue())


def render_page(state: dict) -> str:
    points = points_with_pareto(state)
    spec = state["spec"]
    finished = [p for p in points if p["status"] == "finished"]
    frontier = pareto_frontier(finished)
    user_slo = spec.get("slo_ttft_ms") is not None or spec.get("slo_tpot_ms") is not None
    first = finished[0] if finished else {}
    kind_text = {"search": "Max VALID target_qps search", "ladder": "Rate ladder",
                 "concurrency": "Closed-loop concurrency ladder (openai backend)"}[spec["kind"]]
    level_rows = (state.get("result") or {}).get("levels") or []
    columns = list(_COLUMNS)
    if spec["kind"] == "concurrency":
        columns[2], columns[4], columns[6] = "requests in flight", "Offline verdict", "mean in flight"
    return render(
        "sweep.html.j2",
        show_levels=bool(level_rows) and (spec.get("repeats", 1) > 1 or bool(spec.get("server_grid"))),
        level_rows=level_rows, level_name=_level_name(spec), spread_fields=_SPREAD_LABELS, setting_text=setting_key,
        load_text=_load_text,
        invalid=[p for p in points if p.get("verdict") == "INVALID"], state=state, spec=spec, result=state.get("result") or {}, points=points, columns=columns,
        figures=_figures(spec, points, frontier, level_rows), fmt=_fmt, pct=_pct, kind_text=kind_text,
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
    frontier = pareto_frontier([p for p in points if p["status"] == "finished"])
    for _, png in _figures(state["spec"], points, frontier, (state.get("result") or {}).get("levels") or []):
        display(Image(data=base64.b64decode(png)))
    display(pd.DataFrame([{k: p.get(k) for k in CSV_FIELDS} for p in points]))
