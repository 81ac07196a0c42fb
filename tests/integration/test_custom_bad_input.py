"""Bad custom and synthetic input: one line naming file, record and field; exit 2; no run folder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mlnb.cli import main

GOOD = {"prompt": "Say hi.", "output": "hi", "task_type": "exact"}


def _files(folder):
    (folder / "badline.jsonl").write_text(json.dumps(GOOD) + "\n{not json\n")
    (folder / "prompts.txt").write_text("Say hi.\n")
    (folder / "garbage.parquet").write_bytes(b"not parquet at all")
    (folder / "latin1.jsonl").write_bytes(json.dumps({"prompt": "caf\u00e9"}).encode("latin-1").replace(b"\\u00e9", b"\xe9"))
    (folder / "empty.jsonl").write_text("")
    (folder / "emptylist.json").write_text("[]")
    (folder / "noprompt.jsonl").write_text(json.dumps({"question": "Say hi."}) + "\n")
    (folder / "good.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "max_tokens": "many"}) + "\n")
    (folder / "badchat.jsonl").write_text(json.dumps({"messages": [{"speaker": "user", "text": "hi"}]}) + "\n")
    (folder / "chatnotlist.csv").write_text("messages\nhello\n")
    (folder / "badshare.json").write_text(json.dumps([{"conversations": [{"from": "robot", "value": "x"}]}]))
    (folder / "hist.csv").write_text("16,0.5\n64,0.3\n")


CASES = [
    (["--dataset", "badline.jsonl"], ["badline.jsonl line 2", "not valid JSON"]),
    (["--dataset", "prompts.txt"], ["prompts.txt", "unknown suffix '.txt'"]),
    (["--dataset", "garbage.parquet"], ["garbage.parquet", "not a readable Parquet file"]),
    (["--dataset", "latin1.jsonl"], ["latin1.jsonl", "not UTF-8"]),
    (["--dataset", "empty.jsonl"], ["empty.jsonl", "is empty"]),
    (["--dataset", "emptylist.json"], ["emptylist.json", "holds no records"]),
    (["--dataset", "noprompt.jsonl"], ["noprompt.jsonl record 0 field 'prompt'", "missing", "question"]),
    (["--dataset", "noprompt.jsonl", "--set", "dataset_columns.prompt=questoin"],
     ["noprompt.jsonl field 'questoin'", "no record has this column"]),
    (["--dataset", "good.jsonl", "--set", "dataset_columns.promt=question"], ["dataset_columns", "unknown field 'promt'"]),
    (["--dataset", "good.jsonl"], ["good.jsonl record 1 field 'max_tokens'", "'many'"]),
    (["--dataset", "badchat.jsonl"], ["badchat.jsonl record 0 field 'messages' message 0", "role"]),
    (["--dataset", "chatnotlist.csv"], ["chatnotlist.csv record 0 field 'messages'", "not JSON"]),
    (["--dataset", "badshare.json"], ["badshare.json record 0 field 'conversations' turn 0"]),
    (["--dataset", "noprompt.jsonl", "--set", "dataset_columns.prompt=question", "--set", "dataset_columns.prompt=query"],
     ["dataset_columns.prompt", "conflicts with", "give one value"]),
    (["--set", "workload=synthetic", "--set", "synthetic_input_tokens=normal:100:-3"],
     ["synthetic_input_tokens", "negative"]),
    (["--set", "workload=synthetic", "--set", "synthetic_output_tokens=histogram:hist.csv"],
     ["synthetic_output_tokens", "hist.csv", "sum to 0.8"]),
    (["--set", "workload=synthetic", "--set", "synthetic_output_tokens=uniform:100:300"],
     ["synthetic_output_tokens 'uniform:100:300'", "max_new_tokens=128"]),
]


@pytest.mark.parametrize("args, fragments", CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_bad_custom_input_is_one_line_exit_2_no_run_folder(tmp_path, monkeypatch, args, fragments):
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    workload = [] if "workload=synthetic" in args else ["--set", "workload=custom"]
    result = CliRunner().invoke(main, ["run", "--preset", "smoke", "--stages", "01_offline_perf", "--backend", "sim",
                                       "--samples", "1", "--outputs", "out", *workload, *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
