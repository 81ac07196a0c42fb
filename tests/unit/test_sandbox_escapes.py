"""Escape attempts against the code sandbox, each asserted blocked, and none ever scored "passed".

Each attempt is a program that prints the right answer (5) only when its escape worked, so a
sample can pass only through an escape; every test asserts it did not, and where the escape
would leave a trace on the host (a file, a connection, a process), that the trace is absent.
"""

import os
import secrets
import socket
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
from pathlib import Path

import pytest

import mlnb
from mlnb.accuracy.code_sandbox import SandboxLimits, run_tests
from mlnb.sandbox.bwrap import SandboxUnavailable, prepare

try:
    prepare()
    _WHY_NOT = ""
except SandboxUnavailable as exc:
    _WHY_NOT = str(exc)

pytestmark = pytest.mark.skipif(bool(_WHY_NOT), reason=f"bubblewrap cannot run here: {_WHY_NOT}")

LIMITS = SandboxLimits(timeout_s=4.0, memory_mb=256, output_kb=64, processes=16)
EXPECTED = [{"input": "2 3\n", "output": "5\n"}]
PARENT = os.getpid()
REPO = Path(mlnb.__file__).resolve().parent.parent
VENV_SITE = sysconfig.get_paths()["purelib"]  # the mlnb venv's site-packages


def attempt(body: str, limits: SandboxLimits = LIMITS):
    """Run ``body``, which sets ``ok = True`` only if its escape worked; assert the sample did not pass."""
    code = "ok = False\ntry:\n" + textwrap.indent(textwrap.dedent(body), "    ") + (
        "\nexcept BaseException as exc:\n    print('blocked:', repr(exc)[:160])\n"
        "print(5 if ok else 0)\n"
    )
    result = run_tests(code, EXPECTED, limits)
    assert not result.passed, f"escape worked: {result.reason}"
    if os.environ.get("MLNB_SHOW_ESCAPES"):
        print(f"\n{sys._getframe(1).f_code.co_name}: {result.reason}")
    return result


def _alive_with_name(name: str) -> list[int]:
    """Host pids of live (not zombie) processes whose command name is ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("Name", "").strip() == name and not fields.get("State", "").startswith(("Z", "X")):
            found.append(int(entry.name))
    return found


SET_NAME = """
import ctypes
ctypes.CDLL(None).prctl(15, ctypes.c_char_p({name!r}.encode()), 0, 0, 0)  # PR_SET_NAME
"""


def test_the_probe_detects_a_working_escape():
    # control: the same wrapper with an "escape" that needs nothing passes, so the checks below can fail
    code = "ok = True\nprint(5 if ok else 0)\n"
    assert run_tests(code, EXPECTED, LIMITS).passed


# ---- disabling in-process checks ----

def test_frame_walking_to_disable_in_process_checks_gains_nothing(tmp_path):
    marker = Path(mlnb.__file__).parent / f"escaped-{secrets.token_hex(4)}"
    attempt(f"""
        import sys
        frame = sys._getframe()
        while frame is not None:  # flip every flag of every frame's globals, as the old bypass did
            for key, value in list(frame.f_globals.items()):
                if isinstance(value, list) and value == [False]:
                    value[0] = True
            frame = frame.f_back
        import subprocess
        out = subprocess.run(["id"], capture_output=True, text=True)
        open({str(marker)!r}, "w").write(out.stdout)
        ok = True
    """)
    assert not marker.exists()


# ---- reading what is not the program's ----

def test_reading_etc_shadow_is_blocked():
    attempt("ok = bool(open('/etc/shadow').read())")
    attempt("ok = bool(open('/proc/1/root/etc/shadow').read())")


def test_the_home_folder_is_not_visible():
    home = Path.home()
    python_top = Path(sys.base_prefix).resolve().relative_to(home).parts[0] if str(Path(sys.base_prefix).resolve()).startswith(str(home) + "/") else None
    real_entries = sorted(set(os.listdir(home)) - {python_top})
    assert real_entries, "the test needs a home folder with something in it"
    attempt(f"""
        import os
        ok = any(os.path.lexists(os.path.join({str(home)!r}, name)) for name in {real_entries!r})
    """)


def test_the_project_tree_and_its_env_file_are_not_visible():
    assert (REPO / "pyproject.toml").exists()
    attempt(f"ok = bool(open({str(REPO / 'pyproject.toml')!r}).read())")
    attempt(f"ok = bool(open({str(REPO / '.env')!r}).read())")


def test_the_parents_environment_and_files_are_not_visible(tmp_path):
    private = tmp_path / "parent-private.txt"
    private.write_text("parent data")
    attempt(f"ok = bool(open('/proc/{PARENT}/environ').read())")
    attempt(f"import os\nok = bool(os.listdir('/proc/{PARENT}/fd'))")
    attempt(f"ok = open({str(private)!r}).read() == 'parent data'")


def test_a_secret_in_the_parents_environment_never_reaches_the_program_or_the_reason(monkeypatch):
    value = secrets.token_urlsafe(24)
    monkeypatch.setenv("MLNB_TEST_SETTING_VALUE", value)  # a name that does not look secret
    result = attempt(f"""
        import os, glob
        seen = repr(dict(os.environ))
        for path in glob.glob('/proc/*/environ'):
            try:
                seen += open(path, errors='replace').read()
            except OSError:
                pass
        print(seen)
        raise RuntimeError(seen)
    """)
    assert value not in result.reason and "MLNB_TEST_SETTING_VALUE" not in result.reason
    # and if a program prints such a value (it cannot know it; here the test tells it), it is scrubbed
    leaked = run_tests(f"print({value!r})", EXPECTED, LIMITS)
    assert not leaked.passed and value not in leaked.reason and "***" in leaked.reason


# ---- writing outside the scratch tmpfs ----

def test_writing_outside_scratch_is_blocked(tmp_path):
    target = tmp_path / "escaped.txt"
    attempt(f"open({str(target)!r}, 'w').write('x')\nok = True")
    attempt("open('/escaped.txt', 'w').write('x')\nok = True")
    attempt("import os\nopen(os.__file__, 'a').write('# x')\nok = True")  # the read-only stdlib
    assert not target.exists()


def test_writing_into_the_venv_site_packages_is_blocked():
    target = Path(VENV_SITE) / f"mlnb-escape-{secrets.token_hex(4)}.pth"
    attempt(f"open({str(target)!r}, 'w').write('import os')\nok = True")
    assert not target.exists()


def test_filling_the_scratch_tmpfs_is_bounded():
    attempt("""
        block, written = b'x' * (1 << 20), 0
        try:
            for i in range(100):
                with open(f'/tmp/fill{i}', 'wb') as f:
                    for _ in range(3):
                        f.write(block)
                        written += 1
        except OSError:
            pass
        ok = written > 16
    """, SandboxLimits(timeout_s=4.0, memory_mb=256, scratch_mb=16, file_mb=4))


# ---- network ----

def test_a_socket_to_a_real_localhost_listener_is_blocked():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        attempt(f"""
            import socket
            s = socket.create_connection(('127.0.0.1', {port}), timeout=2)
            s.sendall(b'hello')
            ok = True
        """)
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert not accepted


def test_an_abstract_unix_socket_of_the_host_is_blocked():
    name = f"\0mlnb-escape-{secrets.token_hex(6)}"
    server = socket.socket(socket.AF_UNIX)
    server.bind(name)
    server.listen(1)
    server.settimeout(0.1)
    try:
        attempt(f"import socket\nsocket.socket(socket.AF_UNIX).connect({name!r})\nok = True")
        with pytest.raises(OSError):
            server.accept()
    finally:
        server.close()


def test_sockets_to_elsewhere_and_name_lookups_are_blocked():
    attempt("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\nok = True")
    attempt("import socket\nok = bool(socket.getaddrinfo('pypi.org', 443))")


# ---- processes ----

def test_subprocess_cannot_run_host_tools():
    attempt("import subprocess\nok = subprocess.run(['/bin/sh', '-c', 'id'], capture_output=True).returncode == 0")
    attempt("import subprocess\nok = subprocess.run(['id'], capture_output=True).returncode == 0")


def test_a_python_subprocess_stays_inside_the_sandbox():
    child = f"print(open({str(REPO / 'pyproject.toml')!r}).read())"
    attempt(f"""
        import subprocess, sys
        out = subprocess.run([sys.executable, '-S', '-c', {child!r}], capture_output=True, text=True)
        print(out.returncode, out.stderr.strip().splitlines()[-1])
        ok = 'mlnb' in out.stdout
    """)


def test_os_system_is_blocked():
    attempt("import os\nok = os.system('id > /tmp/id.txt') == 0")


def test_posixsubprocess_fork_exec_is_blocked():
    attempt("""
        import _posixsubprocess, os
        r, w = os.pipe()
        pid = _posixsubprocess.fork_exec(
            [b'/bin/sh', b'-c', b'id'], [b'/bin/sh'], True, (w,), None, None,
            -1, -1, -1, -1, -1, -1, r, w, False, False, False, None, None, None, -1, None, False)
        _, status = os.waitpid(pid, 0)
        ok = status == 0
    """)


def test_a_forked_child_cannot_write_to_the_host(tmp_path):
    marker = tmp_path / "from-fork.txt"
    attempt(f"""
        import os
        pid = os.fork()
        if pid == 0:
            try:
                open({str(marker)!r}, 'w').write('x')
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        ok = os.path.exists({str(marker)!r})
    """)
    assert not marker.exists()


def test_ctypes_cannot_gain_privileges_or_new_namespaces():
    attempt("""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.setuid(0) == 0 or libc.unshare(0x10000000) == 0 or libc.unshare(0x40000000) == 0 \\
            or libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0 or libc.chroot(b'/tmp') == 0
    """)


def test_ptrace_of_the_parent_is_blocked():
    attempt(f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.ptrace(16, {PARENT}, 0, 0) == 0  # PTRACE_ATTACH
    """)
    status = Path(f"/proc/{PARENT}/status").read_text()
    assert "TracerPid:\t0" in status


def test_signals_cannot_reach_host_processes():
    sentinel = subprocess.Popen(["sleep", "30"], **({"user": 65534, "group": 65534} if os.geteuid() == 0 else {}))
    try:
        attempt(f"""
            import os, signal
            os.kill({PARENT}, signal.SIGKILL)
            ok = True
        """)
        attempt(f"""
            import os, signal
            os.kill({sentinel.pid}, signal.SIGKILL)
            ok = True
        """)
        attempt("import os, signal\nos.kill(-1, signal.SIGKILL)")  # every process it may signal
        time.sleep(0.2)
        assert sentinel.poll() is None, "a host process of the same user was killed from the sandbox"
    finally:
        sentinel.kill()
        sentinel.wait()


def test_a_setsid_daemon_does_not_outlive_the_test(tmp_path):
    name = f"mlnbd{secrets.token_hex(3)}"
    marker = tmp_path / "daemon.txt"
    attempt(SET_NAME.format(name=name) + f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(2)
        for path in ({str(marker)!r}, '/tmp/daemon.txt'):
            try:
                open(path, 'w').write('still alive')
            except OSError:
                pass
        time.sleep(60)
    os._exit(0)
""")
    time.sleep(3)  # past the moment the daemon would write
    assert not marker.exists()
    assert _alive_with_name(name) == []


def test_a_fork_bomb_is_contained_and_leaves_nothing():
    name = f"mlnbb{secrets.token_hex(3)}"
    started = time.monotonic()
    result = attempt(SET_NAME.format(name=name) + """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
""")
    assert "ran longer than 4 s" in result.reason or "killed" in result.reason
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 5
    while _alive_with_name(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive_with_name(name) == []


def test_the_process_count_is_limited():
    attempt("""
        import os, time
        children = 0
        while children < 200:
            if os.fork() == 0:
                time.sleep(5)
                os._exit(0)
            children += 1
        ok = True
    """)


# ---- resources ----

def test_an_8_gb_allocation_fails():
    result = attempt("x = bytearray(8 * 1024 ** 3)\nok = True")
    assert "MemoryError" in result.reason or "killed" in result.reason or "wrong output" in result.reason


def test_an_infinite_loop_is_killed_on_the_wall_clock():
    started = time.monotonic()
    result = attempt("while True:\n    pass", SandboxLimits(timeout_s=2.0))
    assert "ran longer than 2 s; killed" in result.reason and time.monotonic() - started < 15


def test_huge_output_is_cut_off():
    result = attempt("import sys\nwhile True:\n    sys.stdout.write('5\\n' * 500000)")
    assert "printed more than allowed" in result.reason and len(result.reason) < 300


def test_devices_and_shared_memory_are_not_writable():
    attempt("import os\nok = any(os.path.exists('/dev/' + d) for d in ('vda', 'sda', 'nvme0n1', 'mem', 'kmsg'))")
    attempt("open('/dev/shm/x', 'w').write('x')\nok = True")


def test_the_sandbox_user_is_unprivileged_inside_and_outside():
    attempt("""
        import os
        ok = os.getuid() == 0 or os.geteuid() == 0
        if not ok:
            for line in open('/proc/self/status'):
                if line.startswith('CapEff:'):
                    ok = int(line.split()[1], 16) != 0
    """)


def test_everything_in_the_sandbox_dies_with_the_scorer():
    name = f"mlnbp{secrets.token_hex(3)}"
    program = SET_NAME.format(name=name) + "import time\ntime.sleep(600)\n"
    scorer = subprocess.Popen([sys.executable, "-c", (
        "from mlnb.accuracy.code_sandbox import SandboxLimits, run_tests\n"
        f"run_tests({program!r}, [{{'input': '', 'output': '5'}}], SandboxLimits(timeout_s=300))\n"
    )], env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 60
        while not _alive_with_name(name) and time.monotonic() < deadline and scorer.poll() is None:
            time.sleep(0.1)
        assert _alive_with_name(name), "the sandboxed program never started"
    finally:
        scorer.kill()  # SIGKILL: no clean-up code of the scorer runs
        scorer.wait()
    deadline = time.monotonic() + 5
    while _alive_with_name(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive_with_name(name) == []
