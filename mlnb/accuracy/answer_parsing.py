"""Answer extraction for the DeepSeek-R1 benchmark, following MLPerf's ``eval_accuracy.py`` rules.

Every parser reads the whole decoded output, reasoning (``<think> ... </think>``) included, as
MLPerf does: only surrounding whitespace is stripped. The multiple-choice parser alone also unwraps
a stringified one-item list and turns a literal ``\\n`` into a newline and ``\\'`` into ``'``, as
MLPerf's does; the other parsers see the text as decoded, so ``split('\\n')`` in a program and
``\\nu`` or ``\\neq`` in a ``\\boxed{}`` answer stay intact.

- multiple choice (GPQA A-D, MMLU-Pro A-J): the LAST "ANSWER"/"FINAL ANSWER" followed by an
  optional ``:``/``=`` and a letter, optionally in parentheses, not followed by another letter;
  case-insensitive. MMLU-Pro alone falls back to the last standalone letter A-J anywhere.
- MATH: the content of the LAST ``\\boxed{...}``, braces matched (nested braces allowed).
- AIME: the last ``\\boxed{digits}``, else the last ``Answer: digits``; an int in 0..999.
- code: the FIRST fenced ```` ```python ```` block.
"""

from __future__ import annotations

import re
from typing import Optional

_BOXED = "\\boxed{"


def _as_text(text: object) -> str:
    """A decoded output with surrounding whitespace stripped; "" for anything that is not text."""
    return text.strip() if isinstance(text, str) else ""


def clean_choice_output(text: object) -> str:
    """MLPerf's cleanup before a multiple-choice answer is read: unwrap ``['...']``, unescape ``\\n`` and ``\\'``."""
    text = _as_text(text)
    if text[:2] in ("['", '["') and text[-2:] in ("']", '"]'):
        text = text[2:-2].strip()
    return text.replace("\\n", "\n").replace("\\'", "'")


def _letter_pattern(last: str) -> re.Pattern[str]:
    return re.compile(
        rf"\b(?:ANSWER|FINAL\s*ANSWER)\b\s*[:=]?\s*\(?\s*([A-{last}])\s*\)?(?=\s*$|[^A-Za-z])",
        re.IGNORECASE,
    )


_GPQA = _letter_pattern("D")
_MMLU_PRO = _letter_pattern("J")
_STANDALONE_A_J = re.compile(r"\b([A-J])\b", re.IGNORECASE)


def parse_choice(text: object, last_letter: str) -> Optional[str]:
    """The answer letter, upper case, or None. ``last_letter`` is "D" (GPQA) or "J" (MMLU-Pro)."""
    cleaned = clean_choice_output(text)
    pattern = _GPQA if last_letter == "D" else _MMLU_PRO if last_letter == "J" else _letter_pattern(last_letter)
    matches = pattern.findall(cleaned)
    if matches:
        return matches[-1].upper()
    if last_letter == "J":
        # MLPerf's MMLU-Pro fallback; note it also takes the English word "a" as the letter A.
        loose = _STANDALONE_A_J.findall(cleaned)
        if loose:
            return loose[-1].upper()
    return None


def last_boxed(text: object) -> Optional[str]:
    """Content of the last ``\\boxed{...}`` with matched braces; None if absent or unclosed."""
    cleaned = _as_text(text)
    start = cleaned.rfind(_BOXED)
    if start < 0:
        return None
    depth = 0
    begin = start + len(_BOXED)
    for pos in range(begin, len(cleaned)):
        char = cleaned[pos]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return cleaned[begin:pos].strip()
            depth -= 1
    return None


_AIME_BOXED = re.compile(r"\\boxed\{\s*(\d+)\s*\}")
_AIME_ANSWER = re.compile(r"Answer:\s*(\d+)(?!\.)\b", re.IGNORECASE | re.MULTILINE)


def parse_aime(text: object) -> Optional[int]:
    """The AIME integer answer (0..999) or None."""
    cleaned = _as_text(text)
    found = _AIME_BOXED.findall(cleaned) or _AIME_ANSWER.findall(cleaned)
    if not found:
        return None
    value = int(found[-1])
    return value if 0 <= value <= 999 else None


_PYTHON_BLOCK = re.compile(r"```python(.*?)```", re.DOTALL)


def parse_code(text: object) -> Optional[str]:
    """The first ```` ```python ```` block's code, stripped, or None."""
    match = _PYTHON_BLOCK.search(_as_text(text))
    return match.group(1).strip() if match else None
