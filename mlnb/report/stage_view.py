"""One stage's results, shown in its notebook: what nbconvert turns into the shared HTML report.

:func:`show_stage` displays, in order: banners (simulated, verdict with every reason, not
submittable), LoadGen's key metrics and percentiles, per-query latency plots from the SUT's
timestamps, the throughput timeline, the accuracy section (accuracy mode), and collapsible
engine / environment / parameter tables.

Everything is plain HTML with inline CSS, scoped under ``.mlnb`` so it neither depends on nor
disturbs the notebook's own styles; no script, no external resource. Every piece of text that
comes from a file (model output above all) goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from mlnb.fileio import read_json
from mlnb.report import plots
from mlnb.report.plots import COLORS, key_metrics, latency_limits, stat_percentile, summary_dict, verdict_color
from mlnb.report.telemetry_view import telemetry_parts

__all__ = [
    "CSS",
    "Part",
    "display_parts",
    "failure_html",
    "fmt_value",
    "key_cards",
    "params_html",
    "plural",
    "png_img_html",
    "show_params",
    "show_stage",
    "stage_html",
    "stage_parts",
]

# One stylesheet for every mlnb view (the stage reports, the run summary and index.html).
CSS = f"""
.mlnb {{ font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif;
  font-size: 15px; line-height: 1.45; color: {COLORS['text']}; background: #ffffff; max-width: 1200px; }}
.mlnb h1 {{ font-weight: 700; font-size: 1.7em; margin: 0.2em 0 0.3em; }}
.mlnb h2 {{ font-weight: 700; font-size: 1.35em; margin: 1.1em 0 0.4em; padding-bottom: 0.2em; border-bottom: 2px solid #e5e7eb; }}
.mlnb h3 {{ font-weight: 700; font-size: 1.1em; margin: 0.9em 0 0.3em; }}
.mlnb p {{ margin: 0.35em 0; }}
.mlnb .sub {{ color: #4b5563; font-size: 0.95em; }}
.mlnb .banner {{ border-radius: 8px; padding: 12px 16px; margin: 10px 0; color: #fff; }}
.mlnb .banner .big {{ font-size: 1.6em; font-weight: 800; letter-spacing: 0.03em; }}
.mlnb .banner ul {{ margin: 6px 0 0 0; padding-left: 1.3em; }}
.mlnb .banner li {{ margin: 2px 0; }}
.mlnb .good {{ background: {COLORS['good']}; }}
.mlnb .bad {{ background: {COLORS['bad']}; }}
.mlnb .neutral {{ background: {COLORS['neutral']}; }}
.mlnb .sim {{ color: #3b0764; border: 3px solid {COLORS['simulated']};
  background: repeating-linear-gradient(135deg, #f3e8ff, #f3e8ff 14px, #ede9fe 14px, #ede9fe 28px); }}
.mlnb .sim .big {{ color: {COLORS['simulated']}; }}
.mlnb .note {{ border-left: 5px solid #d97706; background: #fffbeb; padding: 8px 14px; margin: 10px 0; border-radius: 0 6px 6px 0; }}
.mlnb .note ul {{ margin: 4px 0 0 0; padding-left: 1.3em; }}
.mlnb .info {{ border-left: 5px solid #2563eb; background: #eff6ff; padding: 8px 14px; margin: 10px 0; border-radius: 0 6px 6px 0; }}
.mlnb .cards {{ display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }}
.mlnb .card {{ border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px 14px; min-width: 150px; background: #f9fafb; }}
.mlnb .card .v {{ font-size: 1.5em; font-weight: 700; }}
.mlnb .card .k {{ color: #4b5563; font-size: 0.85em; }}
.mlnb table.t {{ border-collapse: collapse; margin: 6px 0 10px; table-layout: auto; margin-left: 0; font-size: 0.93em; }}
.mlnb table.t th, .mlnb table.t td {{ border: 1px solid #e5e7eb; padding: 4px 10px; text-align: left; vertical-align: top;
  background: transparent; color: inherit; }}
.mlnb table.t th {{ background: #f3f4f6; font-weight: 600; }}
.mlnb table.t td.n, .mlnb table.t th.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.mlnb table.t tr:nth-child(even) td {{ background: #fafafa; }}
.mlnb .pill {{ display: inline-block; padding: 1px 9px; border-radius: 999px; color: #fff; font-weight: 700; font-size: 0.88em; }}
.mlnb .simtag {{ display: inline-block; padding: 0 7px; border-radius: 4px; border: 1px solid {COLORS['simulated']};
  color: {COLORS['simulated']}; font-size: 0.8em; font-weight: 700; margin-left: 4px; }}
.mlnb .ok {{ color: {COLORS['good']}; font-weight: 700; }}
.mlnb .no {{ color: {COLORS['bad']}; font-weight: 700; }}
.mlnb .muted {{ color: #6b7280; }}
.mlnb details {{ border: 1px solid #e5e7eb; border-radius: 6px; padding: 6px 12px; margin: 8px 0; background: #fcfcfd; }}
.mlnb details > summary {{ cursor: pointer; font-weight: 600; }}
.mlnb pre, .mlnb .text {{ white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, "SFMono-Regular", Menlo,
  Consolas, "DejaVu Sans Mono", monospace; font-size: 0.86em; background: #f9fafb; border: 1px solid #e5e7eb;
  border-radius: 6px; padding: 6px 9px; margin: 3px 0; }}
.mlnb .examples {{ display: grid; grid-template-columns: 1fr 1fr; gap: 8px 14px; margin: 6px 0 14px; }}
.mlnb .examples .h {{ font-weight: 600; font-size: 0.9em; color: #374151; }}
.mlnb .ex-head {{ grid-column: 1 / span 2; margin-top: 6px; font-weight: 600; border-top: 1px solid #e5e7eb; padding-top: 6px; }}
.mlnb img.fig {{ max-width: 100%; height: auto; display: block; margin: 6px 0; }}
.mlnb a {{ color: #1d4ed8; }}
.mlnb .err {{ color: {COLORS['bad']}; }}
.mlnb table.stages tr.failed td {{ background: #fef2f2; }}
.mlnb table.stages tr.notrun td {{ color: #6b7280; }}
.mlnb details.why {{ border: none; background: transparent; padding: 0; margin: 2px 0 0; font-size: 0.85em; }}
.mlnb details.why ul {{ margin: 2px 0; padding-left: 1.1em; max-width: 28em; }}
"""

Part = tuple  # ("html", str) or ("png", bytes, alt_text)

_MAX_EXAMPLE_CHARS = 1500


# ---------------------------------------------------------------------------------------------
# Small HTML helpers (shared with run_index and run_summary)
# ---------------------------------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_value(value: Any, digits: Optional[int] = None) -> str:
    """A number for a table cell: thousands separators, a few significant digits, "—" if missing."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "\u2014"
        if digits is not None:
            return f"{value:,.{digits}f}"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        if magnitude >= 0.01 or magnitude == 0:
            return f"{value:.3f}"
        return f"{value:.3g}"
    return esc(value)


def plural(count: Any, noun: str, many: Optional[str] = None) -> str:
    """'1 query', '2 queries', '1,234 samples': the count with the noun in the right number."""
    if many is None:
        many = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    number = fmt_value(count) if isinstance(count, (int, float)) and not isinstance(count, bool) else esc(count)
    return f"{number} {noun if count == 1 else many}"


def verdict_pill(verdict: Optional[str]) -> str:
    text = verdict or "n/a"
    return f'<span class="pill" style="background:{verdict_color(verdict)}">{esc(text)}</span>'


def simulated_tag() -> str:
    return '<span class="simtag">SIMULATED</span>'


def style_tag() -> str:
    return f"<style>{CSS}</style>"


def _wrap(inner: str, with_style: bool = False) -> str:
    return (style_tag() if with_style else "") + f'<div class="mlnb">{inner}</div>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """Cells are HTML already (escape text before passing it)."""
    head = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _value_html(value: Any) -> str:
    if isinstance(value, Mapping):
        if not value:
            return '<span class="muted">(empty)</span>'
        if all(not isinstance(v, (Mapping, list)) for v in value.values()) and len(value) <= 40:
            return kv_table(value)
        return f"<pre>{esc(json.dumps(value, indent=1, default=str))}</pre>"
    if isinstance(value, (list, tuple)):
        if not value:
            return '<span class="muted">(none)</span>'
        if all(isinstance(v, (str, int, float)) for v in value):
            if len(value) > 1 and any(isinstance(v, str) and len(v) > 30 for v in value):
                return "<ul>" + "".join(f"<li>{esc(v)}</li>" for v in value) + "</ul>"
            return esc(", ".join(str(v) for v in value))
        return f"<pre>{esc(json.dumps(value, indent=1, default=str))}</pre>"
    if isinstance(value, bool):
        return fmt_value(value)
    if isinstance(value, int) and abs(value) >= 10**9:  # seeds and ids: digits, no separators
        return esc(value)
    if isinstance(value, (int, float)):
        return fmt_value(value)
    if value is None:
        return '<span class="muted">\u2014</span>'
    return esc(value)


def kv_table(data: Mapping[str, Any], skip: Sequence[str] = ()) -> str:
    rows = [(f"<code>{esc(k)}</code>", _value_html(v)) for k, v in data.items() if k not in skip]
    return _table(["key", "value"], rows)


def details(title: str, inner: str, open_: bool = False) -> str:
    return f'<details{" open" if open_ else ""}><summary>{esc(title)}</summary>{inner}</details>'


def failure_html(failure: Mapping[str, Any], stage: Optional[str] = None) -> str:
    """A red banner for a stage that stopped with an error (failure.json)."""
    stage = stage or failure.get("stage") or "stage"
    cell = failure.get("cell_index")
    where = f" in notebook cell {esc(cell)}" if cell is not None else ""
    ename = failure.get("ename") or "error"
    evalue = str(failure.get("evalue") or "")
    if len(evalue) > 3000:
        evalue = evalue[:3000] + " \u2026 (truncated)"
    return (
        f'<div class="banner bad"><div class="big">FAILED</div>'
        f"<p>Stage <b>{esc(stage)}</b> stopped with an error{where}:</p>"
        f'<pre style="color:#111827">{esc(ename)}: {esc(evalue)}</pre>'
        "<p>No results: the stage folder holds the partial logs (harness.log, loadgen/).</p></div>"
    )


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _load(summary_or_stage_dir: Any, rows: Optional[Sequence[Mapping]]):
    """-> (summary dict or None, failure dict or None, query table, stage dir or None)."""
    from mlnb.query_table import as_table, load_query_table

    stage_dir: Optional[Path] = None
    summary: Optional[dict] = None
    failure: Optional[dict] = None
    if isinstance(summary_or_stage_dir, (str, Path)):
        path = Path(summary_or_stage_dir)
        stage_dir = path.parent if path.is_file() else path
        summary_path = path if path.is_file() else path / "summary.json"
        if summary_path.is_file():
            summary = read_json(summary_path)
        elif (stage_dir / "failure.json").is_file():
            failure = read_json(stage_dir / "failure.json")
        else:
            raise FileNotFoundError(f"{path}: no summary.json or failure.json (has the stage run?)")
    else:
        summary = summary_dict(summary_or_stage_dir)
        params = summary.get("params") or {}
        if params.get("run_dir") and summary.get("stage"):
            candidate = Path(params["run_dir"]) / str(summary["stage"])
            stage_dir = candidate if candidate.is_dir() else None
    if rows is None:
        return summary, failure, load_query_table(stage_dir) if stage_dir is not None else as_table(None), stage_dir
    return summary, failure, as_table(rows), stage_dir


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def _header(s: Mapping[str, Any]) -> str:
    title = s.get("title") or s.get("stage") or "Stage"
    bits = [s.get("scenario"), s.get("mode"), s.get("model_key")]
    line = " \u00b7 ".join(esc(b) for b in bits if b)
    model = f"model <b>{esc(s.get('model'))}</b> on backend <b>{esc(s.get('backend'))}</b>"
    engine = s.get("engine") if isinstance(s.get("engine"), Mapping) else {}
    if engine.get("prompt_form"):  # a server: which form the prompts took, and whose tokenizer counted them
        model += f" · prompts as <b>{esc(engine['prompt_form'])}</b> (tokenizer: {esc(engine.get('tokenizer'))})"
    tag = simulated_tag() if s.get("simulated") else ""
    return f'<h2>{esc(title)} <span class="muted">({esc(s.get("stage"))})</span>{tag}</h2><p class="sub">{line} \u2014 {model}</p>'


def _simulated_banner(s: Mapping[str, Any]) -> str:
    if not s.get("simulated"):
        return ""
    engine = s.get("engine") or {}
    timing = engine.get("timing_model") if isinstance(engine, Mapping) else None
    timing_html = ""
    if isinstance(timing, Mapping) and timing:
        timing_html = "<p>Timing model: " + esc(", ".join(f"{k} = {v}" for k, v in timing.items())) + "</p>"
    return (
        '<div class="banner sim"><div class="big">SIMULATED \u2014 no model ran</div>'
        "<p>Every latency and throughput number below comes from mlnb's simulator, not from a model on "
        "hardware. It exercises LoadGen and the report; it says nothing about any system's performance.</p>"
        f"{timing_html}</div>"
    )


_VERDICT_TEXT = {
    "VALID": "LoadGen judged this performance run valid.",
    "INVALID": "LoadGen (or the SUT) judged this run invalid; the reasons:",
    "PASS": "Accuracy meets every MLPerf target.",
    "FAIL": "Accuracy misses MLPerf targets:",
    "SCORED": "Every sample was answered and scored; your dataset has no accuracy target to pass or fail.",
}


def _verdict_banner(s: Mapping[str, Any]) -> str:
    verdict = str(s.get("verdict") or "n/a")
    upper = verdict.upper()
    css = "good" if upper in ("VALID", "PASS") else "bad" if upper in ("INVALID", "FAIL") else "neutral"
    reasons = [r for r in (s.get("verdict_reasons") or []) if r]
    text = _VERDICT_TEXT.get(upper, "")
    items = "".join(f"<li>{esc(r)}</li>" for r in reasons)
    if upper == "INVALID" and not reasons:
        items = "<li>(no reason recorded)</li>"
    hint = ""
    if upper == "INVALID" and reasons and s.get("relaxed_rules") and all(_is_length_reason(r) for r in reasons):
        hint = (
            '<p style="margin-top:6px"><b>Expected for a short run:</b> LoadGen wants more queries or a longer '
            "duration than this run was set up for; the numbers are still measured the same way.</p>"
        )
    return (
        f'<div class="banner {css}"><div class="big">{esc(verdict)}</div>'
        f"<p>{esc(text)}</p>{f'<ul>{items}</ul>' if items else ''}{hint}</div>"
    )


# LoadGen's reasons that only mean "the run was too short" (early stopping, min duration/queries).
_LENGTH_WORDS = ("early stopping", "min duration", "min queries", "min query", "more queries", "processed", "run unsuccessful")


def _is_length_reason(reason: str) -> bool:
    text = reason.lower()
    return any(word in text for word in _LENGTH_WORDS)


def _submittable_note(s: Mapping[str, Any]) -> str:
    rules = [r for r in (s.get("relaxed_rules") or []) if r]
    if s.get("submittable") and not rules:
        return '<div class="info">No MLPerf rule was relaxed for this run.</div>'
    items = "".join(f"<li>{esc(r)}</li>" for r in rules) or "<li>(not recorded)</li>"
    return (
        '<div class="note"><b>Not submittable.</b> This run departs from the MLPerf rules, so its numbers '
        f"are for development only:<ul>{items}</ul></div>"
    )


def key_cards(s: Mapping[str, Any]) -> list[tuple[str, Optional[float]]]:
    """(label, value) of the key-metric cards, the scenario's MLPerf metric first.

    SingleStream's result is its 90th-percentile latency (samples/s there is only 1 / mean latency);
    Offline and Server report throughput.
    """
    m = key_metrics(s)
    queries = int(m["query_count"]) if m["query_count"] is not None else None
    cards: list[tuple[str, Optional[float]]] = []
    if s.get("scenario") == "SingleStream":
        cards.append(("p90 latency, ms (SingleStream's metric)", m["latency_p90_ms"]))
    cards += [
        ("samples / s", m["samples_per_second"]),
        ("tokens / s", m["tokens_per_second"]),
        ("query" if queries == 1 else "queries", queries),
    ]
    if m["rouge1"] is not None:
        cards.append(("ROUGE-1", m["rouge1"]))
    return cards


def _key_metrics(s: Mapping[str, Any]) -> str:
    m = key_metrics(s)
    card_html = "".join(f'<div class="card"><div class="v">{fmt_value(v)}</div><div class="k">{esc(k)}</div></div>'
                        for k, v in key_cards(s))
    limits = latency_limits(s)
    rows = []
    for name, prefix, limit in (
        ("Time to first token (TTFT)", "ttft", limits.get("ttft_ms")),
        ("Time per output token (TPOT)", "tpot", limits.get("tpot_ms")),
        ("End-to-end latency", "latency", None),
    ):
        p50, p90, p99 = m[f"{prefix}_p50_ms"], m[f"{prefix}_p90_ms"], m[f"{prefix}_p99_ms"]
        if p50 is None and p90 is None and p99 is None:
            continue
        if limit is not None and p99 is not None:
            within = p99 <= limit
            check = f'<span class="{"ok" if within else "no"}">{"within" if within else "over"} ({p99 / limit:.0%} of limit)</span>'
        else:
            check = '<span class="muted">\u2014</span>'
        rows.append([esc(name), fmt_value(p50), fmt_value(p90), fmt_value(p99), fmt_value(limit), check])
    table = (
        _table(["LoadGen, ms", "p50", "p90", "p99", "p99 limit", "p99 vs limit"], rows, numeric=(1, 2, 3, 4))
        if rows
        else '<p class="muted">LoadGen reported no latency percentiles for this run.</p>'
    )
    return f"<h3>Key metrics (from LoadGen)</h3><div class=\"cards\">{card_html}</div>{table}"


def _percentile_table(s: Mapping[str, Any]) -> str:
    metrics = s.get("metrics") or {}
    series = [("TTFT", metrics.get("ttft_ms")), ("TPOT", metrics.get("tpot_ms")), ("Latency", metrics.get("latency_ms"))]
    series = [(name, st) for name, st in series if isinstance(st, Mapping)]
    if not series:
        return ""
    keys: list[str] = []
    for _, stats in series:
        for key in (stats.get("percentiles") or {}):
            if key not in keys:
                keys.append(key)

    def order(key: str) -> float:
        try:
            return float(str(key).lstrip("p"))
        except ValueError:
            return math.inf

    keys.sort(key=order)
    header = ["ms", "min", "mean"] + [f"p{esc(str(k).lstrip('p')).removesuffix('.0')}" for k in keys] + ["max"]
    rows = []
    for name, stats in series:
        row = [esc(name), fmt_value(plots._number(stats.get("min"))), fmt_value(plots._number(stats.get("mean")))]
        row += [fmt_value(stat_percentile(stats, order(k))) if order(k) != math.inf else "\u2014" for k in keys]
        row += [fmt_value(plots._number(stats.get("max")))]
        rows.append(row)
    return "<h3>LoadGen percentiles</h3>" + _table(header, rows, numeric=tuple(range(1, len(header))))


def _loadgen_messages(s: Mapping[str, Any]) -> str:
    lg = s.get("loadgen") or {}
    if not isinstance(lg, Mapping):
        return ""
    parts = []
    early = lg.get("early_stopping") or {}
    if isinstance(early, Mapping) and early:
        items = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in early.items())
        parts.append(f"<p>LoadGen's early-stopping messages:</p><ul>{items}</ul>")
    for key, label in (("errors", "LoadGen errors"), ("warnings", "LoadGen warnings")):
        msgs = lg.get(key) or []
        if msgs:
            items = "".join(f"<li>{esc(m)}</li>" for m in msgs[:20])
            more = f"<li>\u2026 and {len(msgs) - 20} more</li>" if len(msgs) > 20 else ""
            parts.append(f'<p class="{"err" if key == "errors" else ""}">{label}:</p><ul>{items}{more}</ul>')
    sut = s.get("sut") or {}
    if isinstance(sut, Mapping) and sut.get("errors"):
        examples = "".join(f"<li>{esc(e)}</li>" for e in (sut.get("error_examples") or [])[:5])
        parts.append(f'<p class="err">{plural(sut.get("errors"), "query")} failed in the SUT.</p><ul>{examples}</ul>')
    return "".join(parts)


def _sut_table(s: Mapping[str, Any]) -> str:
    sut = s.get("sut") or {}
    if not isinstance(sut, Mapping):
        return ""
    rows = []
    for key, label in (("ttft_ms", "TTFT, ms"), ("tpot_ms", "TPOT, ms"), ("e2e_ms", "End-to-end, ms"), ("output_tokens", "Output tokens"), ("prompt_tokens", "Prompt tokens")):
        d = sut.get(key)
        if isinstance(d, Mapping):
            rows.append([esc(label)] + [fmt_value(d.get(k)) for k in ("count", "mean", "p50", "p90", "p99", "max")])
    client = sut.get("client")  # network backends: TTFT from the query's arrival and from the send
    if isinstance(client, Mapping):
        for key, label in (("ttft_from_issue_ms", "TTFT from arrival at the SUT, ms"), ("ttft_from_send_ms", "TTFT from the send, ms"), ("send_delay_ms", "Client send delay, ms")):
            d = client.get(key)
            if isinstance(d, Mapping):
                rows.append([esc(label)] + [fmt_value(d.get(k)) for k in ("count", "mean", "p50", "p90", "p99", "max")])
    if not rows:
        return ""
    return _table(["SUT timestamps", "count", "mean", "p50", "p90", "p99", "max"], rows, numeric=(1, 2, 3, 4, 5, 6))


ORIGIN_GAP_SHARE = 0.2  # LoadGen's and the SUT's p50 further apart than this share of LoadGen's: say why
ORIGIN_GAP_MIN_MS = 1.0


def origin_gap_note(s: Mapping[str, Any]) -> str:
    """A note when LoadGen's p50 (from the scheduled time) and the SUT's (from receipt) differ a lot, saying why."""
    metrics, sut = s.get("metrics") or {}, s.get("sut") or {}
    if not isinstance(sut, Mapping):
        return ""
    gaps = []
    for name, loadgen_key, sut_key in (("TTFT", "ttft_ms", "ttft_ms"), ("end-to-end latency", "latency_ms", "e2e_ms")):
        loadgen = stat_percentile(metrics.get(loadgen_key), 50)
        mine = sut.get(sut_key) if isinstance(sut.get(sut_key), Mapping) else {}
        own = plots._number(mine.get("p50"))
        if loadgen is None or own is None or loadgen <= 0:
            continue
        if abs(loadgen - own) >= max(ORIGIN_GAP_MIN_MS, ORIGIN_GAP_SHARE * loadgen):
            gaps.append((name, loadgen, own, int(mine.get("count") or 0)))
    if not gaps:
        return ""
    items = "".join(f"<li>{esc(name)} p50: LoadGen {fmt_value(lg)} ms, SUT {fmt_value(own)} ms "
                    f"({(own - lg) / lg:+.0%})</li>" for name, lg, own, _ in gaps)
    few = min(n for *_, n in gaps)
    small = (f"<li>With {plural(few, 'query')}, the two percentile rules differ too: LoadGen takes an order "
             "statistic (one of the measured values), numpy interpolates between two.</li>") if 0 < few < 100 else ""
    return (
        f'<div class="note"><b>LoadGen\'s and the SUT\'s medians differ.</b><ul>{items}</ul>Why:<ul>'
        "<li>LoadGen's clock starts at the query's <i>scheduled</i> time, the SUT's when it <i>receives</i> the query. "
        "Time a query waited before the SUT had it (LoadGen issuing late, or the SUT's intake busy with earlier "
        "queries) is in LoadGen's figure only; the load-generator health section below shows that lag per query.</li>"
        f"{small}</ul>MLPerf's result is LoadGen's figure.</div>"
    )


def _accuracy(s: Mapping[str, Any], max_examples: int) -> str:
    acc = s.get("accuracy")
    if not isinstance(acc, Mapping) or not acc:
        return ""
    if acc.get("metric_family") == "task_type":  # the custom and synthetic workloads
        from mlnb.report.custom_view import per_task_type_html

        return per_task_type_html(acc) + _examples(acc, max_examples)
    exact = acc.get("metric_family") == "exact_match"  # the DeepSeek-R1 workload
    out = ["<h2>Accuracy (exact match)</h2>" if exact else "<h2>Accuracy (ROUGE)</h2>"]
    targets = [t for t in (acc.get("targets") or []) if isinstance(t, Mapping)]
    if targets:
        rows = []
        for t in targets:
            metric = str(t.get("metric"))
            lower, upper, ref = plots._number(t.get("lower")), plots._number(t.get("upper")), plots._number(t.get("reference"))
            digits = 0 if metric in ("gen_len", "gen_num", "num-samples") else 4
            if upper is None:
                need = f"\u2265 {fmt_value(lower, digits)}"
            elif lower == upper:
                need = f"= {fmt_value(lower, digits)}"
            else:
                need = f"{fmt_value(lower, digits)} \u2013 {fmt_value(upper, digits)}"
            passed = bool(t.get("passed"))
            verdict = f'<span class="{"ok" if passed else "no"}">{"pass" if passed else "fail"}</span>'
            scope = esc(t.get("scope") or "full dataset")
            if t.get("note"):
                scope += f'<br><span class="muted">{esc(t["note"])}</span>'
            rows.append([f"<code>{esc(metric)}</code>", fmt_value(plots._number(t.get("value")), digits), fmt_value(ref, digits), need, scope, verdict])
        out.append(_table(["metric", "this run", "MLPerf reference", "required", "target for", "result"], rows, numeric=(1, 2, 3)))
        scaled = [t for t in targets if str(t.get("scope") or "").startswith("scaled")]
        if scaled:
            out.append('<div class="info"><b>A subset was run.</b> MLPerf\'s count and length targets are totals over the '
                       "full dataset; here they are scaled to the samples run (per-sample targets). Averages (ROUGE, "
                       "exact match, tokens per sample) keep their targets. A subset's scores are noisier than the "
                       "full set's: read the verdict as a development check, not as MLPerf's.</div>")
    else:
        rows = [[f"<code>{k}</code>", fmt_value(plots._number(acc.get(k)), 4)] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum") if k in acc]
        rows += [[f"<code>{k}</code>", fmt_value(acc.get(k))] for k in ("gen_len", "gen_num") if k in acc]
        out.append(_table(["metric", "this run"], rows, numeric=(1,)))
    facts = []
    for key, label in (("benchmark", "targets for"), ("splitter", "sentence splitter"), ("gen_num", "samples scored"), ("gen_tok_len", "generated tokens")):
        if acc.get(key) is not None:
            facts.append(f"{esc(label)}: <b>{fmt_value(acc.get(key)) if not isinstance(acc.get(key), str) else esc(acc.get(key))}</b>")
    if facts:
        out.append('<p class="sub">' + " \u00b7 ".join(facts) + "</p>")
    if acc.get("targets_note"):
        out.append(f'<div class="note">{esc(acc["targets_note"])}</div>')
    if exact:
        from mlnb.report.dsr1_view import per_dataset_html

        out.append(per_dataset_html(acc))
    out.append(_examples(acc, max_examples))
    return "".join(out)


_SAMPLE_LISTS = ("per_sample", "samples", "examples")
_PREDICTION_KEYS = ("prediction", "pred", "output", "generated", "text")
_REFERENCE_KEYS = ("reference", "target", "ref", "expected", "label")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_EXAMPLE_CHARS else text[:_MAX_EXAMPLE_CHARS] + " \u2026 (truncated)"


def _examples(acc: Mapping[str, Any], max_examples: int) -> str:
    samples = next((acc[k] for k in _SAMPLE_LISTS if isinstance(acc.get(k), list) and acc.get(k)), None)
    if not samples or max_examples <= 0:
        return ""
    cells = []
    shown = samples[:max_examples]
    for i, sample in enumerate(shown):
        if not isinstance(sample, Mapping):
            cells.append(f'<div class="ex-head">Example {i + 1}</div><div class="text" style="grid-column: 1 / span 2">{esc(_clip(str(sample)))}</div>')
            continue
        pred = next((sample[k] for k in _PREDICTION_KEYS if sample.get(k) is not None), None)
        ref = next((sample[k] for k in _REFERENCE_KEYS if sample.get(k) is not None), None)
        bits = []
        for key, label in (("qsl_idx", "sample"), ("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L"), ("n_tokens", "tokens"), ("dataset", "dataset"), ("score", "score"), ("extracted", "extracted"), ("reason", "why")):
            if sample.get(key) is not None:
                value = sample[key]
                bits.append(f"{label} {fmt_value(value) if not isinstance(value, str) else esc(value)}")
        head = " \u00b7 ".join(bits) or f"Example {i + 1}"
        pred_html = f'<div class="text">{esc(_clip(str(pred)))}</div>' if pred is not None else '<p class="muted">(no prediction stored)</p>'
        ref_html = (
            f'<div class="text">{esc(_clip(str(ref)))}</div>'
            if ref is not None
            else '<p class="muted">(the reference summary is not stored in summary.json; see the dataset)</p>'
        )
        cells.append(
            f'<div class="ex-head">{head}</div>'
            f'<div><div class="h">Model output</div>{pred_html}</div>'
            f'<div><div class="h">Reference</div>{ref_html}</div>'
        )
    total = len(samples)
    return (
        f"<h3>Example predictions ({len(shown)} of {total})</h3>"
        f'<div class="examples">{"".join(cells)}</div>'
    )


def _details_section(s: Mapping[str, Any]) -> str:
    parts = ["<h2>Engine, environment and parameters</h2>"]
    for key, title in (
        ("engine", "Engine"),
        ("dataset", "Dataset"),
        ("timings_s", "Timings (s)"),
        ("environment", "Environment"),
        ("params", "Stage parameters"),
    ):
        value = s.get(key)
        if isinstance(value, Mapping) and value:
            inner = params_html(value) if key == "params" else kv_table(value)
            parts.append(details(title, inner))
    lg = s.get("loadgen") or {}
    if isinstance(lg, Mapping) and lg:
        settings = lg.get("settings")
        if isinstance(settings, Mapping) and settings:
            parts.append(details("LoadGen settings (as run)", kv_table(settings)))
        skip = ("settings", "raw", "raw_repeated", "latency", "ttft", "tpot", "errors", "warnings")
        parts.append(details("LoadGen result (parsed log)", kv_table(lg, skip=skip)))
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Public
# ---------------------------------------------------------------------------------------------


def stage_parts(
    summary_or_stage_dir: Any,
    rows: Optional[Sequence[Mapping]] = None,
    max_examples: int = 3,
) -> list[Part]:
    """The stage view as a list of ``("html", str)`` and ``("png", bytes, alt)`` parts."""
    summary, failure, rows, stage_dir = _load(summary_or_stage_dir, rows)
    if summary is None:
        name = (failure or {}).get("stage") or (stage_dir.name if stage_dir else None)
        return [("html", _wrap(f"<h2>{esc(name)}</h2>" + failure_html(failure or {}, name), with_style=True))]
    s = summary
    if s.get("lmeval") is not None:  # an lm-eval stage (08_mmlu): accuracy only, no LoadGen
        from mlnb.report.lmeval_view import lmeval_parts

        return lmeval_parts(s)
    parts: list[Part] = []
    top = [_header(s), _simulated_banner(s), _verdict_banner(s), _submittable_note(s)]
    if s.get("status") == "failed":
        top.append('<div class="banner bad"><div class="big">Stage status: failed</div></div>')
    m = key_metrics(s)
    has_perf = any(m[k] is not None for k in m if not k.startswith("rouge") and k != "exact_match")
    if s.get("mode") == "accuracy":
        top.append(_accuracy(s, max_examples))
    if has_perf or s.get("mode") != "accuracy":
        top.append(_key_metrics(s))
        top.append(origin_gap_note(s))
    top.append(_percentile_table(s))
    from mlnb.report.custom_view import prompts_html

    top.append(prompts_html(s))  # custom and synthetic workloads only
    top.append(_loadgen_messages(s))
    parts.append(("html", _wrap("".join(top), with_style=True)))
    if s.get("mode") == "accuracy" and (s.get("accuracy") or {}).get("per_dataset"):
        from mlnb.report.dsr1_view import per_dataset_figure

        parts.append(("png", plots.figure_png(per_dataset_figure(s["accuracy"])), "Exact match and tokens per dataset"))

    from mlnb.results import query_latencies

    lat = query_latencies(rows) if len(rows) else None
    limits = latency_limits(s)
    perf = s.get("mode") != "accuracy"
    sol, sol_why = _speed_of_light(s, rows) if perf else (None, "")
    floors = {"ttft_ms": getattr(sol, "ttft_floor_ms", None), "tpot_ms": getattr(sol, "tpot_floor_ms", None)}
    if s.get("simulated"):  # a simulator's times against a real device's floor would mislead
        floors = {}
    if lat is not None and perf:
        limit_note = (
            " Red dashed lines are LoadGen's p99 limits for this scenario (they apply to LoadGen's own numbers above)."
            if any(v is not None for v in limits.values())
            else ""
        )
        parts.append(
            (
                "html",
                _wrap(
                    "<h2>Per-query latency (SUT timestamps)</h2>"
                    "<p>These come from the SUT's own clock (queries.jsonl), starting when each query reached the SUT, "
                    "so they can sit slightly below LoadGen's figures, which start at LoadGen's scheduled time."
                    f"{esc(limit_note)}</p>" + _sut_table(s)
                ),
            )
        )
        for key, title, limit in (
            ("ttft_ms", "Time to first token (SUT timestamps)", limits.get("ttft_ms")),
            ("tpot_ms", "Time per output token (SUT timestamps)", limits.get("tpot_ms")),
            ("e2e_ms", "End-to-end latency (SUT timestamps)", None),
        ):
            values = lat.get(key)
            if values is not None and values.size:
                fig = plots.latency_distribution(values, title, limit_ms=limit, floor_ms=floors.get(key))
                parts.append(("png", plots.figure_png(fig), title))
    if len(rows):
        if not perf:
            parts.append(("html", _wrap("<h2>Throughput over time (SUT timestamps)</h2><p>An accuracy run: throughput here is not a performance result.</p>")))
        else:
            parts.append(("html", _wrap("<h3>Throughput over time</h3>")))
        fig = plots.throughput_timeline(rows, loadgen_tokens_per_s=key_metrics(s)["tokens_per_second"] if perf else None)
        parts.append(("png", plots.figure_png(fig), "Throughput over time"))
    elif perf:
        parts.append(("html", _wrap('<p class="muted">No queries.jsonl found: per-query plots are not available.</p>')))

    parts.extend(telemetry_parts(s, stage_dir))
    parts.extend(_report_sections(s, rows, stage_dir, perf, sol, sol_why))
    tail = [_accuracy(s, max_examples) if s.get("mode") != "accuracy" else "", _details_section(s)]
    parts.append(("html", _wrap("".join(tail))))
    return parts


def _speed_of_light(s: Mapping[str, Any], rows: Sequence[Mapping]):
    from mlnb.report.sol_view import stage_speed_of_light

    try:
        return stage_speed_of_light(s, rows)
    except Exception as err:  # the section must never cost the report
        return None, f"{err.__class__.__name__}: {err}"


def _report_sections(s, rows, stage_dir, perf: bool, sol, sol_why: str) -> list[Part]:
    """Load-generator health and speed of light (performance), token audit (accuracy), crosswalk."""
    from mlnb.report.crosswalk import crosswalk_html

    simulated = bool(s.get("simulated"))
    out: list[Part] = []
    if perf:
        from mlnb.report.loadgen_health import assess, health_figure, health_html
        from mlnb.report.sol_view import sol_html

        health = assess(s, rows)
        out.append(("html", _wrap(health_html(health, simulated))))
        fig = health_figure(health)
        if fig is not None:
            out.append(("png", plots.figure_png(fig), "Load-generator lag and TTFT by clock origin"))
        out.append(("html", _wrap(sol_html(sol, sol_why, simulated))))
    elif s.get("mode") == "accuracy" and stage_dir is not None:
        from mlnb.report.token_audit import audit_html, audit_stage, lengths_figure

        try:
            audit, why = audit_stage(s, Path(stage_dir))
        except Exception as err:
            audit, why = None, f"{err.__class__.__name__}: {err}"
        out.append(("html", _wrap(audit_html(audit, why, simulated, s.get("scenario")))))
        if audit is not None and audit.output_lengths.size:
            out.append(("png", plots.figure_png(lengths_figure(audit)), "Output length against the reference outputs"))
    out.append(("html", _wrap(crosswalk_html())))
    return out


def stage_html(summary_or_stage_dir: Any, rows: Optional[Sequence[Mapping]] = None, max_examples: int = 3) -> str:
    """The stage view as one HTML fragment, figures embedded as PNG data URIs."""
    parts = stage_parts(summary_or_stage_dir, rows=rows, max_examples=max_examples)
    return "\n".join(part[1] if part[0] == "html" else png_img_html(part[1], part[2]) for part in parts)


def png_img_html(png: bytes, alt: str) -> str:
    """A PNG as an ``<img>`` with a data URI and alt text (nbconvert copies it as is)."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<div class="mlnb"><img class="fig" alt="{esc(alt)}" src="{uri}"></div>'


def display_parts(parts: Sequence[Part]) -> None:
    """Display ``("html", ...)`` / ``("png", ...)`` parts in the notebook, figures with alt text."""
    from IPython.display import HTML, display

    for part in parts:
        display(HTML(part[1] if part[0] == "html" else png_img_html(part[1], part[2])))


def show_stage(summary_or_stage_dir: Any, rows: Optional[Sequence[Mapping]] = None, max_examples: int = 3) -> None:
    """Display a stage's results in the notebook.

    ``summary_or_stage_dir``: the stage folder (or its summary.json), a summary dict, or a
    ``StageSummary``. Per-query plots read ``queries.jsonl`` from the stage folder unless
    ``rows`` are given.
    """
    display_parts(stage_parts(summary_or_stage_dir, rows=rows, max_examples=max_examples))


def params_html(params: Any) -> str:
    """A parameter table; values that differ from the StageParams defaults are bold."""
    if hasattr(params, "model_dump"):
        params = params.model_dump(mode="json")
    params = dict(params or {})
    try:
        from mlnb.config import StageParams

        defaults = {name: field.default for name, field in StageParams.model_fields.items()}
    except Exception:  # pragma: no cover - config unavailable
        defaults = {}
    rows = []
    for key, value in params.items():
        changed = key in defaults and defaults[key] != value
        shown = _value_html(value)
        if changed:
            default = "none" if defaults[key] is None else esc(defaults[key])
            shown = f"<b>{shown}</b> <span class=\"muted\">(default {default})</span>"
        rows.append([f"<code>{esc(key)}</code>", shown])
    return _table(["parameter", "value"], rows)


def show_params(params_dict: Any) -> None:
    """Display the stage's parameters (dict or StageParams) as a table."""
    from IPython.display import HTML, display

    display(HTML(_wrap("<h3>Parameters</h3>" + params_html(params_dict), with_style=True)))
