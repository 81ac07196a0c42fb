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
from mlnb.report.markup import esc, fmt_value, simulated_tag, style_tag, verdict_pill

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
    css = style_tag() + f"<style>{_CSS}</style>" if with_style else ""
    return css + f'<div class="mlnb">{inner}</div>'


def vpill(verdict: str) -> str:
    color = figures.VERDICT_COLORS.get(verdict, plots.COLORS["neutral"])
    return f'<span class="vpill" style="background:{color}">{esc(verdict.upper())}</span>'


def _num(value: Optional[float], unit: str = "", signed: bool = False) -> str:
    if value is None:
        return "\u2014"
    text = fmt_value(float(value))
    if signed and value > 0:
        text = "+" + text
    return f"{text} {esc(unit)}".rstrip() if unit and unit not in ("/s", "ROUGE") else text


def _ci(d: Mapping[str, Any]) -> str:
    if d.get("ci_low") is None:
        return '<span class="muted">none (see why)</span>'
    return f"[{_num(d['ci_low'], signed=True)}, {_num(d['ci_high'], signed=True)}]"


def _rel(d: Mapping[str, Any]) -> str:
    return _signed_pct(d.get("rel"))


def _header(c: Mapping[str, Any]) -> str:
    runs = c["runs"]
    rows = []
    for i, r, role in _all_runs(c):
        sim = simulated_tag() if r.get("simulated") else ""
        rows.append(f"<tr><td><b>{esc(r['run_id'])}</b> {sim}</td><td>{role}</td><td>{esc(r.get('preset'))}</td>"
                    f"<td>{esc(r.get('model'))}</td><td>{esc(r.get('backend'))}</td><td>{esc(r.get('started'))}</td></tr>")
    table = ("<table class=\"t\"><thead><tr><th>Run</th><th>Role</th><th>Preset</th><th>Model</th><th>Backend</th>"
             f"<th>Started</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return table


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
    if not sims:
        return ""
    return ('<div class="banner sim"><div class="big">SIMULATED \u2014 no model ran</div>'
            f"<p>Runs <b>{esc(', '.join(sims))}</b> used mlnb's simulator. Their latencies and throughput come from "
            "a timing model: the comparison tests the tooling, not a system.</p></div>")


def _verdict_banners(c: Mapping[str, Any]) -> str:
    out = []
    for line in c.get("overall") or []:
        verdict = line["verdict"]
        items = [f"<li><b>regression</b>: {esc(x)}</li>" for x in line["regressions"]]
        items += [f"<li><b>improvement</b>: {esc(x)}</li>" for x in line["improvements"]]
        items += [f"<li><b>changed</b>: {esc(x)}</li>" for x in line["changed"]]
        if verdict == "no interval":
            detail = f"<p>{esc(_capital(line.get('headline', '').split('. Largest')[0]))}: the changes are shown, not judged.</p>"
        elif items:
            detail = f"<ul>{''.join(items)}</ul>"
        else:
            detail = "<p>Every interval formed includes 0 or stays within the practical threshold.</p>"
            if line.get("no_interval"):
                detail += f"<p>{len(line['no_interval'])} metrics had no interval (see the table).</p>"
        largest = line.get("largest") or []
        if largest:
            shown = "".join(f"<li>{esc(d['label'])} {esc(d['stat'])} <b>{esc(_signed_pct(d['rel']))}</b> "
                            f"<span>({esc(d['stage'])}; {_num(d.get('a'), d.get('unit') or '')} \u2192 "
                            f"{_num(d.get('b'), d.get('unit') or '')}; {esc(d['verdict'])})</span></li>" for d in largest)
            detail += f"<p>Largest changes:</p><ul>{shown}</ul>"
        sim = " (SIMULATED runs)" if any(r.get("simulated") for r in c["runs"]) else ""
        word = _HEADLINE_WORD.get(verdict, verdict.upper())
        out.append(f'<div class="banner {_BANNER.get(verdict, "neutral")}" data-verdict="{esc(verdict)}">'
                   f'<div class="big">{esc(word)}{esc(sim)}</div>'
                   f"<p>{esc(line['run_id'])} against the baseline {esc(line['against'])}</p>{detail}</div>")
    return "".join(out)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _signed_pct(rel: Optional[float]) -> str:
    return "\u2014" if rel is None else f"{rel * 100:+,.1f} %".replace("-", "\u2212")


def _differences_table(c: Mapping[str, Any]) -> str:
    diffs = c.get("differences") or []
    runs = c["runs"]
    if not diffs:
        return ('<div class="info"><b>Comparable.</b> Same model, LoadGen model key, data set and sample set, '
                "scenario, settings, engine and software versions in every compared stage.</div>")
    forced = any(d["blocking"] for d in diffs)
    note = ('<div class="banner bad"><div class="big">Different models, compared with --force</div>'
            "<p>These runs are different benchmarks; read every difference below as a possible cause.</p></div>"
            if forced else "")
    head = "<th>Stage</th><th>Setting</th><th>Kind</th>" + "".join(f"<th>{esc(run_id)}</th>" for run_id in _columns(c))
    rows = []
    for d in diffs:
        cls = ' class="blocking"' if d["blocking"] else ""
        values = "".join(f"<td{cls}>{esc(v)}</td>" for v in d["values"])
        rows.append(f"<tr><td>{esc(d['stage'])}</td><td><code>{esc(d['key'])}</code></td><td>{esc(d['category'])}</td>{values}</tr>")
    return (note + f'<div class="note"><b>{len(diffs)} settings differ</b> between the runs. Any of them could explain a '
            "change; the ones in red make the runs different benchmarks.</div>"
            f'<table class="t settings"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _metric_table(stage: Mapping[str, Any], index: int, runs: Sequence[Mapping[str, Any]]) -> str:
    diffs = stage["comparisons"][index]["differences"]
    if not diffs:
        return '<p class="muted">No metric to compare in this stage.</p>'
    a, b = runs[0].get("label") or runs[0]["run_id"], runs[index + 1].get("label") or runs[index + 1]["run_id"]
    head = (f'<th>Metric</th><th>Statistic</th><th class="n">{esc(a)} (A)</th><th class="n">{esc(b)}</th>'
            '<th class="n">B \u2212 A</th><th class="n">change</th><th class="n">95 % interval of B \u2212 A</th>'
            "<th>Verdict</th><th>Why</th>")
    rows = []
    for d in diffs:
        better = {"lower": "lower is better", "higher": "higher is better"}.get(d.get("better"), "no better direction")
        rows.append(
            f"<tr><td>{esc(d['label'])}<br><span class=\"muted\">{better}</span></td><td>{esc(d['stat'])}</td>"
            f'<td class="n">{_num(d["a"], d["unit"])}</td><td class="n">{_num(d["b"], d["unit"])}</td>'
            f'<td class="n">{_num(d["diff"], d["unit"], signed=True)}</td><td class="n">{_rel(d)}</td>'
            f'<td class="n">{_ci(d)}</td><td>{vpill(d["verdict"])}</td><td class="r">{esc(d["reason"])}</td></tr>'
        )
    return f'<table class="t diffs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _key_metrics_table(stage: Mapping[str, Any], columns: Sequence[str]) -> str:
    keys = [("tokens_per_second", "tokens/s"), ("samples_per_second", "samples/s"), ("ttft_p99_ms", "TTFT p99 ms"),
            ("tpot_p99_ms", "TPOT p99 ms"), ("latency_p50_ms", "latency p50 ms"), ("latency_p99_ms", "latency p99 ms"),
            ("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L")]
    head = "<th>LoadGen's numbers</th>" + "".join(f'<th class="n">{esc(run_id)}</th>' for run_id in columns)
    rows = ["<tr><td>verdict</td>" + "".join(f'<td class="n">{verdict_pill(v)}</td>' for v in stage["verdicts"]) + "</tr>",
            "<tr><td>queries (SUT)</td>" + "".join(f'<td class="n">{fmt_value(n)}</td>' for n in stage["queries"]) + "</tr>"]
    for key, label in keys:
        values = [m.get(key) for m in stage["key_metrics"]]
        if all(v is None for v in values):
            continue
        digits = 2 if key.startswith("rouge") else None
        rows.append(f"<tr><td>{esc(label)}</td>" + "".join(f'<td class="n">{fmt_value(v, digits)}</td>' for v in values) + "</tr>")
    return f'<table class="t keys"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _method(c: Mapping[str, Any]) -> str:
    m = c.get("method") or {}
    return (
        "<h2>Method and verdict rules</h2>"
        f"<p><b>{esc(m.get('name'))}.</b> {esc(m.get('text'))}</p>"
        "<ul>"
        f"<li><b>improvement</b> or <b>regression</b>: the 95 % interval excludes 0 and the change is at least "
        f"{float(m.get('threshold', 0)):.0%} of run A's value ({float(m.get('accuracy_threshold', 0)):.0%} for ROUGE). "
        "Lower is better for TTFT, TPOT and latency; higher is better for throughput and ROUGE.</li>"
        "<li><b>inconclusive</b>: the interval includes 0 or the change is below that threshold.</li>"
        "<li><b>no interval</b>: a run has too few values to form an interval, so the change is shown and not judged: "
        f"a percentile needs {MIN_TAIL} values beyond it in each run (median {min_values_for('median')}, "
        f"p99 {min_values_for('p99')} queries).</li>"
        "<li><b>changed</b>: output length has no better direction; it is called changed by the same rules. "
        "A change in output length changes latency and throughput too.</li>"
        "<li>Throughput is one LoadGen value per run: without repeats it says <i>single run: no interval</i> and is "
        f"never judged. Runs given as <code>RUN,RUN2,RUN3</code> are repeats: with {int(m.get('min_repeats', 3))} or more "
        "per side, the means of their throughputs are compared by the same bootstrap and rules; their queries are "
        "pooled for the per-query metrics.</li>"
        "</ul>"
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
        if rel:
            href = quote(f"{rel}/index.html", safe="/.-_~")
            links.append(f'<a href="{esc(href)}">{esc(r["run_id"])}</a>')
        else:
            links.append(esc(r["run_id"]))
    return '<p class="sub">Run reports: ' + " \u00b7 ".join(links) + "</p>"


def summary_parts(c: Mapping[str, Any], compare_dir: Optional[str | Path] = None) -> list[Part]:
    """Verdict, comparability, the differences and the key metrics: everything but the distributions."""
    runs = c["runs"]
    names = " vs ".join(esc(r.get("label") or r["run_id"]) for r in runs)
    top = [f"<h1>mlnb comparison: {names}</h1>", _verdict_banners(c), _simulated_banner(c), _header(c),
           _run_links(c, compare_dir), "<h2>Are the runs comparable?</h2>", _differences_table(c)]
    parts: list[Part] = [("html", _wrap("".join(top), with_style=True))]
    for index in range(len(runs) - 1):
        title = f"<h2>Differences: {esc(runs[index + 1].get('label') or runs[index + 1]['run_id'])} against {esc(runs[0].get('label') or runs[0]['run_id'])}</h2>"
        parts.append(("html", _wrap(title)))
        fig = figures.differences_figure(c, index)
        parts.append(("png", plots.figure_png(fig), f"Change of every metric with its 95 % interval, {runs[index + 1]['run_id']} vs {runs[0]['run_id']}"))
        body = []
        for stage in c["stages"]:
            sim = f" {simulated_tag()}" if any(stage["simulated"]) else ""
            body.append(f"<h3>{esc(stage['stage'])} <span class=\"muted\">{esc(stage['scenario'])}, {esc(stage['mode'])}</span>{sim}</h3>")
            body.append(_metric_table(stage, index, runs))
        parts.append(("html", _wrap("".join(body))))
    side = ["<h2>Key metrics side by side</h2>"]
    for stage in c["stages"]:
        side.append(f"<h3>{esc(stage['stage'])}</h3>" + _key_metrics_table(stage, _columns(c)))
    parts.append(("html", _wrap("".join(side))))
    return parts


def distribution_parts(c: Mapping[str, Any], compare_dir: Optional[str | Path] = None) -> list[Part]:
    """One figure per performance stage: the runs' per-query distributions overlaid."""
    from mlnb.compare.loading import StageData

    parts: list[Part] = [("html", _wrap(
        "<h2>Distributions overlaid</h2><p>Empirical CDFs of every query's TTFT, TPOT, end-to-end latency and "
        "output length, from the SUT's own timestamps (queries.jsonl); dots mark the medians, the dotted line is 99 %.</p>"))]
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
    parts.append(("html", _wrap(_method(c) + f'<footer class="muted">compare.json: comparison {esc(c["id"])}, '
                                f"written {esc(c['created'])}. This page loads nothing from the network.</footer>")))
    return parts


def comparison_parts(c: Mapping[str, Any], compare_dir: Optional[str | Path] = None) -> list[Part]:
    return summary_parts(c, compare_dir) + distribution_parts(c, compare_dir)


def relative_to(target: Path, start: Path) -> Optional[str]:
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:  # another drive
        return None
