"""``mlnb init [DIR]``: a workspace the user owns, filled with copies of the package's presets and notebooks.

Existing files are never overwritten: if any file init would write is already there, nothing is written
and the command says which. ``keep_existing`` writes only the missing files (after an upgrade of mlnb,
new notebooks and presets arrive and every file the user edited stays as it is). There is deliberately
no "overwrite" switch: a workspace holds the user's edits, and a fresh copy is one ``mlnb init NEWDIR`` away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlnb.errors import InputError
from mlnb.fileio import write_bytes_atomic
from mlnb.workspace import MARKER, NOTEBOOKS, OUTPUTS, PRESETS, shipped_dir

README = """# mlnb workspace

This folder is yours: edit anything in it.

- `parameters/`: presets (YAML). `mlnb run --preset NAME` uses `parameters/NAME.yaml` from here
  first and the copy inside the mlnb package second; each run prints the file it used.
- `notebooks/`: the stage notebooks (one per benchmark stage) and `00_launcher.ipynb`, a form
  that starts runs. Open it with `jupyter lab notebooks/00_launcher.ipynb`.
- `outputs/`: one folder per run, `outputs/latest` the newest; `index.html` in each run is its report.

Start with `mlnb run --preset smoke` (the embedded model on a CPU, a few minutes), or
`mlnb run --preset smoke --backend sim --stages 01_offline_perf` (seconds, no model).
`mlnb list` shows the presets and stages; `mlnb report` rebuilds the newest run's pages.

`{marker}` marks this folder as an mlnb workspace (mlnb finds it from any folder inside).
"""

MARKER_TEXT = "# This folder is an mlnb workspace (written by `mlnb init`); mlnb looks here for parameters/ and notebooks/.\n"


@dataclass
class InitResult:
    root: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def planned_files(root: Path) -> dict[Path, bytes]:
    """Every file init writes, with its content."""
    files: dict[Path, bytes] = {
        root / MARKER: MARKER_TEXT.encode(),
        root / "README.md": README.format(marker=MARKER).encode(),
        root / OUTPUTS / ".gitkeep": b"",
    }
    for kind, pattern in ((PRESETS, "*.yaml"), (NOTEBOOKS, "*.ipynb")):
        for source in sorted(shipped_dir(kind).glob(pattern)):
            files[root / kind / source.name] = source.read_bytes()
    return files


def init_workspace(directory: Path, keep_existing: bool = False) -> InitResult:
    """Write a workspace into ``directory`` (created if needed); raises InputError rather than overwrite."""
    root = Path(directory)
    where = f"mlnb init {root}"
    if root.exists() and not root.is_dir():
        raise InputError(where, "is a file, not a folder")
    files = planned_files(root)
    blocked = [path for path in files if path.exists() or path.is_symlink()]
    if blocked and not keep_existing:
        names = ", ".join(str(p.relative_to(root)) for p in blocked[:3])
        more = f" and {len(blocked) - 3} more" if len(blocked) > 3 else ""
        raise InputError(
            where,
            f"{names}{more} already exist; nothing written (files are never overwritten; "
            "--keep-existing adds only the missing files)",
        )
    for kind in (PRESETS, NOTEBOOKS, OUTPUTS):
        path = root / kind
        if path.exists() and not path.is_dir():
            raise InputError(where, f"{kind} is a file, not a folder")
    result = InitResult(root)
    for path, content in files.items():
        if path in blocked:
            result.kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, content)
        result.written.append(path)
    return result
