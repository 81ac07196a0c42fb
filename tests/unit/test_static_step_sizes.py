"""The batch a static decode step runs at: a recorded size when steps replay graphs, exact when eager."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mlnb.backends.static_decode import Row, StaticDecoder


def _decoder(sizes):
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=256)
    return StaticDecoder(LlamaForCausalLM(config).eval(), sizes, 64, {2}, 0, use_cuda_graphs=False)


def test_eager_steps_run_at_the_rows_in_use_and_graph_replays_at_a_recorded_size():
    decoder = _decoder([8])
    assert [decoder._size_for(h) for h in (0, 2, 7)] == [1, 3, 8]
    decoder._graphs = {8: object()}  # as after warm_up on a GPU: only the recorded size can replay
    assert [decoder._size_for(h) for h in (0, 2, 7)] == [8, 8, 8]


def test_one_offline_size_on_a_cpu_no_longer_steps_every_slot():
    """Eight slots (Offline records one size), three rows of 2, 3 and 12 tokens: the steps shrink with the
    rows, and the long row moves down once the others end."""
    decoder = _decoder([8])
    lengths = [2, 3, 12]
    done = {}
    rows = [Row([5 + i, 6, 7], n, n, True, key=i) for i, n in enumerate(lengths)]
    decoder.generate(rows, lambda row, tokens, end: end and done.__setitem__(row.key, len(tokens)))
    assert done == {0: 2, 1: 3, 2: 12}
    # 11 steps after the prefill's token: one with three rows, one with two (row 2 moved to slot 0's
    # place, so slots 0-1), then nine with one; before, every step ran all eight slots (88)
    assert decoder.steps_run == 11 and decoder.slots_stepped == 3 + 2 + 9
    assert decoder.rows_moved == 1
