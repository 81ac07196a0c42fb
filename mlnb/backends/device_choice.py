"""Which device a run uses when the user says ``device=auto`` (or asks for N replicas without naming devices).

The choice itself is a pure function of (index, free bytes) pairs, so it is tested without a GPU;
``cuda_free_memory`` reads those pairs from the driver where CUDA exists.
"""

from __future__ import annotations

from typing import Sequence


def most_free(free_by_index: Sequence[tuple[int, int]], count: int = 1) -> list[int]:
    """The ``count`` GPU indices with the most free memory, most free first; ties go to the lower index."""
    ranked = sorted(free_by_index, key=lambda pair: (-pair[1], pair[0]))
    return [index for index, _ in ranked[:count]]


def cuda_free_memory() -> list[tuple[int, int]]:
    """(index, free bytes) of every visible CUDA GPU; empty without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [(i, int(torch.cuda.mem_get_info(i)[0])) for i in range(torch.cuda.device_count())]


def choose_devices(count: int, free_by_index: Sequence[tuple[int, int]]) -> tuple[list[str], str]:
    """-> (devices, a sentence saying what was chosen and why). CPU (``count`` times) when no GPU is visible.

    More replicas than GPUs is refused: two engines on one GPU would halve each other's memory and speed.
    """
    if not free_by_index:
        return ["cpu"] * count, "device=auto: no CUDA GPU visible, using the CPU"
    if count > len(free_by_index):
        raise ValueError(f"replicas={count} but only {len(free_by_index)} CUDA GPUs are visible")
    chosen = most_free(free_by_index, count)
    free = dict(free_by_index)
    listed = ", ".join(f"cuda:{i} ({free[i] / 2**30:.1f} GiB free)" for i in chosen)
    return [f"cuda:{i}" for i in chosen], (
        f"device=auto: {listed}, the most free memory of {len(free_by_index)} visible GPUs"
    )
