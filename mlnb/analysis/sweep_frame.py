"""A sweep's points as a DataFrame: the rows of its points.csv, read from sweep.json.

Columns are those of points.csv (mlnb.sweep.curve.CSV_FIELDS): ``point``, ``role``, ``target_qps``,
``status``, ``verdict``, ``queries``, ``offered_qps``, ``achieved_qps``, ``saturated``,
``output_tokens_per_s``, ``per_user_tokens_per_s``, ``ttft_p90_ms``, ``ttft_p99_ms``, ``tpot_p90_ms``,
``tpot_p99_ms``, ``goodput_rps``, ``goodput_share``, ``slo_ttft_ms``, ``slo_tpot_ms``, ``pareto``,
``run_dir``, ``reasons`` (joined with "; "). One row per point, in the order they ran.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlnb.errors import InputError
from mlnb.fileio import read_json

_TEXT = ("point", "role", "status", "verdict", "run_dir", "reasons")


def sweep_points(sweep: str | Path) -> pd.DataFrame:
    """The points of the sweep in folder ``sweep`` (or its sweep.json)."""
    from mlnb.sweep.curve import CSV_FIELDS
    from mlnb.sweep.page import points_with_pareto
    from mlnb.sweep.plan import SWEEP_FILE

    path = Path(sweep)
    file = path if path.is_file() else path / SWEEP_FILE
    if not file.is_file():
        raise InputError(f"sweep {str(path)!r}", f"no {SWEEP_FILE} (expected a folder made by `mlnb sweep`)")
    state = read_json(file)
    if not isinstance(state, dict) or not isinstance(state.get("points"), list):
        raise InputError(str(file), "not a sweep state: no 'points' list")
    rows = [{**{k: p.get(k) for k in CSV_FIELDS}, "reasons": "; ".join(p.get("reasons") or [])}
            for p in points_with_pareto(state)]
    frame = pd.DataFrame.from_records(rows, columns=list(CSV_FIELDS))
    for name in CSV_FIELDS:
        if name in _TEXT:
            frame[name] = frame[name].astype("string")
        elif name in ("saturated", "pareto"):
            frame[name] = frame[name].astype("boolean")
        else:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return frame
