"""Synthetic prompts: the same seed gives the same prompts; lengths follow the distribution asked for."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from mlnb.config import StageParams
from mlnb.data.synthetic import make_synthetic, parse_length_spec


@pytest.fixture(scope="module")
def tokenizer(embedded_model_dir):
    return AutoTokenizer.from_pretrained(embedded_model_dir)


def _params(**values) -> StageParams:
    return StageParams(workload="synthetic", backend="sim", **values)


def test_same_seed_same_prompts_other_seed_other_prompts(tokenizer):
    params = _params(synthetic_records=6, synthetic_input_tokens="uniform:8:24", synthetic_output_tokens="normal:30:5")
    first, again = make_synthetic(params, tokenizer), make_synthetic(params, tokenizer)
    assert [r["tok_input"] for r in first.records] == [r["tok_input"] for r in again.records]
    assert [r["max_tokens"] for r in first.records] == [r["max_tokens"] for r in again.records]
    other = make_synthetic(params.model_copy(update={"synthetic_seed": 1}), tokenizer)
    assert [r["tok_input"] for r in other.records] != [r["tok_input"] for r in first.records]


def test_prompts_decode_to_text_that_encodes_back_to_the_same_tokens(tokenizer):
    made = make_synthetic(_params(synthetic_records=8, synthetic_input_tokens="40"), tokenizer)
    special = set(tokenizer.all_special_ids)
    for record in made.records:
        assert isinstance(record["prompt"], str) and record["prompt"].strip()
        assert not special & set(record["tok_input"])
        assert list(tokenizer.encode(record["prompt"], add_special_tokens=False)) == record["tok_input"]
        assert len(record["tok_input"]) == 40


def test_shared_prefix_is_shared(tokenizer):
    made = make_synthetic(_params(synthetic_records=5, synthetic_input_tokens="12", synthetic_prefix_tokens=20), tokenizer)
    prefixes = {tuple(r["tok_input"][:20]) for r in made.records}
    suffixes = {tuple(r["tok_input"][20:]) for r in made.records}
    assert len(prefixes) == 1 and len(suffixes) == 5
    assert all(len(r["tok_input"]) == 32 for r in made.records)


def test_uniform_and_normal_lengths_follow_their_parameters():
    rng = np.random.default_rng(3)
    uniform = np.array(parse_length_spec("uniform:10:20").draw(rng, 4000))
    assert uniform.min() == 10 and uniform.max() == 20 and abs(uniform.mean() - 15) < 0.3
    normal = np.array(parse_length_spec("normal:200:25").draw(rng, 4000))
    assert abs(normal.mean() - 200) < 2 and abs(normal.std() - 25) < 2
    assert parse_length_spec("64").draw(rng, 3) == [64, 64, 64]


def test_histogram_lengths_follow_the_weights(tmp_path):
    path = tmp_path / "lengths.csv"
    path.write_text("tokens,weight\n16,0.25\n64,0.75\n")
    draws = np.array(parse_length_spec(f"histogram:{path}").draw(np.random.default_rng(0), 4000))
    assert set(draws) == {16, 64}
    assert abs((draws == 64).mean() - 0.75) < 0.03
    counts = tmp_path / "counts.csv"
    counts.write_text("16,10\n64,30\n")  # whole counts are normalised
    assert parse_length_spec(f"histogram:{counts}").histogram == ((16, 64), (0.25, 0.75))


@pytest.mark.parametrize("spec, fragment", [
    ("-5", "negative"),
    ("normal:100:-3", "negative"),
    ("uniform:30:10", "LO <= HI"),
    ("gamma:1:2", "expected N"),
    ("0", ">= 1"),
])
def test_bad_length_specs_say_why(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_length_spec(spec)
