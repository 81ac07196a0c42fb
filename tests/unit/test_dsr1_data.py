"""The DeepSeek-R1 dataset loader (pickle and JSON), the embedded set, and the workload switch."""

import json

import numpy as np
import pandas as pd
import pytest

from mlnb.accuracy.code_sandbox import SandboxLimits
from mlnb.accuracy.exact_match import score_text
from mlnb.config import StageParams
from mlnb.data import make_embedded_dsr1
from mlnb.data.dsr1 import EMBEDDED_DATASET, KINDS, kind_of, load_dsr1, prompt_token_ids
from mlnb.errors import InputError
from mlnb.workloads import dataset_path, workload_for

RECORDS = [
    {"text_input": "Q1 prompt", "ground_truth": "42", "dataset": "aime2024", "question": "Q1"},
    {"text_input": "Q2 prompt", "ground_truth": "B", "dataset": "gpqa_diamond", "question": "Q2"},
    {"text_input": "Q3 prompt", "ground_truth": "\\frac{1}{2}", "dataset": "math500", "question": "Q3"},
]


def test_pickle_dataframe_loads_with_kinds(tmp_path):
    path = tmp_path / "ds.pkl"
    frame = pd.DataFrame(RECORDS)
    frame["tok_input"] = [np.array([1, 2, 3], dtype=np.int64), [4, 5], [6]]  # arrays, as pandas often stores them
    frame["tests"] = [float("nan"), None, float("nan")]  # only code rows have tests
    frame["extra_column"] = 0  # columns the scorer does not read are dropped
    frame.to_pickle(path)
    records = load_dsr1(path)
    assert [r["kind"] for r in records] == ["aime", "gpqa", "math500"]
    assert records[0]["tok_input"] == [1, 2, 3] and "extra_column" not in records[0]
    assert records[0]["tests"] is None
    json.dumps(records)  # plain Python values only
    assert records[1]["ground_truth"] == "B"


def test_gt_output_is_accepted_for_ground_truth(tmp_path):
    path = tmp_path / "ds.pkl"
    pd.DataFrame([{"text_input": "p", "gt_output": "7", "dataset": "aime", "input": "the question"}]).to_pickle(path)
    (record,) = load_dsr1(path)
    assert record["ground_truth"] == "7" and record["question"] == "the question"


def test_json_records_load(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(RECORDS))
    assert [r["kind"] for r in load_dsr1(path)] == ["aime", "gpqa", "math500"]


@pytest.mark.parametrize(
    "frame, fragments",
    [
        (pd.DataFrame([{"ground_truth": "1", "dataset": "aime"}]), ["column 'text_input'", "missing"]),
        (pd.DataFrame([{"text_input": "p", "dataset": "aime"}]), ["column 'ground_truth'", "gt_output"]),
        (pd.DataFrame([{"text_input": "p", "ground_truth": "1"}]), ["column 'dataset'"]),
        (pd.DataFrame([{"text_input": "p", "ground_truth": "1", "dataset": "trivia_qa"}]), ["record 0 field 'dataset'", "'trivia_qa'", "livecodebench"]),
    ],
)
def test_bad_pickles_name_the_column_or_value(tmp_path, frame, fragments):
    path = tmp_path / "bad.pkl"
    frame.to_pickle(path)
    with pytest.raises(InputError) as err:
        load_dsr1(path)
    message = str(err.value)
    assert "bad.pkl" in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_bad_json_names_the_record(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([RECORDS[0], {"text_input": "p", "dataset": "gpqa"}]))
    with pytest.raises(InputError, match=r"bad.json record 1 field 'ground_truth'"):
        load_dsr1(path)
    path.write_text("{oops")
    with pytest.raises(InputError, match="not valid JSON"):
        load_dsr1(path)
    path.write_text(json.dumps({"text_input": "p"}))
    with pytest.raises(InputError, match="expected a list of records"):
        load_dsr1(path)


def test_not_a_pickle(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_text("plain text")
    with pytest.raises(InputError, match="not a readable pickle"):
        load_dsr1(path)


def test_kind_matching_follows_mlperf_order():
    assert kind_of("MMLU_Pro_law") == "mmlu_pro" and kind_of("mmlu") is None  # MLPerf has no "mmlu" scorer
    assert kind_of("livecodebench_v1") == "livecodebench" and kind_of("AIME_1983") == "aime"
    assert kind_of("squad") is None


def test_embedded_set_is_current_and_covers_every_kind():
    assert EMBEDDED_DATASET.read_text(encoding="utf-8") == make_embedded_dsr1.render()
    records = load_dsr1(EMBEDDED_DATASET)
    assert [r["kind"] for r in records[:5]] == list(KINDS)  # the first five: one of each kind
    assert {r["kind"] for r in records} == set(KINDS)
    for record in records:
        if record["kind"] == "livecodebench":
            assert record["tests"] and all({"input", "output"} <= set(t) for t in record["tests"])


# Reference programs for the four embedded code problems, written for this test.
SOLUTIONS = [
    "t = int(input())\nfor _ in range(t):\n    print(sum(map(int, input().split())))\n",
    "s = input().strip()\nbest = run = 1\nfor i in range(1, len(s)):\n    run = run + 1 if s[i] == s[i-1] else 1\n    best = max(best, run)\nprint(best)\n",
    "import sys\nv = list(map(int, sys.stdin.read().split()))[1:]\nbest, cur = v[0], 0\nfor x in v:\n    cur = max(x, cur + x)\n    best = max(best, cur)\nprint(best)\n",
    "s = input().strip()\nst = []\nok = True\nfor c in s:\n    if c in '([{':\n        st.append(c)\n    elif not st or st.pop() != {')': '(', ']': '[', '}': '{'}[c]:\n        ok = False\n        break\nprint('YES' if ok and not st else 'NO')\n",
]


def _perfect_output(record, code_index):
    kind, truth = record["kind"], record["ground_truth"]
    if kind in ("gpqa", "mmlu_pro"):
        return f"<think>reasoning</think>\nAnswer: {truth}"
    if kind in ("aime", "math500"):
        return f"<think>reasoning</think>\nSo the result is \\boxed{{{truth}}}."
    return f"<think>plan</think>\n```python\n{SOLUTIONS[code_index]}```"


def test_every_embedded_answer_is_scorable():
    records = load_dsr1(EMBEDDED_DATASET)
    code_index = 0
    for record in records:
        score, _, reason = score_text(record["kind"], _perfect_output(record, code_index), record, SandboxLimits(timeout_s=5))
        assert score == 100.0, (record["question"], reason)
        code_index += record["kind"] == "livecodebench"
        assert score_text(record["kind"], "No idea.", record)[0] == 0.0  # ("I ..." would be the letter I)


class _Tokenizer:
    chat_template = "template"
    name_or_path = "toy"

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        assert add_generation_prompt and tokenize
        return [100] + [ord(c) for c in messages[0]["content"]] + [101]

    def encode(self, text):
        return [ord(c) for c in text]


def test_prompts_use_the_chat_template_unless_tok_input_matches():
    records = [{"text_input": "ab"}, {"text_input": "c"}]
    prompts = prompt_token_ids(records, _Tokenizer())
    assert prompts.token_ids == [[100, 97, 98, 101], [100, 99, 101]] and "chat template" in prompts.note
    matching = [{"text_input": "ab", "tok_input": [100, 97, 98, 101]}]
    assert not prompt_token_ids(matching, _Tokenizer()).retokenized
    foreign = [{"text_input": "ab", "tok_input": [1, 2]}]
    redone = prompt_token_ids(foreign, _Tokenizer())
    assert redone.retokenized and redone.token_ids == [[100, 97, 98, 101]]


def test_workload_selects_dataset_and_model_keys():
    params = StageParams(workload="deepseek-r1", scenario="Server")
    assert params.effective_model_key == "deepseek-r1"
    assert StageParams(workload="deepseek-r1", scenario="Interactive").effective_model_key == "deepseek-r1-interactive"
    assert StageParams(workload="deepseek-r1").effective_model_key == "deepseek-r1"
    assert dataset_path(params) == EMBEDDED_DATASET and workload_for(params).name == "deepseek-r1"
    # the Llama keys are unchanged
    assert StageParams().effective_model_key == "llama3_1-8b"
    assert StageParams(scenario="Interactive").effective_model_key == "llama3_1-8b-interactive"
    assert StageParams(model_key="deepseek-r1-interactive", scenario="Server").effective_model_key == "deepseek-r1-interactive"


def test_workload_rejects_unknown_names_and_scenarios():
    from mlnb.config import validate_model

    with pytest.raises(InputError, match="workload"):
        validate_model(StageParams, {"workload": "gsm8k"}, "test")
    with pytest.raises(InputError, match="no SingleStream scenario"):
        validate_model(StageParams, {"workload": "deepseek-r1", "scenario": "SingleStream"}, "test")


def test_user_conf_plan_for_deepseek(tmp_path):
    from mlnb.harness.settings import plan_user_conf

    params = StageParams(workload="deepseek-r1", scenario="Server", target_qps=0.5)
    plan = plan_user_conf(params, 5, False, workload_for(params).dataset_title)
    assert "deepseek-r1.Server.target_qps = 0.5" in plan.lines
    assert "deepseek-r1.*.performance_sample_count_override = 5" in plan.lines
    assert "5 samples instead of the full 4388" in plan.relaxed
    assert "dataset is not the official MLPerf DeepSeek-R1 set (4388 samples)" in plan.relaxed
