"""Is a MATH answer equal to the reference? The decisions of PRM800K's grader, which MLPerf uses.

MLPerf's DeepSeek-R1 evaluation grades MATH-500 with ``grade_answer`` from PRM800K (openai/prm800k,
``grading/grader.py``). This module is mlnb's own implementation of the same rules, so that a
sample scores here what it scores there (tests/unit/test_math_grader_agreement.py holds the table).
An answer is correct when either test passes:

1. MATH (Hendrycks) normalization: an enclosing ``\\text{}`` dropped, ``\\left``/``\\right``,
   ``\\dfrac``, degrees, ``\\$``, ``\\%``, units after ``\\text{ ``, a short ``k =`` prefix,
   ``\\frac12``/``\\sqrt3`` shorthands, ``0.5`` and ``a/b`` rewritten; the two strings are equal.
2. The grader's normalization (currency and percent signs, ``or``/``and`` as commas, million/billion,
   unit words, LaTeX rendered to text by pylatexenc, spaces and braces dropped, lower case, integers
   canonical) gives equal strings, or, element by element (tuples and intervals need the same
   brackets), sympy simplifies the difference to 0. Two fractions ``a/b`` must match literally (an
   unreduced fraction is wrong), and an integer matches only an integer.

Its consequences, kept on purpose because MLPerf scores this way: ``09`` equals ``9``, ``A`` equals
``a``, ``5\\text{ cm}`` equals ``5``, ``\\frac{58}{30}`` does not equal ``\\frac{29}{15}``, and
``(2^3)^2`` does not equal ``64``.

Two safeguards that the grader lacks: only ASCII letters, digits, single underscores, operators,
brackets and commas reach ``sympy.parse_expr`` (which evaluates its input); and expressions that
would keep sympy busy for minutes (``9**9**9``, deeply nested powers, a factorial of a large number,
more than 400 characters) count as "not equal" where the grader would hang.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

# --- test 1: MATH normalization ------------------------------------------------------------------


class _Unnormalizable(Exception):
    """The MATH normalization gives up; the answer is then compared as written."""


_WHOLE_TEXT = re.compile(r"^\\text\{(?P<inner>.+?)\}$")


def math_normalize(answer: Optional[str]) -> Optional[str]:
    """The Hendrycks-MATH canonical form of an answer (test 1)."""
    if answer is None:
        return None
    text = answer.strip()
    whole = _WHOLE_TEXT.search(text)
    if whole:
        text = whole.group("inner").strip()
    try:
        return _math_form(text)
    except _Unnormalizable:
        return text


def _math_form(text: str) -> str:
    for old, new in (
        ("\n", ""), ("\\!", ""), ("\\\\", "\\"), ("tfrac", "frac"), ("dfrac", "frac"),
        ("\\left", ""), ("\\right", ""), ("^{\\circ}", ""), ("^\\circ", ""), ("\\$", ""),
    ):
        text = text.replace(old, new)
    text = _drop_units_after_text_space(text)
    text = text.replace("\\%", "")
    text = text.replace(" .", " 0.").replace("{.", "{0.")
    if not text:
        return text
    if text.startswith("."):
        text = "0" + text
    sides = text.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:  # "k = 5", "x=3": keep the value
        text = sides[1]
    text = _braced_sqrt(text).replace(" ", "")
    text = _braced_fracs(text)
    if text == "0.5":
        return "\\frac{1}{2}"
    return _slash_to_frac(text)


def _drop_units_after_text_space(text: str) -> str:
    # In MATH, "\text{ " only introduces a unit ("5\text{ cm}"); more than one means "give up".
    parts = text.split("\\text{ ")
    if len(parts) > 2:
        raise _Unnormalizable
    return parts[0]


def _braced_sqrt(text: str) -> str:
    """``\\sqrt3`` -> ``\\sqrt{3}`` (one character)."""
    head, *rest = text.split("\\sqrt")
    pieces = [head]
    for piece in rest:
        if not piece:
            raise _Unnormalizable
        pieces.append(piece if piece[0] == "{" else "{" + piece[0] + "}" + piece[1:])
    return "\\sqrt".join(pieces)


def _braced_fracs(text: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{72}`` -> ``\\frac{1}{72}`` (single characters only)."""
    head, *rest = text.split("\\frac")
    pieces = [head]
    for piece in rest:
        if not piece:
            raise _Unnormalizable
        if piece[0] == "{":
            pieces.append(piece)
            continue
        if len(piece) < 2:
            return text
        first, second, tail = piece[0], piece[1], piece[2:]
        pieces.append("{" + first + "}" + (second if second == "{" else "{" + second + "}") + tail)
    return "\\frac".join(pieces)


def _slash_to_frac(text: str) -> str:
    """``3/4`` (two plain integers) -> ``\\frac{3}{4}``."""
    parts = text.split("/")
    if len(parts) != 2:
        return text
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return text
    if [str(n) for n in numbers] != parts:
        return text
    return "\\frac{%d}{%d}" % tuple(numbers)


# --- test 2: the grader's normalization -----------------------------------------------------------

_UNIT_WORDS = (
    "degree", "cm", "centimeter", "meter", "mile", "second", "minute", "hour",
    "day", "week", "month", "year", "foot", "feet", "inch", "yard",
)
_UNITS = [re.compile(word + r"(es)?(s)? *(\^[0-9]+)?") for word in _UNIT_WORDS]
_DEGREE_SIGN = re.compile(r"\^ *\\circ")
_THIN_SPACE_AFTER_COMMA = re.compile(r",\\! *")
_MINUS_SPACES = re.compile(r"- *")
_MIXED_NUMBER = re.compile(r"([0-9]) +([0-9])")  # "7 3/4" -> "7+3/4"
_THOUSANDS_COMMA = re.compile(r"(\d)(,)(\d\d\d)($|\D)")
_LATEX_SYMBOLS = {"√": "sqrt", "π": "pi", "∞": "inf", "∪": "U", "·": "*", "×": "*"}


def grader_normalize(expr: Optional[str]) -> Optional[str]:
    """The grader's own canonical form of an answer (test 2)."""
    if expr is None:
        return None
    whole = _WHOLE_TEXT.search(expr)
    if whole:
        expr = whole.group("inner")
    expr = expr.replace("\\%", "%").replace("\\$", "$").replace("$", "").replace("%", "")
    expr = expr.replace(" or ", " , ").replace(" and ", " , ")
    expr = expr.replace("million", "*10^6").replace("billion", "*10^9").replace("trillion", "*10^12")
    for unit in _UNITS:
        expr = unit.sub("", expr)
    expr = _DEGREE_SIGN.sub("", expr)
    if expr[:1] == "{" and expr[-1:] == "}":
        expr = expr[1:-1]
    expr = _THIN_SPACE_AFTER_COMMA.sub("", expr)
    number = _as_float(expr)
    if number is not None and _near_integer(number):
        expr = str(int(round(number)))
    if "\\" in expr:
        expr = _latex_as_text(expr)
    expr = _MINUS_SPACES.sub("-", expr)
    expr = _MIXED_NUMBER.sub(r"\1+\2", expr)
    expr = expr.replace(" ", "").replace("{", "").replace("}", "").lower()
    if _is_integer_text(expr):
        expr = str(int(float(expr.replace(",", ""))))
    return expr


def _as_float(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def _near_integer(number: float) -> bool:
    try:
        return abs(number - int(round(number))) <= 1e-7
    except (OverflowError, ValueError):  # inf, nan
        return False


def _strip_thousands_commas(text: str) -> str:
    while True:
        stripped = _THOUSANDS_COMMA.sub(r"\1\3\4", text)
        if stripped == text:
            return stripped
        text = stripped


def _is_integer_text(text: str) -> bool:
    number = _as_float(_strip_thousands_commas(text))
    return number is not None and _near_integer(number)


@lru_cache(maxsize=1)
def _latex_renderer():
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text()


def _latex_as_text(expr: str) -> str:
    """LaTeX rendered to plain text with pylatexenc, as the grader does; unchanged if that fails."""
    source = expr.replace("\\tfrac", "\\frac").replace("\\dfrac", "\\frac").replace("\\frac", " \\frac")
    try:
        text = _latex_renderer().latex_to_text(source)
    except Exception:  # noqa: BLE001 - the grader keeps the text as it was
        return expr
    for symbol, word in _LATEX_SYMBOLS.items():
        text = text.replace(symbol, word)
    return text.strip()


# --- comparing the normalized forms ----------------------------------------------------------------

_BRACKETS = "()[]"
_PLAIN_FRACTION = re.compile(r"^-?[0-9]+.?/0*[1-9][0-9]*.?$")  # the grader's pattern, '.' included


def _elements(expr: str) -> list[str]:
    """A tuple or interval ``(a,b)``/``[a,b)`` split into elements; anything else is one element."""
    expr = _strip_thousands_commas(expr)
    if not expr:
        return []
    inner = expr[1:-1]
    if len(expr) > 2 and expr[0] in _BRACKETS and expr[-1] in _BRACKETS and not any(b in inner for b in _BRACKETS):
        return [element.strip() for element in inner.split(",")]
    return [expr]


def _elements_equal(reference: str, given: str) -> bool:
    if _PLAIN_FRACTION.search(reference) and _PLAIN_FRACTION.search(given):
        return reference == given  # 2/4 is not an answer to 1/2
    if _is_integer_text(reference) != _is_integer_text(given):
        return False  # an integer reference needs an integer
    return _sympy_equal(reference, given)


def answers_equal(given: Optional[str], reference: object) -> bool:
    """True when the model's answer (a ``\\boxed{}`` content) is graded correct against the reference."""
    if given is None or reference is None:
        return False
    truth = str(reference)
    if math_normalize(truth) == math_normalize(given):
        return True
    truth_form, given_form = grader_normalize(truth), grader_normalize(given)
    if truth_form == given_form:
        return True
    if not given_form:
        return False
    truth_parts, given_parts = _elements(truth_form), _elements(given_form)
    if len(truth_parts) > 1 and (truth_form[0], truth_form[-1]) != (given_form[0], given_form[-1]):
        return False  # (a,b) against [a,b]
    if len(truth_parts) != len(given_parts):
        return False
    return all(_elements_equal(t, g) for t, g in zip(truth_parts, given_parts))


# --- sympy ------------------------------------------------------------------------------------------

# The grader's own limits: no more than two unknown letters, no braced or bracketed exponents, no
# multi-digit or chained exponents.
_EXPONENT_GROUP = ("^{", "^(")
_BIG_EXPONENT = [re.compile(r"\^[0-9]+\^"), re.compile(r"\^[0-9][0-9]+")]
# mlnb's: text that reaches parse_expr (an eval), and inputs that would not finish: the grader's
# exponent limits also applied to a Python "**" (9**9**9), nested powers ((((2^9)^9)^9)^9), and
# factorials of large numbers.
MAX_SYMPY_CHARS = 400
_SAFE_CHARS = re.compile(r"[A-Za-z0-9_+\-*/^().,!\s]*")  # "_" for subscripts (x_1); "__" is refused
_BIG_FACTORIAL = re.compile(r"[0-9]{5,}\)*\s*!")
MAX_PARENTHESIZED_POWERS = 3


def _grader_allows(expr: str) -> bool:
    letters = {c for c in expr.replace("sqrt", "").replace("frac", "") if c.isalpha()}
    if len(letters) > 2:
        return False
    if any(group in expr for group in _EXPONENT_GROUP):
        return False
    return not any(pattern.search(expr) for pattern in _BIG_EXPONENT)


def _safe_for_sympy(expr: str) -> bool:
    if len(expr) > MAX_SYMPY_CHARS or not _SAFE_CHARS.fullmatch(expr) or "__" in expr:
        return False
    as_carets = expr.replace("**", "^")
    if "**" in expr and not _grader_allows(as_carets):
        return False
    return as_carets.count(")^") <= MAX_PARENTHESIZED_POWERS and not _BIG_FACTORIAL.search(expr)


def _sympy_equal(reference: str, given: str) -> bool:
    expr = f"({reference})-({given})"
    if not _grader_allows(expr):
        return False
    if not _safe_for_sympy(expr):
        return False
    python_expr = expr.replace("^", "**")
    import sympy
    from sympy.parsing.sympy_parser import implicit_multiplication_application, parse_expr, standard_transformations

    try:
        difference = parse_expr(python_expr, transformations=standard_transformations + (implicit_multiplication_application,))
        return sympy.simplify(difference) == 0
    except Exception:  # noqa: BLE001 - anything sympy cannot read or subtract is "not equal"
        return False
