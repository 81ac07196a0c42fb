"""tests/benchmarks/gpu_targets.py cannot run here (it needs a GPU); its trial sizing, search and table can."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import pytest

from mlnb.sweep.search import early_stopping_min_queries

SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "benchmarks" / "gpu_targets.py"


@pytest.fixture(scope="module")
def gpu_targets():
    spec = importlib.util.spec_from_file_location("gpu_targets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_targets"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)  # importable without a GPU: nothing runs at import
    return module


def test_every_trial_has_the_queries_early_stopping_needs(gpu_targets):
    assert early_stopping_min_queries() == 459
    assert gpu_targets.trial_queries(2.0, 20.0) == 459  # 40 queries of duration would never pass
    assert gpu_targets.trial_queries(50.0, 20.0) == 1000  # the duration asks for more
    assert gpu_targets.trial_queries(2.0, 20.0, needed=700) == 700  # LoadGen's own estimate
    assert gpu_targets.trial_estimate_s(2.0, 20.0, 459) == pytest.approx(229.5)


def _fake_server(gpu_targets, capacity: float, noisy_at: float | None = None):
    """A server VALID up to ``capacity``; at ``noisy_at`` early stopping alone fails once for want of queries."""
    calls = []

    def run_trial(qps, queries):
        calls.append((qps, queries))
        if noisy_at is not None and qps == noisy_at and queries < 600:
            return gpu_targets.Trial(qps, queries, False, 100.0, 10.0, needs_more=90)
        return gpu_targets.Trial(qps, queries, qps <= capacity, 100.0, 10.0)

    return run_trial, calls


def test_search_finds_the_highest_valid_qps_by_bisection(gpu_targets):
    run_trial, calls = _fake_server(gpu_targets, capacity=5.3)
    best, tried = gpu_targets.search_highest_valid(run_trial, start=1.0, seconds=10.0, max_trials=12, tolerance=0.05)
    assert [qps for qps, _ in calls[:4]] == [1.0, 2.0, 4.0, 8.0]  # the ladder up, then bisection
    assert best is not None and 5.3 * 0.95 <= best <= 5.3
    assert all(queries >= 459 for _, queries in calls)
    assert len(tried) <= 12


def test_an_early_stopping_failure_is_rerun_once_at_loadgens_size(gpu_targets):
    run_trial, calls = _fake_server(gpu_targets, capacity=3.0, noisy_at=2.0)
    best, tried = gpu_targets.search_highest_valid(run_trial, start=2.0, seconds=10.0, max_trials=6, tolerance=0.2)
    assert calls[0] == (2.0, 459) and calls[1] == (2.0, 604)  # ceil((459 + 90) * 1.1)
    assert tried[1].valid and best is not None and best >= 2.0
    assert len(calls) <= 6


def test_the_table_prints_each_section_as_it_finishes(gpu_targets):
    out = io.StringIO()
    table = gpu_targets.TablePrinter("gpu_targets on cpu", out=out)
    header_only = out.getvalue()
    assert "figure" in header_only and "measured" in header_only and "Offline" not in header_only
    table.section([("Offline tokens/s", "100 tok/s", "ceiling 200", "50% of ceiling")])
    assert out.getvalue().splitlines()[-1].startswith("Offline tokens/s") and "50% of ceiling" in out.getvalue()
    assert len(table.rows) == 1


def test_a_compile_row_judges_the_target_and_names_the_cache(gpu_targets):
    cold = {"compile_seconds": 69.11, "batch_sizes": [2, 4, 128], "cuda_graphs": True,
            "compile_cache": "compile-cache/ in the run folder (new)"}
    row = gpu_targets.compile_row("Server", cold)
    assert row[1] == "69.11 s" and "NOT met" in row[2] and "(new)" in row[2] and "2, 4, 128" in row[2]
    warm = {**cold, "compile_seconds": 6.66, "compile_cache": "compile-cache/ in the run folder (reused)"}
    assert "(met)" in gpu_targets.compile_row("Server", warm)[2] and "(reused)" in gpu_targets.compile_row("Server", warm)[2]
    cpu = {"compile_seconds": 0.02, "batch_sizes": [4], "cuda_graphs": False, "compile_cache": None}
    assert "nothing is compiled" in gpu_targets.compile_row("Offline", cpu)[2]
