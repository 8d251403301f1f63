"""Bounds and predictions of the subsample spec (sections 2.6 and 3) as sympy expressions.

Provenance: the paper's theorems are UNVERIFIED (spec section 3: no theorem, lemma or
constant was available). Nothing here is tagged ``paper``:

* ``reconstructed``: the spec's reconstruction of what the paper plausibly states (T-approx,
  T-unbiased, T-conv are "UNVERIFIED" as the paper's);
* ``derived``: standard results or derivations written for this spec and for simlab (P1-P6),
  each with the gist of its derivation in ``source`` and a symbolic test
  (``tests/subsample/test_subsample_theory.py``).

Symbols: ``n`` window, ``k`` budget, ``neff = (sum l)^2 / sum l^2``, ``L`` smoothness, ``eta``
step, ``T`` steps, ``F0 = f(theta_0) - f*``, ``M`` the step's second-moment bound, ``a, b`` the
range of the record's multiplicative error ``l~_i / l_i``, ``C`` the stationary mean of the
step's total noise ``E tr Cov(d | theta)``.
"""

from __future__ import annotations

import sympy as sp

from theory.bound import Bound

n, k, neff = sp.symbols("n k neff", positive=True)
L, eta, T, F0, M = sp.symbols("L eta T F0 M", positive=True)
a, b, C = sp.symbols("a b C", positive=True)
V, G = sp.symbols("V G", real=True)

ht_unbiased = Bound(
    "HT-unbiased", G, "derived",
    "subsample spec 3, P1: E[sum_{i in S} v_i / p_i] = sum_i p_i v_i / p_i = sum_i v_i for any "
    "design with first-order inclusion probabilities p_i > 0 wherever v_i != 0 (linearity)",
    statement="E[L_hat] (and each coordinate of E[G_hat]) =", kind="prediction")

poisson_variance = Bound(
    "Poisson-variance", V, "derived",
    "subsample spec 3, P2: independent inclusions, Var(1{i in S}/p_i) = (1 - p_i)/p_i, so "
    "Var(L_hat) = sum l_i^2 (1/p_i - 1) and tr Cov(G_hat) = sum ||g_i||^2 (1/p_i - 1); V is "
    "that sum evaluated on the window",
    statement="Var(L_hat) (tr Cov(G_hat)) =", kind="prediction")

waterfill_optimal = Bound(
    "Water-filling-optimal", V, "derived",
    "subsample spec 2.2 and 3, P3: KKT of min sum l_i^2/p_i s.t. sum p_i = k, 0 < p_i <= 1 "
    "gives p_i = min(1, c l_i); the problem is strictly convex, so any solver's objective V "
    "is >= water-filling's",
    statement="objective of water-filling <= objective of any feasible p (SLSQP) =")

variance_ratio = Bound(
    "Variance-ratio", (neff - k) / (n - k), "derived",
    "subsample spec 2.6, P4: with p = k l / sum l (no capping), sum l^2 (1/p - 1) = "
    "(sum l)^2/k - sum l^2; uniform: sum l^2 (n/k - 1); the ratio is (neff - k)/(n - k) <= 1 "
    "by Cauchy-Schwarz (neff <= n)",
    assumptions=(sp.Le(k, neff),), statement="Var_LP / Var_U =", kind="prediction")

ghadimi_lan = Bound(
    "Ghadimi-Lan", 2 * F0 / (eta * T) + eta * L * M, "derived",
    "subsample spec 3, P5 (standard, Ghadimi and Lan 2013): descent lemma with E[d] = grad f, "
    "E||d||^2 <= M and eta <= 1/L: E f(theta_{t+1}) <= E f(theta_t) - eta E||grad f||^2 + "
    "L eta^2 M / 2; sum over t < T and divide by eta T / 2",
    assumptions=(sp.Le(eta, 1 / L),), statement="min_{t<T} E||grad f(theta_t)||^2 <=")

staleness_caveat = Bound(
    "Staleness-caveat", sp.Integer(1), "derived",
    "subsample spec 3, P6 and 6.3: a stale record decorrelates l~ from the current ||g_i||; "
    "p(l~) puts small p_i on instances whose gradient is large, and sum ||g_i||^2 / p_i can "
    "exceed uniform's; a floor p_i >= eps k / n bounds the loss (weight <= n / (eps k))",
    statement="Var(p(stale record)) / Var(uniform), some staleness, no floor: >")

kantorovich = Bound(
    "T-approx-Kantorovich", (a + b) ** 2 / (4 * a * b), "reconstructed",
    "subsample spec 3, T-approx (UNVERIFIED as the paper's; the form is this reconstruction's): "
    "the approximation is using the record l~ for the unknown l. With p ~ l~ and p* ~ l (no "
    "capping) the objective ratio is (sum l^2/l~)(sum l~)/(sum l)^2, and with a <= l~_i/l_i <= b "
    "the Kantorovich (Polya-Szego) inequality bounds it by (a + b)^2 / (4ab)",
    assumptions=(sp.Le(a, b),),
    statement="sum l_i^2 / p_i(l~)  /  sum l_i^2 / p*_i  <=")

t_unbiased = Bound(
    "T-unbiased", G, "reconstructed",
    "subsample spec 3, T-unbiased (UNVERIFIED as the paper's; true for the section 2 "
    "reconstruction): the training step sum_{i in S} g_i / (n p_i) has mean the window-mean "
    "gradient G given the window, whatever the record",
    statement="E[step direction | window] =", kind="prediction")

_stationary = eta * C / 4
t_conv_lower = Bound(
    "T-conv-lower", _stationary, "derived",
    "subsample spec 3, T-conv (UNVERIFIED as the paper's; this two-sided form is derived for "
    "simlab): quadratic f with Hessian H (L = max eig), unbiased steps with noise of mean "
    "covariance trace C: at stationarity Sigma = E[e e^T] solves eta (H Sigma + Sigma H) - "
    "eta^2 H Sigma H = eta^2 Cbar, so 2 tr(H Sigma) - eta tr(H^2 Sigma) = eta C; "
    "0 <= tr(H^2 Sigma) <= L tr(H Sigma) gives eta C / 4 <= E[f - f*] <= "
    "eta C / (4 (1 - eta L / 2))",
    assumptions=(sp.Lt(eta, 2 / L),), statement="stationary E[f(theta) - f*] >=")
t_conv_upper = Bound(
    "T-conv-upper", _stationary / (1 - eta * L / 2), "derived",
    t_conv_lower.source, assumptions=(sp.Lt(eta, 2 / L),),
    statement="stationary E[f(theta) - f*] <=")

#: The 6.4 criterion: water-filling's backward passes to uniform's final loss, over uniform's.
backward_fraction = Bound(
    "Backward-fraction", sp.Rational(7, 10), "reconstructed",
    "subsample spec 6.4 (this spec's pass criterion, not the paper's effect size: UNVERIFIED): "
    "at rho = 0.1 and moderate staleness water-filling reaches uniform's final test loss with "
    "<= 50-70% of the backward passes (the upper end)",
    statement="backward(WF to uniform's final loss) / backward(uniform) <=")

never_worse = Bound(
    "Never-worse", sp.Integer(0), "reconstructed",
    "subsample spec 6.4 (this spec's pass criterion): water-filling never does worse than "
    "uniform once eps >= 0.1; judged on the relative difference of the final excess test loss",
    statement="(excess(WF) - excess(uniform)) / excess(uniform) <=")

pilot_table = Bound(
    "Pilot-6.3", sp.Integer(1), "derived",
    "subsample spec 6.3 (a numpy pilot written for the spec, not the paper): variance ratio "
    "against uniform 0.12 (oracle), 0.19 (|p - y|), 0.21 (sqrt loss), 0.24 (fresh loss, "
    "eps 0.1), 0.31, 0.36, 1.79 / 0.84 (stale N(0, 0.1), N(0, 0.3), N(0, 1) with eps 0.1 / "
    "0.3): the benefit falls with staleness and turns into a loss near staleness 1",
    statement="ordering of the variance ratios; crossover where the ratio passes")

#: Spec 6.3's table (record -> variance ratio against uniform), for the side-by-side report.
PILOT = {"oracle": 0.12, "|p - y|": 0.19, "sqrt loss": 0.21, "loss, fresh": 0.24,
         "stale 0.1": 0.31, "stale 0.3": 0.36, "stale 1.0": 1.79, "stale 1.0, eps 0.3": 0.84}

BOUNDS = {x.name: x for x in (ht_unbiased, poisson_variance, waterfill_optimal, variance_ratio,
                              ghadimi_lan, staleness_caveat, kantorovich, t_unbiased,
                              t_conv_lower, t_conv_upper, backward_fraction, never_worse,
                              pilot_table)}
