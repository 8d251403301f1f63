"""The subsample Bounds: their derivations checked symbolically or exactly, and provenance."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy import linalg

from theory import subsample as th


def test_nothing_is_tagged_as_the_papers():
    assert {b.provenance for b in th.BOUNDS.values()} <= {"derived", "reconstructed"}
    for name in ("T-approx-Kantorovich", "T-unbiased", "Backward-fraction", "Never-worse"):
        assert th.BOUNDS[name].provenance == "reconstructed"
        assert "UNVERIFIED" in th.BOUNDS[name].source or "spec 6.4" in th.BOUNDS[name].source


def test_variance_ratio_is_the_closed_form_of_the_poisson_variances():
    """P4: with p = k l / sum l, sum l^2 (1/p - 1) / sum l^2 (n/k - 1) = (neff - k)/(n - k)."""
    n = 6
    k = sp.Symbol("k", positive=True)
    ls = sp.symbols(f"l0:{n}", positive=True)
    S, Q = sum(ls), sum(li ** 2 for li in ls)
    lp = sum(li ** 2 * (S / (k * li) - 1) for li in ls)
    un = sum(li ** 2 * (n / k - 1) for li in ls)
    ratio = th.variance_ratio.expr.subs({th.neff: S ** 2 / Q, th.n: n})
    assert sp.simplify(lp / un - ratio) == 0


@pytest.mark.parametrize("seed", range(5))
def test_kantorovich_bounds_the_objective_ratio(seed):
    rng = np.random.default_rng(seed)
    l = rng.lognormal(0, 1, 50)
    q = rng.uniform(0.3, 2.0, 50)  # the record's multiplicative error
    lt = q * l
    ratio = np.sum(l ** 2 / lt) * lt.sum() / l.sum() ** 2
    assert 1.0 <= ratio <= float(th.kantorovich(a=q.min(), b=q.max())) + 1e-12


def test_kantorovich_is_attained_by_a_two_point_record():
    """Half the mass at ratio a, half at b (equal l): the bound is tight."""
    a, b = 0.5, 2.0
    l = np.ones(2)
    lt = np.array([a, b])
    ratio = np.sum(l ** 2 / lt) * lt.sum() / l.sum() ** 2
    assert ratio == pytest.approx(float(th.kantorovich(a=a, b=b)))


def _stationary_excess(H: np.ndarray, C: np.ndarray, eta: float) -> float:
    """E[f - f*] of SGD e <- (I - eta H) e + eta xi at stationarity (discrete Lyapunov)."""
    A = np.eye(H.shape[0]) - eta * H
    Sigma = linalg.solve_discrete_lyapunov(A, eta ** 2 * C)
    return 0.5 * float(np.trace(H @ Sigma))


@pytest.mark.parametrize("seed", range(4))
def test_t_conv_band_contains_the_exact_stationary_excess(seed):
    rng = np.random.default_rng(seed)
    d = 5
    U = linalg.qr(rng.standard_normal((d, d)))[0]
    H = U @ np.diag(rng.uniform(0.2, 2.0, d)) @ U.T
    B = rng.standard_normal((d, d))
    C = B @ B.T
    L = float(np.linalg.eigvalsh(H).max())
    eta = 0.8 / L
    ex = _stationary_excess(H, C, eta)
    lo = float(th.t_conv_lower(eta=eta, C=np.trace(C)))
    hi = float(th.t_conv_upper(eta=eta, C=np.trace(C), L=L))
    assert lo <= ex <= hi


def test_t_conv_upper_end_is_exact_for_an_isotropic_hessian():
    H, C, eta = 1.7 * np.eye(4), np.diag([1.0, 2.0, 0.5, 3.0]), 0.3
    ex = _stationary_excess(H, C, eta)
    assert ex == pytest.approx(float(th.t_conv_upper(eta=eta, C=np.trace(C), L=1.7)),
                               rel=1e-12)


def test_ghadimi_lan_has_the_standard_form():
    b = th.ghadimi_lan
    assert sp.simplify(b.expr - (2 * th.F0 / (th.eta * th.T) + th.eta * th.L * th.M)) == 0
    assert b.check_assumptions(eta=0.5, L=1.0) == []
    assert b.check_assumptions(eta=2.0, L=1.0)
