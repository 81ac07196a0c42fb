"""The tokenizer a run can use when its model folder has none (a dummy-weight architecture).

Prompts always come from the dataset's ``tok_input`` in that case. A tokenizer is still wanted for two
things: decoding answers for the accuracy stages and measuring the reference outputs' lengths. The
order: the ``tokenizer`` parameter, the model's own tokenizer, then the embedded model's tokenizer if it
is prepared (the embedded dataset was tokenized with it). Random-weight answers are noise whichever
tokenizer decodes them; the reports say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from mlnb.config import StageParams
from mlnb.errors import InputError, StageFailed

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")


def folder_has_tokenizer(folder: str | Path) -> bool:
    path = Path(folder)
    return path.is_dir() and any((path / name).exists() for name in TOKENIZER_FILES)


@dataclass
class TokenizerAtHand:
    tokenizer: Optional[Any]
    source: str  # where it came from, for harness.json and the report


def _load(name_or_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)


def tokenizer_at_hand(params: StageParams) -> TokenizerAtHand:
    from mlnb.models.embedded import embedded_model_dir, is_prepared, resolve_model

    if params.tokenizer:
        where = embedded_model_dir() if params.tokenizer == "embedded" else Path(params.tokenizer).expanduser()
        try:
            return TokenizerAtHand(_load(str(where)), f"tokenizer={params.tokenizer}")
        except Exception as err:  # noqa: BLE001 - one line for the user
            raise InputError(f"tokenizer {params.tokenizer!r}", f"could not be loaded ({type(err).__name__})") from None
    model = resolve_model(params.model)
    if not Path(model).is_dir() or folder_has_tokenizer(model):
        return TokenizerAtHand(_load(model), f"the model's own ({model})")
    if is_prepared():
        return TokenizerAtHand(_load(str(embedded_model_dir())), "the embedded model's (SmolLM2-135M-Instruct)")
    return TokenizerAtHand(None, "none: the model folder has no tokenizer and none was given")


def required_tokenizer(params: StageParams):
    """The tokenizer at hand, or StageFailed: a dummy-weight architecture folder has none to decode answers."""
    found = tokenizer_at_hand(params)
    if found.tokenizer is None:
        raise StageFailed(f"model {params.model!r}: no tokenizer to decode answers; set tokenizer=<folder or id>")
    return found.tokenizer
