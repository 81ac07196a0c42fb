"""Scoring model-written Python against LiveCodeBench-style tests, each run in an OS-level sandbox.

Every test case is one process tree in its own bubblewrap sandbox (``mlnb.sandbox.bwrap``: new
user, PID, mount, network, IPC and UTS namespaces, uid 65534, a read-only view of only the
interpreter and its standard library, a small tmpfs as the only writable place, an empty
environment, rlimits and a wall clock, and every process killed when the test ends). Tests are
stdin/stdout cases or, when they carry ``fn_name``, call-based cases (the named function, on a
``Solution()`` instance when the code defines that class, called with JSON-decoded arguments).

The verdict is decided here, in the parent, by comparing what the program printed (or returned)
with the expected output, which never enters the sandbox; the rules are the LiveCodeBench
evaluator's that MLPerf's reference uses (see ``outputs_match`` and ``returns_match``), as is the
default time limit of 60 s per test case. Output is read with a size cap, and only a short,
printable excerpt, scrubbed of anything secret-shaped, reaches a reason.

Where bubblewrap is missing or cannot create namespaces, nothing is executed: the sample scores 0
with the reason "not executed: no sandbox (...)". Only an explicit opt-in
(``MLNB_UNSAFE_UNSANDBOXED_CODE=true``, or ``SandboxPolicy(allow_unsandboxed=True)``) runs code
without one, with rlimits only, and says so loudly in every reason and in the summary.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Optional, Sequence

from mlnb.sandbox.bwrap import (
    ENVIRONMENT,
    PROGRAM_DIR,
    Finished,
    ProcessLimits,
    Sandbox,
    SandboxUnavailable,
    prepare,
    run_process,
)
from mlnb.sandbox.harness_main import header_modules, module_exports

log = logging.getLogger(__name__)

HARNESS = Path(__file__).resolve().parent.parent / "sandbox" / "harness_main.py"
RESULT_PREFIX = b"mlnb-result "
UNSAFE_ENV = "MLNB_UNSAFE_UNSANDBOXED_CODE"
BWRAP_ENV = "MLNB_BWRAP"
NOT_EXECUTED = "not executed: no sandbox"
UNSAFE_WARNING = (
    "UNSAFE: model-written code ran WITHOUT a sandbox (opted in with MLNB_UNSAFE_UNSANDBOXED_CODE); "
    "it could read and change this machine's files and reach the network"
)
# LiveCodeBench's evaluator as MLPerf's reference calls it: timeout=60, a per-test-case alarm.
REFERENCE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = REFERENCE_TIMEOUT_S  # wall clock per test case, interpreter start included
    memory_mb: int = 1024  # address space; the reference sets none
    file_mb: int = 4  # largest file written
    output_kb: int = 256  # stdout per test case (raised to twice the expected output when that is longer)
    open_files: int = 64
    processes: int = 32  # processes and threads inside the sandbox
    scratch_mb: int = 16  # the tmpfs at /tmp

    def process_limits(self) -> ProcessLimits:
        return ProcessLimits(
            wall_s=self.timeout_s, cpu_s=int(self.timeout_s) + 1, memory_bytes=self.memory_mb << 20,
            file_bytes=self.file_mb << 20, processes=self.processes, open_files=self.open_files,
            scratch_bytes=self.scratch_mb << 20,
        )


@dataclass(frozen=True)
class SandboxPolicy:
    bwrap: Optional[str] = None  # path to bwrap; None: on PATH
    allow_unsandboxed: bool = False  # run without isolation when there is none (loudly)

    @classmethod
    def from_env(cls) -> "SandboxPolicy":
        unsafe = os.environ.get(UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")
        return cls(bwrap=os.environ.get(BWRAP_ENV) or None, allow_unsandboxed=unsafe)


@dataclass
class CodeResult:
    passed: bool
    reason: str  # "passed 3/3 tests" or why not
    tests_passed: int = 0
    tests_total: int = 0
    details: list[str] = field(default_factory=list)
    executed: bool = True
    sandboxed: bool = True


# ---- the tests and the reference's comparison rules ----

def parse_tests(value: object) -> list[dict]:
    """Test cases from a record's ``tests`` value, as dicts with ``input``, ``output`` and maybe ``fn_name``.

    Accepted: a list of ``{"input", "output"}`` (each may carry ``fn_name`` or LiveCodeBench's
    ``testtype``); ``{"tests": [...], "fn_name": ...}``; LiveCodeBench's evaluation sample
    ``{"inputs": [...], "outputs": [...], "fn_name": ...}``; or any of these as JSON text.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    fn_name = None
    if isinstance(value, dict):
        metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        fn_name = value.get("fn_name") or value.get("func_name") or metadata.get("func_name")
        if isinstance(value.get("inputs"), list) and isinstance(value.get("outputs"), list):
            value = [{"input": i, "output": o} for i, o in zip(value["inputs"], value["outputs"])]
        else:
            value = value.get("tests", [])
    if not isinstance(value, list):
        return []
    tests = []
    for test in value:
        if not (isinstance(test, dict) and "input" in test and "output" in test):
            continue
        case = {"input": test["input"], "output": test["output"]}
        name = test.get("fn_name") or fn_name
        if name:
            case["fn_name"] = str(name)
        elif test.get("testtype") == "functional":
            case["fn_name"] = None  # call-based, but nobody said which function: fails with that reason
        tests.append(case)
    return tests


def _stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> Optional[list[Decimal]]:
    try:
        return [Decimal(word) for word in line.split()]
    except (InvalidOperation, ValueError):
        return None


def outputs_match(actual: str, expected: str) -> bool:
    """LiveCodeBench's stdio rule: the same number of lines once the whole text and each line are
    stripped; each line equal, or every word of it equal as an exact decimal number."""
    got, want = _stripped_lines(actual), _stripped_lines(expected)
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        if a == b:
            continue
        da, db = _decimals(a), _decimals(b)
        if da is None or db is None or da != db:
            return False
    return True


def _json_number(text: str):
    # Integers longer than Python's default 4300-digit conversion limit still compare exactly.
    return int(text) if len(text) < 4000 else Decimal(text)


def returns_match(actual_json: str, expected_json: str) -> bool:
    """LiveCodeBench's call rule: the returned value (a tuple counted as a list) == the JSON-decoded output."""
    try:
        actual = json.loads(actual_json, parse_int=_json_number)
        expected = json.loads(expected_json, parse_int=_json_number)
    except (json.JSONDecodeError, ValueError):
        return False
    return actual == expected


# ---- running ----

def _excerpt(data: bytes | str, limit: int = 300) -> str:
    from mlnb.secrets import redact_untrusted

    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = redact_untrusted(text)
    text = "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


@functools.lru_cache(maxsize=1)
def _module_exports() -> dict[str, frozenset[str]]:
    return module_exports()  # this interpreter is the sandbox's, so the names are the same inside


class _Runner:
    """Runs the harness on one test case, in the sandbox or (opted in) without one."""

    def __init__(self, code: str, sandbox: Optional[Sandbox], limits: SandboxLimits):
        self.code, self.sandbox, self.limits = code, sandbox, limits
        self.harness = HARNESS.read_bytes()
        self.header = ",".join(sorted(header_modules(code, _module_exports()))) or "-"
        self.folder: Optional[str] = None

    def run(self, test: dict) -> Finished:
        mode = ["call", self.header, test["fn_name"]] if "fn_name" in test else ["stdio", self.header]
        stdin = str(test.get("input", "")).encode("utf-8", "replace")
        expected = str(test.get("output", "")).encode("utf-8", "replace")
        cap = max(self.limits.output_kb * 1024, 2 * len(expected) + 4096)
        limits = self.limits.process_limits()
        if self.sandbox is not None:
            harness, solution = f"{PROGRAM_DIR}/harness.py", f"{PROGRAM_DIR}/solution.py"
            files = {harness: self.harness, solution: self.code.encode("utf-8", "replace")}
            return self.sandbox.run([self.sandbox.view.python, "-S", harness, mode[0], solution, *mode[1:]],
                                    files, stdin, limits, cap)
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="mlnb-unsandboxed-")
            Path(self.folder, "harness.py").write_bytes(self.harness)
            Path(self.folder, "solution.py").write_bytes(self.code.encode("utf-8", "replace"))
        env = {**ENVIRONMENT, "HOME": self.folder}
        argv = [sys.executable, "-S", os.path.join(self.folder, "harness.py"), mode[0],
                os.path.join(self.folder, "solution.py"), *mode[1:]]
        return run_process(argv, stdin, limits, cap, cwd=self.folder, env=env)

    def close(self) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _failure_reason(run: Finished, limits: SandboxLimits, sandboxed: bool) -> Optional[str]:
    if run.stdout_overflow:
        return f"printed more than allowed ({max(limits.output_kb, len(run.stdout) // 1024)} KiB); killed"
    if run.timed_out:
        return f"ran longer than {limits.timeout_s:g} s; killed"
    code = run.returncode
    if code is not None and code < 0:
        return f"killed by {_signal_name(-code)} (CPU, memory or file-size limit)"
    if sandboxed and code is not None and code > 128 and code - 128 < 65:
        # bwrap reports a program killed by a signal as 128 + the signal number
        return f"killed by {_signal_name(code - 128)} (CPU, memory, file-size or process limit)"
    if code:
        said = [line for line in run.stderr.decode("utf-8", "replace").strip().splitlines() if line.strip()]
        return f"exited with status {code}: {_excerpt(said[-1] if said else '', 200)}"
    return None


def _verdict(run: Finished, test: dict) -> Optional[str]:
    expected = str(test.get("output", ""))
    if "fn_name" not in test:
        actual = run.stdout.decode("utf-8", "replace")
        if outputs_match(actual, expected):
            return None
        return f"wrong output: got {_excerpt(actual, 80)!r}, expected {_excerpt(expected, 80)!r}"
    line = next((l for l in run.stdout.splitlines() if l.startswith(RESULT_PREFIX)), None)
    if line is None:
        return "returned no value (the program ended before the call returned)"
    actual = line[len(RESULT_PREFIX):].decode("utf-8", "replace")
    if returns_match(actual, expected):
        return None
    return f"wrong return value: got {_excerpt(actual, 80)!r}, expected {_excerpt(expected, 80)!r}"


def _sandbox_for(policy: SandboxPolicy) -> tuple[Optional[Sandbox], Optional[str]]:
    try:
        return prepare(policy.bwrap), None
    except SandboxUnavailable as exc:
        return None, str(exc)


def run_tests(code: str, tests: Sequence[dict], limits: SandboxLimits = SandboxLimits(),
              policy: Optional[SandboxPolicy] = None) -> CodeResult:
    """Run ``code`` once per test case, each in a fresh sandbox; passed only if every case passes."""
    if not tests:
        return CodeResult(False, "no test cases for this problem")
    policy = policy or SandboxPolicy.from_env()
    sandbox, missing = _sandbox_for(policy)
    if sandbox is None and not policy.allow_unsandboxed:
        return CodeResult(False, f"{NOT_EXECUTED} ({missing})", 0, len(tests), executed=False, sandboxed=False)
    if sandbox is None:
        log.warning("%s: %s", UNSAFE_WARNING, missing)
    suffix = "" if sandbox is not None else " [ran WITHOUT a sandbox]"
    runner = _Runner(code, sandbox, limits)
    passed, details = 0, []
    try:
        for number, test in enumerate(tests):
            if "fn_name" in test and not test["fn_name"]:
                reason = "call-based test without a function name (fn_name)"
            else:
                try:
                    run = runner.run(test)
                except OSError as exc:  # the sandbox could not be started (out of processes, memory)
                    reason = f"not executed: the sandbox could not be started ({exc.strerror or exc})"
                else:
                    reason = _failure_reason(run, limits, sandbox is not None) or _verdict(run, test)
            if reason is not None:
                details.append(f"test {number}: {reason}")
                return CodeResult(False, f"test {number} of {len(tests)}: {reason}{suffix}", passed, len(tests),
                                  details, sandboxed=sandbox is not None)
            passed += 1
    finally:
        runner.close()
    return CodeResult(True, f"passed {passed}/{len(tests)} tests{suffix}", passed, len(tests), details,
                      sandboxed=sandbox is not None)


def describe_sandbox(limits: SandboxLimits = SandboxLimits(), policy: Optional[SandboxPolicy] = None) -> dict[str, Any]:
    """What isolated the code answers, for summary.json and the report."""
    policy = policy or SandboxPolicy.from_env()
    sandbox, missing = _sandbox_for(policy)
    common = {
        "timeout_s_per_test": limits.timeout_s,
        "memory_mb": limits.memory_mb,
        "file_mb": limits.file_mb,
        "output_kb": limits.output_kb,
        "processes": limits.processes,
        "scratch_mb": limits.scratch_mb,
    }
    if sandbox is None and not policy.allow_unsandboxed:
        return {"executed": False, "isolation": "none", "reason": f"{NOT_EXECUTED} ({missing})",
                "process": "code answers were not run; each scored 0", **common}
    if sandbox is None:
        return {"executed": True, "isolation": "none", "warning": UNSAFE_WARNING, "reason": missing,
                "process": "one process per test case, rlimits only", "network": "not isolated",
                "user": "the calling user", **common}
    return {
        "executed": True,
        "isolation": f"{sandbox.version}: new user, PID, mount, network, IPC and UTS namespaces",
        "process": "one sandbox per test case; every process in it killed when the test ends",
        "network": "none (own network namespace)",
        "user": "uid 65534 inside" + ("; started as nobody (65534) on the host" if sandbox.as_nobody else "; the calling user on the host"),
        "filesystem": f"read-only interpreter and standard library; a {limits.scratch_mb} MB tmpfs as the only writable place",
        **common,
    }


__all__ = [
    "CodeResult", "NOT_EXECUTED", "SandboxLimits", "SandboxPolicy", "describe_sandbox", "outputs_match",
    "parse_tests", "returns_match", "run_tests",
]
