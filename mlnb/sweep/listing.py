"""A sweep folder's run.json and index.html, so that the runs browser and the index list it like a run.

The run.json carries what the runs list shows (id, preset, model, backend, dates, status, owner)
and ``kind: "sweep"``; it names no stages, because each point is a run of its own inside the folder.
index.html only sends the reader on to sweep.html, the sweep's page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlnb.fileio import write_bytes_atomic, write_json_atomic
from mlnb.lifecycle import owner_record

RUN_FILE = "run.json"
INDEX_FILE = "index.html"
_INDEX = (b'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=sweep.html">'
          b'<title>Sweep</title></head><body><p>This folder is a sweep: <a href="sweep.html">sweep.html</a>.</p></body></html>\n')


def write_run_record(sweep_dir: Path, state: dict[str, Any]) -> None:
    spec = state["spec"]
    record = {
        "run_id": state["sweep_id"],
        "kind": "sweep",
        "sweep_kind": spec["kind"],
        "preset": Path(spec["preset"]).stem,
        "model": state.get("model"),
        "backend": state.get("backend"),
        "stages": [],
        "started": state.get("created"),
        "finished": state.get("finished"),
        "status": state.get("status"),
        "points": len(state.get("points") or []),
        "page": "sweep.html",
    }
    if state.get("status") == "running":
        record["owner"] = owner_record()  # gone while "running" = abandoned, as for a run
    write_json_atomic(sweep_dir / RUN_FILE, record)
    if not (sweep_dir / INDEX_FILE).is_file():
        write_bytes_atomic(sweep_dir / INDEX_FILE, _INDEX)
