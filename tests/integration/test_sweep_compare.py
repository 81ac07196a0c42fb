"""`mlnb compare` on two sweeps: two sim sweeps of different capacity, the bigger one dominates.

Sim A serves 2 requests at once at 3 ms a token (capacity 2 / 70 ms = 29 qps, 333 tokens/s per
user), run twice at 60 qps (repeats); sim B serves 8 at 1.5 ms a token (200 qps, 667 tokens/s per
user), at 20 and 60 qps. B offers more throughput at a higher per-user speed, so its frontier
dominates A's.
"""

import json
import subprocess
import sys

import pytest

COMMON = ["--preset", "smoke", "--backend", "sim", "--samples", "16", "--trial-duration-ms", "1500",
          "--no-early-stopping-sizing", "--no-saturation-stop", "--set", "sim_output_tokens=21",
          "--set", "sim_ttft_ms=10", "--set", "sim_prefill_ms_per_token=0"]


def mlnb(*args):
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, timeout=600)


def sweep(out, sweep_id, batch, tpot_ms, *more):
    result = mlnb("sweep", *COMMON, "--set", f"sim_max_batch={batch}", "--set", f"sim_tpot_ms={tpot_ms}",
                  "--outputs", str(out), "--sweep-id", sweep_id, *more)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / sweep_id


@pytest.mark.slow  # four short sim runs
def test_the_bigger_sim_dominates(tmp_path):
    out = tmp_path / "out"
    small = sweep(out, "small", 2, 3.0, "--rates", "60", "--repeats", "2")
    big = sweep(out, "big", 8, 1.5, "--rates", "20,60")

    # the small sweep's one rate ran twice: its level shows the spread of the two runs
    state = json.loads((small / "sweep.json").read_text())
    assert [(p["target_qps"], p["repeat"]) for p in state["points"]] == [(60, 1), (60, 2)]
    (level,) = state["result"]["levels"]
    runs = [p["output_tokens_per_s"] for p in state["points"]]
    assert level["repeats"] == 2 and level["output_tokens_per_s"]["min"] == pytest.approx(min(runs), abs=1e-3)
    assert level["output_tokens_per_s"]["max"] == pytest.approx(max(runs), abs=1e-3)
    assert level["output_tokens_per_s"]["stdev"] is not None
    assert "2 repeats" in (small / "sweep.html").read_text()
    assert "repeat" in (small / "points.csv").read_text().splitlines()[0]

    result = mlnb("compare", str(small), str(big), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: B dominates" in result.stdout
    report = json.loads((tmp_path / "cmp" / "sweep_compare.json").read_text())
    assert report["verdict"] == "B dominates" and report["checks"]
    for check in report["checks"]:
        assert check["b_output_tokens_per_s"] > check["a_output_tokens_per_s"]
    page = (tmp_path / "cmp" / "sweep_compare.html").read_text()
    assert "B dominates" in page and page.count("data:image/png;base64,") == 1

    swapped = mlnb("compare", str(big), str(small), "--out", str(tmp_path / "cmp2"))
    assert swapped.returncode == 0 and "verdict: A dominates" in swapped.stdout

    # a sweep and a run, or a folder that exists already: one line, exit 2
    run = next(p for p in (out / "big").iterdir() if p.is_dir() and (p / "run.json").is_file())
    mixed = mlnb("compare", str(small), str(run))
    assert mixed.returncode == 2 and "is not a sweep" in mixed.stderr and len(mixed.stderr.strip().splitlines()) == 1
    again = mlnb("compare", str(small), str(big), "--out", str(tmp_path / "cmp"))
    assert again.returncode == 2 and "already exists" in again.stderr
