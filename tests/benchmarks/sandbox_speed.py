"""Time per sandboxed test case of the DeepSeek-R1 code scorer (target: median under 300 ms).

    .venv/bin/python tests/benchmarks/sandbox_speed.py [--repeats N]

Each test case is one bubblewrap sandbox (namespaces, read-only interpreter view, tmpfs) running
the harness and the program. Prints the median and spread per case for a stdio program and a
call-based one, what the sandbox's start costs alone (Python doing nothing inside it), and the
load average before and after, since other work on the machine slows every figure. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from mlnb.accuracy.code_sandbox import SandboxLimits, describe_sandbox, run_tests
from mlnb.sandbox.bwrap import PROBE_LIMITS, prepare

STDIO = "a, b = map(int, input().split())\nprint(a + b)\n"
STDIO_TESTS = [{"input": f"{i} {i + 1}\n", "output": f"{2 * i + 1}\n"} for i in range(10)]
CALL = "class Solution:\n    def add(self, nums: List[int]) -> int:\n        return sum(nums)\n"
CALL_TESTS = [{"input": f"[{i}, {i + 1}]", "output": f"{2 * i + 1}", "fn_name": "add"} for i in range(10)]


def per_case_ms(code: str, tests: list[dict], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run_tests(code, tests, SandboxLimits())
        assert result.passed, result.reason
        times.append((time.perf_counter() - started) * 1000 / len(tests))
    return times


def empty_sandbox_ms(repeats: int) -> list[float]:
    sandbox = prepare()
    times = []
    for _ in range(repeats * 5):
        started = time.perf_counter()
        sandbox.run([sandbox.view.python, "-S", "-c", "pass"], {}, b"", PROBE_LIMITS, 4096)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _line(name: str, times: list[float]) -> str:
    return (f"{name:34s} median {statistics.median(times):6.1f} ms  min {min(times):6.1f} ms  "
            f"max {max(times):6.1f} ms  ({len(times)} measurements)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    print("sandbox:", describe_sandbox())
    load_before = os.getloadavg()
    per_case_ms(STDIO, STDIO_TESTS[:1], 1)  # warm caches
    stdio = per_case_ms(STDIO, STDIO_TESTS, repeats)
    call = per_case_ms(CALL, CALL_TESTS, repeats)
    empty = empty_sandbox_ms(repeats)
    load_after = os.getloadavg()
    print(_line("sandboxed test case, stdio", stdio))
    print(_line("sandboxed test case, call-based", call))
    print(_line("sandbox + python -S, doing nothing", empty))
    print(f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
