"""The code sandbox: untrusted programs that hang, crash, flood or try to escape all score 0."""

import os
import time

import pytest

from mlnb.accuracy.code_sandbox import SandboxLimits, network_isolation, outputs_match, parse_tests, run_tests
from mlnb.accuracy.exact_match import score_text

LIMITS = SandboxLimits(timeout_s=2.0, memory_mb=256, output_kb=64)
ADD = [{"input": "2 3\n", "output": "5\n"}, {"input": "-1 1\n", "output": "0\n"}]
GOOD = "a, b = map(int, input().split())\nprint(a + b)\n"


def test_a_correct_program_passes_every_test():
    result = run_tests(GOOD, ADD, LIMITS)
    assert result.passed and result.tests_passed == 2 and result.reason == "passed 2/2 tests"


def test_a_wrong_answer_fails_with_the_output_shown():
    result = run_tests("print(5)", ADD, LIMITS)
    assert not result.passed and result.tests_passed == 1
    assert "test 1 of 2: wrong output" in result.reason and "'5'" in result.reason


def test_a_program_that_loops_forever_is_killed():
    started = time.monotonic()
    result = run_tests("while True:\n    pass\n", ADD, LIMITS)
    assert not result.passed and "ran longer than 2 s; killed" in result.reason
    assert time.monotonic() - started < 10


def test_a_crash_reports_the_exception():
    result = run_tests("raise ValueError('boom')", ADD, LIMITS)
    assert not result.passed and "ValueError: boom" in result.reason


def test_writing_outside_its_folder_is_blocked(tmp_path):
    target = tmp_path / "escaped.txt"
    result = run_tests(f"open({str(target)!r}, 'w').write('x')\nprint(5)", ADD, LIMITS)
    assert not result.passed and "blocked: wrote outside its folder" in result.reason
    assert not target.exists()
    relative = run_tests("open('../up.txt', 'w')\nprint(5)", ADD, LIMITS)
    assert "blocked: wrote outside its folder" in relative.reason


def test_deleting_files_outside_is_blocked(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("keep")
    result = run_tests(f"import os\nos.remove({str(victim)!r})", ADD, LIMITS)
    assert "blocked: os.remove outside its folder" in result.reason and victim.exists()


def test_writing_inside_its_folder_is_allowed_and_the_folder_is_removed_afterwards():
    code = "import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\n"
    result = run_tests(code, [{"input": "", "output": "unknown"}], LIMITS)
    assert "wrong output: got '" in result.reason  # it wrote its file, then printed its folder
    folder = result.reason.split("got '", 1)[1].split("'", 1)[0]
    assert os.path.basename(folder).startswith("mlnb-code-") and not os.path.exists(folder)
    assert run_tests("open('scratch.txt', 'w').write('x')\n" + GOOD, ADD, LIMITS).passed


def test_opening_a_socket_is_blocked():
    result = run_tests("import socket\nsocket.socket().connect(('127.0.0.1', 9))", ADD, LIMITS)
    assert not result.passed and "blocked: used the network" in result.reason


def test_starting_a_process_or_loading_native_code_is_blocked():
    assert "blocked: started or signalled a process" in run_tests("import os\nos.system('true')", ADD, LIMITS).reason
    assert "blocked: loaded native code" in run_tests("import ctypes\nctypes.CDLL(None)", ADD, LIMITS).reason


def test_printing_megabytes_is_cut_off_and_the_reason_stays_short():
    result = run_tests("import sys\nwhile True:\n    sys.stdout.write('x' * 1000000)\n", ADD, LIMITS)
    assert not result.passed and "printed more than 64 KiB; killed" in result.reason
    assert len(result.reason) < 300


def test_binary_garbage_on_stdout_cannot_break_the_reason():
    result = run_tests("import sys\nsys.stdout.buffer.write(bytes(range(256)) * 4)", ADD, LIMITS)
    assert not result.passed and "wrong output" in result.reason
    assert all(c.isprintable() for c in result.reason) and len(result.reason) < 400


def test_memory_limit_stops_a_huge_allocation():
    result = run_tests("x = bytearray(2 * 1024 ** 3)\nprint(5)", ADD, LIMITS)
    assert not result.passed and ("MemoryError" in result.reason or "killed by" in result.reason)


def test_network_isolation_is_reported():
    assert network_isolation() in ("network namespace + audit hook", "audit hook")


def test_outputs_match_rules():
    assert outputs_match("5  \n\n", "5\n")
    assert outputs_match("0.1000000001\n", "0.1\n")
    assert not outputs_match("5\n6\n", "5\n")
    assert not outputs_match("five\n", "5\n")


def test_parse_tests_accepts_lists_and_json_text():
    assert parse_tests('[{"input": "1", "output": "1"}]') == [{"input": "1", "output": "1"}]
    assert parse_tests({"tests": [{"input": "", "output": "x"}]}) == [{"input": "", "output": "x"}]
    assert parse_tests("not json") == [] and parse_tests(None) == []


def test_code_scoring_extracts_the_block_and_runs_it():
    record = {"ground_truth": "q1", "tests": ADD}
    text = f"<think>easy</think>\n```python\n{GOOD}```"
    assert score_text("livecodebench", text, record, LIMITS)[0] == 100.0
    score, _, reason = score_text("livecodebench", text, {"ground_truth": "q1"}, LIMITS)
    assert score == 0.0 and "no test cases" in reason
    score, _, reason = score_text("livecodebench", "print(5)", record, LIMITS)
    assert score == 0.0 and "no ```python code block" in reason


@pytest.mark.skipif(network_isolation() == "audit hook", reason="no network namespace here (needs root on Linux)")
def test_network_namespace_has_no_route_even_without_the_hook():
    # _socket is the C module under socket; the audit hook still fires, so check the namespace
    # by reading the interfaces the child sees: only 'lo'.
    code = "print(open('/proc/net/dev').read().count(':') - 0)"
    result = run_tests(code, [{"input": "", "output": "1\n"}], LIMITS)
    assert result.passed, result.reason


def test_a_token_the_program_prints_is_redacted_from_the_reason():
    result = run_tests("print('hf_' + 'abcdefghijklmnop')", ADD, LIMITS)
    assert "wrong output" in result.reason and "hf_abcdefghijklmnop" not in result.reason and "***" in result.reason


def test_the_child_gets_no_parent_environment(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecretsecret")
    result = run_tests("import os\nprint(os.environ.get('HF_TOKEN', 'none'))", [{"input": "", "output": "none\n"}], LIMITS)
    assert result.passed, result.reason


def test_a_large_input_to_a_program_that_never_reads_cannot_block():
    big = [{"input": "1 " * 2_000_000, "output": "x"}]  # 4 MB, far beyond a pipe buffer
    started = time.monotonic()
    result = run_tests("while True:\n    pass\n", big, LIMITS)
    assert "ran longer than 2 s" in result.reason and time.monotonic() - started < 10
