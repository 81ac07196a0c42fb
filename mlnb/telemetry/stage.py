"""The harness's two calls: start telemetry before the LoadGen test, finish it after."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from mlnb.config import StageParams
from mlnb.fileio import read_json
from mlnb.telemetry.aggregate import PARTIAL_SERIES_FILE
from mlnb.telemetry.counters import SharedCounters
from mlnb.telemetry.sampler import managed_server_root, scrape_targets
from mlnb.telemetry.sampler_process import SamplerProcess


def start_for_stage(params: StageParams, stage_dir: Path) -> "Optional[SamplerProcess | NotStarted]":
    """A running sampler process, or None when the stage turned telemetry off.

    The harness hands its progress to the sampler by calling the handle's ``publish(issued, completed,
    output_tokens)`` whenever they change."""
    if not params.telemetry:
        return None
    run_dir = stage_dir.parent
    server = managed_server_root(run_dir)
    managed = False
    if server is not None:
        try:
            managed = read_json(run_dir / "server" / "server.json").get("base_url") in (params.base_url or "")
        except (OSError, ValueError, AttributeError):
            managed = False
    base_url = params.base_url if params.backend == "openai" else None
    targets = [(target.url, target.origin) for target in scrape_targets(base_url, managed)]
    counters = None
    try:
        counters = SharedCounters.create()
        sampler = SamplerProcess.start(counters, targets, server.pid if managed else None, params.device,
                                       stage_dir / PARTIAL_SERIES_FILE)
    except Exception as err:  # telemetry must never cost the stage; the summary says why it is missing
        if counters is not None:
            counters.close()
        return NotStarted(f"{type(err).__name__}: {err}")
    return sampler


class NotStarted:
    """A sampler that could not start: ``stop`` does nothing, the summary carries the reason."""

    def __init__(self, reason: str):
        self.reason = reason

    def stop(self) -> None:
        pass


def finish_for_stage(sampler: "Optional[SamplerProcess | NotStarted]", stage_dir: Path, origin_s: Optional[float],
                     test_s: float) -> dict:
    """What harness.json (and then summary.json) keeps; ``{"enabled": False}`` when it was off."""
    if sampler is None:
        return {"enabled": False}
    if isinstance(sampler, NotStarted):
        return {"enabled": True, "samples": 0, "note": f"telemetry did not start: {sampler.reason}", "errors": {}}
    try:
        summary = sampler.finish(stage_dir, origin_s, test_s)
        (stage_dir / PARTIAL_SERIES_FILE).unlink(missing_ok=True)  # the series file now holds every sample
        return summary
    except Exception as err:  # the partial file stays: it is then the only record of the samples
        return {"enabled": True, "samples": _lines(stage_dir / PARTIAL_SERIES_FILE),
                "note": f"telemetry not summarised: {type(err).__name__}: {err}", "errors": {}}


def _lines(path: Path) -> int:
    try:
        with open(path, encoding="utf-8") as partial:
            return sum(1 for _ in partial)
    except OSError:
        return 0
