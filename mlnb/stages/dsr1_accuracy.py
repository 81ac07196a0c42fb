"""The accuracy step of a DeepSeek-R1 stage: exact match per dataset kind, targets, accuracy.txt."""

from __future__ import annotations

from pathlib import Path

from mlnb.accuracy.code_sandbox import describe_sandbox
from mlnb.accuracy.exact_match import (
    TARGETS_NOTE,
    check_targets,
    evaluate_exact_match,
    format_accuracy_txt,
    result_dict,
    samples_jsonl,
)
from mlnb.config import StageParams
from mlnb.fileio import write_text_atomic

EXAMPLES_IN_SUMMARY = 12


def scale_sample_count(checks: list[dict], samples_run: int) -> list[dict]:
    """A subset is checked for every sample run being scored, not for the full dataset's count.

    exact_match and tokens_per_sample are averages and keep their targets; num-samples is a count
    over the full set, a guaranteed FAIL on a subset that would say nothing.
    """
    out = []
    for check in checks:
        full = int(check["reference"]) if check["metric"] == "num-samples" else 0
        if check["metric"] == "num-samples" and samples_run < full:
            check = {**check, "reference": samples_run, "lower": samples_run, "upper": samples_run,
                     "passed": check["value"] == samples_run, "scope": f"scaled to {samples_run:,} of {full:,} samples",
                     "note": f"every sample run is scored; a submission scores all {full:,}"}
        out.append(check)
    return out


def score_dsr1_accuracy(params: StageParams, stage_dir: Path) -> dict:
    from mlnb.models.tokenizer_at_hand import required_tokenizer
    from mlnb.workloads import dataset_path, workload_for

    records = workload_for(params).load(dataset_path(params))
    if params.samples is not None:
        records = records[: params.samples]
    result = evaluate_exact_match(stage_dir / "loadgen" / "mlperf_log_accuracy.json", records, required_tokenizer(params))
    checks = scale_sample_count(check_targets(result), len(records))
    write_text_atomic(stage_dir / "accuracy.txt", format_accuracy_txt(result) + "\n")
    write_text_atomic(stage_dir / "accuracy_samples.jsonl", samples_jsonl(result))
    return {
        **result_dict(result, EXAMPLES_IN_SUMMARY),
        "benchmark": "deepseek-r1",
        "targets": checks,
        "passed": all(c["passed"] for c in checks),
        "targets_note": TARGETS_NOTE,
        "scored_text": "the whole decoded output, reasoning (<think> ... </think>) included, as MLPerf scores it",
        "code_sandbox": describe_sandbox(),
    }
