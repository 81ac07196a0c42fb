"""``mlnb compare`` in the terminal: the headline and a table of every metric, its change and interval.

Rendered with rich, so the table fits the terminal's width; :func:`comparison_text` gives the same
as plain text (what tests and logs read).
"""

from __future__ import annotations

import io
from typing import Any, Mapping, Optional

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

__all__ = ["comparison_renderables", "comparison_text", "print_comparison"]

_VERDICT_STYLE = {"regression": "bold red", "improvement": "bold green", "changed": "yellow",
                  "inconclusive": "dim", "no interval": "dim", "mixed": "bold yellow"}


def _number(value: Optional[float], unit: str = "", signed: bool = False) -> str:
    if value is None:
        return "\u2014"
    magnitude = abs(value)
    text = f"{value:+,.0f}" if signed and magnitude >= 1000 else f"{value:,.0f}" if magnitude >= 1000 else \
        (f"{value:+.3g}" if signed else f"{value:.4g}")
    return f"{text} {unit}".rstrip() if unit not in ("/s", "ROUGE") else text


def _pct(rel: Optional[float]) -> str:
    return "\u2014" if rel is None else f"{rel * 100:+,.1f} %".replace("-", "\u2212")


def _interval(d: Mapping[str, Any]) -> str:
    if d.get("ci_low") is None:
        return "none"
    return f"[{_number(d['ci_low'], signed=True)}, {_number(d['ci_high'], signed=True)}]"


def comparison_renderables(c: Mapping[str, Any]) -> list[Any]:
    """The headline of each compared run, then one table per compared run: stage, metric, A, B, change, interval, verdict."""
    out: list[Any] = []
    runs = c["runs"]
    for index, line in enumerate(c.get("overall") or []):
        verdict = line["verdict"]
        head = Text()
        head.append(f"{line['run_id']} vs {line['against']}: ", style="bold")
        head.append(verdict.upper(), style=_VERDICT_STYLE.get(verdict, "bold"))
        if line.get("headline"):
            head.append(f" \u2014 {line['headline']}")
        out.append(head)
        table = Table(show_lines=False, header_style="bold", expand=False)
        for name, justify in (("stage", "left"), ("metric", "left"), (f"A {runs[0]['run_id']}", "right"),
                              (f"B {runs[index + 1]['run_id']}", "right"), ("change", "right"),
                              ("95 % interval of B \u2212 A", "right"), ("verdict", "left"), ("why", "left")):
            table.add_column(name, justify=justify, overflow="fold")
        for stage in c.get("stages") or []:
            for d in stage["comparisons"][index]["differences"]:
                unit = d.get("unit") or ""
                table.add_row(stage["stage"], f"{d['label']} {d['stat']}", _number(d.get("a"), unit),
                              _number(d.get("b"), unit), _pct(d.get("rel")), _interval(d),
                              Text(d["verdict"], style=_VERDICT_STYLE.get(d["verdict"], "")), d.get("reason") or "")
        out.append(table)
    return out


def print_comparison(c: Mapping[str, Any], console: Optional[Console] = None) -> None:
    (console or Console()).print(Group(*comparison_renderables(c)))


def comparison_text(c: Mapping[str, Any], width: int = 160) -> str:
    """The terminal output as plain text, ``width`` columns wide."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    print_comparison(c, console)
    return buffer.getvalue()
