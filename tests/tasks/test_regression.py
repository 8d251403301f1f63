"""Family D (collab spec 8.1(D)): linear regression with covariate and concept shift."""

from dataclasses import replace

import numpy as np
import pytest
from _plain import (
    draw_grad,
    draw_split,
    grad_norm_sq0,
    init_point,
    metrics_row,
    zscore_mean,
)

from simlab import simulate
from simlab.collab import SGDAlone
from simlab.collab.presets import make_task
from simlab.tasks import LinearRegressionTasks

Z_NOISE = 4.5  # |z| limit of the noise-law checks (two-sided, about 7e-6 each)

SMALL = LinearRegressionTasks(d=3, n_aux=2, eig=(0.3, 1.0), zeta=(0.4, 0.7), delta=(0.1, 0.25),
                              noise_s=0.5, seed=1)


def test_constants_and_packed_factors():
    task = LinearRegressionTasks(d=5, n_aux=3, eig=(0.2, 2.0), zeta=(0.3, 0.5, 0.2),
                                 delta=(0.0, 0.1, 0.15), noise_s=0.7, x0_dist=1.5, seed=2)
    S, W = task.hessians(), task.optima()
    c = task.constants("uniform")
    assert np.allclose(S[0], np.diag(np.geomspace(0.2, 2.0, 5)), rtol=0, atol=0)
    assert c["L"] == 2.0 and c["mu"] == 0.2
    for i in range(1, 4):
        assert abs(np.linalg.norm(S[i] - S[0], 2) - task.deltas[i - 1]) < 1e-12
        assert np.linalg.norm(S[i] @ (W[i] - W[0])) == pytest.approx(task.zetas[i - 1],
                                                                     rel=1e-12)
    tdata, tmeta = task.packed()
    chol = tdata[:4 * 25].reshape(4, 5, 5)
    assert np.allclose(np.triu(chol, 1), 0.0, atol=0)
    assert np.allclose(chol @ np.transpose(chol, (0, 2, 1)), S, rtol=0, atol=1e-14)
    assert c["f0_star"] == pytest.approx(0.245, rel=1e-15)
    assert task.objective(W[0]) == pytest.approx(0.245, rel=1e-15)
    assert np.allclose(metrics_row(task, W[0]), 0.0, atol=0)
    x0 = init_point(task)
    assert np.linalg.norm(x0 - W[0]) == pytest.approx(1.5, rel=1e-12)
    assert c["F0"] == pytest.approx(task.objective(x0) - 0.245, rel=1e-12)
    # noise: not uniformly bounded, exact values at the optima
    assert np.all(np.isinf(c["sigma"])) and c["sigma_bounded"] is False
    assert np.allclose(c["sigma_at_opt"], 0.7 * np.sqrt(np.trace(S, axis1=1, axis2=2)),
                       rtol=1e-14)
    assert c["sigma_at_opt"][0] == pytest.approx(np.sqrt(0.49 * np.trace(S[0])), rel=1e-14)
    for i in range(4):
        e = W[0] - W[i]
        var = np.sum((S[i] @ e) ** 2) + (e @ S[i] @ e + 0.49) * np.trace(S[i])
        assert c["sigma_at_x0_star"][i] == pytest.approx(np.sqrt(var), rel=1e-12)
    assert c["sigma_alpha_sq"] == np.inf
    assert c["sigma_alpha_sq_at_x0_star"] == pytest.approx(np.sum(c["sigma_at_x0_star"] ** 2)
                                                           / 16, rel=1e-12)
    bias = sum(task.gradient(W[0], i) - task.gradient(W[0], 0) for i in range(1, 4)) / 4
    assert c["zeta_bar"] == pytest.approx(np.linalg.norm(bias), rel=1e-12)
    assert c["zeta_bar"] <= c["zeta_bar_ball"] <= c["zeta_bar_ball_triangle"] * (1 + 1e-12)


def test_ops_match_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(3)
    g = SMALL.gradient(x, 0)
    h = 1e-6
    for i in range(3):
        fd = np.array([(SMALL.objective(x + h * e, i) - SMALL.objective(x - h * e, i)) / (2 * h)
                       for e in np.eye(3)])
        assert np.allclose(fd, SMALL.gradient(x, i), rtol=1e-7, atol=1e-8)
    row = metrics_row(SMALL, x)
    W = SMALL.optima()
    assert np.allclose(row, [g @ g, SMALL.objective(x) - 0.125, np.sum((x - W[0]) ** 2)],
                       rtol=1e-12, atol=0)
    assert grad_norm_sq0(SMALL, x) == pytest.approx(g @ g, rel=1e-13)


def test_one_sample_gradient_is_a_times_residual():
    # noise_s = 0: g_i(x) = a a^T (x - w_i*), so g_i(x) - g_i(y) on the same sample is
    # a a^T (x - y), parallel to g_i(x): the sample (a, y) is shared by the replayed bank
    task = replace(SMALL, noise_s=0.0)
    x, y = np.array([1.0, -0.5, 0.2]), np.array([-0.3, 0.8, 1.1])
    gx = draw_grad(task, 1, x, 1, seed=4)[0]
    gy = draw_grad(task, 1, y, 1, seed=4)[0]
    a_dir = gx / np.linalg.norm(gx)
    assert np.allclose(np.cross(gx - gy, a_dir), 0.0, atol=1e-13)
    assert np.allclose(np.cross(gy, a_dir), 0.0, atol=1e-13)


def test_sample_split_is_the_per_task_samples_and_draws_only_from_its_bank():
    a = np.array([0.2, 0.5, 0.3])
    x = np.array([0.3, -1.0, 2.0])
    g0, aux = draw_split(SMALL, a, x, 1, seed=12)
    per_task = [draw_grad(SMALL, i, x, 1, seed=12)[0] for i in range(3)]
    assert np.array_equal(g0[0], per_task[0])
    expected = np.zeros(3)
    for i in (1, 2):
        expected += a[i] * per_task[i]
    assert np.array_equal(aux[0], expected)


def test_noise_law_is_multiplicative_gaussian_fourth_moment():
    x = np.array([1.0, -0.6, 0.8])
    a = np.array([0.2, 0.5, 0.3])
    n = 4000
    g0, aux = draw_split(SMALL, a, x, n, seed=21)
    # task 0: mean Sigma_0 (x - w_0*) and covariance Sigma e e^T Sigma + (e^T Sigma e + s^2) Sigma
    m0 = SMALL.gradient(x, 0)
    assert np.all(np.abs(zscore_mean(g0, m0)) < Z_NOISE)
    C = SMALL.noise_cov(x, 0)
    c0 = g0 - m0
    for k in range(3):
        for j in range(k, 3):
            p = c0[:, k] * c0[:, j]
            z = (p.mean() - C[k, j]) / (p.std(ddof=1) / np.sqrt(n))
            assert abs(z) < Z_NOISE, (k, j, z)
    # the auxiliary tasks: independent samples, so Var(aux) = sum alpha_i^2 tr Cov_i
    ma = sum(a[i] * SMALL.gradient(x, i) for i in (1, 2))
    assert np.all(np.abs(zscore_mean(aux, ma)) < Z_NOISE)
    sq = np.sum((aux - ma) ** 2, axis=1)
    tot = sum(a[i] ** 2 * np.trace(SMALL.noise_cov(x, i)) for i in (1, 2))
    assert abs((sq.mean() - tot) / (sq.std(ddof=1) / np.sqrt(n))) < Z_NOISE
    prod = np.sum(c0 * (aux - ma), axis=1)
    assert abs(prod.mean() / (prod.std(ddof=1) / np.sqrt(n))) < Z_NOISE
    # the variance grows with the distance to the optimum (not uniformly bounded)
    far = SMALL.optima()[0] + 10.0
    assert np.trace(SMALL.noise_cov(far, 0)) > 30 * np.trace(SMALL.noise_cov(x, 0))




def test_sgd_converges_to_the_label_noise_floor():
    # SGD on task 0 with a small step: E[f_0 - f_0*] -> about eta s^2 tr(Sigma_0) / 4 > 0
    task = LinearRegressionTasks(d=3, n_aux=1, eig=(0.5, 1.0), noise_s=0.5, seed=3)
    tr = simulate(task, SGDAlone(step_size=0.05), steps=3000, replicas=400, seed=2,
                  checkpoints=[0, 3000])
    c = task.constants()
    sub = tr.mean("subopt")
    assert sub[0] == pytest.approx(c["F0"], rel=1e-12)
    pred = 0.05 * 0.25 * np.trace(task.hessians()[0]) / 4
    assert abs(sub[-1] - pred) < 0.35 * pred


def test_preset_builds_family_D():
    p = dict(family="D", d=4, n_aux=2, mu=0.2, L=2.0, zeta=0.3, delta=0.01, hess_delta=0.1,
             noise_s=0.4, task_seed=3, hessian_signs="alternating")
    assert make_task(p) == LinearRegressionTasks(d=4, n_aux=2, eig=(0.2, 2.0), zeta=0.3,
                                                 delta=0.1, noise_s=0.4, seed=3,
                                                 hessian_signs="alternating")


@pytest.mark.parametrize("kw, match", [
    (dict(delta=0.5), r"delta\[\d\] = 0.5 makes Sigma_\d .*not positive definite.*floor"),
    (dict(delta=-0.1), "delta must be finite and >= 0"),
    (dict(noise_s=-1.0), "noise_s must be finite and in"),
    (dict(noise_s=float("nan")), "noise_s must be finite"),
    (dict(zeta=(0.1,)), "zeta must be a scalar or a sequence of length 2"),
    (dict(eig=(1.0, 0.5)), "mu must be <= L"),
    (dict(hessian_signs="up"), "hessian_signs must be one of"),
    (dict(radius=-2.0), "radius must be finite and in"),
    (dict(seed=-1), "seed must be >= 0"),
])
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        LinearRegressionTasks(**{**dict(d=4, n_aux=2, eig=(0.1, 1.0)), **kw})
