"""Run a sweep: each point a full pipeline run of one stage inside the sweep's folder.

The sweep folder holds ``sweep.json`` (settings, points, result), ``points.csv``, ``sweep.html`` and
one run folder per point (``p01_qps2``, ...), each made by :func:`mlnb.pipeline.execute_run`: its own
run.json, stage notebook, logs, summary.json and report. Points are recorded as they finish, so an
interrupted sweep resumes from them; a finished point is never run again, and a point's folder is
never reused (an interrupted point stays as it is and is run again under a new name).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

from mlnb.errors import InputError
from mlnb.fileio import read_json, write_json_atomic
from mlnb.sweep.curve import read_closed_loop_point, read_point
from mlnb.sweep.levels import level_of, levels, setting_key
from mlnb.sweep.plan import CLOSED_LOOP_NOTE, SWEEP_FILE, SweepSpec, plan_point
from mlnb.sweep.search import bracket, early_stopping_min_queries, next_qps, resized_query_count

SCHEMA = "mlnb-sweep/1"
LOADGEN_STARTED = "loadgen/mlperf_log_detail.txt"  # LoadGen opens it when its test starts


class SweepInterrupted(KeyboardInterrupt):
    def __init__(self, sweep_dir: Path):
        super().__init__(str(sweep_dir))
        self.sweep_dir = sweep_dir


def new_state(spec: SweepSpec, sweep_id: str, first_qps: float, base_min_queries: Optional[int]) -> dict[str, Any]:
    """``first_qps``: the first point's load (its requests in flight for a concurrency sweep)."""
    state = {
        "schema": SCHEMA,
        "sweep_id": sweep_id,
        "spec": spec.model_dump(mode="json"),
        "first_qps": first_qps,
        "base_min_query_count": base_min_queries,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "running",
        "points": [],
        "result": None,
        "elapsed_s": 0.0,
    }
    if spec.kind == "concurrency":
        state["closed_loop_note"] = CLOSED_LOOP_NOTE
    return state


def load_state(sweep_dir: Path) -> dict[str, Any]:
    """A sweep's state for ``--resume``; InputError when the folder is not a sweep."""
    path = sweep_dir / SWEEP_FILE
    if not sweep_dir.is_dir():
        raise InputError(f"--resume {sweep_dir}", "no such folder")
    if not path.is_file():
        raise InputError(f"--resume {sweep_dir}", f"not a sweep: it has no {SWEEP_FILE}")
    try:
        state = read_json(path)
    except ValueError:
        raise InputError(f"--resume {sweep_dir}", f"{SWEEP_FILE} is not valid JSON") from None
    if not isinstance(state, dict) or state.get("schema") != SCHEMA:
        raise InputError(f"--resume {sweep_dir}", f"{SWEEP_FILE} is not an {SCHEMA} file")
    return state


def spec_of(state: dict[str, Any]) -> SweepSpec:
    from mlnb.config import validate_model

    return validate_model(SweepSpec, state["spec"], SWEEP_FILE)


def trial_size(state: dict[str, Any], level: Optional[float] = None) -> Optional[int]:
    """min_query_count of a trial: the preset's, raised to what early stopping needs at best.

    A concurrency point runs at least ``queries_per_slot`` queries per request in flight.
    """
    spec, base = spec_of(state), state.get("base_min_query_count")
    if spec.kind == "concurrency":
        return max(base or 0, spec.queries_per_slot * int(level or 1))
    if not spec.size_for_early_stopping or base is None:
        return base
    return max(base, early_stopping_min_queries(0))


def _finished(state: dict[str, Any]) -> list[dict]:
    return [p for p in state["points"] if p["status"] == "finished"]


def _latest_per_qps(points: list[dict]) -> dict[float, dict]:
    latest: dict[float, dict] = {}
    for point in points:
        if point["role"] != "confirm":
            latest[point["target_qps"]] = point
    return latest


def next_action(state: dict[str, Any]) -> Optional[tuple]:
    """(role, target_qps, min_query_count) of the next search point, (role, level, min_query_count,
    server setting, repeat) of the next ladder point, or None when the sweep is done.

    Sets ``state["stop_reason"]`` when it ends the sweep.
    """
    spec = spec_of(state)
    points = state["points"]
    failed = [p for p in points if p["status"] == "failed"]
    if failed:
        state["stop_reason"] = f"point {failed[-1]['point']} failed; see its folder {failed[-1]['run_dir']}"
        return None
    finished = _finished(state)
    latest = _latest_per_qps(finished)
    if spec.kind in ("ladder", "concurrency"):
        return _next_ladder_point(state, spec, finished)
    trials = [p for p in finished if p["role"] != "confirm"]
    unresized = None  # a trial that failed on early stopping alone and was not run longer
    if trials:
        resize = trials[-1].get("resize_to")
        if resize and not any(p["role"] == "resize" and p["target_qps"] == trials[-1]["target_qps"] for p in trials):
            if len(trials) < spec.max_trials:
                return "resize", trials[-1]["target_qps"], resize
            unresized = trials[-1]
    history = [(qps, p["verdict"] == "VALID") for qps, p in latest.items()]
    qps = next_qps(history, state["first_qps"], spec.factor, spec.tolerance)
    if qps is not None and len(trials) < spec.max_trials:
        return "search", qps, trial_size(state)
    if qps is None:
        reason = "tolerance reached" if bracket(history).lowest_invalid_above else "no bracket: see the trials"
    else:
        reason = f"max_trials={spec.max_trials} reached before the tolerance"
    if unresized is not None:
        # Its INVALID is a sample-size verdict, not a latency one: say so rather than let it stand as a bound.
        reason += (f"; {unresized['target_qps']:g} qps failed on early stopping alone and max_trials left no room to "
                   f"rerun it with {unresized['resize_to']} queries, so it is not a firm upper bound")
    found = bracket(history).highest_valid
    if spec.confirm and found is not None and not any(p["role"] == "confirm" for p in finished):
        return "confirm", found, None
    state["stop_reason"] = reason
    return None


def grid_settings(spec: SweepSpec) -> list[Optional[dict[str, Any]]]:
    """Every server setting of the grid, in order (the last key varies fastest); [None] without a grid."""
    import itertools

    if not spec.server_grid:
        return [None]
    keys = list(spec.server_grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(spec.server_grid[k] for k in keys))]


def _next_ladder_point(state: dict[str, Any], spec: SweepSpec, finished: list[dict]):
    """The next (role, level, min_query_count, setting, repeat) of a ladder, or None (stop_reason set)."""
    unit = "in flight" if spec.kind == "concurrency" else "qps"
    role = "concurrency" if spec.kind == "concurrency" else "ladder"
    stops = []
    for setting in grid_settings(spec):
        key = setting_key(setting)
        mine = [p for p in finished if setting_key(p.get("setting")) == key]
        done = {row["level"]: row for row in levels(mine, spec.kind, spec.saturation_margin)}
        for level in (spec.concurrencies if spec.kind == "concurrency" else spec.rates):
            runs = [p for p in mine if level_of(p) == level]
            if len(runs) < spec.repeats:
                return role, level, trial_size(state, level), setting, len(runs) + 1
            if spec.stop_at_saturation and done[level]["saturated"]:
                where = f" ({key})" if key else ""
                stops.append(f"saturated at {level:g} {unit}{where}: {_level_saturation_text(spec, runs, done, level)}")
                break
    everything = "every concurrency ran" if spec.kind == "concurrency" else "every rate ran"
    state["stop_reason"] = "; ".join(stops) if stops else everything
    return None


def _level_saturation_text(spec: SweepSpec, runs: list[dict], done: dict, level: float) -> str:
    failed = [p for p in runs if p.get("sut_errors")]
    if failed:
        return _saturation_text(failed[0])
    if spec.kind == "concurrency":
        below = max((lv for lv in done if lv < level), default=None)
        now = done[level]["output_tokens_per_s"]["mean"]
        before = done[below]["output_tokens_per_s"]["mean"] if below is not None else None
        return f"{now} output tokens/s against {before} at {below:g}, less than {spec.saturation_margin:.0%} more"
    return _saturation_text(next(p for p in runs if p.get("saturated")))


def _saturation_text(point: dict) -> str:
    if point.get("sut_errors"):
        return f"{point['sut_errors']} requests failed"
    return f"achieved {point.get('achieved_qps')} qps < offered {point.get('offered_qps')} qps"


def search_result(state: dict[str, Any]) -> dict[str, Any]:
    """The sweep's outcome: for a search, the highest VALID QPS and the lowest INVALID one above it."""
    finished = _finished(state)
    latest = _latest_per_qps(finished)
    out: dict[str, Any] = {
        "stop_reason": state.get("stop_reason"),
        # A point stopped before LoadGen started (while its model loaded) ran no LoadGen test.
        "loadgen_runs": len([p for p in state["points"] if p["status"] in ("finished", "failed")
                             or (p["status"] == "interrupted" and p.get("loadgen_started", True))]),
        "elapsed_min": round(state.get("elapsed_s", 0.0) / 60, 2),
    }
    spec = spec_of(state)
    if spec.kind != "search":
        out["levels"] = levels(finished, spec.kind, spec.saturation_margin)
    if spec.kind == "search":
        found = bracket([(q, p["verdict"] == "VALID") for q, p in latest.items()])
        high = latest.get(found.lowest_invalid_above) if found.lowest_invalid_above is not None else None
        gap = None
        if found.highest_valid and found.lowest_invalid_above is not None:
            gap = round((found.lowest_invalid_above - found.highest_valid) / found.highest_valid, 4)
        out.update(
            bracket_gap=gap, tolerance_reached=gap is not None and gap <= spec.tolerance,
            highest_valid_qps=found.highest_valid,
            lowest_invalid_qps=found.lowest_invalid_above,
            lowest_invalid_reasons=(high or {}).get("reasons", []),
            confirmation=next(({"verdict": p["verdict"], "point": p["point"], "reasons": p["reasons"]}
                               for p in finished if p["role"] == "confirm"), None),
        )
    return out


def run_sweep(sweep_dir: Path, state: dict[str, Any], echo: Callable[[str], None] = print,
              write_page: Optional[Callable[[Path, dict], None]] = None) -> dict[str, Any]:
    """Run the sweep's remaining points; returns the final state (raises SweepInterrupted on Ctrl-C)."""
    from mlnb.pipeline import interrupt_signals

    spec = spec_of(state)
    state["status"] = "running"
    state.pop("stop_reason", None)
    started = time.monotonic()
    # The whole sweep takes SIGINT/SIGTERM, between points too (a sweep started from a process that
    # ignores SIGINT would otherwise drop a Stop that arrives while no point is running).
    with interrupt_signals():
        return _run_points(sweep_dir, state, spec, echo, write_page, started)


def _run_points(sweep_dir: Path, state: dict[str, Any], spec, echo, write_page, started: float) -> dict[str, Any]:
    from mlnb.perf.measure import MEASURE_FILE
    from mlnb.perf.run_measure import measure_run_device
    from mlnb.pipeline import RunInterrupted, execute_run

    point: Optional[dict[str, Any]] = None
    try:
        _save(sweep_dir, state, write_page)
        first = plan_point(spec, state["first_qps"]).stage_params[spec.stage]
        state.setdefault("model", first.model)
        state.setdefault("backend", first.backend)
        if not (sweep_dir / MEASURE_FILE).is_file():
            device = first.device
            measure_run_device(sweep_dir, device, echo)  # once for the sweep; every point copies it
        while (action := next_action(state)) is not None:
            role, qps, queries, setting, repeat = (*action, None, 1) if len(action) == 3 else action
            index = len(state["points"]) + 1
            load = f"c{int(qps)}" if spec.kind == "concurrency" else f"qps{qps:g}"
            name = f"p{index:02d}_{load}" + (f"_r{repeat}" if spec.repeats > 1 else "")
            plan = plan_point(spec, qps, queries, full_durations=(role == "confirm"), server_setting=setting)
            point = {"point": f"p{index:02d}", "role": role, "min_query_count": queries, "run_dir": name,
                     "status": "running", "repeat": repeat, "setting": setting}
            if spec.kind == "concurrency":
                point.update(concurrency=int(qps), target_qps=None)
            else:
                point["target_qps"] = qps
            state["points"].append(point)
            _save(sweep_dir, state, write_page)
            shown = f"concurrency={int(qps)}" if spec.kind == "concurrency" else f"target_qps={qps:g}"
            extra = (f" repeat {repeat}/{spec.repeats}" if spec.repeats > 1 else "") + (f" [{setting_key(setting)}]" if setting else "")
            echo(f"[{point['point']}] {role} {shown}" + (f" min_query_count={queries}" if queries else "") + extra)
            outcome = execute_run(plan, sweep_dir, name, echo=lambda line: echo(f"  {line}"),
                                  device_measure=sweep_dir / MEASURE_FILE)
            _record(point, outcome.run_dir / spec.stage if outcome.ok else None, spec, echo)
            point = None
            state["elapsed_s"] = state.get("elapsed_s", 0.0) + time.monotonic() - started
            started = time.monotonic()
            state["result"] = search_result(state)
            _save(sweep_dir, state, write_page)
    except (KeyboardInterrupt, RunInterrupted):  # Ctrl-C or SIGTERM, during a point or between points
        if point is not None:
            point["status"] = "interrupted"
            point["loadgen_started"] = (sweep_dir / point["run_dir"] / spec.stage / LOADGEN_STARTED).is_file()
        state["elapsed_s"] = state.get("elapsed_s", 0.0) + time.monotonic() - started
        state["status"] = "interrupted"
        state["stop_reason"] = f"interrupted during {point['point']}" if point else "interrupted between points"
        state["result"] = search_result(state)
        _save(sweep_dir, state, write_page)
        raise SweepInterrupted(sweep_dir) from None
    failed = any(p["status"] == "failed" for p in state["points"])
    state["status"] = "failed" if failed else "finished"
    state["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    state["result"] = search_result(state)
    _save(sweep_dir, state, write_page)
    return state


def _record(point: dict[str, Any], stage_dir: Optional[Path], spec: SweepSpec, echo) -> None:
    """Fill a point's record from its stage folder; a stage that did not finish marks it failed."""
    if stage_dir is None or not (stage_dir / "summary.json").is_file():
        point["status"] = "failed"
        echo(f"[{point['point']}] failed; logs in its folder {point['run_dir']}")
        return
    if spec.kind == "concurrency":
        point.update(read_closed_loop_point(stage_dir, spec.slo_ttft_ms, spec.slo_tpot_ms))
    else:
        point.update(read_point(stage_dir, spec.slo_ttft_ms, spec.slo_tpot_ms, spec.saturation_margin))
    point["status"] = "finished"
    if point["role"] == "search":
        point["resize_to"] = resized_query_count(read_json(stage_dir / "summary.json"))
    load = f"{point['concurrency']} in flight" if spec.kind == "concurrency" else f"{point['target_qps']:g} qps"
    echo(f"[{point['point']}] {point['verdict']} at {load}: {point['output_tokens_per_s']} tokens/s, "
         f"{point['per_user_tokens_per_s']} tokens/s per user, p99 TTFT {point['ttft_p99_ms']} ms"
         + ("; saturated" if point["saturated"] else ""))


def _save(sweep_dir: Path, state: dict[str, Any], write_page) -> None:
    from mlnb.sweep.listing import write_run_record

    write_json_atomic(sweep_dir / SWEEP_FILE, state)
    write_run_record(sweep_dir, state)
    if write_page is not None:
        try:
            write_page(sweep_dir, state)
        except Exception as err:  # a page that cannot be drawn must not stop the sweep or lose its points
            write_json_atomic(sweep_dir / "page_error.json", {"ename": type(err).__name__, "evalue": str(err)[:2000]})
