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
