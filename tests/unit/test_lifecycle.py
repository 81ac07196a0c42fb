"""Parent-death signal, run ownership (abandoned runs), the disk reserve and token-id checks."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlnb import disk_reserve
from mlnb.data.cnndm import EMBEDDED_DATASET, load_cnndm
from mlnb.data.token_ids import check_token_ids
from mlnb.errors import InputError
from mlnb.lifecycle import effective_run_status, owner_alive, owner_record
from mlnb.report.run_index import collect_run


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_alive_tells_a_live_owner_from_a_dead_or_recycled_pid():
    me = owner_record()
    assert owner_alive(me) is True
    assert owner_alive({**me, "pid": _dead_pid()}) is False
    assert owner_alive({**me, "create_time": me["create_time"] - 1000}) is False  # the pid now runs another process
    assert owner_alive({**me, "host": "another-host"}) is None
    assert owner_alive(None) is None


def test_a_running_run_whose_owner_is_gone_is_abandoned_and_keeps_its_finished_stages(tmp_path):
    run_dir = tmp_path / "run"
    for stage in ("01_offline_perf", "03_server_perf"):
        (run_dir / stage).mkdir(parents=True)
    summary = {"stage": "01_offline_perf", "status": "finished", "verdict": "VALID", "metrics": {}}
    (run_dir / "01_offline_perf" / "summary.json").write_text(json.dumps(summary))
    (run_dir / "03_server_perf" / "params.json").write_text("{}")
    run = {"run_id": "run", "stages": ["01_offline_perf", "03_server_perf", "05_singlestream_perf"],
           "status": "running", "owner": {**owner_record(), "pid": _dead_pid()}}
    (run_dir / "run.json").write_text(json.dumps(run))
    rollup, summaries = collect_run(run_dir)
    assert rollup["status"] == "abandoned"
    assert [s["status"] for s in rollup["stages"]] == ["finished", "abandoned", "not run"]
    assert len(summaries) == 1
    run["owner"] = owner_record()  # the same run, still owned by a live process
    (run_dir / "run.json").write_text(json.dumps(run))
    assert collect_run(run_dir)[0]["status"] == "running"
    assert effective_run_status({"status": "finished", "owner": {**owner_record(), "pid": _dead_pid()}}) == "finished"


def test_a_child_started_with_the_preexec_dies_when_its_parent_is_killed(tmp_path):
    """The parent (a Python process) starts a sleeping child with die_with_parent_preexec, then is SIGKILLed."""
    code = (
        "import subprocess, sys, time\n"
        "from mlnb.lifecycle import die_with_parent_preexec\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], preexec_fn=die_with_parent_preexec())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    killed = time.monotonic()
    child.wait(timeout=5)
    assert time.monotonic() - killed < 5


def test_disk_reserve_makes_room_for_the_last_writes(tmp_path, monkeypatch):
    assert disk_reserve.hold(tmp_path, size=4096)
    assert (tmp_path / disk_reserve.RESERVE_FILE).stat().st_size == 4096
    calls = []

    def write():
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return "written"

    assert disk_reserve.write_or_say(tmp_path, "run.json", write, echo=calls.append) == "written"
    assert not (tmp_path / disk_reserve.RESERVE_FILE).exists()
    said = []

    def read_only():
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "run.json"))

    assert disk_reserve.write_or_say(tmp_path, "run.json", read_only, echo=said.append) is None
    assert said == [f"run.json not written: Read-only file system ({tmp_path / 'run.json'})"]


@pytest.mark.parametrize("value, problem", [(2**31, "outside int32"), (-1, "outside int32")])
def test_cnndm_loader_refuses_token_ids_outside_int32_in_one_line(tmp_path, value, problem):
    records = json.loads(EMBEDDED_DATASET.read_text())
    records[1]["tok_input"][3] = value
    path = tmp_path / "cnn_eval.json"
    path.write_text(json.dumps(records))
    with pytest.raises(InputError) as err:
        load_cnndm(path)
    line = str(err.value)
    assert "\n" not in line and f"{path} record 1 field 'tok_input'" in line
    assert f"token id {value} (position 3) is {problem}" in line


def test_token_ids_outside_the_vocabulary_are_named():
    with pytest.raises(InputError, match=r"token id 500 \(position 2\) is outside the model's vocabulary \(0..99\)"):
        check_token_ids("prompt", [1, 2, 500], vocab_size=100)
    check_token_ids("prompt", [0, 99], vocab_size=100)


def test_dsr1_loader_refuses_a_token_id_outside_int32_in_one_line(tmp_path):
    from mlnb.data.dsr1 import load_dsr1

    records = [{"text_input": "Q prompt", "ground_truth": "42", "dataset": "aime2024", "tok_input": [1, 2**40]}]
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(records))
    with pytest.raises(InputError) as err:
        load_dsr1(path)
    assert str(err.value) == f"{path} record 0 field 'tok_input': token id {2**40} (position 1) is outside int32 (0..2147483647)"
