"""Compile one decoder layer and run every layer of a decode step through it (regional compilation).

A decode step's layers differ only in their weights and their part of the KV cache. Compiling the whole
step makes inductor trace, lower and schedule every layer on its own: for the 32 layers of an 8B model
that took 63-69 s on an H100 with empty caches, most of it in the scheduler, whose work grows with the
graph. Here the compiled function takes the layer module and the layer's own cache as inputs, so its
graph holds one layer, and dynamo reuses it for the others: their parameters are tensors of the same
shapes, and the layer's cache (a ``RingLayer``) is its own object, so the layer index, which would
differ, is never read inside the graph.

Only decode steps (one token per row, the ring as cache) go through the compiled layer; prefill calls
each layer's own forward. ``install`` sets a forward on each layer instance and ``remove`` deletes it
again; a layer that already has an instance forward (accelerate's hooks set one) is refused, so
nothing is silently bypassed.
"""

from __future__ import annotations

from typing import Any


def decoder_layers(model) -> list:
    """The model's repeated decoder layers (``model.model.layers`` for Llama, Qwen, Mistral, ...)."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(base, "layers", None)
    if layers is None or len(layers) == 0:
        raise ValueError(f"{type(model).__name__} has no decoder layers to compile one of")
    return list(layers)


def _run_layer(layer, hidden_states, ring_layer, kwargs: dict[str, Any]):
    return type(layer).forward(layer, hidden_states, past_key_values=ring_layer, **kwargs)


class CompiledLayers:
    """One compiled decoder layer for every layer of ``model``'s decode steps over ``ring``.

    ``dynamic_batch``: the steps run at several batch sizes, so the compiled layer takes the row count
    as a symbol (one graph for every size) instead of one graph per size.
    """

    def __init__(self, model, ring, dynamic_batch: bool):
        import torch

        self.layers = decoder_layers(model)
        if len(self.layers) != len(ring.layers):
            raise ValueError(f"{len(self.layers)} decoder layers but {len(ring.layers)} cache layers")
        self.ring = ring
        self.dynamic_batch = dynamic_batch
        self.compiled = torch.compile(_run_layer, fullgraph=True)
        self.installed = False

    def install(self) -> None:
        owned = [i for i, layer in enumerate(self.layers) if "forward" in vars(layer)]
        if owned:
            raise ValueError(f"decoder layers {owned[:3]} already have an instance forward (hooks?)")
        for index, layer in enumerate(self.layers):
            layer.forward = self._forward_for(index, layer)
        self.installed = True

    def remove(self) -> None:
        if self.installed:
            for layer in self.layers:
                vars(layer).pop("forward", None)
        self.installed = False

    def _forward_for(self, index: int, layer):
        own_forward = type(layer).forward.__get__(layer)
        ring_layer = self.ring.layers[index]

        def forward(hidden_states, *args, past_key_values=None, **kwargs):
            if past_key_values is not self.ring or args or hidden_states.shape[1] != 1:
                return own_forward(hidden_states, *args, past_key_values=past_key_values, **kwargs)
            if self.dynamic_batch and hidden_states.shape[0] > 1:
                self._mark_rows_dynamic(hidden_states, kwargs)
            return self.compiled(layer, hidden_states, ring_layer, kwargs)

        return forward

    @staticmethod
    def _mark_rows_dynamic(hidden_states, kwargs: dict[str, Any]) -> None:
        # Every per-row input, or dynamo finds a static row count beside a symbolic one and refuses.
        import torch

        rows = hidden_states.shape[0]
        tensors = [hidden_states, kwargs.get("attention_mask"), kwargs.get("position_ids")]
        tensors += list(kwargs.get("position_embeddings") or ())
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor) and tensor.dim() > 0 and tensor.shape[0] == rows:
                torch._dynamo.mark_dynamic(tensor, 0)
