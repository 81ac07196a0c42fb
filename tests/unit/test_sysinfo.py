"""`mlnb sysinfo`: the MLPerf system-description JSON, detected read-only, every required field present."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlnb.errors import InputError
from mlnb.submission import sysinfo
from mlnb.submission.sysinfo import (
    DETECTED_FIELDS,
    NETWORK_FIELDS,
    OBSERVED_KEY,
    REQUIRED_FIELDS,
    USER_FIELDS,
    collect_system_description,
    render_missing,
    write_system_description,
)

ACCELERATOR_FIELDS = [name for name in REQUIRED_FIELDS if name.startswith("accelerator_")]
LINUX = Path("/proc/cpuinfo").exists() and Path("/proc/meminfo").exists()


@pytest.fixture
def no_gpu_tools(monkeypatch):
    """Neither nvidia-smi nor torch: the machine looks accelerator-free (and torch is never imported)."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "nvidia-smi" else real_which(name, *a, **k))
    monkeypatch.setattr(sysinfo, "_torch_installed", lambda: False)


def empty_required(info) -> set[str]:
    return {name for name in REQUIRED_FIELDS if info.description[name] == ""}


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def run_cli(args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mlnb.cli", "sysinfo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_field_lists_match_the_checker():
    assert len(REQUIRED_FIELDS) == 35 and len(set(REQUIRED_FIELDS)) == 35
    assert set(USER_FIELDS) | set(DETECTED_FIELDS) == set(REQUIRED_FIELDS)
    assert not set(USER_FIELDS) & set(DETECTED_FIELDS)


def test_every_required_field_present_without_accelerator(no_gpu_tools):
    info = collect_system_description()
    assert set(REQUIRED_FIELDS) <= set(info.description)
    assert all(isinstance(info.description[name], str) for name in REQUIRED_FIELDS)
    assert info.description["accelerators_per_node"] == "0"
    assert all(info.description[name] == "N/A" for name in ACCELERATOR_FIELDS)
    assert "nvidia-smi" in info.detected["accelerators_per_node"]
    assert info.description["number_of_nodes"] == "1"
    # nothing a person must decide is made up
    for name in USER_FIELDS:
        if name not in ACCELERATOR_FIELDS:
            assert info.description[name] == "", name
    assert "is_network" not in info.description  # only the network division carries it


@pytest.mark.skipif(not LINUX, reason="needs /proc/cpuinfo and /proc/meminfo")
def test_cpu_model_and_memory_detected_here(no_gpu_tools):
    info = collect_system_description()
    for name in ("host_processor_model_name", "host_memory_capacity", "host_processor_core_count",
                 "host_processors_per_node", "host_storage_capacity", "operating_system", "framework"):
        assert info.description[name], (name, info.detected.get(name))
        assert info.detected[name] and not info.detected[name].startswith("not found"), name
    assert info.description["host_memory_capacity"].endswith(("GB", "TB"))
    assert int(info.description["host_processor_core_count"]) >= 1
    assert "MLPerf LoadGen" in info.description["framework"]


def test_overrides_win(no_gpu_tools):
    given = {"host_processor_model_name": "Custom CPU", "accelerators_per_node": "3", "cooling": "air",
             "division": "closed", "status": "available"}
    info = collect_system_description(given)
    for name, value in given.items():
        assert info.description[name] == value
        assert name not in info.detected
        assert name not in info.missing
    assert sorted(info.given) == sorted(given)
    assert info.to_json()[OBSERVED_KEY]["field_sources"]["cooling"] == "given"


def test_missing_is_exactly_the_empty_required_fields(no_gpu_tools):
    info = collect_system_description({"submitter": "Acme", "hw_notes": ""})
    assert set(info.missing) == empty_required(info)
    assert "submitter" not in info.missing and "hw_notes" in info.missing
    assert len(info.missing) == len(set(info.missing))
    for name in info.missing:
        assert name in render_missing(info)

    everything = {name: "x" for name in empty_required(collect_system_description())}
    filled = collect_system_description(everything | {"division": "open", "status": "rdi", "system_type": "edge"})
    assert filled.missing == [] and empty_required(filled) == set()
    assert render_missing(filled).startswith("every required field is filled in")


def test_network_division_adds_network_fields(no_gpu_tools):
    info = collect_system_description({"division": "network"})
    assert info.description["is_network"] == "true"
    assert set(NETWORK_FIELDS) - {"is_network"} <= set(info.missing)


@pytest.mark.parametrize(
    "overrides, named",
    [({"division": "Closed-ish"}, "division"), ({"status": "ga"}, "status"),
     ({"system_type": "server"}, "system_type"), ({"coolin": "air"}, "coolin")],
)
def test_bad_overrides_raise_input_error(overrides, named):
    with pytest.raises(InputError) as err:
        collect_system_description(overrides)
    assert named in str(err.value) and "\n" not in str(err.value)


def test_missing_tools_never_raise(monkeypatch):
    out, why = sysinfo._run(["mlnb-no-such-tool-here"])
    assert out is None and "could not run" in why
    out, why = sysinfo._run([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert out is None and "exited 3" in why
    out, why = sysinfo._run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)
    assert out is None and "timed out" in why


def _fake_nvidia_smi(bin_dir: Path, log: Path, fail: bool = False) -> None:
    """A stand-in nvidia-smi answering the read-only queries and logging every argument list."""
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        + ("print('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'); sys.exit(9)\n"
           if fail else "")
        + "args = sys.argv[1:]\n"
        "if not args:\n"
        "    print('| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |')\n"
        "elif args[0] == '--query-gpu=name,memory.total,driver_version,clocks.max.sm':\n"
        "    for _ in range(2): print('NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15, 1980 MHz')\n"
        "elif args[0].startswith('--query-gpu=index,persistence_mode,power.limit'):\n"
        "    for i in range(2): print(f'{i}, Enabled, 700.00 W, 700.00 W, 5, 16, Default, Disabled')\n"
        "else:\n"
        "    sys.exit(2)\n"
    )
    script.chmod(0o755)


def test_nvidia_smi_parsed_read_only(tmp_path, monkeypatch):
    log = tmp_path / "smi.log"
    _fake_nvidia_smi(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(sysinfo, "_probe_torch", lambda: pytest.fail("torch probed although nvidia-smi exists"))
    info = collect_system_description()
    d = info.description
    assert d["accelerators_per_node"] == "2"
    assert d["accelerator_model_name"] == "NVIDIA H100 80GB HBM3"
    assert d["accelerator_memory_capacity"] == "80 GB"
    assert d["accelerator_frequency"] == "1980 MHz"
    assert "CUDA 12.4" in d["other_software_stack"] and "550.54.15" in d["other_software_stack"]
    assert info.observed["gpus"][0]["persistence_mode"] == "Enabled"
    assert info.observed["gpus"][0]["power.limit"] == "700.00 W"
    assert "PCIe Gen5 x16" in info.hints["accelerator_host_interconnect"]
    assert d["accelerator_host_interconnect"] == ""  # a hint only: a person confirms it
    # every call was a query (or the plain status table): nothing that changes a setting
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls
    for args in calls:
        assert args == [] or (args[0].startswith("--query-gpu=") and args[1:] == ["--format=csv,noheader"]), args


def test_nvidia_smi_failing_leaves_fields_empty(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path / "bin", tmp_path / "smi.log", fail=True)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    info = collect_system_description()
    for name in sysinfo._GPU_FIELDS:
        assert info.description[name] == "" and name in info.missing
        assert "exited 9" in info.detected[name]


def test_cli_writes_only_the_out_file(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out" / "systems" / "box1.json"
    proc = run_cli(["--out", str(out), "--division", "closed", "--status", "available", "--system-type", "edge",
                    "--submitter", "Acme", "--system-name", "box1", "--set", "cooling=air"], cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout and "host_storage_type" in proc.stdout
    assert all_files(tmp_path) == {out}
    data = json.loads(out.read_text())
    for name in REQUIRED_FIELDS:
        assert name in data and isinstance(data[name], str), name
    assert data["division"] == "closed" and data["cooling"] == "air" and data["system_name"] == "box1"
    assert OBSERVED_KEY in data and "cpu_scaling_governor" in data[OBSERVED_KEY]


def test_cli_without_nvidia_smi_on_path(tmp_path):
    """An empty PATH: no nvidia-smi, no lscpu; /proc and torch (through this interpreter) still answer."""
    env = dict(os.environ, PATH=str(tmp_path / "empty"))
    proc = run_cli(["--out", "s.json"], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "s.json").read_text())
    assert set(REQUIRED_FIELDS) <= set(data)
    assert "nvidia-smi" in data[OBSERVED_KEY]["field_sources"].get("accelerators_per_node", "")
    if LINUX:
        assert data["host_processor_model_name"] and data["host_memory_capacity"]
    assert all_files(tmp_path) == {tmp_path / "s.json"}


@pytest.mark.parametrize(
    "args, named",
    [(["--division", "foo"], "division"), (["--status", "shipping"], "status"),
     (["--system-type", "server"], "system_type"), (["--set", "coolin=air"], "coolin"),
     (["--set", "cooling"], "--set")],
)
def test_cli_rejects_bad_values_in_one_line(tmp_path, args, named):
    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], proc.stderr
    assert all_files(tmp_path) == set()


def test_write_system_description_is_the_only_write(tmp_path, no_gpu_tools):
    info = collect_system_description({"submitter": "Acme"})
    path = write_system_description(info, tmp_path / "sys.json")
    assert all_files(tmp_path) == {path}
    data = json.loads(path.read_text())
    assert list(data)[: len(REQUIRED_FIELDS)] == list(REQUIRED_FIELDS)
    assert data["submitter"] == "Acme"


def test_torch_fallback_when_no_nvidia_smi(tmp_path, monkeypatch):
    """No nvidia-smi: torch.cuda answers, in a child process (here a stand-in torch package)."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "from types import SimpleNamespace\n"
        "__version__ = '9.9.9'\n"
        "version = SimpleNamespace(cuda='12.8', hip=None)\n"
        "_props = SimpleNamespace(name='NVIDIA L4', total_memory=23034 * 2**20)\n"
        "cuda = SimpleNamespace(is_available=lambda: True, device_count=lambda: 1,\n"
        "                       get_device_properties=lambda i: _props)\n"
    )
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "nvidia-smi" else real_which(name, *a, **k))
    monkeypatch.setattr(sysinfo, "_torch_installed", lambda: True)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    info = collect_system_description()
    d = info.description
    assert (d["accelerators_per_node"], d["accelerator_model_name"], d["accelerator_memory_capacity"]) == (
        "1", "NVIDIA L4", "22 GB")
    assert d["accelerator_interconnect"] == "N/A"  # one accelerator
    assert d["accelerator_frequency"] == "" and "accelerator_frequency" in info.missing
    assert "torch.cuda" in info.detected["accelerators_per_node"]
    assert "CUDA 12.8" in d["other_software_stack"]
