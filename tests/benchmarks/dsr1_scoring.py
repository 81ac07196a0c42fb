"""Cost of DeepSeek-R1 scoring: sandboxed test cases per second and text scorers per second.

    .venv/bin/python tests/benchmarks/dsr1_scoring.py

Prints measured figures; asserts nothing. A full MLPerf run scores 4388 samples, a few hundred of them
code problems with several test cases each, so the per-test-case cost of the sandbox sets the
accuracy stage's scoring time.
"""

from __future__ import annotations

import statistics
import time

from mlnb.accuracy.code_sandbox import SandboxLimits, describe_sandbox, run_tests
from mlnb.accuracy.exact_match import score_text

CODE = "a, b = map(int, input().split())\nprint(a + b)\n"
TESTS = [{"input": f"{i} {i + 1}\n", "output": f"{2 * i + 1}\n"} for i in range(10)]


def sandbox_per_test_ms(repeats: int = 5) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run_tests(CODE, TESTS, SandboxLimits())
        assert result.passed, result.reason
        times.append((time.perf_counter() - started) * 1000 / len(TESTS))
    return times


def text_scorers_per_second(n: int = 2000) -> dict[str, float]:
    cases = {
        "gpqa": ("<think>" + "reasoning " * 400 + "</think>\nAnswer: C", {"ground_truth": "C"}),
        "mmlu_pro": ("<think>" + "reasoning " * 400 + "</think>\nThe best option is H", {"ground_truth": "H"}),
        "math500": ("<think>" + "x " * 400 + "</think> \\boxed{\\frac{\\sqrt{3}}{2}}", {"ground_truth": "\\frac{\\sqrt{3}}{2}"}),
        # Equal only under sympy: the grader's string forms differ.
        "math500 (sympy)": ("\\boxed{\\frac{\\sqrt{3}}{2}}", {"ground_truth": "\\frac{1}{2}\\sqrt{3}"}),
        "aime": ("<think>" + "step " * 400 + "</think> \\boxed{204}", {"ground_truth": "204"}),
    }
    rates = {}
    for name, (text, record) in cases.items():
        kind = name.split(" ")[0]
        count = n if "sympy" not in name else n // 10
        started = time.perf_counter()
        for _ in range(count):
            score_text(kind, text, record)
        rates[name] = count / (time.perf_counter() - started)
    return rates


def main() -> None:
    print("sandbox:", describe_sandbox())
    per_test = sandbox_per_test_ms()
    print(f"sandboxed test case: median {statistics.median(per_test):.1f} ms, min {min(per_test):.1f} ms "
          f"({len(TESTS)} cases x {len(per_test)} repeats, one process per case)")
    for name, rate in text_scorers_per_second().items():
        print(f"{name:16s} {rate:10.0f} samples/s")


if __name__ == "__main__":
    main()
