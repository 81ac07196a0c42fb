"""Workspaces: detection, workspace-first lookup of presets and notebooks, `mlnb init`."""

from pathlib import Path

import pytest

from mlnb.errors import InputError
from mlnb.paths import check_preset, default_outputs_dir, notebook_path, preset_path
from mlnb.workspace import MARKER, describe_sources, find_notebook, find_preset, find_workspace, preset_names, shipped_dir
from mlnb.workspace_init import init_workspace


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch):
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLNB_OUTPUTS", raising=False)
    return folder


def test_a_plain_folder_is_no_workspace_and_uses_the_package(elsewhere):
    assert find_workspace() is None
    found = find_preset("smoke")
    assert found.path == shipped_dir("parameters") / "smoke.yaml" and found.origin.startswith("package")
    assert found.path.is_file() and find_notebook("01_offline_perf.ipynb").path.is_file()
    assert default_outputs_dir() == Path("outputs")  # ./outputs of this folder, nothing of the package's


def test_init_writes_a_workspace_found_from_inside_it(elsewhere, monkeypatch):
    result = init_workspace(elsewhere / "ws")
    ws = (elsewhere / "ws").absolute()
    assert (ws / MARKER).is_file() and (ws / "README.md").is_file() and (ws / "outputs").is_dir()
    assert {p.name for p in (ws / "parameters").glob("*.yaml")} == {p.name for p in shipped_dir("parameters").glob("*.yaml")}
    assert {p.name for p in (ws / "notebooks").glob("*.ipynb")} == {p.name for p in shipped_dir("notebooks").glob("*.ipynb")}
    assert len(result.written) >= 3 + len(list((ws / "notebooks").iterdir()))
    for inside in (ws, ws / "notebooks"):
        assert find_workspace(inside) == ws
    assert default_outputs_dir() == Path("outputs")
    monkeypatch.chdir(ws / "notebooks")  # a launcher kernel's folder: runs go to the workspace's outputs/
    assert default_outputs_dir() == ws / "outputs"
    assert preset_path("smoke") == ws / "parameters" / "smoke.yaml"
    assert notebook_path("03_server_perf.ipynb") == ws / "notebooks" / "03_server_perf.ipynb"


def test_workspace_preset_wins_and_a_missing_notebook_falls_back_to_the_package(elsewhere):
    (elsewhere / "parameters").mkdir()  # a hand-made workspace: the current folder holds parameters/
    (elsewhere / "parameters" / "mine.yaml").write_text("description: mine\nstages: [01_offline_perf]\n")
    (elsewhere / "parameters" / "smoke.yaml").write_text("description: edited\nstages: [01_offline_perf]\n")
    assert find_workspace() == elsewhere
    assert preset_names()["mine"] == "workspace" and preset_names()["smoke"] == "workspace"
    assert preset_names()["full"].startswith("package")
    check_preset("mine")
    nb = find_notebook("01_offline_perf.ipynb")
    assert nb.origin.startswith("package")
    lines = describe_sources(find_preset("smoke"), [nb])
    assert lines[0] == f"preset: {elsewhere / 'parameters' / 'smoke.yaml'} (workspace)"
    assert lines[1].startswith(f"notebooks: {shipped_dir('notebooks')} (package")


def test_a_parent_with_notebooks_is_not_adopted_without_the_marker(elsewhere):
    (elsewhere / "notebooks").mkdir()
    (elsewhere / "sub").mkdir()
    assert find_workspace(elsewhere / "sub") is None
    assert find_workspace(elsewhere) == elsewhere


def test_unknown_preset_names_both_places(elsewhere):
    with pytest.raises(InputError, match="unknown preset .*known: .*smoke"):
        check_preset("smok")


def test_init_never_overwrites(elsewhere):
    ws = elsewhere / "ws"
    (ws / "parameters").mkdir(parents=True)
    (ws / "parameters" / "smoke.yaml").write_text("my edits\n")
    with pytest.raises(InputError, match="parameters/smoke.yaml already exist.*nothing written"):
        init_workspace(ws)
    assert not (ws / "notebooks").exists() and (ws / "parameters" / "smoke.yaml").read_text() == "my edits\n"
    result = init_workspace(ws, keep_existing=True)
    assert (ws / "parameters" / "smoke.yaml").read_text() == "my edits\n"
    assert ws / "parameters" / "smoke.yaml" in result.kept and (ws / "notebooks" / "01_offline_perf.ipynb").is_file()


def test_init_into_a_file_is_refused(elsewhere):
    (elsewhere / "afile").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        init_workspace(elsewhere / "afile")
