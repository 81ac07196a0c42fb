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
    """Per compared run: the headline, a table per stage (metric, A, B, change, interval, verdict), the reasons."""
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
        reasons: dict[str, None] = {}
        for stage in c.get("stages") or []:
            diffs = stage["comparisons"][index]["differences"]
            if not diffs:
                continue
            table = Table(title=f"{stage['stage']} ({stage.get('scenario')}, {stage.get('mode')})", title_justify="left",
                          header_style="bold", expand=False)
            table.add_column("metric", no_wrap=True)
            table.add_column(f"A {runs[0]['run_id']}", justify="right", no_wrap=True)
            table.add_column(f"B {runs[index + 1]['run_id']}", justify="right", no_wrap=True)
            table.add_column("change", justify="right", no_wrap=True)
            table.add_column("95 % interval of B \u2212 A", justify="right")
            table.add_column("verdict", no_wrap=True)
            for d in diffs:
                unit = d.get("unit") or ""
                table.add_row(f"{d['label']} {d['stat']}", _number(d.get("a"), unit), _number(d.get("b"), unit),
                              _pct(d.get("rel")), _interval(d),
                              Text(d["verdict"], style=_VERDICT_STYLE.get(d["verdict"], "")))
                if d["verdict"] in ("no interval", "inconclusive") and d.get("reason"):
                    reasons[f"{d['verdict']}: {d['reason']}"] = None
            out.append(table)
        if reasons:
            out.append(Text("Why not judged:\n" + "\n".join(f"  - {r}" for r in reasons), style="dim"))
    return out


def print_comparison(c: Mapping[str, Any], console: Optional[Console] = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or logged: rich would assume 80 columns
            console = Console(width=max(console.width, 120))
    console.print(Group(*comparison_renderables(c)))


def comparison_text(c: Mapping[str, Any], width: int = 160) -> str:
    """The terminal output as plain text, ``width`` columns wide."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    print_comparison(c, console)
    return buffer.getvalue()
