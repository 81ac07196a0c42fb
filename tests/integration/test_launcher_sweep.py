"""The launcher's sweep section: a real sim rate ladder, stopped after its first point and resumed."""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = pytest.mark.slow  # three short sim runs through papermill, about a minute on a 2-core machine


def _wait_for(condition, timeout_s: float, lines) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting:\n" + "\n".join(lines))


def test_launcher_sweeps_stops_and_resumes(tmp_path, monkeypatch):
    from mlnb.ui.launcher import Launcher

    monkeypatch.chdir(tmp_path)
    launcher = Launcher("outputs")
    form, section = launcher.form, launcher.sweep
    form.fields["backend"].value = "sim"
    form.set_values(samples="16", sim_output_tokens="21", sim_ttft_ms="10", sim_prefill_ms_per_token="0")
    section.set_values(kind="rates", rates="20,40,60", trial_duration_ms="1500", curve_only=True)
    assert section.refresh() is None and not section.start_button.disabled

    process = section.start()
    assert process is not None and process.argv[3] == "sweep" and "--rates" in process.argv
    assert launcher.run_button.disabled  # one process at a time
    # Stop once the first point has its verdict: the sweep keeps it and exits 130.
    _wait_for(lambda: any(line.startswith("[p01] ") and " at 20 qps" in line for line in process.lines), 300, process.lines)
    section.stop()
    assert section.wait(180) == 130, "\n".join(process.lines)
    assert "interrupted" in section.status.value
    sweep_dir = process.sweep_dir
    assert sweep_dir is not None and sweep_dir.parent.resolve() == (tmp_path / "outputs").resolve()
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["status"] == "interrupted"
    kept = [p for p in state["points"] if p.get("verdict")]
    assert kept and kept[0]["target_qps"] == 20
    assert not section.resume_button.disabled and not launcher.run_button.disabled

    # Resume: `mlnb sweep --resume FOLDER`, the finished point is not run again.
    resumed = section.resume()
    assert resumed is not None and resumed.argv[-2:] == ["--resume", str(sweep_dir)]
    assert section.wait(300) == 0, "\n".join(resumed.lines)
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["status"] == "finished"
    finished = [p for p in state["points"] if p["status"] == "finished"]
    assert [p["target_qps"] for p in finished] == [20, 40, 60]
    assert finished[0]["run_dir"] == kept[0]["run_dir"]  # not run again
    page = sweep_dir / "sweep.html"
    assert page.is_file()
    html = section.result.outputs[0]["data"]["text/html"]
    rel = os.path.relpath(page, tmp_path)
    assert f'href="{rel}"' in html and "FINISHED" in html  # relative to the notebook's folder
    assert "LoadGen runs" in html
    assert section.resume_button.disabled and section.stop_button.disabled
