"""Start or resume a sweep: what the ``mlnb sweep`` command and the sweep notebook both call."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from mlnb.config import parse_set_option, validate_model
from mlnb.errors import InputError
from mlnb.sweep.plan import (
    DEFAULT_STAGES,
    SweepSpec,
    check_spec,
    parse_concurrencies,
    parse_grid,
    parse_rates,
    parse_slo,
)


def spec_from_options(*, preset: str = "smoke", stage: Optional[str] = None, sets: Sequence[str] = (),
                      search: bool = False, rates: Optional[str] = None, concurrency: Optional[str] = None,
                      repeats: int = 1, grid: Sequence[str] = (), queries_per_slot: int = 8,
                      start_qps: Optional[float] = None, factor: float = 2.0, tolerance: float = 0.05,
                      max_trials: int = 16, trial_duration_ms: Optional[int] = None, confirm: bool = False,
                      slos: Sequence[str] = (), saturation_margin: float = 0.05,
                      stop_at_saturation: bool = True, size_for_early_stopping: bool = True) -> SweepSpec:
    """The sweep's settings from command-line style options; InputError (one line) on the first problem."""
    if sum((search, rates is not None, concurrency is not None)) != 1:
        raise InputError("mlnb sweep", "give exactly one of --search, --rates or --concurrency")
    if repeats < 1:
        raise InputError(f"--repeats {repeats}", "must be at least 1 run per point")
    if search and repeats > 1:
        raise InputError(f"--repeats {repeats}", "applies to --rates and --concurrency ladders, not to --search")
    if search and grid:
        raise InputError("--grid", "applies to --rates and --concurrency ladders, not to --search")
    if queries_per_slot < 1:
        raise InputError(f"--queries-per-slot {queries_per_slot}", "must be at least 1 query per request in flight")
    concurrencies = parse_concurrencies(concurrency) if concurrency is not None else []
    server_grid = parse_grid(grid)
    if not 0 < tolerance < 1:
        raise InputError(f"--tolerance {tolerance:g}", "must be between 0 and 1 (a share of the QPS, e.g. 0.05)")
    if factor <= 1:
        raise InputError(f"--factor {factor:g}", "must be greater than 1")
    if max_trials < 1:
        raise InputError(f"--max-trials {max_trials}", "must be at least 1")
    if start_qps is not None and start_qps <= 0:
        raise InputError(f"--start-qps {start_qps:g}", "must be greater than 0")
    if not 0 < saturation_margin < 1:
        raise InputError(f"--saturation-margin {saturation_margin:g}", "must be between 0 and 1")
    for text in sets:
        parse_set_option(text)
    limits: dict[str, float] = {}
    for text in slos:
        name, value = parse_slo(text)
        limits[name] = value
    kind = "search" if search else "ladder" if rates is not None else "concurrency"
    values = {
        "kind": kind, "preset": preset, "stage": stage or DEFAULT_STAGES[kind], "sets": list(sets),
        "concurrencies": concurrencies, "repeats": repeats, "server_grid": server_grid,
        "queries_per_slot": queries_per_slot,
        "rates": parse_rates(rates) if rates is not None else [], "start_qps": start_qps, "factor": factor,
        "tolerance": tolerance, "max_trials": max_trials, "trial_duration_ms": trial_duration_ms,
        "confirm": confirm, "slo_ttft_ms": limits.get("ttft"), "slo_tpot_ms": limits.get("tpot"),
        "saturation_margin": saturation_margin, "stop_at_saturation": stop_at_saturation,
        "size_for_early_stopping": size_for_early_stopping,
    }
    return validate_model(SweepSpec, values, "mlnb sweep")


def open_sweep(spec: Optional[SweepSpec] = None, outputs: Optional[Path] = None, sweep_id: Optional[str] = None,
               resume: Optional[Path] = None) -> tuple[Path, dict[str, Any]]:
    """A new sweep folder and state for ``spec``, or the folder and state of ``resume``.

    Everything is checked before a new folder is created.
    """
    from mlnb.paths import create_run_dir, default_outputs_dir
    from mlnb.sweep.runner import load_state, new_state, spec_of

    if resume is not None:
        resume = Path(resume)
        state = load_state(resume)
        check_spec(spec_of(state))
        return resume, state
    assert spec is not None
    first, base_queries = check_spec(spec)
    sweep_dir = create_run_dir(Path(outputs or default_outputs_dir()), f"sweep_{Path(spec.preset).stem}", sweep_id)
    return sweep_dir, new_state(spec, sweep_dir.name, first, base_queries)


def execute_sweep(sweep_dir: Path, state: dict[str, Any], echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run what is left of the sweep, writing sweep.json, points.csv and sweep.html after each point.

    outputs/latest is left alone: tools that read it expect a run folder, and a sweep is not one
    (inside the sweep's folder, ``latest`` points at its last point).
    """
    from mlnb.sweep.page import write_page
    from mlnb.sweep.runner import run_sweep

    return run_sweep(sweep_dir, state, echo=echo, write_page=write_page)
