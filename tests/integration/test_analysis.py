"""mlnb.analysis against real sim-backend stages: DataFrames that agree with summary.json, charts with the
expected artists, the export read back, and bad input as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlnb.analysis as analysis
from mlnb.analysis import charts
from mlnb.analysis.export import export_run, read_table
from mlnb.errors import InputError
from mlnb.report.plots import MAX_DRAWN_POINTS, latency_limits
from mlnb.results import describe, load_summary, loadgen_percentile

SIM = dict(backend="sim", samples=4, max_new_tokens=16, min_duration_ms=0, min_query_count=40, sim_ttft_ms=2, sim_tpot_ms=0.5)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from mlnb.config import StageParams
    from mlnb.stages.loadgen_stage import run_stage

    run = tmp_path_factory.mktemp("outputs") / "run1"
    run.mkdir()
    run_stage(StageParams(run_dir=str(run), stage="01_offline_perf", scenario="Offline", **SIM))
    run_stage(StageParams(run_dir=str(run), stage="03_server_perf", scenario="Server", target_qps=100, **SIM))
    failed = run / "05_singlestream_perf"  # a stage that stopped with an error keeps only its failure.json
    failed.mkdir()
    (failed / "failure.json").write_text(json.dumps({"stage": failed.name, "ename": "RuntimeError", "evalue": "boom", "cell_index": 3}))
    stages = ["01_offline_perf", "03_server_perf", failed.name]
    (run / "run.json").write_text(json.dumps({"run_id": run.name, "preset": "smoke", "stages": stages, "started": "2026-01-31T14:05:09+0000"}))
    return run


def _summary(run_dir: Path, stage: str) -> dict:
    return load_summary(run_dir / stage).model_dump(mode="json")


def test_queries_agree_with_the_summary(run_dir):
    stage_dir = run_dir / "03_server_perf"
    s = _summary(run_dir, "03_server_perf")
    q = analysis.queries(stage_dir)
    lines = [line for line in (stage_dir / "queries.jsonl").read_text().splitlines() if line.strip()]
    assert len(q) == len(lines) >= 40
    assert {"stage", "sample_index", "ok", "ttft_ms", "tpot_ms", "e2e_ms", "loadgen_latency_ms"} <= set(q.columns)
    assert (q["stage"] == "03_server_perf").all() and q["ok"].all()
    for name in ("ttft_ms", "tpot_ms", "e2e_ms"):  # the SUT's figures, same rules and same percentile
        assert describe(q[name].dropna().to_numpy()) == s["sut"][name], name
    p99 = loadgen_percentile(np.sort(q["ttft_ms"].dropna().to_numpy()), 99)
    assert round(p99, 3) == s["sut"]["ttft_ms"]["p99"]
    # LoadGen's own latency, per query from its trace: its p99 is LoadGen's (the trace keeps 4 decimals).
    loadgen_p99 = loadgen_percentile(np.sort(q["loadgen_latency_ms"].to_numpy()), 99)
    assert loadgen_p99 == pytest.approx(s["metrics"]["latency_ms"]["percentiles"]["99.0"], abs=1e-3)
    # The same table from the summary object a notebook holds.
    pd.testing.assert_frame_equal(analysis.queries(load_summary(stage_dir)), q)
    pd.testing.assert_frame_equal(analysis.queries(stage_dir / "summary.json"), q)


def test_offline_queries_have_no_ttft_but_an_end_to_end_latency(run_dir):
    q = analysis.queries(run_dir / "01_offline_perf")
    assert q["ttft_ms"].isna().all() and q["e2e_ms"].notna().all()


def test_stages_one_row_per_stage_with_the_summary_figures(run_dir):
    table = analysis.stages(run_dir)
    assert list(table["stage"]) == ["01_offline_perf", "03_server_perf", "05_singlestream_perf"]
    row = table.set_index("stage").loc["03_server_perf"]
    s = _summary(run_dir, "03_server_perf")
    assert row["tokens_per_second"] == s["metrics"]["tokens_per_second"]
    assert row["ttft_p99_ms"] == s["metrics"]["ttft_ms"]["percentiles"]["99.0"]
    assert row["sut_ttft_p99_ms"] == s["sut"]["ttft_ms"]["p99"]
    assert row["verdict"] == s["verdict"] and bool(row["simulated"])
    failed = table.set_index("stage").loc["05_singlestream_perf"]
    assert failed["status"] == "failed" and "boom" in failed["error"] and pd.isna(failed["tokens_per_second"])


def test_key_metrics_values_sut_and_limits(run_dir):
    s = _summary(run_dir, "03_server_perf")
    table = analysis.key_metrics(s)
    assert table.loc["tokens_per_second", "value"] == s["metrics"]["tokens_per_second"]
    assert table.loc["ttft_p99_ms", "sut"] == s["sut"]["ttft_ms"]["p99"]
    assert table.loc["ttft_p99_ms", "limit"] == latency_limits(s)["ttft_ms"]
    assert pd.isna(table.loc["ttft_p50_ms", "limit"])
    assert "samples_per_query" not in table.index  # a Server query is one sample
    offline = analysis.key_metrics(_summary(run_dir, "01_offline_perf"))
    # Offline's one LoadGen query beside the samples it held (40: min_query_count is its sample floor)
    assert offline.loc["query_count", "value"] == 1 and offline.loc["samples_per_query", "value"] == 40
    with pytest.raises(InputError):
        analysis.key_metrics(run_dir / "05_singlestream_perf")


def test_runs_in_an_outputs_folder(run_dir):
    table = analysis.runs(run_dir.parent)
    assert list(table["run_id"]) == ["run1"]
    row = table.iloc[0]
    assert row["stages"] == 3 and row["failed_stages"] == 1 and row["finished_stages"] == 2
    assert row["started"] == pd.Timestamp("2026-01-31T14:05:09Z")
    with pytest.raises(InputError, match="folder not found"):
        analysis.runs(run_dir / "nowhere")


def test_sweep_points_match_points_csv(tmp_path):
    from mlnb.sweep.curve import CSV_FIELDS
    from mlnb.sweep.page import write_csv

    points = []
    for i, qps in enumerate((1.0, 2.0, 4.0)):
        point = dict.fromkeys(CSV_FIELDS)
        point.update(point=f"p{i}", role="ladder", target_qps=qps, status="finished", verdict="VALID" if qps < 4 else "INVALID",
                     queries=40 * (i + 1), offered_qps=qps, achieved_qps=qps * 0.99, saturated=qps >= 4,
                     output_tokens_per_s=100.0 * qps, per_user_tokens_per_s=50.0 / qps, ttft_p99_ms=10.0 * qps,
                     tpot_p90_ms=2.0 * qps, run_dir=str(tmp_path / f"p{i}"), reasons=["too slow"] if qps >= 4 else [])
        points.append(point)
    from mlnb.sweep.plan import SweepSpec

    state = {"spec": SweepSpec(kind="ladder", preset="smoke", rates=[1, 2, 4]).model_dump(mode="json"), "points": points}
    (tmp_path / "sweep.json").write_text(json.dumps(state))
    write_csv(tmp_path, state)
    table = analysis.sweep_points(tmp_path)
    from_csv = pd.read_csv(tmp_path / "points.csv")
    assert list(table.columns) == list(from_csv.columns) and len(table) == 3
    for name in ("target_qps", "achieved_qps", "output_tokens_per_s", "ttft_p99_ms"):
        np.testing.assert_allclose(table[name].to_numpy(dtype=float), from_csv[name].to_numpy(dtype=float))
    assert list(table["pareto"]) == list(from_csv["pareto"]) and table.loc[2, "reasons"] == "too slow"
    with pytest.raises(InputError, match="sweep.json"):
        analysis.sweep_points(tmp_path / "p0")


def _vertical_lines(ax) -> list[float]:
    return [line.get_xdata()[0] for line in ax.get_lines() if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2]


def test_latency_chart_marks_loadgen_percentiles_and_the_limit(run_dir):
    q = analysis.queries(run_dir / "03_server_perf")
    fig = charts.latency(q, "tpot_ms", limit_ms=float(q["tpot_ms"].max()) * 1.5)
    ax_hist, ax_ecdf = fig.axes
    ordered = np.sort(q["tpot_ms"].dropna().to_numpy())
    expected = [loadgen_percentile(ordered, p) for p in (50, 90, 99)]
    lines = _vertical_lines(ax_hist)
    assert lines[:3] == expected and lines[3] == pytest.approx(ordered[-1] * 1.5)  # three percentiles, then the limit
    assert len(ax_hist.patches) >= 8  # the histogram's bars
    markers = [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax_ecdf.get_lines() if line.get_marker() == "o"]
    assert markers == list(zip(expected, (50, 90, 99)))
    assert fig.get_label() == "Time per output token (SUT timestamps)"
    with pytest.raises(KeyError, match="no column"):
        charts.latency(q, "nope_ms")


def test_large_tables_are_thinned_when_drawn_not_when_computed():
    values = np.random.default_rng(1).lognormal(3, 0.5, 200_000)
    q = pd.DataFrame({"stage": "big", "e2e_ms": values})
    fig = charts.latency(q, "e2e_ms")
    curve = max((line for line in fig.axes[1].get_lines()), key=lambda line: len(line.get_xdata()))
    assert len(curve.get_xdata()) <= 2 * MAX_DRAWN_POINTS + 2
    p99 = [x for x, y in ((line.get_xdata()[0], line.get_ydata()[0]) for line in fig.axes[1].get_lines() if line.get_marker() == "o") if y == 99]
    assert p99 == [loadgen_percentile(np.sort(values), 99)]
    fig = charts.latency_ecdf(pd.concat([q, q.assign(stage="other", e2e_ms=values * 2)]), "e2e_ms")
    assert len(fig.axes[0].get_legend().get_texts()) == 2


def test_stage_bars_and_throughput(run_dir):
    table = analysis.stages(run_dir)
    fig = charts.stage_bars(table, "tokens_per_second")
    bars = [p for p in fig.axes[0].patches if p.get_height() > 0]
    assert sorted(b.get_height() for b in bars) == sorted(table["tokens_per_second"].dropna())
    fig = charts.throughput(analysis.queries(run_dir / "03_server_perf"))
    assert fig.axes and len(fig.axes[0].patches) > 0


def test_export_round_trip_parquet_and_csv(run_dir, tmp_path):
    manifest = export_run(run_dir, "parquet", tmp_path / "pq")
    lines = {s: len((run_dir / s / "queries.jsonl").read_text().splitlines()) for s in ("01_offline_perf", "03_server_perf")}
    assert manifest["files"] == {"stages.parquet": 3, **{f"queries/{s}.parquet": n for s, n in lines.items()}}
    q = analysis.queries(run_dir / "03_server_perf")
    pd.testing.assert_frame_equal(read_table(tmp_path / "pq" / "queries" / "03_server_perf.parquet"), q)
    pd.testing.assert_frame_equal(read_table(tmp_path / "pq" / "stages.parquet"), analysis.stages(run_dir))
    export_run(run_dir, "csv", tmp_path / "csv")
    back = read_table(tmp_path / "csv" / "queries" / "03_server_perf.csv")
    assert list(back.columns) == list(q.columns)
    for name in ("ttft_ms", "tpot_ms", "e2e_ms", "loadgen_latency_ms"):
        np.testing.assert_allclose(back[name].to_numpy(dtype=float), q[name].to_numpy(dtype=float), rtol=1e-12)
    stages_back = read_table(tmp_path / "csv" / "stages.csv")
    assert list(stages_back["verdict"].fillna("")) == list(analysis.stages(run_dir)["verdict"].fillna(""))
    before = (tmp_path / "pq" / "stages.parquet").stat().st_mtime_ns
    with pytest.raises(InputError, match="finished export"):
        export_run(run_dir, "parquet", tmp_path / "pq")
    assert (tmp_path / "pq" / "stages.parquet").stat().st_mtime_ns == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_export_cli_bad_input_is_one_line_exit_2(run_dir, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mlnb.cli", "export", *args], capture_output=True, text=True, timeout=120)

    for args, words in (
        ([str(tmp_path / "none")], "folder not found"),
        ([str(tmp_path)], "not a run folder"),
        ([str(run_dir), "--format", "xlsx"], "'xlsx' is not one of"),
    ):
        result = cli(*args)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    ok = cli(str(run_dir), "--out", str(tmp_path / "out"))
    rows = len((run_dir / "03_server_perf" / "queries.jsonl").read_text().splitlines())
    assert ok.returncode == 0 and f"queries/03_server_perf.csv: {rows} rows" in ok.stdout
    again = cli(str(run_dir), "--out", str(tmp_path / "out"))
    assert again.returncode == 2 and "holds a finished export" in again.stderr


def test_stage_view_leaves_out_what_the_cells_show(run_dir):
    from mlnb.report.stage_view import stage_parts

    full = stage_parts(run_dir / "03_server_perf")
    rest = stage_parts(run_dir / "03_server_perf", exclude=("verdict", "key_metrics", "latency_charts", "throughput"))
    alts = lambda parts: [p[2] for p in parts if p[0] == "png"]  # noqa: E731
    html = lambda parts: "".join(p[1] for p in parts if p[0] == "html")  # noqa: E731
    assert any("Time to first token" in a for a in alts(full)) and any("Throughput" in a for a in alts(full))
    assert not any("Time to first token" in a or "Throughput" in a for a in alts(rest))
    assert any("Load-generator lag" in a for a in alts(rest))
    assert "Key metrics" in html(full) and "Key metrics" not in html(rest)
    assert "banner bad" in html(full) and "INVALID" not in html(rest).split("Load-generator health")[0]
    assert "LoadGen percentiles" in html(rest) and "Speed of light" in html(rest)
    with pytest.raises(ValueError, match="unknown sections"):
        stage_parts(run_dir / "03_server_perf", exclude=("verdcit",))


def test_notebook_chart_calls_skip_columns_without_data(run_dir):
    import mlnb.notebook as mlnb_nb

    summary = load_summary(run_dir / "01_offline_perf")
    q = mlnb_nb.queries(summary)
    assert mlnb_nb.latency_chart(q, "ttft_ms", summary) is None  # Offline: no first-token times
    fig = mlnb_nb.latency_chart(q, "e2e_ms", summary)
    assert fig is not None and len(fig.axes) == 2
    assert mlnb_nb.throughput_chart(q.iloc[0:0], summary) is None
