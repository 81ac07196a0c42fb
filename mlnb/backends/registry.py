"""The backends by name: ``get_backend("sim")`` returns the class a stage's ``backend`` names.

The engine modules do not import this one (it imports them), so the table and the engines form no circle.
"""

from __future__ import annotations

from functools import cache

from mlnb.backends.base import Backend
from mlnb.registry import Registry

BACKENDS: Registry[type[Backend]] = Registry("backend")


@cache
def _add_built_in_backends() -> None:
    # Imported on first use, not with this module, so that `mlnb list` does not import torch.
    from mlnb.backends.hf import HFBackend
    from mlnb.backends.openai_api import OpenAIBackend
    from mlnb.backends.sim import SimBackend
    from mlnb.backends.vllm_engine import VLLMBackend

    for name, backend in (("hf", HFBackend), ("openai", OpenAIBackend), ("sim", SimBackend), ("vllm", VLLMBackend)):
        BACKENDS.add(name, backend)


def get_backend(name: str, where: str | None = None) -> type[Backend]:
    _add_built_in_backends()
    return BACKENDS.get(name, where)
