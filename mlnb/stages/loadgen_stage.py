"""Run one LoadGen stage: launch the harness subprocess, then parse, score and summarise.

This is the one call a stage notebook makes. The LoadGen test itself runs in a child process
(``python -m mlnb.harness``) because LoadGen allows one test per process; this side streams the
child's output, parses LoadGen's logs, computes ROUGE in accuracy mode and writes summary.json.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path

from mlnb.client_stats import client_side_stats
from mlnb.config import StageParams
from mlnb.errors import StageFailed
from mlnb.fileio import read_json, write_json_atomic, write_text_atomic
from mlnb.harness.faults import HARNESS_ERROR_FILE
from mlnb.logs.mlperf_log import parse_loadgen_dir
from mlnb.models.tokenizer_at_hand import required_tokenizer
from mlnb.query_table import load_query_table
from mlnb.results import StageSummary, describe, query_latencies, save_summary
from mlnb.stages.child_process import run_logged_child
from mlnb.stages.registry import STAGES
from mlnb.versions import environment

EXAMPLES_IN_SUMMARY = 12
PRINT_PROGRESS_EVERY_S = 15.0  # papermill turns a flood of small outputs into an IOPub error
HARNESS_STOP_GRACE_S = 5.0
RANDOM_WEIGHTS_NOTE = (
    "Random weights (load_format=dummy): the answers are noise, so these scores are meaningless; "
    "the stage only proves that the accuracy path runs."
)


def stage_dir_for(params: StageParams) -> Path:
    return Path(params.run_dir) / params.stage


def run_harness_subprocess(params: StageParams, stage_dir: Path) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stage_dir / "params.json", params.model_dump(mode="json"))
    (stage_dir / HARNESS_ERROR_FILE).unlink(missing_ok=True)
    last_print = [0.0]

    def show(line: str) -> None:  # progress lines at most every PRINT_PROGRESS_EVERY_S, the rest as they come
        now = time.monotonic()
        if not line.startswith("progress "):
            print(line, flush=True)
        elif now - last_print[0] >= PRINT_PROGRESS_EVERY_S:
            print(line, flush=True)
            last_print[0] = now

    outcome = run_logged_child("mlnb.harness", stage_dir, stage_dir / "harness.log", params.timeout_s,
                               params.api_key_env, show, "the harness", HARNESS_STOP_GRACE_S)
    if outcome.timed_out:
        raise StageFailed(f"harness exceeded timeout_s={params.timeout_s}")
    if outcome.code != 0:
        raise StageFailed(_harness_failure(stage_dir, outcome.code, outcome.tail))


def _harness_failure(stage_dir: Path, code: int, tail: deque[str]) -> str:
    """The harness's own account of its fault (harness_error.json) first, then the log's last lines."""
    how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    last = "\n".join(tail)
    cause = ""
    try:
        error = read_json(stage_dir / HARNESS_ERROR_FILE)
        cause = f"{error['ename']} in thread {error['thread']}: {error['evalue']}; "
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return f"harness failed ({how}): {cause}last lines of harness.log:\n{last}"


def score_accuracy(params: StageParams, stage_dir: Path) -> dict:
    from mlnb.accuracy.rouge import check_targets, evaluate_rouge, format_accuracy_txt
    from mlnb.data.cnndm import load_cnndm
    from mlnb.workloads import dataset_path

    records = load_cnndm(dataset_path(params))
    if params.samples is not None:
        records = records[: params.samples]
    references = [r["output"] for r in records]
    result = evaluate_rouge(stage_dir / "loadgen" / "mlperf_log_accuracy.json", references, required_tokenizer(params))
    benchmark = "llama3.1-8b-edge" if params.effective_model_key.endswith("edge") else "llama3.1-8b"
    checks = check_targets(result, benchmark, samples_run=len(records))
    write_text_atomic(stage_dir / "accuracy.txt", format_accuracy_txt(result) + "\n")
    # Every scored sample goes to a side file; summary.json keeps a few examples for the report.
    samples = [{**asdict(s), "reference": references[s.qsl_idx]} for s in result.samples]
    write_text_atomic(stage_dir / "accuracy_samples.jsonl", "".join(json.dumps(s) + "\n" for s in samples))
    data = {k: v for k, v in asdict(result).items() if k != "samples"}
    return {
        **data,
        "examples": samples[:EXAMPLES_IN_SUMMARY],
        "benchmark": benchmark,
        "targets": [asdict(c) for c in checks],
        "passed": all(c.passed for c in checks),
        "targets_note": RANDOM_WEIGHTS_NOTE if params.load_format == "dummy" else
        "MLPerf targets are defined for Llama-3.1-8B-Instruct on the full CNN/DailyMail set; "
        "on another model or dataset the comparison only shows the distance to the reference.",
    }


def _workload_scorer(params: StageParams):
    """The function that scores the workload's accuracy stage (imported on use)."""
    if params.workload == "cnndm":
        return score_accuracy
    if params.workload == "deepseek-r1":
        from mlnb.stages.dsr1_accuracy import score_dsr1_accuracy

        return score_dsr1_accuracy
    from mlnb.stages.custom_accuracy import score_custom_accuracy  # custom and synthetic

    return score_custom_accuracy


def run_test06_checks(params: StageParams, stage_dir: Path, engine: dict) -> dict:
    from mlnb.compliance.test06 import verify

    eos_ids = engine.get("eos_token_ids")
    if not eos_ids:  # the simulator has no model; take the EOS ids of the model's tokenizer
        tokenizer = required_tokenizer(params)
        eos_ids = [tokenizer.eos_token_id]
    entries = json.loads((stage_dir / "loadgen" / "mlperf_log_accuracy.json").read_text())
    result = verify(entries, eos_ids, offline=params.scenario == "Offline")
    write_text_atomic(stage_dir / "verify_accuracy.txt", result.verify_accuracy_txt())
    return {
        "test": "TEST06",
        "samples_checked": result.samples,
        "eos_token_ids": list(eos_ids),
        "first_token_check": result.first_token,
        "eos_check": result.eos,
        "sample_length_check": result.sample_length,
        "passed": result.passed,
        "problems": result.problems,
    }


def _verdict(
    params: StageParams, loadgen, sut_errors: int, accuracy: dict | None, compliance: dict | None = None
) -> tuple[str, list[str]]:
    reasons: list[str] = []
    if params.mode == "test06":
        assert compliance is not None
        reasons.extend(compliance["problems"])
        if loadgen.num_errors:
            reasons.append(f"LoadGen logged {loadgen.num_errors} errors")
        return ("PASS" if compliance["passed"] and not loadgen.num_errors else "FAIL"), reasons
    if params.mode == "accuracy":
        assert accuracy is not None
        for check in accuracy["targets"]:
            if not check["passed"]:
                scope = check.get("scope")
                scoped = f" ({scope})" if scope and scope != "full dataset" else ""
                reasons.append(f"{check['metric']} {check['value']:g} misses the target {_target_range(check)}{scoped}")
        if loadgen.num_errors:
            reasons.append(f"LoadGen logged {loadgen.num_errors} errors")
        if sut_errors:
            reasons.append(f"{sut_errors} {'query' if sut_errors == 1 else 'queries'} failed in the SUT")
        if not accuracy["targets"] and not reasons:  # custom/synthetic data: nothing to pass, only scores
            return "SCORED", reasons
        return ("PASS" if not reasons else "FAIL"), reasons
    reasons.extend(loadgen.invalid_reasons)
    for name, message in loadgen.early_stopping.items():
        if "unsuccessful" in message.lower():  # LoadGen says how many more queries it would need
            reasons.append(f"{name.upper()} early stopping: {message.replace('* ', '').strip()}")
    if loadgen.num_errors:
        reasons.append(f"LoadGen logged {loadgen.num_errors} errors: {'; '.join(loadgen.errors[:3])}")
    if sut_errors:
        reasons.append(f"{sut_errors} {'query' if sut_errors == 1 else 'queries'} failed in the SUT")
    valid = loadgen.validity == "VALID" and not loadgen.num_errors and not sut_errors
    return ("VALID" if valid else "INVALID"), reasons


def _target_range(check: dict) -> str:
    lower, upper = check["lower"], check["upper"]
    if upper is None:
        return f">= {lower:.4f}"
    if lower == upper:
        return f"= {lower:g}"
    return f"{lower:,.1f} .. {upper:,.1f}"


def run_stage(params: StageParams) -> StageSummary:
    """Run the stage described by ``params`` and write ``summary.json`` in its folder."""
    stage_dir = stage_dir_for(params)
    started = time.monotonic()
    run_harness_subprocess(params, stage_dir)
    harness = read_json(stage_dir / "harness.json")
    loadgen = parse_loadgen_dir(stage_dir / "loadgen")
    accuracy = _workload_scorer(params)(params, stage_dir) if params.mode == "accuracy" else None
    compliance = run_test06_checks(params, stage_dir, harness["engine"]) if params.mode == "test06" else None
    verdict, reasons = _verdict(params, loadgen, harness["sut_errors"], accuracy, compliance)
    if harness["sut_errors"] and harness["sut_error_examples"]:
        reasons.append(f"SUT error: {harness['sut_error_examples'][0]}")
    queries = load_query_table(stage_dir)
    lat = query_latencies(queries)
    spec_title = STAGES.get(params.stage).title if params.stage in STAGES else params.stage
    if params.workload in ("custom", "synthetic"):  # the CNN/DailyMail stages run them; ROUGE is not their metric
        spec_title = spec_title.replace("(ROUGE)", "(per task_type)") + f" \u2014 {params.workload} prompts"
    summary = StageSummary(
        stage=params.stage,
        title=spec_title,
        status="finished",
        scenario=params.scenario,
        mode=params.mode,
        model_key=params.effective_model_key,
        backend=params.backend,
        simulated=harness["simulated"],
        model=params.model,
        dataset=harness["dataset"],
        verdict=verdict,
        verdict_reasons=reasons,
        submittable=not harness["relaxed_rules"],
        relaxed_rules=harness["relaxed_rules"],
        metrics={
            "samples_per_second": loadgen.samples_per_second,
            "tokens_per_second": loadgen.tokens_per_second,
            "query_count": loadgen.query_count,
            "samples_per_query": loadgen.samples_per_query,
            "latency_ms": _stats(loadgen.latency),
            "ttft_ms": _stats(loadgen.ttft),
            "tpot_ms": _stats(loadgen.tpot),
        },
        loadgen=loadgen.model_dump(mode="json", exclude={"raw", "raw_repeated"}),
        accuracy=accuracy,
        compliance=compliance,
        sut={
            "source": "SUT timestamps from the moment each query reached the SUT",
            "errors": harness["sut_errors"],
            "error_examples": harness["sut_error_examples"],
            "output_tokens": describe(lat["output_tokens"]),
            "prompt_tokens": describe(lat["prompt_tokens"]),
            "ttft_ms": describe(lat["ttft_ms"]),
            "tpot_ms": describe(lat["tpot_ms"]),
            "e2e_ms": describe(lat["e2e_ms"]),
            "client": client_side_stats(queries),
        },
        engine=harness["engine"],
        telemetry=harness.get("telemetry"),
        timings_s={**harness["timings_s"], "stage": round(time.monotonic() - started, 3)},
        environment=environment(),
        params=params.model_dump(mode="json"),
    )
    save_summary(summary, stage_dir)
    return summary


def _stats(stats) -> dict | None:
    if stats is None:
        return None
    return stats.model_dump(mode="json") if hasattr(stats, "model_dump") else dict(stats)
