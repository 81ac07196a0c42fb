"""A user's LoadGen ``user.conf``, checked line by line the way LoadGen reads it, before a run starts.

LoadGen's parser is lenient in ways that change results without a word: ``key=value`` without
spaces is skipped, a comment after a value makes it drop the whole file (every override, mlnb's
too), a negative count wraps to 2**64 - n, an unknown key or a typo in the model or scenario is
never looked up, and a key given twice keeps the last value. Each of those is an error here,
naming the file and line. So is a value that mlnb's own lines for the stage would replace (mlnb
writes the stage parameters after the user's lines, under the exact model and scenario).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mlnb.config import MODEL_KEYS, StageParams
from mlnb.errors import InputError

SCENARIOS = ("*", "Offline", "Server", "SingleStream", "MultiStream")
# Keys LoadGen reads from a user.conf (test_settings_internal.cc, FromConfig), by value type.
FLOAT_KEYS = {"target_qps", "target_latency", "target_latency_percentile"}
FLAG_KEYS = {"use_token_latencies", "infer_token_latencies", "performance_issue_unique", "performance_issue_same",
             "sample_concatenate_permutation", "coalesce_queries", "print_timestamps"}
COUNT_KEYS = {"ttft_latency", "tpot_latency", "token_latency_scaling_factor", "samples_per_query",
              "performance_issue_same_index", "max_async_queries", "min_duration", "max_duration", "min_query_count",
              "max_query_count", "performance_sample_count_override", "accuracy_sample_count_override",
              "accuracy_log_rng_seed", "accuracy_log_sampling_target"}
USER_KEYS = FLOAT_KEYS | FLAG_KEYS | COUNT_KEYS
# Read from mlperf.conf only: in a user.conf LoadGen ignores them.
MLPERF_CONF_ONLY = {"qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed", "accuracy_log_probability",
                    "test05", "test05_qsl_rng_seed", "test05_sample_index_rng_seed", "test05_schedule_rng_seed"}
# The stage parameter behind each line mlnb writes, for error lines.
PARAM_FOR_KEY = {"target_qps": "target_qps", "target_latency": "target_latency_ms", "min_duration": "min_duration_ms",
                 "min_query_count": "min_query_count", "max_query_count": "max_query_count",
                 "ttft_latency": "ttft_latency_ms", "tpot_latency": "tpot_latency_ms",
                 "use_token_latencies": "ttft_latency_ms/tpot_latency_ms",
                 "performance_sample_count_override": "samples (the dataset size)"}

_INTEGER = re.compile(r"(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class ConfEntry:
    line: int
    model: str
    scenario: str
    name: str
    value: float

    @property
    def key(self) -> str:
        return f"{self.model}.{self.scenario}.{self.name}"


def parse_user_conf(text: str, where: str) -> list[ConfEntry]:
    """Every setting of a user.conf, or InputError on the first line LoadGen would misread."""
    entries: list[ConfEntry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        here = f"{where} line {number}"
        words = raw.split()
        if not words or words[0] == "#" or (len(words) == 1 and words[0].startswith("#")):
            continue  # what LoadGen skips
        if words[0].startswith("#"):
            raise InputError(here, "LoadGen reads '#' as a comment only as a separate word: write '# ...'")
        if len(words) < 3 or words[1] != "=":
            raise InputError(here, f"expected 'model.scenario.key = value' with spaces around '=', got {raw.strip()!r}")
        if len(words) > 3:
            raise InputError(here, f"text after the value {words[2]!r} (LoadGen then drops the whole file); "
                                   "put comments on their own line")
        key, value_text = words[0], words[2]
        parts = key.split(".")
        if len(parts) != 3 or not all(parts):
            raise InputError(here, f"key {key!r}: expected model.scenario.key, e.g. llama3_1-8b.Server.target_qps")
        model, scenario, name = parts
        _check_key(here, model, scenario, name)
        value = _number(here, name, value_text)
        if key in seen:
            raise InputError(here, f"{key} is already set on line {seen[key]}; LoadGen would keep only the last value")
        seen[key] = number
        entries.append(ConfEntry(number, model, scenario, name, value))
    return entries


def _check_key(here: str, model: str, scenario: str, name: str) -> None:
    if model != "*" and model not in MODEL_KEYS:
        raise InputError(here, f"model {model!r} is not one mlnb runs; use * or one of {', '.join(MODEL_KEYS)}")
    if scenario not in SCENARIOS:
        raise InputError(here, f"scenario {scenario!r}: use one of {', '.join(SCENARIOS)} (case matters)")
    if name in MLPERF_CONF_ONLY:
        raise InputError(here, f"{name} is read from mlperf.conf only; LoadGen ignores it in a user.conf")
    if name == "mode":
        raise InputError(here, "mode is set by the stage (performance or accuracy); LoadGen's value would be replaced")
    if name not in USER_KEYS:
        close = difflib.get_close_matches(name, sorted(USER_KEYS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(here, f"unknown key {name!r} (LoadGen would ignore it){hint}")


def _number(here: str, name: str, text: str) -> float:
    if text.startswith("-"):
        raise InputError(here, f"{name} = {text}: negative (LoadGen would read a count as 2**64 - n)")
    if name in FLOAT_KEYS:
        if not _DECIMAL.fullmatch(text):
            raise InputError(here, f"value {text!r} is not a number")
        value = float(text)
        if name == "target_qps" and value <= 0:
            raise InputError(here, f"target_qps = {text}: must be above 0")
        if name == "target_latency_percentile" and value > 100:
            raise InputError(here, f"target_latency_percentile = {text}: a percentile is at most 100")
        return value
    if not _INTEGER.fullmatch(text):
        if _DECIMAL.fullmatch(text):
            raise InputError(here, f"{name} = {text}: a whole number is needed (LoadGen would cut it silently)")
        raise InputError(here, f"value {text!r} is not a number")
    value = int(text)
    if name in FLAG_KEYS and value not in (0, 1):
        raise InputError(here, f"{name} = {text}: expected 0 or 1")
    return float(value)


def effective(entries: list[ConfEntry], model: str, scenario: str, name: str) -> Optional[ConfEntry]:
    """The entry LoadGen uses for (model, scenario, key): exact, then *.scenario, model.*, *.*."""
    for want_model, want_scenario in ((model, scenario), ("*", scenario), (model, "*"), ("*", "*")):
        for entry in entries:
            if (entry.model, entry.scenario, entry.name) == (want_model, want_scenario, name):
                return entry
    return None


def check_user_conf(path: str, params: Optional[StageParams] = None, dataset_size: Optional[int] = None) -> None:
    """Fail before the run on a user.conf LoadGen would misread, or that contradicts the stage's parameters."""
    from mlnb.harness.settings import LOADGEN_SCENARIO, plan_user_conf

    source = Path(path)
    if not source.is_file():
        raise InputError(f"user_conf {path!r}", "file not found" if not source.exists() else "not a file")
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"user_conf {path!r}", f"cannot read it: {err.__class__.__name__}") from None
    entries = parse_user_conf(text, path)
    if params is None or dataset_size is None:
        return
    model, scenario = params.effective_model_key, LOADGEN_SCENARIO[params.scenario]

    def value(name: str) -> Optional[ConfEntry]:
        return effective(entries, model, scenario, name)

    for low, high in (("min_query_count", "max_query_count"), ("min_duration", "max_duration")):
        lower, upper = value(low), value(high)
        if lower and upper and upper.value and lower.value > upper.value:  # 0 means "no limit"
            raise InputError(f"{path} line {upper.line}", f"{high} {upper.value:g} is below {low} {lower.value:g} "
                                                          f"(line {lower.line})")
    # mlnb's lines for this stage come after the user's, under the exact key: they would win unseen.
    ours = parse_user_conf("\n".join(plan_user_conf(params, dataset_size or 0, True).lines), "mlnb")
    for line in ours:
        theirs = value(line.name)
        if theirs is not None and theirs.value != line.value:
            raise InputError(
                f"{path} line {theirs.line}",
                f"{theirs.name} = {theirs.value:g} conflicts with the stage parameter "
                f"{PARAM_FOR_KEY.get(line.name, line.name)} of stage {params.stage}, which sets {line.value:g}; "
                "give the value in one place",
            )
