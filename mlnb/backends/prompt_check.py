"""Which prompt form the ``openai`` backend sends, and whether the server tokenizes as we do.

Token ids are only meaningful to a server whose model has the same tokenizer as the one that made
them, so they go only when that tokenizer is named (``tokenizer``, or a ``model`` other than the
embedded default; a managed server names it for the stage). Otherwise the prompt goes as text and
the server tokenizes it. Either way the local tokenizer still counts prompt tokens, decodes answers
and measures lengths, so its counts are compared with the server's ``usage.prompt_tokens``: a
server that counts the same text differently serves another tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from mlnb.errors import InputError

PROBE_PROMPTS = 2  # prompts sent as text with one output token before LoadGen starts
CHECKED_ANSWERS = 16  # answers whose usage.prompt_tokens is compared during the run
LONGEST_CANDIDATES = 16  # text prompts counted for the max_model_len check: the longest by ids
WHAT_TO_PASS = "set tokenizer=<the served model's hub id or folder> (or model=...)"


def tokenizer_named(p) -> Optional[str]:
    """Where the served model's tokenizer was named, or None when only the embedded default is at hand."""
    if p.tokenizer:
        return f"tokenizer={p.tokenizer}"
    if p.model != "embedded":
        return f"model={p.model}"
    return None


def choose_prompt_form(p) -> tuple[str, str]:
    """-> (form, why) for the stage's parameters; InputError when token ids are asked without a tokenizer."""
    if p.api == "chat":
        if p.prompt_form == "tokens":
            raise InputError("prompt_form 'tokens'", "api=chat sends the prompt as a text message; use api=completions for token ids")
        return "text", "api=chat: the prompt goes as a chat message"
    named = tokenizer_named(p)
    if p.prompt_form == "tokens":
        if named is None:
            raise InputError(
                "prompt_form 'tokens'",
                f"token ids need the served model's tokenizer and none is named: {WHAT_TO_PASS}, or prompt_form=text",
            )
        return "tokens", f"prompt_form=tokens, tokenizer from {named}"
    if p.prompt_form == "text":
        return "text", "prompt_form=text"
    if named is not None:
        return "tokens", f"default with a named tokenizer ({named})"
    return "text", "default: no tokenizer named, so the server tokenizes the text (tokenizer=... sends token ids)"


@dataclass
class LocalPrompts:
    """The prompts as ids and text, and how many tokens the local tokenizer counts in what is sent."""

    tokenizer: Any
    form: str  # "tokens" | "text"
    chat: bool
    ids: dict[int, Sequence[int]] = field(default_factory=dict)
    _texts: dict[int, str] = field(default_factory=dict)
    _counts: dict[int, Optional[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, tokenizer: Any, prompts: Sequence[Sequence[int]], form: str, api: str) -> "LocalPrompts":
        local = cls(tokenizer, form, api == "chat", dict(enumerate(prompts)))
        if local.chat or form == "text":
            # Every text now, in one batch, so the event loop only looks them up. Counting every text
            # too would cost about 8 times the decoding; only the few that need it are counted.
            texts = tokenizer.batch_decode([list(p) for p in prompts], skip_special_tokens=True)
            local._texts = dict(enumerate(texts))
        return local

    @classmethod
    def lazy(cls, tokenizer: Any, form: str, api: str) -> "LocalPrompts":
        return cls(tokenizer, form, api == "chat")

    def remember(self, index: int, prompt_ids: Sequence[int]) -> None:
        self.ids.setdefault(index, prompt_ids)

    def text(self, index: int) -> str:
        if index not in self._texts:
            self._texts[index] = self.tokenizer.decode(list(self.ids[index]), skip_special_tokens=True)
        return self._texts[index]

    def text_count(self, index: int) -> Optional[int]:
        """Tokens the local tokenizer makes of the text form (special tokens added, as vLLM does)."""
        if self.chat:
            if not getattr(self.tokenizer, "chat_template", None):
                return None
            from mlnb.data.dsr1 import chat_prompt_ids

            return len(chat_prompt_ids(self.tokenizer, self.text(index)))
        return len(self.tokenizer(self.text(index))["input_ids"])

    def count(self, index: int) -> Optional[int]:
        """Tokens the server should count in what is sent for ``index``; None when it cannot be known."""
        if index not in self._counts:
            self._counts[index] = len(self.ids[index]) if self.form == "tokens" and not self.chat else self.text_count(index)
        return self._counts[index]

    def longest(self) -> tuple[int, int]:
        """(tokens, sample index) of the longest prompt as sent; (0, -1) when none is known.

        Text is counted for the longest prompts by ids only: decoding and re-encoding with the same
        tokenizer moves a count by a token or two, not past the next candidates.
        """
        best = (0, -1)
        by_ids = sorted(self.ids, key=lambda i: len(self.ids[i]), reverse=True)
        for index in by_ids if self.form == "tokens" and not self.chat else by_ids[:LONGEST_CANDIDATES]:
            n = self.count(index)
            if n is not None and n > best[0]:
                best = (n, index)
        return best


def longest_prompt_line(local: LocalPrompts, max_new_tokens: int, max_model_len: Optional[int], url: str, name: str) -> Optional[str]:
    """The one line that says the run cannot fit the server's context, or None when it fits (or is unknown)."""
    if not max_model_len:
        return None
    tokens, index = local.longest()
    if tokens + max_new_tokens <= max_model_len:
        return None
    return (
        f"the server at {url} serves {name!r} with max_model_len {max_model_len}, but the longest prompt "
        f"(sample {index}, {tokens} tokens) + max_new_tokens {max_new_tokens} = {tokens + max_new_tokens}: "
        "lower max_new_tokens or samples, or serve the model with a longer max_model_len"
    )


def count_mismatch_line(url: str, index: int, counted: int, expected: int, source: str) -> str:
    return (
        f"the server at {url} counts {counted} prompt tokens in sample {index} where the local tokenizer "
        f"({source}) counts {expected}, so it is not the served model's tokenizer: {WHAT_TO_PASS}"
    )
