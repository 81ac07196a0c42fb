"""The built wheel works on its own, away from the checkout: presets and notebooks ship inside it.

Builds the wheel from a copy of the project's sources, installs it into a fresh venv outside the
checkout, writes a workspace with ``mlnb init`` and runs one sim-backend stage there, then opens the
report. To stay fast, the venv gets the project venv's third-party packages through a .pth file
(no download, no dependency resolution) and the wheel goes in with ``--no-deps``; the editable mlnb
of the checkout must NOT be what runs, which is checked (``mlnb.__file__`` inside the new venv).

The build needs only pip and setuptools, which every venv made by ``make`` has
(``--no-build-isolation``: nothing is downloaded).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "mlnb", "notebooks", "parameters"]


def _sh(argv, cwd, env=None, timeout=300):
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, env): a fresh venv outside the checkout with the wheel installed, and an environment for it."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for name in SOURCES:  # a copy: the build writes build/ and *.egg-info, which must not land in the checkout
        item = REPO / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(item, source / name)
    dist = root / "dist"
    _sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", dist, source], cwd=root)
    wheel = next(dist.glob("mlnb-*.whl"))

    venv = root / "venv"
    _sh([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    python = venv / "bin" / "python"
    purelib = Path(_sh([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip())
    # The project venv's packages, as a plain path: its own .pth files (the editable mlnb's finder) are not run.
    (purelib / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _sh([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel], cwd=root)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLNB_OUTPUTS", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # Data files that pip installs into a venv's prefix (nbconvert's HTML templates) came with the
    # project venv's packages, not with the .pth shortcut: point Jupyter at them.
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    where = _sh([python, "-c", "import mlnb; print(mlnb.__file__)"], cwd=root, env=env).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), f"mlnb imported from {where}, not the new venv"
    return venv, env


def test_wheel_ships_presets_and_notebooks(installed):
    venv, env = installed
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    shipped = purelib / "mlnb" / "_shipped"
    assert sorted(p.name for p in (shipped / "parameters").glob("*.yaml")) == sorted(p.name for p in (REPO / "parameters").glob("*.yaml"))
    assert sorted(p.name for p in (shipped / "notebooks").glob("*.ipynb")) == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))


def test_init_and_a_sim_stage_from_the_wheel(installed, tmp_path):
    venv, env = installed
    mlnb = venv / "bin" / "mlnb"
    assert _sh([mlnb, "--version"], cwd=tmp_path, env=env).stdout.startswith("mlnb ")

    # Outside any workspace: the package's presets, said so; nothing of the checkout.
    listed = _sh([mlnb, "list"], cwd=tmp_path, env=env).stdout
    assert "workspace: none" in listed and "smoke" in listed and str(REPO) not in listed

    _sh([mlnb, "init", "ws"], cwd=tmp_path, env=env)
    ws = tmp_path / "ws"
    assert (ws / "parameters" / "smoke.yaml").is_file() and (ws / "notebooks" / "01_offline_perf.ipynb").is_file()
    again = subprocess.run([str(mlnb), "init", "ws"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "already exist" in again.stderr

    # From the workspace's notebooks/ folder, as a launcher kernel would: runs still land in ws/outputs.
    run = _sh([mlnb, "run", "--preset", "smoke", "--set", "backend=sim", "--stages", "01_offline_perf", "--no-progress"],
              cwd=ws / "notebooks", env=env, timeout=400)
    assert f"preset: {ws / 'parameters' / 'smoke.yaml'} (workspace)" in run.stdout
    assert f"notebooks: {ws / 'notebooks'} (workspace)" in run.stdout
    assert str(REPO) not in run.stdout + run.stderr
    assert not (ws / "notebooks" / "outputs").exists()

    stage = (ws / "outputs" / "latest" / "01_offline_perf").resolve()
    page = stage / "01_offline_perf.html"
    assert page.is_file()
    text = page.read_text(encoding="utf-8")
    assert "VALID" in text  # the verdict
    assert str(REPO) not in text and str(REPO.resolve()) not in text
    assert str(REPO) not in (ws / "outputs" / "latest" / "index.html").read_text(encoding="utf-8")
    for name in ("01_offline_perf.ipynb", "params.json", "harness.json", "stage.log"):  # the kernel's mlnb was the wheel's
        assert str(REPO) not in (stage / name).read_text(encoding="utf-8"), name
