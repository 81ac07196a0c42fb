"""Output lengths that follow the dataset's reference answers (for random-weight runs).

A model with random weights almost never emits EOS where a trained one would, so its outputs would all
run to ``max_new_tokens``. With ``output_length=reference`` every request ignores EOS and stops at the
length of its record's reference output, capped by ``max_new_tokens``: the workload keeps the real
shape. Lengths come from a token list in the record when the dataset has one, else from tokenizing
the reference text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

# Record fields holding the reference output as token ids, or its token count, in MLPerf's datasets.
TOKEN_FIELDS = ("tok_output", "tok_ref_output")
LENGTH_FIELDS = ("tok_output_len", "tok_ref_output_len")


@dataclass
class OutputLengths:
    limits: Optional[list[int]]  # per-sample max_new_tokens; None: max_new_tokens for every sample
    ignore_eos: bool
    note: str


def _record_length(record: Mapping[str, Any]) -> Optional[int]:
    for name in TOKEN_FIELDS:
        if isinstance(record.get(name), list):
            return len(record[name])
    for name in LENGTH_FIELDS:
        if isinstance(record.get(name), int):
            return record[name]
    return None


def reference_lengths(records: Sequence[Mapping[str, Any]], tokenizer: Any = None) -> tuple[Optional[list[int]], str]:
    """Token counts of each record's reference output, and where they came from."""
    from_fields = [_record_length(r) for r in records]
    if all(n is not None for n in from_fields):
        return [int(n) for n in from_fields], "the dataset's reference token counts"
    if tokenizer is None:
        return None, "no reference token counts in the dataset and no tokenizer to count them"
    if not all(isinstance(r.get("output"), str) for r in records):
        # DeepSeek-R1 records carry the answer, not a reference output to measure.
        return None, "no reference outputs in the dataset to count"
    counts = [len(tokenizer.encode(r["output"], add_special_tokens=False)) for r in records]
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    return counts, f"the reference outputs tokenized with {name}"


def plan_output_lengths(
    mode: str, records: Sequence[Mapping[str, Any]], max_new_tokens: int, min_new_tokens: int, tokenizer: Any = None
) -> OutputLengths:
    if mode == "model":
        if any(isinstance(r.get("max_tokens"), int) for r in records):  # custom/synthetic records' own budgets
            limits = [min(max(r.get("max_tokens") or max_new_tokens, min_new_tokens, 1), max_new_tokens) for r in records]
            return OutputLengths(limits, False, f"the model's own: EOS or the record's max_tokens, capped at max_new_tokens={max_new_tokens}")
        return OutputLengths(None, False, f"the model's own: EOS or max_new_tokens={max_new_tokens}")
    counts, source = reference_lengths(records, tokenizer)
    if counts is None:
        return OutputLengths(None, True, f"EOS ignored; {source}, so every output runs to max_new_tokens={max_new_tokens}")
    floor = max(1, min_new_tokens)
    limits = [min(max(n, floor), max_new_tokens) for n in counts]
    return OutputLengths(limits, True, f"EOS ignored; reference lengths from {source}, capped at {max_new_tokens}")
