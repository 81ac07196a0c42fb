"""The 08_mmlu stage: exact agreement with lm-eval's own command line, and its bad input."""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlnb.lmeval.tasks import embedded_tasks_dir
from mlnb.paths import preset_path

pytestmark = pytest.mark.slow

LM_EVAL_CLI = Path(sys.executable).parent / "lm_eval"
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}  # a download attempt fails loudly


def mlnb(*args, cwd, extra_env=None, timeout=900):
    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def _smoke_settings() -> dict:
    preset = yaml.safe_load(preset_path("smoke").read_text())
    stage = preset["per_stage"]["08_mmlu"]
    return {**stage, "batch_size": stage.get("batch_size", preset["common"]["batch_size"])}


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory, embedded_model_dir):
    """The smoke pipeline's 08_mmlu stage, and lm_eval's command line on the same model, data and settings."""
    work = tmp_path_factory.mktemp("mmlu")
    stage = mlnb("run", "--preset", "smoke", "--stages", "08_mmlu", "--outputs", str(work / "out"), cwd=work,
                 extra_env=OFFLINE)
    s = _smoke_settings()
    cli_args = [
        "--model", "hf", "--model_args", f"pretrained={embedded_model_dir},dtype=float32", "--device", "cpu",
        "--batch_size", str(s["batch_size"]), "--tasks", s["mmlu_task"], "--include_path", str(embedded_tasks_dir()),
        "--limit", str(s["mmlu_limit"]), "--num_fewshot", str(s["mmlu_num_fewshot"]),
    ]
    cli = subprocess.run([str(LM_EVAL_CLI), *cli_args, "--output_path", str(work / "cli")], capture_output=True,
                         text=True, cwd=work, env=dict(os.environ, **OFFLINE), timeout=900)
    return work, stage, cli, cli_args


def test_stage_agrees_exactly_with_the_lm_eval_command_line(both_runs):
    work, stage, cli, cli_args = both_runs
    assert stage.returncode == 0, stage.stdout[-3000:] + stage.stderr[-3000:]
    assert cli.returncode == 0, cli.stderr[-3000:]
    stage_dir = (work / "out" / "latest" / "08_mmlu").resolve()
    ours = json.loads((stage_dir / "lm_eval_results.json").read_text())
    theirs = json.loads(next((work / "cli").rglob("results_*.json")).read_text())
    assert set(ours["results"]) == set(theirs["results"]) and len(theirs["results"]) >= 5
    for task, row in theirs["results"].items():
        for key in ("acc,none", "acc_stderr,none"):
            assert ours["results"][task][key] == row[key], (task, key)  # exactly, not approximately
    assert ours["n-samples"] == theirs["n-samples"] and ours["n-shot"] == theirs["n-shot"]
    assert ours["lm_eval_version"] == theirs["lm_eval_version"]
    # summary.json carries the same numbers, per subject and overall.
    summary = json.loads((stage_dir / "summary.json").read_text())
    acc = summary["accuracy"]
    task = _smoke_settings()["mmlu_task"]
    assert (acc["acc"], acc["acc_stderr"]) == (theirs["results"][task]["acc,none"], theirs["results"][task]["acc_stderr,none"])
    for subject in acc["subjects"]:
        row = theirs["results"][subject["task"]]
        assert (subject["acc"], subject["acc_stderr"], subject["n"]) == (
            row["acc,none"], row["acc_stderr,none"], theirs["n-samples"][subject["task"]]["effective"])
    # The command the report shows is the one this test ran.
    shown = shlex.split(summary["lmeval"]["command"])
    shown = shown[shown.index("lm_eval") + 1: shown.index("--output_path")]
    assert _as_options(shown) == _as_options(cli_args)


def _as_options(args: list[str]) -> dict[str, str]:
    return dict(zip(args[::2], args[1::2]))


def test_stage_outputs_and_report(both_runs):
    work, stage, _, _ = both_runs
    run_dir = (work / "out" / "latest").resolve()
    stage_dir = run_dir / "08_mmlu"
    summary = json.loads((stage_dir / "summary.json").read_text())
    assert summary["verdict"] == "ACCURACY ONLY" and summary["mode"] == "lmeval" and summary["submittable"] is False
    assert summary["simulated"] is False and summary["lmeval"]["lm_eval_version"]
    assert summary["lmeval"]["offline_env"] == OFFLINE
    assert summary["lmeval"]["task_configuration"]["fewshot_split"] == "dev"
    samples = [json.loads(line) for line in (stage_dir / "lm_eval_samples.jsonl").read_text().splitlines()]
    assert len(samples) == summary["accuracy"]["n"]
    assert sum(s["acc"] for s in samples) == pytest.approx(summary["accuracy"]["acc"] * len(samples))
    html = (stage_dir / "08_mmlu.html").read_text()
    assert "ACCURACY ONLY" in html and "Accuracy per subject" in html and "lm_eval --model hf" in html
    assert "import mlnb" not in html
    rollup = json.loads((run_dir / "rollup" / "run_rollup.json").read_text())
    row = next(r for r in rollup["stages"] if r["stage"] == "08_mmlu")
    assert row["kind"] == "lmeval" and row["metrics"]["lmeval_accuracy"] == summary["accuracy"]["acc"]
    assert "lm-eval accuracy" in (run_dir / "index.html").read_text()
    assert "accuracy" in stage.stdout


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "sets, fragments",
    [
        (["mmlu_task=mmlu_mlnb_biologie"], ["mmlu_task='mmlu_mlnb_biologie'", "no such lm-eval task", "mmlu_mlnb_biology"]),
        (["mmlu_tasks_dir=no-such-dir"], ["mmlu_tasks_dir='no-such-dir'", "folder not found"]),
        (["mmlu_limit=0"], ["--set mmlu_limit=0", "greater than or equal to 1"]),
    ],
)
def test_bad_input_is_one_line_before_the_run_folder(tmp_path, sets, fragments):
    args = [a for s in sets for a in ("--set", s)]
    result = mlnb("run", "--outputs", "out", "--stages", "08_mmlu", *args, cwd=tmp_path, extra_env=OFFLINE, timeout=300)
    _assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_failing_evaluation_keeps_its_log_and_failure_json(tmp_path):
    # A task folder whose task exists but whose data file is gone: lm-eval fails inside the stage.
    tasks = tmp_path / "tasks"
    shutil.copytree(embedded_tasks_dir(), tasks, ignore=shutil.ignore_patterns("__pycache__"))
    (tasks / "test" / "biology.jsonl").unlink()
    result = mlnb("run", "--outputs", "out", "--stages", "08_mmlu", "--backend", "sim", "--set",
                  f"mmlu_tasks_dir={tasks}", cwd=tmp_path, extra_env=OFFLINE, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    stage_dir = (tmp_path / "out" / "latest" / "08_mmlu").resolve()
    failure = json.loads((stage_dir / "failure.json").read_text())
    assert failure["ename"] == "StageFailed" and "biology" in failure["evalue"]
    assert "biology.jsonl" in (stage_dir / "lmeval.log").read_text()
    assert (stage_dir / "08_mmlu.html").is_file() and (stage_dir / "params.json").is_file()
    assert json.loads((tmp_path / "out" / "latest" / "run.json").read_text())["status"] == "failed"
