"""The KV cache of the hf backend's static decode path: one ring of columns per batch row.

A row's keys and values carry their rotary positions already, so attention does not care in which
cache column they sit: only the per-row mask says which columns belong to the row. Every decode step
writes one column, the same one for all rows (``write_col``), and moves on around the ring. A row that
joins is prefilled on its own and its prompt copied into the columns just behind the write column, so
rows join and leave between steps while every step keeps the same shapes (one CUDA graph per batch
size). A row of ``n`` prompt and ``m`` new tokens needs ``n + m <= columns``: the write column then never
comes round to its own data while it lives.

``ring_attention`` is registered with transformers as an attention implementation: decode steps (one
query per row) multiply each group of query heads with its shared key/value head directly, so grouped
-query attention does not copy the cache once per query head, as SDPA with a mask does; prefill goes to
transformers' SDPA.
"""

from __future__ import annotations

ATTENTION_NAME = "mlnb_ring"
# GPU rings get a column count that is a multiple of this: the attention's matmuls then have 16-byte
# aligned rows. At 1,453 columns (unaligned) a 256-row decode step on an H100 took 63 ms, 51 of them in
# attention: cuBLAS fell back to an align-1 kernel for probabilities x values, and inductor copied a
# whole layer's cache before the other matmul, every layer, every step.
GPU_COLUMN_MULTIPLE = 64


def ring_columns(context: int, on_gpu: bool) -> int:
    """The ring's column count for rows of up to ``context`` tokens (rounded up on GPUs, see above)."""
    if not on_gpu:
        return context
    return -(-context // GPU_COLUMN_MULTIPLE) * GPU_COLUMN_MULTIPLE


class RingLayer:
    """One layer's keys and values, shape (rows, kv_heads, columns, head_dim), written at ``write_col``.

    Duck-types the one method transformers' attention layers call on a cache, ``update``, and ignores the
    layer index it is given: the object is that layer's own. A compiled layer (``layer_compile.py``)
    therefore never reads the index, and one compiled graph serves every layer.
    """

    def __init__(self, keys, values, write_col):
        self.keys, self.values, self.write_col = keys, values, write_col

    def update(self, key_states, value_states, *_args, **_kwargs):
        # A step of batch size b runs on the first b rows (views, so one cache serves every size).
        import torch

        rows, heads = key_states.shape[:2]
        # One token per row (decode steps only; prefill fills a PrefillCache). Written with index_put_ on
        # the whole tensor, not index_copy_ on a view of the first rows: with a symbolic batch size,
        # inductor copies a mutated view out and back in, every layer (a 256-row step on an H100: 140 ms
        # that way, 66 ms this way).
        device = self.keys.device
        where = (torch.arange(rows, device=device).unsqueeze(1), torch.arange(heads, device=device).unsqueeze(0),
                 self.write_col)
        self.keys.index_put_(where, key_states[:, :, 0])
        self.values.index_put_(where, value_states[:, :, 0])
        return self.keys[:rows], self.values[:rows]


class RingCache:
    """Every layer's ``RingLayer``; all share one write column, advanced once per decode step.

    Passed to the model as its cache: ``update`` hands each layer's call to that layer's ring.
    """

    def __init__(self, layers: int, rows: int, kv_heads: int, columns: int, head_dim: int, dtype, device):
        import torch

        self.write_col = torch.zeros(1, dtype=torch.long, device=device)
        self.layers = []
        for _ in range(layers):
            keys = torch.zeros(rows, kv_heads, columns, head_dim, dtype=dtype, device=device)
            self.layers.append(RingLayer(keys, torch.zeros_like(keys), self.write_col))
        self.columns = columns
        self.rows = rows

    def update(self, key_states, value_states, layer_idx: int, *_args, **_kwargs):
        return self.layers[layer_idx].update(key_states, value_states)

    def move_row(self, src: int, dst: int) -> None:
        """Copy row ``src``'s keys and values, every layer, into row ``dst`` (the batch's compaction)."""
        for layer in self.layers:
            layer.keys[dst].copy_(layer.keys[src])
            layer.values[dst].copy_(layer.values[src])

    def place(self, layer_idx: int, slots, columns, keys, values) -> None:
        """Copy prefilled keys/values (k rows, kv_heads, width, head_dim) into ``slots`` at ``columns``."""
        # Advanced indices on dims 0 and 2 around a slice put the indexed dims first: (k, width, heads, dim).
        layer = self.layers[layer_idx]
        layer.keys[slots[:, None], :, columns[None, :]] = keys.permute(0, 2, 1, 3)
        layer.values[slots[:, None], :, columns[None, :]] = values.permute(0, 2, 1, 3)


class PrefillCache:
    """Collects each layer's keys/values over the chunks of one prefill (a plain growing cache)."""

    def __init__(self, layers: int):
        self.keys: list = [None] * layers
        self.values: list = [None] * layers

    def update(self, key_states, value_states, layer_idx: int, *_args, **_kwargs):
        import torch

        if self.keys[layer_idx] is not None:
            key_states = torch.cat([self.keys[layer_idx], key_states], dim=2)
            value_states = torch.cat([self.values[layer_idx], value_states], dim=2)
        self.keys[layer_idx], self.values[layer_idx] = key_states, value_states
        return key_states, value_states


def ring_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention for ``ATTENTION_NAME``: grouped matmuls for single-query steps, transformers' SDPA else."""
    import torch

    if query.shape[2] != 1:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    rows, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    if scaling is None:
        scaling = dim**-0.5
    grouped = query.reshape(rows, kv_heads, heads // kv_heads, dim)  # query heads that share a kv head
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * scaling  # (rows, kv_heads, group, columns)
    if attention_mask is not None:
        scores = scores + attention_mask  # (rows, 1, 1, columns) broadcasts over heads
    probs = scores.softmax(dim=-1).to(value.dtype)
    out = torch.matmul(probs, value)  # (rows, kv_heads, group, dim)
    return out.reshape(rows, heads, 1, dim).transpose(1, 2).contiguous(), None


def use_ring_attention(model) -> None:
    """Register ``ring_attention`` and switch ``model`` to it (prefill still runs SDPA)."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, ring_attention)
    try:
        model.set_attn_implementation(ATTENTION_NAME)
    except (AttributeError, ValueError):  # older releases: the config attribute the layers read
        model.config._attn_implementation = ATTENTION_NAME
