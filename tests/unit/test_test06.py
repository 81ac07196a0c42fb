import numpy as np
import pytest

from mlnb.compliance.test06 import AUDIT_CONFIG, verify, write_audit_config

EOS = 2


def entry(tokens, first=None, count=None, idx=0):
    data = np.asarray(tokens, dtype="<i4").tobytes().hex().upper()
    e = {"seq_id": idx, "qsl_idx": idx, "data": data, "token_count": len(tokens) if count is None else count}
    if first is not None:
        e["token_data"] = np.asarray(first, dtype="<i4").tobytes().hex().upper()
    return e


def test_clean_responses_pass_and_render_the_checker_lines():
    result = verify([entry([5, 6, EOS], first=[5]), entry([7, 8], first=[7], idx=1)], [EOS], offline=False)
    assert result.passed
    assert result.verify_accuracy_txt().splitlines() == [
        "First token check pass: True",
        "EOS check pass: True",
        "Sample length check pass: True",
        "TEST06 verification complete",
    ]


def test_offline_skips_the_first_token_check():
    result = verify([entry([5, EOS])], [EOS], offline=True)
    assert result.first_token == "Skipped" and result.passed


@pytest.mark.parametrize(
    "bad, line",
    [
        (entry([5, 6, EOS, EOS], first=[5]), "EOS check pass: False"),
        (entry([5, 6, 7], first=[5], count=2), "Sample length check pass: False"),
        (entry([5, 6, 7], first=[6]), "First token check pass: False"),
        (entry([5, 6, 7], first=[5, 6, 7, 8]), "First token check pass: False"),
    ],
)
def test_each_violation_fails_its_own_check(bad, line):
    result = verify([bad], [EOS], offline=False)
    assert not result.passed
    assert line in result.verify_accuracy_txt()
    assert result.problems and "qsl_idx 0" in result.problems[0]


def test_real_eos_ids_matter():
    # Llama-3.1 ends with 128009; two of them trailing fail, while id 2 is just a token there.
    tokens = [5, 2, 2, 128009]
    assert verify([entry(tokens)], [128001, 128008, 128009], offline=True).eos
    assert not verify([entry(tokens + [128009])], [128001, 128008, 128009], offline=True).eos


def test_empty_log_fails():
    assert not verify([], [EOS], offline=True).passed


def test_audit_config_is_written_with_mlperf_values(tmp_path):
    path = write_audit_config(tmp_path)
    assert path.name == "audit.config"
    text = path.read_text()
    assert text == AUDIT_CONFIG
    for line in ("*.*.mode = 2", "*.*.accuracy_log_sampling_target = 100", "*.*.accuracy_log_rng_seed = 720381539243781796"):
        assert line in text
