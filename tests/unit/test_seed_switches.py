"""The Llama smoke scripts' switches: environment and flags, what they map to, bad values."""

import pytest

from mlnb.errors import InputError
from mlnb.seed_switches import read_seed_switches

PRESET = ["01_offline_perf", "02_offline_accuracy", "03_server_perf", "04_server_accuracy", "99_run_summary"]


def test_nothing_given_changes_nothing():
    found = read_seed_switches({})
    assert found.lines == [] and found.apply_to_stages(PRESET) == PRESET and not found.force_free_gpu


def test_environment_toggles_drop_and_add_stages_in_number_order():
    found = read_seed_switches({"RUN_PERF_SERVER": "0", "RUN_ACC_OFFLINE": "0", "RUN_MMLU_SMOKE": "1", "RUN_PERF_OFFLINE": "1"})
    assert found.apply_to_stages(PRESET) == ["01_offline_perf", "04_server_accuracy", "08_mmlu", "99_run_summary"]
    assert "RUN_PERF_SERVER=0 (environment) -> stage 03_server_perf off" in found.lines
    assert "RUN_MMLU_SMOKE=1 (environment) -> stage 08_mmlu on" in found.lines


def test_a_flag_wins_over_the_environment_and_says_so():
    found = read_seed_switches({"RUN_ACC_SERVER": "1"}, {"--server-acc": "0"})
    assert found.stage_on == {"04_server_accuracy": False}
    assert found.lines == ["--server-acc 0 (over RUN_ACC_SERVER=1 in the environment) -> stage 04_server_accuracy off"]


def test_samples_limit_and_force_free_gpu():
    found = read_seed_switches({"SMOKE_SAMPLES": "5", "MMLU_LIMIT": "20", "FORCE_FREE_GPU": "1"})
    assert (found.samples, found.mmlu_limit, found.force_free_gpu) == (5, 20, True)
    assert "SMOKE_SAMPLES=5 (environment) -> --samples 5" in found.lines
    assert "MMLU_LIMIT=20 (environment) -> --set 08_mmlu.mmlu_limit=20" in found.lines
    assert any(line.startswith("FORCE_FREE_GPU=1 (environment) -> stop leftover processes of ended mlnb runs") for line in found.lines)
    given = read_seed_switches({"SMOKE_SAMPLES": "5"}, samples=3)
    assert given.samples is None and given.lines == ["SMOKE_SAMPLES=5 (environment) -> ignored: --samples 3 given"]
    assert read_seed_switches({}, force_free_gpu=True).force_free_gpu


def test_empty_values_count_as_unset():
    assert read_seed_switches({"RUN_PERF_SERVER": "", "SMOKE_SAMPLES": " "}).lines == []


@pytest.mark.parametrize(
    "env, flags, where",
    [
        ({"RUN_PERF_SERVER": "yes"}, {}, "RUN_PERF_SERVER='yes' (environment): expected 0 or 1"),
        ({}, {"--mmlu": "2"}, "--mmlu '2': expected 0 or 1"),
        ({"SMOKE_SAMPLES": "five"}, {}, "SMOKE_SAMPLES='five' (environment): expected a whole number >= 1"),
        ({"MMLU_LIMIT": "0"}, {}, "MMLU_LIMIT='0' (environment): expected a whole number >= 1"),
        ({"FORCE_FREE_GPU": "true"}, {}, "FORCE_FREE_GPU='true' (environment): expected 0 or 1"),
    ],
)
def test_bad_values_name_the_switch(env, flags, where):
    with pytest.raises(InputError) as err:
        read_seed_switches(env, flags)
    assert str(err.value) == where


def test_bad_mmlu_limit_flag():
    with pytest.raises(InputError, match=r"--mmlu-limit '-1': expected a whole number"):
        read_seed_switches({}, mmlu_limit="-1")


def test_mmlu_limit_reaches_the_mmlu_stage_of_the_preset():
    from mlnb.cli import _apply_seed_switches

    found = read_seed_switches({"MMLU_LIMIT": "3", "RUN_PERF_SERVER": "0"})
    stages, sets = _apply_seed_switches(found, "smoke", None, ())
    assert "08_mmlu" in stages.split(",") and "03_server_perf" not in stages.split(",")
    assert sets == ("08_mmlu.mmlu_limit=3",)


def test_sweep_takes_samples_and_force_free_gpu_and_names_the_switches_it_cannot_apply():
    from mlnb.seed_switches import for_sweep

    env = {"SMOKE_SAMPLES": "6", "RUN_PERF_SERVER": "0", "MMLU_LIMIT": "3", "FORCE_FREE_GPU": "1"}
    found = for_sweep(read_seed_switches(env), resuming=False)
    assert (found.samples, found.force_free_gpu, found.stage_on, found.mmlu_limit) == (6, True, {}, None)
    assert "SMOKE_SAMPLES=6 (environment) -> --samples 6" in found.lines
    assert "RUN_PERF_SERVER=0 (environment) -> ignored: a sweep runs only its --stage" in found.lines
    assert "MMLU_LIMIT=3 (environment) -> ignored: a sweep runs only its --stage" in found.lines
    resumed = for_sweep(read_seed_switches({"SMOKE_SAMPLES": "6"}), resuming=True)
    assert resumed.samples is None
    assert resumed.lines == ["SMOKE_SAMPLES=6 (environment) -> ignored: a resumed sweep keeps the samples it was started with"]


def test_mlnb_sweep_reads_the_switches_from_the_environment(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import mlnb.sweep.session as session
    from mlnb.cli import main

    seen = {}

    def stop_here(spec, outputs, sweep_id):  # the spec is all this test needs; no point runs
        seen["sets"] = spec.sets
        raise SystemExit(3)

    monkeypatch.setattr(session, "open_sweep", stop_here)
    args = ["sweep", "--search", "--backend", "sim", "--outputs", str(tmp_path)]
    result = CliRunner().invoke(main, args, env={"SMOKE_SAMPLES": "7"})
    assert result.exit_code == 3 and "samples=7" in seen["sets"]
    result = CliRunner().invoke(main, [*args, "--samples", "2"], env={"SMOKE_SAMPLES": "7"})
    assert result.exit_code == 3 and "samples=2" in seen["sets"] and "samples=7" not in seen["sets"]
    bad = CliRunner().invoke(main, args, env={"SMOKE_SAMPLES": "seven"})
    assert bad.exit_code == 2 and "SMOKE_SAMPLES='seven' (environment): expected a whole number >= 1" in bad.output
