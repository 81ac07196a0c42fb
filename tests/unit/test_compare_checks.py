"""Comparability checks and the run-folder checks that come before any comparison."""

import json
from pathlib import Path

import pytest

from mlnb.compare.comparability import check_comparable, differences
from mlnb.compare.loading import RunData, StageData, load_run, load_runs
from mlnb.errors import InputError


def _summary(stage="03_server_perf", **changes):
    summary = {
        "schema_version": 1, "stage": stage, "status": "finished", "scenario": "Server", "mode": "performance",
        "model_key": "llama3_1-8b", "backend": "sim", "simulated": True, "model": "embedded",
        "dataset": {"path": "embedded:cnn_eval.json", "records_in_file": 64, "samples_used": 16, "retokenized": False},
        "params": {"model": "embedded", "backend": "sim", "target_qps": 50.0, "max_new_tokens": 32, "batch_size": 8,
                   "sim_tpot_ms": 1.0, "samples": 16},
        "loadgen": {"settings": {"target_qps": 50.0, "min_duration_ms": 10000}},
        "metrics": {"query_count": 500},
        "engine": {"engine": "mlnb deterministic simulator", "timing_model": {"tpot_ms": 1.0}},
        "environment": {"python": "3.11.2", "packages": {"mlcommons-loadgen": "6.0.17"}},
    }
    for path, value in changes.items():
        target = summary
        *parents, leaf = path.split("__")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return summary


def _run(name, *summaries):
    return RunData(name, Path("/nowhere") / name, {"run_id": name},
                   {s["stage"]: StageData(s["stage"], Path("/nowhere"), s) for s in summaries})


def test_identical_runs_have_no_differences():
    a, b = _run("a", _summary()), _run("b", _summary())
    stages, diffs = check_comparable([a, b])
    assert stages == ["03_server_perf"] and diffs == []


def test_every_setting_that_differs_is_listed():
    a = _run("a", _summary())
    b = _run("b", _summary(params__target_qps=20.0, params__batch_size=16,
                           environment__packages={"mlcommons-loadgen": "6.0.18"}, dataset__samples_used=32))
    keys = {d.key: d for d in differences([a, b])}
    assert keys["params.target_qps"].values == [50.0, 20.0] and keys["params.target_qps"].category == "load"
    assert keys["params.batch_size"].category == "engine"
    assert keys["versions.mlcommons-loadgen"].values == ["6.0.17", "6.0.18"]
    assert keys["dataset.samples_used"].category == "dataset"
    assert not any(d.blocking for d in keys.values())


def test_engine_measurements_are_not_settings_but_offline_sample_counts_are():
    static = {"batch_sizes": [256], "step": "compiled + CUDA graphs", "decode_seconds": 6.6, "compile_seconds": 57.5}
    a = _run("a", _summary(engine={"engine": "transformers 5.17.0", "load_seconds": 1.2, "static_decode": static},
                           metrics={"query_count": 1, "samples_per_query": 384}))
    b = _run("b", _summary(engine={"engine": "transformers 5.17.0", "load_seconds": 3.4,
                                   "static_decode": {**static, "decode_seconds": 15.3, "compile_seconds": 104.6,
                                                     "batch_sizes": [128]}},
                           metrics={"query_count": 1, "samples_per_query": 768}))
    keys = {d.key: d for d in differences([a, b])}
    assert keys["loadgen.samples_per_query"].values == [384, 768] and keys["loadgen.samples_per_query"].category == "load"
    assert keys["engine.static_decode.batch_sizes"].values == ["256", "128"]  # a setting: listed
    assert not {"engine.load_seconds", "engine.static_decode.decode_seconds", "engine.static_decode.compile_seconds"} & set(keys)


def test_the_same_difference_in_every_stage_is_folded():
    a = _run("a", _summary("01_offline_perf"), _summary())
    b = _run("b", _summary("01_offline_perf", params__sim_tpot_ms=3.0), _summary(params__sim_tpot_ms=3.0))
    diffs = [d for d in differences([a, b]) if d.key == "params.sim_tpot_ms"]
    assert len(diffs) == 1 and diffs[0].stage == "all stages"
    c = _run("c", _summary("01_offline_perf"), _summary(params__sim_tpot_ms=3.0))
    diffs = [d for d in differences([a, c]) if d.key == "params.sim_tpot_ms"]
    assert [d.stage for d in diffs] == ["03_server_perf"]


def test_different_models_are_refused_unless_forced():
    a = _run("a", _summary())
    b = _run("b", _summary(model="meta-llama/Llama-3.1-8B-Instruct"))
    with pytest.raises(InputError, match="different model.*'embedded' vs 'meta-llama/Llama-3.1-8B-Instruct'.*--force"):
        check_comparable([a, b])
    _, diffs = check_comparable([a, b], force=True)
    assert diffs[0].key == "model" and diffs[0].blocking


def test_runs_without_a_common_stage_are_refused():
    with pytest.raises(InputError, match="no stage in common"):
        check_comparable([_run("a", _summary("01_offline_perf")), _run("b", _summary())])


def _write_run(folder, *summaries, run_json=True):
    folder.mkdir(parents=True)
    if run_json:
        (folder / "run.json").write_text(json.dumps({"run_id": folder.name, "stages": [s["stage"] for s in summaries],
                                                     "started": folder.name}))
    for s in summaries:
        (folder / s["stage"]).mkdir()
        (folder / s["stage"] / "summary.json").write_text(json.dumps(s))
    return folder


def test_run_folder_checks(tmp_path):
    good = _write_run(tmp_path / "good", _summary())
    assert list(load_run(good).stages) == ["03_server_perf"]
    with pytest.raises(InputError, match=r"nope: no such folder"):
        load_run(tmp_path / "nope")
    with pytest.raises(InputError, match=r"norun/run.json: missing"):
        load_run(_write_run(tmp_path / "norun", _summary(), run_json=False))
    old = _write_run(tmp_path / "old", _summary(schema_version=0))
    with pytest.raises(InputError, match=r"old/03_server_perf/summary.json field 'schema_version': 0: an older summary schema"):
        load_run(old)
    future = _write_run(tmp_path / "future", _summary(schema_version=7))
    with pytest.raises(InputError, match=r"7: an unknown summary schema"):
        load_run(future)
    partial = _write_run(tmp_path / "partial", _summary())
    run = json.loads((partial / "run.json").read_text())
    (partial / "run.json").write_text(json.dumps({**run, "stages": run["stages"] + ["05_singlestream_perf"]}))
    with pytest.raises(InputError, match=r"partial/05_singlestream_perf/summary.json: missing: the stage did not run"):
        load_run(partial)
    failed = _write_run(tmp_path / "failed", _summary(status="failed"))
    with pytest.raises(InputError, match=r"field 'status'"):
        load_run(failed)


def test_the_same_run_twice_is_refused(tmp_path):
    good = _write_run(tmp_path / "good", _summary())
    with pytest.raises(InputError, match="is the same run as"):
        load_runs([good, tmp_path / "." / "good"])
    (tmp_path / "link").symlink_to(good)
    with pytest.raises(InputError, match="is the same run as"):
        load_runs([good, tmp_path / "link"])
    import shutil

    shutil.copytree(good, tmp_path / "copy")
    with pytest.raises(InputError, match="is a copy of"):
        load_runs([good, tmp_path / "copy"])
    with pytest.raises(InputError, match="needs two or more runs"):
        load_runs([good])


def _accuracy_stage(folder, scores):
    from mlnb.compare.loading import StageData

    folder.mkdir(parents=True)
    lines = [json.dumps({"qsl_idx": i, "rouge1": r1, "rougeL": r1 * 0.7, "prediction": "", "n_tokens": 9})
             for i, r1 in enumerate(scores)]
    (folder / "accuracy_samples.jsonl").write_text("\n".join(lines) + "\n")
    return StageData("02_offline_accuracy", folder, {"mode": "accuracy"})


def test_accuracy_stages_compare_per_sample_rouge_in_pairs(tmp_path):
    import numpy as np

    from mlnb.compare.build import stage_differences

    rng = np.random.default_rng(5)
    base = rng.uniform(20, 60, 40)
    a = _accuracy_stage(tmp_path / "a", base)
    worse = _accuracy_stage(tmp_path / "b", base - 3 + rng.normal(0, 0.5, 40))
    same = _accuracy_stage(tmp_path / "c", base + rng.normal(0, 0.05, 40))
    diffs = {d["metric"]: d for d in stage_differences(a, worse, resamples=500)}
    assert diffs["rouge1"]["verdict"] == "regression" and "paired" in diffs["rouge1"]["method"]
    assert diffs["rougeL"]["verdict"] == "regression"
    assert {d["verdict"] for d in stage_differences(a, same, resamples=500)} == {"inconclusive"}
