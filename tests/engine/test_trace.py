"""Trace: shapes, statistics over replicas and the pandas view."""

import numpy as np
import pytest

from simlab import simulate
from simlab.collab import WGA
from simlab.tasks import SharedHessianQuadratics


@pytest.fixture(scope="module")
def trace():
    task = SharedHessianQuadratics(d=4, n_aux=2, zeta=0.2, sigma=0.5)
    return simulate(task, WGA(step_size=0.5), steps=100, replicas=32, seed=3, checkpoints=12)


def test_shapes_and_statistics(trace):
    K = len(trace.checkpoints)
    assert trace.checkpoints[0] == 0 and trace.checkpoints[-1] == 100
    assert trace.values.shape == (K, 32, len(trace.metric_names))
    g = trace.metric("grad_norm_sq")
    np.testing.assert_allclose(trace.mean("grad_norm_sq"), g.mean(axis=1))
    np.testing.assert_allclose(trace.se("grad_norm_sq"), g.std(axis=1, ddof=1) / np.sqrt(32))
    ci = trace.ci("grad_norm_sq", 0.95)
    assert np.all(ci[:, 0] <= trace.mean("grad_norm_sq"))
    assert np.all(ci[:, 1] >= trace.mean("grad_norm_sq"))
    # running average over iterates at t: the mean of ||grad f_0(x_s)||^2 for s < t
    assert trace.mean("avg_grad_norm_sq")[0] == pytest.approx(trace.mean("grad_norm_sq")[0])
    with pytest.raises(KeyError, match="unknown metric"):
        trace.metric("loss")
    with pytest.raises(ValueError, match="level"):
        trace.ci("subopt", 1.5)


def test_to_pandas_is_tidy(trace):
    df = trace.to_pandas()
    assert len(df) == trace.values.shape[0] * 32
    assert {"step", "replica", "grad_norm_sq", "subopt"} <= set(df.columns)
    means = df.groupby("step")["subopt"].mean().to_numpy()
    np.testing.assert_allclose(means, trace.mean("subopt"))
    s = trace.summary("subopt")
    assert list(s.columns) == ["step", "mean", "se", "ci_low", "ci_high"]
