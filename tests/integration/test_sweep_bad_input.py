"""`mlnb sweep` bad input: one line naming what is wrong, exit code 2, no traceback, no sweep folder."""

import json
import subprocess
import sys

import pytest


def _sweep(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mlnb.cli", "sweep", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.fixture
def not_a_sweep(tmp_path):
    run = tmp_path / "a_run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"run_id": "a_run", "status": "finished"}))
    return run


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--rates", ""], ["--rates", "empty rate list"]),
        (["--rates", "2,1,4"], ["--rates", "must increase", "1 follows 2"]),
        (["--rates", "1,,2"], ["--rates", "empty rate list"]),
        (["--rates", "geom:4:1:3"], ["--rates", "START < STOP"]),
        (["--search", "--tolerance", "0"], ["--tolerance 0", "between 0 and 1"]),
        (["--concurrency", "0"], ["--concurrency 0", "at least 1"]),
        (["--search", "--slo", "ttft=20tok/s"], ["--slo 'ttft=20tok/s'", "unit ms or s, not tok/s"]),
        (["--search", "--slo", "tpot=40"], ["--slo 'tpot=40'", "not no unit"]),
        (["--search", "--stage", "01_offline_perf"], ["--stage 01_offline_perf", "Server or Interactive"]),
        (["--search", "--rates", "1,2"], ["exactly one of --search, --rates or --concurrency"]),
        (["--search", "--set", "target_qps=fast"], ["target_qps"]),
        (["--concurrency", "4,2"], ["--concurrency 4,2", "must increase", "2 follows 4"]),
        (["--concurrency", "two"], ["--concurrency two", "two is not a whole number"]),
        (["--concurrency", "1,2"], ["--concurrency (backend sim)", "needs the openai backend"]),
        (["--concurrency", "1,2", "--queries-per-slot", "0"], ["--queries-per-slot 0", "at least 1"]),
        (["--rates", "1,2", "--repeats", "0"], ["--repeats 0", "at least 1"]),
        (["--search", "--repeats", "3"], ["--repeats 3", "not to --search"]),
        (["--rates", "1,2", "--grid", "max_num_seqs="], ["--grid 'max_num_seqs='", "no values for max_num_seqs"]),
        (["--rates", "1,2", "--grid", "max_num_seqs=4,4"], ["--grid 'max_num_seqs=4,4'", "repeats a value"]),
        (["--rates", "1,2", "--grid", "max_num_seqs=4,8"], ["--grid (preset smoke)", "needs a managed server"]),
        (["--rates", "1,2", "--set", "max_concurrency=2"], ["max_concurrency=2", "only the openai backend caps"]),
    ],
)
def test_bad_sweep_options(tmp_path, args, fragments):
    out = tmp_path / "outputs"
    result = _sweep(*args, "--backend", "sim", "--outputs", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir())  # no sweep folder


def test_resuming_a_run_that_is_not_a_sweep(tmp_path, not_a_sweep):
    before = sorted(p.name for p in not_a_sweep.iterdir())
    result = _sweep("--resume", str(not_a_sweep), cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not a sweep: it has no sweep.json" in lines[0], result.stderr
    assert sorted(p.name for p in not_a_sweep.iterdir()) == before


@pytest.mark.parametrize(
    "count, extra, fragments",
    [
        (3, [], ["mlnb compare", "compares two sweeps, not 3"]),
        (2, ["--threshold", "0"], ["--threshold 0", "between 0 and 1"]),
        (2, [], ["sweep.json is not an mlnb-sweep/1 file"]),
    ],
)
def test_bad_sweep_comparisons(tmp_path, count, extra, fragments):
    folders = []
    for i in range(count):
        folder = tmp_path / f"s{i}"
        folder.mkdir()
        (folder / "sweep.json").write_text("{}")
        folders.append(str(folder))
    result = subprocess.run([sys.executable, "-m", "mlnb.cli", "compare", *folders, *extra, "--out", str(tmp_path / "cmp")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "cmp").exists()
