"""Token ids a dataset hands to the model: checked up front, not found out by a dying engine thread.

LoadGen's responses and most engines carry token ids as int32; an id outside it (or outside the
model's vocabulary) would end a run mid-stage. The loaders call :func:`check_token_ids` per record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

from mlnb.errors import InputError

INT32_MAX = 2**31 - 1


def check_token_ids(where: str, ids: Sequence[int], vocab_size: Optional[int] = None) -> None:
    """Raise InputError naming the first id that is negative, outside int32, or outside the vocabulary."""
    upper = INT32_MAX if vocab_size is None else min(INT32_MAX, vocab_size - 1)
    if not ids or (min(ids) >= 0 and max(ids) <= upper):  # the common case, at C speed
        return
    position, value = next((i, t) for i, t in enumerate(ids) if t < 0 or t > upper)
    if value < 0 or value > INT32_MAX:
        problem = f"token id {value} (position {position}) is outside int32 (0..{INT32_MAX})"
    else:
        problem = f"token id {value} (position {position}) is outside the model's vocabulary (0..{upper})"
    raise InputError(where, problem)


def model_vocab_size(model_path: str) -> Optional[int]:
    """``vocab_size`` from a local model folder's config.json; None when there is none to read."""
    config = Path(model_path) / "config.json"
    try:
        value = json.loads(config.read_text()).get("vocab_size")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def check_prompts_vocab(where: str, prompts: Sequence[Sequence[int]], vocab_size: Optional[int]) -> None:
    """Every prompt's ids inside the model's vocabulary (records numbered as LoadGen's sample indices)."""
    if vocab_size is None:
        return
    for index, ids in enumerate(prompts):
        check_token_ids(f"{where} record {index} prompt", ids, vocab_size)
