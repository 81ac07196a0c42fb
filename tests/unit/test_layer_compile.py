"""The static path compiles one decoder layer and runs every layer's decode step through it: one
compiled graph for all layers and batch sizes, the same greedy tokens as the uncompiled step, and the
layers' own forward back afterwards. Compiled with inductor's CPU backend here (a C++ compiler)."""

import shutil

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mlnb.backends.layer_compile import CompiledLayers, decoder_layers
from mlnb.backends.static_decode import Row, StaticDecoder

LAYERS = 6
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=LAYERS, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256)


def _decoder():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**TINY)).eval()
    return StaticDecoder(model, [4], max_context=48, eos_ids={2}, pad_id=0, use_cuda_graphs=False)


def _decode(decoder, prompts, new_tokens=12):
    out = {}

    def keep(row, tokens, done):
        if done:
            out[row.key] = list(tokens)

    decoder.generate([Row(p, new_tokens, new_tokens, ignore_eos=True, key=i) for i, p in enumerate(prompts)], keep)
    return [out[i] for i in range(len(prompts))]


PROMPTS = [[5, 17, 33, 9, 41, 7], [12, 3, 88], [64, 65, 66, 67, 68, 69, 70, 71], [9, 9, 200]]


@pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++")), reason="inductor's CPU backend needs a C++ compiler")
def test_one_graph_serves_every_layer_and_batch_size_and_gives_the_uncompiled_tokens():
    plain = _decode(_decoder(), PROMPTS)
    decoder = _decoder()
    torch._dynamo.reset()
    compiled = CompiledLayers(decoder.model, decoder.ring, dynamic_batch=True)
    compiled.install()
    try:
        graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        # An eager step runs at the live rows' count: 4 rows here, then 3 and 2 below.
        assert _decode(decoder, PROMPTS) == plain
        assert _decode(decoder, PROMPTS[:3]) == plain[:3]
        assert _decode(decoder, PROMPTS[1:3]) == plain[1:3]
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs_before
    finally:
        compiled.remove()
    assert graphs == 1, f"{graphs} graphs compiled for {LAYERS} layers and three batch sizes"
    assert all("forward" not in vars(layer) for layer in decoder_layers(decoder.model))


def test_layers_with_a_forward_of_their_own_are_refused_not_bypassed():
    decoder = _decoder()
    layer = decoder_layers(decoder.model)[1]
    layer.forward = lambda *args, **kwargs: None  # as accelerate's hooks do
    with pytest.raises(ValueError, match=r"\[1\]"):
        CompiledLayers(decoder.model, decoder.ring, dynamic_batch=False).install()
