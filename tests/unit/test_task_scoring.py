"""Scores of the custom workload: the scorer per task_type, the summary, and paired comparison."""

from __future__ import annotations

import json

import pytest

from mlnb.accuracy.task_scoring import score_one, score_samples, scorer_for, summarize
from mlnb.compare.build import stage_differences
from mlnb.compare.loading import StageData


@pytest.mark.parametrize("task_type, scorer", [
    (None, "exact"), ("math", "numeric"), ("gsm8k", "numeric"), ("aime", "numeric"), ("gpqa", "choice"),
    ("multiple_choice", "choice"), ("summarization", "rouge"), ("livecodebench", "none"), ("trivia", "exact"),
])
def test_scorer_is_chosen_by_task_type(task_type, scorer):
    assert scorer_for(task_type)[0] == scorer
    assert scorer_for(task_type, forced="rouge")[0] == "rouge"


@pytest.mark.parametrize("scorer, prediction, reference, score", [
    ("exact", "  Hello   World ", "hello world", 100.0),
    ("exact", "hello", "hello world", 0.0),
    ("numeric", "so the total is 1,234.", "1234", 100.0),
    ("numeric", "the answer is \\boxed{7} not 8", "7", 100.0),
    ("numeric", "I think 5", "6", 0.0),
    ("choice", "The answer is (B).", "B", 100.0),
    ("choice", "The answer is (B).", "C", 0.0),
])
def test_each_scorer_decides(scorer, prediction, reference, score):
    assert score_one(scorer, None, prediction, reference)[0] == score


def test_rouge_scores_overlap():
    assert score_one("rouge", None, "a cat sat on a mat", "a cat sat on a mat")[0] == pytest.approx(100.0)
    assert 0 < score_one("rouge", None, "the cat sat", "a cat sat on a mat")[0] < 100


def test_summary_keeps_scorers_apart_and_skips_records_without_output():
    records = [{"task_type": "math", "output": "4"}, {"task_type": "math", "output": "5"},
               {"task_type": "summary", "output": "a cat"}, {"prompt": "no reference"}]
    samples = score_samples([(0, "4", 3), (1, "4", 5), (2, "a cat", 2), (3, "x", 1)], records)
    result = summarize(samples)
    assert result["per_task_type"]["math"]["score"] == 50.0 and result["per_task_type"]["math"]["scored"] == 2
    assert result["per_task_type"]["(none)"]["score"] is None
    assert set(result["per_scorer"]) == {"numeric", "rouge"} and result["scored"] == 3


def _stage(folder, scores):
    folder.mkdir()
    rows = [{"qsl_idx": i, "task_type": t, "score": s} for i, (t, s) in enumerate(scores)]
    (folder / "accuracy_samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return StageData("02_offline_accuracy", folder, {"mode": "accuracy"})


def test_comparison_resamples_task_type_scores_in_pairs(tmp_path):
    a = _stage(tmp_path / "a", [("math", 0.0), ("math", 100.0), ("qa", 100.0)] * 10)
    b = _stage(tmp_path / "b", [("math", 100.0), ("math", 100.0), ("qa", 100.0)] * 10)
    diffs = {d["metric"]: d for d in stage_differences(a, b, resamples=200)}
    assert set(diffs) == {"task_type:math", "task_type:qa"}
    assert diffs["task_type:math"]["label"] == "score (math)"
    assert "paired" in diffs["task_type:math"]["method"] and diffs["task_type:math"]["verdict"] == "improvement"
