"""Per-query schedule facts from LoadGen's trace (``mlperf_log_trace.json``), merged into queries.jsonl.

LoadGen's trace holds one ``"Sample"`` begin event per sample: ``ts`` is the query's scheduled time
(µs since the test started), ``args.issue_start_ns`` the delay from the scheduled time to the moment
LoadGen began issuing the query, and ``args.complete_ns`` the sample's latency from the scheduled
time to QuerySamplesComplete (the latency LoadGen reports). The SUT knows neither; with them the
report shows the load generator's lag and TTFT from the scheduled time next to the SUT's own times.

The file is not valid JSON as a whole (LoadGen 6.0.17 double-quotes some keys of its LogDetail
events), so it is read line by line: each event sits on its own line. A trace over
``COMPRESS_ABOVE_BYTES`` is gzipped in place after the merge (lossless; it stays next to the logs).

Both the trace and the SUT's rows can hold millions of queries, so neither is loaded whole: the
trace's samples are kept as six numbers each in typed arrays (:class:`Schedule`), and the rows are
streamed from the file the SUT appended them to into the merged queries.jsonl.
"""

from __future__ import annotations

import gzip
import json
import shutil
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from mlnb.fileio import atomic_output

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


@dataclass
class Schedule:
    """LoadGen's samples in issue order ((query, sample) order): compact arrays, one slot per sample."""

    sample_idx: np.ndarray
    values: np.ndarray  # (samples, len(FIELDS)), ms

    def __len__(self) -> int:
        return int(self.sample_idx.size)


def read_schedule(path: Path) -> Schedule:
    """The trace's ``Sample`` events, read line by line into typed arrays and put in issue order."""
    query_seq, sample_seq, sample_idx, values = array("q"), array("q"), array("q"), array("d")
    for event in sample_events(path):
        query_seq.append(int(event["query_seq"] or 0))
        sample_seq.append(int(event["sample_seq"] or 0))
        sample_idx.append(-1 if event["sample_idx"] is None else int(event["sample_idx"]))
        values.extend(event[k] for k in FIELDS)
    order = np.lexsort((np.frombuffer(sample_seq, dtype=np.int64), np.frombuffer(query_seq, dtype=np.int64)))
    idx = np.frombuffer(sample_idx, dtype=np.int64)[order]
    vals = np.frombuffer(values, dtype=np.float64).reshape(-1, len(FIELDS))[order]
    return Schedule(idx, np.round(vals, 4))


def _merged_row(row: dict, schedule: Schedule, slot: int) -> dict:
    return {**row, **{k: float(v) for k, v in zip(FIELDS, schedule.values[slot])}}


def merge_trace_file(rows_path: Path, trace_path: Path, out_path: Path) -> tuple[int, str]:
    """Write ``out_path`` (atomically): the rows of ``rows_path`` (JSON lines with ``issue_seq``, in
    any order) with :data:`FIELDS` added from the trace. Unmerged rows are written as they are when
    the trace is missing or does not line up with the rows. -> (rows written, one-line note)."""
    schedule = read_schedule(trace_path) if trace_path.is_file() else None
    count = sum(1 for line in open(rows_path, encoding="utf-8") if line.strip())
    note = "no LoadGen trace"
    if schedule is not None:
        note = f"merged {count} samples from LoadGen's trace"
        if len(schedule) != count:
            note, schedule = f"LoadGen trace has {len(schedule)} samples, the SUT saw {count}: not merged", None
    with atomic_output(out_path, "w", buffering=1 << 20) as out:
        if schedule is not None:
            with open(rows_path, encoding="utf-8") as rows:
                for line in rows:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    slot = row.get("issue_seq")
                    if not isinstance(slot, int) or not 0 <= slot < len(schedule) or schedule.sample_idx[slot] != row.get("sample_index"):
                        note = f"LoadGen trace and SUT disagree on the order of samples (sample {row.get('sample_index')}): not merged"
                        schedule = None
                        break
                    out.write(json.dumps(_merged_row(row, schedule, slot)) + "\n")
        if schedule is None:  # start again: the rows unmerged, byte for byte
            out.seek(0)
            out.truncate()
            with open(rows_path, encoding="utf-8") as rows:
                shutil.copyfileobj(rows, out)
    return count, note


def merge_trace(rows: list[dict], path: Path) -> tuple[list[dict], str]:
    """Add :data:`FIELDS` to the SUT's rows (kept in issue order), pairing them with LoadGen's
    samples in (query, sample) order. Returns the rows and a one-line note of what happened;
    the rows are returned unchanged when the trace is missing or the samples do not line up."""
    if not path.is_file():
        return rows, "no LoadGen trace"
    schedule = read_schedule(path)
    if len(schedule) != len(rows):
        return rows, f"LoadGen trace has {len(schedule)} samples, the SUT saw {len(rows)}: not merged"
    for slot, row in enumerate(rows):
        if schedule.sample_idx[slot] != row.get("sample_index"):
            return rows, f"LoadGen trace and SUT disagree on the order of samples (sample {row.get('sample_index')}): not merged"
    merged = [_merged_row(row, schedule, slot) for slot, row in enumerate(rows)]
    return merged, f"merged {len(merged)} samples from LoadGen's trace"


def compress_if_large(path: Path) -> Path:
    if not path.is_file() or path.stat().st_size <= COMPRESS_ABOVE_BYTES:
        return path
    target = path.with_name(path.name + ".gz")
    # Level 1: a trace of 10^6 queries is about 1 GB; on LoadGen's trace level 1 is 8.6 times as fast
    # as the default 9 and the file 1.4 times as large (measured on 100 MB of one).
    with open(path, "rb") as src, gzip.open(target, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return target
