"""The custom workload: the user's prompts in every format, through the CLI's plan and a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlnb.cli import main
from mlnb.config import StageParams
from mlnb.workloads import load_records

ROOT = Path(__file__).resolve().parents[2]

RECORDS = [
    {"question": "What is 2 + 3? Reply with the number only.", "answer": "5", "kind": "math"},
    {"question": "Which letter comes first in the alphabet, A or B? Reply with the letter.", "answer": "A", "kind": "multiple_choice"},
    {"question": "Repeat exactly: hello world", "answer": "hello world", "kind": "exact", "limit": 6},
    {"question": "Summarize: the cat sat on the mat all day long.", "answer": "A cat sat on a mat.", "kind": "summarization"},
]
COLUMNS = ["--set", "dataset_columns.prompt=question", "--set", "dataset_columns.output=answer",
           "--set", "dataset_columns.task_type=kind", "--set", "dataset_columns.max_tokens=limit"]


def _write(folder: Path, fmt: str) -> Path:
    import pandas as pd

    path = folder / f"prompts.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    elif fmt == "json":
        path.write_text(json.dumps(RECORDS))
    elif fmt == "csv":
        pd.DataFrame(RECORDS).to_csv(path, index=False)
    elif fmt == "parquet":
        pd.DataFrame(RECORDS).astype({"limit": "Int64"}).to_parquet(path)
    return path


def _plan(dataset: Path, *extra: str):
    from mlnb.cli import build_plan

    sets = [s for s in COLUMNS if s != "--set"] + [s for s in extra]
    plan = build_plan("smoke", "02_offline_accuracy", ["workload=custom", *sets], samples=4, backend="sim",
                      dataset=str(dataset))
    return plan.stage_params["02_offline_accuracy"]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_each_format_gives_the_same_checked_records(tmp_path, fmt):
    params = _plan(_write(tmp_path, fmt))
    assert params.dataset_columns == {"prompt": "question", "output": "answer", "task_type": "kind", "max_tokens": "limit"}
    records = load_records(params)
    assert [r["prompt"] for r in records] == [r["question"] for r in RECORDS]
    assert [r["output"] for r in records] == [r["answer"] for r in RECORDS]
    assert [r["task_type"] for r in records] == [r["kind"] for r in RECORDS]
    assert [r.get("max_tokens") for r in records] == [None, None, 6, None]
    assert all(isinstance(t, int) for r in records for t in r["tok_input"])
    assert "plain text" in records.facts["tokenization_note"]


def test_messages_and_chat_template_go_through_the_template(tmp_path, embedded_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(embedded_model_dir)
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi there"}]}) + "\n"
                    + json.dumps({"prompt": "Hi there"}) + "\n")
    plain = load_records(StageParams(workload="custom", dataset=str(path), backend="sim"))
    templated = tok.apply_chat_template([{"role": "user", "content": "Hi there"}], add_generation_prompt=True, tokenize=True)
    templated = list(templated["input_ids"] if hasattr(templated, "keys") else templated)
    assert plain[0]["tok_input"] == templated
    assert plain[1]["tok_input"] == list(tok.encode("Hi there"))
    assert "1 chat records" in plain.facts["tokenization_note"]
    both = load_records(StageParams(workload="custom", dataset=str(path), backend="sim", chat_template=True))
    assert both[1]["tok_input"] == templated and "chat_template=true" in both.facts["tokenization_note"]


def test_sharegpt_conversations(tmp_path):
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps([{"id": "x", "conversations": [
        {"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Blue."},
        {"from": "human", "value": "Another?"}, {"from": "gpt", "value": "Red."}]}]))
    [record] = load_records(StageParams(workload="custom", dataset=str(path), backend="sim"))
    assert [m["role"] for m in record["messages"]] == ["user", "assistant", "user"]
    assert record["output"] == "Red."
    renamed = tmp_path / "turns.jsonl"
    renamed.write_text(json.dumps({"turns": [{"from": "human", "value": "Hi"}]}) + "\n")
    [record] = load_records(StageParams(workload="custom", dataset=str(renamed), backend="sim",
                                        dataset_columns={"messages": "turns"}))
    assert record["messages"] == [{"role": "user", "content": "Hi"}] and "output" not in record


def test_hugging_face_path_on_a_local_copy(tmp_path):
    pytest.importorskip("datasets", reason="the datasets package is not installed")
    from mlnb.data.custom import check_record, read_hf_dataset

    path = _write(tmp_path, "jsonl")
    raws = read_hf_dataset("json", "train", data_files=str(path))  # the code path of dataset=hf:NAME
    records = [check_record("hf:json", i, r, {"prompt": "question", "output": "answer"}) for i, r in enumerate(raws)]
    assert [r["prompt"] for r in records] == [r["question"] for r in RECORDS]


def test_too_long_records_are_refused_or_dropped_and_counted(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "short"}) + "\n" + json.dumps({"prompt": "word " * 300}) + "\n")
    runner = CliRunner()
    base = ["run", "--preset", "smoke", "--stages", "01_offline_perf", "--backend", "sim", "--samples", "1",
            "--outputs", str(tmp_path / "out"), "--dataset", str(path), "--set", "workload=custom",
            "--set", "max_model_len=200", "--set", "max_new_tokens=16"]
    refused = runner.invoke(main, base)
    assert refused.exit_code == 2
    assert "record 1" in refused.output and "exceed the model's context of 200" in refused.output
    assert not (tmp_path / "out").exists()
    params = StageParams(workload="custom", dataset=str(path), backend="sim", max_model_len=200, max_new_tokens=16,
                         drop_too_long=True)
    records = load_records(params)
    assert len(records) == 1 and records.facts["dropped_too_long"] == 1 and records.facts["dropped_records"] == [1]


def _mlnb(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.mark.slow
def test_hf_backend_end_to_end_per_task_type(tmp_path):
    """The one real run: the embedded model answers 20 records; the report scores them per task_type."""
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(RECORDS[i % len(RECORDS)]) + "\n" for i in range(20)))
    result = _mlnb("run", "--preset", "smoke", "--stages", "02_offline_accuracy", "--backend", "hf", "--samples", "20",
                   "--dataset", str(path), "--set", "workload=custom", *COLUMNS, "--set", "max_new_tokens=8",
                   "--outputs", "out", "--run-id", "r", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    stage = tmp_path / "out" / "r" / "02_offline_accuracy"
    summary = json.loads((stage / "summary.json").read_text())
    assert summary["simulated"] is False and summary["verdict"] == "SCORED"
    groups = summary["accuracy"]["per_task_type"]
    assert set(groups) == {"math", "multiple_choice", "exact", "summarization"}
    assert {g["scorer"] for g in groups.values()} == {"numeric", "choice", "exact", "rouge"}
    assert all(g["scored"] == 5 for g in groups.values())
    lengths = summary["dataset"]["output_lengths"]
    assert lengths["queries"] == 20 and lengths["requested"]["max"] == 8 and lengths["produced"]["max"] <= 8
    assert "plain text" in summary["dataset"]["tokenization_note"]
    html = (stage / "02_offline_accuracy.html").read_text()
    assert "Accuracy (per task_type)" in html and "Prompts and output lengths" in html
    samples = [json.loads(line) for line in (stage / "accuracy_samples.jsonl").read_text().splitlines()]
    assert sorted(s["qsl_idx"] for s in samples) == list(range(20))


def test_openai_backend_text_prompts_per_task_type(tmp_path):
    """20 records of the user's JSONL through the openai backend as text prompts (the zero-compute server)."""
    from fixtures.openai_fixture import fake_openai_server, server_stats

    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(RECORDS[i % len(RECORDS)]) + "\n" for i in range(20)))
    with fake_openai_server(tokens=6, tokenizer=os.environ["MLNB_TEST_TOKENIZER"]) as url:
        result = _mlnb("run", "--preset", "smoke", "--stages", "02_offline_accuracy", "--backend", "openai",
                       "--samples", "20", "--dataset", str(path), "--set", "workload=custom", *COLUMNS,
                       "--set", f"base_url={url}", "--set", "served_model_name=fake-model", "--set", "max_new_tokens=8",
                       "--outputs", "out", "--run-id", "r", "--no-progress", cwd=tmp_path)
        forms = server_stats(url)["prompt_forms"]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert forms["tokens"] == 0 and forms["text"] >= 20  # no tokenizer named: the prompts went as text
    stage = tmp_path / "out" / "r" / "02_offline_accuracy"
    summary = json.loads((stage / "summary.json").read_text())
    assert summary["engine"]["prompt_form"] == "text" and summary["verdict"] == "SCORED"
    groups = summary["accuracy"]["per_task_type"]
    assert {name: g["scored"] for name, g in groups.items()} == {
        "math": 5, "multiple_choice": 5, "exact": 5, "summarization": 5}
    html = (stage / "02_offline_accuracy.html").read_text()
    assert "Accuracy (per task_type)" in html
