"""Running untrusted model-written Python against stdin/stdout tests, one process per test case.

What a child process gets (set in the child between fork and exec, so the parent is untouched):

- its own scratch folder as working directory, removed afterwards;
- ``resource`` limits: address space (``memory_mb``), CPU seconds, size of any file it writes
  (``file_mb``), open files, no core dumps;
- no network: a fresh network namespace (``unshare(CLONE_NEWNET)``, only an unconfigured
  loopback) when the parent may create one (root on Linux), and in every case a Python audit
  hook that kills the process the moment it creates a socket;
- the same audit hook kills it when it opens a file for writing outside its folder, deletes,
  renames or changes files outside it, starts a process, or loads native code through ctypes;
- when the parent runs as root and ``nobody`` can run the interpreter, the child drops to the
  ``nobody`` user, so the file system's own permissions stop writes too;
- a wall-clock limit per test; the whole process group is killed when it runs over;
- stdout and stderr read with a size cap: a process that prints more than ``output_kb`` is
  killed, and only a short, printable excerpt ever reaches the report.

The verdict is decided in the parent by comparing captured stdout with the expected output, so
nothing the child prints can forge it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Optional, Sequence

CLONE_NEWNET = 0x40000000
NOBODY_UID = 65534
VIOLATION_EXIT = 97  # the audit hook's exit status; the reason goes to stderr first


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock per test case
    memory_mb: int = 512
    file_mb: int = 4
    output_kb: int = 256  # stdout+stderr per test case
    open_files: int = 64


@dataclass
class CodeResult:
    passed: bool
    reason: str  # "passed 3/3 tests" or why it failed
    tests_passed: int = 0
    tests_total: int = 0
    details: list[str] = field(default_factory=list)


# The child's first code: an audit hook (PEP 578; it cannot be removed once added), then the
# solution as __main__. Kept as a string because it runs in the fresh interpreter.
_BOOTSTRAP = r"""
import os, sys
_root = os.path.realpath(os.getcwd())
_solution = sys.argv[1]
_busy = [False]
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_ALLOWED = {"/dev/null"}

def _stop(why):
    try:
        os.write(2, ("\nmlnb-sandbox-violation: " + why + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(%(exit)d)

def _outside(path):
    if isinstance(path, int):
        return False
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    full = os.path.realpath(os.path.join(_root, os.fspath(path)))
    return full not in _ALLOWED and full != _root and not full.startswith(_root + os.sep)

_PATH_EVENTS = {"os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
                "os.utime", "os.symlink", "os.link", "os.rename", "shutil.rmtree", "os.chdir"}
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "os.fork", "os.forkpty", "os.kill", "os.killpg", "pty.spawn"}

def _hook(event, args):
    if _busy[0]:
        return
    _busy[0] = True
    try:
        if event == "open" and len(args) >= 3:
            mode, flags = args[1] or "", args[2] or 0
            writes = any(c in str(mode) for c in "wax+") or bool(flags & _WRITE_FLAGS)
            if writes and _outside(args[0]):
                _stop("wrote outside its folder: " + repr(args[0]))
        elif event in _PATH_EVENTS:
            for arg in args[:2]:
                if isinstance(arg, (str, bytes, os.PathLike)) and _outside(arg):
                    _stop(event + " outside its folder: " + repr(arg))
        elif event.startswith("socket."):
            _stop("used the network (" + event + ")")
        elif event in _PROCESS_EVENTS:
            _stop("started or signalled a process (" + event + ")")
        elif event.startswith("ctypes."):
            _stop("loaded native code (" + event + ")")
    finally:
        _busy[0] = False

sys.addaudithook(_hook)
sys.argv = [_solution]
import runpy
runpy.run_path(_solution, run_name="__main__")
""" % {"exit": VIOLATION_EXIT}


def _unshare_network() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


@functools.lru_cache(maxsize=1)
def network_isolation() -> str:
    """'network namespace + audit hook' where a child can get its own network namespace, else 'audit hook'."""
    if not sys.platform.startswith("linux"):
        return "audit hook"
    try:
        pid = os.fork()
    except OSError:
        return "audit hook"
    if pid == 0:  # the probe child: try, report through the exit status, never return
        try:
            _unshare_network()
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return "network namespace + audit hook" if os.waitstatus_to_exitcode(status) == 0 else "audit hook"


@functools.lru_cache(maxsize=1)
def can_drop_to_nobody() -> bool:
    """True when running as root and ``nobody`` can still run this Python and read its library."""
    if os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY_UID)
            os.setuid(NOBODY_UID)
            library = os.path.dirname(os.__file__)
            ok = os.access(os.path.realpath(sys.executable), os.X_OK) and os.access(library, os.R_OK | os.X_OK)
            os._exit(0 if ok else 1)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _child_setup(limits: SandboxLimits, use_netns: bool, drop_to_nobody: bool):
    import resource

    def setup() -> None:
        if use_netns:
            _unshare_network()
        memory = limits.memory_mb * 1024 * 1024
        cpu = int(limits.timeout_s) + 1
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop_to_nobody:
            os.setgroups([])
            os.setgid(NOBODY_UID)
            os.setuid(NOBODY_UID)

    return setup


class _CappedReader(threading.Thread):
    """Reads a pipe to the end, keeping at most ``cap`` bytes; calls ``overflow`` once past it."""

    def __init__(self, pipe, cap: int, overflow):
        super().__init__(daemon=True)
        self.pipe, self.cap, self.overflow = pipe, cap, overflow
        self.data = bytearray()
        self.exceeded = False

    def run(self) -> None:
        while True:
            chunk = self.pipe.read1(65536) if hasattr(self.pipe, "read1") else self.pipe.read(65536)
            if not chunk:
                return
            room = self.cap - len(self.data)
            self.data += chunk[: max(room, 0)]
            if len(chunk) > room and not self.exceeded:
                self.exceeded = True
                self.overflow()


def _excerpt(data: bytes, limit: int = 300) -> str:
    from mlnb.secrets import redact

    # The program can read files, so a token it printed must not reach the report.
    text = redact(data.decode("utf-8", "replace"))
    text = "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class _Run:
    stdout: bytes
    stderr: bytes
    returncode: Optional[int]
    timed_out: bool
    too_much_output: bool


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the program exited or stopped reading; its verdict comes from the parent


def _run_once(solution: str, stdin: str, folder: str, limits: SandboxLimits) -> _Run:
    use_netns = network_isolation().startswith("network namespace")
    as_root = can_drop_to_nobody()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, solution],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=_child_setup(limits, use_netns, as_root),
        start_new_session=True,  # its own process group, killed as a whole
        close_fds=True,
    )
    cap = limits.output_kb * 1024
    readers = [_CappedReader(proc.stdout, cap, lambda: _kill_group(proc)), _CappedReader(proc.stderr, 16384, lambda: None)]
    for reader in readers:
        reader.start()
    # Fed from a thread: a program that never reads would otherwise block a large write forever.
    feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin.encode("utf-8")), daemon=True)
    feeder.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        proc.wait()
    _kill_group(proc)  # anything it left behind in its group
    for reader in readers:
        reader.join(timeout=5)
    feeder.join(timeout=5)
    return _Run(bytes(readers[0].data), bytes(readers[1].data), proc.returncode, timed_out, readers[0].exceeded)


def outputs_match(actual: str, expected: str) -> bool:
    """Line by line, trailing whitespace and trailing blank lines ignored; numbers within 1e-6."""
    def lines(text: str) -> list[str]:
        rows = [line.rstrip() for line in text.strip().splitlines()]
        return rows

    got, want = lines(actual), lines(expected)
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb):
            if x == y:
                continue
            try:
                if abs(float(x) - float(y)) > 1e-6:
                    return False
            except ValueError:
                return False
    return True


def _failure_reason(run: _Run, limits: SandboxLimits) -> Optional[str]:
    stderr = run.stderr.decode("utf-8", "replace")
    marker = "mlnb-sandbox-violation: "
    if marker in stderr:
        return "blocked: " + _excerpt(stderr.split(marker, 1)[1].encode(), 200)
    if run.too_much_output:
        return f"printed more than {limits.output_kb} KiB; killed"
    if run.timed_out:
        return f"ran longer than {limits.timeout_s:g} s; killed"
    if run.returncode is not None and run.returncode < 0:
        name = signal.Signals(-run.returncode).name if -run.returncode in signal.Signals._value2member_map_ else str(-run.returncode)
        return f"killed by {name} (CPU, memory or file-size limit)"
    if run.returncode:
        last = [line for line in stderr.strip().splitlines() if line.strip()]
        return f"exited with status {run.returncode}: {_excerpt((last[-1] if last else '').encode(), 200)}"
    return None


def run_tests(code: str, tests: Sequence[dict], limits: SandboxLimits = SandboxLimits()) -> CodeResult:
    """Run ``code`` once per test (``{"input": str, "output": str}``); passed only if all pass."""
    if not tests:
        return CodeResult(False, "no test cases for this problem")
    folder = tempfile.mkdtemp(prefix="mlnb-code-")
    try:
        if can_drop_to_nobody():
            os.chown(folder, NOBODY_UID, NOBODY_UID)
        solution = os.path.join(folder, "solution.py")
        with open(solution, "w", encoding="utf-8") as handle:
            handle.write(code)
        os.chmod(solution, 0o444)
        passed = 0
        details: list[str] = []
        for number, test in enumerate(tests):
            run = _run_once(solution, str(test.get("input", "")), folder, limits)
            reason = _failure_reason(run, limits)
            if reason is None and not outputs_match(run.stdout.decode("utf-8", "replace"), str(test.get("output", ""))):
                reason = f"wrong output: got {_excerpt(run.stdout, 80)!r}, expected {_excerpt(str(test.get('output', '')).encode(), 80)!r}"
            if reason is not None:
                details.append(f"test {number}: {reason}")
                return CodeResult(False, f"test {number} of {len(tests)}: {reason}", passed, len(tests), details)
            passed += 1
        return CodeResult(True, f"passed {passed}/{len(tests)} tests", passed, len(tests), details)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def parse_tests(value: object) -> list[dict]:
    """Tests from a record's ``tests`` value: a list of {input, output}, or that list as JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    if isinstance(value, dict):
        value = value.get("tests", [])
    if not isinstance(value, list):
        return []
    return [t for t in value if isinstance(t, dict) and "input" in t and "output" in t]


def describe_sandbox(limits: SandboxLimits = SandboxLimits()) -> dict:
    return {
        "process": "one Python process per test case, own process group, killed on timeout",
        "network": network_isolation(),
        "user": "nobody" if can_drop_to_nobody() else "the calling user",
        "timeout_s_per_test": limits.timeout_s,
        "memory_mb": limits.memory_mb,
        "file_mb": limits.file_mb,
        "output_kb": limits.output_kb,
        "scratch": "a fresh temporary folder per sample, removed afterwards",
    }


__all__ = ["CodeResult", "SandboxLimits", "describe_sandbox", "network_isolation", "outputs_match", "parse_tests", "run_tests"]
