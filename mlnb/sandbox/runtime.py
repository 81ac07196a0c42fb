"""What a sandbox sees of this machine: the Python interpreter and its standard library, read-only.

Nothing else is exposed: not the project's virtual environment or any site-packages, not the project
tree, the home folder, ``/etc`` or ``.env``. The interpreter is the base one behind the virtual
environment (a venv's ``python`` is usually a symlink into, say, a pyenv prefix), bound at its real
path so that its own search for the standard library and its RUNPATH to libpython work unchanged.
Of the shared libraries it and its extension modules load (as ``ldd`` lists them), those of the
Python installation (libpython) are bound one file at a time; the system folder the others come from
(``/usr/lib/x86_64-linux-gnu``), which holds only shared libraries, is bound whole, and the host's
symlinks on their paths (``/lib -> usr/lib``) are re-created.

When mlnb runs as root, the sandbox is started as ``nobody``. A file that ``nobody`` cannot read
(a pyenv in a root home folder of mode 700) is staged: hard-linked, or copied, into a private folder that
``nobody`` can read, removed when this process exits (or by the next one, if it was killed), and
bound from there at its usual path.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Iterable, Optional

NOBODY = 65534
# Folders inside the standard library that are not part of it: hidden under an empty read-only tmpfs.
MASKED_NAMES = ("site-packages", "dist-packages")
# Also left out of a staged copy: the regression-test suite is large and no solution needs it.
NOT_STAGED = (*MASKED_NAMES, "test")
_EXTENSION_PROBES = ("_json", "_struct", "math", "select", "_posixsubprocess", "_ctypes")


class RuntimeUnavailable(RuntimeError):
    """The interpreter or its libraries cannot be described for binding (the message says why)."""


@dataclass(frozen=True)
class RuntimeView:
    python: str  # the interpreter, at the same path inside as outside
    stdlib: str
    binds: tuple[tuple[str, str], ...]  # (host source, sandbox path), read-only
    symlinks: tuple[tuple[str, str], ...]  # (link target, sandbox path)
    masks: tuple[str, ...]  # sandbox folders covered by an empty read-only tmpfs
    staged_in: Optional[str] = None  # host folder holding staged copies, if any

    def bwrap_args(self) -> list[str]:
        args: list[str] = []
        for target, link in self.symlinks:
            args += ["--symlink", target, link]
        for source, dest in self.binds:
            args += ["--ro-bind", source, dest]
        for folder in self.masks:
            args += ["--tmpfs", folder, "--remount-ro", folder]
        return args


def base_python() -> str:
    """The real interpreter file behind ``sys.executable`` (a venv's python is a symlink or a copy)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (os.path.join(sys.base_exec_prefix, "bin", version), sys.executable):
        real = os.path.realpath(candidate)
        if os.path.isfile(real) and os.access(real, os.X_OK):
            return real
    raise RuntimeUnavailable(f"no interpreter file found for {sys.executable}")


def _stdlib_folders() -> list[str]:
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    folders = [stdlib]
    for name in _EXTENSION_PROBES:  # lib-dynload, which some builds keep outside the stdlib folder
        spec = importlib.util.find_spec(name)
        origin = getattr(spec, "origin", None)
        if origin and os.path.isfile(origin):
            folder = os.path.realpath(os.path.dirname(origin))
            if folder not in folders and not folder.startswith(stdlib + os.sep):
                folders.append(folder)
    return folders


def _extension_files(folders: Iterable[str]) -> list[str]:
    found = []
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d not in NOT_STAGED]
            found += [os.path.join(root, f) for f in files if f.endswith(".so")]
    return found


def shared_libraries(files: list[str]) -> list[str]:
    """Every shared library (and the ELF interpreter) that ``files`` load, by the paths ldd reports."""
    ldd = shutil.which("ldd", path="/usr/bin:/bin")
    if ldd is None:
        raise RuntimeUnavailable("ldd not found (Debian package libc-bin); it lists the libraries to expose")
    libraries: set[str] = set()
    for start in range(0, len(files), 64):
        listing = subprocess.run([ldd, *files[start:start + 64]], capture_output=True, text=True,
                                 env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}, timeout=60, check=False).stdout
        for line in listing.splitlines():
            words = line.split()
            if "=>" in words:
                after = words[words.index("=>") + 1:]
                if after and after[0].startswith("/"):
                    libraries.add(after[0])
            elif words and words[0].startswith("/") and not words[0].endswith(":"):
                libraries.add(words[0])  # the ELF interpreter, e.g. /lib64/ld-linux-x86-64.so.2
    return sorted(libraries)


class _Plan:
    """Binds and symlinks that make host paths resolve to the same files inside the sandbox."""

    def __init__(self) -> None:
        self.binds: dict[str, str] = {}  # sandbox path -> host source
        self.symlinks: dict[str, str] = {}  # sandbox path -> target

    def expose(self, path: str, whole_folder: bool = False, depth: int = 0) -> None:
        """Make ``path`` resolve inside as outside; ``whole_folder`` binds the folder holding the file."""
        if depth > 40:
            raise RuntimeUnavailable(f"too many symlinks resolving {path}")
        current = "/"
        parts = [p for p in os.path.normpath(path).split("/") if p]
        for index, part in enumerate(parts):
            candidate = os.path.join(current, part)
            if os.path.islink(candidate):
                target = os.readlink(candidate)
                self.symlinks.setdefault(candidate, target)
                resolved = os.path.normpath(os.path.join(current, target))
                return self.expose(os.path.join(resolved, *parts[index + 1:]), whole_folder, depth + 1)
            current = candidate
        if not os.path.exists(current):
            raise RuntimeUnavailable(f"{current} does not exist")
        if whole_folder:
            current = os.path.dirname(current)
        self.binds.setdefault(current, current)

    def pruned_symlinks(self) -> list[tuple[str, str]]:
        """(target, link) for links not inside a bound folder (those come with the folder)."""
        folders = [dest for dest in self.binds if os.path.isdir(dest)]
        return [(target, link) for link, target in sorted(self.symlinks.items())
                if not any(link.startswith(folder + "/") for folder in folders)]

    def pruned_binds(self) -> list[tuple[str, str]]:
        """Binds in path order, without those already inside a bound folder."""
        kept: list[tuple[str, str]] = []
        for dest in sorted(self.binds):
            if any(dest.startswith(folder + "/") for _, folder in kept if os.path.isdir(folder)):
                continue
            kept.append((self.binds[dest], dest))
        return kept


def _world_readable(path: str) -> bool:
    """True when a user who is neither owner nor in the group can reach and read ``path``."""
    real = os.path.realpath(path)
    parent = os.path.dirname(real)
    while True:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        if parent == "/":
            break
        parent = os.path.dirname(parent)
    mode = os.stat(real).st_mode
    needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & needed == needed


def _makedirs_readable(folder: str) -> None:
    if os.path.isdir(folder):
        return
    _makedirs_readable(os.path.dirname(folder))
    os.mkdir(folder)
    os.chmod(folder, 0o755)


def _stage_file(source: str, dest: str) -> None:
    _makedirs_readable(os.path.dirname(dest))
    if os.path.islink(source):
        os.symlink(os.readlink(source), dest)
        return
    if os.stat(source).st_mode & stat.S_IROTH:
        try:
            os.link(source, dest)  # same file, no copy; it is bound read-only
            return
        except OSError:
            pass
    shutil.copy2(source, dest)
    os.chmod(dest, 0o755 if os.access(source, os.X_OK) else 0o644)


def _stage_tree(source: str, dest: str) -> None:
    _makedirs_readable(dest)
    for root, dirs, files in os.walk(source):
        if root == source:
            dirs[:] = [d for d in dirs if d not in NOT_STAGED]
        target_root = os.path.join(dest, os.path.relpath(root, source))
        _makedirs_readable(target_root)
        for name in files:
            _stage_file(os.path.join(root, name), os.path.join(target_root, name))
        for name in [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            _stage_file(os.path.join(root, name), os.path.join(target_root, name))


STAGING_PREFIX = "mlnb-sandbox-runtime-"


def _remove_stale_stagings() -> None:
    """Staged copies left by processes that died without running their exit handlers."""
    root = tempfile.gettempdir()
    for entry in os.scandir(root):
        if not entry.name.startswith(STAGING_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        pid = entry.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and entry.stat(follow_symlinks=False).st_uid == os.geteuid() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(entry.path, ignore_errors=True)


def _build(for_nobody: bool) -> RuntimeView:
    python = base_python()
    folders = _stdlib_folders()
    plan = _Plan()
    plan.expose(python)
    for folder in folders:
        plan.expose(folder)
    prefixes = tuple(os.path.realpath(p) + "/" for p in {sys.base_prefix, sys.base_exec_prefix})
    for library in shared_libraries([python, *_extension_files(folders)]):
        # The system's library folder is bound whole (one mount instead of dozens; it holds only
        # libraries); a library of the Python installation itself (libpython) file by file.
        plan.expose(library, whole_folder=not os.path.realpath(library).startswith(prefixes))
    binds = plan.pruned_binds()
    staged_in = None
    if for_nobody and not all(_world_readable(source) for source, _ in binds):
        _remove_stale_stagings()
        staged_in = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-")
        os.chmod(staged_in, 0o755)
        atexit.register(shutil.rmtree, staged_in, True)
        staged = []
        for source, dest in binds:
            if _world_readable(source):
                staged.append((source, dest))
                continue
            copy = staged_in + source
            (_stage_tree if os.path.isdir(source) else _stage_file)(source, copy)
            staged.append((copy, dest))
        binds = staged
    sources = {dest: source for source, dest in binds}
    masks = tuple(
        os.path.join(folder, name) for folder in folders for name in MASKED_NAMES
        if folder in sources and os.path.isdir(os.path.join(sources[folder], name))
    )
    symlinks = tuple(plan.pruned_symlinks())
    return RuntimeView(python, folders[0], tuple(binds), symlinks, masks, staged_in)


_views: dict[bool, RuntimeView] = {}
_lock = threading.Lock()


def runtime_view(for_nobody: bool) -> RuntimeView:
    """The read-only view, built once per process (staging, when needed, takes a fraction of a second)."""
    with _lock:
        if for_nobody not in _views:
            _views[for_nobody] = _build(for_nobody)
        return _views[for_nobody]
