"""Output lengths that follow the reference answers (load_format=dummy)."""

from transformers import AutoTokenizer

from mlnb.config import StageParams
from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm
from mlnb.data.output_lengths import plan_output_lengths


def test_dummy_weights_default_to_reference_lengths():
    assert StageParams().effective_output_length == "model"
    assert StageParams(load_format="dummy").effective_output_length == "reference"
    assert StageParams(load_format="dummy", output_length="model").effective_output_length == "model"


def test_token_fields_in_the_dataset_win_and_are_capped():
    records = [{"output": "x", "tok_output": [5] * 40}, {"output": "y", "tok_output": [5] * 300}]
    plan = plan_output_lengths("reference", records, 128, 1)
    assert plan.limits == [40, 128] and plan.ignore_eos
    plan = plan_output_lengths("reference", [{"output": "z", "tok_ref_output_len": 0}], 128, 1)
    assert plan.limits == [1]  # never below min_new_tokens (LoadGen needs a first token)


def test_reference_text_is_tokenized_when_the_dataset_has_no_counts(embedded_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    records = load_cnndm(EMBEDDED_DATASET)[:6]
    plan = plan_output_lengths("reference", records, 64, 1, tokenizer)
    expected = [min(len(tokenizer.encode(r["output"], add_special_tokens=False)), 64) for r in records]
    assert plan.limits == expected and len(set(plan.limits)) > 1
    assert "tokenized with" in plan.note


def test_without_a_tokenizer_every_output_runs_to_the_maximum_and_says_so():
    plan = plan_output_lengths("reference", [{"output": "a b c"}], 32, 1, None)
    assert plan.limits is None and plan.ignore_eos and "no tokenizer" in plan.note
    assert plan_output_lengths("model", [{"output": "a"}], 32, 1).ignore_eos is False


def test_bad_switch_values_are_one_line_errors():
    import pytest

    from mlnb.config import validate_model
    from mlnb.errors import InputError

    with pytest.raises(InputError, match="decode_path"):
        validate_model(StageParams, {"decode_path": "fast"}, "preset")
    with pytest.raises(InputError, match="output_length"):
        validate_model(StageParams, {"output_length": "eos"}, "preset")
