"""Are two runs comparable? Every setting that could explain a change, and whether it differs.

Each stage's facts come from its summary.json: the model and LoadGen model key, the data set and
sample set, the scenario and mode, the parameters that shape load and generation, the settings
LoadGen ran with, the engine and the software versions. A difference in the model or the model
key makes the runs different benchmarks: :func:`check_comparable` refuses them unless forced.
Every other difference is listed, so that a reader sees what besides the system changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from mlnb.compare.loading import RunData
from mlnb.compare.telemetry_diff import hardware_facts
from mlnb.errors import InputError

__all__ = ["BLOCKING", "SettingDifference", "check_comparable", "common_stages", "differences", "stage_facts"]

# fact key -> category. Keys that refuse the comparison without --force are in BLOCKING.
BLOCKING = ("model", "model_key")
_PARAMS = {
    "samples": "workload", "max_new_tokens": "workload", "min_new_tokens": "workload",
    "target_qps": "load", "target_latency_ms": "load", "min_duration_ms": "load", "min_query_count": "load",
    "max_query_count": "load", "ttft_latency_ms": "limits", "tpot_latency_ms": "limits", "user_conf": "load",
    "batch_size": "engine", "dtype": "engine", "load_format": "engine", "device": "engine", "seed": "workload",
}
_SIM_PARAMS = ("sim_ttft_ms", "sim_prefill_ms_per_token", "sim_tpot_ms", "sim_max_batch", "sim_output_tokens")
# What an engine measured while it ran, not how it was set up: these differ between any two runs and
# would bury the settings that do. Their effects show in the compared metrics instead.
_MEASURED_ENGINE_KEYS = ("load_seconds", "warm_up_seconds", "compile_seconds", "compile_cache")
_MEASURED_ENGINE_PREFIXES = ("engine.profile.",)
_STATIC_DECODE_COUNTERS = ("decode_steps", "prefills", "decode_seconds", "prefill_seconds", "mean_rows_per_step",
                           "mean_batch_per_step", "prompt_tokens", "prefill_padding", "rows_moved")


@dataclass
class SettingDifference:
    stage: str  # a stage name, or "all stages" when every compared stage differs the same way
    key: str
    category: str
    values: list[Any]  # one per run, in the order given
    blocking: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    elif isinstance(value, list):
        out[prefix] = ", ".join(str(v) for v in value)
    else:
        out[prefix] = value


def _measured(key: str) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    if leaf in _MEASURED_ENGINE_KEYS or key.startswith(_MEASURED_ENGINE_PREFIXES):
        return True
    return key.startswith("engine.static_decode.") and leaf in _STATIC_DECODE_COUNTERS


def stage_facts(summary: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """``{key: (category, value)}`` for everything about a stage that could explain a change."""
    facts: dict[str, tuple[str, Any]] = {}
    params = summary.get("params") or {}
    facts["model"] = ("model", summary.get("model") or params.get("model"))
    facts["model_key"] = ("model", summary.get("model_key"))
    facts["simulated"] = ("engine", bool(summary.get("simulated")))
    facts["backend"] = ("engine", summary.get("backend"))
    facts["scenario"] = ("workload", summary.get("scenario"))
    facts["mode"] = ("workload", summary.get("mode"))
    dataset = summary.get("dataset") or {}
    for key in ("path", "records_in_file", "samples_used", "retokenized"):
        facts[f"dataset.{key}"] = ("dataset", dataset.get(key))
    for key, category in _PARAMS.items():
        facts[f"params.{key}"] = (category, params.get(key))
    if summary.get("backend") == "sim" or params.get("backend") == "sim":
        for key in _SIM_PARAMS:
            facts[f"params.{key}"] = ("engine", params.get(key))
    settings = (summary.get("loadgen") or {}).get("settings") or {}
    for key, value in settings.items():
        facts[f"loadgen.{key}"] = ("load" if "limit" not in key else "limits", value)
    metrics = summary.get("metrics") or {}
    facts["loadgen.query_count"] = ("load", metrics.get("query_count"))
    # Offline's one query: its size is the load (384 samples and 768 both have query_count 1).
    facts["loadgen.samples_per_query"] = ("load", metrics.get("samples_per_query"))
    engine: dict[str, Any] = {}
    _flatten("engine", summary.get("engine") or {}, engine)
    for key, value in engine.items():
        if not _measured(key):
            facts[key] = ("engine", value)
    environment = summary.get("environment") or {}
    for key in ("python", "platform", "machine", "mlnb_git"):
        facts[f"environment.{key}"] = ("software", environment.get(key))
    for name, version in (environment.get("packages") or {}).items():
        facts[f"versions.{name}"] = ("software", version)
    facts.update(hardware_facts(summary))
    return facts


def common_stages(runs: Sequence[RunData]) -> list[str]:
    """Stages every run has, in the first run's order."""
    return [name for name in runs[0].stages if all(name in run.stages for run in runs[1:])]


def differences(runs: Sequence[RunData], stages: Optional[Iterable[str]] = None) -> list[SettingDifference]:
    """Every fact that differs between the runs, stage by stage; identical ones folded into "all stages"."""
    stages = list(stages if stages is not None else common_stages(runs))
    per_key: dict[str, dict[str, SettingDifference]] = {}
    for stage in stages:
        facts = [stage_facts(run.stages[stage].summary) for run in runs]
        keys = list(dict.fromkeys(k for f in facts for k in f))
        for key in keys:
            values = [f.get(key, (None, None))[1] for f in facts]
            if all(v == values[0] for v in values[1:]):
                continue
            category = next(f[key][0] for f in facts if key in f)
            per_key.setdefault(key, {})[stage] = SettingDifference(stage, key, category, values, key in BLOCKING)
    out: list[SettingDifference] = []
    for key, by_stage in per_key.items():
        first = next(iter(by_stage.values()))
        if len(stages) > 1 and len(by_stage) == len(stages) and all(d.values == first.values for d in by_stage.values()):
            out.append(SettingDifference("all stages", key, first.category, first.values, first.blocking))
        else:
            out.extend(by_stage.values())
    order = {"model": 0, "dataset": 1, "workload": 2, "load": 3, "limits": 4, "engine": 5, "software": 6, "hardware": 7}
    out.sort(key=lambda d: (not d.blocking, order.get(d.category, 9)))
    return out


def check_comparable(runs: Sequence[RunData], force: bool = False) -> tuple[list[str], list[SettingDifference]]:
    """(stages to compare, differences). Refuses (InputError) runs with no stage in common, and runs of
    different models unless ``force``. Repeats (``RunData.repeats``) are checked too: their values follow
    their run's in each difference."""
    stages = common_stages(runs)
    if not stages:
        names = "; ".join(f"{run.given}: {', '.join(run.stages)}" for run in runs)
        raise InputError("mlnb compare", f"the runs have no stage in common ({names})")
    diffs = differences([member for run in runs for member in run.members()], stages)
    blocking = [d for d in diffs if d.blocking]
    if blocking and not force:
        d = blocking[0]
        shown = " vs ".join(repr(v) for v in d.values)
        where = "" if d.stage == "all stages" else f" in stage {d.stage}"
        raise InputError(
            f"{runs[0].given} vs {runs[1].given}" if len(runs) == 2 else "mlnb compare",
            f"different {d.key}{where}: {shown}; these are different benchmarks (pass --force to compare anyway)",
        )
    return stages, diffs
