"""The rules for one streamed answer: what counts as the first token, how tokens are counted."""

from __future__ import annotations

import json

import pytest

from mlnb.backends.openai_api import error_kind, split_base_urls
from mlnb.backends.openai_stream import StreamedAnswer, StreamError, first_token_ids
from mlnb.errors import InputError


def _line(choice=None, **chunk) -> bytes:
    if choice is not None:
        chunk["choices"] = [choice]
    return b"data: " + json.dumps(chunk).encode() + b"\n"


@pytest.fixture(scope="module")
def tokenizer(embedded_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model_dir)


def test_empty_chunks_are_not_the_first_token_and_server_ids_are_used():
    answer = StreamedAnswer(chat=False)
    assert answer.feed_line(b": keep-alive\n") is None
    assert answer.feed_line(_line({"index": 0, "text": "", "prompt_token_ids": [1, 2]})) is None
    assert answer.feed_line(_line({"index": 0, "text": "<|im_end|>", "token_ids": [2]})) == ("<|im_end|>", [2])
    answer.feed_line(_line({"index": 0, "text": " a b", "token_ids": [7, 8], "finish_reason": "length"}))
    answer.feed_line(_line(usage={"prompt_tokens": 2, "completion_tokens": 3}, choices=[]))
    answer.feed_line(b"data: [DONE]\n")
    answer.check_complete()
    assert answer.final_token_ids(None) == [2, 7, 8]
    facts = answer.accounting(3)
    assert facts["token_source"] == "server_token_ids" and not facts["token_count_mismatch"]
    assert answer.prompt_token_ids == [1, 2] and facts["chunks"] == 2


def test_chat_deltas_and_retokenized_counts_flag_a_usage_mismatch(tokenizer):
    answer = StreamedAnswer(chat=True)
    answer.feed_line(_line({"index": 0, "delta": {"role": "assistant"}}))  # a role-only delta: no token
    assert answer.chunks == 0
    answer.feed_line(_line({"index": 0, "delta": {"content": "Hello"}}))
    answer.feed_line(_line({"index": 0, "delta": {"content": " world"}, "finish_reason": "stop"}))
    answer.feed_line(_line(usage={"completion_tokens": 5}, choices=[]))
    answer.check_complete()
    ids = answer.final_token_ids(tokenizer)
    assert tokenizer.decode(ids) == "Hello world"
    facts = answer.accounting(len(ids))
    assert facts["token_source"] == "retokenized"
    assert facts["token_count_mismatch"] == (len(ids) != 5)
    assert first_token_ids("Hello", [], tokenizer) == ids[:1]


@pytest.mark.parametrize(
    "lines, message",
    [
        ([b"data: {oops\n"], "malformed stream chunk"),
        ([b'data: {"error": {"message": "engine died"}}\n'], "server error in stream"),
        ([_line({"index": 0, "text": "a", "token_ids": [5]})], "stream ended early"),
        ([_line({"index": 0, "text": "", "finish_reason": "stop"}), b"data: [DONE]\n"], "without a single token"),
    ],
)
def test_broken_answers_are_errors(lines, message):
    answer = StreamedAnswer(chat=False)
    with pytest.raises(StreamError, match=message):
        for line in lines:
            answer.feed_line(line)
        answer.check_complete()


def test_base_urls_and_error_kinds():
    assert split_base_urls("http://a:1/v1/, http://b:2/v1") == ["http://a:1/v1", "http://b:2/v1"]
    with pytest.raises(InputError, match="ftp://x"):
        split_base_urls("ftp://x")
    assert error_kind("HTTP 500 from http://a:1/v1/completions: boom") == "HTTP 500"
    assert error_kind("stream ended early: no finish_reason") == "stream ended early"
