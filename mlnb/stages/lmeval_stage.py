"""Run one lm-eval stage (08_mmlu): check the inputs, run lm-eval in a child process, write summary.json.

The evaluation itself runs in ``python -m mlnb.lmeval STAGE_DIR`` (see :mod:`mlnb.lmeval.run`); this side
streams its output into ``lmeval.log``, enforces ``timeout_s``, and turns lm-eval's results JSON into the
stage's ``summary.json``: overall, per-group and per-subject accuracy with standard errors, the lm-eval
version and the task configuration. MMLU has no MLPerf target, so the verdict is ``ACCURACY ONLY``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mlnb.config import StageParams
from mlnb.errors import InputError, StageFailed
from mlnb.fileio import read_json, write_json_atomic
from mlnb.lmeval.run import RESULTS_FILE, SAMPLES_FILE, SETTINGS_FILE
from mlnb.lmeval.settings import LmEvalSettings, build_settings, cli_command
from mlnb.results import StageSummary, save_summary
from mlnb.stages.child_process import run_logged_child
from mlnb.stages.registry import STAGES
from mlnb.versions import environment

VERDICT = "ACCURACY ONLY"
LOG_FILE = "lmeval.log"
# Only these lines reach the notebook; everything (progress bars included) is in lmeval.log.
SHOWN_LINE_MARKS = ("WARNING", "ERROR", "Error", "lm-eval finished")


def check_lmeval_inputs(params: StageParams) -> None:
    """Everything that can be checked before a run folder exists: tasks dir, task name, model, limit."""
    from mlnb.lmeval.tasks import locate_task, resolve_tasks_dir
    from mlnb.models.embedded import resolve_model

    # lm-eval's warnings while indexing tasks must not add lines to the CLI's one-line error.
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    where = f"stage {params.stage}"
    tasks_dir = resolve_tasks_dir(params.mmlu_tasks_dir, f"{where} mmlu_tasks_dir")
    if params.model != "embedded" and params.backend != "sim":
        resolve_model(params.model, prepare=False)
    if params.load_format == "dummy" and params.backend != "sim" and not params.base_url:
        raise InputError(f"{where} load_format='dummy'", "lm-eval needs the model's real weights")
    if params.base_url:
        from mlnb.lmeval.settings import completions_url

        completions_url(params.base_url)
    locate_task(params.mmlu_task, tasks_dir, f"{where} mmlu_task")


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def run_lmeval_subprocess(params: StageParams, stage_dir: Path, settings: LmEvalSettings) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stage_dir / "params.json", params.model_dump(mode="json"))
    write_json_atomic(stage_dir / SETTINGS_FILE, settings.to_json())
    def show(line: str) -> None:  # lm-eval is chatty: its warnings, errors and last line only
        if any(mark in line for mark in SHOWN_LINE_MARKS):
            print(line[:300], flush=True)

    outcome = run_logged_child("mlnb.lmeval", stage_dir, stage_dir / LOG_FILE, params.timeout_s,
                               params.api_key_env, show, "lm-eval")
    if outcome.timed_out:
        raise StageFailed(f"lm-eval exceeded timeout_s={params.timeout_s}")
    if outcome.code != 0:
        last = "\n".join(outcome.tail)
        raise StageFailed(f"lm-eval exited with code {outcome.code}; last lines of {LOG_FILE}:\n{last}")


def _relaxed_rules(params: StageParams, settings: LmEvalSettings) -> list[str]:
    rules = ["MMLU is not an MLPerf Inference benchmark: this stage is never part of a submission"]
    if settings.simulated:
        rules.append("simulated backend: no model ran")
    if params.mmlu_limit is not None:
        rules.append(f"--limit {params.mmlu_limit}: only the first {params.mmlu_limit} questions of each subject")
    if params.mmlu_tasks_dir == "embedded":
        rules.append("mlnb's embedded MMLU-format questions, not the MMLU test set")
    return rules


def _dataset(params: StageParams, settings: LmEvalSettings, accuracy: dict) -> dict:
    return {
        "path": settings.include_path or f"lm-eval task {params.mmlu_task} (its own dataset)",
        "task": params.mmlu_task,
        "subjects": len(accuracy["subjects"]),
        "samples_used": accuracy["n"],
        "limit_per_subject": params.mmlu_limit,
    }


def run_stage(params: StageParams) -> StageSummary:
    """Run the lm-eval stage described by ``params`` and write ``summary.json`` in its folder."""
    from mlnb.lmeval.results import summarize, task_configuration

    stage_dir = Path(params.run_dir) / params.stage
    started = time.monotonic()
    settings = build_settings(params, cuda_available=_cuda_available())
    run_lmeval_subprocess(params, stage_dir, settings)
    evaluated = time.monotonic()
    raw = read_json(stage_dir / RESULTS_FILE)
    accuracy = summarize(raw, params.mmlu_task)
    config = raw.get("config") or {}
    acc, stderr = accuracy["acc"], accuracy["acc_stderr"]
    headline = f"{params.mmlu_task}: acc {acc:.4f}" + (f" \u00b1 {stderr:.4f}" if stderr is not None else "")
    reasons = [
        headline + f" over {accuracy['n']} questions, {accuracy['num_fewshot']}-shot",
        "MMLU has no MLPerf accuracy target: the number is reported, not judged",
    ]
    if settings.simulated:
        reasons.insert(0, "SIMULATED: lm-eval's dummy model answered at random")
    summary = StageSummary(
        stage=params.stage,
        title=STAGES.get(params.stage).title if params.stage in STAGES else params.stage,
        status="finished",
        scenario="lm-eval",
        mode="lmeval",
        model_key=params.mmlu_task,
        backend=params.backend,
        simulated=settings.simulated,
        model=params.model,
        dataset=_dataset(params, settings, accuracy),
        verdict=VERDICT,
        verdict_reasons=reasons,
        submittable=False,
        relaxed_rules=_relaxed_rules(params, settings),
        metrics={"accuracy": acc, "accuracy_stderr": stderr, "questions": accuracy["n"]},
        loadgen={},
        accuracy=accuracy,
        sut={},
        engine={
            "name": f"lm-eval {settings.model}",
            "lm_eval_model": settings.model,
            "model_args": settings.model_args,
            "batch_size": settings.batch_size,
            "device": settings.device or config.get("device"),
            "model_dtype": config.get("model_dtype"),
            "model_num_parameters": config.get("model_num_parameters"),
            "simulated": settings.simulated,
        },
        timings_s={
            "lm_eval_process": round(evaluated - started, 3),
            "stage": round(time.monotonic() - started, 3),
        },
        environment=environment(),
        params=params.model_dump(mode="json"),
        lmeval={
            "lm_eval_version": raw.get("lm_eval_version"),
            "transformers_version": raw.get("transformers_version"),
            "model": settings.model,
            "model_args": settings.model_args,
            "tasks": settings.tasks,
            "include_path": settings.include_path,
            "num_fewshot": settings.num_fewshot,
            "n_shot": raw.get("n-shot") or {},
            "limit": settings.limit,
            "batch_size": settings.batch_size,
            "seeds": list(settings.seeds),
            "offline_env": settings.env,
            "notes": settings.notes,
            "task_configuration": task_configuration(raw, params.mmlu_task),
            "command": cli_command(settings),
            "results_file": RESULTS_FILE,
            "samples_file": SAMPLES_FILE,
        },
    )
    save_summary(summary, stage_dir)
    return summary
