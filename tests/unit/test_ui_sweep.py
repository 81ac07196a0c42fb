"""The launcher's sweep section: its `mlnb sweep` arguments, its checks beside each field, its result link."""

from __future__ import annotations

import json
import os

import pytest

from mlnb.cli import main
from mlnb.ui.sweep_form import SweepChoices, check_sweep, sweep_cli_args, sweep_links_html

SIM = ("backend=sim", "samples=16")


def _parsed(args: list[str]) -> dict:
    """What `mlnb sweep` makes of the arguments (click's own parser; nothing runs)."""
    context = main.commands["sweep"].make_context("sweep", list(args))
    return context.params


def test_search_passes_only_the_search_options():
    choices = SweepChoices("smoke", "search", SIM, stage="03_server_perf", start_qps=" 4 ", tolerance="0.1",
                           rates="1,2", repeats="3", slo_ttft="500ms", confirm=True)
    args = sweep_cli_args(choices)
    assert args[:4] == ["--preset", "smoke", "--stage", "03_server_perf"]
    assert "--rates" not in args and "--repeats" not in args  # typed for another kind: not passed
    params = _parsed(args)
    assert params["search"] and params["confirm"] and params["start_qps"] == 4.0 and params["tolerance"] == 0.1
    assert params["sets"] == SIM and params["slos"] == ("ttft=500ms",) and params["rates"] is None


def test_ladders_pass_their_list_and_repeats():
    params = _parsed(sweep_cli_args(SweepChoices("smoke", "rates", SIM, rates="1,2,4", repeats="2", start_qps="9",
                                                 slo_tpot="50ms", trial_duration_ms="1500", curve_only=True)))
    assert params["rates"] == "1,2,4" and params["repeats"] == 2 and not params["search"]
    assert params["start_qps"] is None and params["stage"] is None  # empty stage: the CLI's default for the kind
    assert params["slos"] == ("tpot=50ms",) and params["trial_duration_ms"] == 1500 and params["no_sizing"]
    params = _parsed(sweep_cli_args(SweepChoices("smoke", "concurrency", ("backend=openai",), concurrency="1,4")))
    assert params["concurrency"] == "1,4" and params["rates"] is None and params["repeats"] == 1
    with pytest.raises(ValueError):
        sweep_cli_args(SweepChoices("smoke", "bisect"))


@pytest.mark.parametrize(
    "changes, field, text",
    [
        ({"kind": "rates", "rates": "2,1"}, "rates", "1 follows 2"),
        ({"kind": "rates", "rates": "1,x"}, "rates", "every rate must be a number"),
        ({"kind": "rates", "rates": "1,2", "repeats": "0"}, "repeats", "at least 1"),
        ({"kind": "rates", "rates": "1,2", "repeats": "two"}, "repeats", "must be a whole number"),
        ({"tolerance": "0"}, "tolerance", "between 0 and 1"),
        ({"tolerance": "abc"}, "tolerance", "must be a number"),
        ({"start_qps": "-1"}, "start_qps", "greater than 0"),
        ({"slo_ttft": "500"}, "slo_ttft", "unit ms or s"),
        ({"slo_tpot": "5 tokens"}, "slo_tpot", "unit ms or s"),
        ({"kind": "concurrency", "concurrency": "0"}, "concurrency", "at least 1"),
        ({"kind": "concurrency", "concurrency": "1,2"}, "concurrency", "needs the openai backend"),
        ({"stage": "99_run_summary"}, "stage", "not a LoadGen stage"),
        ({"stage": "01_offline_perf"}, "stage", "needs Server or Interactive"),
        ({"trial_duration_ms": "1.5"}, "trial_duration_ms", "whole number"),
    ],
)
def test_a_bad_value_is_refused_beside_its_field(changes, field, text):
    values = {"preset": "smoke", "kind": "search", "sets": SIM, **changes}
    problem = check_sweep(SweepChoices(**values))
    assert problem is not None and problem.field == field and not problem.needed
    assert text in problem.text and problem.text.startswith("error: ")


def test_good_choices_pass_and_an_empty_list_is_only_needed():
    assert check_sweep(SweepChoices("smoke", "search", SIM)) is None
    assert check_sweep(SweepChoices("smoke", "rates", SIM, rates="geom:1:16:5", repeats="2", slo_ttft="0.5s")) is None
    needed = check_sweep(SweepChoices("smoke", "rates", SIM))
    assert needed is not None and needed.field == "rates" and needed.needed
    general = check_sweep(SweepChoices("smoke", "search", ("no_such_parameter=1",)))
    assert general is not None and general.field is None and "no_such_parameter" in general.text


def test_the_section_follows_the_run_form_and_shows_problems_beside_fields(tmp_path, monkeypatch):
    from mlnb.ui.launcher import Launcher

    monkeypatch.chdir(tmp_path)
    launcher = Launcher("outputs")
    section = launcher.sweep
    launcher.form.fields["backend"].value = "sim"
    launcher.form.set_values(samples="16")
    assert ("backend=sim" in section.choices().sets) and ("samples=16" in section.choices().sets)
    assert section.refresh() is None and not section.start_button.disabled
    assert section.rows["start_qps"] in section.kind_box.children
    section.set_values(kind="rates")
    assert section.rows["rates"] in section.kind_box.children and section.rows["start_qps"] not in section.kind_box.children
    assert "needed" in section.notes["rates"].value and section.start_button.disabled
    section.set_values(rates="4,2")
    note = section.notes["rates"]
    assert "4 follows" not in note.value and "2 follows 4" in note.value and "mlnb-error" in note._dom_classes
    assert section.start() is None  # refused: nothing started
    section.set_values(rates="2,4", slo_ttft="300")
    assert section.notes["rates"].value == "" and "unit ms or s" in section.notes["slo_ttft"].value
    section.set_values(slo_ttft="300ms")
    assert section.refresh() is None and all(note.value == "" for note in section.notes.values())
    launcher.form.set_values(samples="-3")  # a bad parameter in the run form: the sweep cannot start either
    assert section.start_button.disabled and "samples" in section.error.value
    assert not (tmp_path / "outputs").exists()


def test_the_result_links_the_page_relative_to_the_notebook(tmp_path):
    sweep_dir = tmp_path / "outputs" / "20260101_sweep_smoke"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text(json.dumps({"status": "interrupted"}))
    notebook_dir = tmp_path / "notebooks"
    notebook_dir.mkdir()
    text = sweep_links_html(sweep_dir, base=notebook_dir, exit_code=130, summary=["1 LoadGen runs, 0.2 min"])
    assert "no page was written" in text and "INTERRUPTED" in text and "1 LoadGen runs" in text
    (sweep_dir / "sweep.html").write_text("<html></html>")
    text = sweep_links_html(sweep_dir, base=notebook_dir, exit_code=130)
    rel = os.path.relpath(sweep_dir / "sweep.html", notebook_dir)
    assert rel.startswith("..") and f'href="{rel}"' in text
    assert "<script" not in sweep_links_html(sweep_dir, base=notebook_dir, summary=["<script>x</script>"])
