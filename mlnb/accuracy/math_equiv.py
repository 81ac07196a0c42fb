"""Is a MATH answer equal to the reference? Normalized text first, then sympy.

MLPerf grades MATH-500 with PRM800K's grader; this is mlnb's own implementation of the same idea
(README, "Where MLPerf's reference code differs"): both answers are normalized (LaTeX spacing,
``\\left``/``\\right``, ``\\dfrac``, ``\\text{}``, degrees, percent, thousands separators, a leading
``x =``), compared as strings, and when the strings differ, converted to sympy expressions and
compared by value (``\\frac{1}{2}`` equals ``0.5``) and then symbolically. Tuples and intervals
are compared element by element and their brackets must agree.

The LaTeX-to-sympy step never evaluates arbitrary text: only digits, operators, brackets, single
letter variables and a short list of function names reach ``sympy.parse_expr``; anything else is
compared as a string only.
"""

from __future__ import annotations

import re
from typing import Optional

MAX_SYMPY_CHARS = 120  # longer answers are compared as strings only (simplify can take seconds)

_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d])")
_LEADING_VAR = re.compile(r"^[a-zA-Z]\s*=\s*(?=\S)")
_SHORT_FRAC = re.compile(r"\\frac(\d)(\d)")
_SHORT_FRAC_ARG = re.compile(r"\\frac\{([^{}]*)\}(\d)")
_SHORT_SQRT = re.compile(r"\\sqrt(\d+|[a-zA-Z])")


def normalize(answer: str) -> str:
    """A canonical text form of a MATH answer (idempotent)."""
    return _normalize(answer, keep_spaces=False)


def _normalize(answer: str, keep_spaces: bool) -> str:
    # Spaces are kept for sympy, where "x^2 y" is a product and "x^2y" would not be.
    text = str(answer).strip()
    text = text.replace("\n", " ").replace("$", "")
    text = _SPACING.sub("", text)
    text = text.replace("\\left", "").replace("\\right", "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    for _ in range(3):  # \text{\text{..}} is rare; three rounds are plenty
        text = _TEXT.sub(r"\1", text)
    text = text.replace("^\\circ", "").replace("^{\\circ}", "").replace("\\circ", "").replace("°", "")
    text = text.replace("\\%", "").replace("%", "")
    text = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _LEADING_VAR.sub("", text)
    text = _SHORT_FRAC.sub(r"\\frac{\1}{\2}", text)
    text = _SHORT_FRAC_ARG.sub(r"\\frac{\1}{\2}", text)
    text = _SHORT_SQRT.sub(r"\\sqrt{\1}", text)
    if keep_spaces:  # only spaces between letters and digits carry meaning ("x y" is a product)
        text = re.sub(r"\s*([{}()\[\],^_+\-*/=])\s*", r"\1", " ".join(text.split()))
    else:
        text = text.replace(" ", "")
    text = text.strip().rstrip(".")
    if re.fullmatch(r"-?\d+\.\d*?0+", text):  # 2.50 -> 2.5, 3.0 -> 3
        text = text.rstrip("0").rstrip(".")
    if text.startswith("."):
        text = "0" + text
    return text


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _brackets(text: str) -> tuple[str, str, str]:
    """(opening, inner, closing) for ``(a,b)`` / ``[a,b)`` style answers, else ("", text, "")."""
    if len(text) >= 2 and text[0] in "([" and text[-1] in ")]":
        inner = text[1:-1]
        depth = 0
        for char in inner:  # the outer pair must enclose everything: "(1)+(2)" is not a tuple
            depth += char in "([{"
            depth -= char in ")]}"
            if depth < 0:
                return "", text, ""
        return text[0], inner, text[-1]
    return "", text, ""


# --- LaTeX to a sympy-readable string -----------------------------------------------------------

_ALLOWED_NAMES = {"sqrt", "pi", "oo", "sin", "cos", "tan", "log", "ln", "exp", "I"}
_COMMANDS = {
    "\\pi": "pi",
    "\\infty": "oo",
    "\\cdot": "*",
    "\\times": "*",
    "\\div": "/",
    "\\sin": "sin",
    "\\cos": "cos",
    "\\tan": "tan",
    "\\ln": "ln",
    "\\log": "log",
    "\\exp": "exp",
}


def _read_group(text: str, pos: int) -> tuple[Optional[str], int]:
    """The ``{...}`` group starting at ``pos`` (braces matched) and the index after it."""
    if pos >= len(text) or text[pos] != "{":
        return None, pos
    depth = 0
    for end in range(pos, len(text)):
        depth += text[end] == "{"
        depth -= text[end] == "}"
        if depth == 0:
            return text[pos + 1 : end], end + 1
    return None, pos


def _latex_to_expr(text: str) -> Optional[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text.startswith("\\frac", pos):
            num, after = _read_group(text, pos + 5)
            den, after = _read_group(text, after) if num is not None else (None, after)
            if num is None or den is None:
                return None
            a, b = _latex_to_expr(num), _latex_to_expr(den)
            if a is None or b is None:
                return None
            out.append(f"(({a})/({b}))")
            pos = after
            continue
        if text.startswith("\\sqrt", pos):
            pos += 5
            root = None
            if pos < len(text) and text[pos] == "[":
                close = text.find("]", pos)
                if close < 0:
                    return None
                root, pos = _latex_to_expr(text[pos + 1 : close]), close + 1
            body, pos = _read_group(text, pos)
            inner = _latex_to_expr(body) if body is not None else None
            if inner is None:
                return None
            out.append(f"sqrt({inner})" if root is None else f"(({inner})**(1/({root})))")
            continue
        if text[pos] == "\\":
            command = re.match(r"\\[a-zA-Z]+", text[pos:])
            name = command.group(0) if command else "\\"
            if name not in _COMMANDS:
                return None
            out.append(f" {_COMMANDS[name]} ")
            pos += len(name)
            continue
        char = text[pos]
        out.append({"{": "(", "}": ")", "^": "**"}.get(char, char))
        pos += 1
    expr = "".join(out)
    if not re.fullmatch(r"[0-9A-Za-z+\-*/().,\s]*", expr):
        return None
    for name in re.findall(r"[A-Za-z]+", expr):
        if len(name) > 1 and name not in _ALLOWED_NAMES:
            return None
    return expr


_BIG_LITERAL = re.compile(r"\d{16,}")
_BIG_EXPONENT = re.compile(r"\*\*\s*\(*\s*-?\d{4,}")
_NESTED_POWER = re.compile(r"\*\*\s*[\w.]+\s*\*\*|\*\*\s*\([^()]*\*\*")  # 9^9^9, 9^{9^9}


def _too_costly(expr: str) -> bool:
    """Towers like 9^{9^{9}} or 10^{99999} would take sympy minutes and gigabytes to evaluate."""
    return bool(_BIG_LITERAL.search(expr) or _BIG_EXPONENT.search(expr) or _NESTED_POWER.search(expr))


def _to_sympy(text: str):
    if len(text) > MAX_SYMPY_CHARS:
        return None
    expr = _latex_to_expr(text)
    if expr is None or not expr.strip() or _too_costly(expr.replace("^", "**")):
        return None
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    try:
        return parse_expr(expr, transformations=transformations, evaluate=True)
    except Exception:  # noqa: BLE001 - unparsable text is simply "not equal"
        return None


def _sympy_equal(given: str, reference: str) -> bool:
    import sympy

    a, b = _to_sympy(given), _to_sympy(reference)
    if a is None or b is None:
        return False
    try:
        diff = a - b
        if diff == 0:
            return True
        if not diff.free_symbols and not b.free_symbols:
            value = complex(sympy.N(diff, 30))
            scale = max(1.0, abs(complex(sympy.N(b, 30))))
            return abs(value) <= 1e-9 * scale
        return sympy.simplify(diff) == 0
    except Exception:  # noqa: BLE001 - e.g. a tuple minus a number
        return False


def answers_equal(given: Optional[str], reference: object) -> bool:
    """True when the model's answer (a ``\\boxed{}`` content) equals the reference answer."""
    if given is None or reference is None:
        return False
    if not normalize(given) or not normalize(str(reference)):
        return False
    if normalize(given) == normalize(str(reference)):
        return True
    g, r = _normalize(given, keep_spaces=True), _normalize(str(reference), keep_spaces=True)
    g_open, g_inner, g_close = _brackets(g)
    r_open, r_inner, r_close = _brackets(r)
    g_parts, r_parts = _split_top_level(g_inner), _split_top_level(r_inner)
    if len(g_parts) > 1 or len(r_parts) > 1:
        if (g_open, g_close) != (r_open, r_close) or len(g_parts) != len(r_parts):
            return False
        return all(normalize(x) == normalize(y) or _sympy_equal(x.strip(), y.strip()) for x, y in zip(g_parts, r_parts))
    return _sympy_equal(g, r)
