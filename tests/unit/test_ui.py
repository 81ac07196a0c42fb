"""The launcher form, progress reporting, the runs browser and the comparison, without a browser."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlnb.cli import main
from mlnb.config import StageParams
from mlnb.paths import NOTEBOOKS_DIR
from mlnb.report.compare import comparison_figure, comparison_html, compare_runs
from mlnb.report.runs_list import list_runs, runs_table_html
from mlnb.stages.registry import STAGES
from mlnb.ui import form as ui_form
from mlnb.ui.progress import (
    HarnessLogTail,
    PipelineProgress,
    ProgressLines,
    RichBars,
    StageProgress,
    format_progress_line,
    make_progress,
    parse_cli_line,
    parse_harness_line,
)

HARNESS_PROGRESS = "progress issued=8 completed=3 tokens=384 tok/s=96.0 elapsed=4.0s"
HARNESS_FINISHED = "finished: 8 queries, 1024 tokens in 8.0s, 0 SUT errors"


# ---------------------------------------------------------------------------------------------
# The form comes from the typed model
# ---------------------------------------------------------------------------------------------


def test_every_parameter_is_in_the_form_or_set_by_the_pipeline():
    shown = set(ui_form.form_fields())
    fixed = set(ui_form.stage_fixed_fields())
    assert shown | fixed == set(StageParams.model_fields)
    assert not shown & fixed
    assert fixed == {"run_dir", "stage", "scenario", "mode", "workload"}  # workload: set by the DeepSeek-R1 stages


def test_field_kinds_follow_the_annotations():
    assert ui_form.field_kind("load_format").kind == "choice"
    assert ui_form.field_kind("load_format").choices == ("auto", "dummy")
    samples = ui_form.field_kind("samples")
    assert (samples.kind, samples.optional) == ("int", True)
    assert ui_form.field_kind("target_qps").kind == "float"
    assert ui_form.field_kind("model").kind == "str"
    assert ui_form.field_kind("sim_tpot_ms").optional is False


def test_groups_follow_who_reads_the_parameters():
    groups = ui_form.field_groups("sim")
    assert groups["run"] == ["backend", "model", "dataset", "samples"]  # the CLI's shortcut options
    assert {"target_qps", "min_duration_ms", "ttft_latency_ms", "tpot_latency_ms"} <= set(groups["scenario"])
    assert groups["engine"] == [n for n in StageParams.model_fields if n.startswith("sim_")]
    hf = ui_form.field_groups("hf")
    assert "batch_size" in hf["engine"] and "dtype" in hf["engine"]
    assert not set(hf["engine"]) & set(groups["engine"])
    assert "batch_size" not in sum(groups.values(), [])  # hf's settings do not show with sim


def _form(**values):
    form = ui_form.ParamForm("smoke")
    for name, box in form.stage_boxes.items():
        box.value = name in ("01_offline_perf", "03_server_perf", "99_run_summary")
    form.fields["backend"].value = "sim"
    form.set_values(**values)
    return form


def test_an_untouched_field_passes_nothing():
    form = _form()
    assert form.cli_args() == [
        "--preset", "smoke", "--stages", "01_offline_perf,03_server_perf,99_run_summary", "--set", "backend=sim",
    ]
    assert form.check() is None
    form = _form(samples="4", sim_tpot_ms="1")
    assert form.sets() == ["backend=sim", "samples=4", "sim_tpot_ms=1"]
    # the DeepSeek-R1 smoke stages take 5 samples (one per dataset kind)
    assert form.fields["samples"].placeholder == "empty = preset: 4 (some stages differ)"


def test_scenario_settings_can_target_one_stage():
    form = _form(target_qps="20")
    form.scope.value = "03_server_perf"
    assert "03_server_perf.target_qps=20" in form.sets()
    assert form.fields["target_qps"].placeholder == "empty = preset: 0.2"
    assert form.check() is None


@pytest.mark.parametrize(
    "values, scope",
    [({"samples": "0"}, None), ({"samples": "many"}, None), ({"target_qps": "-1"}, "03_server_perf"),
     ({"model_key": "llama2"}, None), ({"dataset": "no/such/file.json"}, None)],
)
def test_bad_values_are_refused_with_the_cli_message(values, scope):
    form = _form(**values)
    if scope:
        form.scope.value = scope
    message = form.check()
    assert message and message.startswith("error: ")
    result = CliRunner().invoke(main, ["run", *form.cli_args()])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == message


def test_no_stage_is_refused():
    form = _form()
    for box in form.stage_boxes.values():
        box.value = False
    assert form.check() == "error: --stages: choose at least one stage"


def test_launcher_disables_run_on_bad_input(tmp_path):
    from mlnb.ui.launcher import Launcher

    launcher = Launcher(tmp_path / "outputs")
    assert launcher.run_button.disabled is False
    launcher.form.set_values(samples="0")
    assert launcher.run_button.disabled is True
    note = launcher.form.notes["samples"]  # beside the field it concerns, not under the form
    assert "greater than or equal to 1" in note.value and "mlnb-error" in note._dom_classes
    assert launcher.error.value == ""
    launcher.form.set_values(samples="")
    assert launcher.run_button.disabled is False and launcher.error.value == "" and note.value == ""
    assert "mlnb-error" not in note._dom_classes


@pytest.mark.parametrize("values, field", [({"samples": "0"}, "samples"), ({"model_key": "llama2"}, "model_key"),
                                           ({"dataset": "no/such/file.json"}, "dataset")])
def test_errors_sit_beside_their_field(tmp_path, values, field):
    from mlnb.ui.launcher import Launcher

    launcher = Launcher(tmp_path / "outputs")
    launcher.form.set_values(backend="sim", **values)
    assert launcher.form.check_problem().field == field
    assert "mlnb-error" in launcher.form.notes[field]._dom_classes and launcher.error.value == ""
    assert all(note.value == "" for name, note in launcher.form.notes.items() if name != field)


def test_switching_the_backend_shows_no_error_before_anything_is_typed(tmp_path):
    from mlnb.ui.launcher import Launcher

    launcher = Launcher(tmp_path / "outputs")
    launcher.form.set_values(backend="openai")  # needs base_url, which the smoke preset does not have
    note = launcher.form.notes["base_url"]
    assert note.value.startswith('<span') and "needed: " in note.value and "base_url" in note.value
    assert "mlnb-error" not in note._dom_classes and launcher.error.value == ""
    assert all("mlnb-error" not in n._dom_classes for n in launcher.form.notes.values())
    assert launcher.run_button.disabled is True  # it cannot run yet; nothing is marked wrong
    launcher.form.set_values(base_url="not a url")  # typed: now it is an error, beside the field
    assert "mlnb-error" in note._dom_classes and "expected http" in note.value
    launcher.form.set_values(backend="sim", base_url="")
    assert note.value == "" and launcher.run_button.disabled is False


def test_outputs_dir_from_a_workspaces_notebooks_folder_is_the_workspaces(monkeypatch, tmp_path):
    from mlnb.ui.launcher import resolve_outputs_dir
    from mlnb.workspace_init import init_workspace

    init_workspace(tmp_path / "ws")
    monkeypatch.chdir(tmp_path / "ws" / "notebooks")  # where JupyterLab starts the launcher's kernel
    assert resolve_outputs_dir("outputs") == tmp_path / "ws" / "outputs"  # never notebooks/outputs
    monkeypatch.chdir(tmp_path)
    assert resolve_outputs_dir("outputs") == tmp_path / "outputs"


# ---------------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------------


def _code(notebook: Path) -> str:
    data = json.loads(notebook.read_text())
    return "\n".join("".join(c["source"]) for c in data["cells"] if c["cell_type"] == "code")


def test_pipeline_notebooks_stay_free_of_widgets():
    """Widget code in a stage notebook only in cells tagged skip-execution (papermill skips them)."""
    for name in STAGES.names():
        data = json.loads((NOTEBOOKS_DIR / STAGES.get(name).notebook).read_text())
        for cell in data["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and ("ipywidgets" in source or "mlnb.ui" in source):
                assert "skip-execution" in cell["metadata"].get("tags", []), (name, source)


def test_the_stage_code_path_imports_no_widgets():
    """What a stage notebook imports (mlnb.notebook and the stage runner) pulls in neither ipywidgets nor mlnb.ui."""
    import subprocess
    import sys

    probe = (
        "import sys, mlnb.notebook, mlnb.stages.loadgen_stage, mlnb.pipeline, mlnb.report.run_index; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ipywidgets' or m.startswith('mlnb.ui')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_ui_notebooks_are_not_stages_and_make_one_call():
    stage_notebooks = {STAGES.get(n).notebook for n in STAGES.names()}
    for name, call in (("00_launcher.ipynb", "launcher("), ("runs_browser.ipynb", "runs_browser(")):
        assert name not in stage_notebooks
        code = _code(NOTEBOOKS_DIR / name)
        assert code.count("from mlnb.ui.") == 1 and call in code


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------


def test_harness_lines_are_parsed():
    start = StageProgress("01_offline_perf", state="running")
    p = parse_harness_line(HARNESS_PROGRESS, start)
    assert (p.issued, p.completed, p.tokens, p.tokens_per_s, p.elapsed_s) == (8, 3, 384, 96.0, 4.0)
    done = parse_harness_line(HARNESS_FINISHED, p)
    assert (done.issued, done.completed, done.tokens, done.tokens_per_s, done.elapsed_s) == (8, 8, 1024, 128.0, 8.0)
    assert parse_harness_line("loaded sim in 0.0s; 8 samples", start) is None
    assert "3/8 queries" in p.describe() and "96.0 tok/s" in p.describe()


def test_cli_lines_are_parsed():
    assert parse_cli_line("run: /x/outputs/r1\n").path == "/x/outputs/r1"
    assert parse_cli_line("[01_offline_perf] running ...").kind == "start"
    line = format_progress_line(parse_harness_line(HARNESS_PROGRESS, StageProgress("01_offline_perf")))
    event = parse_cli_line(line)
    assert event.kind == "progress" and event.stage == "01_offline_perf" and event.progress.completed == 3
    end = parse_cli_line("[03_server_perf] interrupted in 7s: stopped; logs kept in x")
    assert (end.kind, end.stage, end.status) == ("end", "03_server_perf", "interrupted")
    assert parse_cli_line("[01_offline_perf] finished in 9s: VALID (simulated), 3.0 tokens/s").text.startswith("VALID")
    assert parse_cli_line("report: /x/index.html").kind == "report"
    assert parse_cli_line("some other line") is None


def test_log_tail_returns_only_complete_lines(tmp_path):
    log = tmp_path / "harness.log"
    tail = HarnessLogTail(log)
    assert tail.read_lines() == []
    log.write_text("one\ntw")
    assert tail.read_lines() == ["one"]
    with open(log, "a") as handle:
        handle.write("o\nthree\n")
    assert tail.read_lines() == ["two", "three"]
    assert tail.read_lines() == []


def _drive(reporter: PipelineProgress, stage_dir: Path) -> None:
    reporter.start(stage_dir.parent, ["01_offline_perf", "99_run_summary"])
    reporter.stage_started("01_offline_perf", stage_dir)
    stage_dir.mkdir()
    (stage_dir / "harness.log").write_text("loaded sim\n" + HARNESS_PROGRESS + "\n")
    reporter.poll()
    with open(stage_dir / "harness.log", "a") as handle:
        handle.write(HARNESS_FINISHED + "\n")
    reporter.stage_finished("01_offline_perf", "finished")
    reporter.stage_started("99_run_summary", stage_dir.parent / "99_run_summary")
    reporter.stage_finished("99_run_summary", "finished")
    reporter.close()


def test_progress_lines_are_machine_readable(tmp_path):
    printed: list[str] = []
    _drive(ProgressLines(printed.append, min_interval_s=0), tmp_path / "01_offline_perf")
    assert printed == [
        "[01_offline_perf] progress issued=8 completed=3 tokens=384 tok/s=96.0 elapsed=4.0s",
        "[01_offline_perf] progress issued=8 completed=8 tokens=1024 tok/s=128.0 elapsed=8.0s",
    ]
    assert all(parse_cli_line(line).kind == "progress" for line in printed)


def test_rich_bars_show_queries_and_tokens_per_second(tmp_path):
    out = io.StringIO()
    _drive(RichBars(force_terminal=False, file=out), tmp_path / "01_offline_perf")
    text = out.getvalue()
    assert "01_offline_perf" in text and "8/8 queries" in text and "128.0 tok/s" in text and "finished" in text


def test_progress_is_off_when_not_a_terminal_unless_asked():
    not_a_tty = io.StringIO()
    assert make_progress(None, False, stream=not_a_tty) is None
    assert isinstance(make_progress(None, True, stream=not_a_tty), ProgressLines)
    assert isinstance(make_progress(True, False, stream=not_a_tty), RichBars)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(make_progress(None, False, stream=Tty()), RichBars)
    assert make_progress(False, False, stream=Tty()) is None


# ---------------------------------------------------------------------------------------------
# Runs browser and comparison (on hand-made run folders)
# ---------------------------------------------------------------------------------------------


def _make_run(outputs: Path, run_id: str, started: str, tps: float, ttft_p99: float) -> Path:
    run_dir = outputs / run_id
    run_dir.mkdir(parents=True)
    stages = ["01_offline_perf", "03_server_perf"]
    (run_dir / "run.json").write_text(json.dumps({
        "run_id": run_id, "preset": "smoke", "stages": stages, "started": started, "status": "finished",
    }))
    for stage, scenario in zip(stages, ("Offline", "Server")):
        (run_dir / stage).mkdir()
        summary = {
            "stage": stage, "status": "finished", "scenario": scenario, "mode": "performance", "backend": "sim",
            "model": "embedded", "simulated": True, "submittable": False, "model_key": "llama3_1-8b",
            "verdict": "VALID" if scenario == "Offline" else "INVALID",
            "metrics": {
                "tokens_per_second": tps, "samples_per_second": tps / 100, "query_count": 8,
                "ttft_ms": {"percentiles": {"50.0": ttft_p99 / 2, "90.0": ttft_p99 * 0.9, "99.0": ttft_p99}}
                if scenario == "Server" else None,
            },
        }
        (run_dir / stage / "summary.json").write_text(json.dumps(summary))
        rows = [{"issued_ms": 10.0 * i, "first_token_ms": 10.0 * i + 5 + i, "done_ms": 10.0 * i + 50 + i,
                 "output_tokens": 10, "prompt_tokens": 40} for i in range(8)]
        (run_dir / stage / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


@pytest.fixture
def outputs(tmp_path):
    out = tmp_path / "outputs"
    _make_run(out, "run-a", "2026-01-01T10:00:00+0000", 100.0, 40.0)
    _make_run(out, "run-b", "2026-01-02T10:00:00+0000", 150.0, 30.0)
    (out / "scratch" / "01_offline_perf").mkdir(parents=True)  # no run.json: not listed
    os.symlink("run-b", out / "latest")
    return out


def test_runs_are_listed_newest_first(outputs):
    runs = list_runs(outputs)
    assert [r["run_id"] for r in runs] == ["run-b", "run-a"]
    assert runs[0]["date"] == "2026-01-02 10:00" and runs[0]["backend"] == "sim" and runs[0]["simulated"]
    assert [s["verdict"] for s in runs[0]["stages"]] == ["VALID", "INVALID"]
    html = runs_table_html(runs)
    assert "run-a" in html and "SIMULATED" in html and "INVALID" in html


def test_an_interrupted_run_is_shown_as_interrupted(outputs):
    """run.json's stage_status marks a stopped stage; the list and the index page both say INTERRUPTED."""
    from mlnb.report.run_index import index_html

    run_dir = outputs / "run-c"
    (run_dir / "01_offline_perf").mkdir(parents=True)
    (run_dir / "01_offline_perf" / "stage.log").write_text("started\n")
    (run_dir / "01_offline_perf" / "params.json").write_text("{}")
    (run_dir / "run.json").write_text(json.dumps({
        "run_id": "run-c", "preset": "smoke", "stages": ["01_offline_perf", "99_run_summary"],
        "started": "2026-01-03T10:00:00+0000", "status": "interrupted",
        "stage_status": {"01_offline_perf": "interrupted"},
    }))
    run = list_runs(outputs)[0]
    assert run["status"] == "interrupted"
    assert [s["status"] for s in run["stages"]] == ["interrupted", "not run"]
    listed = runs_table_html([run])
    assert listed.count(">INTERRUPTED<") == 2 and ">NOT RUN<" not in listed  # run status and stage 01
    page = index_html(run_dir)
    assert ">INTERRUPTED<" in page and ">INCOMPLETE<" not in page and "Stopped on request" in page


def test_runs_are_compared_side_by_side(outputs):
    comparison = compare_runs([outputs / "run-a", outputs / "run-b"])
    rows = {(r["stage"], r["metric"]): r for r in comparison["rows"]}
    assert rows[("01_offline_perf", "verdict")]["values"] == ["VALID", "VALID"]
    tps = rows[("01_offline_perf", "tokens_per_second")]
    assert tps["values"] == [100.0, 150.0] and tps["change_pct"] == [None, pytest.approx(50.0)]
    assert rows[("03_server_perf", "ttft_p99_ms")]["change_pct"][1] == pytest.approx(-25.0)
    assert ("01_offline_perf", "rouge1") not in rows  # no run has it
    html = comparison_html(comparison)
    assert "run-a" in html and "run-b" in html and "+50.0%" in html and "-25.0%" in html
    assert comparison_figure(comparison).axes


def test_stages_are_replotted_from_saved_data(outputs):
    from mlnb.ui.runs_browser import plot_stage, plottable_stages

    assert plottable_stages(outputs / "run-a") == ["01_offline_perf", "03_server_perf"]
    png, facts = plot_stage(outputs / "run-a", "03_server_perf", "ttft", 90.0)
    assert png.startswith(b"\x89PNG")
    assert "p90 from the SUT" in facts and "p90 reported by LoadGen" in facts and "36.00" in facts
    png, facts = plot_stage(outputs / "run-a", "01_offline_perf", "throughput", 99.0)
    assert png.startswith(b"\x89PNG") and "8 queries" in facts


def test_runs_browser_widget(outputs):
    from mlnb.ui.runs_browser import RunsBrowser

    browser = RunsBrowser(outputs)
    assert [value for _, value in browser.select.options] == [str(outputs / "run-b"), str(outputs / "run-a")]
    browser.compare()
    assert "Pick two or more" in browser.output.outputs[0]["data"]["text/html"]
    browser.select.value = tuple(value for _, value in browser.select.options)
    browser.compare()
    assert len(browser.output.outputs) == 1
    shown = browser.output.outputs[0]["data"]["text/html"]
    assert "run-a" in shown and "+50.0%" in shown  # oldest first: run-b against run-a
    assert shown.count('<img class="fig"') == 2 and shown.count("data:image/png;base64,") == 2  # tokens/s, TTFT p99
    browser.open_reports()
    assert len(browser.output.outputs) == 2
    browser.plot_stage.value = "03_server_perf"
    browser.plot_percentile.value = 50.0
    assert "p50 reported by LoadGen" in browser.plot_output.outputs[0]["data"]["text/html"]


class _FakeHarness:
    """Stands in for the harness process: prints its lines at once, then exits 0."""

    def __init__(self, lines):
        self.stdout = iter(lines)
        self.returncode = None

    def wait(self, timeout=None):
        self.returncode = 0
        return 0

    def poll(self):
        return self.returncode


def test_stage_notebooks_get_throttled_progress(tmp_path, monkeypatch, capsys):
    """Under papermill the stage prints at most one progress line per PRINT_PROGRESS_EVERY_S; harness.log keeps all."""
    from mlnb.stages import child_process, loadgen_stage

    lines = ["loaded sim in 0.0s; 8 samples from cnn_eval.json\n"]
    lines += [f"progress issued=8 completed={i % 8} tokens={i} tok/s=1.0 elapsed={i}.0s\n" for i in range(200)]
    lines += ["finished: 8 queries, 200 tokens in 200.0s, 0 SUT errors\n"]
    monkeypatch.setattr(child_process.subprocess, "Popen", lambda *a, **k: _FakeHarness(lines))
    params = StageParams(run_dir=str(tmp_path), stage="01_offline_perf", backend="sim")
    loadgen_stage.run_harness_subprocess(params, tmp_path / "01_offline_perf")
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in printed if line.startswith("progress ")] == [lines[1].strip()]  # the rest within 15 s
    assert printed[0].startswith("loaded sim") and printed[-1].startswith("finished: 8 queries")
    logged = (tmp_path / "01_offline_perf" / "harness.log").read_text().splitlines()
    assert len(logged) == len(lines)


def test_an_interrupted_stage_stops_its_harness(tmp_path, monkeypatch):
    """KeyboardInterrupt in the stage cell (Jupyter's interrupt) terminates the harness and says so in harness.log."""
    from mlnb.stages import child_process, loadgen_stage

    stopped = []

    class Interrupted(_FakeHarness):
        def __init__(self):
            super().__init__([])
            self.stdout = self._lines()

        def _lines(self):
            yield "progress issued=8 completed=1 tokens=10 tok/s=1.0 elapsed=2.0s\n"
            raise KeyboardInterrupt

        def terminate(self):
            stopped.append("terminate")
            self.returncode = -15

    monkeypatch.setattr(child_process.subprocess, "Popen", lambda *a, **k: Interrupted())
    params = StageParams(run_dir=str(tmp_path), stage="01_offline_perf", backend="sim")
    with pytest.raises(KeyboardInterrupt):
        loadgen_stage.run_harness_subprocess(params, tmp_path / "01_offline_perf")
    assert stopped == ["terminate"]
    log = (tmp_path / "01_offline_perf" / "harness.log").read_text()
    assert log.splitlines() == ["progress issued=8 completed=1 tokens=10 tok/s=1.0 elapsed=2.0s",
                                "interrupted: the harness was stopped"]


def test_a_server_bar_is_not_full_while_queries_keep_coming(tmp_path):
    from mlnb.ui.launcher import _StageBar
    import ipywidgets as w

    caught_up = parse_cli_line("[03_server_perf] progress issued=5 completed=5 tokens=500 tok/s=50.0 elapsed=5.0s").progress
    assert caught_up.total == 0 and caught_up.bar() == (5, 6)  # total unknown yet: more may come
    assert "5/5 queries issued so far" in caught_up.describe()
    known = parse_cli_line("[03_server_perf] progress issued=5 completed=5 tokens=500 tok/s=50.0 elapsed=5.0s total=36").progress
    assert known.bar() == (5, 36) and known.describe().startswith("5/36 queries")
    assert format_progress_line(known).endswith(" total=36")
    bar = _StageBar(w, "03_server_perf")
    bar.show(known)
    assert (bar.bar.value, bar.bar.max) == (5, 36)
    bar.finish("finished", "INVALID (simulated)")
    assert bar.bar.value == bar.bar.max == 36


def test_loadgen_generated_count_from_its_detail_log(tmp_path):
    from mlnb.harness.generated import generated_samples

    log = tmp_path / "mlperf_log_detail.txt"
    assert generated_samples(tmp_path) is None
    log.write_text(':::MLLOG {"key": "effective_target_qps", "value": 4, "time_ms": 0.1}\n'
                   ':::MLLOG {"key": "generated_query_count", "value": 36, "time_ms": 0.1}\n')
    assert generated_samples(tmp_path) is None  # samples per query not written yet
    with open(log, "a") as handle:
        handle.write(':::MLLOG {"key": "generated_samples_per_query", "value": 1, "time_ms": 0.1}\n:::MLLOG {"key": "gener')
    assert generated_samples(tmp_path) == 36
