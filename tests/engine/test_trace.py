"""Trace: shapes, statistics over replicas, derived metrics and the pandas view."""

import numpy as np
import pytest
from scipy import stats as sps

from simlab import simulate
from simlab.collab import WGA
from simlab.engine.trace import MetricNotComputed
from simlab.tasks import SharedHessianQuadratics

TASK = SharedHessianQuadratics(d=4, n_aux=2, zeta=0.2, sigma=0.5)


@pytest.fixture(scope="module")
def trace():
    return simulate(TASK, WGA(step_size=0.5), steps=100, replicas=32, seed=3, checkpoints=12,
                    derived=True)


def test_shapes_and_statistics(trace):
    K = len(trace.checkpoints)
    assert trace.checkpoints[0] == 0 and trace.checkpoints[-1] == 100
    assert trace.values.shape == (K, 32, len(trace.metrics))
    assert trace.metrics == ("grad_norm_sq", "subopt", "dist_sq", "avg_grad_norm_sq")
    g = trace.metric("grad_norm_sq")
    np.testing.assert_allclose(trace.mean("grad_norm_sq"), g.mean(axis=1))
    np.testing.assert_allclose(trace.se("grad_norm_sq"), g.std(axis=1, ddof=1) / np.sqrt(32))
    # the 95% interval is mean -+ 1.959964 SE, computed here independently
    half = sps.norm.ppf(0.975) * g.std(axis=1, ddof=1) / np.sqrt(32)
    np.testing.assert_allclose(trace.ci("grad_norm_sq", 0.95),
                               np.stack([g.mean(axis=1) - half, g.mean(axis=1) + half], axis=1))
    with pytest.raises(KeyError, match="unknown metric"):
        trace.metric("loss")
    with pytest.raises(ValueError, match="level"):
        trace.ci("subopt", 1.5)


def test_running_average_is_the_mean_over_past_iterates_at_every_checkpoint(trace):
    every = simulate(TASK, WGA(step_size=0.5), steps=100, replicas=32, seed=3,
                     checkpoints="all")
    g = every.metric("grad_norm_sq")  # (101, 32): ||grad f_0(x_t)||^2 at every t
    past = np.cumsum(g, axis=0)
    for k, t in enumerate(trace.checkpoints):
        want = g[0] if t == 0 else past[t - 1] / t
        np.testing.assert_allclose(trace.metric("avg_grad_norm_sq")[k], want, rtol=1e-12)


def test_a_derived_metric_not_asked_for_is_nan_and_refused():
    tr = simulate(TASK, WGA(step_size=0.5), steps=20, replicas=4, seed=3)
    col = tr.metrics.index("avg_grad_norm_sq")
    assert np.isnan(tr.values[:, :, col]).all()  # NaN, never 0
    assert np.isfinite(tr.values[:, :, :col]).all()
    with pytest.raises(MetricNotComputed, match="derived="):
        tr.mean("avg_grad_norm_sq")
    assert "avg_grad_norm_sq" not in tr.to_pandas().columns
    with pytest.raises(ValueError, match="derived must name"):
        simulate(TASK, WGA(step_size=0.5), steps=20, replicas=4, derived=["avg_loss"])


def test_to_pandas_is_tidy(trace):
    df = trace.to_pandas()
    assert len(df) == trace.values.shape[0] * 32
    assert {"step", "replica", "grad_norm_sq", "subopt"} <= set(df.columns)
    means = df.groupby("step")["subopt"].mean().to_numpy()
    np.testing.assert_allclose(means, trace.mean("subopt"))
    s = trace.summary("subopt")
    assert list(s.columns) == ["step", "mean", "se", "ci_low", "ci_high"]
