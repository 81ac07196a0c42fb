"""The comparison page: the verdict first, then what differs, the numbers, the distributions, the method.

:func:`comparison_parts` returns ``("html", str)`` and ``("png", bytes, alt)`` parts, like the stage
view; the compare notebook displays them and nbconvert turns the executed notebook into the
self-contained HTML. The per-query distributions read each run's ``queries.jsonl``, found through
the run folders recorded in compare.json (relative to the comparison's folder first).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import quote

from mlnb.compare import figures
from mlnb.compare.stats import MIN_TAIL, min_values_for
from mlnb.report import plots
from mlnb.report.markup import Markup, fmt_value, macro, wrap

__all__ = ["comparison_parts", "distribution_parts", "run_folder", "summary_parts"]

Part = tuple

_CSS = """
.mlnb .vpill { display: inline-block; padding: 1px 9px; border-radius: 999px; color: #fff; font-weight: 700; font-size: 0.88em; }
.mlnb table.diffs td.r { font-size: 0.85em; color: #4b5563; max-width: 26em; }
.mlnb table.t td.blocking { color: #b91c1c; font-weight: 700; }
.mlnb .verdict-line { font-size: 1.05em; margin: 2px 0; }
"""
_BANNER = {"regression": "bad", "improvement": "good", "inconclusive": "neutral", "mixed": "neutral",
           "changed": "neutral", "no interval": "neutral"}
_HEADLINE_WORD = {"no interval": "NOT ENOUGH DATA FOR AN INTERVAL"}


def _wrap(inner: str, with_style: bool = False) -> str:
    return wrap(inner, with_style, extra_css=_CSS)


def _section(name: str, *args: Any, **kwargs: Any) -> str:
    return str(macro("compare.html.j2", name, *args, **kwargs))


def vpill(verdict: str) -> str:
    return _section("vpill", verdict, figures.VERDICT_COLORS.get(verdict, plots.COLORS["neutral"]))


def _num(value: Optional[float], unit: str = "", signed: bool = False) -> str:
    """A number as text (the template escapes it), with its unit."""
    if value is None:
        return "\u2014"
    text = fmt_value(float(value))
    if signed and value > 0:
        text = "+" + text
    return f"{text} {unit}".rstrip() if unit and unit not in ("/s", "ROUGE") else text


def _ci(d: Mapping[str, Any]) -> Optional[tuple[str, str]]:
    if d.get("ci_low") is None:
        return None
    return _num(d["ci_low"], signed=True), _num(d["ci_high"], signed=True)


def _rel(d: Mapping[str, Any]) -> str:
    return _signed_pct(d.get("rel"))


def _header(c: Mapping[str, Any]) -> str:
    rows = [(r["run_id"], bool(r.get("simulated")), role, r.get("preset"), r.get("model"), r.get("backend"), r.get("started"))
            for _, r, role in _all_runs(c)]
    return _section("runs_table", rows)


def _all_runs(c: Mapping[str, Any]):
    """(group index, run record, role) for every run, repeats after their run."""
    for i, r in enumerate(c["runs"]):
        letter = chr(ord("A") + i)
        yield i, r, "baseline (A)" if i == 0 else f"compared ({letter})"
        for repeat in r.get("repeats") or []:
            yield i, repeat, f"repeat of {letter}"


def _columns(c: Mapping[str, Any]) -> list[str]:
    return list(c.get("columns") or [r["run_id"] for r in c["runs"]])


def _simulated_banner(c: Mapping[str, Any]) -> str:
    sims = [r["run_id"] for _, r, _ in _all_runs(c) if r.get("simulated")]
    return _section("simulated_banner", sims) if sims else ""


def _verdict_banners(c: Mapping[str, Any]) -> str:
    lines = []
    sim = " (SIMULATED runs)" if any(r.get("simulated") for r in c["runs"]) else ""
    for line in c.get("overall") or []:
        verdict = line["verdict"]
        items = [("regression", x) for x in line["regressions"]]
        items += [("improvement", x) for x in line["improvements"]]
        items += [("changed", x) for x in line["changed"]]
        largest = [(d["label"], d["stat"], _signed_pct(d["rel"]), d["stage"], _num(d.get("a"), d.get("unit") or ""),
                    _num(d.get("b"), d.get("unit") or ""), d["verdict"]) for d in line.get("largest") or []]
        lines.append({
            "kind": _BANNER.get(verdict, "neutral"),
            "verdict": verdict,
            "word": _HEADLINE_WORD.get(verdict, verdict.upper()),
            "sim": sim,
            "run_id": line["run_id"],
            "against": line["against"],
            "no_interval_text": _capital(line.get("headline", "").split(". Largest")[0]) if verdict == "no interval" else None,
            "items": items,
            "n_no_interval": len(line.get("no_interval") or []),
            "largest": largest,
        })
    return _section("verdict_banners", lines)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _signed_pct(rel: Optional[float]) -> str:
    return "\u2014" if rel is None else f"{rel * 100:+,.1f} %".replace("-", "\u2212")


def _differences_table(c: Mapping[str, Any]) -> str:
    diffs = c.get("differences") or []
    rows = [(d["stage"], d["key"], d["category"], d["values"], bool(d["blocking"])) for d in diffs]
    return _section("differences", _columns(c), rows, any(d["blocking"] for d in diffs))


def _metric_table(stage: Mapping[str, Any], index: int, runs: Sequence[Mapping[str, Any]]) -> str:
    diffs = stage["comparisons"][index]["differences"]
    a, b = runs[0].get("label") or runs[0]["run_id"], runs[index + 1].get("label") or runs[index + 1]["run_id"]
    rows = []
    for d in diffs:
        better = {"lower": "lower is better", "higher": "higher is better"}.get(d.get("better"), "no better direction")
        rows.append((d["label"], better, d["stat"], _num(d["a"], d["unit"]), _num(d["b"], d["unit"]),
                     _num(d["diff"], d["unit"], signed=True), _rel(d), _ci(d), Markup(vpill(d["verdict"])), d["reason"]))
    return _section("metric_table", a, b, rows)


def _key_metrics_stage(stage: Mapping[str, Any]) -> tuple:
    keys = [("tokens_per_second", "tokens/s"), ("samples_per_second", "samples/s"), ("ttft_p99_ms", "TTFT p99 ms"),
            ("tpot_p99_ms", "TPOT p99 ms"), ("latency_p50_ms", "latency p50 ms"), ("latency_p99_ms", "latency p99 ms"),
            ("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L")]
    rows = []
    for key, label in keys:
        values = [m.get(key) for m in stage["key_metrics"]]
        if any(v is not None for v in values):
            rows.append((label, values, 2 if key.startswith("rouge") else None))
    return stage["stage"], stage["verdicts"], stage["queries"], rows


def _method(c: Mapping[str, Any]) -> str:
    m = c.get("method") or {}
    return _section(
        "method", m.get("name"), m.get("text"), float(m.get("threshold", 0)), float(m.get("accuracy_threshold", 0)),
        MIN_TAIL, min_values_for("median"), min_values_for("p99"), int(m.get("min_repeats", 3)), c["id"], c["created"],
    )


def run_folder(c: Mapping[str, Any], index: int, compare_dir: Optional[str | Path]) -> Path:
    """Where run ``index`` lives: relative to the comparison folder first, then the recorded folder."""
    return record_folder(c["runs"][index], compare_dir)


def record_folder(record: Mapping[str, Any], compare_dir: Optional[str | Path]) -> Path:
    if compare_dir is not None and record.get("relative"):
        candidate = Path(compare_dir) / record["relative"]
        if candidate.is_dir():
            return candidate
    return Path(record["folder"])


def _run_links(c: Mapping[str, Any], compare_dir: Optional[str | Path]) -> str:
    links = []
    for _, r, _ in _all_runs(c):
        rel = r.get("relative")
        links.append((quote(f"{rel}/index.html", safe="/.-_~") if rel else None, r["run_id"]))
    return _section("run_links", links)


def summary_parts(c: Mapping[str, Any], compare_dir: Optional[str | Path] = None) -> list[Part]:
    """Verdict, comparability, the differences and the key metrics: everything but the distributions."""
    runs = c["runs"]
    top = [_section("title", [r.get("label") or r["run_id"] for r in runs]), _verdict_banners(c), _simulated_banner(c), _header(c),
           _run_links(c, compare_dir), str(macro("stage.html.j2", "heading", 2, "Are the runs comparable?")), _differences_table(c)]
    parts: list[Part] = [("html", _wrap("".join(top), with_style=True))]
    for index in range(len(runs) - 1):
        title = _section("differences_heading", runs[index + 1].get("label") or runs[index + 1]["run_id"], runs[0].get("label") or runs[0]["run_id"])
        parts.append(("html", _wrap(title)))
        fig = figures.differences_figure(c, index)
        parts.append(("png", plots.figure_png(fig), f"Change of every metric with its 95 % interval, {runs[index + 1]['run_id']} vs {runs[0]['run_id']}"))
        body = []
        for stage in c["stages"]:
            body.append(_section("stage_heading", stage["stage"], stage["scenario"], stage["mode"], any(stage["simulated"])))
            body.append(_metric_table(stage, index, runs))
        parts.append(("html", _wrap("".join(body))))
    side = _section("key_metrics", [_key_metrics_stage(stage) for stage in c["stages"]], _columns(c))
    parts.append(("html", _wrap(side)))
    return parts


def distribution_parts(c: Mapping[str, Any], compare_dir: Optional[str | Path] = None) -> list[Part]:
    """One figure per performance stage: the runs' per-query distributions overlaid."""
    from mlnb.compare.loading import StageData

    parts: list[Part] = [("html", _wrap(_section("distributions_intro")))]
    labels = [r.get("label") or r["run_id"] for r in c["runs"]]
    for stage in c["stages"]:
        if stage.get("mode") == "accuracy":
            continue
        series = []
        for record in c["runs"]:  # a run and its repeats, pooled
            data = StageData(stage["stage"], record_folder(record, compare_dir) / stage["stage"], {})
            data.repeats = [StageData(stage["stage"], record_folder(r, compare_dir) / stage["stage"], {})
                            for r in record.get("repeats") or []]
            series.append(data.series())
        fig = figures.distributions_figure(stage["stage"], series, labels, stage["simulated"], stage.get("scenario"))
        parts.append(("png", plots.figure_png(fig), f"{stage['stage']}: TTFT, TPOT, latency and output length of every run"))
    parts.append(("html", _wrap(_method(c))))
    return parts


def comparison_parts(c: Mapping[str, Any], compare_dir: Optional[str | Path] = None) -> list[Part]:
    return summary_parts(c, compare_dir) + distribution_parts(c, compare_dir)


def relative_to(target: Path, start: Path) -> Optional[str]:
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:  # another drive
        return None
