"""Batch sizes of the static decode path, from given free-memory figures (no GPU needed)."""

import json
from pathlib import Path

import pytest

from mlnb.backends.batch_sizing import GIB, ModelShape, prefill_activation_bytes, rows_that_fit, static_batch_sizes

CONFIGS = Path(__file__).resolve().parents[2] / "mlnb" / "configs"


def llama():
    return ModelShape.from_config(json.loads((CONFIGS / "llama-3.1-8b-instruct" / "config.json").read_text()))


def test_llama_shape_matches_the_published_size():
    shape = llama()
    # Meta publishes Llama-3.1-8B as 8.03 B parameters; bf16 KV: 2 (K,V) x 32 layers x 8 heads x 128 x 2 bytes.
    assert shape.parameters == pytest.approx(8.03e9, rel=0.002)
    assert shape.kv_bytes_per_token(2) == 2 * 32 * 8 * 128 * 2


def test_both_shipped_configs_parse():
    for folder in CONFIGS.iterdir():
        if (folder / "config.json").is_file():
            shape = ModelShape.from_config(json.loads((folder / "config.json").read_text()))
            assert shape.layers > 0 and shape.kv_heads <= shape.heads


@pytest.mark.parametrize("free_gib", [10, 40, 64, 120])
def test_rows_fill_the_free_memory_and_one_more_would_not_fit(free_gib):
    shape, context = llama(), 1536
    free = free_gib * GIB
    rows = rows_that_fit(free, shape, 2, context)
    usable = free * 0.9 - prefill_activation_bytes(shape, 2, 4096, context)
    per_row = shape.kv_bytes_per_token(2) * context + shape.vocab * 8
    assert rows * per_row <= usable < (rows + 1) * per_row
    assert rows > 0


def test_more_memory_or_a_shorter_context_never_means_fewer_rows():
    shape = llama()
    assert rows_that_fit(80 * GIB, shape, 2, 1536) > rows_that_fit(40 * GIB, shape, 2, 1536)
    assert rows_that_fit(40 * GIB, shape, 2, 768) > rows_that_fit(40 * GIB, shape, 2, 1536)
    assert rows_that_fit(1 * GIB, shape, 2, 100_000) == 0
    assert rows_that_fit(0, shape, 2, 1536) == 0


def test_offline_gets_one_size_streaming_gets_a_ladder_of_powers_of_two():
    assert static_batch_sizes(300, 256, streaming=False) == [256]
    assert static_batch_sizes(100, 256, streaming=False) == [100]
    # One KV cache of the largest size serves every size, so the ladder may reach what fits.
    assert static_batch_sizes(300, 256, streaming=True) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert static_batch_sizes(100, 256, streaming=True) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert static_batch_sizes(3, 8, streaming=True) == [1, 2, 3]
    assert static_batch_sizes(0, 8, streaming=True) == []
    # A compiled step (CUDA graphs) runs a lone query at batch 2: batch 1 would be a compile of its own.
    assert static_batch_sizes(300, 256, streaming=True, compiled=True) == [2, 4, 8, 16, 32, 64, 128, 256]
    assert static_batch_sizes(1, 8, streaming=True, compiled=True) == [1]
    assert static_batch_sizes(2, 8, streaming=True, compiled=True) == [2]
    assert static_batch_sizes(300, 256, streaming=False, compiled=True) == [256]


def test_gpu_rings_have_a_column_count_aligned_for_the_attention_matmuls():
    from mlnb.backends.kv_ring import ring_columns

    assert [ring_columns(n, on_gpu=True) for n in (1, 64, 65, 1453)] == [64, 64, 128, 1472]
    assert ring_columns(1453, on_gpu=False) == 1453  # CPUs keep the exact length (tests wrap the ring)
