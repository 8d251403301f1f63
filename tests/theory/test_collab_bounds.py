"""Symbolic checks of the derived bounds of theory.collab (collab spec section 4)."""

import numpy as np
import pytest
import sympy as sp

from theory import collab as th
from theory.bound import Bound


def test_every_bound_has_a_known_provenance_and_none_claims_the_paper():
    for b in th.BOUNDS.values():
        assert b.provenance in ("derived", "reconstructed")
        assert b.source.startswith("collab spec")


def test_optimal_step_size_gives_the_stated_rate():
    # WGA-NC at eta* = sqrt(2 F0 / (L T sigma_a2)) equals 2 sqrt(2 L F0 sigma_a2 / T) + zeta2
    sub = th.wga_nc.expr.subs(th.eta, th.eta_nc_opt)
    target = 2 * sp.sqrt(2 * th.L * th.F0 * th.sigma_a2 / th.T) + th.zeta2
    assert sp.simplify(sub - target) == 0
    # and eta* minimises the bound's T-dependent part
    d = sp.diff(th.wga_nc.expr, th.eta)
    assert sp.simplify(d.subs(th.eta, th.eta_nc_opt)) == 0


def test_rates():
    assert th.wga_nc.rate("T") == -1
    assert th.wga_nc_tuned.rate("T") == sp.Rational(-1, 2)
    assert th.lb_stat.rate("t") == -1


def test_both_optimal_weightings_reduce_to_uniform_at_zero_bias():
    # MSE-optimal alpha_0* at zeta = 0 is 1/(N+1)
    a0 = th.wga_opt_mse.expr.subs(th.zeta2, 0)
    assert sp.simplify(a0 - 1 / (th.N + 1)) == 0
    # bound-optimal: dB/dbeta vanishes at beta = N/(N+1) when zeta = 0
    B = th.wga_opt_objective.expr.subs(th.zeta2, 0)
    dB = sp.diff(B, th.beta).subs(th.beta, th.N / (th.N + 1))
    assert sp.simplify(dB) == 0


def test_wga_time_to_eps_scales_as_one_over_n_plus_one_without_bias():
    # WGA-LS (N) is WGA-LS with sigma_a2 = sigma2 / (N + 1): the two expressions must agree
    sub = th.wga_ls_time.expr.subs(th.sigma_a2, th.sigma2 / (th.N + 1))
    assert sp.simplify(sub - th.wga_ls_n.expr) == 0
    # in the noise-dominated regime (N + 1) T_eps is independent of N
    vals = dict(L=1.0, F0=1.0, sigma2=1.0, eps=1e-3, zeta2=0.0)
    t = np.array([float(th.wga_ls_n(**vals, N=n)) for n in (0, 1, 3, 7, 15)])
    np.testing.assert_allclose(t * np.array([1, 2, 4, 8, 16]), t[0], rtol=1e-12)
    # and not when the 8 L F0 / eps' term takes over (large N)
    big = float(th.wga_ls_n(**vals, N=10 ** 6)) * (10 ** 6 + 1)
    assert big > 10 * t[0]


def test_wga_quad_is_the_exact_moment_recursion():
    # the closed form per coordinate, summed, equals the moment recursion of simlab.collab.moments
    from simlab.collab import WGA
    from simlab.collab.claims_wga import wga_quad_terms
    from simlab.collab.moments import exact_metrics
    from simlab.tasks import SharedHessianQuadratics

    task = SharedHessianQuadratics(d=6, n_aux=3, eig=(0.2, 1.0), zeta=0.7, sigma=1.3, seed=4)
    w = (0.4, 0.3, 0.2, 0.1)
    eta, ts = 0.7, np.arange(0, 200, 7)
    terms, lam = wga_quad_terms(task, w, eta, ts)
    ex = exact_metrics(task, WGA(weights=w, step_size=eta), 200, ts)
    np.testing.assert_allclose(terms.sum(axis=0), ex[:, 2], rtol=1e-10)
    np.testing.assert_allclose((0.5 * lam * terms).sum(axis=0), ex[:, 1], rtol=1e-10)


def test_rates_of_the_claims_predictions():
    assert th.wga_var.rate("N") == -1
    assert th.sgd_pl_log.rate("T") == -1
    # AUX-CORR falls with rho; it is the bias estimate's variance sigma_f2 + sigma_h2 - 2 rho ...
    assert sp.diff(th.aux_corr.expr, th.rho).subs({th.sigma_f2: 1, th.sigma_h2: 1}) == -2
    assert float(th.aux_corr(sigma_f2=1.0, sigma_h2=1.0, rho=1.0)) == 0.0
    # BC-TIME's rate in N is -1 only without its N-independent part
    assert th.bc_time.expr.subs(th.B_, 0).diff(th.N) != 0
    assert sp.limit(th.bc_time.expr, th.N, sp.oo) == th.B_


def test_every_registered_claim_predicts_with_bounds_of_this_module():
    from simlab.claims import load_all

    used = {b.name for c in load_all().for_paper("collab") for b in c.bounds}
    assert used <= set(th.BOUNDS)
    assert {"WGA-QUAD", "WGA-FLOOR", "LB-stat (Cramer-Rao)", "BC-TIME"} <= used


def test_wga_pl_bias_term_equals_the_quadratic_floor():
    # the WGA-PL bias term zeta2/(2 mu) is attained by WGA-QUAD's stationary value at mu = lam
    floor = th.wga_quad_stationary.expr.subs(th.sigma_a2, 0)
    pl_bias = th.wga_pl.expr.subs({th.sigma_a2: 0, th.F0: 0})
    assert sp.simplify(floor - pl_bias.subs(th.mu, th.lam)) == 0


def test_bound_evaluation_solve_and_assumptions():
    vals = dict(eta=0.5, L=1.0, F0=1.0, sigma_a2=0.1, zeta2=0.01)
    assert float(th.wga_nc(T=100, **vals)) == pytest.approx(0.1)
    assert th.wga_nc.solve_for("T", 0.1, **vals) == pytest.approx(100)
    assert th.wga_nc.solve_for("T", 0.05, **vals) == np.inf  # below the floor
    assert th.wga_nc.check_assumptions(eta=2.0, L=1.0) == ["eta <= 1/L"]
    assert th.wga_nc.check_assumptions(eta=0.5, L=1.0) == []
    assert "zeta" in th.wga_nc.latex()
    with pytest.raises(TypeError, match="missing values"):
        th.wga_nc(T=1)
    with pytest.raises(ValueError, match="provenance"):
        Bound("x", th.T, "guessed", "nowhere")
