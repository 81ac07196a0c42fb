"""Check a submission package against the MLPerf Inference v6.1 rules mlnb can verify.

The tree under the package root::

    {division}/{submitter}/systems/{system}.json
    {division}/{submitter}/documentation/calibration.md   (closed and network divisions)
    {division}/{submitter}/src/...
    {division}/{submitter}/results/{system}/{benchmark}/{scenario}/
        performance/run_1/{mlperf_log_summary.txt, mlperf_log_detail.txt}
        accuracy/{mlperf_log_summary.txt, mlperf_log_detail.txt, accuracy.txt, mlperf_log_accuracy.json}
        measurements.json  user.conf  README.md
        TEST06/verify_accuracy.txt  TEST06/accuracy/mlperf_log_accuracy.json   (where required)

Every problem is one :class:`CheckFailure`: the file (relative to the root), a short rule name
and what is wrong. The rules follow MLCommons' submission checker (tools/submission in the
inference repository); this is an independent implementation of the subset that applies to the
benchmarks mlnb runs, not a replacement for the official checker.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from mlnb.errors import InputError
from mlnb.submission.sysinfo import MEANINGFUL_FIELDS, VALID_STATUSES, VALID_SYSTEM_TYPES, required_fields_for
from mlnb.submission.truncate import ACCURACY_LOG_LIMIT, file_sha256, hash_in_accuracy_txt

__all__ = [
    "BENCHMARK_FOR_MODEL_KEY",
    "BENCHMARKS",
    "CALIBRATION_DOC",
    "CheckFailure",
    "DIVISIONS",
    "MEASUREMENTS_FIELDS",
    "check_package",
    "format_failures",
    "placement",
]

DIVISIONS = ("closed", "open", "network")
SCENARIOS = ("Offline", "Server", "SingleStream", "Interactive")

# LoadGen model key -> benchmark folder. The "-interactive" keys are the Interactive scenario of
# the base benchmark.
BENCHMARK_FOR_MODEL_KEY = {
    "llama3_1-8b": "llama3.1-8b",
    "llama3_1-8b-edge": "llama3.1-8b-edge",
    "llama3_1-8b-interactive": "llama3.1-8b",
    "deepseek-r1": "deepseek-r1",
    "deepseek-r1-interactive": "deepseek-r1",
}


def placement(model_key: str, scenario: str) -> tuple[str, str]:
    """``(benchmark folder, scenario folder)`` of a stage run under ``model_key`` and ``scenario``."""
    if model_key not in BENCHMARK_FOR_MODEL_KEY:
        raise InputError("model_key", f"{model_key!r} has no MLPerf benchmark folder; expected one of "
                         f"{', '.join(BENCHMARK_FOR_MODEL_KEY)}")
    if model_key.endswith("-interactive"):
        scenario = "Interactive"
    return BENCHMARK_FOR_MODEL_KEY[model_key], scenario


@dataclass(frozen=True)
class BenchmarkRules:
    # "datacenter" | "edge": the system_type whose scenario tables list the benchmark (the checker
    # picks its required-scenarios table by system_type, and "datacenter,edge" holds both kinds)
    category: str
    scenarios: tuple[str, ...]  # scenario folders allowed
    required: tuple[tuple[str, ...], ...]  # each tuple: at least one of these scenarios
    dataset_size: int | None  # samples in the accuracy run, floor of the performance sample count
    test06: bool
    # p99 TTFT / TPOT limits in ms per scenario
    latency_limits_ms: dict[str, tuple[float, float]]


BENCHMARKS: dict[str, BenchmarkRules] = {
    "llama3.1-8b": BenchmarkRules(
        "datacenter",
        ("Offline", "Server", "Interactive"),
        (("Offline",), ("Server", "Interactive")),
        13368,
        True,
        {"Server": (2000.0, 100.0), "Interactive": (500.0, 30.0)},
    ),
    "llama3.1-8b-edge": BenchmarkRules(
        "edge", ("Offline", "SingleStream"), (("Offline",), ("SingleStream",)), 5000, False, {}
    ),
    # LLM_LATENCY_LIMITS["deepseek-r1"] of the v6.1 checker; 4388 samples.
    "deepseek-r1": BenchmarkRules(
        "datacenter",
        ("Offline", "Server", "Interactive"),
        (("Offline",), ("Server", "Interactive")),
        4388,
        True,
        {"Server": (2000.0, 80.0), "Interactive": (1500.0, 15.0)},
    ),
}

SEEDS = {  # v6.1 mlperf.conf
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}
MIN_DURATION_MS = 600_000

MEASUREMENTS_FIELDS = (
    "input_data_types",
    "retraining",
    "starting_weights_filename",
    "weight_data_types",
    "weight_transformations",
)

PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt", "mlperf_log_accuracy.json")
SCENARIO_FILES = ("measurements.json", "user.conf", "README.md")

TEST06_LINES = (  # (pattern, what a failure says is expected)
    (re.compile(r"^First token check pass: (True|Skipped)\s*$", re.MULTILINE), "First token check pass: True"),
    (re.compile(r"^EOS check pass: True\s*$", re.MULTILINE), "EOS check pass: True"),
    (re.compile(r"^Sample length check pass: True\s*$", re.MULTILINE), "Sample length check pass: True"),
    (re.compile(r"^TEST06 verification complete\s*$", re.MULTILINE), "TEST06 verification complete"),
)

# accuracy.txt values, as the checker reads them
ACCURACY_VALUE = {
    "rouge1": re.compile(r".*'rouge1':\s'([\d.]+)'.*"),
    "rouge2": re.compile(r".*'rouge2':\s'([\d.]+)'.*"),
    "rougeL": re.compile(r".*'rougeL':\s'([\d.]+)'.*"),
    "rougeLsum": re.compile(r".*'rougeLsum':\s'([\d.]+)'.*"),
    "gen_len": re.compile(r".*'gen_len':\s([\d.]+).*"),
}

# deepseek-r1's accuracy.txt values, as the checker reads them
EXACT_MATCH_VALUE = {
    "exact_match": re.compile(r".*'exact_match':\s([\d.]+).*"),
    "tokens_per_sample": re.compile(r".*'tokens_per_sample':\s([\d.]+).*"),
}

SYSTEM_STATUS = VALID_STATUSES
SYSTEM_TYPES = ("datacenter", "edge")
# The calibration write-up: the checker takes it at the submitter root or under documentation/;
# the open division needs none.
CALIBRATION_DOC = "documentation/calibration.md"
CALIBRATION_PLACES = ("calibration.md", CALIBRATION_DOC)

NOT_FOR_SUBMISSION = "NOT_FOR_SUBMISSION.txt"


@dataclass(frozen=True)
class CheckFailure:
    path: str  # relative to the package root, "/"-separated
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}: {self.detail}"


def format_failures(failures: Iterable[CheckFailure]) -> str:
    """One line per failure: ``path: rule: detail``."""
    return "\n".join(str(failure) for failure in failures)


def system_field_rules(division: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """(fields that must be present, fields that must not be empty) for a division; sysinfo owns the lists."""
    return tuple(required_fields_for(division)), frozenset(MEANINGFUL_FIELDS)


# ---------------------------------------------------------------------------------------------


class _Checker:
    def __init__(self, root: Path):
        self.root = root
        self.failures: list[CheckFailure] = []

    def fail(self, path: Path, rule: str, detail: str) -> None:
        rel = path.relative_to(self.root).as_posix() if path != self.root else "."
        self.failures.append(CheckFailure(rel, rule, detail))

    # ---- tree ------------------------------------------------------------------------------

    def run(self) -> list[CheckFailure]:
        marker = self.root / NOT_FOR_SUBMISSION
        if marker.exists():
            self.fail(marker, "not-for-submission", "the package was built from runs that relaxed MLPerf rules")
        divisions = [d for d in sorted(self.root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        if not divisions:
            self.fail(self.root, "layout", f"no division folder ({', '.join(DIVISIONS)})")
        for division in divisions:
            if division.name not in DIVISIONS:
                self.fail(division, "layout", f"unknown division {division.name!r}; expected {', '.join(DIVISIONS)}")
                continue
            submitters = [s for s in sorted(division.iterdir()) if s.is_dir()]
            if not submitters:
                self.fail(division, "layout", "no submitter folder")
            for submitter in submitters:
                self.check_submitter(division.name, submitter)
        return self.failures

    def check_submitter(self, division: str, folder: Path) -> None:
        for name in ("systems", "results", "src"):
            if not (folder / name).is_dir():
                self.fail(folder / name, "required-file", f"missing folder {name}/")
        if division != "open" and not any((folder / place).is_file() for place in CALIBRATION_PLACES):
            self.fail(folder / CALIBRATION_DOC, "required-file",
                      f"missing: the {division} division needs a calibration write-up "
                      f"({' or '.join(CALIBRATION_PLACES)})")
        src = folder / "src"
        if src.is_dir() and not any(p.is_file() for p in src.rglob("*")):
            self.fail(src, "src", "src/ is empty; it must hold the code or a README telling how to reproduce")
        systems = folder / "systems"
        descriptions: dict[str, dict] = {}
        if systems.is_dir():
            for path in sorted(systems.glob("*.json")):
                description = self.check_system_json(path, division, folder.name)
                if description is not None:
                    descriptions[path.stem] = description
        results = folder / "results"
        if not results.is_dir():
            return
        for system in sorted(p for p in results.iterdir() if p.is_dir()):
            json_path = systems / f"{system.name}.json"
            if not json_path.is_file():
                self.fail(json_path, "system-json",
                          f"missing: every results/{system.name}/ needs systems/{system.name}.json")
            self.check_system_results(system, descriptions.get(system.name))

    def check_system_json(self, path: Path, division: str, submitter: str) -> dict | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            self.fail(path, "system-json", f"not readable JSON ({err.__class__.__name__})")
            return None
        if not isinstance(data, dict):
            self.fail(path, "system-json", "expected a JSON object")
            return None
        required, non_empty = system_field_rules(division)
        missing = [name for name in required if name not in data]
        if missing:
            self.fail(path, "system-json", f"missing fields: {', '.join(missing)}")
        empty = [name for name in required if name in non_empty and name in data and _empty(data[name])]
        if empty:
            self.fail(path, "system-json", f"empty fields: {', '.join(empty)}")
        for key, expected in (("division", division), ("submitter", submitter)):
            if key in data and not _empty(data[key]) and str(data[key]) != expected:
                self.fail(path, "system-json", f"{key} is {data[key]!r} but the folder says {expected!r}")
        status = str(data.get("status", "")).strip().lower()
        if status and status not in SYSTEM_STATUS:
            self.fail(path, "system-json", f"status {data['status']!r} is not one of {', '.join(SYSTEM_STATUS)}")
        system_type = data.get("system_type")
        if not _empty(system_type) and system_type not in VALID_SYSTEM_TYPES:  # the checker compares exactly
            self.fail(path, "system-json", f"system_type {system_type!r} is not one of {', '.join(VALID_SYSTEM_TYPES)}")
        is_network = str(data.get("is_network", "false")).strip().lower() == "true"
        if division in ("closed", "network") and is_network != (division == "network"):
            self.fail(path, "system-json", f"is_network is {data.get('is_network')!r}; the {division} division needs "
                      + ("true" if division == "network" else "false or no is_network"))
        return data

    def check_system_results(self, system: Path, description: dict | None) -> None:
        benchmarks = [b for b in sorted(system.iterdir()) if b.is_dir()]
        if not benchmarks:
            self.fail(system, "layout", "no benchmark folder")
        types = _system_types(description) if description else None
        for benchmark in benchmarks:
            rules = BENCHMARKS.get(benchmark.name)
            if rules is None:
                self.fail(benchmark, "layout",
                          f"unknown benchmark {benchmark.name!r}; expected {', '.join(BENCHMARKS)}")
                continue
            if types is not None and rules.category not in types:
                self.fail(benchmark, "system-type", f"{benchmark.name} is for {rules.category} systems but the "
                          f"system_type is {description.get('system_type')!r}")
            present = {s.name for s in benchmark.iterdir() if s.is_dir()}
            for group in rules.required:
                if not present & set(group):
                    self.fail(benchmark / group[0], "required-scenarios",
                              f"{benchmark.name} needs {' or '.join(group)} results")
            for scenario in sorted(present):
                folder = benchmark / scenario
                if scenario not in rules.scenarios:
                    self.fail(folder, "layout", f"{scenario!r} is not a scenario of {benchmark.name} "
                              f"({', '.join(rules.scenarios)})")
                    continue
                self.check_scenario(folder, benchmark.name, scenario, rules)

    # ---- one scenario folder ---------------------------------------------------------------

    def check_scenario(self, folder: Path, benchmark: str, scenario: str, rules: BenchmarkRules) -> None:
        required = [folder / "performance" / "run_1" / name for name in PERF_FILES]
        required += [folder / "accuracy" / name for name in ACCURACY_FILES]
        required += [folder / name for name in SCENARIO_FILES]
        for path in required:
            if not path.is_file():
                self.fail(path, "required-file", "missing")
        if (folder / "measurements.json").is_file():
            self.check_measurements(folder / "measurements.json")
        self.check_performance(folder / "performance" / "run_1", scenario, rules)
        self.check_accuracy(folder / "accuracy", benchmark, scenario, rules)
        if rules.test06:
            self.check_test06(folder / "TEST06", scenario)

    def check_measurements(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            self.fail(path, "measurements", f"not readable JSON ({err.__class__.__name__})")
            return
        if not isinstance(data, dict):
            self.fail(path, "measurements", "expected a JSON object")
            return
        missing = [name for name in MEASUREMENTS_FIELDS if name not in data]
        empty = [name for name in MEASUREMENTS_FIELDS if name in data and _empty(data[name])]
        if missing:
            self.fail(path, "measurements", f"missing fields: {', '.join(missing)}")
        if empty:
            self.fail(path, "measurements", f"empty fields: {', '.join(empty)}")

    def _parse_detail(self, path: Path):
        from mlnb.logs.mlperf_log import parse_detail_log

        if not path.is_file():
            return None  # reported as a missing file
        try:
            return parse_detail_log(path)
        except InputError as err:
            self.fail(path, "loadgen-log", err.problem)
            return None

    def _expect_log(self, path: Path, log, scenario: str, mode: str) -> None:
        loadgen_scenario = "Server" if scenario == "Interactive" else scenario
        if log.scenario != loadgen_scenario:
            self.fail(path, "log-scenario", f"LoadGen ran {log.scenario!r}; this folder needs {loadgen_scenario!r}")
        if log.mode != mode:
            self.fail(path, "log-mode", f"LoadGen ran in {log.mode!r}; this folder needs {mode!r}")

    def check_performance(self, run: Path, scenario: str, rules: BenchmarkRules) -> None:
        path = run / "mlperf_log_detail.txt"
        log = self._parse_detail(path)
        if log is None:
            return
        self._expect_log(path, log, scenario, "PerformanceOnly")
        settings = log.settings
        for name, expected in SEEDS.items():
            value = getattr(settings, name)
            if value != expected:
                self.fail(path, "seeds", f"effective_{name} is {value}; v6.1 requires {expected}")
        if settings.min_duration_ms is None or settings.min_duration_ms < MIN_DURATION_MS:
            self.fail(path, "min-duration", f"effective_min_duration_ms is {settings.min_duration_ms}; "
                      f"at least {MIN_DURATION_MS} required")
        size = rules.dataset_size
        if size is not None:
            count = settings.performance_sample_count
            if count is None or count < size:
                self.fail(path, "performance-sample-count", f"effective_performance_sample_count is {count}; "
                          f"at least {size} required")
            if scenario == "Offline":
                per_query = _as_int(log.raw.get("effective_samples_per_query"))
                if per_query is None or per_query < size:
                    self.fail(path, "offline-sample-count", f"effective_samples_per_query is {per_query}; "
                              f"Offline needs at least {size} (the dataset)")
        if settings.use_token_latencies is not True:
            self.fail(path, "token-latencies", "requested_use_token_latencies is not true")
        if log.validity != "VALID":
            reasons = "; ".join(log.invalid_reasons[:3])
            because = f" ({reasons})" if reasons else ""
            self.fail(path, "result-validity", f"result_validity is {log.validity}{because}")
        if scenario != "Offline" and log.early_stopping_met is not True:
            self.fail(path, "early-stopping", "early_stopping_met is not true")
        limits = rules.latency_limits_ms.get(scenario)
        if limits is not None:
            for rule, stats, limit in (("ttft-limit", log.ttft, limits[0]), ("tpot-limit", log.tpot, limits[1])):
                p99 = stats.percentiles.get("99.0") if stats is not None else None
                if p99 is None:
                    self.fail(path, rule, "the log has no p99 value")
                elif not p99 < limit:
                    self.fail(path, rule, f"p99 {p99:g} ms is not below the {limit:g} ms limit")
        if log.num_errors:
            self.fail(path, "loadgen-errors", f"{log.num_errors} LoadGen errors: {'; '.join(log.errors[:3])}")

    def check_accuracy(self, folder: Path, benchmark: str, scenario: str, rules: BenchmarkRules) -> None:
        detail_path = folder / "mlperf_log_detail.txt"
        log = self._parse_detail(detail_path)
        if log is not None:
            self._expect_log(detail_path, log, scenario, "AccuracyOnly")
            if log.num_errors:
                self.fail(detail_path, "loadgen-errors",
                          f"{log.num_errors} LoadGen errors in the accuracy run: {'; '.join(log.errors[:3])}")
            if rules.dataset_size is not None:
                count = _as_int(log.raw.get("effective_accuracy_sample_count"))
                key = "effective_accuracy_sample_count"
                if count is None:
                    count, key = _as_int(log.raw.get("qsl_reported_total_count")), "qsl_reported_total_count"
                if count != rules.dataset_size:
                    self.fail(detail_path, "accuracy-sample-count",
                              f"{key} is {count}; the accuracy run must cover all {rules.dataset_size} samples")

        accuracy_log = folder / "mlperf_log_accuracy.json"
        if accuracy_log.is_file() and accuracy_log.stat().st_size > ACCURACY_LOG_LIMIT:
            self.fail(accuracy_log, "accuracy-log-size", f"{accuracy_log.stat().st_size} bytes; at most "
                      f"{ACCURACY_LOG_LIMIT} allowed (truncate it and put its hash in accuracy.txt)")

        txt_path = folder / "accuracy.txt"
        if not txt_path.is_file():
            return
        text = txt_path.read_text(encoding="utf-8", errors="replace")
        sha = hash_in_accuracy_txt(text)
        if sha is None:
            self.fail(txt_path, "accuracy-hash", "no hash=<sha256> line (the hash of the full accuracy log)")
        elif accuracy_log.is_file() and accuracy_log.stat().st_size <= ACCURACY_LOG_LIMIT and _is_json(accuracy_log):
            # A complete (untruncated) log must be the one the hash names.
            if file_sha256(accuracy_log) != sha:
                self.fail(txt_path, "accuracy-hash", "hash= does not match mlperf_log_accuracy.json, which is complete")
        self.check_accuracy_values(txt_path, text, benchmark)

    def check_accuracy_values(self, path: Path, text: str, benchmark: str) -> None:
        from mlnb.accuracy.rouge import LLAMA_TARGETS, RougeResult, check_targets

        if benchmark == "deepseek-r1":
            self.check_exact_match_values(path, text)
            return
        if benchmark not in LLAMA_TARGETS:
            self.fail(path, "accuracy-target", f"mlnb knows no accuracy targets for {benchmark}; not checked")
            return
        values: dict[str, float] = {}
        for metric, pattern in ACCURACY_VALUE.items():
            match = next((m for m in map(pattern.match, text.splitlines()) if m), None)
            if match is None:
                self.fail(path, "accuracy-target", f"no {metric} value in the checker's format")
            else:
                values[metric] = float(match.group(1))
        if len(values) != len(ACCURACY_VALUE):
            return
        result = RougeResult(
            rouge1=values["rouge1"],
            rouge2=values["rouge2"],
            rougeL=values["rougeL"],
            rougeLsum=values["rougeLsum"],
            gen_len=int(values["gen_len"]),
            gen_num=LLAMA_TARGETS[benchmark]["gen_num"],  # not a checker rule; the sample count is checked in the log
            splitter="",
        )
        for check in check_targets(result, benchmark):
            if check.metric == "gen_num" or check.passed:
                continue
            if check.upper is None:
                wanted = f">= {check.lower:.4f} (99% of {check.reference:g})"
            else:
                wanted = f"{check.lower:.0f} .. {check.upper:.0f} (90-110% of {check.reference:.0f})"
            self.fail(path, "accuracy-target", f"{check.metric} {check.value:g} misses the target {wanted}")

    def check_exact_match_values(self, path: Path, text: str) -> None:
        """deepseek-r1: exact_match >= 99% of the reference, tokens_per_sample within 90-110%."""
        from mlnb.accuracy.exact_match import EXACT_MATCH_FRACTION, REFERENCE, TOKENS_BAND

        values: dict[str, float] = {}
        for metric, pattern in EXACT_MATCH_VALUE.items():
            match = next((m for m in map(pattern.match, text.splitlines()) if m), None)
            if match is None:
                self.fail(path, "accuracy-target", f"no {metric} value in the checker's format")
            else:
                values[metric] = float(match.group(1))
        if "exact_match" in values:
            lower = REFERENCE["exact_match"] * EXACT_MATCH_FRACTION
            if values["exact_match"] < lower:
                self.fail(path, "accuracy-target", f"exact_match {values['exact_match']:g} misses the target >= {lower:.4f} "
                          f"(99% of {REFERENCE['exact_match']:g})")
        if "tokens_per_sample" in values:
            ref = REFERENCE["tokens_per_sample"]
            lower, upper = ref * TOKENS_BAND[0], ref * TOKENS_BAND[1]
            if not lower <= values["tokens_per_sample"] <= upper:
                self.fail(path, "accuracy-target", f"tokens_per_sample {values['tokens_per_sample']:g} misses the target "
                          f"{lower:.1f} .. {upper:.1f} (90-110% of {ref:g})")

    def check_test06(self, folder: Path, scenario: str) -> None:
        if not folder.is_dir():
            self.fail(folder, "test06", "missing: TEST06 (verify_accuracy.txt and its accuracy log) is required "
                      "for this benchmark")
            return
        verify = folder / "verify_accuracy.txt"
        if not verify.is_file():
            self.fail(verify, "test06", "missing: TEST06 is required for this benchmark")
        else:
            text = verify.read_text(encoding="utf-8", errors="replace")
            for pattern, expected in TEST06_LINES:
                if not pattern.search(text):
                    self.fail(verify, "test06", f"no line {expected!r}")
            if scenario != "Offline" and re.search(r"^First token check pass: Skipped", text, re.MULTILINE):
                self.fail(verify, "test06", f"the first token check may be skipped only for Offline, not {scenario}")
        log = folder / "accuracy" / "mlperf_log_accuracy.json"
        if not log.is_file():
            self.fail(log, "test06", "missing: the TEST06 run's accuracy log")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def _system_types(description: dict | None) -> set[str] | None:
    """The kinds of benchmark a description's system_type admits; None when it names no valid type."""
    if not description or description.get("system_type") not in VALID_SYSTEM_TYPES:
        return None
    return set(str(description["system_type"]).split(","))


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _is_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def check_package(root: Path) -> list[CheckFailure]:
    """Every problem found under the package ``root``, in tree order."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(str(root), "package folder not found")
    return _Checker(root).run()
