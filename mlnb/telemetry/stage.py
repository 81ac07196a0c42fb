"""The harness's two calls: start telemetry before the LoadGen test, finish it after."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from mlnb.config import StageParams
from mlnb.fileio import read_json
from mlnb.telemetry.aggregate import PARTIAL_SERIES_FILE, finish
from mlnb.telemetry.sampler import Progress, TelemetrySampler, managed_server_root, scrape_targets


def start_for_stage(params: StageParams, stage_dir: Path, progress: Progress) -> "Optional[TelemetrySampler | NotStarted]":
    """A running sampler, or None when the stage turned telemetry off."""
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
    try:
        sampler = TelemetrySampler(progress, scrape_targets(base_url, managed), server if managed else None, params.device,
                                   partial_path=stage_dir / PARTIAL_SERIES_FILE)
        sampler.start()
    except Exception as err:  # telemetry must never cost the stage; the summary says why it is missing
        return NotStarted(f"{type(err).__name__}: {err}")
    return sampler


class NotStarted:
    """A sampler that could not start: ``stop`` does nothing, the summary carries the reason."""

    def __init__(self, reason: str):
        self.reason = reason

    def stop(self) -> None:
        pass


def finish_for_stage(sampler: "Optional[TelemetrySampler | NotStarted]", stage_dir: Path, origin_s: Optional[float],
                     test_s: float) -> dict:
    """What harness.json (and then summary.json) keeps; ``{"enabled": False}`` when it was off."""
    if sampler is None:
        return {"enabled": False}
    if isinstance(sampler, NotStarted):
        return {"enabled": True, "samples": 0, "note": f"telemetry did not start: {sampler.reason}", "errors": {}}
    try:
        summary = finish(sampler, stage_dir, origin_s, test_s)
        (stage_dir / PARTIAL_SERIES_FILE).unlink(missing_ok=True)  # the series file now holds every sample
        return summary
    except Exception as err:  # the partial file stays: it is then the only record of the samples
        return {"enabled": True, "samples": len(sampler.rows), "note": f"telemetry not summarised: {type(err).__name__}: {err}",
                "errors": {}}
