"""The small HTML pieces every mlnb page shares: the stylesheet, escaping, number formatting, pills, tables.

The stage report's sub-views, the run index, the run summary, the runs list and the comparison
all import these from here (and nothing from each other's private names). Every piece of text
that comes from a file (model output above all) goes through :func:`esc`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from typing import Any, Iterable, Mapping, Optional, Sequence

from mlnb.report.plots import COLORS, verdict_color

__all__ = [
    "CSS",
    "Part",
    "details",
    "display_parts",
    "esc",
    "fmt_value",
    "kv_table",
    "plural",
    "png_img_html",
    "simulated_tag",
    "style_tag",
    "table",
    "value_html",
    "verdict_pill",
    "wrap",
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


def wrap(inner: str, with_style: bool = False) -> str:
    return (style_tag() if with_style else "") + f'<div class="mlnb">{inner}</div>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """Cells are HTML already (escape text before passing it)."""
    head = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def value_html(value: Any) -> str:
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
    rows = [(f"<code>{esc(k)}</code>", value_html(v)) for k, v in data.items() if k not in skip]
    return table(["key", "value"], rows)


def details(title: str, inner: str, open_: bool = False) -> str:
    return f'<details{" open" if open_ else ""}><summary>{esc(title)}</summary>{inner}</details>'


def png_img_html(png: bytes, alt: str) -> str:
    """A PNG as an ``<img>`` with a data URI and alt text (nbconvert copies it as is)."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<div class="mlnb"><img class="fig" alt="{esc(alt)}" src="{uri}"></div>'


def display_parts(parts: Sequence[Part]) -> None:
    """Display ``("html", ...)`` / ``("png", ...)`` parts in the notebook, figures with alt text."""
    from IPython.display import HTML, display

    for part in parts:
        display(HTML(part[1] if part[0] == "html" else png_img_html(part[1], part[2])))
