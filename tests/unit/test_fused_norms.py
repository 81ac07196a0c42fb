"""The static path's prefill runs a model's RMSNorm layers through torch's fused rms_norm, and only
where that call gives the layer's own output."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mlnb.backends.fused_norms import fusable_norms, fused

TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256, rms_norm_eps=1e-5)


class OffsetRMSNorm(torch.nn.Module):
    """Gemma's form: the weight is stored as an offset from one."""

    def __init__(self, size: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(size))
        self.eps = 1e-6

    def forward(self, x):
        normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed * (1.0 + self.weight)


def _llama(dtype):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**TINY)).to(dtype).eval()
    for module in model.modules():  # weights away from one, so a swapped-in wrong norm would show
        if type(module).__name__.endswith("RMSNorm"):
            module.weight.data.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_llama_norm_is_swapped_and_the_logits_stay_within_rounding(dtype):
    model = _llama(dtype)
    norms = fusable_norms(model)
    assert len(norms) == 2 * TINY["num_hidden_layers"] + 1  # two per layer and the final one
    ids = torch.randint(0, TINY["vocab_size"], (3, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        own = model(input_ids=ids).logits.float()
        with fused(norms):
            swapped = model(input_ids=ids).logits.float()
    tolerance = 1e-4 if dtype == torch.float32 else 0.1
    assert torch.allclose(own, swapped, atol=tolerance, rtol=tolerance)
    if dtype == torch.float32:
        assert torch.equal(own.argmax(-1), swapped.argmax(-1))


def test_a_norm_that_computes_something_else_keeps_its_forward():
    model = torch.nn.Sequential(OffsetRMSNorm(32))
    assert fusable_norms(model) == []


def test_the_swap_ends_with_the_block_even_when_it_raises():
    model = _llama(torch.float32)
    norms = fusable_norms(model)
    module = norms[0][0]
    with pytest.raises(RuntimeError), fused(norms):
        assert "forward" in vars(module)
        raise RuntimeError("a prefill failed")
    assert "forward" not in vars(module) and all("forward" not in vars(m) for m, _ in norms)


def test_a_forward_set_on_the_instance_before_is_put_back():
    model = _llama(torch.float32)
    norms = fusable_norms(model)
    module = norms[0][0]
    hooked = module.forward  # as a device hook would wrap it
    module.forward = hooked
    with fused(norms):
        assert module.forward is not hooked
    assert vars(module)["forward"] is hooked
