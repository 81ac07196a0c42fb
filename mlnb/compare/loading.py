"""Finished run folders, read and checked before anything is compared.

A run can be compared when its folder has a ``run.json`` and every LoadGen stage that run.json
lists (or that has a folder) has a ``summary.json`` of the schema this mlnb reads. Anything else
is bad input: :class:`mlnb.errors.InputError` with one line naming the folder, the file and what
is missing or different.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from mlnb.errors import InputError
from mlnb.fileio import read_json
from mlnb.query_table import load_query_table
from mlnb.results import READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION, SUMMARY_FILE, query_latencies

__all__ = ["RunData", "StageData", "load_run", "load_runs"]


TASK_PREFIX = "task_type:"  # a custom workload's per-task_type score in accuracy_scores()
_SERIES = ("e2e_ms", "ttft_ms", "tpot_ms", "output_tokens", "prompt_tokens", "done_ms")


@dataclass
class StageData:
    name: str
    folder: Path
    summary: dict[str, Any]
    _series: Optional[dict[str, np.ndarray]] = field(default=None, repr=False)
    repeats: list["StageData"] = field(default_factory=list)  # the same stage in the group's repeat runs

    def own_series(self) -> dict[str, np.ndarray]:
        """This run's per-query TTFT, TPOT, latency and output tokens (queries.jsonl; empty arrays if absent)."""
        if self._series is None:
            rows = load_query_table(self.folder)
            self._series = query_latencies(rows) if len(rows) else {k: np.array([]) for k in _SERIES}
        return self._series

    def series(self) -> dict[str, np.ndarray]:
        """Per-query values of this run and its repeats, pooled."""
        if not self.repeats:
            return self.own_series()
        parts = [self.own_series()] + [r.own_series() for r in self.repeats]
        return {k: np.concatenate([p.get(k, np.array([])) for p in parts]) for k in _SERIES}

    def summaries(self) -> list[dict[str, Any]]:
        return [self.summary] + [r.summary for r in self.repeats]

    def accuracy_scores(self) -> dict[int, dict[str, float]]:
        """Per-sample ROUGE (0-100), or a custom workload's score per task_type, by qsl_idx; empty when absent."""
        path = self.folder / "accuracy_samples.jsonl"
        if not path.is_file():
            return {}
        scores: dict[int, dict[str, float]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                scores[int(row["qsl_idx"])] = {k: float(row[k]) for k in ("rouge1", "rougeL") if k in row}
                if row.get("task_type") is not None and row.get("score") is not None:  # custom workloads
                    scores[int(row["qsl_idx"])][TASK_PREFIX + str(row["task_type"])] = float(row["score"])
        return scores


@dataclass
class RunData:
    given: str  # the path as the user wrote it
    folder: Path  # resolved
    run: dict[str, Any]
    stages: dict[str, StageData]
    repeats: list["RunData"] = field(default_factory=list)  # more runs of the same settings (RUN,RUN2,...)

    @property
    def run_id(self) -> str:
        return str(self.run.get("run_id") or self.folder.name)

    @property
    def label(self) -> str:
        return self.run_id + (f" (+{len(self.repeats)} repeats)" if self.repeats else "")

    def members(self) -> list["RunData"]:
        return [self] + self.repeats


def _loadgen_stage(name: str) -> bool:
    from mlnb.stages.registry import STAGES

    return name not in STAGES or STAGES.get(name).kind == "loadgen"


def _planned(run: dict[str, Any]) -> list[str]:
    stages = run.get("stages")
    if isinstance(stages, dict):
        return [str(s) for s in stages]
    if isinstance(stages, list):
        return [str(s.get("stage") if isinstance(s, dict) else s) for s in stages]
    return []


def load_run(path: str | Path) -> RunData:
    """Read and check one run folder; raises InputError on the first problem."""
    given = str(path)
    folder = Path(path)
    if not folder.exists():
        raise InputError(given, "no such folder")
    if not folder.is_dir():
        raise InputError(given, "is not a folder; give a run folder such as outputs/<run_id>")
    folder = folder.resolve()
    run_json = folder / "run.json"
    if not run_json.is_file():
        raise InputError(f"{given}/run.json", "missing: not a run folder, or an incomplete one")
    try:
        run = read_json(run_json)
    except (OSError, ValueError) as err:
        raise InputError(f"{given}/run.json", f"not readable JSON ({err})") from None
    if not isinstance(run, dict):
        raise InputError(f"{given}/run.json", "expected a JSON object")
    discovered = sorted(
        child.name for child in folder.iterdir()
        if child.is_dir() and not child.name.startswith(".") and child.name != "rollup"
        and any((child / m).exists() for m in (SUMMARY_FILE, "failure.json", "params.json", f"{child.name}.ipynb"))
    )
    names = list(dict.fromkeys(_planned(run) + discovered))
    stages: dict[str, StageData] = {}
    for name in names:
        if not _loadgen_stage(name):
            continue
        stage_dir = folder / name
        summary_path = stage_dir / SUMMARY_FILE
        if not summary_path.is_file():
            why = "the stage failed (see failure.json)" if (stage_dir / "failure.json").is_file() else (
                "the stage did not run" if not stage_dir.is_dir() else "the stage did not finish")
            raise InputError(f"{given}/{name}/{SUMMARY_FILE}", f"missing: {why}; the run is incomplete")
        try:
            summary = read_json(summary_path)
        except (OSError, ValueError) as err:
            raise InputError(f"{given}/{name}/{SUMMARY_FILE}", f"not readable JSON ({err})") from None
        if not isinstance(summary, dict):
            raise InputError(f"{given}/{name}/{SUMMARY_FILE}", "expected a JSON object")
        version = summary.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            shown = "absent" if version is None else repr(version)
            age = "an older" if isinstance(version, int) and version < SCHEMA_VERSION or version is None else "an unknown"
            raise InputError(
                f"{given}/{name}/{SUMMARY_FILE} field 'schema_version'",
                f"{shown}: {age} summary schema; this mlnb compares schemas {READABLE_SCHEMA_VERSIONS[0]} to {SCHEMA_VERSION} (re-run the stage)",
            )
        if summary.get("status") != "finished":
            raise InputError(f"{given}/{name}/{SUMMARY_FILE} field 'status'",
                             f"{summary.get('status')!r}: only finished stages can be compared")
        stages[name] = StageData(name, stage_dir, summary)
    if not stages:
        raise InputError(given, "has no finished LoadGen stage to compare")
    return RunData(given, folder, run, stages)


def _load_group(arg: str | Path) -> RunData:
    """One argument: a run folder, or repeats of one setting joined by commas (``RUN,RUN2,RUN3``)."""
    text = str(arg)
    parts = [p for p in text.split(",") if p] if "," in text and not Path(text).exists() else [arg]
    first, *more = [load_run(p) for p in parts]
    for repeat in more:
        missing = [name for name in first.stages if name not in repeat.stages]
        if missing:
            raise InputError(repeat.given, f"a repeat of {first.given} lacks its stage {missing[0]}")
        for name, stage in first.stages.items():
            stage.repeats.append(repeat.stages[name])
    first.repeats = more
    return first


def load_runs(paths: list[str | Path]) -> list[RunData]:
    """Read every run (or group of repeats); refuse fewer than two, and the same run given twice."""
    if len(paths) < 2:
        raise InputError("mlnb compare", f"needs two or more runs, got {len(paths)}")
    groups = [_load_group(p) for p in paths]
    runs = [member for group in groups for member in group.members()]
    for i, run in enumerate(runs):
        for earlier in runs[:i]:
            if run.folder == earlier.folder:
                raise InputError(run.given, f"is the same run as {earlier.given} ({run.folder}); compare two different runs")
            same_id = run.run_id == earlier.run_id and run.run.get("started") == earlier.run.get("started")
            if same_id:
                raise InputError(run.given, f"is a copy of {earlier.given} (same run_id {run.run_id!r} and start time)")
    return groups
