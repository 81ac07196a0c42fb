"""The harness's progress counters, shared with the telemetry sampler's process through a mapped file.

The harness (writer) stores issued queries, completed queries and output tokens as three int64s in a
24-byte file mapped into memory; the sampler process (reader) maps the same file and reads them at each
tick. A store is one ``struct.pack_into`` in the harness, with no lock, no thread and no system call.
A read may mix two stores (say, ``issued`` from after one completion and ``completed`` from before it);
the counters only grow, so a series can be off by a query for one sample, never drift.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from pathlib import Path

_LAYOUT = struct.Struct("<3q")  # issued, completed, output tokens


def _shared_folder() -> str | None:
    """Memory-backed when the host has it, so a store never reaches a disk."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class SharedCounters:
    def __init__(self, path: Path, writable: bool):
        self.path = Path(path)
        with open(self.path, "r+b" if writable else "rb") as handle:
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            self._map = mmap.mmap(handle.fileno(), _LAYOUT.size, access=access)

    @classmethod
    def create(cls) -> "SharedCounters":
        """A new zeroed file; the harness unlinks it once the sampler has mapped it (``forget_path``)."""
        fd, name = tempfile.mkstemp(prefix="mlnb-progress-", dir=_shared_folder())
        with os.fdopen(fd, "wb") as handle:
            handle.write(b"\0" * _LAYOUT.size)
        return cls(Path(name), writable=True)

    @classmethod
    def attach(cls, path: Path) -> "SharedCounters":
        return cls(path, writable=False)

    def publish(self, issued: int, completed: int, tokens: int) -> None:
        _LAYOUT.pack_into(self._map, 0, issued, completed, tokens)

    def read(self) -> tuple[int, int, int]:
        return _LAYOUT.unpack_from(self._map, 0)

    def forget_path(self) -> None:
        """Remove the file's name; both mappings stay valid until closed."""
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self.forget_path()
        self._map.close()
