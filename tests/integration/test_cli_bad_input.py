"""Bad input: one line naming what is wrong, exit code 2, no traceback, no run folder."""

import json
import os
import subprocess
import sys

import pytest


def mlnb(*args, cwd, extra_env=None):
    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "nofield.json").write_text(json.dumps([{"input": "a", "output": "b"}]))
    (tmp_path / "user.conf").write_text("*.Server.target_qps = quick\n")
    return tmp_path


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--preset", "smokey"], ["smokey.yaml", "preset file not found"]),
        (["--stages", "03_server"], ["--stages", "unknown stage '03_server'", "03_server_perf"]),
        (["--backend", "vllmm"], ["backend", "unknown backend 'vllmm'"]),
        (["--model", "./no-such-model"], ["no-such-model", "folder not found"]),
        (["--dataset", "bad.json"], ["bad.json", "JSON"]),
        (["--dataset", "empty.json"], ["empty.json"]),
        (["--dataset", "nofield.json"], ["nofield.json", "tok_input"]),
        (["--samples", "500"], ["samples=500", "64 records"]),
        (["--set", "user_conf=user.conf"], ["user.conf line 1", "'quick'"]),
        (["--set", "sampels=3"], ["unknown key 'sampels'"]),
    ],
)
def test_bad_input_gets_one_clear_line_and_no_run_folder(workdir, args, fragments):
    result = mlnb("run", "--outputs", "out", *args, cwd=workdir)
    _assert_one_line_error(result, *fragments)
    assert not (workdir / "out").exists() or not any((workdir / "out").iterdir())


def test_debug_shows_the_traceback(workdir):
    result = mlnb("--debug", "run", "--preset", "smokey", cwd=workdir)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_existing_run_id_is_never_overwritten(workdir):
    (workdir / "out" / "keep").mkdir(parents=True)
    (workdir / "out" / "keep" / "run.json").write_text("{}")
    result = mlnb("run", "--outputs", "out", "--run-id", "keep", "--backend", "sim", "--stages", "01_offline_perf", cwd=workdir)
    _assert_one_line_error(result, "keep", "never overwritten")
    assert (workdir / "out" / "keep" / "run.json").read_text() == "{}"
