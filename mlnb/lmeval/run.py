"""The lm-eval child process: ``python -m mlnb.lmeval STAGE_DIR``.

It reads ``lm_eval_settings.json`` (written by the stage), switches the Hugging Face libraries offline
where the settings say so (before they are imported), runs ``lm_eval.simple_evaluate`` and writes what
lm-eval's own command line would write: the results JSON (``lm_eval_results.json``) and the per-question
samples (``lm_eval_samples.jsonl``). A separate process keeps the offline switches, the model's memory
and lm-eval's logging out of the notebook's kernel, and lets the stage enforce ``timeout_s``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mlnb.fileio import read_json, write_text_atomic
from mlnb.lmeval.settings import LmEvalSettings, model_args_string

SETTINGS_FILE = "lm_eval_settings.json"
RESULTS_FILE = "lm_eval_results.json"
SAMPLES_FILE = "lm_eval_samples.jsonl"


def evaluate(settings: LmEvalSettings) -> dict:
    """Run lm-eval as its command line does with the same arguments; returns its results dict."""
    from lm_eval import evaluator
    from lm_eval.utils import simple_parse_args_string

    from mlnb.lmeval.tasks import locate_task

    args_string = model_args_string(settings.model_args)
    include = Path(settings.include_path) if settings.include_path else None
    manager, _ = locate_task(settings.tasks[0], include, metadata=simple_parse_args_string(args_string))
    python_seed, numpy_seed, torch_seed, fewshot_seed = settings.seeds
    return evaluator.simple_evaluate(
        model=settings.model,
        model_args=args_string,
        tasks=list(settings.tasks),
        num_fewshot=settings.num_fewshot,
        batch_size=settings.batch_size,
        device=settings.device,
        limit=settings.limit,
        task_manager=manager,
        log_samples=True,
        random_seed=python_seed,
        numpy_random_seed=numpy_seed,
        torch_random_seed=torch_seed,
        fewshot_random_seed=fewshot_seed,
    )


def main(stage_dir: Path) -> int:
    settings = LmEvalSettings.from_json(read_json(stage_dir / SETTINGS_FILE))
    os.environ.update(settings.env)  # read by datasets / huggingface_hub when they are imported
    from lm_eval.utils import handle_non_serializable

    results = evaluate(settings)
    samples = results.pop("samples", {}) or {}
    lines = [
        json.dumps({"task": task, **sample}, default=handle_non_serializable, ensure_ascii=False) + "\n"
        for task, rows in samples.items()
        for sample in rows
    ]
    write_text_atomic(stage_dir / SAMPLES_FILE, "".join(lines))
    write_text_atomic(
        stage_dir / RESULTS_FILE,
        json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False) + "\n",
    )
    print(f"lm-eval finished: {stage_dir / RESULTS_FILE}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
