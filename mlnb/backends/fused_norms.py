"""A model's RMSNorm layers run as torch's one-kernel ``rms_norm`` while the static path prefills.

transformers writes RMSNorm as separate tensor ops: a cast to float32, a square, a mean, a multiply, a
cast back and a multiply by the weight, each a pass over the activations. In a wide prefill those passes
are memory-bound work beside matmuls that run near the GPU's peak, so they take a share of the time far
above their arithmetic. ``torch.nn.functional.rms_norm`` does the same in one pass on a GPU.

A layer is swapped only where the fused call gives what the layer gives (checked once, on a sample
input): a norm written differently (Gemma's ``1 + weight``, a float32 weight beside bfloat16
activations) keeps its own forward. The decode step is left alone: it is compiled, and the compiler
fuses its norms itself.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


def _eps(module) -> float | None:
    for name in ("variance_epsilon", "eps"):
        value = getattr(module, name, None)
        if isinstance(value, float):
            return value
    return None


def _fused_forward(module, eps: float):
    import torch

    weight = module.weight

    def forward(hidden_states):
        return torch.nn.functional.rms_norm(hidden_states, weight.shape, weight, eps)

    return forward


def fusable_norms(model) -> list[tuple[Any, float]]:
    """The model's RMSNorm layers that the fused call reproduces, each with its epsilon."""
    import torch

    found = []
    samples: dict[tuple, Any] = {}
    with torch.no_grad():
        for module in model.modules():
            weight = getattr(module, "weight", None)
            eps = _eps(module)
            if not type(module).__name__.endswith("RMSNorm") or eps is None or weight is None or weight.dim() != 1:
                continue
            key = (weight.shape[0], weight.dtype, weight.device)
            if key not in samples:
                generator = torch.Generator(device="cpu").manual_seed(0)
                sample = torch.randn((2, 3, weight.shape[0]), generator=generator) * 3
                samples[key] = sample.to(device=weight.device, dtype=weight.dtype)
            sample = samples[key]
            try:
                expected = module(sample)
                got = _fused_forward(module, eps)(sample)
            except Exception:  # noqa: BLE001 - a norm called some other way keeps its own forward
                continue
            # A few units in the last place of the dtype: the fused kernel rounds once where transformers
            # rounds before the weight multiply, and sums the squares in another order.
            tolerance = 8 * torch.finfo(weight.dtype).eps
            same = expected.shape == got.shape and expected.dtype == got.dtype
            if same and torch.allclose(got.float(), expected.float(), rtol=tolerance, atol=tolerance):
                found.append((module, eps))
    return found


@contextmanager
def fused(norms: list[tuple[Any, float]]) -> Iterator[None]:
    """Within the block, each of ``norms`` runs the fused call; afterwards the forward it had before."""
    # A forward set on the instance (accelerate's device hooks set one) is put back, not deleted.
    previous = [vars(module).get("forward") for module, _eps_value in norms]
    for module, eps in norms:
        module.forward = _fused_forward(module, eps)  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        for (module, _eps_value), before in zip(norms, previous):
            if before is None:
                del module.forward
            else:
                module.forward = before
