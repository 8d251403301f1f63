"""Verdict rules, slopes and time-to-epsilon."""

import numpy as np
import pytest

from simlab.engine import stats


def test_upper_bound_three_outcomes():
    z = 3.0
    assert stats.upper_bound([1.0, 2.0], [0.1, 0.1], [2.0, 3.0], z).verdict == stats.HOLDS
    v = stats.upper_bound([1.0, 3.5], [0.1, 0.1], [2.0, 3.0], z)
    assert v.verdict == stats.VIOLATED and v.index == 1
    assert stats.upper_bound([1.0, 2.9], [0.1, 0.1], [2.0, 3.0], z).verdict == \
        stats.INCONCLUSIVE
    # tolerance widens the bound by (1 + tol)
    assert stats.upper_bound([3.05], [0.0], [3.0], z, tol=0.02).verdict == stats.HOLDS


def test_lower_bound_and_agreement():
    assert stats.lower_bound([2.0], [0.1], [1.0], 3).verdict == stats.HOLDS
    assert stats.lower_bound([0.5], [0.1], [1.0], 3).verdict == stats.VIOLATED
    assert stats.agreement([1.0], [0.01], [1.02], 3).verdict == stats.HOLDS
    assert stats.agreement([1.0], [0.01], [1.2], 3).verdict == stats.VIOLATED
    assert stats.agreement([1.0], [0.1], [1.0], 3, max_rel_se=0.02).verdict == \
        stats.INCONCLUSIVE


def test_z_value_bonferroni():
    assert stats.z_value(0.05) == pytest.approx(1.6449, abs=1e-4)
    assert stats.z_value(0.05, 10, two_sided=True) == pytest.approx(2.807, abs=1e-3)
    with pytest.raises(ValueError, match="delta"):
        stats.z_value(1.5)


def test_loglog_slope_recovers_exponent_and_its_interval():
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e4, 12)
    y = 3.0 * x ** -0.5
    se = 0.01 * y
    noisy = y * (1 + 0.01 * rng.standard_normal(x.size))
    s = stats.loglog_slope(x, noisy, se)
    lo, hi = s.interval(4.0)
    assert lo < -0.5 < hi and hi - lo < 0.05


def test_trailing_mean_and_first_below():
    curve = np.arange(30, dtype=float)
    m = stats.trailing_mean(curve, 10, 10)
    assert m[0] == 0 and m[9] == pytest.approx(4.5) and m[29] == pytest.approx(np.mean(curve[20:]))
    m3 = stats.trailing_mean(curve, 2, 3)  # window max(2, t // 3): 9 at t = 29
    assert m3[29] == pytest.approx(np.mean(curve[21:30]))
    assert stats.first_below(curve[::-1], 3.0) == 26 and stats.first_below(curve, -1) == np.inf
    with pytest.raises(ValueError, match="min_window"):
        stats.trailing_mean(curve, 0, 10)
