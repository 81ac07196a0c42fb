"""`mlnb run --progress-lines`, Ctrl-C on the CLI, and the launcher's Run and Stop (no browser)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlnb.ui.progress import parse_cli_line

pytestmark = pytest.mark.slow

# Slow enough to be stopped mid-stage: 8 queries one at a time, about 2.5 s each.
SIM_SLOW = ["--backend", "sim", "--samples", "8", "--set", "sim_tpot_ms=20", "--set", "sim_max_batch=1",
            "--set", "min_query_count=8"]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(text.encode() in a for a in args):
            found.append(b" ".join(args).decode(errors="replace"))
    return found


def _assert_interrupted_not_crashed(stage: Path) -> None:
    """The kernel was interrupted (KeyboardInterrupt in the cell), not killed (a dead kernel)."""
    notebook = json.loads((stage / f"{stage.name}.ipynb").read_text())
    errors = [o["ename"] for c in notebook["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == ["KeyboardInterrupt"], errors
    logs = (stage / "stage.log").read_text() + (stage / "harness.log").read_text()
    assert "Kernel died" not in logs and "DeadKernel" not in logs, logs
    assert "interrupted: the harness was stopped" in (stage / "harness.log").read_text()


def test_ctrl_c_stops_the_run_cleanly(tmp_path):
    out = tmp_path / "outputs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlnb.cli", "run", "--preset", "smoke", "--stages", "01_offline_perf,99_run_summary",
         *SIM_SLOW, "--outputs", str(out), "--run-id", "stopped", "--progress-lines"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines, events = [], []
    sent = None
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        event = parse_cli_line(line)
        if event is not None:
            events.append(event)
        if sent is None and event is not None and event.kind == "progress":
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            sent = time.monotonic()
    code = proc.wait(timeout=120)
    output = "\n".join(lines)
    assert sent is not None, output
    assert code == 130, output
    assert time.monotonic() - sent < 60
    assert [e.kind for e in events][:3] == ["run", "start", "progress"], output
    assert any(e.kind == "end" and e.status == "interrupted" for e in events), output
    run_dir = out / "stopped"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and run["stage_status"] == {"01_offline_perf": "interrupted"}
    stage = run_dir / "01_offline_perf"
    assert "progress issued=" in (stage / "harness.log").read_text()
    assert (stage / "stage.log").is_file() and (stage / "01_offline_perf.ipynb").is_file()
    assert not (stage / "failure.json").exists()
    _assert_interrupted_not_crashed(stage)
    assert (run_dir / "index.html").is_file()
    assert "INTERRUPTED" in (run_dir / "index.html").read_text()
    assert not (run_dir / "99_run_summary").exists()
    time.sleep(1)
    assert _processes_mentioning(str(stage)) == []  # kernel and harness are gone


def test_launcher_runs_and_stops(tmp_path, monkeypatch):
    from mlnb.ui.launcher import Launcher

    monkeypatch.chdir(tmp_path)
    launcher = Launcher("outputs")
    form = launcher.form
    for name, box in form.stage_boxes.items():
        box.value = name in ("01_offline_perf", "99_run_summary")
    form.fields["backend"].value = "sim"
    form.set_values(samples="8", sim_tpot_ms="20", sim_max_batch="1", min_query_count="8")
    assert launcher.error.value == ""
    process = launcher.start()
    assert process is not None and launcher.run_button.disabled and not launcher.stop_button.disabled
    deadline = time.monotonic() + 180
    bar = launcher.bars["01_offline_perf"]
    while "queries" not in bar.text.value and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "/8 queries" in bar.text.value, "\n".join(process.lines)
    launcher.stop()
    assert launcher.wait(120) == 130, "\n".join(process.lines)
    assert "interrupted" in launcher.status.value
    assert bar.bar.bar_style == "warning" and bar.text.value.startswith(("interrupted", f"{bar.last.completed}/"))
    run = json.loads((process.run_dir / "run.json").read_text())
    assert run["status"] == "interrupted"
    html = launcher.result.outputs[0]["data"]["text/html"]
    assert "INTERRUPTED" in html and "index.html" in html
    assert launcher.run_button.disabled is False and launcher.stop_button.disabled is True
    assert any(line.startswith("[01_offline_perf] interrupted") for line in process.lines)
    _assert_interrupted_not_crashed(process.run_dir / "01_offline_perf")
