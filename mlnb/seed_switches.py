"""The Llama-3.1-8B smoke scripts' switches, honoured by ``mlnb run`` for people moving from them.

Each is read from the environment (``RUN_PERF_SERVER=0 mlnb run``) and as a flag (``--server-perf 0``);
a flag wins over the environment. Every switch given is printed as what it maps to in mlnb:

==================  ==================  =============================================================
environment         flag                in mlnb
==================  ==================  =============================================================
RUN_PERF_SERVER     --server-perf 0|1   stage 03_server_perf off / on
RUN_ACC_SERVER      --server-acc 0|1    stage 04_server_accuracy off / on
RUN_PERF_OFFLINE    --offline-perf 0|1  stage 01_offline_perf off / on
RUN_ACC_OFFLINE     --offline-acc 0|1   stage 02_offline_accuracy off / on
RUN_MMLU_SMOKE      --mmlu 0|1          stage 08_mmlu off / on
SMOKE_SAMPLES       --samples N         --samples N (the first N dataset records)
MMLU_LIMIT          --mmlu-limit N      --set 08_mmlu.mmlu_limit=N (lm-eval --limit)
FORCE_FREE_GPU      --force-free-gpu    first stop what ended mlnb runs of this outputs folder left running
==================  ==================  =============================================================

"on" keeps a stage of the preset (or of ``--stages``) and adds it when the list lacks it; "off" drops it.
An empty environment value counts as unset. Any other value: one line naming it, exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from mlnb.errors import InputError

# environment name -> (flag, stage)
STAGE_SWITCHES: dict[str, tuple[str, str]] = {
    "RUN_PERF_SERVER": ("--server-perf", "03_server_perf"),
    "RUN_ACC_SERVER": ("--server-acc", "04_server_accuracy"),
    "RUN_PERF_OFFLINE": ("--offline-perf", "01_offline_perf"),
    "RUN_ACC_OFFLINE": ("--offline-acc", "02_offline_accuracy"),
    "RUN_MMLU_SMOKE": ("--mmlu", "08_mmlu"),
}
MMLU_STAGE = "08_mmlu"


@dataclass
class SeedSwitches:
    stage_on: dict[str, bool] = field(default_factory=dict)  # stage -> on/off
    samples: Optional[int] = None
    mmlu_limit: Optional[int] = None
    force_free_gpu: bool = False
    lines: list[str] = field(default_factory=list)  # what each switch given maps to

    def apply_to_stages(self, stages: list[str]) -> list[str]:
        """The stage list with the toggles applied; an added stage goes before the first one numbered after it."""
        result = [name for name in stages if self.stage_on.get(name, True)]
        for name, on in self.stage_on.items():
            if on and name not in result:
                later = [i for i, existing in enumerate(result) if existing > name]
                result.insert(later[0] if later else len(result), name)
        return result


def _pick(env: Mapping[str, str], name: str, flag: str, flag_value: Optional[str]) -> Optional[tuple[str, str]]:
    """(value, label) from the flag, else the environment; None when neither is given."""
    env_value = env.get(name, "").strip()
    if flag_value is not None:
        return flag_value.strip(), f"{flag} {flag_value}" + (f" (over {name}={env_value} in the environment)" if env_value else "")
    if env_value:
        return env_value, f"{name}={env_value} (environment)"
    return None


def _zero_or_one(value: str, where: str) -> bool:
    if value not in ("0", "1"):
        raise InputError(where, "expected 0 or 1")
    return value == "1"


def _positive_int(value: str, where: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InputError(where, "expected a whole number >= 1") from None
    if number < 1:
        raise InputError(where, "expected a whole number >= 1")
    return number


def read_seed_switches(
    env: Mapping[str, str],
    toggles: Optional[Mapping[str, Optional[str]]] = None,
    samples: Optional[int] = None,
    mmlu_limit: Optional[str] = None,
    force_free_gpu: bool = False,
) -> SeedSwitches:
    """The switches from ``env`` and the flags (``toggles``: flag -> value given, or None)."""
    toggles = toggles or {}
    found = SeedSwitches()
    for name, (flag, stage) in STAGE_SWITCHES.items():
        picked = _pick(env, name, flag, toggles.get(flag))
        if picked is None:
            continue
        value, label = picked
        where = f"{flag} {value!r}" if label.startswith(flag) else f"{name}={value!r} (environment)"
        found.stage_on[stage] = _zero_or_one(value, where)
        found.lines.append(f"{label} -> stage {stage} {'on' if found.stage_on[stage] else 'off'}")
    smoke_samples = env.get("SMOKE_SAMPLES", "").strip()
    if smoke_samples and samples is not None:  # --samples is mlnb's own option and wins
        found.lines.append(f"SMOKE_SAMPLES={smoke_samples} (environment) -> ignored: --samples {samples} given")
    elif smoke_samples:
        found.samples = _positive_int(smoke_samples, f"SMOKE_SAMPLES={smoke_samples!r} (environment)")
        found.lines.append(f"SMOKE_SAMPLES={smoke_samples} (environment) -> --samples {found.samples}")
    picked = _pick(env, "MMLU_LIMIT", "--mmlu-limit", mmlu_limit)
    if picked is not None:
        value, label = picked
        where = f"--mmlu-limit {value!r}" if label.startswith("--") else f"MMLU_LIMIT={value!r} (environment)"
        found.mmlu_limit = _positive_int(value, where)
        found.lines.append(f"{label} -> --set {MMLU_STAGE}.mmlu_limit={found.mmlu_limit}")
    picked = _pick(env, "FORCE_FREE_GPU", "--force-free-gpu", "1" if force_free_gpu else None)
    if picked is not None:
        value, label = picked
        if label.startswith("--force-free-gpu"):
            label = "--force-free-gpu"
        found.force_free_gpu = _zero_or_one(value, f"FORCE_FREE_GPU={value!r} (environment)")
        if found.force_free_gpu:
            found.lines.append(f"{label} -> stop leftover processes of ended mlnb runs in the outputs folder first (never others)")
        else:
            found.lines.append(f"{label} -> nothing stopped")
    return found


def for_sweep(switches: SeedSwitches, resuming: bool) -> SeedSwitches:
    """The switches as ``mlnb sweep`` honours them: SMOKE_SAMPLES and FORCE_FREE_GPU apply, the rest cannot.

    A sweep runs one stage (its ``--stage``), so the stage toggles and MMLU_LIMIT are printed as ignored
    rather than dropped in silence; a resumed sweep keeps the samples it was started with.
    """
    lines = []
    not_for_sweeps = (*STAGE_SWITCHES, *(flag for flag, _ in STAGE_SWITCHES.values()), "MMLU_LIMIT", "--mmlu-limit")
    for line in switches.lines:
        label, _, _ = line.partition(" -> ")
        if line.startswith(not_for_sweeps):
            line = f"{label} -> ignored: a sweep runs only its --stage"
        elif line.startswith("SMOKE_SAMPLES") and switches.samples is not None and resuming:
            line = f"{label} -> ignored: a resumed sweep keeps the samples it was started with"
            switches.samples = None
        lines.append(line)
    switches.stage_on, switches.mmlu_limit, switches.lines = {}, None, lines
    return switches
