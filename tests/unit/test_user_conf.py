"""user.conf checks agree with how the real LoadGen reads the file."""

import pytest

from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.user_conf import check_user_conf, parse_user_conf


def _loadgen_reads(path, model="llama3_1-8b", scenario="Offline"):
    import mlperf_loadgen as lg

    settings = lg.TestSettings()
    return settings.FromConfig(str(path), model, scenario), settings


def test_a_good_file_parses_as_loadgen_reads_it(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("# comment\n#tag\n\nllama3_1-8b.Offline.min_query_count = 7\n*.Offline.target_qps = 2.5\n"
                    "*.*.min_duration = 1234\n")
    entries = {e.name: e.value for e in parse_user_conf(conf.read_text(), str(conf))}
    assert entries == {"min_query_count": 7, "target_qps": 2.5, "min_duration": 1234}
    status, settings = _loadgen_reads(conf)
    assert status == 0
    assert (settings.min_query_count, settings.offline_expected_qps, settings.min_duration_ms) == (7, 2.5, 1234)


@pytest.mark.parametrize(
    "text, fragment, loadgen",
    [
        # LoadGen rejects the whole file (every override lost) or misreads the line, silently.
        ("*.Offline.min_duration = 10 # ten\n", "own line", "rejects"),
        ("*.Offline.min_duration=10\n", "spaces around", "ignores"),
        ("*.Offline.min_query_count = -4\n", "negative", "wraps"),
        ("*.Offline.min_query_count = 2.5\n", "whole number", "cuts"),
        ("*.Offline.target_qsp = 3\n", "did you mean 'target_qps'", "ignores"),
        ("*.offline.min_duration = 10\n", "scenario 'offline'", "ignores"),
        ("*.Offline.min_duration =\n", "expected 'model.scenario.key = value'", "ignores"),
        ("*.Offline.min_duration = 5\n*.Offline.min_duration = 6\n", "already set on line 1", "keeps the last"),
        ("*.Offline.min_duration = ten\n", "'ten' is not a number", "rejects"),
        ("# a\n#note with words\n", "as a separate word", "rejects"),
        ("*.*.qsl_rng_seed = 5\n", "mlperf.conf only", "ignores"),
        ("*.*.use_token_latencies = 2\n", "0 or 1", "reads"),
    ],
)
def test_lines_loadgen_would_misread_are_errors(tmp_path, text, fragment, loadgen):
    conf = tmp_path / "user.conf"
    conf.write_text(text)
    with pytest.raises(InputError) as err:
        check_user_conf(str(conf))
    assert str(conf) in str(err.value) and " line " in str(err.value) and fragment in str(err.value)


def test_loadgen_really_drops_a_file_with_a_trailing_comment(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("llama3_1-8b.Offline.min_query_count = 7 # seven\n")
    status, settings = _loadgen_reads(conf)
    assert status != 0 and settings.min_query_count != 7


def test_values_that_contradict_the_stage_or_each_other(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("*.Server.target_qps = 5\n")
    server = StageParams(scenario="Server", target_qps=3.0, user_conf=str(conf))
    with pytest.raises(InputError, match="line 1.*conflicts with the stage parameter target_qps"):
        check_user_conf(str(conf), server, 64)
    check_user_conf(str(conf), server.model_copy(update={"target_qps": 5.0}), 64)  # the same value: fine
    check_user_conf(str(conf), StageParams(scenario="Offline", target_qps=3.0), 64)  # another scenario: not read
    conf.write_text("*.*.min_query_count = 10\nllama3_1-8b.Offline.max_query_count = 5\n")
    with pytest.raises(InputError, match="line 2.*below min_query_count"):
        check_user_conf(str(conf), StageParams(), 64)
    conf.write_text("*.*.performance_sample_count_override = 100\n")
    with pytest.raises(InputError, match="samples"):
        check_user_conf(str(conf), StageParams(), 64)  # mlnb sets it to the 64 samples in use
