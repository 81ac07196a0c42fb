"""One streamed OpenAI-compatible answer: parse its server-sent events and account for its tokens.

Kept apart from the HTTP client so the rules can be tested on their own:

- the first token is the first chunk that carries text or token ids (peers.md section 2: an SSE
  message with an empty ``choices`` or empty text is not a token);
- token ids come from the server when it returns them (vLLM's ``return_token_ids``), else the
  text is re-tokenized with the model's tokenizer; the server's ``usage`` count is kept too, and a
  disagreement is flagged, not hidden;
- a stream that ends without ``finish_reason`` and ``[DONE]``, a chunk that is not JSON, or an
  answer without a single token is an error, never a silent zero-token success.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional


try:  # the fast path; json gives the same objects, only slower
    import orjson
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency, this only keeps a bare checkout working
    orjson = None
    _loads = json.loads


def encode_body(body: dict[str, Any]) -> bytes:
    """A request body as JSON bytes (orjson: token-id prompts are long lists; numpy ints allowed)."""
    if orjson is not None:
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=int)
    return json.dumps(body, default=int).encode()


class StreamError(Exception):
    """The answer is unusable; the message says why in one line."""


def _parse(payload: bytes) -> dict:
    try:
        chunk = _loads(payload)
    except ValueError:
        raise StreamError(f"malformed stream chunk (not JSON): {payload.strip()[:120]!r}") from None
    if type(chunk) is not dict:
        raise StreamError(f"malformed stream chunk (not an object): {payload.strip()[:120]!r}")
    return chunk


@dataclass
class StreamedAnswer:
    chat: bool
    text_parts: list[str] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    server_ids: bool = False  # the server sent token ids with its chunks
    chunks: int = 0  # chunks that carried a token
    finish_reason: Optional[str] = None
    usage: Optional[dict[str, Any]] = None
    prompt_token_ids: Optional[list[int]] = None
    done: bool = False  # saw data: [DONE]

    def feed_line(self, raw: bytes) -> Optional[tuple[str, list[int]]]:
        """Take one line of the event stream; returns (text, ids) when it carried a token."""
        payload = self._payload(raw)
        return None if payload is None else self.feed_chunk(_parse(payload))

    def feed_body(self, data: bytes) -> None:
        """Every line of ``data`` at once, in order: one orjson call over all the chunks' payloads.

        The client keeps a stream's bytes after its first token unparsed until the answer ends; one
        call over a JSON array of all the chunks costs far less than one call per chunk.
        """
        payloads = []
        for line in data.split(b"\n"):
            if line.startswith(b"data: {"):  # the common case, a chunk as vLLM writes it: no strip
                payloads.append(line[6:])
            elif line:
                payload = self._payload(line)
                if payload is not None:
                    payloads.append(payload)
        if not payloads:
            return
        try:
            chunks = _loads(b"[" + b",".join(payloads) + b"]")
        except ValueError:
            chunks = None
        if chunks is None or len(chunks) != len(payloads):  # one by one, so the bad chunk is named
            chunks = [_parse(payload) for payload in payloads]
        for chunk, payload in zip(chunks, payloads):
            if type(chunk) is not dict:
                raise StreamError(f"malformed stream chunk (not an object): {payload.strip()[:120]!r}")
            self.feed_chunk(chunk)

    def _payload(self, raw: bytes) -> Optional[bytes]:
        """A line's JSON payload, or None for a line that carries none (noting ``[DONE]``)."""
        if raw.startswith(b"data: {"):  # the common case: no strip, no copy
            return raw[6:]
        line = raw.strip()
        if not line or line.startswith(b":") or not line.startswith(b"data:"):
            return None  # event separator, keep-alive comment, or an "event:"/"id:" field we do not use
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.done = True
            return None
        return payload

    def feed_chunk(self, chunk: dict) -> Optional[tuple[str, list[int]]]:
        """One parsed chunk: only the fields used are looked up."""
        if "error" in chunk and chunk["error"]:
            raise StreamError(f"server error in stream: {str(chunk['error'])[:300]}")
        if "usage" in chunk and chunk["usage"]:
            self.usage = chunk["usage"]
        if self.prompt_token_ids is None and chunk.get("prompt_token_ids"):
            self.prompt_token_ids = list(chunk["prompt_token_ids"])
        choices = chunk.get("choices")
        if not choices:
            return None
        choice = choices[0]
        if self.prompt_token_ids is None and choice.get("prompt_token_ids"):
            self.prompt_token_ids = list(choice["prompt_token_ids"])
        finish = choice.get("finish_reason")
        if finish:
            self.finish_reason = finish
        text = (choice.get("delta") or {}).get("content") if self.chat else choice.get("text")
        text = text or ""
        ids = choice.get("token_ids")
        if ids:
            if type(ids) is not list:
                ids = list(ids)
            # No per-chunk copy or int() of each id: orjson made a fresh list; final_token_ids checks the type once.
            self.server_ids = True
            self.token_ids += ids
        else:
            ids = []
            if not text:
                return None
        self.chunks += 1
        self.text_parts.append(text)
        return text, ids

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def check_complete(self) -> None:
        if self.finish_reason is None and not self.done:
            raise StreamError(
                f"stream ended early: no finish_reason and no [DONE] after {self.chunks} token chunks"
            )
        if self.chunks == 0:
            raise StreamError(f"the server answered without a single token (finish_reason={self.finish_reason})")

    def final_token_ids(self, tokenizer) -> list[int]:
        """Every generated token id: the server's, or the text re-tokenized."""
        if self.server_ids:
            return list(map(int, self.token_ids))
        if tokenizer is None:
            raise StreamError("the server returned no token ids and no tokenizer is loaded to count them")
        return list(tokenizer(self.text, add_special_tokens=False)["input_ids"])

    def accounting(self, n_tokens: int) -> dict[str, Any]:
        """What queries.jsonl records about this answer's token count."""
        usage_tokens = (self.usage or {}).get("completion_tokens")
        return {
            "token_source": "server_token_ids" if self.server_ids else "retokenized",
            "usage_completion_tokens": usage_tokens,
            "usage_prompt_tokens": (self.usage or {}).get("prompt_tokens"),
            "token_count_mismatch": usage_tokens is not None and usage_tokens != n_tokens,
            "chunks": self.chunks,
            "finish_reason": self.finish_reason,
        }


def first_token_ids(text: str, ids: list[int], tokenizer) -> list[int]:
    """The token(s) of the first chunk, for LoadGen's FirstTokenComplete."""
    if ids:
        return ids[:1]
    if tokenizer is None:
        return []
    encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
    return list(encoded[:1])
