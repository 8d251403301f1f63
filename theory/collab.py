"""Bounds of the collab spec (section 4) as sympy expressions.

Provenance: the paper's full text was not available (spec section 0). Every explicit bound here
is **derived** for simlab ([D] in the spec): sound for the algorithms as written in
:mod:`simlab.collab.methods`, not quoted from the paper. BC-NC is a **scaling** with unknown
constants ([D-heuristic]). Nothing here is tagged ``paper``.

Symbols: ``T`` steps, ``eta`` step size, ``L`` smoothness, ``mu`` PL/strong-convexity constant,
``F0 = f_0(x_0) - f_0*``, ``sigma_a2 = sum alpha_i^2 sigma_i^2``, ``zeta2`` the squared aggregate
bias ``zeta_bar_alpha^2``, ``N`` auxiliary tasks, ``eps`` target accuracy.
"""

from __future__ import annotations

import sympy as sp

from theory.bound import Bound

T, eta, L, mu, F0 = sp.symbols("T eta L mu F0", positive=True)
sigma2, sigma_a2, zeta2 = sp.symbols("sigma2 sigma_a2 zeta2", nonnegative=True)
N = sp.Symbol("N", nonnegative=True, integer=True)
eps, lam, a, delta, beta = sp.symbols("eps lam a delta beta", positive=True)
t = sp.Symbol("t", positive=True)
trinv = sp.Symbol("trinv", positive=True)  # tr(Sigma_0 A^{-1})

wga_nc = Bound(
    "WGA-NC", 2 * F0 / (eta * T) + L * eta * sigma_a2 + zeta2, "derived",
    "collab spec 4.1 [D]: descent lemma on f_0 with E[d|x] = grad f_0 + b_alpha, "
    "E||d - Ed||^2 <= sigma_a2 and L eta <= 1; -<g, g+b> + ||g+b||^2/2 = (||b||^2 - ||g||^2)/2; "
    "sum over t",
    assumptions=(sp.Le(eta, 1 / L),),
    statement="(1/T) sum_{t<T} E||grad f_0(x_t)||^2 <=",
)

eta_nc_opt = sp.sqrt(2 * F0 / (L * T * sigma_a2))
wga_nc_tuned = Bound(
    "WGA-NC (tuned eta)", 2 * sp.sqrt(2 * L * F0 * sigma_a2 / T) + 4 * L * F0 / T + zeta2,
    "derived", "collab spec 4.1 [D]: WGA-NC with eta = min{1/L, sqrt(2 F0 / (L T sigma_a2))}",
    statement="(1/T) sum_{t<T} E||grad f_0(x_t)||^2 <=",
)

wga_pl = Bound(
    "WGA-PL", (1 - mu * eta) ** T * F0 + zeta2 / (2 * mu) + L * eta * sigma_a2 / (2 * mu),
    "derived", "collab spec 4.2 [D]: PL inequality in the descent step, unrolled",
    assumptions=(sp.Le(eta, 1 / L),),
    statement="E[f_0(x_T) - f_0*] <=",
)

eps_prime = eps - zeta2
wga_ls_time = Bound(
    "WGA-LS", sp.Max(32 * L * F0 * sigma_a2 / eps_prime ** 2, 8 * L * F0 / eps_prime),
    "derived", "collab spec 4.3 [D]: solve the tuned WGA-NC bound for T at eps' = eps - zeta2",
    assumptions=(sp.Gt(eps, zeta2),),
    statement="T_eps <=", kind="bound",
)

#: sigma_alpha^2 of uniform weights with equal noise
sigma_uniform = sigma2 / (N + 1)

wga_opt_mse = Bound(
    "WGA-OPT (MSE)", (sigma2 / N + zeta2) / (sigma2 + sigma2 / N + zeta2), "derived",
    "collab spec 4.4 [D]: minimise (1-beta)^2 sigma^2 + beta^2 (sigma^2/N + zeta^2) over beta",
    statement="alpha_0* =", kind="prediction",
)

s_sym = sp.Symbol("s", positive=True)
h_beta = sp.sqrt((1 - beta) ** 2 + beta ** 2 / N)
wga_opt_objective = Bound(
    "WGA-OPT (bound)", 2 * sp.sqrt(2 * L * F0 * sigma2 * h_beta ** 2 / T) + beta ** 2 * zeta2,
    "derived", "collab spec 4.4 [D]: tuned WGA-NC with alpha_0 = 1 - beta, alpha_i = beta/N, "
    "aligned biases; its argmin beta* -> 0 as T grows",
    statement="B(beta) =", kind="prediction",
)

wga_quad_stationary = Bound(
    "WGA-QUAD (stationary)", zeta2 / (2 * lam) + eta * sigma_a2 / (2 * (2 - eta * lam)),
    "derived", "collab spec 4.5 [D]: isotropic shared Hessian lam I; stationary mean and "
    "covariance of the linear recursion",
    assumptions=(sp.Lt(eta * lam, 2),),
    statement="lim_t E[f_0(x_t) - f_0*] =", kind="prediction",
)

lb_wga = Bound(
    "LB-WGA", zeta2 / (2 * L), "derived",
    "collab spec 4.9 [D]: WGA-QUAD with aligned biases; the fixed point is biased by zeta_bar",
    statement="liminf_T E[f_0(x_T) - f_0*] >=",
)

lb_stat = Bound(
    "LB-stat (Cramer-Rao)", trinv / (2 * t), "derived",
    "collab spec 4.9 [D]: shared Hessian, unknown collaborator optima, Gaussian noise; "
    "van Trees / Cramer-Rao for equivariant estimators: tr(Sigma_0 A^{-1}) / (2 t)",
    statement="E[f_0(x_t) - f_0*] >= (asymptotically)",
)

sigma_b2, sigma_d2, E0 = sp.symbols("sigma_b2 sigma_d2 E0", nonnegative=True)
bc_nc = Bound(
    "BC-NC", F0 / (eta * T) + L * eta * sigma_d2 + E0 / (a * T) + a * sigma_b2
    + (delta * eta / a) ** 2 * sigma_d2,
    "derived",
    "collab spec 4.6 [D-heuristic]: up to constants; no zeta floor, zeta enters only through "
    "the initial error E0 <= zeta_bar^2, forgotten at rate a",
    assumptions=(sp.Le(eta, 1 / L),),
    statement="(1/T) sum E||grad f_0||^2 <~ (shape only)", kind="scaling",
)

BOUNDS = {b.name: b for b in (wga_nc, wga_nc_tuned, wga_pl, wga_ls_time, wga_opt_mse,
                              wga_opt_objective, wga_quad_stationary, lb_wga, lb_stat, bc_nc)}


def wga_isotropic_dist(x0_minus_xbar_sq, xbar_minus_x0star_sq, cross, lam_, eta_, sigma_a2_,
                       t_):
    """Closed form of ``E||x_t - x_0*||^2`` for WGA on an isotropic shared Hessian (spec 4.5).

    ``||(1-eta lam)^t (x_0 - xbar) + (xbar - x_0*)||^2 + eta sigma_a2 / (lam (2 - eta lam))
    (1 - (1 - eta lam)^{2t})``, where ``cross = <x_0 - xbar, xbar - x_0*>``. [D]
    """
    r = (1 - eta_ * lam_) ** t_
    mean_part = r ** 2 * x0_minus_xbar_sq + 2 * r * cross + xbar_minus_x0star_sq
    return mean_part + eta_ * sigma_a2_ / (lam_ * (2 - eta_ * lam_)) * (1 - r ** 2)
