"""What a sweep runs: its settings, checked before any folder exists, and the stage plan of each point.

A sweep is a series of runs of one stage: LoadGen Server (or Interactive) runs at different
``target_qps`` (a rate ladder the user lists, or a search for the highest VALID ``target_qps``), or
closed-loop concurrency points: LoadGen Offline runs of the ``openai`` backend whose client keeps at
most N requests in flight (``max_concurrency``). Every point is an ordinary run of that stage
(``mlnb.pipeline.plan_run`` with the point's overrides).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, Optional, Sequence

from pydantic import Field

from mlnb.config import StrictModel, parse_set_option
from mlnb.errors import InputError

SWEEP_FILE = "sweep.json"
SWEEP_SCENARIOS = ("Server", "Interactive")
CLOSED_LOOP_SCENARIO = "Offline"
DEFAULT_STAGES = {"search": "03_server_perf", "ladder": "03_server_perf", "concurrency": "01_offline_perf"}

# Why the concurrency points are a closed loop driven by LoadGen, and what that changes; kept in sweep.json and shown on the page.
CLOSED_LOOP_NOTE = (
    "Closed-loop concurrency is not one of LoadGen's scenarios. Each concurrency point is a LoadGen Offline run "
    "(LoadGen issues every query at once) whose openai client keeps at most N requests in flight and holds the rest "
    "unsent, so a new request leaves as soon as one ends: N in flight until fewer than N are left, as in "
    "`vllm bench serve --max-concurrency N` at an unlimited rate. What that changes: (1) the verdict is LoadGen's "
    "Offline verdict, which checks the run's duration and query count only, never a latency: it is not a Server or "
    "Interactive verdict and says nothing about TTFT or TPOT limits; (2) LoadGen's Offline latencies start at the one "
    "issue and include the wait in the client's queue, so TTFT here is measured by the client from the request's "
    "send to its first chunk and TPOT from the first chunk to the last, not by LoadGen; (3) there are no scenario "
    "latency limits, so goodput needs --slo; (4) the last requests drain with fewer than N in flight, which lowers "
    "the throughput a little (the 'mean in flight' column shows how much); (5) saturation is throughput that rose by "
    "less than the margin over the previous N, or failed requests; (6) a point's size is its query count (at least "
    "--queries-per-slot x N, and the stage's min_query_count), and its minimum duration is 0 unless "
    "--trial-duration-ms is given: LoadGen Offline turns a minimum duration into target_qps x duration queries at "
    "the stage's expected QPS, which has nothing to do with the point's N."
)
# min_duration of a concurrency point when --trial-duration-ms is not given: its size is its query count.
CLOSED_LOOP_MIN_DURATION_MS = 0
_SLO_UNITS_MS = {"ms": 1.0, "s": 1000.0}


class SweepSpec(StrictModel):
    """Everything a sweep needs; stored in sweep.json so that ``--resume`` runs the same sweep."""

    kind: Literal["search", "ladder", "concurrency"]
    preset: str
    stage: str = "03_server_perf"
    concurrencies: list[int] = Field(default_factory=list, description="concurrency: requests in flight, increasing")
    queries_per_slot: int = Field(8, ge=1, description="concurrency: each point runs at least this many queries per request in flight")
    repeats: int = Field(1, ge=1, description="ladders: runs per rate or concurrency, for their spread")
    server_grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="ladders: managed-server engine arguments, every combination, each a restart")
    sets: list[str] = Field(default_factory=list, description="--set texts applied to every point")
    rates: list[float] = Field(default_factory=list, description="ladder: target_qps values, increasing")
    start_qps: Optional[float] = Field(None, gt=0, description="search: first trial (default: the stage's target_qps)")
    factor: float = Field(2.0, gt=1, description="search: bracketing ladder step (x factor)")
    tolerance: float = Field(0.05, gt=0, lt=1, description="search: stop when (high - low) / low <= tolerance")
    max_trials: int = Field(16, ge=1, description="search: at most this many trials (resized trials included)")
    trial_duration_ms: Optional[int] = Field(
        None, ge=0, description="min_duration of each point (None: the preset's; concurrency points: 0, sized by queries)")
    size_for_early_stopping: bool = Field(True, description="raise min_query_count to what early stopping needs")
    slo_ttft_ms: Optional[float] = Field(None, gt=0, description="goodput TTFT limit (None: the scenario's)")
    slo_tpot_ms: Optional[float] = Field(None, gt=0, description="goodput TPOT limit (None: the scenario's)")
    stop_at_saturation: bool = True
    saturation_margin: float = Field(0.05, gt=0, lt=1, description="saturated: achieved rate < (1 - margin) x offered "
                                     "(concurrency: throughput < (1 + margin) x the previous N's)")
    confirm: bool = Field(False, description="search: one more run at the found QPS with the preset's durations")


def parse_rates(text: str, where: str = "--rates") -> list[float]:
    """``1,2,4`` or a geometric range ``geom:START:STOP:COUNT``; strictly increasing, all > 0."""
    text = text.strip()
    if text.startswith("geom:"):
        parts = text[5:].split(":")
        if len(parts) != 3:
            raise InputError(f"{where} {text!r}", "expected geom:START:STOP:COUNT, e.g. geom:0.5:8:5")
        try:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise InputError(f"{where} {text!r}", "START and STOP must be numbers and COUNT an integer") from None
        if not (start > 0 and stop > start and count >= 2):
            raise InputError(f"{where} {text!r}", "needs 0 < START < STOP and COUNT >= 2")
        ratio = (stop / start) ** (1 / (count - 1))
        return [round(start * ratio**i, 6) for i in range(count)]
    items = [item.strip() for item in text.split(",")]
    if not text or any(not item for item in items):
        raise InputError(f"{where} {text!r}", "empty rate list; give target_qps values such as 1,2,4")
    try:
        rates = [float(item) for item in items]
    except ValueError:
        raise InputError(f"{where} {text!r}", "every rate must be a number (queries per second)") from None
    for i, rate in enumerate(rates):
        if not math.isfinite(rate) or rate <= 0:
            raise InputError(f"{where} {text!r}", f"rate {items[i]} is not a positive number")
        if i and rate <= rates[i - 1]:
            raise InputError(f"{where} {text!r}", f"rates must increase; {items[i]} follows {items[i - 1]}")
    return rates


def parse_concurrencies(text: str, where: str = "--concurrency") -> list[int]:
    """``1,2,4`` or ``geom:1:64:7`` (rounded, repeats dropped): requests in flight, strictly increasing, all >= 1."""
    text = text.strip()
    if text.startswith("geom:"):
        parts = text[5:].split(":")
        try:
            start, stop, count = int(parts[0]), int(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            raise InputError(f"{where} {text}", "expected geom:START:STOP:COUNT with integers, e.g. geom:1:64:7") from None
        if len(parts) != 3 or not (1 <= start < stop and count >= 2):
            raise InputError(f"{where} {text}", "needs 1 <= START < STOP and COUNT >= 2")
        ratio = (stop / start) ** (1 / (count - 1))
        return sorted({int(round(start * ratio**i)) for i in range(count)})
    items = [item.strip() for item in text.split(",")]
    if not text or any(not item for item in items):
        raise InputError(f"{where} {text!r}", "empty concurrency list; give requests in flight such as 1,2,4")
    values = []
    for item in items:
        if not item.isdigit() or int(item) < 1:
            raise InputError(f"{where} {text}", f"{item} is not a whole number of requests in flight: must be at least 1")
        values.append(int(item))
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise InputError(f"{where} {text}", f"concurrencies must increase; {items[i]} follows {items[i - 1]}")
    return values


def parse_grid(texts: Sequence[str], where: str = "--grid") -> dict[str, list[Any]]:
    """``max_num_seqs=4,8`` (repeatable): engine arguments of the managed server, each value a restart."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
            raise InputError(f"{where} {text!r}", "expected ENGINE_ARG=V1,V2, e.g. max_num_seqs=4,8")
        if key in grid:
            raise InputError(f"{where} {text!r}", f"{key} is given twice; list its values once")
        items = [item.strip() for item in raw.split(",")]
        if not raw.strip() or any(not item for item in items):
            raise InputError(f"{where} {text!r}", f"no values for {key}; give them comma-separated, e.g. {key}=4,8")
        values = [yaml.safe_load(item) for item in items]
        if len({str(v) for v in values}) != len(values):
            raise InputError(f"{where} {text!r}", f"{key} repeats a value")
        grid[key] = values
    return grid


def parse_slo(text: str, where: str = "--slo") -> tuple[str, float]:
    """``ttft=2000ms`` or ``tpot=0.1s`` -> (name, milliseconds). A unit is required: ms or s."""
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if not sep or name not in ("ttft", "tpot"):
        raise InputError(f"{where} {text!r}", "expected ttft=VALUE or tpot=VALUE with a unit, e.g. ttft=2000ms")
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z/]*)\s*", value)
    if not match:
        raise InputError(f"{where} {text!r}", f"{value!r} is not a number with a unit (ms or s)")
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit not in _SLO_UNITS_MS:
        shown = unit or "no unit"
        raise InputError(f"{where} {text!r}", f"{name} is a latency: unit ms or s, not {shown}")
    if number <= 0:
        raise InputError(f"{where} {text!r}", "must be greater than 0")
    return name, number * _SLO_UNITS_MS[unit]


def point_overrides(spec: SweepSpec, level: float, min_query_count: Optional[int] = None,
                    full_durations: bool = False) -> list[tuple[Optional[str], str, Any]]:
    """The ``--set`` overrides of one point: the sweep's own, then the point's load and size.

    ``level`` is the point's target_qps, or for a concurrency sweep its requests in flight.
    """
    overrides = [parse_set_option(text) for text in spec.sets]
    if spec.kind == "concurrency":
        overrides.append((None, "max_concurrency", int(level)))
    else:
        overrides.append((None, "target_qps", float(level)))
    if not full_durations:
        if spec.trial_duration_ms is not None:
            overrides.append((None, "min_duration_ms", int(spec.trial_duration_ms)))
        elif spec.kind == "concurrency":  # not the Offline stage's duration (600 s under mlperf.conf)
            overrides.append((None, "min_duration_ms", CLOSED_LOOP_MIN_DURATION_MS))
        if min_query_count is not None:
            overrides.append((None, "min_query_count", int(min_query_count)))
    return overrides


def plan_point(spec: SweepSpec, level: float, min_query_count: Optional[int] = None,
               full_durations: bool = False, server_setting: Optional[dict[str, Any]] = None):
    """The validated RunPlan of one point (InputError on bad settings).

    ``server_setting``: engine arguments laid over the managed server's for this point (a grid sweep).
    """
    from mlnb.pipeline import plan_run

    plan = plan_run(spec.preset, [spec.stage], point_overrides(spec, level, min_query_count, full_durations))
    if server_setting:
        server = plan.preset.server
        engine_args = {**server.engine_args, **server_setting}
        plan.preset = plan.preset.model_copy(update={"server": server.model_copy(update={"engine_args": engine_args})})
    return plan


def check_spec(spec: SweepSpec) -> tuple[float, Optional[int]]:
    """Fail before the sweep folder exists; returns the first point's level and the preset's min_query_count."""
    from mlnb.pipeline import plan_run
    from mlnb.stages.registry import STAGES

    spec_stage = STAGES.get(spec.stage, "--stage")
    if spec_stage.kind != "loadgen":
        raise InputError(f"--stage {spec.stage}", "is not a LoadGen stage; sweep a Server or Interactive one")
    if spec.kind == "ladder" and not spec.rates:
        raise InputError("--rates", "empty rate list; give target_qps values such as 1,2,4")
    if spec.kind == "concurrency" and not spec.concurrencies:
        raise InputError("--concurrency", "empty concurrency list; give requests in flight such as 1,2,4")
    base = plan_run(spec.preset, [spec.stage], [parse_set_option(text) for text in spec.sets])
    params = base.stage_params[spec.stage]
    if spec.server_grid:
        if base.preset.server is None:
            raise InputError(f"--grid (preset {spec.preset})", "needs a managed server: the preset has no server: section")
        if params.backend != "openai":
            raise InputError(f"--grid (backend {params.backend})", "server settings reach a managed server through the openai backend")
    if spec.kind == "concurrency":
        if params.scenario != CLOSED_LOOP_SCENARIO:
            raise InputError(f"--stage {spec.stage}", f"runs scenario {params.scenario}; a concurrency sweep needs an Offline stage")
        if params.backend != "openai":
            raise InputError(f"--concurrency (backend {params.backend})", "closed-loop concurrency needs the openai backend")
        if params.max_concurrency is not None:
            raise InputError(f"max_concurrency={params.max_concurrency}", "the sweep sets it per point; leave it out of --set")
    elif params.scenario not in SWEEP_SCENARIOS:
        raise InputError(f"--stage {spec.stage}", f"runs scenario {params.scenario}; a sweep needs Server or Interactive")
    if params.mode != "performance":
        raise InputError(f"--stage {spec.stage}", f"runs mode {params.mode}; a sweep needs a performance stage")
    if spec.kind == "concurrency":
        first = float(spec.concurrencies[0])
    else:
        first = spec.rates[0] if spec.kind == "ladder" else (spec.start_qps or params.target_qps)
    if first is None:
        raise InputError("--start-qps", f"stage {spec.stage} has no target_qps in preset {spec.preset}; give --start-qps")
    plan_point(spec, first)  # the point overrides themselves must validate too
    return first, params.min_query_count
