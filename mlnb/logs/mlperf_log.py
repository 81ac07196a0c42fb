"""Parse the logs of one MLCommons LoadGen run into a typed :class:`LoadgenResult`.

LoadGen writes, into its output folder:

* ``mlperf_log_detail.txt`` -- one record per line, ``:::MLLOG {json}``, with a
  ``key``, a ``value`` and ``metadata`` (``is_error``, ``is_warning``, ...). This is
  the primary source: every number comes from here when it exists.
* ``mlperf_log_summary.txt`` -- the human-readable summary. Used only when the
  detail log is missing (``source == "summary"``); it carries fewer fields (no
  LoadGen version, no query count, no error messages) and rounds some numbers.

Conventions of the parsed result:

* Latencies are converted from LoadGen's nanoseconds to **milliseconds** by a
  plain division; nothing is recomputed from per-query data.
* Percentile keys are normalised to ``str(float(p))``: LoadGen's ``50.00`` and
  ``99.90`` become ``"50.0"`` and ``"99.9"``.
* ``samples_per_second`` is the scenario's own metric: Offline
  ``result_samples_per_second``, Server ``result_completed_samples_per_sec``,
  SingleStream ``result_qps_with_loadgen_overhead``. ``tokens_per_second``
  follows the same choice: Offline ``result_tokens_per_second``, Server
  ``result_completed_tokens_per_second``, SingleStream
  ``result_token_throughput_with_loadgen_overhead`` (the summary's "TPS w/
  loadgen overhead"); ``None`` where LoadGen logs none (no token latencies,
  MultiStream). LoadGen's ``result_token_throughput`` is never used: it divides
  by nanoseconds, not seconds (the summary's "TPS w/o loadgen overhead" is the
  same figure 1e9 times larger).
* ``raw`` maps every detail-log key to its value, the **last** occurrence
  winning; ``raw_repeated`` holds, for each key seen more than once (e.g.
  ``generic_message``, ``error_runtime``), every value in log order.
* ``errors`` / ``warnings`` hold the **distinct** ``"<key>: <value>"`` messages
  of the detail records flagged ``is_error`` / ``is_warning``, first-seen order;
  ``num_errors`` / ``num_warnings`` count every record (``num_errors`` is
  LoadGen's own ``num_errors`` key when logged). From the summary alone only the
  counts are known (``None`` when the summary has no trailer line).
* ``invalid_reasons`` (only for INVALID runs): one line per failed check
  ("performance constraints not met", "min duration not met", "min queries not
  met", "early stopping not met"), then LoadGen's own recommendations
  (``result_invalid_reason`` split into sentences, or the summary's
  ``Recommendations:`` bullets).
* ``early_stopping`` maps ``"latency"`` (``early_stopping_result``), ``"ttft"``
  and ``"tpot"`` to LoadGen's early-stopping message, whitespace collapsed;
  empty messages are left out. (With token latencies LoadGen evaluates TPOT
  first and skips TTFT when TPOT fails, so ``"ttft"`` is then absent.)
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlnb.errors import InputError

__all__ = [
    "DETAIL_LOG",
    "SUMMARY_LOG",
    "LatencyStats",
    "LoadgenSettings",
    "LoadgenResult",
    "parse_detail_log",
    "parse_summary_log",
    "parse_loadgen_dir",
]

DETAIL_LOG = "mlperf_log_detail.txt"
SUMMARY_LOG = "mlperf_log_summary.txt"
MLLOG_PREFIX = ":::MLLOG"

NS_PER_MS = 1e6


class LatencyStats(BaseModel):
    """Latency statistics as LoadGen reports them, in milliseconds."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    mean: float | None = None
    max: float | None = None
    percentiles: dict[str, float] = Field(default_factory=dict)  # {"90.0": ms, ...}


class LoadgenSettings(BaseModel):
    """The settings LoadGen actually ran with (``effective_*`` keys where they exist)."""

    model_config = ConfigDict(extra="forbid")

    target_qps: float | None = None
    min_duration_ms: int | None = None
    min_query_count: int | None = None
    min_sample_count: int | None = None  # Offline's real sample floor (detail log only)
    performance_sample_count: int | None = None
    ttft_limit_ms: float | None = None  # None for Offline, which has no TTFT limit
    tpot_limit_ms: float | None = None
    use_token_latencies: bool | None = None
    qsl_rng_seed: int | None = None
    sample_index_rng_seed: int | None = None
    schedule_rng_seed: int | None = None
    sample_concatenate_permutation: bool | None = None


class LoadgenResult(BaseModel):
    """One LoadGen run, parsed from its detail log (or, failing that, its summary)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["detail", "summary"]
    loadgen_version: str | None = None
    test_datetime: str | None = None
    sut_name: str | None = None
    scenario: str | None = None  # "Offline" | "Server" | "SingleStream" | "MultiStream"
    mode: str | None = None  # "PerformanceOnly" | "AccuracyOnly" | ...
    validity: Literal["VALID", "INVALID"] | None = None  # None: accuracy runs, cut-short logs

    perf_constraints_met: bool | None = None  # Server only
    min_duration_met: bool | None = None
    min_queries_met: bool | None = None  # None also where the summary says "Skipped"
    early_stopping_met: bool | None = None
    invalid_reasons: list[str] = Field(default_factory=list)
    early_stopping: dict[str, str] = Field(default_factory=dict)
    # LoadGen's early-stopping percentile estimate (SingleStream early_stopping_latency_ss,
    # MultiStream early_stopping_latency_ms -- both logged in ns). With token latencies
    # LoadGen fills it with the TTFT estimate.
    early_stopping_latency_ms: float | None = None

    query_count: int | None = None
    # Server only, and only meaningful without token latencies: LoadGen counts queries
    # over effective_target_latency_ns, which is 0 in token-latency runs (every query
    # would count), so it is left None there (the value stays in ``raw``).
    overlatency_query_count: int | None = None
    # Samples per query as LoadGen generated them (detail log only; the summary's value is the setting):
    # Offline issues one query of every sample, so its query_count is 1.
    samples_per_query: int | None = None
    samples_per_second: float | None = None
    scheduled_samples_per_second: float | None = None  # Server
    tokens_per_second: float | None = None

    latency: LatencyStats | None = None
    ttft: LatencyStats | None = None
    tpot: LatencyStats | None = None

    settings: LoadgenSettings = Field(default_factory=LoadgenSettings)

    num_errors: int | None = None
    num_warnings: int | None = None
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    parse_notes: list[str] = Field(default_factory=list)  # lines mlnb could not read

    raw: dict[str, Any] = Field(default_factory=dict)
    raw_repeated: dict[str, list[Any]] = Field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        return self.validity == "VALID"


# ----------------------------------------------------------------------------- helpers


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = _as_float(text)
            return _as_int(number) if number is not None else None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "yes", "1"}:
            return True
        if text in {"false", "no", "0"}:
            return False
    return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _ns_to_ms(value: Any) -> float | None:
    number = _as_float(value)
    return None if number is None else number / NS_PER_MS


def _percentile_key(text: str) -> str:
    return str(float(text))


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _message(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"{key}: {text}"


def _failed_checks(result: LoadgenResult) -> list[str]:
    checks = [
        (result.perf_constraints_met, "performance constraints not met"),
        (result.min_duration_met, "min duration not met"),
        (result.min_queries_met, "min queries not met"),
        (result.early_stopping_met, "early stopping not met"),
    ]
    return [text for met, text in checks if met is False]


def _split_recommendations(text: str) -> list[str]:
    """Split LoadGen's ``result_invalid_reason`` into its recommendations.

    LoadGen joins them with a space (a perf-constraint one may itself carry
    `` * `` bullets), so split on bullets, then on sentence ends.
    """
    parts: list[str] = []
    for chunk in re.split(r"\s*\*\s+", text):
        for sentence in re.split(r"(?<=\.)\s+(?=[A-Z])", chunk.strip()):
            sentence = _collapse(sentence)
            if sentence:
                parts.append(sentence)
    return parts


def _finish_reasons(result: LoadgenResult, recommendations: list[str]) -> None:
    if result.validity != "INVALID":
        return
    reasons = _failed_checks(result) + [r for r in recommendations if r]
    result.invalid_reasons = reasons or ["LoadGen reported INVALID without a reason"]


# ------------------------------------------------------------------------- detail log

_NAN_INF = re.compile(r"(?<=[\[:,])(\s*)(-?)(nan|inf)\b", re.IGNORECASE)


def _load_record(payload: str) -> dict[str, Any] | None:
    try:
        record = json.loads(payload)
    except json.JSONDecodeError:
        # LoadGen can print non-finite doubles as bare nan / inf, which JSON lacks.
        def fix(match: re.Match[str]) -> str:
            space, sign, word = match.groups()
            if word.lower() == "nan":
                return f"{space}NaN"
            return f"{space}{sign}Infinity"

        try:
            record = json.loads(_NAN_INF.sub(fix, payload))
        except json.JSONDecodeError:
            return None
    return record if isinstance(record, dict) and "key" in record else None


def _read_detail_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(
            str(path), f"cannot read the LoadGen detail log ({exc.strerror or exc})"
        ) from exc
    lines = text.splitlines()
    first = lines[0].lstrip("\ufeff") if lines else ""
    if not first.startswith(MLLOG_PREFIX):
        raise InputError(
            str(path),
            f"not a LoadGen detail log: the first line should start with '{MLLOG_PREFIX}'"
            + (" but the file is empty" if not text.strip() else ""),
        )
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    for number, line in enumerate(lines, start=1):
        line = line.lstrip("\ufeff").strip()
        if not line:
            continue
        if not line.startswith(MLLOG_PREFIX):
            notes.append(f"{path.name} line {number}: not a {MLLOG_PREFIX} record, skipped")
            continue
        record = _load_record(line[len(MLLOG_PREFIX):].strip())
        if record is None:
            notes.append(f"{path.name} line {number}: unreadable {MLLOG_PREFIX} JSON, skipped")
            continue
        records.append(record)
    return records, notes


def _stats_from_detail(
    raw: dict[str, Any], min_key: str, mean_key: str, max_key: str, percentile_re: re.Pattern[str]
) -> LatencyStats | None:
    percentiles: dict[str, float] = {}
    for key, value in raw.items():
        match = percentile_re.match(key)
        if match:
            ms = _ns_to_ms(value)
            if ms is not None:
                percentiles[_percentile_key(match.group(1))] = ms
    stats = LatencyStats(
        min=_ns_to_ms(raw.get(min_key)),
        mean=_ns_to_ms(raw.get(mean_key)),
        max=_ns_to_ms(raw.get(max_key)),
        percentiles=dict(sorted(percentiles.items(), key=lambda item: float(item[0]))),
    )
    if stats.min is None and stats.mean is None and stats.max is None and not percentiles:
        return None
    return stats


_LATENCY_PCT = re.compile(r"^result_(\d+(?:\.\d+)?)_percentile_latency_ns$")
_TTFT_PCT = re.compile(r"^result_first_token_(\d+(?:\.\d+)?)_percentile_latency_ns$")
_TPOT_PCT = re.compile(r"^result_time_per_output_token_(\d+(?:\.\d+)?)_percentile_ns$")

_DETAIL_SAMPLES = {
    "Offline": "result_samples_per_second",
    "Server": "result_completed_samples_per_sec",
    "SingleStream": "result_qps_with_loadgen_overhead",
}
_DETAIL_TOKENS = {
    "Offline": "result_tokens_per_second",
    "Server": "result_completed_tokens_per_second",
    "SingleStream": "result_token_throughput_with_loadgen_overhead",
}


def parse_detail_log(path: str | Path) -> LoadgenResult:
    """Parse ``mlperf_log_detail.txt`` (``path`` is the file itself)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "LoadGen detail log not found")
    records, notes = _read_detail_records(path)

    raw: dict[str, Any] = {}
    all_values: dict[str, list[Any]] = {}
    errors: list[str] = []
    warnings: list[str] = []
    error_records = 0
    warning_records = 0
    for record in records:
        key = str(record["key"])
        value = record.get("value")
        raw[key] = value
        all_values.setdefault(key, []).append(value)
        metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        if metadata.get("is_error") is True:
            error_records += 1
            message = _message(key, value)
            if message not in errors:
                errors.append(message)
        if metadata.get("is_warning") is True:
            warning_records += 1
            message = _message(key, value)
            if message not in warnings:
                warnings.append(message)
    repeated = {key: values for key, values in all_values.items() if len(values) > 1}

    scenario = raw.get("effective_scenario", raw.get("requested_scenario"))
    scenario = str(scenario) if scenario is not None else None
    mode = raw.get("effective_test_mode", raw.get("requested_test_mode"))
    mode = str(mode) if mode is not None else None

    validity = raw.get("result_validity")
    if validity is not None and validity not in ("VALID", "INVALID"):
        notes.append(f"unexpected result_validity {validity!r}")
        validity = None

    use_tokens = _as_bool(raw.get("requested_use_token_latencies"))

    early_stopping: dict[str, str] = {}
    for key, name in (
        ("early_stopping_result", "latency"),
        ("early_stopping_ttft_result", "ttft"),
        ("early_stopping_tpot_result", "tpot"),
    ):
        text = _collapse(str(raw.get(key) or ""))
        if text:
            early_stopping[name] = text

    if scenario == "SingleStream":
        es_latency = _ns_to_ms(raw.get("early_stopping_latency_ss"))
    elif scenario == "MultiStream":
        es_latency = _ns_to_ms(raw.get("early_stopping_latency_ms"))
    else:
        es_latency = None

    logged_errors = _as_int(raw.get("num_errors"))
    if logged_errors is not None and logged_errors != error_records:
        notes.append(
            f"LoadGen's num_errors says {logged_errors}"
            f" but the log holds {error_records} error records"
        )

    is_offline = scenario == "Offline"
    settings = LoadgenSettings(
        target_qps=_as_float(raw.get("effective_target_qps")),
        min_duration_ms=_as_int(raw.get("effective_min_duration_ms")),
        min_query_count=_as_int(raw.get("effective_min_query_count")),
        min_sample_count=_as_int(raw.get("effective_min_sample_count")),
        performance_sample_count=_as_int(raw.get("effective_performance_sample_count")),
        ttft_limit_ms=None if is_offline else _ns_to_ms(raw.get("requested_server_ttft_latency")),
        tpot_limit_ms=None if is_offline else _ns_to_ms(raw.get("requested_server_tpot_latency")),
        use_token_latencies=use_tokens,
        qsl_rng_seed=_as_int(raw.get("effective_qsl_rng_seed")),
        sample_index_rng_seed=_as_int(raw.get("effective_sample_index_rng_seed")),
        schedule_rng_seed=_as_int(raw.get("effective_schedule_rng_seed")),
        sample_concatenate_permutation=_as_bool(
            raw.get("effective_sample_concatenate_permutation")
        ),
    )

    result = LoadgenResult(
        source="detail",
        loadgen_version=_str_or_none(raw.get("loadgen_version")),
        test_datetime=_str_or_none(raw.get("test_datetime")),
        sut_name=_str_or_none(raw.get("sut_name")),
        scenario=scenario,
        mode=mode,
        validity=validity,
        perf_constraints_met=_as_bool(raw.get("result_perf_constraints_met")),
        min_duration_met=_as_bool(raw.get("result_min_duration_met")),
        min_queries_met=_as_bool(raw.get("result_min_queries_met")),
        early_stopping_met=_as_bool(raw.get("early_stopping_met")),
        early_stopping=early_stopping,
        early_stopping_latency_ms=es_latency,
        query_count=_as_int(raw.get("result_query_count")),
        overlatency_query_count=(
            None if use_tokens else _as_int(raw.get("result_overlatency_query_count"))
        ),
        samples_per_query=_as_int(raw.get("generated_samples_per_query")),
        samples_per_second=_as_float(raw.get(_DETAIL_SAMPLES.get(scenario or "", ""))),
        scheduled_samples_per_second=_as_float(raw.get("result_scheduled_samples_per_sec")),
        tokens_per_second=_as_float(raw.get(_DETAIL_TOKENS.get(scenario or "", ""))),
        latency=_stats_from_detail(
            raw,
            "result_min_latency_ns",
            "result_mean_latency_ns",
            "result_max_latency_ns",
            _LATENCY_PCT,
        ),
        ttft=_stats_from_detail(
            raw,
            "result_first_token_min_latency_ns",
            "result_first_token_mean_latency_ns",
            "result_first_token_max_latency_ns",
            _TTFT_PCT,
        ),
        tpot=_stats_from_detail(
            raw,
            "result_time_to_output_token_min",
            "result_time_to_output_token_mean",
            "result_time_to_output_token_max",
            _TPOT_PCT,
        ),
        settings=settings,
        num_errors=logged_errors if logged_errors is not None else error_records,
        num_warnings=warning_records,
        errors=errors,
        warnings=warnings,
        parse_notes=notes,
        raw=raw,
        raw_repeated=repeated,
    )
    reasons = raw.get("result_invalid_reason")
    _finish_reasons(result, _split_recommendations(reasons) if isinstance(reasons, str) else [])
    return result


# ------------------------------------------------------------------------ summary log

_ES_HEADERS = {
    "early stopping result": "latency",
    "ttft early stopping result": "ttft",
    "tpot early stopping result": "tpot",
}
_SUMMARY_LATENCY_PCT = re.compile(r"^(\d+(?:\.\d+)?) percentile latency \(ns\)$")
_SUMMARY_TTFT_PCT = re.compile(r"^(\d+(?:\.\d+)?) percentile first token latency \(ns\)$")
_SUMMARY_TPOT_PCT = re.compile(r"^(\d+(?:\.\d+)?) percentile time (?:to|per) output token \(ns\)$")
_ERRORS_LINE = re.compile(r"^(\d+) errors? encountered", re.IGNORECASE)
_WARNINGS_LINE = re.compile(r"^(\d+) warnings? encountered", re.IGNORECASE)
_SUMMARY_SAMPLES = {
    "Offline": "samples per second",
    "Server": "completed samples per second",
    "SingleStream": "qps w/ loadgen overhead",
}
_SUMMARY_TOKENS = {
    "Offline": "tokens per second",
    "Server": "completed tokens per second",
    "SingleStream": "tps w/ loadgen overhead",
}
_TOKEN_LABELS = (
    "tokens per second",
    "completed tokens per second",
    "tps w/ loadgen overhead",
    "min first token latency (ns)",
)


def _summary_blocks(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``Recommendations:`` bullets and the early-stopping messages."""
    recommendations: list[str] = []
    early_stopping: dict[str, str] = {}
    index = 0
    while index < len(lines):
        header = lines[index].strip().rstrip(":").strip().lower()
        if header == "recommendations":
            index += 1
            while index < len(lines) and lines[index][:1].isspace() and lines[index].strip():
                text = lines[index].strip()
                if text.startswith("*"):
                    recommendations.append(text.lstrip("*").strip())
                elif recommendations:
                    recommendations[-1] += " " + text
                index += 1
            continue
        if header in _ES_HEADERS and lines[index].rstrip().endswith(":"):
            index += 1
            body: list[str] = []
            while index < len(lines) and lines[index].strip() and lines[index][:1].isspace():
                body.append(lines[index].strip())
                index += 1
            text = _collapse(" ".join(body))
            if text:
                early_stopping[_ES_HEADERS[header]] = text
            continue
        index += 1
    return [_collapse(r) for r in recommendations], early_stopping


def _stats_from_summary(
    values: dict[str, str], prefix: str | tuple[str, ...], percentile_re: re.Pattern[str]
) -> LatencyStats | None:
    prefixes = (prefix,) if isinstance(prefix, str) else prefix

    def pick(which: str) -> float | None:
        for p in prefixes:
            label = f"{which} {p} (ns)"
            if label in values:
                return _ns_to_ms(values[label])
        return None

    percentiles: dict[str, float] = {}
    for label, value in values.items():
        match = percentile_re.match(label)
        if match:
            ms = _ns_to_ms(value)
            if ms is not None:
                percentiles[_percentile_key(match.group(1))] = ms
    stats = LatencyStats(
        min=pick("min"),
        mean=pick("mean"),
        max=pick("max"),
        percentiles=dict(sorted(percentiles.items(), key=lambda item: float(item[0]))),
    )
    if stats.min is None and stats.mean is None and stats.max is None and not percentiles:
        return None
    return stats


def _yes_no(value: str | None) -> bool | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text == "yes":
        return True
    if text == "no":
        return False
    return None  # "Skipped" and anything new


def parse_summary_log(path: str | Path) -> LoadgenResult:
    """Parse ``mlperf_log_summary.txt`` (``path`` is the file itself)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "LoadGen summary log not found")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(
            str(path), f"cannot read the LoadGen summary log ({exc.strerror or exc})"
        ) from exc
    lines = text.splitlines()

    # "label : value" pairs, labels lower-cased with whitespace collapsed; first wins.
    values: dict[str, str] = {}
    num_errors: int | None = None
    num_warnings: int | None = None
    permutation: bool | None = None
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("*") or stripped.startswith("="):
            continue
        if stripped.startswith("No errors encountered"):
            num_errors = 0
            continue
        if stripped.startswith("No warnings encountered"):
            num_warnings = 0
            continue
        match = _ERRORS_LINE.match(stripped)
        if match:
            num_errors = int(match.group(1))
            continue
        match = _WARNINGS_LINE.match(stripped)
        if match:
            num_warnings = int(match.group(1))
            continue
        if stripped.startswith("WARNING: sample_concatenate_permutation was set to true"):
            permutation = True
            continue
        if ":" not in stripped:
            continue
        label, value = stripped.split(":", 1)
        label = _collapse(label).lower()
        if label and value.strip():
            values.setdefault(label, value.strip())

    notes: list[str] = []
    if num_errors is None:
        notes.append(f"{path.name}: no error count line; the number of errors is unknown")
    if num_warnings is None:
        notes.append(f"{path.name}: no warning count line; the number of warnings is unknown")

    scenario = values.get("scenario")
    mode = values.get("mode")
    validity = values.get("result is")
    if validity is not None and validity not in ("VALID", "INVALID"):
        notes.append(f"unexpected 'Result is' value {validity!r}")
        validity = None

    recommendations, early_stopping = _summary_blocks(lines)
    use_tokens = True if any(label in values for label in _TOKEN_LABELS) else None
    is_offline = scenario == "Offline"

    es_latency = None
    if scenario in ("SingleStream", "MultiStream"):
        # The first estimate of the block LoadGen evaluated last (TTFT in
        # token-latency runs): that is what the detail log records.
        block = early_stopping.get("ttft") or early_stopping.get("latency") or ""
        estimate = re.search(r"percentile estimate: (-?\d+)", block)
        es_latency = _ns_to_ms(estimate.group(1)) if estimate else None

    settings = LoadgenSettings(
        target_qps=_as_float(values.get("target_qps")),
        min_duration_ms=_as_int(values.get("min_duration (ms)")),
        min_query_count=_as_int(values.get("min_query_count")),
        performance_sample_count=_as_int(values.get("performance_sample_count")),
        ttft_limit_ms=None if is_offline else _ns_to_ms(values.get("ttft_latency (ns)")),
        tpot_limit_ms=None if is_offline else _ns_to_ms(values.get("tpot_latency (ns)")),
        use_token_latencies=use_tokens,
        qsl_rng_seed=_as_int(values.get("qsl_rng_seed")),
        sample_index_rng_seed=_as_int(values.get("sample_index_rng_seed")),
        schedule_rng_seed=_as_int(values.get("schedule_rng_seed")),
        sample_concatenate_permutation=permutation,
    )

    result = LoadgenResult(
        source="summary",
        sut_name=values.get("sut name"),
        scenario=scenario,
        mode=mode,
        validity=validity,
        perf_constraints_met=_yes_no(values.get("performance constraints satisfied")),
        min_duration_met=_yes_no(values.get("min duration satisfied")),
        min_queries_met=_yes_no(values.get("min queries satisfied")),
        early_stopping_met=_yes_no(values.get("early stopping satisfied")),
        early_stopping=early_stopping,
        early_stopping_latency_ms=es_latency,
        samples_per_second=_as_float(values.get(_SUMMARY_SAMPLES.get(scenario or "", ""))),
        scheduled_samples_per_second=_as_float(values.get("scheduled samples per second")),
        tokens_per_second=_as_float(values.get(_SUMMARY_TOKENS.get(scenario or "", ""))),
        latency=_stats_from_summary(values, "latency", _SUMMARY_LATENCY_PCT),
        ttft=_stats_from_summary(values, "first token latency", _SUMMARY_TTFT_PCT),
        tpot=_stats_from_summary(
            values, ("time per output token", "time to output token"), _SUMMARY_TPOT_PCT
        ),
        settings=settings,
        num_errors=num_errors,
        num_warnings=num_warnings,
        parse_notes=notes,
    )
    _finish_reasons(result, recommendations)
    return result


# --------------------------------------------------------------------------- folder


def parse_loadgen_dir(folder: str | Path) -> LoadgenResult:
    """Parse a LoadGen output folder: the detail log if present, else the summary."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(str(folder), "LoadGen log folder not found")
    detail = folder / DETAIL_LOG
    if detail.is_file():
        return parse_detail_log(detail)
    summary = folder / SUMMARY_LOG
    if summary.is_file():
        return parse_summary_log(summary)
    raise InputError(
        str(folder), f"no {DETAIL_LOG} or {SUMMARY_LOG}: not a LoadGen output folder"
    )
