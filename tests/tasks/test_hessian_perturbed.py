"""Families B and E (collab spec 8.1(B), 8.1(E)): constants, ops, noise law, exact moments."""

from dataclasses import replace

import numpy as np
import pytest
from _plain import (
    draw_grad,
    draw_split,
    grad_norm_sq0,
    init_point,
    metrics_row,
    zscore_var,
)

from simlab import simulate
from simlab.collab import BCEMA, WGA
from simlab.collab.moments import exact_metrics
from simlab.collab.presets import make_task
from simlab.engine import stats
from simlab.tasks import CorrelatedNoiseQuadratics, HessianPerturbedQuadratics
from simlab.tasks.hessian_perturbed import PD_FLOOR, sup_norm_on_ball

Z_NOISE = 4.5  # |z| limit of the noise-law checks (two-sided, about 7e-6 each)

SMALL_B = HessianPerturbedQuadratics(d=3, n_aux=2, eig=(0.3, 1.0), zeta=(0.4, 0.7),
                                     sigma=(1.0, 0.5, 2.0), delta=(0.1, 0.25), seed=1)
SMALL_E = CorrelatedNoiseQuadratics(d=3, n_aux=2, eig=(0.3, 1.0), zeta=(0.4, 0.7),
                                    sigma=(1.0, 0.5, 2.0), delta=(0.1, 0.25), rho=0.6, seed=1)


# --- constants ------------------------------------------------------------------------------

@pytest.mark.parametrize("signs", ["random", "alternating", "positive"])
def test_hessian_dissimilarity_is_exact(signs):
    task = HessianPerturbedQuadratics(d=6, n_aux=4, eig=(0.5, 2.0), delta=(0.0, 0.1, 0.3, 0.45),
                                      hessian_signs=signs, seed=2)
    H = task.hessians()
    assert np.allclose(H[0], np.diag(np.geomspace(0.5, 2.0, 6)), rtol=0, atol=0)
    for i, dl in enumerate(task.deltas, start=1):
        assert np.array_equal(H[i], H[i].T)
        assert abs(np.linalg.norm(H[i] - H[0], 2) - dl) < 1e-12
        assert np.linalg.eigvalsh(H[i])[0] >= PD_FLOOR * 0.5
    c = task.constants()
    assert np.allclose(c["delta_op"], task.deltas, rtol=0, atol=1e-12)
    assert c["L"] == 2.0 and c["mu"] == 0.5
    assert np.allclose(c["L_tasks"], np.linalg.eigvalsh(H)[:, -1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("directions", ["random", "aligned", "cancelling"])
def test_bias_at_optimum_F0_and_zeta_bar(directions):
    task = HessianPerturbedQuadratics(d=5, n_aux=4, eig=(0.2, 1.0), zeta=(0.3, 0.5, 0.3, 0.5),
                                      delta=0.1, bias_directions=directions, x0_dist=1.5, seed=4)
    X = task.optima()
    x0s = X[0]
    assert task.objective(x0s) == 0.0
    assert np.allclose(task.gradient(x0s), 0.0, atol=1e-15)
    bias = np.array([task.gradient(x0s, i) - task.gradient(x0s, 0) for i in range(1, 5)])
    c = task.constants((0.2, 0.2, 0.2, 0.2, 0.2))
    assert np.allclose(np.linalg.norm(bias, axis=1), c["zeta"], rtol=0, atol=1e-12)
    assert np.allclose(c["zeta"], [0.3, 0.5, 0.3, 0.5], rtol=0, atol=1e-12)
    zbar = np.linalg.norm(0.2 * bias.sum(axis=0))
    assert c["zeta_bar"] == pytest.approx(zbar, rel=1e-12, abs=1e-15)
    if directions == "aligned":
        assert c["zeta_bar"] == pytest.approx(0.2 * 1.6, rel=1e-12)
    x0 = init_point(task)
    assert np.array_equal(x0, np.zeros(5))
    assert np.linalg.norm(x0 - x0s) == pytest.approx(1.5, rel=1e-12)
    assert c["F0"] == pytest.approx(task.objective(x0), rel=1e-12)
    assert c["delta_alpha"] == pytest.approx(0.2 * 4 * 0.1, rel=1e-12)


def test_cancelling_pairs_cancel_at_the_optimum():
    task = HessianPerturbedQuadratics(d=4, n_aux=4, zeta=0.5, delta=0.05,
                                      bias_directions="cancelling", seed=0)
    c = task.constants("uniform")
    assert c["zeta_bar"] < 1e-15
    assert np.allclose(c["zeta"], 0.5, rtol=0, atol=1e-12)
    assert c["zeta_bar_ball"] > 0  # the Hessian perturbations still bias away from x_0*


def test_zeta_bar_ball_is_the_supremum_over_the_ball():
    rng = np.random.default_rng(0)
    task = HessianPerturbedQuadratics(d=3, n_aux=3, eig=(0.3, 1.0), zeta=(0.2, 0.5, 0.1),
                                      delta=(0.2, 0.05, 0.25), x0_dist=1.0, radius=1.7, seed=6)
    a = np.array([0.4, 0.1, 0.3, 0.2])
    c = task.constants(a)
    X = task.optima()

    def bias_norm(x):
        return np.linalg.norm(sum(a[i] * (task.gradient(x, i) - task.gradient(x, 0))
                                  for i in range(1, 4)))

    e = rng.standard_normal((20000, 3))
    e *= 1.7 / np.linalg.norm(e, axis=1, keepdims=True)
    sampled = max(bias_norm(X[0] + v) for v in e[:4000])
    assert sampled <= c["zeta_bar_ball"] * (1 + 1e-12)
    assert c["zeta_bar_ball"] <= c["zeta_bar_ball_triangle"] * (1 + 1e-12)
    assert sampled >= c["zeta_bar_ball"] * (1 - 1e-3)
    assert c["zeta_bar"] == pytest.approx(bias_norm(X[0]), rel=1e-12)
    # interior points never exceed it either
    inner = e[:2000] * rng.uniform(0, 1, (2000, 1))
    assert max(bias_norm(X[0] + v) for v in inner) <= c["zeta_bar_ball"] * (1 + 1e-12)


def test_sup_norm_on_ball_against_brute_force():
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    for trial in range(30):
        d = int(rng.integers(1, 5))
        D = rng.standard_normal((d, d))
        if trial % 3 == 0:  # repeated top singular values: the hard case
            Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            D = Q @ np.diag([2.0] * max(d - 1, 1) + [0.5] * (d > 1))[:d, :d] @ Q.T
        b = rng.standard_normal(d) * (trial % 4 != 0)
        R = float(rng.uniform(0.2, 3.0))
        sup = sup_norm_on_ball(D, b, R)

        def neg(t, D=D, b=b, R=R):
            return -np.linalg.norm(D @ (R * t / np.linalg.norm(t)) + b)

        brute = max(-minimize(neg, rng.standard_normal(d)).fun for _ in range(8))
        assert sup >= brute - 1e-9 * max(1.0, brute)
        assert sup <= brute + 1e-7 * max(1.0, brute)


def test_noise_constants_and_blocks():
    a = np.array([0.4, 0.35, 0.25])
    for task in (SMALL_B, SMALL_E):
        rho = task.noise_rho
        sg = task.sigmas
        H, X, x0, C = task.quadratic_blocks()
        d = task.d
        assert H.shape == (3, 1, d, d) and X.shape == (3, 1, d) and x0.shape == (1, d)
        assert C.shape == (3, 3, 1, d, d)
        eye = np.eye(d)
        assert np.array_equal(C[0, 0, 0], sg[0] ** 2 / d * eye)
        assert np.allclose(C[0, 2, 0], rho * sg[0] * sg[2] / d * eye, rtol=1e-15, atol=0)
        assert np.allclose(C[1, 2, 0], rho ** 2 * sg[1] * sg[2] / d * eye, rtol=1e-15, atol=0)
        assert np.allclose(C[2, 2, 0], sg[2] ** 2 / d * eye, rtol=1e-15, atol=0)
        c = task.constants(a)
        S = a[1:] @ sg[1:]
        Q = np.sum(a[1:] ** 2 * sg[1:] ** 2)
        assert c["sigma_alpha_sq"] == pytest.approx(
            (a[0] * sg[0] + rho * S) ** 2 + (1 - rho ** 2) * Q, rel=1e-12)
        assert c["sigma_b_sq"] == pytest.approx(
            ((1 - a[0]) * sg[0] - rho * S) ** 2 + (1 - rho ** 2) * Q, rel=1e-12)
        assert np.array_equal(c["sigma"], sg)


# --- ops against the numpy reference ------------------------------------------------------

@pytest.mark.parametrize("aggregate", [True, False])
def test_ops_match_reference_and_finite_differences(aggregate):
    task = replace(SMALL_E, sigma=0.0, aggregate_noise=aggregate)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(3)
    a = np.array([0.2, 0.5, 0.3])
    for i in range(3):
        g = draw_grad(task, i, x, 1)[0]
        assert np.allclose(g, task.gradient(x, i), rtol=1e-13, atol=1e-14)
        h = 1e-6
        fd = np.array([(task.objective(x + h * e, i) - task.objective(x - h * e, i)) / (2 * h)
                       for e in np.eye(3)])
        assert np.allclose(fd, task.gradient(x, i), rtol=1e-7, atol=1e-8)
    g0, aux = draw_split(task, a, x, 1)
    assert np.allclose(g0[0], task.gradient(x, 0), rtol=1e-13, atol=1e-14)
    assert np.allclose(aux[0], sum(a[i] * task.gradient(x, i) for i in (1, 2)),
                       rtol=1e-12, atol=1e-14)
    g0x = task.gradient(x, 0)
    row = metrics_row(task, x)
    assert np.allclose(row, [g0x @ g0x, task.objective(x), np.sum((x - task.optima()[0]) ** 2)],
                       rtol=1e-13, atol=0)
    assert grad_norm_sq0(task, x) == pytest.approx(g0x @ g0x, rel=1e-13)


def test_split_g0_is_sample_grad_0_path_by_path():
    # what makes BC(a=1, coupled) == SGD alone path by path (P13)
    for task in (SMALL_B, SMALL_E, replace(SMALL_E, aggregate_noise=False)):
        x = np.array([0.3, -1.0, 2.0])
        g0, _ = draw_split(task, (0.2, 0.5, 0.3), x, 5, seed=11)
        assert np.array_equal(g0, draw_grad(task, 0, x, 5, seed=11))


# --- noise law -------------------------------------------------------------------------------

@pytest.mark.parametrize("aggregate", [True, False])
def test_noise_correlation_family_E(aggregate):
    task = replace(SMALL_E, aggregate_noise=aggregate)
    rho, sg, d = task.rho, task.sigmas, task.d
    x = np.array([0.5, -0.2, 1.0])
    n = 3000
    # aux = g_1 alone: corr(xi_0, xi_1) = rho coordinate-wise
    g0, aux = draw_split(task, (0.0, 1.0, 0.0), x, n, seed=31)
    n0 = (g0 - task.gradient(x, 0)).ravel()
    n1 = (aux - task.gradient(x, 1)).ravel()
    r = np.corrcoef(n0, n1)[0, 1]
    se = (1 - rho ** 2) / np.sqrt(n0.size)
    assert abs(r - rho) < Z_NOISE * se, (r, rho)
    assert abs(np.mean(n1 ** 2) / (sg[1] ** 2 / d) - 1) < Z_NOISE * np.sqrt(2 / n1.size)
    # aux = (g_1 + g_2)/2: Var = (s1^2 + s2^2 + 2 rho^2 s1 s2) / (4 d) (auxiliaries correlate by
    # rho^2) and Cov(xi_0, aux) = rho s0 (s1 + s2) / (2 d)
    g0, aux = draw_split(task, (0.0, 0.5, 0.5), x, n, seed=32)
    na = aux - 0.5 * (task.gradient(x, 1) + task.gradient(x, 2))
    n0 = g0 - task.gradient(x, 0)
    var = (sg[1] ** 2 + sg[2] ** 2 + 2 * rho ** 2 * sg[1] * sg[2]) / (4 * d)
    assert np.all(np.abs(zscore_var(na, var)) < Z_NOISE)
    cov = rho * sg[0] * (sg[1] + sg[2]) / (2 * d)
    prod = (n0 * na).ravel()
    assert abs((prod.mean() - cov) / (prod.std() / np.sqrt(prod.size))) < Z_NOISE


# --- Monte Carlo against the exact moment recursion (spec 8.2) ------------------------------

DELTA = 0.01       # false-failure budget of each agreement test
MAX_REL_SE = 0.02  # the Monte Carlo must be this sharp for the test to mean anything
METRICS = ("grad_norm_sq", "subopt", "dist_sq")
MC_B = HessianPerturbedQuadratics(d=6, n_aux=3, eig=(0.2, 1.0), zeta=0.6, delta=0.15,
                                  sigma=1.0, seed=3)
MC_E = CorrelatedNoiseQuadratics(d=6, n_aux=3, eig=(0.2, 1.0), zeta=0.6, delta=0.15, sigma=1.0,
                                 rho=0.8, seed=3)
MC_TASKS = {"B": MC_B, "E": MC_E, "E-unaggregated": replace(MC_E, aggregate_noise=False)}
MC_METHODS = {"WGA": WGA(weights=(0.4, 0.2, 0.2, 0.2), step_size=0.6),
              "BC-EMA": BCEMA(step_size=0.6, momentum=0.1)}


def _agreements(task, sim_method, exact_method, replicas=4000, steps=200, seed=5,
                exact_task=None):
    tr = simulate(task, sim_method, steps=steps, replicas=replicas, seed=seed)
    exact = exact_metrics(exact_task or task, exact_method, steps, tr.checkpoints)
    z = stats.z_value(DELTA, len(tr.checkpoints) * len(METRICS), two_sided=True)
    return [stats.agreement(tr.mean(m), tr.se(m), exact[:, tr.metrics.index(m)], z,
                            max_rel_se=MAX_REL_SE) for m in METRICS]


@pytest.mark.parametrize("method", list(MC_METHODS), ids=str)
def test_same_test_rejects_step_size_off_by_ten_percent(method):
    m = MC_METHODS[method]
    wrong = replace(m, step_size=m.step_size * 1.1)
    verdicts = [c.verdict for c in _agreements(MC_E, wrong, m)]
    assert stats.VIOLATED in verdicts


def test_same_test_rejects_ignoring_the_correlation():
    # BC-EMA's bias estimate g_0 - G is much less noisy when rho = 0.8: the exact law of the
    # same instance without correlation (family B) must be rejected
    m = MC_METHODS["BC-EMA"]
    verdicts = [c.verdict for c in _agreements(MC_E, m, m, exact_task=MC_B)]
    assert stats.VIOLATED in verdicts


# --- every method on both CPU backends ----------------------------------------------------



def test_family_E_with_rho_0_is_family_B_path_by_path():
    kw = dict(d=3, n_aux=2, zeta=0.3, delta=0.1, sigma=0.7, seed=2)
    for agg in (True, False):
        b = HessianPerturbedQuadratics(**kw, aggregate_noise=agg)
        e = CorrelatedNoiseQuadratics(**kw, aggregate_noise=agg, rho=0.0)
        m = BCEMA(step_size=0.3, momentum=0.2)
        assert np.array_equal(simulate(b, m, steps=30, replicas=4).values,
                              simulate(e, m, steps=30, replicas=4).values, equal_nan=True)


# --- presets and bad input ------------------------------------------------------------------

def test_presets_build_families_B_and_E():
    p = dict(family="B", d=4, n_aux=2, mu=0.2, L=2.0, zeta=0.3, sigma=0.5, delta=0.01,
             hess_delta=0.1, task_seed=3, radius=5.0)
    b = make_task(p)
    assert b == HessianPerturbedQuadratics(d=4, n_aux=2, eig=(0.2, 2.0), zeta=0.3, sigma=0.5,
                                           delta=0.1, radius=5.0, seed=3)
    e = make_task({**p, "family": "E", "rho": 0.3})
    assert isinstance(e, CorrelatedNoiseQuadratics) and e.rho == 0.3 and e.delta == 0.1
    assert make_task({**p, "hess_delta": 0.0}).delta == 0.0
    q = dict(p)
    del q["hess_delta"]
    assert make_task(q).delta == 0.01


@pytest.mark.parametrize("kw, match", [
    (dict(delta=0.5), r"delta\[\d\] = 0.5 makes A_\d .*not positive definite.*floor"),
    (dict(delta=-0.1), "delta must be finite and >= 0"),
    (dict(delta=(0.1,)), "delta must be a scalar or a sequence of length 2"),
    (dict(zeta=-1.0), "zeta must be finite and >= 0"),
    (dict(sigma=(1.0, 1.0)), "sigma must be a scalar or a sequence of length 3"),
    (dict(eig=(0.0, 1.0)), r"mu = eig\[0\] must be > 0"),
    (dict(eig=(2.0, 1.0)), "mu must be <= L"),
    (dict(d=0), "d must be >= 1"),
    (dict(n_aux=-1), r"n_aux \(N\) must be >= 0"),
    (dict(hessian_signs="up"), "hessian_signs must be one of"),
    (dict(bias_directions="up"), "bias_directions must be one of"),
    (dict(radius=-1.0), "radius must be finite and in"),
    (dict(x0_dist=float("nan")), "x0_dist must be finite"),
    (dict(rho=1.5), r"rho must be finite and in \[0, 1\]"),
    (dict(rho=-0.1), r"rho must be finite and in \[0, 1\]"),
])
def test_bad_input(kw, match):
    base = dict(d=4, n_aux=2, eig=(0.1, 1.0), seed=0)
    with pytest.raises(ValueError, match=match):
        CorrelatedNoiseQuadratics(**{**base, **kw})
    if "rho" not in kw:
        with pytest.raises(ValueError, match=match):
            HessianPerturbedQuadratics(**{**base, **kw})


def test_large_delta_is_fine_with_positive_signs():
    task = HessianPerturbedQuadratics(d=4, n_aux=2, eig=(0.1, 1.0), delta=3.0,
                                      hessian_signs="positive")
    assert np.allclose(task.constants()["mu_tasks"][1:], 3.1)
