"""How many sequences fit in memory: the batch sizes of the hf backend's static decode path.

Pure functions of the model's config, so they are tested with given figures. The caller measures the
free memory after the weights are on the device (``torch.cuda.mem_get_info``), so weights are not
counted again here. Each row of a static batch owns a KV cache of ``max_context`` tokens; prefill runs
in chunks of at most ``prefill_tokens`` tokens per forward, whose activations are reserved once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    """The figures of a decoder-only transformer that set its memory and bandwidth needs."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool = False

    @classmethod
    def from_config(cls, config: Any) -> "ModelShape":
        """From a transformers config object or a config.json mapping."""
        get = config.get if isinstance(config, Mapping) else lambda key, default=None: getattr(config, key, default)
        heads = int(get("num_attention_heads"))
        hidden = int(get("hidden_size"))
        return cls(
            layers=int(get("num_hidden_layers")),
            hidden=hidden,
            intermediate=int(get("intermediate_size")),
            heads=heads,
            kv_heads=int(get("num_key_value_heads") or heads),
            head_dim=int(get("head_dim") or hidden // heads),
            vocab=int(get("vocab_size")),
            tied_embeddings=bool(get("tie_word_embeddings", False)),
        )

    @property
    def parameters(self) -> int:
        """Weights of a Llama-style block stack: attention, gated MLP, two norms; embeddings and head."""
        attention = self.hidden * self.head_dim * (self.heads * 2 + self.kv_heads * 2)
        mlp = 3 * self.hidden * self.intermediate
        block = attention + mlp + 2 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * block + embeddings + self.hidden

    @property
    def block_parameters(self) -> int:
        """Weights every token multiplies through (no embedding lookup, no output head)."""
        attention = self.hidden * self.head_dim * (self.heads * 2 + self.kv_heads * 2)
        return self.layers * (attention + 3 * self.hidden * self.intermediate)

    def weight_bytes(self, dtype_bytes: int) -> int:
        return self.parameters * dtype_bytes

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


def prefill_activation_bytes(shape: ModelShape, dtype_bytes: int, prefill_tokens: int, max_context: int) -> int:
    """A generous bound on one prefill chunk's transient memory.

    Hidden states and the gated MLP's two intermediate tensors, plus attention scores in fp32 should
    the attention kernel materialize them, plus the fp32 logits of the last positions.
    """
    hidden = prefill_tokens * (4 * shape.hidden + 3 * shape.intermediate) * dtype_bytes
    scores = prefill_tokens * shape.heads * max_context * 4
    return hidden + scores


def rows_that_fit(
    free_bytes: int,
    shape: ModelShape,
    dtype_bytes: int,
    max_context: int,
    prefill_tokens: int = 4096,
    reserve_fraction: float = 0.10,
) -> int:
    """Sequences whose KV caches (``max_context`` tokens each) fit in ``free_bytes``.

    ``reserve_fraction`` of the free memory is left to the allocator's fragmentation, CUDA graphs'
    private pools and the compiler's workspaces.
    """
    if free_bytes <= 0 or max_context <= 0:
        return 0
    usable = int(free_bytes * (1.0 - reserve_fraction)) - prefill_activation_bytes(
        shape, dtype_bytes, prefill_tokens, max_context
    )
    per_row = shape.kv_bytes_per_token(dtype_bytes) * max_context + shape.vocab * 4 * 2  # + logits and argmax
    return max(0, usable // per_row)


def static_batch_sizes(rows: int, limit: int, streaming: bool, compiled: bool = False) -> list[int]:
    """The batch sizes to record decode steps for; all share one KV cache of the largest size.

    Offline keeps its slots full, so it gets a single size. Streaming scenarios see any number of
    requests in flight, so they get powers of two up to the largest: a lone query runs at batch 1 (at
    batch 2 when the step is ``compiled``), not padded to a batch of 64. A compiled step shares one graph
    among sizes of 2 and more, but a size of 1 gets a compile of its own (size-1 dimensions specialise),
    for a step that reads the same weights as a 2-row one (35-50 s on an H100 when the whole step was
    compiled; a few seconds with one compiled layer).
    """
    largest = min(rows, limit)
    if largest < 1:
        return []
    if not streaming:
        return [largest]
    sizes, size = [], 2 if compiled and largest > 1 else 1
    while size < largest:
        sizes.append(size)
        size *= 2
    return sizes + [largest]
