"""The hf backend's fast decode path: transformers' StaticCache and one compiled decode step.

For each batch size chosen (``batch_sizing.static_batch_sizes``) there is a ``StaticCache`` of
``max_context`` tokens per row, allocated once. A batch is left-padded to its widest prompt; a 2D
attention mask as long as the cache marks the padding, so every decode step has the same shapes and
one compiled graph serves the whole run. Prefill runs eagerly, in chunks of at most ``prefill_tokens``
tokens, because its width varies. On CUDA the decode step is ``torch.compile(mode="reduce-overhead")``,
which records it as a CUDA graph and replays it: the per-step cost is then the GPU's, not Python's
kernel launches. ``warm_up`` compiles and records every size before LoadGen starts. On CPUs the same
step runs uncompiled, so the path is tested where there is no GPU.

Greedy decoding here must give the tokens eager ``generate`` gives (tests check it): same positions for
left-padded rows, EOS suppressed until ``min_new_tokens``, argmax over the last position's logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass
class Row:
    prompt_ids: Sequence[int]
    max_new_tokens: int
    min_new_tokens: int = 1
    ignore_eos: bool = False


# on_token(row_index, token_ids_so_far, finished) is called after every step for every live row.
TokenCallback = Callable[[int, list[int], bool], None]


class StaticDecoder:
    def __init__(
        self,
        model,
        batch_sizes: Sequence[int],
        max_context: int,
        eos_ids: set[int],
        pad_id: int,
        use_cuda_graphs: bool,
        prefill_tokens: int = 4096,
    ):
        import torch
        from transformers import StaticCache

        self.model = model
        self.device = next(model.parameters()).device
        self.batch_sizes = sorted(batch_sizes)
        self.max_context = max_context
        self.eos = torch.tensor(sorted(eos_ids), device=self.device)
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.prefill_tokens = prefill_tokens
        self.use_cuda_graphs = use_cuda_graphs
        self.caches = {size: StaticCache(config=model.config, max_cache_len=max_context) for size in self.batch_sizes}
        if use_cuda_graphs:
            # One graph per batch size: each size is a new shape and a new cache object to guard on.
            config = torch._dynamo.config
            limit = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
            setattr(config, limit, max(getattr(config, limit), 4 * len(batch_sizes)))
            self._step = torch.compile(self._decode_step, mode="reduce-overhead", fullgraph=True)
        else:
            self._step = self._decode_step

    @property
    def largest(self) -> int:
        return self.batch_sizes[-1]

    def size_for(self, rows: int) -> int:
        """The smallest prepared batch size that holds ``rows`` rows."""
        return next(size for size in self.batch_sizes if size >= rows)

    def fits(self, rows: Sequence[Row]) -> bool:
        return max(len(r.prompt_ids) for r in rows) + max(r.max_new_tokens for r in rows) <= self.max_context

    def _decode_step(self, cache, tokens, positions, mask):
        out = self.model(
            input_ids=tokens, position_ids=positions, attention_mask=mask, past_key_values=cache, use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[:, -1, :]

    def warm_up(self, steps: int = 3) -> None:
        """Compile and record every batch size (reduce-overhead records a graph on a later call)."""
        for size in self.batch_sizes:
            self.generate([Row([self.pad_id] * 4, steps + 1, 0, True)] * size, lambda *_: None)

    def generate(self, rows: Sequence[Row], on_token: TokenCallback) -> None:
        import torch

        size = self.size_for(len(rows))
        cache = self.caches[size]
        # Unused rows of a prepared size: one pad token, no new tokens, never reported.
        filler = Row([self.pad_id], 0, 0, True)
        batch = list(rows) + [filler] * (size - len(rows))
        width = max(len(r.prompt_ids) for r in batch)
        ids = torch.full((size, width), self.pad_id, dtype=torch.long)
        mask = torch.ones((size, self.max_context), dtype=torch.bool)
        positions = torch.zeros((size, width), dtype=torch.long)
        for i, row in enumerate(batch):
            n = len(row.prompt_ids)
            ids[i, width - n :] = torch.tensor(list(row.prompt_ids), dtype=torch.long)
            mask[i, : width - n] = False
            positions[i, width - n :] = torch.arange(n)
        ids, mask, positions = ids.to(self.device), mask.to(self.device), positions.to(self.device)
        next_position = torch.tensor([len(r.prompt_ids) for r in batch], device=self.device).unsqueeze(1)

        with torch.no_grad():  # as generate; the compiled step and its graph are recorded under it too
            cache.reset()  # in place, keeping the addresses the recorded graph reads
            logits = None
            for start in range(0, width, max(1, self.prefill_tokens // size)):
                stop = min(width, start + max(1, self.prefill_tokens // size))
                logits = self.model(
                    input_ids=ids[:, start:stop], position_ids=positions[:, start:stop], attention_mask=mask,
                    past_key_values=cache, use_cache=True, logits_to_keep=1,
                ).logits[:, -1, :]
            tokens: list[list[int]] = [[] for _ in batch]
            live = [i for i, row in enumerate(batch) if row.max_new_tokens > 0]
            step = 0
            while live:
                chosen = self._choose(logits, batch, step).tolist()
                still = []
                for i in live:
                    row = batch[i]
                    tokens[i].append(int(chosen[i]))
                    done = len(tokens[i]) >= row.max_new_tokens or (not row.ignore_eos and chosen[i] in self.eos_ids)
                    if i < len(rows):
                        on_token(i, tokens[i], done)
                    if not done:
                        still.append(i)
                live = still
                if not live or width + step >= self.max_context:  # the next token's cache column
                    break
                current = torch.tensor(chosen, device=self.device).unsqueeze(1)
                logits = self._step(cache, current, next_position + step, mask)
                step += 1
            for i in live:  # only when the cache ran out, which fits() rules out
                if i < len(rows):
                    on_token(i, tokens[i], True)

    def _choose(self, logits, batch: Sequence[Row], step: int):
        import torch

        # As generate's min_new_tokens: EOS is not a candidate before a row has its minimum.
        needs_min = [i for i, row in enumerate(batch) if step < row.min_new_tokens]
        if needs_min:
            logits = logits.clone()
            rows = torch.tensor(needs_min, device=logits.device)
            logits[rows.unsqueeze(1), self.eos.unsqueeze(0)] = float("-inf")
        return logits.argmax(dim=-1)
