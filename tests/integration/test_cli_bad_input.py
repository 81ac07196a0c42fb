"""Bad input: one line naming what is wrong, exit code 2, no traceback, nothing that looks like a run.

Every case runs the real CLI in a folder that already holds a finished run and ``outputs/latest``;
afterwards the folder must hold exactly what it held before (no run folder, no moved ``latest``,
nothing written outside ``outputs/``), and the error line must not repeat a secret.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "sk-" + "Qx9" * 8  # an OpenAI-style key typed on the command line
ENV_SECRET = "plain-secret-" + "7" * 8  # the value of a credential variable, no recognisable shape


def mlnb(*args, cwd, extra_env=None):
    env = {name: value for name, value in os.environ.items() if name != "MLNB_OUTPUTS"}
    env.update(MY_SERVICE_TOKEN=ENV_SECRET, **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout and ENV_SECRET not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its kind (and a symlink's target)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        found[rel] = f"-> {os.readlink(path)}" if path.is_symlink() else ("dir" if path.is_dir() else path.stat().st_size)
    return found


USER_CONFS = {
    "quick.conf": "*.Server.target_qps = quick\n",
    "dup.conf": "llama3_1-8b.Offline.min_query_count = 4\n*.Server.target_qps = 2\nllama3_1-8b.Offline.min_query_count = 5\n",
    "negative.conf": "*.Offline.min_query_count = -4\n",
    "negative_qps.conf": "*.Server.target_qps = -2.5\n",
    "conflict.conf": "*.Offline.target_qps = 5\n",
    "min_max.conf": "*.*.min_query_count = 10\n*.*.max_query_count = 5\n",
    "trailing.conf": "*.Offline.min_duration = 10 # ten ms\n",
    "nospaces.conf": "*.Offline.min_duration=10\n",
    "unknown_key.conf": "*.Offline.target_qsp = 10\n",
    "bad_model.conf": "llama3-8b.Offline.target_qps = 10\n",
    "bad_scenario.conf": "*.offline.target_qps = 10\n",
    "fraction.conf": "*.Offline.min_query_count = 2.5\n",
    "mode.conf": "*.*.mode = 2\n",
}


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "nofield.json").write_text(json.dumps([{"input": "a", "output": "b"}]))
    (tmp_path / "user.conf").write_text(USER_CONFS["quick.conf"])
    for name, text in USER_CONFS.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "notok").mkdir()  # a model folder with weights' config but no tokenizer
    (tmp_path / "notok" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "notarun").mkdir()
    (tmp_path / "notarun" / "notes.txt").write_text("just a folder")
    # A finished run and outputs/latest: bad input must leave both exactly as they are.
    keep = tmp_path / "out" / "keep"
    keep.mkdir(parents=True)
    (keep / "run.json").write_text('{"run_id": "keep", "status": "finished"}')
    (tmp_path / "out" / "latest").symlink_to("keep")
    return tmp_path


RUN_CASES = [
    # the run id and the outputs folder
    (["--run-id", "../escape"], ["--run-id '../escape'", "plain folder name"]),
    (["--run-id", "a/b"], ["--run-id 'a/b'", "plain folder name"]),
    (["--run-id", "/tmp/mlnb-absolute-run"], ["--run-id '/tmp/mlnb-absolute-run'"]),
    (["--run-id", ""], ["--run-id ''"]),
    (["--run-id", ".hidden"], ["--run-id '.hidden'"]),
    (["--run-id", "latest"], ["--run-id 'latest'", "reserved"]),
    (["--run-id", "keep", "--backend", "sim", "--stages", "01_offline_perf"], ["keep", "never overwritten"]),
    (["--outputs", "afile"], ["--outputs 'afile'", "is a file"]),
    (["--outputs", "afile/runs"], ["--outputs 'afile/runs'", "afile is a file"]),
    (["--outputs", ""], ["--outputs ''"]),
    # stages and presets
    (["--stages", ","], ["--stages ','", "no stage named"]),
    (["--stages", " , "], ["--stages ' , '", "no stage named"]),
    (["--stages", "01_offline_perf,,03_server_perf"], ["--stages", "empty stage name"]),
    (["--stages", "01_offline_perf,01_offline_perf"], ["'01_offline_perf' is named twice"]),
    (["--stages", "03_server"], ["--stages", "unknown stage '03_server'", "03_server_perf"]),
    (["--preset", "smokey"], ["--preset 'smokey'", "unknown preset", "'smoke'"]),
    (["--preset", "missing.yaml"], ["missing.yaml", "preset file not found"]),
    # models, backends, datasets
    (["--backend", "vllmm"], ["backend", "unknown backend 'vllmm'"]),
    (["--model", "./no-such-model"], ["no-such-model", "folder not found"]),
    (["--model", "./notok", "--stages", "01_offline_perf"], ["model './notok'", "no tokenizer"]),
    (["--model", "./notok", "--stages", "08_mmlu"], ["model './notok'", "no tokenizer"]),
    (["--model", "./notok", "--backend", "openai", "--set", "base_url=http://127.0.0.1:9/v1", "--stages",
      "01_offline_perf"], ["model './notok'", "no tokenizer"]),
    (["--model", "./notok", "--set", "load_format=dummy", "--set", "tokenizer=./nowhere", "--stages",
      "02_offline_accuracy"], ["tokenizer './nowhere'"]),
    (["--dataset", "bad.json"], ["bad.json", "JSON"]),
    (["--dataset", "empty.json"], ["empty.json"]),
    (["--dataset", "nofield.json"], ["nofield.json", "tok_input"]),
    (["--samples", "500"], ["samples=500", "64 records"]),
    # --set: each mistake names --set, never the preset file
    (["--set", "dtype=int8"], ["--set dtype=int8", "'float32'"]),
    (["--set", "kv_cache_dtype=int4"], ["--set kv_cache_dtype=int4"]),
    (["--set", "device=gpu"], ["--set device=gpu", "cuda:N"]),
    (["--set", "samples=-3"], ["--set samples=-3", "greater than or equal to 1"]),
    (["--set", "target_qps=-1"], ["--set target_qps=-1", "greater than 0"]),
    (["--set", "01_offline_perf.target_qps=0", "--stages", "01_offline_perf"], ["--set 01_offline_perf.target_qps=0"]),
    (["--set", "timeout_s=.inf"], ["--set timeout_s=.inf", "finite"]),
    (["--set", "max_new_tokens=abc"], ["--set max_new_tokens=abc", "valid integer"]),
    (["--set", "min_new_tokens=500"], ["--set min_new_tokens=500", "above max_new_tokens"]),
    (["--set", "min_query_count=10", "--set", "max_query_count=5"], ["--set max_query_count=5", "below min_query_count"]),
    (["--set", "model_key=llama2-70b"], ["--set model_key=llama2-70b"]),
    (["--set", "scenario=Offlien"], ["--set scenario=Offlien"]),
    (["--set", "api_key_env=not a name"], ["--set api_key_env=not a name"]),
    (["--set", "sampels=3"], ["unknown key 'sampels'"]),
    (["--set", "samples"], ["--set 'samples'", "key=value"]),
    (["--set", "=3"], ["--set '=3'", "key is empty"]),
    (["--set", "samples=3", "--set", "samples=4"], ["--set samples=4", "conflicts with --set samples=3"]),
    (["--samples", "3", "--set", "samples=4"], ["--set samples=4", "conflicts with --samples"]),
    (["--samples", "-3"], ["--samples -3"]),
    (["--samples", "abc"], ["--samples", "not a valid integer"]),
    (["--set", "03_serv.target_qps=1"], ["--set 03_serv.target_qps=1", "unknown stage"]),
    (["--set", "03_server_perf.target_qps=1", "--stages", "01_offline_perf"], ["--set 03_server_perf.target_qps=1",
                                                                               "takes no parameters in this run"]),
    (["--set", "99_run_summary.samples=1"], ["--set 99_run_summary.samples=1", "takes no parameters"]),
    (["--bogus"], ["--bogus"]),
    # a LoadGen user.conf given by the user
    (["--set", "user_conf=user.conf"], ["user.conf line 1", "'quick'"]),
    (["--set", "user_conf=missing.conf"], ["missing.conf", "file not found"]),
    (["--set", "user_conf=dup.conf", "--stages", "01_offline_perf"], ["dup.conf line 3", "already set on line 1"]),
    (["--set", "user_conf=negative.conf", "--stages", "01_offline_perf"], ["negative.conf line 1", "negative"]),
    (["--set", "user_conf=negative_qps.conf", "--stages", "03_server_perf"], ["negative_qps.conf line 1", "negative"]),
    (["--set", "user_conf=conflict.conf", "--set", "target_qps=3", "--stages", "01_offline_perf"],
     ["conflict.conf line 1", "conflicts with the stage parameter target_qps"]),
    (["--set", "user_conf=min_max.conf", "--stages", "05_singlestream_perf", "--set", "min_query_count=null"],
     ["min_max.conf line 2", "below min_query_count"]),
    (["--set", "user_conf=trailing.conf"], ["trailing.conf line 1", "own line"]),
    (["--set", "user_conf=nospaces.conf"], ["nospaces.conf line 1", "spaces around '='"]),
    (["--set", "user_conf=unknown_key.conf"], ["unknown_key.conf line 1", "did you mean 'target_qps'"]),
    (["--set", "user_conf=bad_model.conf"], ["bad_model.conf line 1", "model 'llama3-8b'"]),
    (["--set", "user_conf=bad_scenario.conf"], ["bad_scenario.conf line 1", "scenario 'offline'"]),
    (["--set", "user_conf=fraction.conf"], ["fraction.conf line 1", "whole number"]),
    (["--set", "user_conf=mode.conf"], ["mode.conf line 1", "mode is set by the stage"]),
    # credentials typed as parameters: refused, never repeated
    (["--set", f"api_key={SECRET}"], ["--set api_key=***", "OPENAI_API_KEY"]),
    (["--set", f"hf_token=hf_{'a1' * 10}"], ["--set hf_token=***", "HF_TOKEN"]),
    (["--set", f"served_model_name={SECRET}"], ["--set served_model_name=***", "looks like a credential"]),
    (["--set", f"03_server_perf.base_url=http://{SECRET}@127.0.0.1:1/v1"], ["--set 03_server_perf.base_url=***"]),
    (["--set", f"served_model_name={ENV_SECRET}"], ["--set served_model_name=***"]),
    (["--model", SECRET], ["--model=***"]),
]


def _case_id(case):
    return " ".join(case[0])[:60] or "empty"


@pytest.mark.parametrize("args, fragments", RUN_CASES, ids=[_case_id(c) for c in RUN_CASES])
def test_bad_run_input_is_one_line_and_leaves_nothing(workdir, args, fragments):
    before = _snapshot(workdir)
    if args[:1] != ["--outputs"]:
        args = ["--outputs", "out", *args]
    line = _assert_one_line_error(mlnb("run", *args, cwd=workdir), *fragments)
    if fragments[0].startswith("--set"):
        assert ".yaml" not in line  # a --set mistake names --set, not the preset file
    assert _snapshot(workdir) == before
    assert not Path("/tmp/mlnb-absolute-run").exists()


@pytest.mark.parametrize(
    "target, fragments",
    [
        ("notarun", ["RUN_DIR 'notarun'", "not a run folder"]),
        ("out", ["RUN_DIR 'out'", "it holds runs", "keep"]),
        ("nothere", ["RUN_DIR 'nothere'", "folder not found"]),
        ("afile", ["RUN_DIR 'afile'", "is a file"]),
    ],
)
def test_report_on_a_folder_that_is_not_a_run(workdir, target, fragments):
    before = _snapshot(workdir)
    _assert_one_line_error(mlnb("report", target, cwd=workdir), *fragments)
    assert _snapshot(workdir) == before  # no index.html written there


def test_debug_shows_the_traceback(workdir):
    result = mlnb("--debug", "run", "--preset", "smokey", cwd=workdir)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_outputs_from_the_environment_is_named(workdir):
    result = mlnb("run", "--stages", "01_offline_perf", cwd=workdir, extra_env={"MLNB_OUTPUTS": "afile"})
    _assert_one_line_error(result, "MLNB_OUTPUTS", "is a file")
