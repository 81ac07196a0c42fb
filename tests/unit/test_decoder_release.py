"""A released static decoder lets its cache ring go, even while something still refers to the decoder
(a benchmark's local variable once kept 60 GiB alive into the next load)."""

import gc
import weakref

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mlnb.backends.static_decode import Row, StaticDecoder


def test_release_frees_the_ring_while_the_decoder_is_still_referenced():
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=256)
    model = LlamaForCausalLM(config).eval()
    decoder = StaticDecoder(model, [1, 2], 32, {2}, 0, use_cuda_graphs=False)
    decoder.generate([Row([5, 6, 7], 4, 4, True, key=0)], lambda *_: None)
    assert decoder.steps_run > 0  # the ring was used
    key_cache = weakref.ref(decoder.ring.layers[0].keys)
    del model
    decoder.release()
    gc.collect()
    assert decoder is not None and key_cache() is None
    assert decoder.model is None and decoder.prefill_norms == []
