"""Running one untrusted process tree under bubblewrap, with limits, and killing all of it at the end.

The sandbox (``bwrap``, Debian package ``bubblewrap``, the tool Flatpak uses) gets:

- new user, PID, mount, network, IPC, UTS and cgroup namespaces (``--unshare-all``); inside it
  runs as uid/gid 65534 without capabilities and cannot create further user namespaces; when mlnb
  runs as root, bwrap itself is started as ``nobody`` so that the host also sees uid 65534;
- a root of its own: the interpreter, standard library and their shared libraries read-only
  (``mlnb.sandbox.runtime``), read-only files for the program, a fresh ``/proc`` for its own PID
  namespace, a minimal read-only ``/dev``, and one small tmpfs at ``/tmp``, the only writable place;
- an empty environment (``--clearenv``) plus the few variables Python needs;
- ``--die-with-parent`` and ``--new-session``;
- rlimits set before bwrap starts, so they hold for everything inside: CPU seconds, address
  space, size of a written file, number of processes (on top of what its host user already
  runs), open files, no core dumps;
- a wall-clock limit enforced from outside. When the program ends, or is killed, the PID
  namespace's first process dies and the kernel kills every process left in the namespace, so
  nothing it started (``setsid`` daemons included) outlives it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from mlnb.sandbox.runtime import NOBODY, RuntimeUnavailable, RuntimeView, runtime_view

SCRATCH = "/tmp"
PROGRAM_DIR = "/sandbox"  # read-only files handed to the program
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": SCRATCH,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",  # deterministic set and dict-of-str order, so a verdict is repeatable
    "PYTHONSAFEPATH": "1",
}


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot create the namespaces here; the message says which."""


@dataclass(frozen=True)
class ProcessLimits:
    wall_s: float
    cpu_s: int
    memory_bytes: int
    file_bytes: int
    processes: int
    open_files: int
    scratch_bytes: int


@dataclass
class Finished:
    stdout: bytes
    stderr: bytes
    returncode: Optional[int]
    timed_out: bool
    stdout_overflow: bool


def _set_limits(limits: ProcessLimits):
    import resource

    def apply() -> None:  # in the child, after the switch to nobody, before exec of bwrap
        for name, value in (
            (resource.RLIMIT_CPU, limits.cpu_s),
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_FSIZE, limits.file_bytes),
            (resource.RLIMIT_NPROC, limits.processes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(name, (value, value))

    return apply


class _CappedReader(threading.Thread):
    """Reads a pipe to its end, keeping at most ``cap`` bytes; calls ``overflow`` once past it."""

    def __init__(self, pipe, cap: int, overflow):
        super().__init__(daemon=True)
        self.pipe, self.cap, self.overflow = pipe, cap, overflow
        self.data = bytearray()
        self.exceeded = False

    def run(self) -> None:
        while True:
            chunk = self.pipe.read1(65536)
            if not chunk:
                return
            room = self.cap - len(self.data)
            self.data += chunk[: max(room, 0)]
            if len(chunk) > room and not self.exceeded:
                self.exceeded = True
                self.overflow()


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the program exited or stopped reading


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_process(
    argv: Sequence[str],
    stdin: bytes,
    limits: ProcessLimits,
    stdout_cap: int,
    stderr_cap: int = 16384,
    pass_fds: Sequence[int] = (),
    as_nobody: bool = False,
    cwd: str = "/",
    env: Optional[Mapping[str, str]] = None,
) -> Finished:
    """Run ``argv`` in its own session with rlimits, a wall clock and capped output; kill its group at the end."""
    drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_nobody else {}
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=cwd, env=dict(env or {}), pass_fds=tuple(pass_fds), close_fds=True,
        start_new_session=True, preexec_fn=_set_limits(limits), **drop,
    )
    readers = [_CappedReader(proc.stdout, stdout_cap, lambda: _kill_group(proc.pid)),
               _CappedReader(proc.stderr, stderr_cap, lambda: None)]
    for reader in readers:
        reader.start()
    # Fed from a thread: a program that never reads would otherwise block a large write.
    feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
    feeder.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        proc.wait()
    _kill_group(proc.pid)
    for reader in readers:
        reader.join(timeout=5)
    feeder.join(timeout=5)
    return Finished(bytes(readers[0].data), bytes(readers[1].data), proc.returncode, timed_out, readers[0].exceeded)


def find_bwrap(explicit: Optional[str] = None) -> Optional[str]:
    """``explicit`` if it names an executable, else ``bwrap`` on PATH (or /usr/bin); None when absent."""
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    return shutil.which("bwrap") or shutil.which("bwrap", path="/usr/bin:/bin")


@dataclass(frozen=True)
class Sandbox:
    bwrap: str
    version: str
    view: RuntimeView
    as_nobody: bool

    def command(self, argv: Sequence[str], files: Mapping[str, int], limits: ProcessLimits) -> list[str]:
        """bwrap's command line running ``argv`` inside; ``files`` maps sandbox paths to readable fds."""
        args = [
            self.bwrap,
            "--unshare-all", "--unshare-user", "--disable-userns",
            "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL",
            "--hostname", "sandbox", "--die-with-parent", "--new-session",
            "--clearenv",
        ]
        for name, value in ENVIRONMENT.items():
            args += ["--setenv", name, value]
        args += self.view.bwrap_args()
        args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
        for dest, fd in files.items():
            args += ["--ro-bind-data", str(fd), dest]
        args += ["--size", str(limits.scratch_bytes), "--tmpfs", SCRATCH, "--chdir", SCRATCH, "--remount-ro", "/"]
        return args + ["--", *argv]

    def run(self, argv: Sequence[str], files: Mapping[str, bytes], stdin: bytes, limits: ProcessLimits, stdout_cap: int) -> Finished:
        # RLIMIT_NPROC counts every thread of the user on the host, not only the sandbox's, so the
        # limit is what that user runs now plus the sandbox's allowance.
        user = NOBODY if self.as_nobody else os.getuid()
        limits = dataclasses.replace(limits, processes=threads_of(user) + limits.processes)
        fds: dict[str, int] = {}
        try:
            for dest, data in files.items():
                fd = os.memfd_create("mlnb-sandbox-file")
                _write_all(fd, data)
                os.lseek(fd, 0, os.SEEK_SET)
                fds[dest] = fd
            return run_process(self.command(argv, fds, limits), stdin, limits, stdout_cap,
                               pass_fds=list(fds.values()), as_nobody=self.as_nobody)
        finally:
            for fd in fds.values():
                os.close(fd)


def threads_of(uid: int) -> int:
    """Threads (what RLIMIT_NPROC counts) of processes that ``uid`` runs on this host now."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(os.path.join(entry.path, "status"), "rb") as handle:
                status = handle.read()
        except OSError:
            continue  # gone meanwhile
        start = status.find(b"\nThreads:")
        if start >= 0:
            count += int(status[start + 9:status.index(b"\n", start + 1)])
    return count


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


PROBE_LIMITS = ProcessLimits(wall_s=20.0, cpu_s=10, memory_bytes=1 << 30, file_bytes=1 << 20, processes=16,
                             open_files=64, scratch_bytes=1 << 20)


_prepared: dict[Optional[str], "Sandbox | SandboxUnavailable"] = {}
_prepare_lock = threading.Lock()


def prepare(bwrap: Optional[str] = None) -> Sandbox:
    """A working sandbox, checked once per process by running Python inside it; raises SandboxUnavailable."""
    with _prepare_lock:
        if bwrap not in _prepared:
            try:
                _prepared[bwrap] = _prepare(bwrap)
            except SandboxUnavailable as exc:
                _prepared[bwrap] = exc
        found = _prepared[bwrap]
    if isinstance(found, SandboxUnavailable):
        raise found
    return found


def _prepare(bwrap: Optional[str]) -> Sandbox:
    path = find_bwrap(bwrap)
    if path is None:
        raise SandboxUnavailable(f"bubblewrap not found ({bwrap or 'bwrap on PATH'}); install the Debian package bubblewrap")
    as_nobody = os.geteuid() == 0
    try:
        view = runtime_view(as_nobody)
    except (RuntimeUnavailable, OSError) as exc:
        raise SandboxUnavailable(f"cannot expose the interpreter read-only: {exc}") from None
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except OSError as exc:
        raise SandboxUnavailable(f"{path} does not run: {exc}") from None
    sandbox = Sandbox(path, version or "bubblewrap", view, as_nobody)
    # Python may add LC_CTYPE (PEP 538) and bwrap sets PWD; anything else in the environment would be a leak.
    probe = ("import os; extra = set(os.environ) - set(%r) - {'LC_CTYPE', 'PWD'}; "
             "print(os.getuid(), os.getgid(), sorted(extra))" % sorted(ENVIRONMENT))
    try:
        done = sandbox.run([view.python, "-S", "-c", probe], {}, b"", PROBE_LIMITS, 4096)
    except OSError as exc:  # e.g. bwrap not executable by nobody
        raise SandboxUnavailable(f"{path} cannot be started: {exc.strerror or exc}") from None
    expected = f"{NOBODY} {NOBODY} []"
    if done.returncode != 0 or done.stdout.decode(errors="replace").strip() != expected:
        from mlnb.secrets import redact_untrusted

        said = [line for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
        why = said[-1] if said else f"exit status {done.returncode}, output {done.stdout[:80]!r}"
        raise SandboxUnavailable(f"bwrap cannot create the sandbox here: {redact_untrusted(why)[:200]}")
    return sandbox
