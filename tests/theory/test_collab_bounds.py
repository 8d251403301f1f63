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
    # noise-dominated regime: T_eps = 32 L F0 sigma^2 / ((N+1) eps^2)
    Teps = 32 * th.L * th.F0 * th.sigma_uniform / th.eps ** 2
    assert sp.simplify(Teps * (th.N + 1)).free_symbols.isdisjoint({th.N})
    vals = dict(L=1.0, F0=1.0, sigma2=1.0, eps=1e-3, zeta2=0.0)
    t = [float(th.wga_ls_time(**vals, sigma_a2=1.0 / (n + 1))) for n in (0, 1, 3, 7, 15)]
    np.testing.assert_allclose(np.array(t) * np.array([1, 2, 4, 8, 16]), t[0], rtol=1e-12)


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
