"""The hf backend's fast decode path: continuous batching over fixed slots, one graph per batch size.

Rows live in slots of a ``RingCache`` (``kv_ring.py``). Between decode steps, rows that ended leave their
slot and waiting rows join: their prompts are prefilled together, whole, as one batched forward
(SDPA), in groups of at most ``prefill_tokens`` tokens, and copied into their slots. A long row
therefore never holds the others back, and a new request starts at the next step, not the next batch.

A decode step advances every row by one token and keeps every shape fixed for a batch size: the
step's tokens, positions, per-row column mask and EOS ban are buffers updated in place, and the step
itself picks the next tokens (greedy argmax, EOS banned below ``min_new_tokens``) and feeds them back.
On CUDA one decoder layer is compiled with inductor and reused by every layer (``layer_compile.py``; the
batch dimension dynamic when there are several sizes), and the step is recorded as a CUDA graph per batch
size before LoadGen starts; a step is then one graph replay plus the read-back of the chosen tokens, the
only host synchronisation. On CPUs the same step runs eagerly, so the path is
tested where there is no GPU.

Greedy decoding here gives the tokens eager ``generate`` gives up to floating-point rounding (tests check
it on the CPU in fp32): same positions per row, EOS suppressed until ``min_new_tokens``, argmax of the
last position's logits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


@dataclass
class Row:
    prompt_ids: Sequence[int]
    max_new_tokens: int
    min_new_tokens: int = 1
    ignore_eos: bool = False
    key: Any = None  # the caller's handle, passed back in every callback


@dataclass
class _Live:
    row: Row
    tokens: list[int] = field(default_factory=list)


# on_token(row, token_ids_so_far, finished) is called after every step for every live row.
TokenCallback = Callable[[Row, list[int], bool], None]


class StaticDecoder:
    # What inductor compiles: "layers" (one decoder layer, reused by all) or "step" (the whole step, one
    # graph of every layer). On an H100 the whole 8B step took 63-69 s to compile with empty caches.
    compile_scope = "layers"
    _mark_step_dynamic = False  # "step" scope over several sizes: the step's inputs have a symbolic row count

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

        from mlnb.backends.fused_norms import fusable_norms
        from mlnb.backends.kv_ring import RingCache, ring_columns, use_ring_attention

        max_context = ring_columns(max_context, on_gpu=use_cuda_graphs)
        self.model = model
        config = model.config
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.batch_sizes = sorted(batch_sizes)
        self.max_context = max_context
        self.eos_ids = set(eos_ids)
        self.pad_id = pad_id
        self.prefill_tokens = prefill_tokens
        self.use_cuda_graphs = use_cuda_graphs
        use_ring_attention(model)
        self.prefill_norms = fusable_norms(model)  # run fused while prefilling (see fused_norms)
        # SDPA kernels the prefill may use (names of torch.nn.attention.SDPBackend; None: torch's choice).
        # Not cuDNN's: it builds a plan for every new (rows, width) shape, and prefill groups rarely repeat
        # one. On an H100 the first group of a shape took about 40 ms more; the stage's Offline ran
        # at 1,936 tok/s with it and 2,092 without (tests/benchmarks/static_profile.py --attention).
        self.prefill_attention: tuple[str, ...] | None = (
            ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH") if self.device.type == "cuda" else None
        )
        rows = self.largest
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        self.ring = RingCache(config.num_hidden_layers, rows, kv_heads, max_context, head_dim, self.dtype, self.device)
        self.hidden_masked = torch.finfo(self.dtype).min  # not -inf: a row with no visible column stays finite
        # The step's inputs and output, written in place so a recorded graph keeps reading the same memory.
        self.tokens = torch.full((rows, 1), pad_id, dtype=torch.long, device=self.device)
        self.positions = torch.zeros((rows, 1), dtype=torch.long, device=self.device)
        self.mask = torch.full((rows, 1, 1, max_context), self.hidden_masked, dtype=self.dtype, device=self.device)
        self.ban_eos = torch.zeros((rows, 1), dtype=torch.bool, device=self.device)
        self.chosen = torch.zeros(rows, dtype=torch.long, device=self.device)
        self.eos = torch.tensor(sorted(self.eos_ids), dtype=torch.long, device=self.device)
        self.slots: list[_Live | None] = [None] * rows
        self.steps_run = 0
        self.prefills_run = 0
        # Where the wall time goes (each phase ends in a host read-back, so no extra synchronisation).
        self.step_seconds = 0.0
        self.prefill_seconds = 0.0
        self.rows_stepped = 0  # live rows summed over steps; rows_stepped / steps_run is the mean occupancy
        self.slots_stepped = 0  # the batch sizes that ran, summed: vacant slots below the highest still cost
        self.rows_moved = 0  # rows moved to lower slots so that steps run at a smaller size
        self.prompt_tokens = 0
        self.padded_tokens = 0  # prompt tokens plus the padding a prefill group computed
        self._graphs: dict[int, Any] = {}
        self.step_mode = "not warmed up"
        self.fallbacks: list[str] = []
        self.record_seconds: dict[int, float] = {}  # per batch size; the first includes the compile
        self._step_fn = self._step
        self._compiled_layers = None

    @property
    def largest(self) -> int:
        return self.batch_sizes[-1]

    @property
    def live(self) -> int:
        return sum(slot is not None for slot in self.slots)

    def free_slots(self) -> int:
        return self.largest - self.live

    def fits(self, row: Row) -> bool:
        return len(row.prompt_ids) + row.max_new_tokens <= self.max_context

    # -- the step -------------------------------------------------------------------------------------

    def _step(self, tokens, positions, mask, ban_eos, chosen):
        import torch

        rows = tokens.shape[0]
        # The column this step writes becomes visible to every row (each writes its own token there).
        mask.index_fill_(3, self.ring.write_col, 0.0)
        logits = self.model(
            input_ids=tokens, position_ids=positions, attention_mask=mask, past_key_values=self.ring,
            use_cache=True, logits_to_keep=1,
        ).logits[:, -1, :].float()
        eos_logits = logits[:, self.eos]
        logits[:, self.eos] = torch.where(ban_eos, torch.full_like(eos_logits, float("-inf")), eos_logits)
        picked = logits.argmax(dim=-1)
        chosen.copy_(picked)
        tokens.copy_(picked.view(rows, 1))
        positions.add_(1)
        self.ring.write_col.add_(1).remainder_(self.max_context)

    def _run_step(self, size: int) -> None:
        args = (self.tokens[:size], self.positions[:size], self.mask[:size], self.ban_eos[:size], self.chosen[:size])
        graph = self._graphs.get(size)
        if graph is not None:
            graph.replay()
        else:
            self._step_fn(*args)

    def warm_up(self) -> None:
        """Compile and record one CUDA graph per batch size (call before LoadGen starts).

        Falls back a rung at a time (graphs of the uncompiled step, then no graphs) and says why in
        ``step_mode``, so a compiler failure costs speed, not the run.
        """
        if not self.use_cuda_graphs:
            self.step_mode = "eager (no CUDA)"
            return
        compiled_mode = f"compiled {'layer' if self.compile_scope == 'layers' else 'step'} + CUDA graphs"
        for mode, compile_it in ((compiled_mode, True), ("CUDA graphs, uncompiled", False)):
            try:
                self._record_graphs(self._compile() if compile_it else self._step)
                self.step_mode = mode
                break
            except Exception as err:  # noqa: BLE001 - the next rung is tried, and the reason kept
                self._uncompile()
                self.fallbacks.append(f"{mode}: {type(err).__name__}: {str(err)[:300]}")
        else:
            self.step_mode = "eager"
        self._reset_buffers()

    def _compile(self):
        """The step function to record, compiled as ``compile_scope`` says."""
        import torch

        dynamic = len(self.batch_sizes) > 1  # one graph for every size; a single size compiles static
        if self.compile_scope == "step":
            self._step_fn = torch.compile(self._step, fullgraph=True)
            self._mark_step_dynamic = dynamic
            return self._step_fn
        from mlnb.backends.layer_compile import CompiledLayers

        self._compiled_layers = CompiledLayers(self.model, self.ring, dynamic_batch=dynamic)
        self._compiled_layers.install()
        return self._step

    def _uncompile(self) -> None:
        self._graphs = {}
        self._step_fn = self._step
        self._mark_step_dynamic = False
        if self._compiled_layers is not None:
            self._compiled_layers.remove()
            self._compiled_layers = None

    def _record_graphs(self, fn) -> None:
        import torch

        self.record_seconds = {}
        with torch.no_grad():
            for size in self.batch_sizes:
                started = time.perf_counter()
                args = (self.tokens[:size], self.positions[:size], self.mask[:size], self.ban_eos[:size],
                        self.chosen[:size])
                if self._mark_step_dynamic and size > 1:
                    for tensor in args:
                        torch._dynamo.mark_dynamic(tensor, 0)
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):  # compile, then settle the allocator before recording
                        fn(*args)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    fn(*args)
                torch.cuda.synchronize()
                self._graphs[size] = graph
                self.record_seconds[size] = round(time.perf_counter() - started, 2)

    def _reset_buffers(self) -> None:
        self.ring.write_col.zero_()
        self.tokens.fill_(self.pad_id)
        self.positions.zero_()
        self.mask.fill_(self.hidden_masked)
        self.ban_eos.zero_()

    def step(self, on_token: TokenCallback) -> None:
        """One decode step for the occupied slots; reports every live row's tokens."""
        import torch

        occupied = [i for i, slot in enumerate(self.slots) if slot is not None]
        if not occupied:
            return
        if self._size_for(occupied[-1]) > self._size_for(len(occupied) - 1):
            occupied = self._compact(occupied)
        size = self._size_for(occupied[-1])
        started = time.perf_counter()
        with torch.no_grad():
            self._run_step(size)
            chosen = self.chosen[:size].tolist()  # the one host synchronisation of a step
        self.step_seconds += time.perf_counter() - started
        self.steps_run += 1
        self.rows_stepped += len(occupied)
        self.slots_stepped += size
        for i in occupied:
            self._advance(i, int(chosen[i]), on_token)

    def _size_for(self, highest_slot: int) -> int:
        """The batch a step runs at so that its rows include ``highest_slot``: the smallest recorded size
        when steps replay recorded graphs, else exactly the rows up to it (an eager step takes any size;
        a CPU run's tail used to run every step at the one Offline size, 256 rows for two live ones)."""
        if not self._graphs:
            return highest_slot + 1
        return next(s for s in self.batch_sizes if s > highest_slot)

    def _compact(self, occupied: list[int]) -> list[int]:
        """Move the rows above the smallest size that holds them all into its free slots.

        A step runs every slot up to the highest occupied one, so one long row left in a high slot would
        keep every step at a large batch (reading that many rows of cache) after the others ended. A move
        copies the row's cache, mask and inputs (a few hundred MB on an 8B model, well under a step's
        time). The write column is shared, so the row's columns stay where they are.
        """
        bound = self._size_for(len(occupied) - 1)
        holes = [i for i in range(bound) if self.slots[i] is None]
        movers = [i for i in occupied if i >= bound]
        for src, dst in zip(movers, holes):
            self.ring.move_row(src, dst)
            for buffer in (self.mask, self.tokens, self.positions, self.ban_eos):
                buffer[dst].copy_(buffer[src])
            self.positions[src] = 0  # a vacant slot still runs in its batch; keep its positions small
            self.slots[dst], self.slots[src] = self.slots[src], None
            self.rows_moved += 1
        return sorted([i for i in occupied if i < bound] + holes[: len(movers)])

    def _advance(self, slot: int, token: int, on_token: TokenCallback) -> None:
        live = self.slots[slot]
        live.tokens.append(token)
        row = live.row
        done = len(live.tokens) >= row.max_new_tokens or (not row.ignore_eos and token in self.eos_ids)
        if len(live.tokens) == row.min_new_tokens:
            self.ban_eos[slot] = False
        on_token(row, live.tokens, done)
        if done:
            self.slots[slot] = None
            self.positions[slot] = 0  # a vacant slot still runs in its batch; keep its positions small

    def time_split(self) -> dict[str, Any]:
        """Counters for the report: how many steps and prefills ran, their wall time, occupancy, padding."""
        return {
            "decode_steps": self.steps_run,
            "prefills": self.prefills_run,
            "decode_seconds": round(self.step_seconds, 3),
            "prefill_seconds": round(self.prefill_seconds, 3),
            "mean_rows_per_step": round(self.rows_stepped / self.steps_run, 1) if self.steps_run else None,
            "mean_batch_per_step": round(self.slots_stepped / self.steps_run, 1) if self.steps_run else None,
            "rows_moved": self.rows_moved,
            "prompt_tokens": self.prompt_tokens,
            "prefill_padding": round(1 - self.prompt_tokens / self.padded_tokens, 3) if self.padded_tokens else None,
        }

    def release(self) -> None:
        """Drop the GPU memory this decoder holds (cache ring, recorded graphs, compiled step), even while
        something else still refers to the decoder."""
        self._uncompile()
        self._step_fn = None
        self.ring = None
        self.model = None
        self.prefill_norms = []
        self.tokens = self.positions = self.mask = self.ban_eos = self.chosen = None
        self.slots = []

    def evict_all(self) -> list[_Live]:
        """Empty every slot (after a failure) and return what was in them."""
        gone = [slot for slot in self.slots if slot is not None]
        self.slots = [None] * self.largest
        return gone

    # -- joining --------------------------------------------------------------------------------------

    def admit(self, rows: Sequence[Row], on_token: TokenCallback) -> None:
        """Prefill ``rows`` (at most ``free_slots()``, each ``fits``) and give each its first token."""
        import torch

        free = [i for i, slot in enumerate(self.slots) if slot is None]
        assert len(rows) <= len(free), "admit more rows than free slots"
        started = time.perf_counter()
        with torch.no_grad():
            for group in self._prefill_groups(rows):
                slots, free = free[: len(group)], free[len(group) :]
                self._prefill(group, slots, on_token)
        self.prefill_seconds += time.perf_counter() - started

    def _prefill_groups(self, rows: Sequence[Row]):
        """Consecutive groups whose padded size (rows x widest prompt) stays within ``prefill_tokens``."""
        group: list[Row] = []
        width = 0
        for row in rows:
            wider = max(width, len(row.prompt_ids))
            if group and wider * (len(group) + 1) > self.prefill_tokens:
                yield group
                group, wider = [], len(row.prompt_ids)
            group.append(row)
            width = wider
        if group:
            yield group

    def _prefill(self, group: list[Row], slots: list[int], on_token: TokenCallback) -> None:
        import torch

        from mlnb.backends.fused_norms import fused
        from mlnb.backends.kv_ring import PrefillCache

        width = max(len(r.prompt_ids) for r in group)
        ids = torch.full((len(group), width), self.pad_id, dtype=torch.long)
        positions = torch.zeros((len(group), width), dtype=torch.long)
        valid = torch.zeros((len(group), width), dtype=torch.bool)
        for i, row in enumerate(group):  # left padding: every prompt ends in the last column
            n = len(row.prompt_ids)
            ids[i, width - n :] = torch.tensor(list(row.prompt_ids), dtype=torch.long)
            positions[i, width - n :] = torch.arange(n)
            valid[i, width - n :] = True
        ids, positions, valid = ids.to(self.device), positions.to(self.device), valid.to(self.device)
        cache = PrefillCache(self.model.config.num_hidden_layers)
        # Chunks bound the activations of one very long prompt; most groups are one chunk.
        chunk = max(1, self.prefill_tokens // len(group))
        logits = None
        with fused(self.prefill_norms), self._attention_kernels():
            for start in range(0, width, chunk):
                stop = min(width, start + chunk)
                logits = self.model(
                    input_ids=ids[:, start:stop], position_ids=positions[:, start:stop],
                    attention_mask=self._prefill_mask(valid, start, stop), past_key_values=cache, use_cache=True,
                    logits_to_keep=1,
                ).logits[:, -1, :].float()
        self.prefills_run += 1
        self.prompt_tokens += sum(len(r.prompt_ids) for r in group)
        self.padded_tokens += width * len(group)
        # The prompt goes into the columns just behind the write column, so the next step continues it.
        write = int(self.ring.write_col.item())
        columns = (torch.arange(width, device=self.device) + write - width) % self.max_context
        slot_index = torch.tensor(slots, dtype=torch.long, device=self.device)
        for layer in range(len(cache.keys)):
            self.ring.place(layer, slot_index, columns, cache.keys[layer], cache.values[layer])
        banned = [i for i, row in enumerate(group) if row.min_new_tokens > 0]  # EOS may not be the first token
        if banned:
            logits[torch.tensor(banned, device=self.device).unsqueeze(1), self.eos.unsqueeze(0)] = float("-inf")
        firsts = logits.argmax(dim=-1).tolist()
        for i, (row, slot) in enumerate(zip(group, slots)):
            n = len(row.prompt_ids)
            self.mask[slot].fill_(self.hidden_masked)
            self.mask[slot, 0, 0, columns[width - n :]] = 0.0
            self.tokens[slot, 0] = int(firsts[i])
            self.positions[slot, 0] = n
            self.ban_eos[slot, 0] = row.min_new_tokens > 1
            self.slots[slot] = _Live(row)
            if row.max_new_tokens <= 0:  # nothing to generate: report it done with no tokens
                self.slots[slot] = None
                on_token(row, [], True)
                continue
            self._advance(slot, int(firsts[i]), on_token)

    def _attention_kernels(self):
        from contextlib import nullcontext

        from torch.nn.attention import SDPBackend, sdpa_kernel

        if self.prefill_attention is None:
            return nullcontext()
        return sdpa_kernel([getattr(SDPBackend, name) for name in self.prefill_attention])

    def _prefill_mask(self, valid, start: int, stop: int):
        """Additive mask (rows, 1, stop-start, stop): causal over the prompt so far, padding hidden."""
        import torch

        query = torch.arange(start, stop, device=self.device).unsqueeze(1)
        key = torch.arange(stop, device=self.device).unsqueeze(0)
        allowed = (key <= query).unsqueeze(0) & valid[:, None, :stop]
        # A padding query sees nothing; give it its own column so its softmax stays finite (never read).
        allowed = allowed | (~valid[:, start:stop]).unsqueeze(2) & (key == query).unsqueeze(0)
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=self.device)
        mask.masked_fill_(~allowed, self.hidden_masked)
        return mask.unsqueeze(1)

    def generate(self, rows: Sequence[Row], on_token: TokenCallback) -> None:
        """Decode ``rows`` to the end, admitting them as slots free up (a whole batch, for scripts and tests)."""
        waiting = list(rows)
        while waiting or self.live:
            room = self.free_slots()
            if waiting and room:
                joining, waiting = waiting[:room], waiting[room:]
                self.admit(joining, on_token)
            self.step(on_token)
