"""Where things live: presets and notebooks (workspace first, then the package), run folders under outputs/."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from mlnb.errors import InputError
from mlnb.workspace import NOTEBOOKS, PRESETS, Found, find_notebook, find_preset, outputs_dir, preset_names, shipped_dir

# The package's own copies (in a source checkout: the repository's folders). A run looks in the
# workspace first: use preset_path() and notebook_path(), not these, to find what a run uses.
NOTEBOOKS_DIR = shipped_dir(NOTEBOOKS)
PRESETS_DIR = shipped_dir(PRESETS)


def default_outputs_dir() -> Path:
    """``$MLNB_OUTPUTS``, else the workspace's outputs/, else ./outputs (mlnb.workspace)."""
    return outputs_dir()


def find_preset_file(name_or_path: str) -> Found:
    """A preset name (``smoke``: the workspace's, else the package's) or a YAML path, with its origin."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return Found(candidate, "path given")
    return find_preset(name_or_path)


def preset_path(name_or_path: str) -> Path:
    """A preset name (``smoke``) or a YAML path."""
    return find_preset_file(name_or_path).path


def notebook_path(file_name: str) -> Path:
    """A stage notebook: the workspace's, else the package's."""
    return find_notebook(file_name).path


def available_presets() -> list[str]:
    return list(preset_names())


def check_preset(name_or_path: str, option: str = "--preset") -> None:
    """A preset name must be a parameters/NAME.yaml of the workspace or the package; a path must be a YAML file."""
    import difflib

    found = find_preset_file(name_or_path)
    path = found.path
    if path.is_file():
        return
    if found.origin == "path given":
        raise InputError(f"{option} {name_or_path!r}", "preset file not found")
    known = available_presets()
    close = difflib.get_close_matches(name_or_path, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(f"{option} {name_or_path!r}", f"unknown preset (no {path.name}); known: {', '.join(known)}{hint}")


LATEST = "latest"  # outputs/latest: a symlink to the newest run
# A run id is one plain folder name: no separators, no "..", no hidden or option-looking names.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
RUN_MARKERS = ("run.json",)
STAGE_MARKERS = ("summary.json", "failure.json", "params.json")
# What a managed server was started with, for the engine section of the stages that used it.
MANAGED_SERVER_RECORD = Path("server") / "server.json"


def check_run_id(run_id: str | None, option: str = "--run-id") -> None:
    """A run id must name one new folder directly inside outputs/, nothing else."""
    if run_id is None:
        return
    if not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InputError(
            f"{option} {run_id!r}",
            "expected a plain folder name (letters, digits, '.', '_', '-', '+'; at most 128; no '/' or '..')",
        )
    if run_id == LATEST:
        raise InputError(f"{option} {run_id!r}", "reserved: outputs/latest points at the newest run")


def check_outputs_dir(outputs: Path, option: str = "--outputs") -> None:
    """The outputs folder must be a folder (or creatable as one) that we can write into."""
    path = Path(outputs)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {str(path)!r}", "is a file, not a folder")
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"{option} {str(path)!r}", f"{existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {str(path)!r}", f"{existing} is not writable")
    latest = path / LATEST
    if latest.exists() and not latest.is_symlink():
        raise InputError(f"{option} {str(path)!r}", f"{latest} is not the symlink mlnb keeps there; move it away")


def is_run_dir(folder: Path) -> bool:
    """A run folder holds run.json, or at least one stage folder with a stage's files."""
    folder = Path(folder)
    if any((folder / name).is_file() for name in RUN_MARKERS):
        return True
    return any(
        child.is_dir() and any((child / name).is_file() for name in STAGE_MARKERS)
        for child in folder.iterdir()
        if not child.name.startswith(".")
    )


def check_run_dir(folder: Path, argument: str = "RUN_DIR") -> None:
    """``folder`` must be an existing run folder (what `mlnb run` made), not any folder."""
    folder = Path(folder)
    where = f"{argument} {str(folder)!r}"
    if not folder.exists():
        raise InputError(where, "folder not found")
    if not folder.is_dir():
        raise InputError(where, "is a file; expected a run folder such as outputs/<run_id>")
    if is_run_dir(folder):
        return
    runs = [c.name for c in sorted(folder.iterdir()) if c.name != LATEST and c.is_dir() and is_run_dir(c)]
    hint = f"; it holds runs, e.g. {folder / runs[-1]}" if runs else ""
    raise InputError(where, f"not a run folder (no run.json, no stage results){hint}")


def create_run_dir(outputs: Path, preset: str, run_id: str | None = None) -> Path:
    """Create a new run folder; an existing one is never reused, so a finished run is never overwritten."""
    check_run_id(run_id)
    check_outputs_dir(outputs)
    outputs.mkdir(parents=True, exist_ok=True)
    base = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}_{preset}"
    for attempt in range(100):
        name = base if attempt == 0 else f"{base}-{attempt}"
        try:
            (outputs / name).mkdir()
        except FileExistsError:
            if run_id is not None:
                raise InputError(f"--run-id {run_id!r}", f"{outputs / name} already exists; runs are never overwritten")
            continue
        return outputs / name
    raise RuntimeError("could not find a free run folder name")


def point_latest(outputs: Path, run_dir: Path) -> None:
    """Make outputs/latest a symlink to the run, replaced atomically."""
    link = outputs / LATEST
    tmp = outputs / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)
