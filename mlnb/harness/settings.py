"""LoadGen TestSettings from stage parameters, through a generated user.conf.

Every override a preset makes is written as a ``user.conf`` line in the stage's loadgen folder,
after the lines of the user's own ``user_conf``. LoadGen then reads mlperf.conf (embedded in the
wheel) and this one file, exactly as a submission run would, and the file doubles as the
``user.conf`` a submission needs. The same list tells which MLPerf rules the run relaxed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mlnb.config import MIN_DURATION_MS_FOR_SUBMISSION, REQUIRED_SAMPLES, StageParams
from mlnb.errors import InputError

LOADGEN_SCENARIO = {"Offline": "Offline", "Server": "Server", "SingleStream": "SingleStream", "Interactive": "Server"}


@dataclass
class ConfPlan:
    lines: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)  # MLPerf rules this run does not follow


def plan_user_conf(
    p: StageParams, dataset_size: int, official_dataset: bool, dataset_title: Optional[str] = "MLPerf CNN/DailyMail set"
) -> ConfPlan:
    """LoadGen's settings for this stage, and every MLPerf rule they relax.

    ``dataset_title`` None: the user's own data, which no MLPerf benchmark has (it is not a short CNN/DailyMail set).
    """
    key = p.effective_model_key
    scen = LOADGEN_SCENARIO[p.scenario]
    plan = ConfPlan()

    def put(name: str, value: float | int) -> None:
        plan.lines.append(f"{key}.{scen}.{name} = {value:g}" if isinstance(value, float) else f"{key}.{scen}.{name} = {value}")

    if p.target_qps is not None:
        put("target_qps", float(p.target_qps))
    if p.target_latency_ms is not None:
        put("target_latency", float(p.target_latency_ms))
    if p.min_duration_ms is not None:
        put("min_duration", int(p.min_duration_ms))
        if p.min_duration_ms < MIN_DURATION_MS_FOR_SUBMISSION:
            plan.relaxed.append(f"min_duration {p.min_duration_ms} ms < {MIN_DURATION_MS_FOR_SUBMISSION} ms required")
    if p.min_query_count is not None:
        put("min_query_count", int(p.min_query_count))
        plan.relaxed.append(f"min_query_count set to {p.min_query_count} (mlperf.conf value replaced)")
    if p.max_query_count is not None:
        put("max_query_count", int(p.max_query_count))
        plan.relaxed.append(f"max_query_count set to {p.max_query_count}")
    if p.ttft_latency_ms is not None or p.tpot_latency_ms is not None:
        # LoadGen reads TTFT/TPOT overrides only when the same file turns token latencies on (inference#1787).
        plan.lines.append(f"{key}.*.use_token_latencies = 1")
        if p.ttft_latency_ms is not None:
            put("ttft_latency", float(p.ttft_latency_ms))
            plan.relaxed.append(f"TTFT limit overridden to {p.ttft_latency_ms} ms")
        if p.tpot_latency_ms is not None:
            put("tpot_latency", float(p.tpot_latency_ms))
            plan.relaxed.append(f"TPOT limit overridden to {p.tpot_latency_ms} ms")
    required = REQUIRED_SAMPLES[key]
    if dataset_size < required:
        # mlperf.conf asks for the full set's performance sample count; a smaller QSL needs its own.
        plan.lines.append(f"{key}.*.performance_sample_count_override = {dataset_size}")
        if dataset_title is not None:
            plan.relaxed.append(f"{dataset_size} samples instead of the full {required}")
    if dataset_title is None:
        plan.relaxed.append(f"your own dataset ({dataset_size} samples): no MLPerf benchmark has it; "
                            f"LoadGen ran with {key}'s settings")
    elif not official_dataset:
        plan.relaxed.append(f"dataset is not the official {dataset_title}")
    return plan


def write_user_conf(p: StageParams, plan: ConfPlan, out: Path) -> Path:
    parts: list[str] = []
    if p.user_conf:
        source = Path(p.user_conf)
        try:
            parts.append(f"# from {source.name}\n" + source.read_text(encoding="utf-8").rstrip() + "\n")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"user_conf {p.user_conf!r}", f"cannot read it: {err.__class__.__name__}") from None
    if plan.lines:
        parts.append("# written by mlnb from the stage parameters\n" + "\n".join(plan.lines) + "\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(parts) or "# no overrides: mlperf.conf values apply\n", encoding="utf-8")
    return out


def build_test_settings(p: StageParams, user_conf: Path):
    import mlperf_loadgen as lg

    settings = lg.TestSettings()
    # The first FromConfig in a process loads the embedded mlperf.conf, then this file.
    if settings.FromConfig(str(user_conf), p.effective_model_key, LOADGEN_SCENARIO[p.scenario]) != 0:
        # LoadGen then drops every line of the file (ours too) and only logs it: never run like that.
        raise InputError(str(user_conf), "LoadGen rejected this user.conf")
    settings.scenario = getattr(lg.TestScenario, LOADGEN_SCENARIO[p.scenario])
    # TEST06 is a performance run; its audit.config turns on accuracy-log sampling.
    settings.mode = lg.TestMode.AccuracyOnly if p.mode == "accuracy" else lg.TestMode.PerformanceOnly
    return settings
