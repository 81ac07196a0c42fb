"""A decoder-only transformer's shape from its Hugging Face ``config.json``, and its parameter count.

The count is computed from the architecture (embedding, attention with grouped KV heads, gated
MLP, norms, LM head), not read from a model card, so it holds for random-weight runs as well.
Supported: the Llama family layout (``llama``, ``mistral``, ``qwen2``, ``qwen3``, ``gemma``-style
configs with the same field names). Mixture-of-experts configs are refused rather than miscounted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from mlnb.errors import InputError

DTYPE_BYTES = {
    "float32": 4, "fp32": 4, "float": 4,
    "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "half": 2,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "fp8": 1, "int8": 1,
}


def dtype_bytes(dtype: Optional[str], where: str = "dtype") -> int:
    name = str(dtype or "").replace("torch.", "").lower()
    if name not in DTYPE_BYTES:
        raise InputError(where, f"unknown data type {dtype!r}; expected one of {', '.join(sorted(DTYPE_BYTES))}")
    return DTYPE_BYTES[name]


@dataclass(frozen=True)
class ModelShape:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool
    attention_bias: bool
    mlp_bias: bool
    config_dtype: str

    # Parameter counts ------------------------------------------------------------------------
    @property
    def layer_params(self) -> int:
        """One transformer block: q, k, v, o projections, gated MLP (gate, up, down), two norms."""
        q = self.hidden * self.heads * self.head_dim
        kv = 2 * self.hidden * self.kv_heads * self.head_dim
        o = self.heads * self.head_dim * self.hidden
        attn_bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.attention_bias else 0
        mlp = 3 * self.hidden * self.intermediate
        mlp_bias = (2 * self.intermediate + self.hidden) if self.mlp_bias else 0
        norms = 2 * self.hidden
        return q + kv + o + attn_bias + mlp + mlp_bias + norms

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab * self.hidden

    @property
    def total_params(self) -> int:
        return self.layers * self.layer_params + self.embedding_params + self.lm_head_params + self.hidden

    @property
    def params_read_per_decode_step(self) -> int:
        """Parameters a decode step must read: all but an untied input embedding table, of which
        a step reads only its batch's rows (a tied table is read whole, as the LM head)."""
        return self.total_params - (0 if self.tied_embeddings else self.embedding_params)

    @property
    def matmul_params(self) -> int:
        """Parameters that take part in a matrix product per token (2 FLOPs each): the blocks and
        the LM head (the tied table when tied); not the embedding lookup, not the final norm."""
        return self.layers * self.layer_params + self.vocab * self.hidden

    def kv_bytes_per_token(self, kv_dtype_bytes: int) -> int:
        """K and V of one token in every layer: 2 * L * n_kv * d_head * bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * kv_dtype_bytes


def shape_from_config(config: Mapping[str, Any], name: str = "model", where: str = "config.json") -> ModelShape:
    """Read the fields that set the parameter count; a missing or MoE config fails with one line."""
    for moe_key in ("num_local_experts", "num_experts", "n_routed_experts"):
        if config.get(moe_key):
            raise InputError(f"{where} field {moe_key!r}", "mixture-of-experts models are not supported by the speed-of-light section")

    def need(key: str) -> int:
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{where} field {key!r}", f"expected a positive integer, got {value!r}")
        return value

    hidden = need("hidden_size")
    heads = need("num_attention_heads")
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or hidden // heads
    return ModelShape(
        name=name,
        layers=need("num_hidden_layers"),
        hidden=hidden,
        heads=heads,
        kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        intermediate=need("intermediate_size"),
        vocab=need("vocab_size"),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        attention_bias=bool(config.get("attention_bias", False)),
        mlp_bias=bool(config.get("mlp_bias", False)),
        config_dtype=str(config.get("torch_dtype") or config.get("dtype") or "float32"),
    )


def load_shape(model_dir: str | Path) -> ModelShape:
    path = Path(model_dir) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), "not found; the speed-of-light section needs the model's config.json") from None
    except json.JSONDecodeError as err:
        raise InputError(str(path), f"is not JSON ({err.msg} at line {err.lineno})") from None
    return shape_from_config(config, name=Path(model_dir).name, where=str(path))
