import pytest

from mlnb.config import StageParams
from mlnb.errors import InputError
from mlnb.harness.settings import plan_user_conf, write_user_conf
from mlnb.user_conf import check_user_conf


def test_overrides_become_user_conf_lines_and_relaxed_rules():
    p = StageParams(scenario="Interactive", target_qps=2.5, min_duration_ms=1000, ttft_latency_ms=800)
    plan = plan_user_conf(p, dataset_size=16, official_dataset=False)
    # Interactive is a Server run under the -interactive model key.
    assert "llama3_1-8b-interactive.Server.target_qps = 2.5" in plan.lines
    assert "llama3_1-8b-interactive.Server.min_duration = 1000" in plan.lines
    # TTFT overrides need use_token_latencies in the same file (inference#1787).
    assert "llama3_1-8b-interactive.*.use_token_latencies = 1" in plan.lines
    assert "llama3_1-8b-interactive.*.performance_sample_count_override = 16" in plan.lines
    text = " | ".join(plan.relaxed)
    assert "min_duration 1000 ms" in text and "16 samples" in text and "not the official" in text


def test_full_rules_relax_nothing():
    p = StageParams(scenario="Offline", target_qps=20.0)
    plan = plan_user_conf(p, dataset_size=13368, official_dataset=True)
    assert plan.relaxed == []
    assert plan.lines == ["llama3_1-8b.Offline.target_qps = 20"]


def test_user_conf_is_prepended_and_checked(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("*.Server.target_qps = 3\n# comment\n")
    check_user_conf(str(conf))
    out = write_user_conf(StageParams(user_conf=str(conf), target_qps=1.0), plan_user_conf(StageParams(target_qps=1.0), 13368, True), tmp_path / "out.conf")
    text = out.read_text()
    assert text.index("*.Server.target_qps = 3") < text.index("llama3_1-8b.Offline.target_qps = 1")


@pytest.mark.parametrize("content, fragment", [("target_qps = 3\n", "line 1"), ("*.Server.target_qps = fast\n", "'fast'")])
def test_bad_user_conf_lines(tmp_path, content, fragment):
    conf = tmp_path / "user.conf"
    conf.write_text(content)
    with pytest.raises(InputError) as err:
        check_user_conf(str(conf))
    assert str(conf) in str(err.value) and fragment in str(err.value)


def test_missing_or_binary_user_conf(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        check_user_conf(str(tmp_path / "nope.conf"))
    binary = tmp_path / "bin.conf"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputError, match="cannot read"):
        check_user_conf(str(binary))


def test_own_data_is_not_counted_against_a_cnndm_set():
    """A custom workload's relaxed rules say it is the user's data, not 'N samples instead of the full 13368'."""
    from mlnb.workloads import workload_for

    params = StageParams(workload="custom", dataset="prompts.jsonl", backend="sim", scenario="Offline")
    plan = plan_user_conf(params, 20, False, workload_for(params).dataset_title)
    assert not any("instead of the full" in r or "not the official" in r for r in plan.relaxed), plan.relaxed
    assert any(r.startswith("your own dataset (20 samples)") for r in plan.relaxed)
    assert "llama3_1-8b.*.performance_sample_count_override = 20" in plan.lines
