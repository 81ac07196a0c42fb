"""One percentile definition on every page: LoadGen's order statistic, sorted[floor(p/100 * n)]."""

import numpy as np
import pytest

from mlnb.report.plots import cdf_points, curve_percentile
from mlnb.results import describe


def test_the_sut_table_and_the_chart_markers_give_the_same_percentiles():
    values = np.array([38.46, 44.61, 44.80, 54.98])  # a 4-query stage: numpy's default gave p90 = 51.88
    table = describe(values)
    ordered = np.sort(values)
    assert [table[k] for k in ("p50", "p90", "p99")] == [round(curve_percentile(ordered, p), 3) for p in (50, 90, 99)]
    assert table["p90"] == pytest.approx(54.98)


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1001])
def test_each_percentile_sits_on_the_riser_of_the_drawn_cdf(n):
    ordered = np.sort(np.random.default_rng(n).exponential(10.0, n))  # continuous: no ties
    for p in (50, 90, 99):
        value = curve_percentile(ordered, p)
        assert describe(ordered)[f"p{p}"] == pytest.approx(value, abs=5e-4)
        i = int(np.searchsorted(ordered, value))
        # The empirical CDF steps from i/n to (i+1)/n at this value: p % lies on that riser.
        assert i / n <= p / 100 < (i + 1) / n
