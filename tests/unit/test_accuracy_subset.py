"""Accuracy on a subset: totals scaled to the samples run, averages unchanged, and the page says so."""

from __future__ import annotations

import numpy as np
import pytest

from mlnb.accuracy.rouge import LLAMA_TARGETS, SPLITTER_PUNKT, RougeResult, all_passed, check_targets

FULL = LLAMA_TARGETS["llama3.1-8b"]
PER_SAMPLE = FULL["gen_len"] / FULL["gen_num"]  # about 611 characters


def _result(samples: int, chars_per_sample: float = PER_SAMPLE, rouge_share: float = 1.0) -> RougeResult:
    return RougeResult(rouge1=FULL["rouge1"] * rouge_share, rouge2=FULL["rouge2"] * rouge_share,
                       rougeL=FULL["rougeL"] * rouge_share, rougeLsum=FULL["rougeLsum"] * rouge_share,
                       gen_len=int(round(chars_per_sample * samples)), gen_num=samples, splitter=SPLITTER_PUNKT)


def _by_metric(checks):
    return {c.metric: c for c in checks}


def test_a_4_sample_run_is_judged_against_per_sample_targets():
    checks = _by_metric(check_targets(_result(4), "llama3.1-8b", samples_run=4))
    gen_len, gen_num = checks["gen_len"], checks["gen_num"]
    assert gen_len.reference == pytest.approx(PER_SAMPLE * 4)
    assert gen_len.lower == pytest.approx(PER_SAMPLE * 4 * 0.9) and gen_len.upper == pytest.approx(PER_SAMPLE * 4 * 1.1)
    assert gen_len.passed and gen_num.passed and gen_num.reference == 4
    assert gen_len.scope == "scaled to 4 of 13,368 samples" and "per sample" in gen_len.note
    assert all_passed(check_targets(_result(4), "llama3.1-8b", samples_run=4))


def test_the_scaled_band_still_catches_outputs_of_the_wrong_length():
    short = _by_metric(check_targets(_result(4, chars_per_sample=PER_SAMPLE * 0.5), "llama3.1-8b", samples_run=4))
    assert not short["gen_len"].passed
    missing = _by_metric(check_targets(_result(3), "llama3.1-8b", samples_run=4))
    assert not missing["gen_num"].passed  # one sample run was not scored


def test_rouge_targets_are_averages_and_do_not_scale():
    checks = _by_metric(check_targets(_result(4, rouge_share=0.98), "llama3.1-8b", samples_run=4))
    for metric in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert checks[metric].reference == FULL[metric] and checks[metric].lower == pytest.approx(FULL[metric] * 0.99)
        assert not checks[metric].passed


def test_the_full_dataset_keeps_mlperf_totals():
    checks = _by_metric(check_targets(_result(13368), "llama3.1-8b", samples_run=13368))
    assert checks["gen_len"].reference == FULL["gen_len"] and checks["gen_len"].scope == "full dataset"
    assert checks["gen_num"].reference == 13368
    edge = _by_metric(check_targets(_result(5000), "llama3.1-8b-edge"))  # default: the full set
    assert edge["gen_num"].reference == 5000


def test_dsr1_sample_count_is_scaled_but_averages_are_not():
    from mlnb.stages.dsr1_accuracy import scale_sample_count

    checks = [
        {"metric": "exact_match", "value": 90.0, "reference": 81.3, "lower": 80.5, "upper": None, "passed": True},
        {"metric": "tokens_per_sample", "value": 3900.0, "reference": 3886.2, "lower": 3497.6, "upper": 4274.9, "passed": True},
        {"metric": "num-samples", "value": 5, "reference": 4388, "lower": 4388, "upper": 4388, "passed": False},
    ]
    scaled = {c["metric"]: c for c in scale_sample_count(checks, 5)}
    assert scaled["num-samples"]["passed"] and scaled["num-samples"]["reference"] == 5
    assert scaled["num-samples"]["scope"] == "scaled to 5 of 4,388 samples"
    assert scaled["exact_match"] == checks[0] and scaled["tokens_per_sample"] == checks[1]
    assert scale_sample_count(checks, 4388)[2]["passed"] is False  # the full set: unchanged


def test_the_accuracy_table_says_what_each_target_is_for():
    from dataclasses import asdict

    from mlnb.report.stage_view import _accuracy

    checks = [asdict(c) for c in check_targets(_result(4), "llama3.1-8b", samples_run=4)]
    html = _accuracy({"accuracy": {"targets": checks, "gen_num": 4, "benchmark": "llama3.1-8b"}}, 0)
    assert "target for" in html and "scaled to 4 of 13,368 samples" in html and "A subset was run" in html
    assert "7,350,880" not in html  # the full-dataset band is not shown as this run's target


def _audit(first_token: str, logged_first: bool):
    from mlnb.compliance.test06 import Test06Result
    from mlnb.report.token_audit import TokenAudit

    result = Test06Result(samples=4, first_token=first_token, eos=True, sample_length=True)
    return TokenAudit(result, [2], logged_first, np.array([12.0, 20.0]))


def test_token_audit_says_which_question_it_answers_and_why_a_check_was_skipped():
    from mlnb.report.token_audit import audit_html

    html = audit_html(_audit("Skipped", False), "", scenario="Offline")
    assert "TOKENS WELL FORMED" in html and ">PASS<" not in html
    assert "Which question this answers" in html and "does accuracy meet the MLPerf targets" in html
    assert "skipped: Offline does not stream" in html
    server = audit_html(_audit("Skipped", False), "", scenario="Server")
    assert "skipped: this accuracy log carries no first-token data" in server
