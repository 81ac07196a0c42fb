"""The openai backend's prompt form and its local token counts, without a server."""

from __future__ import annotations

import os

import pytest

from mlnb.backends.prompt_check import LocalPrompts, choose_prompt_form, count_mismatch_line, longest_prompt_line
from mlnb.config import StageParams
from mlnb.errors import InputError


def _p(**values) -> StageParams:
    return StageParams(backend="openai", base_url="http://h:1/v1", **values)


def test_token_ids_go_only_with_a_named_tokenizer():
    assert choose_prompt_form(_p())[0] == "text"  # the embedded default names nothing
    assert choose_prompt_form(_p(tokenizer="org/tok"))[0] == "tokens"
    assert choose_prompt_form(_p(model="org/model"))[0] == "tokens"
    assert choose_prompt_form(_p(model="org/model", prompt_form="text"))[0] == "text"
    with pytest.raises(InputError) as err:
        choose_prompt_form(_p(prompt_form="tokens"))
    assert str(err.value).startswith("prompt_form 'tokens': token ids need the served model's tokenizer")
    with pytest.raises(InputError, match="api=chat sends the prompt as a text message"):
        choose_prompt_form(_p(tokenizer="org/tok", api="chat", prompt_form="tokens"))


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.environ["MLNB_TEST_TOKENIZER"])


def test_local_counts_are_what_the_server_would_count(tokenizer):
    texts = ["Summarize the following news article.", "Another, somewhat longer, prompt text here."]
    prompts = [tokenizer(t)["input_ids"] for t in texts]
    as_ids = LocalPrompts.build(tokenizer, prompts, "tokens", "completions")
    as_text = LocalPrompts.build(tokenizer, prompts, "text", "completions")
    assert [as_ids.count(i) for i in range(2)] == [len(p) for p in prompts]
    assert [as_text.text(i) for i in range(2)] == [tokenizer.decode(p, skip_special_tokens=True) for p in prompts]
    assert [as_text.count(i) for i in range(2)] == [len(tokenizer(as_text.text(i))["input_ids"]) for i in range(2)]
    assert as_ids.longest() == (max(len(p) for p in prompts), 1)
    chat = LocalPrompts.build(tokenizer, prompts, "text", "chat")
    templated = tokenizer.apply_chat_template([{"role": "user", "content": chat.text(0)}], add_generation_prompt=True, tokenize=True)
    templated = templated["input_ids"] if hasattr(templated, "keys") else templated
    assert chat.count(0) == len(templated) > len(prompts[0])  # the template's tokens count too


def test_max_model_len_line(tokenizer):
    local = LocalPrompts.build(tokenizer, [[1] * 100, [1] * 300], "tokens", "completions")
    assert longest_prompt_line(local, 128, None, "http://h:1/v1", "m") is None  # not reported: not checked
    assert longest_prompt_line(local, 128, 428, "http://h:1/v1", "m") is None
    line = longest_prompt_line(local, 128, 427, "http://h:1/v1", "m")
    assert line.startswith("the server at http://h:1/v1 serves 'm' with max_model_len 427")
    assert "(sample 1, 300 tokens) + max_new_tokens 128 = 428" in line and "\n" not in line


def test_mismatch_line_says_what_to_pass():
    line = count_mismatch_line("http://h:1/v1", 3, 120, 131, "tokenizer=embedded")
    assert "counts 120 prompt tokens in sample 3 where the local tokenizer (tokenizer=embedded) counts 131" in line
    assert "set tokenizer=<the served model's hub id or folder>" in line and "\n" not in line
