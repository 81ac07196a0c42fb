"""Synthetic prompts: lengths from a distribution, tokens from the tokenizer's vocabulary.

A length is written ``N`` (fixed), ``uniform:LO:HI`` (inclusive), ``normal:MEAN:STD`` (rounded, at
least 1) or ``histogram:FILE`` (a CSV of ``tokens,weight`` rows; weights are shares that sum to 1, or
counts). Every prompt is an optional shared prefix followed by its own tokens. Tokens are drawn from
the vocabulary minus special tokens, then the text is decoded and encoded again until its length is
stable, so a server that takes text gets the same prompt. One ``synthetic_seed`` gives the same
prompts and output lengths every time.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from mlnb.errors import InputError

DISTRIBUTIONS = ("fixed", "uniform", "normal", "histogram")
MAX_RETOKENIZE_ROUNDS = 4


@dataclass(frozen=True)
class LengthSpec:
    kind: str
    a: float = 0.0
    b: float = 0.0
    histogram: Optional[tuple[tuple[int, ...], tuple[float, ...]]] = None
    source: str = ""

    def draw(self, rng: np.random.Generator, n: int) -> list[int]:
        if self.kind == "fixed":
            values = np.full(n, self.a)
        elif self.kind == "uniform":
            values = rng.integers(int(self.a), int(self.b), endpoint=True, size=n)
        elif self.kind == "normal":
            values = np.rint(rng.normal(self.a, self.b, size=n))
        else:
            assert self.histogram is not None
            lengths, weights = self.histogram
            values = rng.choice(np.array(lengths), size=n, p=np.array(weights))
        return [max(1, int(v)) for v in values]

    def describe(self) -> str:
        return {
            "fixed": f"fixed {int(self.a)}",
            "uniform": f"uniform {int(self.a)}..{int(self.b)}",
            "normal": f"normal mean {self.a:g} std {self.b:g}",
            "histogram": f"histogram {Path(self.source).name}",
        }[self.kind]


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    if value < 0:
        raise ValueError(f"{what} {text!r} is negative; lengths are token counts")
    return value


def parse_length_spec(text: str) -> LengthSpec:
    """``N``, ``uniform:LO:HI``, ``normal:MEAN:STD`` or ``histogram:FILE``; ValueError with the reason."""
    text = str(text).strip()
    kind, _, rest = text.partition(":")
    if not rest:
        value = _number(kind, "length")
        if value < 1 or value != int(value):
            raise ValueError(f"length {text!r} must be a whole number >= 1")
        return LengthSpec("fixed", value)
    if kind == "histogram":
        return LengthSpec("histogram", histogram=read_histogram(rest), source=rest)
    parts = rest.split(":")
    if kind not in ("uniform", "normal") or len(parts) != 2:
        raise ValueError(f"{text!r}: expected N, uniform:LO:HI, normal:MEAN:STD or histogram:FILE")
    a = _number(parts[0], "low" if kind == "uniform" else "mean")
    b = _number(parts[1], "high" if kind == "uniform" else "std")
    if kind == "uniform" and not (1 <= a <= b):
        raise ValueError(f"{text!r}: need 1 <= LO <= HI")
    if kind == "normal" and a < 1:
        raise ValueError(f"{text!r}: the mean must be >= 1")
    return LengthSpec(kind, a, b)


def read_histogram(path_text: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Rows ``tokens,weight`` (a header row is allowed). Shares must sum to 1; whole counts are normalised."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ValueError(f"histogram file {path_text} not found")
    lengths: list[int] = []
    weights: list[float] = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if not row or (number == 1 and not row[0].strip().lstrip("-").replace(".", "").isdigit()):
                    continue  # blank line or header
                if len(row) != 2:
                    raise ValueError(f"histogram {path_text} line {number}: expected 'tokens,weight'")
                length = _number(row[0], f"histogram {path_text} line {number} tokens")
                weight = _number(row[1], f"histogram {path_text} line {number} weight")
                if length < 1 or length != int(length):
                    raise ValueError(f"histogram {path_text} line {number}: tokens {row[0]!r} must be a whole number >= 1")
                lengths.append(int(length))
                weights.append(weight)
    except UnicodeDecodeError:
        raise ValueError(f"histogram {path_text} is not UTF-8 text") from None
    total = sum(weights)
    if not lengths or total <= 0:
        raise ValueError(f"histogram {path_text} has no rows with weight > 0")
    counts = all(w == int(w) for w in weights) and total > 1
    if not counts and abs(total - 1.0) > 1e-6:
        raise ValueError(f"histogram {path_text}: weights sum to {total:g}; shares must sum to 1 (or give whole counts)")
    return tuple(lengths), tuple(w / total for w in weights)


def _vocabulary(tokenizer: Any) -> np.ndarray:
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    size = len(tokenizer)
    ids = np.array([i for i in range(size) if i not in special])
    return ids


def _exact_length(tokenizer: Any, ids: list[int], want: int, rng: np.random.Generator, vocab: np.ndarray) -> list[int]:
    """Token ids that decode to a text which encodes back to ``want`` tokens (near it at worst)."""
    for _ in range(MAX_RETOKENIZE_ROUNDS):
        text = tokenizer.decode(ids)
        again = list(tokenizer.encode(text, add_special_tokens=False))
        if len(again) == want and again == ids:
            return ids
        ids = again[:want] if len(again) >= want else again + [int(t) for t in rng.choice(vocab, want - len(again))]
    return ids


@dataclass
class SyntheticSet:
    records: list[dict[str, Any]]
    note: str


def make_synthetic(params: Any, tokenizer: Any) -> SyntheticSet:
    """``synthetic_records`` records: ``tok_input`` (prefix + own tokens), ``prompt`` (its text), ``max_tokens``."""
    try:
        inputs = parse_length_spec(params.synthetic_input_tokens)
        outputs = parse_length_spec(params.synthetic_output_tokens)
    except ValueError as err:
        raise InputError("synthetic_input_tokens/synthetic_output_tokens", str(err)) from None
    if tokenizer is None:
        raise InputError("workload 'synthetic'", "needs a tokenizer (the model's, or set tokenizer=<folder or id>)")
    rng = np.random.default_rng(params.synthetic_seed)
    vocab = _vocabulary(tokenizer)
    n = params.synthetic_records
    input_lengths = inputs.draw(rng, n)
    output_lengths = outputs.draw(rng, n)
    prefix_n = params.synthetic_prefix_tokens
    prefix = _exact_length(tokenizer, [int(t) for t in rng.choice(vocab, prefix_n)], prefix_n, rng, vocab) if prefix_n else []
    records = []
    for index in range(n):
        own = _exact_length(tokenizer, [int(t) for t in rng.choice(vocab, input_lengths[index])], input_lengths[index], rng, vocab)
        ids = prefix + own
        records.append({
            "prompt": tokenizer.decode(ids),
            "tok_input": ids,
            "max_tokens": output_lengths[index],
            "tok_output_len": output_lengths[index],  # the drawn length: output_length=reference stops there
            "requested_input_tokens": input_lengths[index] + len(prefix),
        })
    note = (
        f"synthetic: {n} prompts from the tokenizer's vocabulary, seed {params.synthetic_seed}; input "
        f"{inputs.describe()} tokens + a shared prefix of {len(prefix)}; output {outputs.describe()} tokens"
    )
    return SyntheticSet(records, note)
