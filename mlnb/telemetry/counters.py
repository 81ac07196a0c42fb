"""The harness's progress counters, shared with the telemetry sampler's process through shared memory.

The harness (writer) stores issued queries, completed queries and output tokens as three int64s in a
24-byte anonymous memory file (``memfd_create``: it has no name, so nothing is left behind however the
harness ends); the sampler process (reader) inherits its descriptor and maps it. A store is one
``struct.pack_into`` in the harness, with no lock, no thread and no system call. A read may mix two
stores (say, ``issued`` from after one completion and ``completed`` from before it); the counters only
grow, so a series can be off by a query for one sample, never drift.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile

_LAYOUT = struct.Struct("<3q")  # issued, completed, output tokens


def _anonymous_file() -> int:
    """A descriptor of a file with no name: memfd on Linux, else a temporary file unlinked at once."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("mlnb-progress", os.MFD_CLOEXEC)  # the sampler gets it through pass_fds
    fd, name = tempfile.mkstemp(prefix="mlnb-progress-")
    os.unlink(name)
    return fd


class SharedCounters:
    def __init__(self, fd: int, writable: bool):
        self.fd = fd  # passed to the sampler process (``pass_fds``)
        self.closed = False
        access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
        self._map = mmap.mmap(fd, _LAYOUT.size, access=access)

    @classmethod
    def create(cls) -> "SharedCounters":
        fd = _anonymous_file()
        os.ftruncate(fd, _LAYOUT.size)  # zero-filled
        return cls(fd, writable=True)

    @classmethod
    def attach(cls, fd: int) -> "SharedCounters":
        return cls(fd, writable=False)

    def publish(self, issued: int, completed: int, tokens: int) -> None:
        if self.closed:  # a completion that came after the stage's end (a backend past its stop timeout)
            return
        _LAYOUT.pack_into(self._map, 0, issued, completed, tokens)

    def read(self) -> tuple[int, int, int]:
        return _LAYOUT.unpack_from(self._map, 0)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._map.close()
            os.close(self.fd)
