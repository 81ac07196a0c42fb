"""Generate the embedded DeepSeek-R1-format dataset (``embedded_dsr1/deepseek_r1_eval.json``).

Every problem is written by this script: small templates with numbers chosen by a fixed seed,
and every reference answer (and every code test's expected output) computed here, so the file
is reproducible and correct by construction. Nothing comes from AIME, MATH, GPQA, MMLU-Pro or
LiveCodeBench; only the record schema and the five answer formats follow MLPerf's dataset.

    python -m mlnb.data.make_embedded_dsr1          # rewrites the file
    python -m mlnb.data.make_embedded_dsr1 --check  # exits 1 if the file is out of date
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from fractions import Fraction
from math import gcd

from mlnb.data.dsr1 import EMBEDDED_DATASET
from mlnb.fileio import write_text_atomic

SEED = 20261201
LETTERS = "ABCDEFGHIJ"

MATH_INSTRUCTION = "Think it through step by step, then give the final answer inside \\boxed{}."
CHOICE_INSTRUCTION = "Think it through, then end with a line of the form 'Answer: X', where X is the letter of your choice."
CODE_INSTRUCTION = (
    "Write a Python 3 program that reads from standard input and writes to standard output. "
    "Give the complete program in one ```python code block."
)


def _aime(rng: random.Random) -> list[dict]:
    out = []
    base, exp = rng.choice([3, 7, 11, 13]), rng.randint(200, 900)
    out.append((f"What are the last three digits of {base}^{{{exp}}}? Give the answer as an integer from 0 to 999.", pow(base, exp, 1000)))
    n = rng.randint(40, 90)
    count = sum(1 for a in range(1, n + 1) for b in range(a, n + 1) if (a * b) % 6 == 0 and a + b <= n)
    out.append((f"How many pairs of integers (a, b) with 1 <= a <= b satisfy a + b <= {n} and 6 divides ab?", count % 1000))
    m = rng.randint(5, 9)
    paths = 1
    for i in range(m):
        paths = paths * (2 * m - i) // (i + 1)
    out.append((f"A token moves on a grid from (0, 0) to ({m}, {m}) using unit steps right or up. Find the number of paths modulo 1000.", paths % 1000))
    k = rng.randint(12, 30)
    total = sum(d for d in range(1, k * k + 1) if (k * k) % d == 0)
    out.append((f"Let S be the sum of all positive divisors of {k * k}. Find S modulo 1000.", total % 1000))
    return [
        {"text_input": f"{q}\n\n{MATH_INSTRUCTION}", "question": q, "ground_truth": str(a), "dataset": "aime"}
        for q, a in out
    ]


def _frac_latex(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _math(rng: random.Random) -> list[dict]:
    out = []
    a, b, c, d = (rng.randint(2, 9) for _ in range(4))
    value = Fraction(a, b) + Fraction(c, d)
    out.append((f"Compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$ as a fraction in lowest terms.", _frac_latex(value)))
    r1, r2 = rng.randint(1, 6), rng.randint(7, 12)
    out.append((f"Find the larger root of $x^2 - {r1 + r2}x + {r1 * r2} = 0$.", str(r2)))
    s = rng.choice([8, 12, 18, 20, 27, 50])
    root = {8: "2\\sqrt{2}", 12: "2\\sqrt{3}", 18: "3\\sqrt{2}", 20: "2\\sqrt{5}", 27: "3\\sqrt{3}", 50: "5\\sqrt{2}"}[s]
    out.append((f"Simplify $\\sqrt{{{s}}}$.", root))
    p, q = rng.randint(1, 5), rng.randint(6, 9)
    out.append((f"Find the point where the lines $y = {p}x + {q}$ and $y = -x + {q + 2 * (p + 1)}$ meet. Write it as $(x, y)$.", f"(2,{2 * p + q})"))
    return [
        {"text_input": f"{q}\n\n{MATH_INSTRUCTION}", "question": q, "ground_truth": a, "dataset": "math500"}
        for q, a in out
    ]


def _choice_prompt(question: str, options: list[str]) -> str:
    lines = [question, ""] + [f"({LETTERS[i]}) {text}" for i, text in enumerate(options)]
    return "\n".join(lines) + f"\n\n{CHOICE_INSTRUCTION}"


def _shuffle_with_answer(rng: random.Random, correct: str, wrong: list[str]) -> tuple[list[str], str]:
    options = [correct] + wrong
    assert len(set(options)) == len(options), options  # every choice must be distinct
    rng.shuffle(options)
    return options, LETTERS[options.index(correct)]


def _gpqa(rng: random.Random) -> list[dict]:
    rows = []
    h = rng.choice([20, 45, 80, 125])
    t = (2 * h / 10) ** 0.5
    rows.append((f"A stone is released from rest {h} m above the ground. Taking g = 10 m/s^2 and ignoring air, how long does it take to land?",
                 f"{t:.1f} s", [f"{t * 2:.1f} s", f"{t + 1:.1f} s", f"{t / 2:.1f} s"]))
    moles = rng.choice([2, 3, 4])
    rows.append((f"How many grams of water form when {moles} mol of hydrogen gas burn completely in excess oxygen (H2O: 18 g/mol)?",
                 f"{18 * moles} g", [f"{9 * moles} g", f"{36 * moles} g", f"{18 * moles + 16} g"]))
    half, periods = rng.choice([5, 8, 12]), rng.choice([2, 3, 4])
    left = 100 / 2**periods
    rows.append((f"A sample of a radioactive isotope with a half-life of {half} days is kept for {half * periods} days. What percentage of it remains?",
                 f"{left:g}%", [f"{100 - left:g}%", f"{left / 2:g}%", f"{left * 2:g}%"]))
    ohms, volts = rng.choice([4, 6, 8]), rng.choice([12, 24])
    rows.append((f"Two identical {ohms}-ohm resistors are connected in parallel across a {volts} V source. What current flows from the source?",
                 f"{volts / (ohms / 2):g} A", [f"{volts / (2 * ohms):g} A", f"{volts / ohms:g} A", f"{volts * ohms:g} A"]))
    out = []
    for question, correct, wrong in rows:
        options, letter = _shuffle_with_answer(rng, correct, wrong)
        out.append({"text_input": _choice_prompt(question, options), "question": question, "ground_truth": letter, "dataset": "gpqa"})
    return out


def _mmlu_pro(rng: random.Random) -> list[dict]:
    out = []
    for _ in range(4):
        kind = rng.choice(["percent", "speed", "lcm", "area"]) if out else "percent"
        if kind == "percent":
            price, pct = rng.randint(40, 200), rng.choice([10, 15, 20, 25])
            value = price * (100 - pct) / 100
            question = f"A shop lowers the price of a {price}-dollar jacket by {pct}%. What is the new price in dollars?"
        elif kind == "speed":
            km, hours = rng.choice([120, 180, 240]), rng.choice([2, 3, 4])
            value = km / hours
            question = f"A train covers {km} km in {hours} hours at a constant speed. What is its speed in km/h?"
        elif kind == "lcm":
            x, y = rng.randint(4, 15), rng.randint(4, 15)
            value = x * y // gcd(x, y)
            question = f"What is the least common multiple of {x} and {y}?"
        else:
            w, l = rng.randint(3, 12), rng.randint(3, 12)
            value = w * l
            question = f"A rectangle is {w} m wide and {l} m long. What is its area in square metres?"
        correct = f"{value:g}"
        wrong = sorted({f"{value + delta:g}" for delta in (-7, -5, -3, -2, -1, 1, 2, 4, 6, 9)} - {correct})[:9]
        options, letter = _shuffle_with_answer(rng, correct, wrong)
        out.append({"text_input": _choice_prompt(question, options), "question": question, "ground_truth": letter, "dataset": "mmlu_pro"})
    return out


def _code_problems() -> list[tuple[str, object, list[str]]]:
    def sum_pairs(text: str) -> str:
        lines = text.split("\n")
        n = int(lines[0])
        return "\n".join(str(sum(map(int, lines[1 + i].split()))) for i in range(n)) + "\n"

    def longest_run(text: str) -> str:
        s = text.strip()
        best = run = 1
        for i in range(1, len(s)):
            run = run + 1 if s[i] == s[i - 1] else 1
            best = max(best, run)
        return f"{best}\n"

    def max_subarray(text: str) -> str:
        values = list(map(int, text.split()[1:]))
        best, current = values[0], 0
        for v in values:
            current = max(v, current + v)
            best = max(best, current)
        return f"{best}\n"

    def balanced(text: str) -> str:
        pairs, stack, ok = {")": "(", "]": "[", "}": "{"}, [], True
        for char in text.strip():
            if char in "([{":
                stack.append(char)
            elif not stack or stack.pop() != pairs[char]:
                ok = False
                break
        return "YES\n" if ok and not stack else "NO\n"

    return [
        ("The first line holds an integer T. Each of the next T lines holds integers separated by spaces. Print the sum of each line on its own line.",
         sum_pairs, ["2\n1 2 3\n10 -4\n", "1\n5\n", "3\n0 0\n100 200 300\n-1 -2\n"]),
        ("Read one line of lowercase letters. Print the length of the longest block of equal consecutive letters.",
         longest_run, ["aabbbc\n", "z\n", "abcd\n", "qqqqwqq\n"]),
        ("The first number is N, followed by N integers. Print the largest sum of a non-empty block of consecutive integers.",
         max_subarray, ["5\n-2 1 -3 4 2\n", "3\n-5 -1 -7\n", "4\n1 2 3 4\n"]),
        ("Read one line made of the characters ()[]{}. Print YES if every bracket is closed in the right order, otherwise NO.",
         balanced, ["([]{})\n", "([)]\n", "((\n", "{[()()]}\n"]),
    ]


def _livecodebench() -> list[dict]:
    out = []
    for number, (statement, solve, inputs) in enumerate(_code_problems()):
        tests = [{"input": text, "output": solve(text)} for text in inputs]  # type: ignore[operator]
        out.append(
            {
                "text_input": f"{statement}\n\n{CODE_INSTRUCTION}",
                "question": statement,
                "ground_truth": f"mlnb-code-{number:03d}",  # MLPerf's pickle holds LiveCodeBench question ids here
                "dataset": "livecodebench",
                "tests": tests,
            }
        )
    return out


def build_records() -> list[dict]:
    rng = random.Random(SEED)
    groups = [_aime(rng), _math(rng), _gpqa(rng), _mmlu_pro(rng), _livecodebench()]
    # Interleaved, so the first five records already cover all five kinds.
    return [group[i] for i in range(4) for group in groups]


def render() -> str:
    return json.dumps(build_records(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = EMBEDDED_DATASET.read_text(encoding="utf-8") if EMBEDDED_DATASET.is_file() else ""
        print("up to date" if current == text else f"{EMBEDDED_DATASET.name} is out of date")
        return 0 if current == text else 1
    write_text_atomic(EMBEDDED_DATASET, text)
    print(f"wrote {EMBEDDED_DATASET.name}: {len(build_records())} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
