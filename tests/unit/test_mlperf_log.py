"""mlnb.logs.mlperf_log against logs of real LoadGen runs (tests/fixtures/loadgen).

The fixtures come from tests/fixtures/loadgen/make_fixtures.py. Numbers parsed
from the detail log are cross-checked against the summary text LoadGen printed
for the same run, read here with plain regular expressions (an independent path
from the parser's own summary reader).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlnb.errors import InputError
from mlnb.logs.mlperf_log import (
    DETAIL_LOG,
    SUMMARY_LOG,
    LoadgenResult,
    parse_detail_log,
    parse_loadgen_dir,
    parse_summary_log,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadgen"
PERFORMANCE_CASES = [
    "offline_valid",
    "server_valid",
    "server_invalid",
    "singlestream",
    "server_error",
]
ALL_CASES = PERFORMANCE_CASES + ["offline_accuracy"]


def summary_text(name: str) -> str:
    return (FIXTURES / name / SUMMARY_LOG).read_text(encoding="utf-8")


def summary_value(text: str, label: str) -> str:
    """The value after ``label :`` on the first summary line that starts with ``label``."""
    match = re.search(rf"^{re.escape(label)}\s*:\s*(\S+)\s*$", text, re.MULTILINE)
    assert match, f"summary has no line {label!r}"
    return match.group(1)


def summary_number(text: str, label: str) -> float:
    return float(summary_value(text, label))


def close(parsed: float | None, printed: float) -> bool:
    # LoadGen prints some figures rounded to 2 decimals, others to 6 significant digits.
    return parsed is not None and parsed == pytest.approx(printed, rel=1e-5, abs=0.006)


@pytest.fixture(scope="module")
def detail() -> dict[str, LoadgenResult]:
    return {name: parse_loadgen_dir(FIXTURES / name) for name in ALL_CASES}


# ------------------------------------------------------------------ fixtures themselves


def test_fixtures_hold_only_the_small_log_files() -> None:
    total = 0
    for name in ALL_CASES:
        files = sorted(p.name for p in (FIXTURES / name).iterdir())
        expected = [DETAIL_LOG, SUMMARY_LOG]
        if name == "offline_accuracy":
            expected = ["mlperf_log_accuracy.json"] + expected
        assert files == sorted(expected), name
        total += sum(p.stat().st_size for p in (FIXTURES / name).iterdir())
    assert total < 1_000_000


def test_accuracy_fixture_has_a_handful_of_entries() -> None:
    entries = json.loads((FIXTURES / "offline_accuracy" / "mlperf_log_accuracy.json").read_text())
    assert 1 <= len(entries) <= 10
    assert {"seq_id", "qsl_idx", "data", "token_count"} <= set(entries[0])


# --------------------------------------------------------------- common to every case


@pytest.mark.parametrize("name", PERFORMANCE_CASES)
def test_scenario_mode_validity_match_summary(detail: dict[str, LoadgenResult], name: str) -> None:
    text = summary_text(name)
    result = detail[name]
    assert result.source == "detail"
    assert result.loadgen_version and result.loadgen_version.startswith("6.0.17")
    assert result.scenario == summary_value(text, "Scenario")
    assert result.mode == summary_value(text, "Mode") == "PerformanceOnly"
    assert result.validity == summary_value(text, "Result is")
    assert result.settings.use_token_latencies is True
    assert result.query_count and result.query_count > 0


@pytest.mark.parametrize("name", PERFORMANCE_CASES)
def test_latency_is_ns_divided_by_1e6(detail: dict[str, LoadgenResult], name: str) -> None:
    text = summary_text(name)
    result = detail[name]
    assert result.latency is not None
    assert result.latency.min == result.raw["result_min_latency_ns"] / 1e6
    assert result.latency.min == summary_number(text, "Min latency (ns)") / 1e6
    assert result.latency.max == summary_number(text, "Max latency (ns)") / 1e6
    assert result.latency.mean == summary_number(text, "Mean latency (ns)") / 1e6
    assert list(result.latency.percentiles) == ["50.0", "90.0", "95.0", "97.0", "99.0", "99.9"]
    for key, printed in (("50.0", "50.00"), ("90.0", "90.00"), ("99.9", "99.90")):
        ns = summary_number(text, f"{printed} percentile latency (ns)")
        assert result.latency.percentiles[key] == ns / 1e6
        raw_ns = result.raw[f"result_{printed}_percentile_latency_ns"]
        assert result.latency.percentiles[key] == raw_ns / 1e6


@pytest.mark.parametrize("name", ["server_valid", "server_invalid", "singlestream"])
def test_ttft_tpot_stats_match_summary(detail: dict[str, LoadgenResult], name: str) -> None:
    text = summary_text(name)
    result = detail[name]
    assert result.ttft is not None and result.tpot is not None
    assert result.ttft.min == summary_number(text, "Min First Token latency (ns)") / 1e6
    assert result.ttft.mean == summary_number(text, "Mean First Token latency (ns)") / 1e6
    assert result.ttft.percentiles["99.0"] == (
        summary_number(text, "99.00 percentile first token latency (ns)") / 1e6
    )
    assert result.tpot.min == summary_number(text, "Min Time per Output Token (ns)") / 1e6
    assert result.tpot.max == summary_number(text, "Max Time per Output Token (ns)") / 1e6
    assert result.tpot.percentiles["99.0"] == (
        summary_number(text, "99.00 percentile time to output token (ns)") / 1e6
    )


@pytest.mark.parametrize("name", PERFORMANCE_CASES)
def test_detail_and_summary_parses_agree(detail: dict[str, LoadgenResult], name: str) -> None:
    full = detail[name]
    fallback = parse_summary_log(FIXTURES / name / SUMMARY_LOG)
    assert fallback.source == "summary"
    for field in (
        "scenario",
        "mode",
        "validity",
        "perf_constraints_met",
        "min_duration_met",
        "min_queries_met",
        "early_stopping_met",
        "invalid_reasons",
        "early_stopping",
        "early_stopping_latency_ms",
        "latency",
        "ttft",
        "tpot",
        "num_errors",
        "num_warnings",
    ):
        assert getattr(fallback, field) == getattr(full, field), field
    for field in ("samples_per_second", "scheduled_samples_per_second", "tokens_per_second"):
        mine, theirs = getattr(fallback, field), getattr(full, field)
        assert (mine is None) == (theirs is None), field
        if mine is not None:
            assert close(theirs, mine), field
    assert fallback.settings.model_dump(exclude={"min_sample_count"}) == full.settings.model_dump(
        exclude={"min_sample_count"}
    )


# ------------------------------------------------------------------------ per scenario


def test_offline_valid(detail: dict[str, LoadgenResult]) -> None:
    text = summary_text("offline_valid")
    result = detail["offline_valid"]
    assert result.scenario == "Offline"
    assert result.validity == "VALID" and result.is_valid
    assert result.invalid_reasons == []
    assert result.perf_constraints_met is None  # Offline has no perf constraints
    assert close(result.samples_per_second, summary_number(text, "Samples per second"))
    assert result.samples_per_second == result.raw["result_samples_per_second"]
    assert close(result.tokens_per_second, summary_number(text, "Tokens per second"))
    assert result.tokens_per_second == result.raw["result_tokens_per_second"]
    assert result.ttft is None and result.tpot is None
    assert result.settings.ttft_limit_ms is None and result.settings.tpot_limit_ms is None
    assert result.settings.min_duration_ms == int(summary_value(text, "min_duration (ms)"))
    assert result.settings.min_sample_count == result.raw["effective_min_sample_count"]
    assert result.num_errors == 0 and result.errors == []
    # Offline's one query holds every sample: LoadGen's generated count, not the setting
    assert result.query_count == 1 and result.samples_per_query == result.raw["generated_samples_per_query"] > 1


def test_server_valid(detail: dict[str, LoadgenResult]) -> None:
    text = summary_text("server_valid")
    result = detail["server_valid"]
    assert result.scenario == "Server" and result.validity == "VALID"
    assert result.perf_constraints_met is True
    assert result.early_stopping_met is True
    assert result.early_stopping == {"ttft": "* Run successful.", "tpot": "* Run successful."}
    assert close(result.samples_per_second, summary_number(text, "Completed samples per second"))
    assert result.samples_per_second == result.raw["result_completed_samples_per_sec"]
    assert close(
        result.scheduled_samples_per_second, summary_number(text, "Scheduled samples per second")
    )
    assert close(result.tokens_per_second, summary_number(text, "Completed tokens per second"))
    # LoadGen's result_token_throughput is tokens per nanosecond; never surfaced.
    assert result.tokens_per_second != result.raw["result_token_throughput"]
    assert result.raw["result_token_throughput"] < 1
    assert result.settings.ttft_limit_ms == 2000.0  # llama3_1-8b: 2 s TTFT
    assert result.settings.tpot_limit_ms == 100.0
    assert result.settings.target_qps == summary_number(text, "target_qps")
    assert result.settings.schedule_rng_seed == int(summary_value(text, "schedule_rng_seed"))
    assert result.settings.sample_concatenate_permutation is True
    # Token runs count every query as over latency (target 0 ns): not surfaced.
    assert result.overlatency_query_count is None
    assert result.raw["result_overlatency_query_count"] == result.query_count


def test_server_invalid_has_reasons(detail: dict[str, LoadgenResult]) -> None:
    text = summary_text("server_invalid")
    result = detail["server_invalid"]
    assert result.validity == "INVALID" and not result.is_valid
    assert result.perf_constraints_met is False
    assert result.settings.ttft_limit_ms == 1.0 and result.settings.tpot_limit_ms == 1.0
    assert result.ttft is not None
    assert result.ttft.percentiles["99.0"] > result.settings.ttft_limit_ms
    assert "performance constraints not met" in result.invalid_reasons
    assert "TTFT constrain not met: Reduce target QPS to improve latency." in result.invalid_reasons
    assert "TPOT constrain not met: Reduce target QPS to improve latency." in result.invalid_reasons
    # Every bullet under "Recommendations:" in the summary is among the reasons.
    block = text.split("Recommendations:", 1)[1].split("Early Stopping Result:", 1)[0]
    bullets = [line.strip()[2:] for line in block.splitlines() if line.strip().startswith("* ")]
    assert bullets and all(b in result.invalid_reasons for b in bullets)
    if result.early_stopping_met is False:
        assert "early stopping not met" in result.invalid_reasons
        assert "Run unsuccessful" in result.early_stopping["tpot"]


def test_singlestream(detail: dict[str, LoadgenResult]) -> None:
    text = summary_text("singlestream")
    result = detail["singlestream"]
    assert result.scenario == "SingleStream" and result.validity == "VALID"
    assert result.perf_constraints_met is None
    assert close(result.samples_per_second, summary_number(text, "QPS w/ loadgen overhead"))
    assert result.samples_per_second == result.raw["result_qps_with_loadgen_overhead"]
    assert close(result.tokens_per_second, summary_number(text, "TPS w/ loadgen overhead"))
    assert result.latency is not None
    headline_ns = summary_number(text, "90.0th percentile latency (ns)")
    assert result.latency.percentiles["90.0"] == headline_ns / 1e6
    assert result.ttft is not None
    assert result.ttft.percentiles["90.0"] == (
        summary_number(text, "90.0th first token percentile latency (ns)") / 1e6
    )
    assert result.early_stopping_latency_ms == result.raw["early_stopping_latency_ss"] / 1e6
    assert result.settings.ttft_limit_ms is not None


def test_offline_accuracy(detail: dict[str, LoadgenResult]) -> None:
    result = detail["offline_accuracy"]
    assert result.mode == "AccuracyOnly" and result.scenario == "Offline"
    assert result.validity is None  # LoadGen judges no validity in accuracy mode
    assert result.samples_per_second is None and result.latency is None
    assert result.num_errors == 0
    fallback = parse_summary_log(FIXTURES / "offline_accuracy" / SUMMARY_LOG)
    assert fallback.scenario is None and fallback.validity is None  # nothing in that summary
    assert fallback.num_errors == 0 and fallback.num_warnings == 0


def test_server_error_counts_and_messages(detail: dict[str, LoadgenResult]) -> None:
    text = summary_text("server_error")
    result = detail["server_error"]
    match = re.search(r"^(\d+) ERRORS? encountered", text, re.MULTILINE)
    assert match
    assert result.num_errors == int(match.group(1)) > 0
    assert result.errors == ["error_runtime: Number of tokens need to be greater than 1"]
    assert len(result.raw_repeated["error_runtime"]) == result.num_errors
    assert result.raw["num_errors"] == result.num_errors
    assert result.num_warnings == 0 and result.warnings == []
    assert result.tokens_per_second == 0.0  # LoadGen dropped every 1-token response
    assert result.validity == "INVALID" and result.invalid_reasons


# ------------------------------------------------------------------ summary fallback


@pytest.mark.parametrize("name", PERFORMANCE_CASES)
def test_summary_only_folder_falls_back(
    tmp_path: Path, detail: dict[str, LoadgenResult], name: str
) -> None:
    shutil.copyfile(FIXTURES / name / SUMMARY_LOG, tmp_path / SUMMARY_LOG)
    result = parse_loadgen_dir(tmp_path)
    text = summary_text(name)
    assert result.source == "summary"
    assert result.loadgen_version is None and result.query_count is None
    assert result.scenario == summary_value(text, "Scenario")
    assert result.validity == summary_value(text, "Result is") == detail[name].validity
    assert close(result.samples_per_second, detail[name].samples_per_second or -1)
    assert result.num_errors == detail[name].num_errors
    assert result.errors == []  # the summary carries counts, not messages
    assert result.raw == {}


def test_summary_fallback_reads_older_tpot_label(
    tmp_path: Path, detail: dict[str, LoadgenResult]
) -> None:
    text = summary_text("server_valid").replace("Time per Output Token", "Time to Output Token")
    assert "Min Time to Output Token (ns)" in text
    (tmp_path / SUMMARY_LOG).write_text(text, encoding="utf-8")
    result = parse_loadgen_dir(tmp_path)
    assert result.tpot == detail["server_valid"].tpot


def test_summary_error_trailer_singular_and_missing(tmp_path: Path) -> None:
    text = summary_text("server_valid").replace(
        "No errors encountered during test.", "1 ERROR encountered. See detailed log."
    ).replace("No warnings encountered during test.", "3 warnings encountered. See detailed log.")
    (tmp_path / SUMMARY_LOG).write_text(text, encoding="utf-8")
    result = parse_summary_log(tmp_path / SUMMARY_LOG)
    assert result.num_errors == 1 and result.num_warnings == 3
    cut = summary_text("server_valid").split("No warnings encountered")[0]
    (tmp_path / SUMMARY_LOG).write_text(cut, encoding="utf-8")
    result = parse_summary_log(tmp_path / SUMMARY_LOG)
    assert result.num_errors is None and result.num_warnings is None
    assert result.parse_notes


# ------------------------------------------------------------------ detail-log details


def _record(key: str, value: object, *, error: bool = False, warning: bool = False) -> str:
    body = {
        "key": key,
        "value": value,
        "time_ms": 1.0,
        "namespace": "mlperf::logging",
        "event_type": "POINT_IN_TIME",
        "metadata": {
            "is_error": error,
            "is_warning": warning,
            "file": "x.cc",
            "line_no": 1,
            "pid": 1,
            "tid": 1,
        },
    }
    return ":::MLLOG " + json.dumps(body)


def test_warnings_repeats_and_bad_lines(tmp_path: Path) -> None:
    lines = (FIXTURES / "server_valid" / DETAIL_LOG).read_text(encoding="utf-8").splitlines()
    lines += [
        _record("warning_generic_message", "something odd", warning=True),
        _record("warning_generic_message", "something odd", warning=True),
        _record("generic_message", "last one"),
        ":::MLLOG {not json",
        "stray text",
        ':::MLLOG {"key": "some_double", "value": nan, "metadata": {}}',
    ]
    path = tmp_path / DETAIL_LOG
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = parse_detail_log(path)
    assert result.num_warnings == 2
    assert result.warnings == ["warning_generic_message: something odd"]
    assert result.raw["generic_message"] == "last one"  # last wins
    assert result.raw_repeated["generic_message"][-1] == "last one"
    assert len(result.raw_repeated["generic_message"]) >= 2
    assert "loaded_qsl_set" not in result.raw_repeated  # single keys stay out
    assert result.raw["some_double"] != result.raw["some_double"]  # NaN
    assert len(result.parse_notes) == 2
    assert result.validity == "VALID"


def test_result_model_is_strict_and_round_trips(detail: dict[str, LoadgenResult]) -> None:
    with pytest.raises(ValidationError):
        LoadgenResult(source="detail", not_a_field=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        LoadgenResult(source="somewhere")  # type: ignore[arg-type]
    result = detail["server_invalid"]
    again = LoadgenResult.model_validate_json(result.model_dump_json())
    assert again == result
    assert again.settings.schedule_rng_seed == result.raw["effective_schedule_rng_seed"]


# ---------------------------------------------------------------------- input errors


def test_missing_folder_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        parse_loadgen_dir(tmp_path / "nope")
    assert info.value.where.endswith("nope")


def test_folder_without_logs_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "mlperf_log_accuracy.json").write_text("[]")
    with pytest.raises(InputError) as info:
        parse_loadgen_dir(tmp_path)
    assert DETAIL_LOG in info.value.problem and SUMMARY_LOG in info.value.problem


@pytest.mark.parametrize("content", ["", "hello\n", "{\"key\": \"x\"}\n" + _record("a", 1) + "\n"])
def test_detail_not_mllog_is_input_error(tmp_path: Path, content: str) -> None:
    (tmp_path / DETAIL_LOG).write_text(content, encoding="utf-8")
    # A summary next to it does not hide a broken detail log.
    shutil.copyfile(FIXTURES / "server_valid" / SUMMARY_LOG, tmp_path / SUMMARY_LOG)
    with pytest.raises(InputError) as info:
        parse_loadgen_dir(tmp_path)
    assert info.value.where.endswith(DETAIL_LOG)
    assert ":::MLLOG" in info.value.problem
    assert str(info.value).startswith(info.value.where)


def test_missing_files_given_directly_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        parse_detail_log(tmp_path / DETAIL_LOG)
    with pytest.raises(InputError):
        parse_summary_log(tmp_path / SUMMARY_LOG)
