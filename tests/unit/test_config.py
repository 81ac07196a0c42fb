import json
from pathlib import Path

import pytest

from mlnb.config import StageParams, load_preset, parse_set_option, resolve_stage_params
from mlnb.errors import InputError
from mlnb.paths import NOTEBOOKS_DIR, PRESETS_DIR
from mlnb.stages.registry import STAGES


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_merge_order_defaults_common_stage_cli(tmp_path):
    preset = load_preset(
        write(
            tmp_path,
            "stages: [03_server_perf]\ncommon: {samples: 4, target_qps: 1.0}\n"
            "per_stage:\n  03_server_perf: {target_qps: 2.0, batch_size: 3}\n",
        )
    )
    spec = STAGES.get("03_server_perf")
    params = resolve_stage_params(preset, "03_server_perf", spec.defaults, [(None, "batch_size", 5)], "p.yaml")
    assert params.scenario == "Server"  # from the stage spec
    assert params.samples == 4  # common
    assert params.target_qps == 2.0  # per_stage beats common
    assert params.batch_size == 5  # CLI beats per_stage
    other = resolve_stage_params(preset, "03_server_perf", spec.defaults, [("01_offline_perf", "batch_size", 9)], "p")
    assert other.batch_size == 3  # an override aimed at another stage does not apply


@pytest.mark.parametrize(
    "text, where",
    [
        ("stages: [01_offline_perf]\ncommon: {sampels: 4}\n", "common.sampels"),
        ("stages: [01_offline_perf]\nper_stage:\n  01_offline_perf: {qps: 1}\n", "per_stage.01_offline_perf.qps"),
        ("stages: [01_offline_perf]\nextra: 1\n", "extra"),
        ("stages: [01_offline_perf]\nper_stage:\n  03_server_perf: {}\n", "per_stage.03_server_perf"),
    ],
)
def test_unknown_keys_are_errors_naming_file_and_field(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_preset(path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_bad_values_name_the_field_and_value(tmp_path):
    preset = load_preset(write(tmp_path, "stages: [01_offline_perf]\ncommon: {samples: -3}\n"))
    with pytest.raises(InputError, match=r"samples.*-3"):
        resolve_stage_params(preset, "01_offline_perf", {}, [], "p.yaml")
    with pytest.raises(InputError, match="model_key"):
        StageParams.from_namespace({"model_key": "llama2-70b"})


def test_set_option_parsing():
    assert parse_set_option("samples=8") == (None, "samples", 8)
    assert parse_set_option("03_server_perf.target_qps=0.5") == ("03_server_perf", "target_qps", 0.5)
    assert parse_set_option("user_conf=null") == (None, "user_conf", None)
    with pytest.raises(InputError, match="unknown key 'qps'"):
        parse_set_option("qps=1")
    with pytest.raises(InputError, match="key=value"):
        parse_set_option("samples")


def test_shipped_presets_load_and_resolve():
    for path in PRESETS_DIR.glob("*.yaml"):
        preset = load_preset(path)
        for stage in preset.stages:
            spec = STAGES.get(stage)
            if spec.kind in ("loadgen", "lmeval"):
                resolve_stage_params(preset, stage, spec.defaults, [], str(path))


def _parameters_cell(notebook: Path) -> dict:
    import papermill as pm

    return pm.inspect_notebook(str(notebook))


@pytest.mark.parametrize("name", STAGES.names())
def test_notebooks_match_the_parameter_model(name):
    spec = STAGES.get(name)
    notebook = NOTEBOOKS_DIR / spec.notebook
    found = _parameters_cell(notebook)
    if spec.kind == "loadgen":
        # The parameters cell mirrors StageParams exactly, so papermill -p and presets agree.
        assert set(found) == set(StageParams.model_fields)
        for key, value in spec.defaults.items():
            assert found[key]["default"].strip("'\"") == value
        assert found["stage"]["default"].strip("'\"") == name
    elif spec.kind == "lmeval":
        assert set(found) == set(StageParams.model_fields)  # papermill then passes no unknown parameter
        for key, value in spec.defaults.items():
            assert found[key]["default"] == repr(value)
        assert found["stage"]["default"].strip("'\"") == name
    else:
        assert set(found) == {"run_dir"}


def test_notebooks_are_thin_and_stripped():
    for notebook in NOTEBOOKS_DIR.glob("*.ipynb"):
        data = json.loads(notebook.read_text())
        assert data["metadata"]["kernelspec"]["name"] == "python3"
        tags = [cell.get("metadata", {}).get("tags", []) for cell in data["cells"]]
        assert sum("parameters" in t for t in tags) == 1, notebook
        for cell in data["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            assert not cell.get("outputs") and cell.get("execution_count") is None, notebook
            assert "def " not in source and "class " not in source and "sys.path" not in source, notebook
