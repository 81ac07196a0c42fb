"""What a sweep runs: its settings, checked before any folder exists, and the stage plan of each point.

A sweep is a series of LoadGen Server (or Interactive) runs of one stage at different ``target_qps``:
either a rate ladder the user lists, or a search for the highest VALID ``target_qps``. Every point is
an ordinary run of that stage (``mlnb.pipeline.plan_run`` with a ``target_qps`` override).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, Optional

from pydantic import Field

from mlnb.config import StrictModel, parse_set_option
from mlnb.errors import InputError

SWEEP_FILE = "sweep.json"
SWEEP_SCENARIOS = ("Server", "Interactive")
_SLO_UNITS_MS = {"ms": 1.0, "s": 1000.0}


class SweepSpec(StrictModel):
    """Everything a sweep needs; stored in sweep.json so that ``--resume`` runs the same sweep."""

    kind: Literal["search", "ladder"]
    preset: str
    stage: str = "03_server_perf"
    sets: list[str] = Field(default_factory=list, description="--set texts applied to every point")
    rates: list[float] = Field(default_factory=list, description="ladder: target_qps values, increasing")
    start_qps: Optional[float] = Field(None, gt=0, description="search: first trial (default: the stage's target_qps)")
    factor: float = Field(2.0, gt=1, description="search: bracketing ladder step (x factor)")
    tolerance: float = Field(0.05, gt=0, lt=1, description="search: stop when (high - low) / low <= tolerance")
    max_trials: int = Field(16, ge=1, description="search: at most this many trials (resized trials included)")
    trial_duration_ms: Optional[int] = Field(None, ge=0, description="min_duration of each point (None: the preset's)")
    size_for_early_stopping: bool = Field(True, description="raise min_query_count to what early stopping needs")
    slo_ttft_ms: Optional[float] = Field(None, gt=0, description="goodput TTFT limit (None: the scenario's)")
    slo_tpot_ms: Optional[float] = Field(None, gt=0, description="goodput TPOT limit (None: the scenario's)")
    stop_at_saturation: bool = True
    saturation_margin: float = Field(0.05, gt=0, lt=1, description="saturated: achieved rate < (1 - margin) x offered")
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


def point_overrides(spec: SweepSpec, target_qps: float, min_query_count: Optional[int] = None,
                    full_durations: bool = False) -> list[tuple[Optional[str], str, Any]]:
    """The ``--set`` overrides of one point: the sweep's own, then the point's rate and size."""
    overrides = [parse_set_option(text) for text in spec.sets]
    overrides.append((None, "target_qps", float(target_qps)))
    if not full_durations:
        if spec.trial_duration_ms is not None:
            overrides.append((None, "min_duration_ms", int(spec.trial_duration_ms)))
        if min_query_count is not None:
            overrides.append((None, "min_query_count", int(min_query_count)))
    return overrides


def plan_point(spec: SweepSpec, target_qps: float, min_query_count: Optional[int] = None,
               full_durations: bool = False):
    """The validated RunPlan of one point (InputError on bad settings)."""
    from mlnb.pipeline import plan_run

    return plan_run(spec.preset, [spec.stage], point_overrides(spec, target_qps, min_query_count, full_durations))


def check_spec(spec: SweepSpec) -> tuple[float, Optional[int]]:
    """Fail before the sweep folder exists; returns the first target_qps and the preset's min_query_count."""
    from mlnb.pipeline import plan_run
    from mlnb.stages.registry import STAGES

    spec_stage = STAGES.get(spec.stage, "--stage")
    if spec_stage.kind != "loadgen":
        raise InputError(f"--stage {spec.stage}", "is not a LoadGen stage; sweep a Server or Interactive one")
    if spec.kind == "ladder" and not spec.rates:
        raise InputError("--rates", "empty rate list; give target_qps values such as 1,2,4")
    base = plan_run(spec.preset, [spec.stage], [parse_set_option(text) for text in spec.sets])
    params = base.stage_params[spec.stage]
    if params.scenario not in SWEEP_SCENARIOS:
        raise InputError(f"--stage {spec.stage}", f"runs scenario {params.scenario}; a sweep needs Server or Interactive")
    if params.mode != "performance":
        raise InputError(f"--stage {spec.stage}", f"runs mode {params.mode}; a sweep needs a performance stage")
    first = spec.rates[0] if spec.kind == "ladder" else (spec.start_qps or params.target_qps)
    if first is None:
        raise InputError("--start-qps", f"stage {spec.stage} has no target_qps in preset {spec.preset}; give --start-qps")
    plan_point(spec, first)  # the point overrides themselves must validate too
    return first, params.min_query_count
