"""How mlnb executes a notebook: the kernel's name and a kernel manager that keeps to a private folder.

The pipeline runs the stage notebooks with it and ``mlnb compare`` the comparison notebook.
"""

from __future__ import annotations

import os
from typing import IO, Optional

from mlnb.lifecycle import child_env, die_with_parent_preexec

KERNEL = "python3"


def kernel_manager_class(
    socket_dir: str, started: Optional[list] = None, marks: Optional[dict[str, str]] = None, log: Optional[IO] = None
):
    """Kernels on IPC sockets in a private folder: no TCP ports opened, no plain-text TCP warning.

    Each manager created is appended to ``started`` (when given), so an interrupted run can stop it.
    Each kernel dies with the thread that started it (parent-death signal) and carries ``marks``
    in its environment (the run's and the stage's folder), which its children inherit. ``log`` (an open
    file) takes the kernel process's own output: jupyter_client interrupts a kernel before shutting it
    down, and ipykernel then logs "KeyboardInterrupt caught in kernel", which belongs in the stage's log
    rather than on the user's terminal.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if started is not None:
                started.append(self)

        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return os.path.join(socket_dir, "kernel")

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            kw["env"] = child_env(kw.get("env"), **(marks or {}))
            kw["preexec_fn"] = die_with_parent_preexec()
            if log is not None:
                log.flush()
                kw["stdout"] = kw["stderr"] = log
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return LocalKernelManager
