"""The harness's two calls: start telemetry before the LoadGen test, finish it after."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from mlnb.config import StageParams
from mlnb.fileio import read_json
from mlnb.telemetry.aggregate import finish
from mlnb.telemetry.sampler import Progress, TelemetrySampler, managed_server_root, scrape_targets


def start_for_stage(params: StageParams, stage_dir: Path, progress: Progress) -> Optional[TelemetrySampler]:
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
    sampler = TelemetrySampler(progress, scrape_targets(base_url, managed), server if managed else None, params.device)
    sampler.start()
    return sampler


def finish_for_stage(sampler: Optional[TelemetrySampler], stage_dir: Path, origin_s: Optional[float], test_s: float) -> dict:
    """What harness.json (and then summary.json) keeps; ``{"enabled": False}`` when it was off."""
    if sampler is None:
        return {"enabled": False}
    return finish(sampler, stage_dir, origin_s, test_s)
