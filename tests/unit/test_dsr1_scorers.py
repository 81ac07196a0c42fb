"""DeepSeek-R1 answer parsing and grading against hand-written outputs (MLPerf's rules)."""

import pytest

from mlnb.accuracy.answer_parsing import clean_choice_output, last_boxed, parse_aime, parse_choice, parse_code
from mlnb.accuracy.exact_match import (
    REFERENCE,
    SampleScore,
    check_targets,
    format_accuracy_txt,
    score_text,
    summarize,
)
from mlnb.accuracy.math_equiv import answers_equal


# --- multiple choice -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, last, expected",
    [
        ("<think>Maybe (A)? No, B fits better.</think>\nAnswer: B", "D", "B"),
        ("Answer: A ... on reflection, FINAL ANSWER: (C)", "D", "C"),  # the last match wins
        ("answer = d", "D", "D"),  # case-insensitive, '=' allowed
        ("The answer is C", "D", None),  # 'is' between the word and the letter: no match for GPQA
        ("Answer: Because the force doubles, B", "D", None),  # 'B' of 'Because' is followed by a letter
        ("Answer: E", "D", None),  # outside A-D
        ("Answer: (J)", "J", "J"),
        ("I pick option G in the end.", "J", "G"),  # MMLU-Pro fallback: last standalone letter
        ("there is a catch", "J", "A"),  # ... which also reads the word 'a' (MLPerf's behaviour)
        ("['Answer: C']", "D", "C"),  # a stringified one-item list is unwrapped first
    ],
)
def test_parse_choice(text, last, expected):
    assert parse_choice(text, last) == expected


def test_letter_scoring_compares_with_the_reference():
    assert score_text("gpqa", "Answer: B", {"ground_truth": "B"})[0] == 100.0
    assert score_text("gpqa", "Answer: B", {"ground_truth": "c"})[0] == 0.0
    score, extracted, reason = score_text("mmlu_pro", "12345", {"ground_truth": "A"})
    assert (score, extracted) == (0.0, None) and "no answer letter" in reason


# --- \boxed{} and MATH equivalence ----------------------------------------------------------

def test_last_boxed_matches_nested_braces():
    text = r"First \boxed{1}. Then: \boxed{\frac{a^{2}}{b_{1}} + \left\{x\right\}} done"
    assert last_boxed(text) == r"\frac{a^{2}}{b_{1}} + \left\{x\right\}"


def test_last_boxed_unclosed_or_absent():
    assert last_boxed(r"\boxed{\frac{1}{2}") is None
    assert last_boxed("no box here") is None


@pytest.mark.parametrize(
    "given, reference",
    [
        (r"\frac{1}{2}", "0.5"),  # \frac against a decimal
        ("0.5", r"\dfrac{1}{2}"),
        (r"\frac12", r"\frac{1}{2}"),
        (r"\sqrt{8}", r"2\sqrt{2}"),
        (r"\frac{\pi}{2}", r"\pi/2"),
        ("(x+1)^2", "x^2+2x+1"),
        ("x^2 y^3", "y^3 x^2"),  # a space is a product
        (r"\frac {1} {2}", "0.5"),
        ("x = 7", "7"),
        ("1,000", "1000"),
        (r"45^\circ", "45"),
        (r"25\%", "25"),
        (r"\left( 2, 15 \right)", "(2,15)"),
        (r"\text{5}", "5"),
        ("3.50", "3.5"),
    ],
)
def test_equivalent_math_answers(given, reference):
    assert answers_equal(given, reference)


@pytest.mark.parametrize(
    "given, reference",
    [
        ("0.333", r"\frac{1}{3}"),
        ("(2,15)", "[2,15]"),  # an open interval is not a closed one
        ("(2,15,1)", "(2,15)"),
        ("x+1", "x-1"),
        (r"__import__('os').system('true')", "0"),  # never evaluated
        ("", "0"),
        ("9^{9^{9^{9}}}", "1"),  # a power tower is never evaluated (it would not finish)
        ("3.14159", r"\pi"),
        (r"\frac{58}{30}", r"\frac{29}{15}"),  # PRM800K: an unreduced fraction is wrong
        ("(2^3)^2", "64"),  # PRM800K: an integer reference needs an integer
    ],
)
def test_different_math_answers(given, reference):
    assert not answers_equal(given, reference)


def test_math_scoring_uses_the_last_box():
    text = r"<think>maybe \boxed{3}</think> so the answer is \boxed{\dfrac{29}{15}}"
    assert score_text("math500", text, {"ground_truth": r"\frac{29}{15}"})[:2] == (100.0, r"\dfrac{29}{15}")


def test_math_scoring_an_empty_box_or_reference_is_wrong():
    assert score_text("math500", r"\boxed{ }", {"ground_truth": r"\text{ }"})[0] == 0.0
    assert score_text("math500", r"\boxed{0}", {"ground_truth": ""})[0] == 0.0


# --- AIME -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so \boxed{ 042 }", 42),
        (r"\boxed{7} then \boxed{19}", 19),
        ("Answer: 315", 315),
        (r"\boxed{1000}", None),  # outside 0..999
        (r"\boxed{12} Answer: 5", 12),  # a box wins over 'Answer:'
        ("Answer: 12.5", None),  # not an integer
        (r"\boxed{\frac{1}{2}}", None),
    ],
)
def test_parse_aime(text, expected):
    assert parse_aime(text) == expected


def test_aime_scoring():
    assert score_text("aime", r"\boxed{42}", {"ground_truth": "042"})[0] == 100.0
    assert score_text("aime", r"\boxed{41}", {"ground_truth": "42"})[0] == 0.0
    assert score_text("aime", r"\boxed{42}", {"ground_truth": 42.0})[0] == 100.0  # int() of the stored value
    assert score_text("aime", r"\boxed{42}", {"ground_truth": "42.0"})[0] == 0.0  # int("42.0") fails in MLPerf too


# --- code extraction ---------------------------------------------------------------------------

def test_parse_code_takes_the_first_python_block():
    text = "```python\nprint(1)\n```\nbetter:\n```python\nprint(2)\n```"
    assert parse_code(text) == "print(1)"
    assert parse_code("```\nprint(1)\n```") is None


def test_choice_output_is_unescaped():
    assert clean_choice_output("line1\\nline2") == "line1\nline2"
    assert clean_choice_output(None) == ""
    assert parse_choice("The options differ.\\nAnswer:\\nB", "D") == "B"


# --- only multiple-choice answers are unescaped (MLPerf's rule) -----------------------------------

def test_code_with_backslash_n_is_kept_as_written():
    text = "<think>plan</think>\n```python\nlines = open(0).read().split('\\n')\nprint(len(lines), 'it\\'s')\n```"
    code = parse_code(text)
    assert code == "lines = open(0).read().split('\\n')\nprint(len(lines), 'it\\'s')"
    compile(code, "answer", "exec")  # unescaped, the string literal would be split by a newline


@pytest.mark.parametrize("boxed", [r"x \neq 2", r"\nu", r"\mathbb{N}\setminus\{1\}", r"\{\n\}"])
def test_boxed_answers_keep_backslash_n(boxed):
    assert last_boxed(f"so \\boxed{{{boxed}}}") == boxed
    assert score_text("math500", f"\\boxed{{{boxed}}}", {"ground_truth": boxed})[0] == 100.0



# --- metrics and accuracy.txt ----------------------------------------------------------------

def _sample(kind, score, tokens):
    return SampleScore(0, kind, kind, score, None, "x", "", tokens)


def test_summary_overall_and_per_dataset():
    result = summarize([_sample("aime", 100.0, 10), _sample("aime", 0.0, 30), _sample("gpqa", 100.0, 51)])
    assert result.exact_match == 200 / 3  # full precision, as MLPerf prints it: no rounding to 4 places
    assert result.tokens_per_sample == 91 / 3
    assert result.per_dataset["aime"] == {"exact_match": 50.0, "tokens_per_sample": 20.0, "num_samples": 2, "correct": 1}
    assert result.per_dataset["gpqa"]["exact_match"] == 100.0
    groups = summarize([_sample("gpqa", 100.0, 1), _sample("gpqa", 0.0, 1), _sample("gpqa", 0.0, 2)]).per_dataset["gpqa"]
    assert (groups["exact_match"], groups["tokens_per_sample"]) == (100 / 3, 4 / 3)
    line = format_accuracy_txt(result)
    assert f"'exact_match': {200 / 3!r}" in line and f"'tokens_per_sample': {91 / 3!r}" in line


def test_a_dataset_named_mmlu_is_an_error_as_in_mlperf(tmp_path):
    import json

    from mlnb.data.dsr1 import load_dsr1
    from mlnb.errors import InputError

    path = tmp_path / "data.json"
    path.write_text(json.dumps([{"text_input": "p", "ground_truth": "A", "dataset": "mmlu"}]))
    with pytest.raises(InputError) as raised:
        load_dsr1(path)
    message = str(raised.value)
    assert "record 0 field 'dataset'" in message and "'mmlu'" in message and "name MMLU-Pro records 'mmlu_pro'" in message


def test_targets_and_accuracy_txt_follow_the_checker():
    import re

    result = summarize([_sample("aime", 100.0, 3886)] * 3)
    checks = {c["metric"]: c for c in check_targets(result)}
    assert checks["exact_match"]["lower"] == pytest.approx(0.99 * REFERENCE["exact_match"])
    assert checks["exact_match"]["passed"]
    assert checks["tokens_per_sample"]["passed"]
    assert not checks["num-samples"]["passed"]  # 3 samples are not the full 4388
    line = format_accuracy_txt(result)
    # The submission checker's patterns for deepseek-r1.
    assert re.match(r".*'exact_match':\s([\d.]+).*", line).group(1) == "100.0"
    assert re.match(r".*'tokens_per_sample':\s([\d.]+).*", line).group(1) == "3886.0"
    low = summarize([_sample("aime", 0.0, 100)])
    low_checks = {c["metric"]: c for c in check_targets(low)}
    assert not low_checks["exact_match"]["passed"] and not low_checks["tokens_per_sample"]["passed"]


# --- the submission check of a deepseek-r1 accuracy.txt ----------------------------------------

def test_submission_check_reads_deepseek_accuracy_txt(tmp_path):
    from mlnb.submission.checks import BENCHMARKS, _Checker

    assert BENCHMARKS["deepseek-r1"].dataset_size == 4388
    assert BENCHMARKS["deepseek-r1"].latency_limits_ms == {"Server": (2000.0, 80.0), "Interactive": (1500.0, 15.0)}
    checker = _Checker(tmp_path)
    good = format_accuracy_txt(summarize([_sample("aime", 100.0, 3886)]))
    checker.check_accuracy_values(tmp_path / "accuracy.txt", good, "deepseek-r1")
    assert checker.failures == []
    bad = format_accuracy_txt(summarize([_sample("aime", 0.0, 100)]))
    checker.check_accuracy_values(tmp_path / "accuracy.txt", bad, "deepseek-r1")
    details = [f.detail for f in checker.failures]
    assert any(d.startswith("exact_match 0 misses the target >= 80.5446") for d in details)
    assert any(d.startswith("tokens_per_sample 100 misses the target 3497.6 .. 4274.9") for d in details)
