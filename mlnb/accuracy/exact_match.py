"""DeepSeek-R1 accuracy: MLPerf's ``exact_match`` and ``tokens_per_sample``, overall and per dataset.

Each sample scores 100 or 0 with the scorer of its dataset kind (``mlnb.data.dsr1.kind_of``):

- ``gpqa``, ``mmlu_pro``: the answer letter (``answer_parsing.parse_choice``) equals the reference;
- ``math500``: the last ``\\boxed{}`` equals the reference (``math_equiv.answers_equal``);
- ``aime``: the integer from ``\\boxed{}`` or ``Answer:`` equals ``int(reference)``;
- ``livecodebench``: the first ```` ```python ```` block passes every test in the sandbox.

``exact_match`` is the mean score; ``tokens_per_sample`` the mean number of generated tokens in
the accuracy log; both at full precision, unrounded, as MLPerf's evaluation prints them. The decoded
text keeps the reasoning (``<think> ... </think>``), as MLPerf does.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from mlnb.accuracy.accuracy_log import dedupe_by_qsl_idx, read_accuracy_log
from mlnb.accuracy.answer_parsing import last_boxed, parse_aime, parse_choice, parse_code
from mlnb.accuracy.code_sandbox import SandboxLimits, parse_tests, run_tests
from mlnb.accuracy.math_equiv import answers_equal
from mlnb.errors import InputError

# MLPerf v6.1 reference (README) and submission-checker thresholds for deepseek-r1.
REFERENCE = {"exact_match": 81.3582, "tokens_per_sample": 3886.2274, "num-samples": 4388}
EXACT_MATCH_FRACTION = 0.99
TOKENS_BAND = (0.9, 1.1)
TARGETS_NOTE = (
    "MLPerf targets are defined for DeepSeek-R1 on the full 4388-sample dataset; on another model "
    "or dataset the comparison only shows the distance to the reference."
)


@dataclass
class SampleScore:
    qsl_idx: int
    dataset: str
    kind: str
    score: float  # 100.0 or 0.0
    extracted: Optional[str]
    reference: str
    reason: str
    n_tokens: int
    prediction: str = ""


def _choice(text: str, truth: object, last: str, valid: str) -> tuple[float, Optional[str], str]:
    letter = parse_choice(text, last)
    if letter is None:
        return 0.0, None, f"no answer letter A-{last} found"
    ok = letter in valid and letter == str(truth).strip().upper()
    return (100.0 if ok else 0.0), letter, "correct" if ok else f"answered {letter}"


def score_text(kind: str, text: str, record: Mapping[str, Any], limits: SandboxLimits = SandboxLimits()) -> tuple[float, Optional[str], str]:
    """(score, extracted answer, reason) for one decoded output."""
    truth = record.get("ground_truth")
    if kind == "gpqa":
        return _choice(text, truth, "D", "ABCD")
    if kind == "mmlu_pro":
        return _choice(text, truth, "J", "ABCDEFGHIJ")
    if kind == "math500":
        boxed = last_boxed(text)
        if boxed is None:
            return 0.0, None, "no closed \\boxed{} found"
        ok = bool(boxed) and bool(truth) and answers_equal(boxed, truth)  # MLPerf: an empty box or reference is wrong
        return (100.0 if ok else 0.0), boxed, "equivalent" if ok else "not equivalent"
    if kind == "aime":
        value = parse_aime(text)
        if value is None:
            return 0.0, None, "no integer answer 0-999 in \\boxed{} or 'Answer:'"
        try:  # int() of the value as stored, as MLPerf does: 42, 42.0 and " 42" are 42; "42.0" is not
            ok = value == int(truth)
        except (TypeError, ValueError):
            return 0.0, str(value), f"reference {truth!r} is not an integer"
        return (100.0 if ok else 0.0), str(value), "correct" if ok else f"answered {value}"
    if kind == "livecodebench":
        code = parse_code(text)
        if code is None:
            return 0.0, None, "no ```python code block found"
        tests = parse_tests(record.get("tests"))
        if not tests:
            return 0.0, code, "no test cases in the dataset for this problem (MLPerf looks them up in LiveCodeBench by question id)"
        result = run_tests(code, tests, limits)
        return (100.0 if result.passed else 0.0), code, result.reason
    raise ValueError(f"unknown dataset kind {kind!r}")


@dataclass
class ExactMatchResult:
    exact_match: float
    tokens_per_sample: float
    num_samples: int
    per_dataset: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: list[SampleScore] = field(default_factory=list)


def _mean(values: Sequence[float]) -> float:
    """The mean as pandas computes it in MLPerf's evaluation (sum over count), not rounded."""
    return float(np.sum(np.asarray(values, dtype=np.float64)) / len(values))


def summarize(samples: Sequence[SampleScore]) -> ExactMatchResult:
    if not samples:
        raise ValueError("no samples to summarize")
    groups: dict[str, list[SampleScore]] = defaultdict(list)
    for sample in samples:
        groups[sample.kind].append(sample)
    per_dataset = {
        kind: {
            "exact_match": _mean([s.score for s in group]),
            "tokens_per_sample": _mean([s.n_tokens for s in group]),
            "num_samples": len(group),
            "correct": sum(1 for s in group if s.score > 0),
        }
        for kind, group in sorted(groups.items())
    }
    return ExactMatchResult(
        exact_match=_mean([s.score for s in samples]),
        tokens_per_sample=_mean([s.n_tokens for s in samples]),
        num_samples=len(samples),
        per_dataset=per_dataset,
        samples=list(samples),
    )


def evaluate_exact_match(
    accuracy_log_path: str | os.PathLike,
    records: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    limits: SandboxLimits = SandboxLimits(),
) -> ExactMatchResult:
    """Score an accuracy log against DeepSeek-R1 records (``records[i]`` is ``qsl_idx == i``)."""
    where = os.fspath(accuracy_log_path)
    entries = dedupe_by_qsl_idx(read_accuracy_log(accuracy_log_path))
    if not entries:
        raise InputError(where, "holds no samples; a performance-mode run logs none, run in accuracy mode")
    for entry in entries:
        if not 0 <= entry.qsl_idx < len(records):
            raise InputError(where, f"qsl_idx {entry.qsl_idx} has no record: the dataset has {len(records)} samples")
    decoded = tokenizer.batch_decode([entry.token_ids for entry in entries], skip_special_tokens=True)
    samples = []
    for entry, text in zip(entries, decoded):
        record = records[entry.qsl_idx]
        score, extracted, reason = score_text(record["kind"], text, record, limits)
        samples.append(
            SampleScore(entry.qsl_idx, str(record["dataset"]), record["kind"], score, extracted,
                        str(record["ground_truth"]), reason, int(entry.token_ids.size), text)
        )
    return summarize(samples)


def format_accuracy_txt(result: ExactMatchResult) -> str:
    """The dict line MLPerf's evaluation prints; the checker reads exact_match and tokens_per_sample."""
    return (
        f"{{'exact_match': {float(result.exact_match)}, 'tokens_per_sample': {float(result.tokens_per_sample)}, "
        f"'num-samples': {int(result.num_samples)}}}"
    )


def check_targets(result: ExactMatchResult) -> list[dict]:
    checks = []
    ref = REFERENCE["exact_match"]
    lower = ref * EXACT_MATCH_FRACTION
    checks.append({"metric": "exact_match", "value": result.exact_match, "reference": ref, "lower": lower, "upper": None, "passed": result.exact_match >= lower})
    ref = REFERENCE["tokens_per_sample"]
    lower, upper = ref * TOKENS_BAND[0], ref * TOKENS_BAND[1]
    checks.append({"metric": "tokens_per_sample", "value": result.tokens_per_sample, "reference": ref, "lower": lower, "upper": upper, "passed": lower <= result.tokens_per_sample <= upper})
    # Not a checker threshold: the targets only mean something on the full dataset.
    ref = REFERENCE["num-samples"]
    checks.append({"metric": "num-samples", "value": result.num_samples, "reference": ref, "lower": ref, "upper": ref, "passed": result.num_samples == ref})
    return checks


def result_dict(result: ExactMatchResult, examples: int) -> dict:
    """summary.json's ``accuracy`` block (without the targets)."""
    return {
        "metric_family": "exact_match",
        "exact_match": result.exact_match,
        "tokens_per_sample": result.tokens_per_sample,
        "num_samples": result.num_samples,
        "per_dataset": result.per_dataset,
        "examples": [_example(s) for s in result.samples[:examples]],
    }


def _example(sample: SampleScore) -> dict:
    data = asdict(sample)
    data["prediction"] = sample.prediction if len(sample.prediction) <= 4000 else sample.prediction[:4000] + " ... (truncated)"
    return data


def samples_jsonl(result: ExactMatchResult) -> str:
    return "".join(json.dumps(asdict(s), ensure_ascii=False) + "\n" for s in result.samples)
