"""The CNN/DailyMail loader, prompt tokens and the embedded set (mlnb.data.cnndm, mlnb.data.make_embedded)."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from mlnb.data import cnndm
from mlnb.data.cnndm import (
    EMBEDDED_DATASET,
    PROMPT_TEMPLATE,
    build_prompt,
    dumps_records,
    fetch_cnndm,
    load_cnndm,
    prompt_token_ids,
    records_from_articles,
    tokenizer_reproduces,
)
from mlnb.errors import InputError

OFFICIAL_KEYS = {"instruction", "input", "tok_input", "output"}

# Three short articles written for these tests.
LOCAL_ARTICLES = [
    {
        "article": "The ferry between Oxley and Dunmere will run every hour from Monday, the operator said.",
        "highlights": "Hourly ferry service starts Monday.",
        "id": "t1",
    },
    {
        "article": (
            'A {curly} brace, a "quote" and an accented name: Zoë Varga opened the new bakery.\nIt sold out by noon.'
        ),
        "highlights": "Zoë Varga opens a bakery.\nIt sells out by noon.",
        "id": "t2",
    },
    {
        "article": "Rain is expected on Tuesday.   Forecasters said 2.5 inches could fall in places.",
        "highlights": "Up to 2.5 inches of rain expected Tuesday.",
        "id": "t3",
    },
]


class CharTokenizer:
    """A stand-in tokenizer: one id per character, so tests without transformers stay exact."""

    name_or_path = "char-tokenizer"

    def __init__(self, offset: int = 0):
        self.offset = offset

    def encode(self, text: str) -> list[int]:
        return [ord(c) + self.offset for c in text]


def write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def good_record(i: int = 0) -> dict[str, Any]:
    return {
        "instruction": {"llama": PROMPT_TEMPLATE},
        "input": f"article {i}",
        "tok_input": [1, 2, 3],
        "output": f"summary {i}",
    }


def load_error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_cnndm(path)
    message = str(info.value)
    assert "\n" not in message, "errors must be one line"
    assert str(path) in message, "errors must name the file"
    return info.value


# ------------------------------------------------------------------ prompt


def test_prompt_template_is_mlperfs_text():
    assert PROMPT_TEMPLATE == (
        "Summarize the following news article in 128 tokens. Please output the summary only, "
        "without any other text.\n\nArticle:\n{input}\n\nSummary:"
    )


def test_build_prompt_fills_the_article_and_keeps_braces():
    article = "Prices {rose} by 5%."
    assert build_prompt(article) == PROMPT_TEMPLATE.replace("{input}", article)
    assert build_prompt(article).endswith("Article:\nPrices {rose} by 5%.\n\nSummary:")


# ------------------------------------------------------------------ loader errors


def test_missing_file(tmp_path):
    err = load_error(tmp_path / "nope.json")
    assert "not found" in err.problem


def test_folder_instead_of_file(tmp_path):
    err = load_error(tmp_path)
    assert "folder" in err.problem


def test_not_json(tmp_path):
    err = load_error(write(tmp_path / "bad.json", '[{"input": '))
    assert "not valid JSON" in err.problem and "line 1" in err.problem


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'["caf\xe9"]')
    assert "UTF-8" in load_error(path).problem


@pytest.mark.parametrize("data, kind", [({"records": []}, "object"), ('"just text"', "string"), (42, "number")])
def test_not_a_list(tmp_path, data, kind):
    err = load_error(write(tmp_path / "obj.json", data))
    assert kind in err.problem and "list of records" in err.problem


def test_empty_list(tmp_path):
    err = load_error(write(tmp_path / "empty.json", []))
    assert "no records" in err.problem


def test_record_not_an_object(tmp_path):
    path = write(tmp_path / "x.json", [good_record(0), ["a", "b"]])
    err = load_error(path)
    assert err.where == f"{path} record 1"
    assert "array" in err.problem and "tok_input" in err.problem


@pytest.mark.parametrize("field", ["input", "tok_input", "output"])
def test_missing_field(tmp_path, field):
    bad = good_record(2)
    del bad[field]
    path = write(tmp_path / "x.json", [good_record(0), good_record(1), bad])
    err = load_error(path)
    assert err.where == f"{path} record 2 field '{field}'"
    assert "missing" in err.problem


@pytest.mark.parametrize("field", ["input", "output"])
def test_text_field_not_a_string(tmp_path, field):
    bad = good_record(0)
    bad[field] = ["not", "text"]
    err = load_error(write(tmp_path / "x.json", [bad]))
    assert err.where.endswith(f"record 0 field '{field}'") and "string" in err.problem


@pytest.mark.parametrize("tok_input", [[], "1 2 3", [1, "2"], [1.5, 2], [True, 1], None, {"ids": [1]}])
def test_bad_tok_input(tmp_path, tok_input):
    bad = good_record(1)
    bad["tok_input"] = tok_input
    path = write(tmp_path / "x.json", [good_record(0), bad])
    err = load_error(path)
    assert err.where == f"{path} record 1 field 'tok_input'"
    assert "non-empty list of integer token ids" in err.problem


def test_instruction_is_optional_and_records_come_back_unchanged(tmp_path):
    records = [good_record(0), {"input": "a", "tok_input": [5], "output": "b", "extra": 1}]
    assert load_cnndm(write(tmp_path / "ok.json", records)) == records


# ------------------------------------------------------------------ embedded set


@pytest.fixture(scope="module")
def embedded() -> list[dict[str, Any]]:
    return load_cnndm(EMBEDDED_DATASET)


def test_embedded_has_64_records_in_the_official_schema(embedded):
    assert len(embedded) == 64
    for record in embedded:
        assert set(record) == OFFICIAL_KEYS
        assert list(record) == ["instruction", "input", "tok_input", "output"]
        assert record["instruction"] == {"llama": PROMPT_TEMPLATE}
        assert 3 <= len(record["output"].splitlines()) <= 4


def test_embedded_lengths_are_spread_like_the_real_set(embedded):
    tokens = sorted(len(r["tok_input"]) for r in embedded)
    words = sorted(len(r["input"].split()) for r in embedded)
    assert tokens[-1] > 3 * tokens[0]
    assert words[0] >= 150 and words[-1] <= 1200
    assert 400 <= words[len(words) // 2] <= 600


def test_embedded_articles_are_distinct(embedded):
    assert len({r["input"] for r in embedded}) == 64
    assert len({r["input"].split(" --")[0] for r in embedded}) > 20  # many datelines


def test_embedded_file_matches_its_generator(embedded):
    # The committed text is exactly what the seeded generator writes: no hand edits, no drift.
    from mlnb.data.make_embedded import generate_articles

    articles = generate_articles()
    assert [a["article"] for a in articles] == [r["input"] for r in embedded]
    assert [a["highlights"] for a in articles] == [r["output"] for r in embedded]


def test_embedded_meta_sidecar():
    meta = json.loads(EMBEDDED_DATASET.with_name("cnn_eval.meta.json").read_text())
    from mlnb.data.make_embedded import SEED

    assert meta == {
        "records": 64,
        "tokenizer": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "template": "mlperf-llama3.1-8b",
        "generator": "mlnb.data.make_embedded",
        "seed": SEED,
    }


# ------------------------------------------------------------------ prompt tokens (stand-in tokenizer)


def test_records_from_articles_builds_mlperf_records():
    tok = CharTokenizer()
    records = records_from_articles(LOCAL_ARTICLES, tok)
    assert len(records) == 3
    for article, record in zip(LOCAL_ARTICLES, records):
        assert list(record) == ["instruction", "input", "tok_input", "output"]
        assert record["instruction"] == {"llama": PROMPT_TEMPLATE}
        assert record["input"] == article["article"]
        assert record["output"] == article["highlights"]
        assert record["tok_input"] == tok.encode(build_prompt(article["article"]))


def test_records_from_articles_names_a_missing_field():
    with pytest.raises(InputError) as info:
        records_from_articles([LOCAL_ARTICLES[0], {"article": "x"}], CharTokenizer())
    assert info.value.where == "article 1" and "highlights" in info.value.problem


def test_prompt_token_ids_without_tokenizer_keeps_tok_input(embedded):
    prompts = prompt_token_ids(embedded[:5])
    assert not prompts.retokenized
    assert prompts.token_ids == [r["tok_input"] for r in embedded[:5]]


def test_prompt_token_ids_keeps_matching_tok_input():
    records = records_from_articles(LOCAL_ARTICLES, CharTokenizer())
    prompts = prompt_token_ids(records, CharTokenizer())
    assert not prompts.retokenized
    assert prompts.token_ids == [r["tok_input"] for r in records]
    assert "char-tokenizer" in prompts.note


def test_prompt_token_ids_retokenizes_foreign_tok_input():
    records = records_from_articles(LOCAL_ARTICLES, CharTokenizer(offset=1000))  # "another tokenizer"
    tok = CharTokenizer()
    prompts = prompt_token_ids(records, tok)
    assert prompts.retokenized
    assert prompts.token_ids == [tok.encode(build_prompt(a["article"])) for a in LOCAL_ARTICLES]
    assert "another tokenizer" in prompts.note and "char-tokenizer" in prompts.note
    assert "no chat template" in prompts.note


def test_tokenizer_reproduces_checks_only_the_probe():
    records = records_from_articles(LOCAL_ARTICLES, CharTokenizer())
    records[2]["tok_input"] = [7]
    assert tokenizer_reproduces(records, CharTokenizer(), probe=2)
    assert not tokenizer_reproduces(records, CharTokenizer(), probe=3)


def test_dumps_records_is_plain_json():
    records = records_from_articles(LOCAL_ARTICLES, CharTokenizer())
    text = dumps_records(records)
    assert json.loads(text) == records
    assert text.count("\n") == 2 + len(records) * 6  # one line per field; token lists stay on one line


# ------------------------------------------------------------------ fetch (no network: a stand-in datasets module)


def fake_datasets(monkeypatch, load_dataset) -> None:
    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", module)


def test_fetch_without_datasets_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import now raises ImportError
    with pytest.raises(InputError) as info:
        fetch_cnndm(tmp_path / "cnn.json", "any-tokenizer")
    assert "pip install datasets" in str(info.value)


def test_fetch_offline_is_one_line(monkeypatch, tmp_path):
    def unreachable(*args, **kwargs):
        try:
            raise OSError("[Errno -3] Temporary failure in name resolution")
        except OSError as exc:
            raise ConnectionError("Couldn't reach 'cnn_dailymail' on the Hub (ConnectionError)") from exc

    fake_datasets(monkeypatch, unreachable)
    with pytest.raises(InputError) as info:
        fetch_cnndm(tmp_path / "cnn.json", "any-tokenizer")
    message = str(info.value)
    assert "could not be reached" in message and "\n" not in message
    assert not (tmp_path / "cnn.json").exists()


def test_fetch_writes_mlperf_records(monkeypatch, tmp_path):
    calls = []

    def load_dataset(name, config, split, token=None):
        calls.append((name, config, split, token))
        return list(LOCAL_ARTICLES)

    fake_datasets(monkeypatch, load_dataset)
    monkeypatch.setattr(cnndm, "_load_tokenizer", lambda name, token: CharTokenizer())
    out = fetch_cnndm(tmp_path / "sub" / "cnn_eval.json", "char", limit=2, token="t")
    assert calls == [("cnn_dailymail", "3.0.0", "validation", "t")]
    records = load_cnndm(out)
    assert records == records_from_articles(LOCAL_ARTICLES[:2], CharTokenizer())


# ------------------------------------------------------------------ the real tokenizer


@pytest.fixture(scope="module")
def embedded_tokenizer_path() -> str:
    path = os.environ.get("MLNB_TEST_TOKENIZER")
    if not path:
        pytest.skip("MLNB_TEST_TOKENIZER is unset; point it at a folder holding the embedded model's tokenizer")
    return path


@pytest.fixture(scope="module")
def tokenizer(embedded_tokenizer_path):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(embedded_tokenizer_path)


def test_real_tokenizer_round_trips_local_articles(tokenizer):
    records = records_from_articles(LOCAL_ARTICLES, tokenizer)
    for article, record in zip(LOCAL_ARTICLES, records):
        assert record["tok_input"] == tokenizer.encode(build_prompt(article["article"]))
        assert tokenizer.decode(record["tok_input"], skip_special_tokens=True) == build_prompt(article["article"])


def test_embedded_tok_input_comes_from_the_embedded_tokenizer(embedded, tokenizer):
    assert tokenizer_reproduces(embedded, tokenizer, probe=len(embedded))


def test_real_tokenizer_keeps_or_retokenizes(embedded, tokenizer):
    kept = prompt_token_ids(embedded[:3], tokenizer)
    assert not kept.retokenized and kept.token_ids == [r["tok_input"] for r in embedded[:3]]

    foreign = [dict(r, tok_input=[128000] + r["tok_input"]) for r in embedded[:3]]  # a BOS this tokenizer never adds
    redone = prompt_token_ids(foreign, tokenizer)
    assert redone.retokenized
    assert redone.token_ids == [r["tok_input"] for r in embedded[:3]]
    assert "re-tokenized" in redone.note


def test_tokenization_note_names_a_local_tokenizer_folder_without_its_path(tmp_path):
    folder = tmp_path / "machine-specific" / "SmolLM2-135M-Instruct"
    folder.mkdir(parents=True)
    records = records_from_articles(LOCAL_ARTICLES, CharTokenizer())
    local = CharTokenizer(offset=1)
    local.name_or_path = str(folder)
    note = prompt_token_ids(records, local).note
    assert "SmolLM2-135M-Instruct (local folder)" in note and str(tmp_path) not in note
    hub = CharTokenizer(offset=1)
    hub.name_or_path = "meta-llama/Llama-3.1-8B-Instruct"  # a hub id stays whole
    assert "meta-llama/Llama-3.1-8B-Instruct" in prompt_token_ids(records, hub).note
