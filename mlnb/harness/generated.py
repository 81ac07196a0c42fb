"""How many samples LoadGen will issue in a test, read from its own detail log.

LoadGen generates the whole schedule before it issues the first query and logs its size
(``generated_query_count`` and ``generated_samples_per_query`` in mlperf_log_detail.txt). In the
Server and SingleStream scenarios queries arrive one by one, so "completed of issued so far" reads
full whenever the system keeps up; the generated count is the real total a progress bar can use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

DETAIL_LOG = "mlperf_log_detail.txt"
_PREFIX = ":::MLLOG "
_READ_AT_MOST = 4 << 20  # the entries come right after the settings; never read a long log whole


def generated_samples(loadgen_dir: Path) -> Optional[int]:
    """queries x samples per query as LoadGen generated them; None until both are in the log."""
    values: dict[str, int] = {}
    try:
        with open(Path(loadgen_dir) / DETAIL_LOG, "r", encoding="utf-8", errors="replace") as handle:
            text = handle.read(_READ_AT_MOST)
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if "generated_" not in line or not line.startswith(_PREFIX):
            continue
        try:
            entry = json.loads(line[len(_PREFIX):])
        except ValueError:
            continue  # a line still being written
        if entry.get("key") in ("generated_query_count", "generated_samples_per_query"):
            values[entry["key"]] = int(entry["value"])
    if len(values) < 2:
        return None
    return values["generated_query_count"] * values["generated_samples_per_query"]
