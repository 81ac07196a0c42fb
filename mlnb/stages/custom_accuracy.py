"""The accuracy step of a custom or synthetic stage: a score per task_type, where records have an output."""

from __future__ import annotations

import json
from pathlib import Path

from mlnb.accuracy.accuracy_log import dedupe_by_qsl_idx, read_accuracy_log
from mlnb.accuracy.task_scoring import sample_dict, score_samples, summarize
from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.fileio import write_text_atomic

EXAMPLES_IN_SUMMARY = 12
NO_TARGETS_NOTE = (
    "Your dataset has no MLPerf accuracy target: the verdict SCORED says only that every sample was answered "
    "without errors. Scores are per task_type and per scorer; scorers are never averaged together."
)


def score_custom_accuracy(params: StageParams, stage_dir: Path) -> dict:
    from mlnb.models.tokenizer_at_hand import required_tokenizer
    from mlnb.workloads import load_records

    records = load_records(params)  # the same records the harness ran (dropping is deterministic)
    if params.samples is not None:
        records = records[: params.samples]
    log_path = stage_dir / "loadgen" / "mlperf_log_accuracy.json"
    entries = dedupe_by_qsl_idx(read_accuracy_log(log_path))
    if not entries:
        raise InputError(str(log_path), "holds no samples; a performance-mode run logs none, run in accuracy mode")
    tokenizer = required_tokenizer(params)
    texts = tokenizer.batch_decode([e.token_ids for e in entries], skip_special_tokens=True)
    decoded = [(e.qsl_idx, text, int(e.token_ids.size)) for e, text in zip(entries, texts)]
    samples = score_samples(decoded, records, params.scoring)
    result = summarize(samples)
    lines = [f"{name}: {g['score']:.4f} ({g['scored']} scored of {g['num_samples']}, {g['scorer']})"
             if g["score"] is not None else f"{name}: not scored ({g['num_samples']} samples)"
             for name, g in result["per_task_type"].items()]
    write_text_atomic(stage_dir / "accuracy.txt", "\n".join(lines) + "\n")
    rows = [sample_dict(s) for s in samples]
    write_text_atomic(stage_dir / "accuracy_samples.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return {
        **result,
        "examples": rows[:EXAMPLES_IN_SUMMARY],
        "benchmark": "custom",
        "targets": [],
        "passed": True,
        "targets_note": NO_TARGETS_NOTE,
        "scoring": params.scoring,
    }
