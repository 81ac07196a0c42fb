"""The Jinja2 environment of mlnb's pages and the small helpers every view shares.

The markup lives in templates under ``mlnb/report/templates/`` (``base.html.j2`` the page layout,
``macros.html.j2`` the banner, cards, table, figure and details pieces, one file per view); Python
gathers the data and calls :func:`render` or :func:`macro`. Autoescaping is on, so any text from a
file (model output above all) is inert; :class:`Markup` marks only HTML this code built from
escaped parts. The stage report's sub-views, the run index, the run summary, the runs list and
the comparison import these helpers from here, never from each other.
"""

from __future__ import annotations

import base64
import json
import math
from functools import lru_cache
from typing import Any, Iterable, Mapping, Optional, Sequence

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from mlnb.report.plots import COLORS, verdict_color

__all__ = [
    "CSS",
    "Markup",
    "Part",
    "details",
    "display_parts",
    "environment",
    "esc",
    "fmt_value",
    "kv_table",
    "macro",
    "plural",
    "png_img_html",
    "render",
    "simulated_tag",
    "style_tag",
    "table",
    "value_html",
    "verdict_pill",
    "wrap",
]

Part = tuple  # ("html", str) or ("png", bytes, alt_text)


def esc(value: Any) -> str:
    """Text made inert, escaped exactly as the templates' autoescaping does (markupsafe)."""
    return str(escape("" if value is None else str(value)))


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


def _fmt_filter(value: Any, digits: Optional[int] = None) -> Markup:
    """``{{ x | fmt }}``: numbers formatted; anything else escaped once (fmt_value escapes text)."""
    if isinstance(value, Markup):
        return value
    return Markup(fmt_value(value, digits))


def fixed_digits(value: Any, digits: int = 2) -> Markup:
    """``{{ x | num(1) }}``: floats with ``digits`` decimals (telemetry's means and peaks), the rest as ``fmt``."""
    return _fmt_filter(value, digits)


def plural(count: Any, noun: str, many: Optional[str] = None) -> str:
    """'1 query', '2 queries', '1,234 samples': the count with the noun in the right number."""
    if many is None:
        many = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    number = fmt_value(count) if isinstance(count, (int, float)) and not isinstance(count, bool) else esc(count)
    return f"{number} {noun if count == 1 else many}"


def _value_kind(value: Any) -> str:
    """How :func:`value_html` shows a value (the template ``value`` macro switches on it)."""
    if isinstance(value, Mapping):
        if not value:
            return "empty mapping"
        if all(not isinstance(v, (Mapping, list)) for v in value.values()) and len(value) <= 40:
            return "flat mapping"
        return "json"
    if isinstance(value, (list, tuple)):
        if not value:
            return "empty list"
        if all(isinstance(v, (str, int, float)) for v in value):
            if len(value) > 1 and any(isinstance(v, str) and len(v) > 30 for v in value):
                return "long strings"
            return "short list"
        return "json"
    if isinstance(value, bool):
        return "number"
    if isinstance(value, int) and abs(value) >= 10**9:  # seeds and ids: digits, no separators
        return "text"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "missing"
    return "text"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one Jinja2 environment: templates from the package, autoescaping on for everything."""
    env = Environment(
        loader=PackageLoader("mlnb.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=lambda value: "" if value is None else value,  # a missing value shows empty, as esc(None) did
    )
    env.filters["fmt"] = _fmt_filter
    env.filters["num"] = fixed_digits
    env.filters["plural"] = lambda count, noun, many=None: Markup(plural(count, noun, many))
    env.filters["pretty_json"] = lambda value, indent=1: json.dumps(value, indent=indent, default=str)
    env.globals.update(colors=COLORS, verdict_color=verdict_color, value_kind=_value_kind)
    return env


def render(template: str, **context: Any) -> str:
    """A whole template rendered to a string."""
    return environment().get_template(template).render(**context)


def macro(template: str, name: str, *args: Any, inner: Any = None, **kwargs: Any) -> Markup:
    """One macro of a template, called from Python; ``inner`` (HTML, Markup) is what ``caller()`` returns."""
    fn = getattr(environment().get_template(template).module, name)
    if inner is not None:
        kwargs["caller"] = lambda: Markup(inner)
    return Markup(fn(*args, **kwargs))


def _macros(name: str, *args: Any, **kwargs: Any) -> str:
    return str(macro("macros.html.j2", name, *args, **kwargs))


CSS = render("mlnb.css.j2", colors=COLORS)


def verdict_pill(verdict: Optional[str]) -> str:
    return _macros("verdict_pill", verdict)


def simulated_tag() -> str:
    return _macros("simtag")


def style_tag() -> str:
    return _macros("style", Markup(CSS))


def wrap(inner: str, with_style: bool = False, extra_css: str = "") -> str:
    """A block of the page inside the ``.mlnb`` scope (with the stylesheet, and a view's own, for the first block)."""
    return render("section.html.j2", inner=Markup(inner), css=Markup(CSS) if with_style else None,
                  extra_css=Markup(extra_css) if with_style and extra_css else None)


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (), cls: str = "t") -> str:
    """Header and cells are HTML already (the callers escape text, or pass values the macro escapes)."""
    header = [Markup(h) for h in header]
    rows = [[c if isinstance(c, Markup) else Markup(c) for c in row] for row in rows]
    return _macros("table", header, rows, tuple(numeric), cls)


def value_html(value: Any) -> str:
    return _macros("value", value)


def kv_table(data: Mapping[str, Any], skip: Sequence[str] = ()) -> str:
    return _macros("kv_table", data, tuple(skip))


def details(title: str, inner: str, open_: bool = False) -> str:
    return _macros("details", title, open_, inner=inner)


def png_img_html(png: bytes, alt: str) -> str:
    """A PNG as an ``<img>`` with a data URI and alt text (nbconvert copies it as is)."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return wrap(_macros("figure", uri, alt))


def display_parts(parts: Sequence[Part]) -> None:
    """Display ``("html", ...)`` / ``("png", ...)`` parts in the notebook, figures with alt text."""
    from IPython.display import HTML, display

    for part in parts:
        display(HTML(part[1] if part[0] == "html" else png_img_html(part[1], part[2])))
