"""Spec 8.3's time-to-epsilon, as the collab claims and figures measure it."""

import numpy as np

from simlab.collab import measure


def test_time_to_eps_smoothing_and_interval():
    curve = np.concatenate([np.linspace(1.0, 0.0, 101), np.zeros(100)])
    t = measure.t_eps(curve, 0.5)
    assert 50 < t <= 60  # the running mean over max(10, t/10) steps lags the curve
    assert measure.t_eps(curve, 0.5, smooth=False) == 50
    assert measure.t_eps(curve + 1.0, 0.5) == np.inf
    te, lo, hi = measure.t_eps_interval(curve, np.full(curve.size, 0.01), 0.5, 3.0)
    assert lo < te < hi
