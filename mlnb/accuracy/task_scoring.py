"""Scores for the user's own records: a scorer per ``task_type``, chosen by name or by ``scoring``.

- ``exact``: the output equals the reference after trimming, collapsing spaces and ignoring case;
- ``numeric``: the last number in the output equals the reference's number (``\\boxed{}`` first);
  DeepSeek-R1-guide task types (``aime``, ``math500``) use MLPerf's own rules (mlnb.accuracy.exact_match);
- ``choice``: the answer letter equals the reference letter (``gpqa``, ``mmlu_pro`` as MLPerf parses them);
- ``rouge``: ROUGE-L F-measure x 100 against the reference, as the CNN/DailyMail stages compute it;
- ``none``: not scored (also every record without a reference ``output``).

Each sample scores 0-100. Means are reported per task_type and per scorer, never mixed across scorers.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional, Sequence

from mlnb.accuracy.answer_parsing import last_boxed, parse_choice
from mlnb.accuracy.exact_match import score_text
from mlnb.data.dsr1 import kind_of

SCORERS = ("exact", "numeric", "choice", "rouge", "none")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
# task_type words -> scorer, first match wins (checked after MLPerf's DeepSeek-R1 kinds)
_BY_NAME = (
    (("summar", "rouge", "cnn"), "rouge"),
    (("choice", "mcq", "multiple", "mmlu", "gpqa"), "choice"),
    (("math", "numeric", "number", "gsm", "arith"), "numeric"),
    (("code", "none", "open", "chat", "creative"), "none"),
)


def scorer_for(task_type: Optional[str], forced: str = "auto") -> tuple[str, Optional[str]]:
    """(scorer, MLPerf DeepSeek-R1 kind or None) for a task_type."""
    if forced != "auto":
        return forced, None
    if not task_type:
        return "exact", None
    kind = kind_of(task_type)
    if kind in ("aime", "math500"):
        return "numeric", kind
    if kind in ("gpqa", "mmlu_pro"):
        return "choice", kind
    if kind == "livecodebench":
        return "none", None  # needs test cases, which a custom record does not carry
    name = task_type.lower()
    for words, scorer in _BY_NAME:
        if any(word in name for word in words):
            return scorer, None
    return "exact", None


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def _last_number(text: str) -> Optional[float]:
    boxed = last_boxed(text)
    for source in ((boxed,) if boxed else ()) + (text,):
        found = _NUMBER.findall(source)
        if found:
            try:
                return float(found[-1].replace(",", ""))
            except ValueError:
                continue
    return None


def score_one(scorer: str, kind: Optional[str], prediction: str, reference: str) -> tuple[float, Optional[str], str]:
    """(score 0-100, extracted answer, reason)."""
    if kind is not None:
        return score_text(kind, prediction, {"ground_truth": reference})
    if scorer == "exact":
        ok = _normal(prediction) == _normal(reference)
        return (100.0 if ok else 0.0), None, "equal" if ok else "differs"
    if scorer == "numeric":
        want, got = _last_number(reference), _last_number(prediction)
        if want is None:
            return 0.0, None, f"reference {reference[:40]!r} holds no number"
        if got is None:
            return 0.0, None, "no number in the output"
        ok = math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
        return (100.0 if ok else 0.0), f"{got:g}", "equal" if ok else f"answered {got:g}"
    if scorer == "choice":
        letter = parse_choice(prediction, "J")
        if letter is None:
            return 0.0, None, "no answer letter found"
        ok = letter == reference.strip().upper()[:1]
        return (100.0 if ok else 0.0), letter, "correct" if ok else f"answered {letter}"
    if scorer == "rouge":
        from mlnb.accuracy.rouge import postprocess_text, rouge_per_sample

        pred, ref = postprocess_text([prediction]), postprocess_text([reference])
        value = rouge_per_sample(pred, ref)["rougeL"][0] * 100
        return value, None, f"ROUGE-L {value:.1f}"
    raise ValueError(f"unknown scorer {scorer!r}")


@dataclass
class TaskSample:
    qsl_idx: int
    task_type: str
    scorer: str
    score: Optional[float]  # None: not scored
    extracted: Optional[str]
    reason: str
    n_tokens: int
    prediction: str
    reference: Optional[str]


def score_samples(
    decoded: Sequence[tuple[int, str, int]], records: Sequence[Mapping[str, Any]], forced: str = "auto"
) -> list[TaskSample]:
    """``decoded``: (qsl_idx, text, tokens generated) per logged sample."""
    samples = []
    for qsl_idx, text, n_tokens in decoded:
        record = records[qsl_idx]
        task_type = str(record.get("task_type") or "(none)")
        reference = record.get("output")
        scorer, kind = scorer_for(record.get("task_type"), forced)
        if reference is None or scorer == "none":
            why = "no reference output" if reference is None else "not scored (scorer none)"
            samples.append(TaskSample(qsl_idx, task_type, "none", None, None, why, n_tokens, text, reference))
            continue
        score, extracted, reason = score_one(scorer, kind, text, str(reference))
        label = f"{scorer} ({kind})" if kind else scorer
        samples.append(TaskSample(qsl_idx, task_type, label, score, extracted, reason, n_tokens, text, str(reference)))
    return samples


def _mean(values: Sequence[float]) -> Optional[float]:
    return float(sum(values) / len(values)) if values else None


def summarize(samples: Sequence[TaskSample]) -> dict[str, Any]:
    groups: dict[str, list[TaskSample]] = defaultdict(list)
    by_scorer: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        groups[sample.task_type].append(sample)
        if sample.score is not None:
            by_scorer[sample.scorer.split(" ")[0]].append(sample.score)
    per_task = {}
    for task_type, group in sorted(groups.items()):
        scored = [s.score for s in group if s.score is not None]
        per_task[task_type] = {
            "scorer": ", ".join(sorted({s.scorer for s in group})),
            "num_samples": len(group),
            "scored": len(scored),
            "score": _mean(scored),
            "tokens_per_sample": _mean([s.n_tokens for s in group]),
        }
    return {
        "metric_family": "task_type",
        "num_samples": len(samples),
        "scored": sum(1 for s in samples if s.score is not None),
        "per_task_type": per_task,
        "per_scorer": {name: {"num_samples": len(v), "score": _mean(v)} for name, v in sorted(by_scorer.items())},
        "tokens_per_sample": _mean([s.n_tokens for s in samples]),
    }


def sample_dict(sample: TaskSample) -> dict[str, Any]:
    return asdict(sample)
