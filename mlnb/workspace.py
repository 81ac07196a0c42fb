"""Workspaces: the folder a user owns (parameters/, notebooks/, outputs/), and what ships in the package.

A *workspace* is, from the current folder:

- the nearest folder at or above it that holds the marker file ``.mlnb-workspace`` (``mlnb init``
  writes it), so a notebook kernel started in ``WORKSPACE/notebooks`` still finds its workspace; or
- the current folder itself when it holds ``parameters/`` or ``notebooks/`` (a hand-made workspace).
  Only the current folder counts here, never a parent: a stray ``notebooks/`` higher up is not adopted.

Presets and notebooks are looked up in the workspace first, then in the package. The package's copies
ship inside the wheel (``mlnb/_shipped``, filled from the repository's ``notebooks/`` and
``parameters/`` when the wheel is built, see setup.py). In a source checkout (an editable install)
there is no ``_shipped`` folder, and the checkout's own folders are the package's copies. Whoever
uses a resolved file prints where it came from (:func:`describe_sources`), so nothing is used silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

MARKER = ".mlnb-workspace"
PRESETS = "parameters"
NOTEBOOKS = "notebooks"
OUTPUTS = "outputs"

_PACKAGE_ROOT = Path(__file__).resolve().parent
_SOURCE_CHECKOUT = _PACKAGE_ROOT.parent


def shipped_dir(kind: str) -> Path:
    """The package's own ``parameters`` or ``notebooks`` folder."""
    inside = resources.files("mlnb") / "_shipped" / kind
    if inside.is_dir():
        return Path(str(inside))
    # A source checkout: the repository's folders are what the wheel ships.
    return _SOURCE_CHECKOUT / kind


def package_origin() -> str:
    """How the package's copies are described: the wheel's, or a source checkout's."""
    return "package" if (resources.files("mlnb") / "_shipped").is_dir() else "package, from its source checkout"


def find_workspace(start: Optional[Path] = None) -> Optional[Path]:
    """The workspace for ``start`` (default: the current folder), or None; see the module's rules."""
    here = Path(start if start is not None else Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    if (here / PRESETS).is_dir() or (here / NOTEBOOKS).is_dir():
        return here
    return None


@dataclass(frozen=True)
class Found:
    """A resolved file and where it came from: ``workspace`` or ``package``."""

    path: Path
    origin: str


def find_preset(name: str, workspace: Optional[Path] = None) -> Found:
    """``parameters/NAME.yaml`` of the workspace, else the package's (which may not exist)."""
    ws = find_workspace() if workspace is None else workspace
    if ws is not None:
        candidate = ws / PRESETS / f"{name}.yaml"
        if candidate.is_file():
            return Found(candidate, "workspace")
    return Found(shipped_dir(PRESETS) / f"{name}.yaml", package_origin())


def find_notebook(file_name: str, workspace: Optional[Path] = None) -> Found:
    """``notebooks/FILE`` of the workspace, else the package's."""
    ws = find_workspace() if workspace is None else workspace
    if ws is not None:
        candidate = ws / NOTEBOOKS / file_name
        if candidate.is_file():
            return Found(candidate, "workspace")
    return Found(shipped_dir(NOTEBOOKS) / file_name, package_origin())


def preset_names(workspace: Optional[Path] = None) -> dict[str, str]:
    """Every preset name and where it comes from (a workspace preset hides the package's of that name)."""
    ws = find_workspace() if workspace is None else workspace
    names = {p.stem: package_origin() for p in shipped_dir(PRESETS).glob("*.yaml")}
    if ws is not None:
        names.update({p.stem: "workspace" for p in (ws / PRESETS).glob("*.yaml")})
    return dict(sorted(names.items()))


def outputs_dir(workspace: Optional[Path] = None) -> Path:
    """``$MLNB_OUTPUTS``, else the workspace's ``outputs/``, else ``./outputs``."""
    if os.environ.get("MLNB_OUTPUTS"):
        return Path(os.environ["MLNB_OUTPUTS"])
    ws = find_workspace() if workspace is None else workspace
    return ws / OUTPUTS if ws is not None else Path(OUTPUTS)


def describe_sources(preset: Found, notebooks: list[Found]) -> list[str]:
    """The lines a run prints: which preset file, which notebooks folder (and any notebook from elsewhere)."""
    lines = [f"preset: {preset.path} ({preset.origin})"]
    if not notebooks:
        return lines
    by_folder: dict[tuple[Path, str], list[str]] = {}
    for found in notebooks:
        by_folder.setdefault((found.path.parent, found.origin), []).append(found.path.name)
    (main_folder, main_origin), _ = max(by_folder.items(), key=lambda item: len(item[1]))
    lines.append(f"notebooks: {main_folder} ({main_origin})")
    for (folder, origin), files in by_folder.items():
        if (folder, origin) != (main_folder, main_origin):
            lines.append(f"notebooks: {', '.join(files)} from {folder} ({origin}; not in the folder above)")
    return lines
