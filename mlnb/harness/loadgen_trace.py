"""Per-query schedule facts from LoadGen's trace (``mlperf_log_trace.json``), merged into queries.jsonl.

LoadGen's trace holds one ``"Sample"`` begin event per sample: ``ts`` is the query's scheduled time
(µs since the test started), ``args.issue_start_ns`` the delay from the scheduled time to the moment
LoadGen began issuing the query, and ``args.complete_ns`` the sample's latency from the scheduled
time to QuerySamplesComplete (the latency LoadGen reports). The SUT knows neither; with them the
report shows the load generator's lag and TTFT from the scheduled time next to the SUT's own times.

The file is not valid JSON as a whole (LoadGen 6.0.17 double-quotes some keys of its LogDetail
events), so it is read line by line: each event sits on its own line. A trace over
``COMPRESS_ABOVE_BYTES`` is gzipped in place after the merge (lossless; it stays next to the logs).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Iterator

TRACE_FILE = "mlperf_log_trace.json"
COMPRESS_ABOVE_BYTES = 16 * 2**20
FIELDS = ("scheduled_ms", "loadgen_issue_delay_ms", "loadgen_latency_ms")


def sample_events(path: Path) -> Iterator[dict]:
    """The ``Sample`` begin events, in file order."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.startswith('{"name":"Sample"') or '"ph":"b"' not in line:
                continue
            try:
                event = json.loads(line.rstrip().rstrip(","))
            except json.JSONDecodeError:
                continue
            args = event.get("args") or {}
            yield {
                "query_seq": args.get("query_seq"),
                "sample_seq": args.get("sample_seq"),
                "sample_idx": args.get("sample_idx"),
                "scheduled_ms": float(event.get("ts", 0.0)) / 1e3,
                "loadgen_issue_delay_ms": float(args.get("issue_start_ns", 0)) / 1e6,
                "loadgen_latency_ms": float(args.get("complete_ns", 0)) / 1e6,
            }


def merge_trace(rows: list[dict], path: Path) -> tuple[list[dict], str]:
    """Add :data:`FIELDS` to the SUT's rows (kept in issue order), pairing them with LoadGen's
    samples in (query, sample) order. Returns the rows and a one-line note of what happened;
    the rows are returned unchanged when the trace is missing or the samples do not line up."""
    if not path.is_file():
        return rows, "no LoadGen trace"
    events = sorted(sample_events(path), key=lambda e: (e["query_seq"] or 0, e["sample_seq"] or 0))
    if len(events) != len(rows):
        return rows, f"LoadGen trace has {len(events)} samples, the SUT saw {len(rows)}: not merged"
    for row, event in zip(rows, events):
        if event["sample_idx"] != row.get("sample_index"):
            return rows, f"LoadGen trace and SUT disagree on the order of samples (sample {row.get('sample_index')}): not merged"
    merged = [{**row, **{k: round(event[k], 4) for k in FIELDS}} for row, event in zip(rows, events)]
    return merged, f"merged {len(merged)} samples from LoadGen's trace"


def compress_if_large(path: Path) -> Path:
    if not path.is_file() or path.stat().st_size <= COMPRESS_ABOVE_BYTES:
        return path
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return target
