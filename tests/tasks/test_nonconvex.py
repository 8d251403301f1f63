"""Family C (collab spec 8.1(C)): bounded non-convex tasks: constants, ops, noise law."""

from dataclasses import replace

import numpy as np
import pytest
from _plain import (
    draw_grad,
    draw_split,
    grad_norm_sq0,
    init_point,
    metrics_row,
)

from simlab import simulate
from simlab.collab import WGA
from simlab.collab.presets import make_task
from simlab.tasks import BoundedNonconvex
from simlab.tasks.nonconvex import KAPPA_STAR, pl_constant, psi

Z_NOISE = 4.5  # |z| limit of the noise-law checks (two-sided, about 7e-6 each)

SMALL = BoundedNonconvex(d=3, n_aux=2, kappa=2.0, zeta=(0.4, 0.7), sigma=(1.0, 0.5, 2.0),
                         delta=(0.3, 0.6), n_waves=3, seed=1)


# --- constants ------------------------------------------------------------------------------

def test_optimum_start_and_F0():
    task = BoundedNonconvex(d=5, n_aux=3, kappa=3.0, x0_dist=2.5, seed=2)
    c = task.constants()
    center = task.instance()["c"]
    assert task.objective(center) == 0.0
    assert np.array_equal(task.gradient(center), np.zeros(5))
    assert c["f0_star"] == 0.0 and c["L"] == 4.0
    x0 = init_point(task)
    assert np.linalg.norm(x0 - center) == pytest.approx(2.5, rel=1e-12)
    assert c["x0_dist_sq"] == pytest.approx(6.25, rel=1e-12)
    assert c["F0"] == pytest.approx(np.sum((x0 - center) ** 2 / 2
                                           + 3.0 * (1 - np.cos(x0 - center))), rel=1e-12)
    explicit = replace(task, x0=(1.0, 2.0, 3.0, 4.0, 5.0))
    assert np.array_equal(init_point(explicit), [1.0, 2.0, 3.0, 4.0, 5.0])


def test_smoothness_constant_is_attained():
    # psi'' = 1 + kappa cos u: sup is 1 + kappa at u = 0 (L exact), inf 1 - kappa
    for kappa in (0.0, 0.5, 2.0, 6.0):
        u = np.linspace(-10, 10, 20001)
        assert np.max(1 + kappa * np.cos(u)) == pytest.approx(1 + kappa, rel=1e-12)
        assert BoundedNonconvex(kappa=kappa).constants()["L"] == 1 + kappa


@pytest.mark.parametrize("directions", ["random", "aligned", "cancelling"])
def test_zeta_bar_exact_without_perturbation(directions):
    task = BoundedNonconvex(d=4, n_aux=4, zeta=(0.3, 0.5, 0.3, 0.5), delta=0.0,
                            bias_directions=directions, seed=3)
    a = np.array([0.2, 0.2, 0.2, 0.2, 0.2])
    c = task.constants(a)
    rng = np.random.default_rng(0)
    for x in rng.standard_normal((5, 4)) * 3:
        b = sum(a[i] * (task.gradient(x, i) - task.gradient(x, 0)) for i in range(1, 5))
        assert np.linalg.norm(b) == pytest.approx(c["zeta_bar"], rel=1e-12, abs=1e-15)
    assert c["zeta_bar_exact"] is True
    assert np.allclose(c["zeta"], [0.3, 0.5, 0.3, 0.5], rtol=0, atol=1e-12)
    if directions == "aligned":
        assert c["zeta_bar"] == pytest.approx(0.2 * 1.6, rel=1e-12)


def test_bias_and_hessian_dissimilarity_bounds_with_perturbation():
    task = BoundedNonconvex(d=3, n_aux=2, kappa=2.0, zeta=(0.2, 0.1), delta=(0.5, 1.5),
                            n_waves=2, seed=4)
    a = np.array([0.5, 0.25, 0.25])
    c = task.constants(a)
    assert c["zeta_bar_exact"] is False
    vbar = np.linalg.norm(a @ task.instance()["V"])
    assert c["zeta_bar"] == c["zeta_bar_bound"] == pytest.approx(vbar + 0.25 * 2.0, rel=1e-12)
    rng = np.random.default_rng(1)
    h = 1e-5
    worst_b, worst_h = 0.0, np.zeros(2)
    for x in rng.standard_normal((300, 3)) * 4:
        b = sum(a[i] * (task.gradient(x, i) - task.gradient(x, 0)) for i in (1, 2))
        worst_b = max(worst_b, np.linalg.norm(b))
        for i in (1, 2):
            def diff(y, i=i):
                return task.gradient(y, i) - task.gradient(y, 0)
            Hd = np.array([(diff(x + h * e) - diff(x - h * e)) / (2 * h) for e in np.eye(3)])
            worst_h[i - 1] = max(worst_h[i - 1], np.linalg.norm(Hd, 2))
            assert np.linalg.norm(diff(x)) <= c["zeta_sup"][i - 1] * (1 + 1e-12)
    assert worst_b <= c["zeta_bar_bound"]
    assert np.all(worst_h <= task.deltas * (1 + 1e-6))
    assert np.all(worst_h >= 0.5 * task.deltas)  # the bound is not vacuous


def test_pl_constant():
    u = np.concatenate([np.linspace(1e-4, 30, 300001), np.linspace(30, 400, 100001)])
    for kappa in (0.0, 0.3, 1.0, 2.0, 4.0):
        mu = pl_constant(kappa)
        ratio = (u + kappa * np.sin(u)) ** 2 / (2 * psi(u, kappa))
        assert np.all(ratio >= mu * (1 - 1e-10))
        assert ratio.min() <= mu * (1 + 1e-6)
        if kappa < 1:
            assert mu >= 1 - kappa  # strong convexity implies PL
        c = BoundedNonconvex(kappa=kappa).constants()
        assert c["mu"] == mu and c["convex"] == (kappa <= 1)
    assert np.isnan(BoundedNonconvex(kappa=5.0).constants()["mu"])
    assert "not PL" in BoundedNonconvex(kappa=5.0).constants()["mu_note"]
    # KAPPA_STAR separates a single stationary point from several
    v = np.linspace(1e-3, 20, 200001)
    assert np.all(v + KAPPA_STAR * (1 - 1e-4) * np.sin(v) > 0)
    assert np.any(v + KAPPA_STAR * (1 + 1e-4) * np.sin(v) < 0)


def test_noise_constants():
    a = np.array([0.4, 0.35, 0.25])
    c = SMALL.constants(a)
    sg = SMALL.sigmas
    assert c["sigma_alpha_sq"] == pytest.approx(np.sum(a ** 2 * sg ** 2), rel=1e-14)
    assert c["sigma_b_sq"] == pytest.approx(0.6 ** 2 * sg[0] ** 2
                                            + np.sum(a[1:] ** 2 * sg[1:] ** 2), rel=1e-14)


# --- ops against the numpy reference ------------------------------------------------------

@pytest.mark.parametrize("aggregate", [True, False])
def test_ops_match_reference_and_finite_differences(aggregate):
    task = replace(SMALL, sigma=0.0, aggregate_noise=aggregate)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(3) * 2
    a = np.array([0.2, 0.5, 0.3])
    for i in range(3):
        assert np.allclose(draw_grad(task, i, x, 1)[0], task.gradient(x, i), rtol=1e-13,
                           atol=1e-14)
        h = 1e-6
        fd = np.array([(task.objective(x + h * e, i) - task.objective(x - h * e, i)) / (2 * h)
                       for e in np.eye(3)])
        assert np.allclose(fd, task.gradient(x, i), rtol=1e-7, atol=1e-8)
    g0, aux = draw_split(task, a, x, 1)
    assert np.allclose(g0[0], task.gradient(x, 0), rtol=1e-13, atol=1e-14)
    assert np.allclose(aux[0], sum(a[i] * task.gradient(x, i) for i in (1, 2)), rtol=1e-12,
                       atol=1e-14)
    g = task.gradient(x, 0)
    center = task.instance()["c"]
    assert np.allclose(metrics_row(task, x),
                       [g @ g, task.objective(x), np.sum((x - center) ** 2)], rtol=1e-13, atol=0)
    assert grad_norm_sq0(task, x) == pytest.approx(g @ g, rel=1e-13)


# --- dynamics ---------------------------------------------------------------------------------

def test_noiseless_wga_stalls_at_the_bias_floor():
    # delta = 0, sigma = 0, convex psi: WGA's fixed point has grad f_0 = -sum alpha_i v_i, so
    # ||grad f_0||^2 -> zeta_bar^2 exactly (the P6 floor)
    task = BoundedNonconvex(d=4, n_aux=3, kappa=0.5, zeta=0.8, sigma=0.0, delta=0.0,
                            bias_directions="aligned", seed=5)
    zbar = task.constants("uniform")["zeta_bar"]
    tr = simulate(task, WGA(step_size=0.5), steps=400, replicas=1, checkpoints=[400])
    assert tr.mean("grad_norm_sq")[-1] == pytest.approx(zbar ** 2, rel=1e-10)




# --- presets and bad input ------------------------------------------------------------------

def test_preset_builds_family_C():
    p = dict(family="C", d=4, n_aux=2, zeta=0.3, sigma=0.5, delta=0.01, hess_delta=0.2,
             kappa=1.5, n_waves=2, x0_dist=2.0, task_seed=3, aggregate_noise=False)
    assert make_task(p) == BoundedNonconvex(d=4, n_aux=2, kappa=1.5, zeta=0.3, sigma=0.5,
                                            delta=0.2, n_waves=2, x0_dist=2.0, seed=3,
                                            aggregate_noise=False)
    with pytest.raises(ValueError, match="parameter 'd' is required"):
        make_task(dict(family="C", n_aux=2))


@pytest.mark.parametrize("kw, match", [
    (dict(kappa=-1.0), "kappa must be finite and in"),
    (dict(kappa=float("inf")), "kappa must be finite"),
    (dict(delta=-0.1), "delta must be finite and >= 0"),
    (dict(zeta=(0.1, 0.2, 0.3)), "zeta must be a scalar or a sequence of length 2"),
    (dict(sigma=-1.0), "sigma must be finite and >= 0"),
    (dict(n_waves=0), "n_waves must be >= 1"),
    (dict(n_waves=1.5), "n_waves must be an integer"),
    (dict(d=0), "d must be >= 1"),
    (dict(x0=(1.0, 2.0)), "x0 must be None or 4 finite floats"),
    (dict(x0_dist=-1.0), "x0_dist must be finite and in"),
    (dict(bias_directions="up"), "bias_directions must be one of"),
])
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        BoundedNonconvex(**{**dict(d=4, n_aux=2), **kw})
