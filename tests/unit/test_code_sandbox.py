"""The code scorer: LiveCodeBench-style stdio and call-based tests, each run in a bubblewrap sandbox.

Escape attempts are in test_sandbox_escapes.py. Tests that execute code skip, saying why, only
where bubblewrap cannot run; the refusal path (no sandbox: nothing executed) runs everywhere.
"""

import time

import pytest

from mlnb.accuracy.code_sandbox import (
    NOT_EXECUTED,
    SandboxLimits,
    SandboxPolicy,
    describe_sandbox,
    outputs_match,
    parse_tests,
    returns_match,
    run_tests,
)
from mlnb.accuracy.exact_match import score_text
from mlnb.sandbox.bwrap import SandboxUnavailable, prepare
from mlnb.sandbox.harness_main import header_modules, module_exports

LIMITS = SandboxLimits(timeout_s=3.0, memory_mb=256, output_kb=64)
ADD = [{"input": "2 3\n", "output": "5\n"}, {"input": "-1 1\n", "output": "0\n"}]
GOOD = "a, b = map(int, input().split())\nprint(a + b)\n"
MISSING = SandboxPolicy(bwrap="/nonexistent/bin/bwrap")


def _sandbox_reason() -> str:
    try:
        prepare()
        return ""
    except SandboxUnavailable as exc:
        return str(exc)


needs_sandbox = pytest.mark.skipif(bool(_sandbox_reason()), reason=f"bubblewrap cannot run here: {_sandbox_reason()}")


@needs_sandbox
def test_a_correct_program_passes_every_test():
    result = run_tests(GOOD, ADD, LIMITS)
    assert result.passed and result.tests_passed == 2 and result.reason == "passed 2/2 tests"
    assert result.executed and result.sandboxed


@needs_sandbox
def test_a_wrong_answer_fails_with_the_output_shown():
    result = run_tests("print(5)", ADD, LIMITS)
    assert not result.passed and result.tests_passed == 1
    assert "test 1 of 2: wrong output" in result.reason and "'5'" in result.reason


@needs_sandbox
def test_a_program_that_loops_forever_is_killed():
    started = time.monotonic()
    result = run_tests("while True:\n    pass\n", ADD, LIMITS)
    assert not result.passed and "ran longer than 3 s; killed" in result.reason
    assert time.monotonic() - started < 15


@needs_sandbox
def test_a_crash_reports_the_exception():
    result = run_tests("raise ValueError('boom')", ADD, LIMITS)
    assert not result.passed and "ValueError: boom" in result.reason


@needs_sandbox
def test_exit_ends_a_stdio_program_normally_as_in_the_reference():
    assert run_tests(GOOD + "exit(1)\n", ADD, LIMITS).passed


@needs_sandbox
def test_the_reference_import_header_is_available_without_imports():
    code = "n = int(input())\nprint(sqrt(n), defaultdict(int)['k'], gcd(n, 6), List.__name__)\n"
    assert run_tests(code, [{"input": "16\n", "output": "4.0 0 2 List\n"}], LIMITS).passed
    # names shadowed by an earlier star import are restored by `from builtins import *`, as there
    assert run_tests("print(pow(2, 10, 1000))", [{"input": "", "output": "24"}], LIMITS).passed


def test_header_modules_are_those_defining_a_used_name():
    exports = module_exports()
    assert header_modules("print(sqrt(2))", exports) >= {"math", "builtins"}  # builtins: print
    assert "math" not in header_modules("print(1)", exports)
    assert "collections" in header_modules("d = collections.Counter()", exports)
    assert header_modules("def broken(:", exports) == set(exports)


@needs_sandbox
def test_writing_in_scratch_is_allowed_and_nothing_persists_between_tests():
    code = "import os\nprint(os.path.exists('/tmp/state'))\nopen('/tmp/state', 'w').write('x')\n"
    result = run_tests(code, [{"input": "", "output": "False"}] * 2, LIMITS)
    assert result.passed  # each test case gets a fresh tmpfs


@needs_sandbox
def test_printing_megabytes_is_cut_off_and_the_reason_stays_short():
    result = run_tests("import sys\nwhile True:\n    sys.stdout.write('x' * 1000000)\n", ADD, LIMITS)
    assert not result.passed and "printed more than allowed" in result.reason and "killed" in result.reason
    assert len(result.reason) < 300


@needs_sandbox
def test_a_long_correct_output_is_not_cut_off():
    # the cap grows with the expected output: 200 KB of numbers against a 64 KiB default cap
    numbers = " ".join(str(i) for i in range(40000))
    assert run_tests("print(' '.join(str(i) for i in range(40000)))", [{"input": "", "output": numbers}], LIMITS).passed


@needs_sandbox
def test_binary_garbage_on_stdout_cannot_break_the_reason():
    result = run_tests("import sys\nsys.stdout.buffer.write(bytes(range(256)) * 4)", ADD, LIMITS)
    assert not result.passed and "wrong output" in result.reason
    assert all(c.isprintable() for c in result.reason) and len(result.reason) < 400


@needs_sandbox
def test_memory_limit_stops_a_huge_allocation():
    result = run_tests("x = bytearray(2 * 1024 ** 3)\nprint(5)", ADD, LIMITS)
    assert not result.passed and ("MemoryError" in result.reason or "killed by" in result.reason)


# ---- call-based tests (LiveCodeBench "functional": fn_name, JSON arguments one per line) ----

CALL_TESTS = {"fn_name": "twoSum", "inputs": ["[2, 7, 11, 15]\n9", "[3, 2, 4]\n6"], "outputs": ["[0, 1]", "[1, 2]"]}
TWO_SUM = """
class Solution:
    def twoSum(self, nums: List[int], target: int) -> List[int]:
        seen = {}
        for i, x in enumerate(nums):
            if target - x in seen:
                print("found", i)  # printing must not disturb the returned value
                return (seen[target - x], i)
            seen[x] = i
"""


@needs_sandbox
def test_a_call_based_solution_class_passes():
    tests = parse_tests(CALL_TESTS)
    assert tests[0] == {"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "fn_name": "twoSum"}
    result = run_tests(TWO_SUM, tests, LIMITS)
    assert result.passed and result.reason == "passed 2/2 tests"


@needs_sandbox
def test_a_call_based_module_function_and_a_wrong_return_value():
    tests = [{"input": "3\n4", "output": "7", "fn_name": "add"}]
    assert run_tests("def add(a, b):\n    return a + b\n", tests, LIMITS).passed
    result = run_tests("def add(a, b):\n    return a - b\n", tests, LIMITS)
    assert not result.passed and "wrong return value: got '-1', expected '7'" in result.reason


@needs_sandbox
def test_a_call_based_test_fails_cleanly_when_the_function_is_missing_or_returns_an_object():
    tests = [{"input": "1", "output": "1", "fn_name": "f"}]
    assert "no function named f" in run_tests("def g(x):\n    return x\n", tests, LIMITS).reason
    odd = "class Liar:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Liar()\n"
    result = run_tests(odd, tests, LIMITS)
    assert not result.passed and "cannot equal a JSON value" in result.reason


@needs_sandbox
def test_a_call_based_main_block_does_not_run():
    code = "def f(x):\n    return x * 2\nif __name__ == '__main__':\n    input()\n"
    assert run_tests(code, [{"input": "21", "output": "42", "fn_name": "f"}], LIMITS).passed


def test_a_functional_test_without_a_function_name_fails_with_that_reason():
    tests = parse_tests([{"input": "1", "output": "1", "testtype": "functional"}])
    # checked before anything runs, so even the unsandboxed opt-in executes nothing here
    unsafe = SandboxPolicy(bwrap="/nonexistent/bin/bwrap", allow_unsandboxed=True)
    result = run_tests("def f(x):\n    return x\n", tests, LIMITS, unsafe)
    assert not result.passed and "call-based test without a function name" in result.reason


# ---- comparison rules (LiveCodeBench's, as MLPerf's reference runs them) ----

def test_outputs_match_rules():
    assert outputs_match("5  \n\n", "5\n")
    assert outputs_match("  5\n  6 7  \n", "5\n6 7")  # each line stripped on both sides
    assert outputs_match("1.0 2\n", "1 2.00\n")  # numbers compared as exact decimals
    assert not outputs_match("0.1000000001\n", "0.1\n")  # no tolerance
    assert not outputs_match("5\n6\n", "5\n")
    assert not outputs_match("5\n\n6\n", "5\n6\n")  # a blank line in the middle counts
    assert not outputs_match("five\n", "5\n")


def test_returns_match_rules():
    assert returns_match("[1, 2]", "[1, 2]")
    assert returns_match("true", "1")  # Python's True == 1, as the reference compares with ==
    assert returns_match("2.0", "2")
    assert not returns_match("[2, 1]", "[1, 2]")
    assert not returns_match("not json", "1")
    assert returns_match("1" * 5000, "1" * 5000)  # beyond Python's default int-string limit


def test_parse_tests_accepts_lists_lcb_samples_and_json_text():
    assert parse_tests('[{"input": "1", "output": "1"}]') == [{"input": "1", "output": "1"}]
    assert parse_tests({"tests": [{"input": "", "output": "x"}]}) == [{"input": "", "output": "x"}]
    wrapped = parse_tests({"tests": [{"input": "1", "output": "2"}], "metadata": {"func_name": "f"}})
    assert wrapped == [{"input": "1", "output": "2", "fn_name": "f"}]
    lcb = parse_tests('{"inputs": ["1"], "outputs": ["2"], "fn_name": null}')
    assert lcb == [{"input": "1", "output": "2"}]
    assert parse_tests("not json") == [] and parse_tests(None) == []


# ---- no sandbox: refuse, unless explicitly and loudly opted in ----

def test_without_bubblewrap_nothing_is_executed(tmp_path):
    marker = tmp_path / "ran.txt"
    code = f"open({str(marker)!r}, 'w').write('x')\n" + GOOD
    result = run_tests(code, ADD, LIMITS, MISSING)
    assert not result.passed and not result.executed and result.reason.startswith(NOT_EXECUTED)
    assert "bubblewrap not found" in result.reason and not marker.exists()
    summary = describe_sandbox(LIMITS, MISSING)
    assert summary["executed"] is False and summary["reason"].startswith(NOT_EXECUTED)


def test_a_bwrap_that_cannot_build_the_sandbox_means_nothing_is_executed():
    import os
    import shutil
    import tempfile

    folder = tempfile.mkdtemp()  # not pytest's tmp_path: nobody must be able to run the script
    try:
        os.chmod(folder, 0o755)
        fake = os.path.join(folder, "bwrap")
        with open(fake, "w") as handle:
            handle.write("#!/bin/sh\n[ \"$1\" = --version ] && { echo bubblewrap 0.6.1; exit 0; }\n"
                         "echo 'bwrap: Unknown option --disable-userns' >&2\nexit 1\n")
        os.chmod(fake, 0o755)
        result = run_tests(GOOD, ADD, LIMITS, SandboxPolicy(bwrap=fake))
        assert not result.executed and result.reason.startswith(NOT_EXECUTED)
        assert "Unknown option --disable-userns" in result.reason
    finally:
        shutil.rmtree(folder)


def test_the_scorer_refuses_through_the_environment(monkeypatch):
    monkeypatch.setenv("MLNB_BWRAP", "/nonexistent/bin/bwrap")
    monkeypatch.delenv("MLNB_UNSAFE_UNSANDBOXED_CODE", raising=False)
    record = {"ground_truth": "q1", "tests": ADD}
    score, _, reason = score_text("livecodebench", f"```python\n{GOOD}```", record, LIMITS)
    assert score == 0.0 and reason.startswith(NOT_EXECUTED)


def test_an_explicit_opt_in_runs_without_a_sandbox_and_says_so_loudly(monkeypatch):
    policy = SandboxPolicy(bwrap="/nonexistent/bin/bwrap", allow_unsandboxed=True)
    result = run_tests(GOOD, ADD, LIMITS, policy)
    assert result.passed and not result.sandboxed and "WITHOUT a sandbox" in result.reason
    summary = describe_sandbox(LIMITS, policy)
    assert summary["isolation"] == "none" and summary["warning"].startswith("UNSAFE")
    monkeypatch.setenv("MLNB_UNSAFE_UNSANDBOXED_CODE", "true")
    monkeypatch.setenv("MLNB_BWRAP", "/nonexistent/bin/bwrap")
    assert "warning" in describe_sandbox(LIMITS)


@needs_sandbox
def test_the_summary_describes_the_sandbox():
    from mlnb.report.dsr1_view import sandbox_note

    summary = describe_sandbox(LIMITS)
    assert summary["executed"] is True and "bubblewrap" in summary["isolation"]
    assert "namespaces" in summary["isolation"] and summary["timeout_s_per_test"] == 3.0
    assert "uid 65534" in summary["user"] and "warning" not in summary
    assert "Code answers ran in a sandbox: bubblewrap" in sandbox_note(summary)


def test_the_default_time_limit_is_the_references():
    assert SandboxLimits().timeout_s == 60.0  # LiveCodeBench's evaluator as MLPerf's reference calls it


@needs_sandbox
def test_code_scoring_extracts_the_block_and_runs_it():
    record = {"ground_truth": "q1", "tests": ADD}
    text = f"<think>easy</think>\n```python\n{GOOD}```"
    assert score_text("livecodebench", text, record, LIMITS)[0] == 100.0
    score, _, reason = score_text("livecodebench", text, {"ground_truth": "q1"}, LIMITS)
    assert score == 0.0 and "no test cases" in reason
    score, _, reason = score_text("livecodebench", "print(5)", record, LIMITS)
    assert score == 0.0 and "no ```python code block" in reason


def test_the_report_says_when_code_was_not_executed_or_ran_unsandboxed():
    from mlnb.report.dsr1_view import sandbox_note

    refused = sandbox_note(describe_sandbox(LIMITS, MISSING))
    assert "Code answers were not executed: no sandbox." in refused and "bubblewrap not found" in refused
    unsafe = sandbox_note(describe_sandbox(LIMITS, SandboxPolicy(bwrap="/nonexistent/bin/bwrap", allow_unsandboxed=True)))
    assert "UNSAFE" in unsafe and "WITHOUT a sandbox" in unsafe
    old = sandbox_note({"process": "one process per test", "network": "audit hook", "user": "u", "timeout_s_per_test": 1})
    assert "network: audit hook" in old  # summaries written before the change still render


def test_secret_shaped_values_of_any_name_are_scrubbed_from_untrusted_text(monkeypatch):
    from mlnb.secrets import redact_untrusted

    monkeypatch.setenv("BUILD_SETTING", "q7Zp3LmX9vR2kT8wYb4N")  # random-looking value, ordinary name
    shadow = "root:$6$salt1234$Zx9Qk3LmN0pQrStUvWxYz0123456789abcdefABCDEF:19000:0:99999:7:::"
    text = (f"{shadow}\nBUILD q7Zp3LmX9vR2kT8wYb4N\ndb_password=hunter22\nghp_{'a1' * 12}\n"
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----")
    scrubbed = redact_untrusted(text)
    for secret in ("Zx9Qk3LmN0pQrStUvWxYz0123456789abcdefABCDEF", "q7Zp3LmX9vR2kT8wYb4N", "hunter22", "a1a1a1a1", "MIIEow"):
        assert secret not in scrubbed
    # ordinary program output and errors stay readable
    for plain in ("ZeroDivisionError: division by zero", "12345678901234567890", "wrong output: got '5'"):
        assert redact_untrusted(plain) == plain
