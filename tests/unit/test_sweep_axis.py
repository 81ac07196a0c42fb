"""The sweep chart does not stretch per-user speeds that barely differ across its whole axis."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mlnb.sweep.page import NARROW_SHARE, widen_narrow_axis  # noqa: E402


def _limits(xs):
    fig, ax = plt.subplots()
    ax.scatter(xs, [1] * len(xs))
    widen_narrow_axis(ax)
    limits = ax.get_xlim()
    plt.close(fig)
    return limits


def test_a_noise_sized_spread_gets_a_wide_axis():
    low, high = _limits([9.955, 9.98, 9.99])
    assert high - low >= 2 * NARROW_SHARE * 9.97 * 0.99


def test_a_real_spread_keeps_matplotlibs_axis():
    low, high = _limits([5.0, 10.0, 20.0])
    assert low < 5.0 and high > 20.0 and high - low < 20


def test_latencies_far_above_the_limit_get_a_log_axis_so_the_limit_stays_readable():
    from mlnb.sweep.page import latency_axis

    fig, ax = plt.subplots()
    latency_axis(ax, [25_395.0, 74_089.0, 172_133.0], 2000.0)
    assert ax.get_yscale() == "log"
    _, near = plt.subplots()
    latency_axis(near, [60.0, 75.0, 140.0], 100.0)
    assert near.get_yscale() == "linear"
    plt.close("all")


def test_the_page_draws_throughput_from_zero_and_latency_on_a_log_axis_when_far_from_the_limit(monkeypatch):
    from mlnb.sweep import page

    axes_seen = []
    real_png = page._png

    def keep(fig):
        axes_seen.extend(fig.axes)
        return real_png(fig)

    monkeypatch.setattr(page, "_png", keep)
    points = [{"point": f"p0{i}", "status": "finished", "verdict": "INVALID", "target_qps": q, "role": "ladder",
               "output_tokens_per_s": tok, "per_user_tokens_per_s": 0.1 + i / 10, "ttft_p99_ms": ttft,
               "tpot_p99_ms": 4000.0 + i, "scenario_ttft_limit_ms": 2000.0, "scenario_tpot_limit_ms": 100.0}
              for i, (q, tok, ttft) in enumerate([(2.0, 13.55, 25_395.0), (4.0, 13.35, 74_089.0), (8.0, 13.71, 172_133.0)])]
    figures = page._figures({"kind": "ladder"}, points, [])
    assert len(figures) == 2
    throughput, ttft, tpot = axes_seen
    assert throughput.get_ylim()[0] == 0
    assert ttft.get_yscale() == "log" and tpot.get_yscale() == "log"
    assert "log scale" in ttft.get_title()
