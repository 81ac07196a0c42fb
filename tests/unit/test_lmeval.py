"""The lm-eval stage's pieces without running a model: embedded MMLU-format files, task lookup, settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.lmeval.results import summarize
from mlnb.lmeval.settings import build_settings, cli_command, completions_url
from mlnb.lmeval.tasks import EMBEDDED_TASK, embedded_tasks_dir, resolve_tasks_dir

TASKS = embedded_tasks_dir()


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_embedded_files_are_mmlu_format():
    subjects = sorted(p.stem for p in (TASKS / "test").glob("*.jsonl"))
    assert len(subjects) >= 4
    assert subjects == sorted(p.stem for p in (TASKS / "dev").glob("*.jsonl"))
    questions = set()
    for subject in subjects:
        assert len(_rows(TASKS / "dev" / f"{subject}.jsonl")) >= 5  # enough for 5-shot
        for split in ("dev", "test"):
            for row in _rows(TASKS / split / f"{subject}.jsonl"):
                assert set(row) == {"question", "choices", "answer"}
                assert len(row["choices"]) == 4 and len(set(row["choices"])) == 4
                assert row["answer"] in ("A", "B", "C", "D")
                assert row["question"] not in questions, row["question"]
                questions.add(row["question"])
    group = (TASKS / "mmlu_mlnb.yaml").read_text()
    for subject in subjects:  # every subject is a task of the group, with its own YAML
        assert f"mmlu_mlnb_{subject}" in group
        assert (TASKS / f"mmlu_mlnb_{subject}.yaml").is_file()


def test_lm_eval_loads_the_local_task_without_the_hub():
    # A child process with the Hugging Face libraries offline: a download attempt would raise.
    code = (
        "from mlnb.lmeval.tasks import embedded_tasks_dir, locate_task\n"
        "m, builtin = locate_task('mmlu_mlnb', embedded_tasks_dir())\n"
        "assert not builtin\n"
        "tasks = m.load(['mmlu_mlnb'])['tasks']\n"
        "for name, task in sorted(tasks.items()):\n"
        "    docs = list(task.test_docs()); shots = list(task.fewshot_docs())\n"
        "    print(name, len(docs), len(shots), task.doc_to_target(docs[0]), repr(task.doc_to_text(docs[0])[-7:]))\n"
    )
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line.split() for line in out.stdout.splitlines()]
    by_task = {parts[0]: parts for parts in lines}
    for subject_file in (TASKS / "test").glob("*.jsonl"):
        parts = by_task[f"mmlu_mlnb_{subject_file.stem}"]
        rows = _rows(subject_file)
        assert int(parts[1]) == len(rows) and int(parts[2]) == len(_rows(TASKS / "dev" / subject_file.name))
        assert int(parts[3]) == "ABCD".index(rows[0]["answer"])  # the letter became lm-eval's target index
        assert parts[4] == "'Answer:'"


def test_tasks_dir_checks(tmp_path):
    assert resolve_tasks_dir(None) is None
    assert resolve_tasks_dir("embedded") == TASKS
    with pytest.raises(InputError, match="folder not found"):
        resolve_tasks_dir(str(tmp_path / "nope"))
    with pytest.raises(InputError, match="no lm-eval task file"):
        resolve_tasks_dir(str(tmp_path))


def test_settings_hf_in_process(embedded_model_dir):
    p = StageParams(stage="08_mmlu", mmlu_task=EMBEDDED_TASK, mmlu_tasks_dir="embedded", mmlu_limit=3, mmlu_num_fewshot=5)
    s = build_settings(p, cuda_available=False)
    assert s.model == "hf" and s.model_args == {"pretrained": embedded_model_dir, "dtype": "float32"}
    assert s.device == "cpu" and s.limit == 3 and s.num_fewshot == 5 and s.include_path == str(TASKS)
    assert s.env == {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}  # local task and local model
    command = cli_command(s, "out")
    assert command.startswith("HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 lm_eval --model hf --model_args pretrained=")
    assert "--tasks mmlu_mlnb" in command and "--limit 3" in command and "--num_fewshot 5" in command
    cuda = build_settings(p, cuda_available=True)
    assert cuda.device == "cuda" and cuda.model_args["dtype"] == "bfloat16"


def test_settings_standard_mmlu_stays_online():
    s = build_settings(StageParams(stage="08_mmlu", model="org/name", mmlu_num_fewshot=5))
    assert s.model_args["pretrained"] == "org/name" and s.include_path is None and s.env == {}


def test_settings_against_the_runs_server(embedded_model_dir):
    p = StageParams(stage="08_mmlu", base_url="http://127.0.0.1:8000/v1,http://127.0.0.1:8001/v1",
                    served_model_name="smol", batch_size=4, mmlu_tasks_dir="embedded", mmlu_task=EMBEDDED_TASK)
    s = build_settings(p)
    assert s.model == "local-completions"
    assert s.model_args["base_url"] == "http://127.0.0.1:8000/v1/completions"
    assert s.model_args["model"] == "smol" and s.model_args["tokenizer"] == embedded_model_dir
    assert s.model_args["num_concurrent"] == 4 and any("first server" in n for n in s.notes)
    assert completions_url("http://h:1") == "http://h:1/v1/completions"
    with pytest.raises(InputError, match="base_url"):
        completions_url("h:1")


def test_sim_backend_uses_lm_evals_dummy_model():
    s = build_settings(StageParams(stage="08_mmlu", backend="sim", mmlu_tasks_dir="embedded", mmlu_task=EMBEDDED_TASK))
    assert s.model == "dummy" and s.simulated and s.model_args == {}


def test_limit_must_be_positive():
    with pytest.raises(Exception, match="greater than or equal to 1"):
        StageParams(mmlu_limit=0)


def test_summarize_nested_groups():
    raw = {
        "results": {
            "g": {"alias": "g", "acc,none": 0.5, "acc_stderr,none": 0.1},
            "g_a": {"alias": " - a", "acc,none": 0.6, "acc_stderr,none": 0.2},
            "x": {"alias": "  - x", "acc,none": 1.0, "acc_stderr,none": 0.0},
            "y": {"alias": "  - y", "acc,none": 0.0, "acc_stderr,none": "N/A"},
            "z": {"alias": " - z", "acc,none": 0.25, "acc_stderr,none": 0.25},
        },
        "group_subtasks": {"g": ["g_a", "z"], "g_a": ["x", "y"]},
        "n-samples": {"x": {"original": 9, "effective": 3}, "y": {"original": 9, "effective": 2}, "z": {"original": 4, "effective": 4}},
        "n-shot": {"g": 5},
    }
    out = summarize(raw, "g")
    assert (out["acc"], out["acc_stderr"], out["n"], out["num_fewshot"]) == (0.5, 0.1, 9, 5)
    assert [(s["name"], s["acc"], s["acc_stderr"], s["n"]) for s in out["subjects"]] == [
        ("x", 1.0, 0.0, 3), ("y", 0.0, None, 2), ("z", 0.25, 0.25, 4)]
    assert [(g["name"], g["acc"], g["n"]) for g in out["groups"]] == [("a", 0.6, 5)]
    with pytest.raises(ValueError, match="no entry for 'h'"):
        summarize(raw, "h")


def test_local_completions_model_takes_the_settings(embedded_model_dir):
    # lm-eval builds its server client from exactly these arguments (no request is sent here).
    from lm_eval.api.registry import get_model

    from mlnb.lmeval.settings import model_args_string

    s = build_settings(StageParams(stage="08_mmlu", base_url="http://127.0.0.1:9/v1", served_model_name="smol",
                                   batch_size=3, mmlu_tasks_dir="embedded", mmlu_task=EMBEDDED_TASK))
    lm = get_model(s.model).create_from_arg_string(model_args_string(s.model_args), {"batch_size": s.batch_size})
    assert (lm.model, lm.base_url, lm._concurrent, lm.max_retries) == ("smol", "http://127.0.0.1:9/v1/completions", 3, 3)
    assert lm.tokenizer_backend == "huggingface" and lm.tokenizer.encode("Answer: B")
