"""Where things live: the project's notebooks and presets, and run folders under outputs/."""

from __future__ import annotations

import os
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PRESETS_DIR = PROJECT_ROOT / "parameters"


def default_outputs_dir() -> Path:
    return Path(os.environ.get("MLNB_OUTPUTS", "outputs"))


def preset_path(name_or_path: str) -> Path:
    """A preset name (``smoke``) or a YAML path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    return PRESETS_DIR / f"{name_or_path}.yaml"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def create_run_dir(outputs: Path, preset: str, run_id: str | None = None) -> Path:
    """Create a new run folder; an existing one is never reused, so a finished run is never overwritten."""
    outputs.mkdir(parents=True, exist_ok=True)
    base = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}_{preset}"
    for attempt in range(100):
        name = base if attempt == 0 else f"{base}-{attempt}"
        try:
            (outputs / name).mkdir()
        except FileExistsError:
            if run_id is not None:
                from mlnb.errors import InputError

                raise InputError(f"--run-id {run_id!r}", f"{outputs / name} already exists; runs are never overwritten")
            continue
        return outputs / name
    raise RuntimeError("could not find a free run folder name")


def point_latest(outputs: Path, run_dir: Path) -> None:
    """Make outputs/latest a symlink to the run, replaced atomically."""
    link = outputs / "latest"
    tmp = outputs / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)
