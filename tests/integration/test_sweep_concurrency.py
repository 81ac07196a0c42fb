"""Closed-loop concurrency sweeps of the openai backend against the zero-compute fixture server.

The fixture answers every request after ``ttft_ms``, then one token every ``itl_ms``, whatever the
load: per-user speed is 1000 / itl_ms at every concurrency, and N requests in flight give N times
one request's throughput (less the drain at the end of each point).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fixtures.openai_fixture import fake_openai_server

TTFT_MS, ITL_MS, TOKENS = 100.0, 100.0, 21  # 2.1 s a request: a late chunk moves TPOT by little


def write_preset(path: Path, url: str) -> Path:
    preset = {
        "description": "fixture", "stages": ["01_offline_perf"],
        "common": {"backend": "openai", "base_url": url, "served_model_name": "fake-model", "tokenizer": "embedded",
                   "model": "embedded", "dataset": "embedded", "samples": 4, "max_new_tokens": TOKENS,
                   "min_new_tokens": 1, "timeout_s": 300, "read_timeout_s": 10},
        "per_stage": {"01_offline_perf": {"min_duration_ms": 0, "min_query_count": 4}},
    }
    path.write_text(yaml.safe_dump(preset))
    return path


@pytest.mark.slow  # three full runs, about 1.5 min on a 2-core machine
def test_concurrency_ladder_reproduces_the_fixtures_pacing(tmp_path):
    out = tmp_path / "out"
    with fake_openai_server(tokens=TOKENS, ttft_ms=TTFT_MS, itl_ms=ITL_MS,
                            tokenizer=os.environ["MLNB_TEST_TOKENIZER"]) as url:
        preset = write_preset(tmp_path / "fixture.yaml", url)
        result = subprocess.run([sys.executable, "-m", "mlnb.cli", "sweep", "--preset", str(preset), "--concurrency",
                                 "1,2,4", "--queries-per-slot", "2", "--outputs", str(out)],
                                capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    sweep_dir = next(p for p in out.iterdir() if (p / "sweep.json").is_file())
    state = json.loads((sweep_dir / "sweep.json").read_text())
    points = state["points"]
    assert [p["concurrency"] for p in points] == [1, 2, 4]
    assert "not one of LoadGen's scenarios" in state["closed_loop_note"]
    for point in points:
        assert point["status"] == "finished" and point["queries"] >= 2 * point["concurrency"]
        # per-user speed: 1000 / p90 TPOT, the fixture's pace within 2 %
        assert point["per_user_tokens_per_s"] == pytest.approx(1000 / ITL_MS, rel=0.02), point
        assert TTFT_MS <= point["ttft_p90_ms"] < TTFT_MS * 1.5  # from the send, not from LoadGen's issue
        assert point["verdict_kind"].startswith("LoadGen Offline")
        # the cap held: never more than N in flight, and close to N on average
        rows = [json.loads(line) for line in
                (sweep_dir / point["run_dir"] / "01_offline_perf" / "queries.jsonl").read_text().splitlines()]
        events = sorted([(r["sent_ms"], 1) for r in rows] + [(r["done_ms"], -1) for r in rows], key=lambda e: (e[0], e[1]))
        in_flight = peak = 0
        for _, step in events:
            in_flight += step
            peak = max(peak, in_flight)
        assert peak == point["concurrency"]
        assert 0.6 * point["concurrency"] <= point["mean_in_flight"] <= point["concurrency"]
    # throughput grows with the requests in flight: about N x one request's
    one = points[0]["output_tokens_per_s"]
    assert points[1]["output_tokens_per_s"] > 1.6 * one and points[2]["output_tokens_per_s"] > 3.0 * one
    levels = state["result"]["levels"]
    assert [row["saturated"] for row in levels] == [None, False, False]
    page = (sweep_dir / "sweep.html").read_text()
    assert "not one of LoadGen" in page and "requests in flight" in page
    # the runs browser lists the sweep folder as a sweep, its points stay inside it
    from mlnb.report.runs_list import list_runs, run_label

    (listed,) = list_runs(out)
    assert listed["run_id"] == sweep_dir.name and listed["kind"] == "sweep" and listed["status"] == "finished"
    assert " sweep " in run_label(listed) and (sweep_dir / "index.html").is_file()
