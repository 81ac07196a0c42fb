"""A little disk space held back for a run's last words.

When the disk fills up mid-stage, the run still has to write failure.json, run.json ("failed") and
its index. Each run folder holds a small reserve file from the start; the first write that fails
for lack of space releases it and tries again. The reserve is removed when the run ends.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Callable, Optional, TypeVar

RESERVE_FILE = ".mlnb-disk-reserve"
RESERVE_BYTES = 1 << 20  # failure.json, run.json, the rollup and the index need far less
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}

T = TypeVar("T")


def hold(run_dir: Path, size: int = RESERVE_BYTES) -> bool:
    """Write the reserve (real blocks, not a sparse file); False when even that does not fit."""
    try:
        with open(run_dir / RESERVE_FILE, "wb") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    except OSError:
        release(run_dir)
        return False


def release(run_dir: Path) -> None:
    try:
        (run_dir / RESERVE_FILE).unlink(missing_ok=True)
    except OSError:
        pass


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in _DISK_FULL


def write_or_say(run_dir: Path, what: str, write: Callable[[], T], echo=print) -> Optional[T]:
    """Run ``write``; on a full disk release the reserve and try once more; on failure say so in one line."""
    try:
        return write()
    except OSError as err:
        if is_disk_full(err):
            release(run_dir)
            try:
                return write()
            except OSError as again:
                err = again
        echo(f"{what} not written: {err.strerror or err} ({getattr(err, 'filename', None) or run_dir})")
        return None
