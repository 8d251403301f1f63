"""Family C of the collab spec (section 8.1): bounded non-convex tasks with independent knobs.

[spec 8.1(C), a recommendation of the spec, not the paper's own experiment]

``f_0(x) = sum_j psi(x_j - c_j)`` with ``psi(u) = u^2/2 + kappa (1 - cos u)``, so
``psi'' = 1 + kappa cos u`` and ``f_0`` is ``L = 1 + kappa`` smooth, non-convex for
``kappa > 1``, with ``f_0* = 0`` at ``x = c`` (``psi >= 0``, ``psi(0) = 0``).

``f_i(x) = f_0(x) + <v_i, x> + delta_i phi_i(x)`` for ``i >= 1``, with
``phi_i(x) = (1/K) sum_{k=1}^K cos(w_k^T x + theta_k)``, unit ``w_k`` and uniform ``theta_k``
drawn per task. Then ``||grad^2 f_i - grad^2 f_0||_op <= delta_i`` (A4),
``||grad f_i - grad f_0|| <= ||v_i|| + delta_i`` for every ``x`` (A3), and ``delta_i = 0``
gives a pure constant gradient shift ``zeta_i = ||v_i||``; the directions of the ``v_i``
follow family A (:func:`~simlab.tasks.shared_hessian.bias_units`).

Noise: additive Gaussian ``(sigma_i / sqrt(d)) z``, independent across tasks and steps
(``E||xi_i||^2 = sigma_i^2``). Aggregated noise (``aggregate_noise=True``) draws
``sum_{i>=1} alpha_i xi_i`` as one Gaussian of the summed variance, exact in distribution as
in family A. The tasks are not quadratic, so there is no exact moment recursion.

PL constant [D, derived for simlab]: ``f_0`` is separable, so its PL constant is that of
``psi``, ``mu = inf_u psi'(u)^2 / (2 psi(u))``. ``psi'(u) = u + kappa sin u`` vanishes only at
``u = 0`` iff ``kappa < KAPPA_STAR = -u*/sin(u*) = 4.6033...`` (``u*`` the first positive root
of ``tan u = u``), and then ``mu > 0``: ``f_0`` is PL though not convex for
``1 < kappa < KAPPA_STAR``. For ``kappa >= KAPPA_STAR``, ``psi`` has other stationary points and
``f_0`` is not PL (``mu = nan``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simlab.collab.interface import CollabFamily, family_ops
from simlab.collab.weights import resolve_weights
from simlab.engine.rng import normal
from simlab.tasks._validate import check_float, check_int, per_task
from simlab.tasks.shared_hessian import BIAS_DIRECTIONS, bias_units


def _kappa_star() -> float:
    from scipy.optimize import brentq

    u = brentq(lambda u: math.tan(u) - u, math.pi + 1e-9, 1.5 * math.pi - 1e-9, xtol=1e-15)
    return -u / math.sin(u)


#: Above this ``kappa``, ``psi'(u) = u + kappa sin u`` has roots ``u != 0`` (f_0 is not PL).
KAPPA_STAR = _kappa_star()


def psi(u, kappa: float) -> np.ndarray:
    """``u^2/2 + kappa (1 - cos u)`` as ``u^2/2 + 2 kappa sin^2(u/2)`` (no cancellation)."""
    u = np.asarray(u, dtype=np.float64)
    return 0.5 * u * u + 2.0 * kappa * np.sin(0.5 * u) ** 2


def pl_constant(kappa: float) -> float:
    """The PL constant ``inf_u psi'(u)^2 / (2 psi(u))`` of ``psi`` (``nan`` if not PL).

    Computed on a grid of step ``1e-3`` over ``(0, 200]`` and refined by bounded scalar
    minimization (relative accuracy about ``1e-12``); the ratio tends to ``1 + kappa`` at 0 and to
    1 at infinity, with dips of size ``O(kappa / u)`` at ``u ~ 3 pi / 2 + 2 pi k``.

    Parameters
    ----------
    kappa : float
        ``kappa >= 0``.

    Returns
    -------
    float
        ``mu > 0`` for ``kappa < KAPPA_STAR``, else ``nan``. [D]
    """
    if kappa == 0.0:
        return 1.0
    if kappa >= KAPPA_STAR:
        return float("nan")
    from scipy.optimize import minimize_scalar

    def ratio(u):
        return (u + kappa * np.sin(u)) ** 2 / (2.0 * psi(u, kappa))

    u = np.arange(1, 200001) * 1e-3
    r = ratio(u)
    j = int(np.argmin(r))
    best = min(float(r[j]), 1.0)
    res = minimize_scalar(ratio, bounds=(max(u[j] - 2e-3, 1e-6), u[j] + 2e-3), method="bounded",
                          options=dict(xatol=1e-12))
    return float(min(best, res.fun))


@dataclass(frozen=True)
class BoundedNonconvex(CollabFamily):
    """Family C (spec 8.1(C)): separable non-convex ``f_0``, shifts ``v_i``, cosine perturbations.

    Parameters
    ----------
    d : int
        Dimension, ``>= 1``.
    n_aux : int
        Number ``N >= 0`` of auxiliary tasks.
    kappa : float
        Non-convexity ``kappa >= 0`` of ``psi(u) = u^2/2 + kappa (1 - cos u)``; ``L = 1 + kappa``.
    zeta : float or sequence of N floats
        ``||v_i|| = zeta_i >= 0``, the constant part of the bias.
    sigma : float or sequence of N+1 floats
        Noise levels ``sigma_i >= 0``.
    delta : float or sequence of N floats
        Amplitudes ``delta_i >= 0`` of the perturbations ``delta_i phi_i`` (Hessian
        dissimilarity bound).
    bias_directions : {"random", "aligned", "cancelling"}
        Directions of the ``v_i`` (see :func:`~simlab.tasks.shared_hessian.bias_units`).
    n_waves : int
        Number ``K >= 1`` of cosines in each ``phi_i``.
    x0_dist : float
        ``||x_0 - c||``: ``x_0 = c + x0_dist u`` for a random unit ``u``.
    x0 : sequence of d floats, optional
        An explicit starting point (overrides ``x0_dist``).
    seed : int
        Seed of the instance (``c``, directions, waves); independent of the simulation seed.
    aggregate_noise : bool
        Draw the auxiliary noise as one Gaussian of the summed variance (exact in law).
    """

    d: int = 10
    n_aux: int = 3
    kappa: float = 2.0
    zeta: float | tuple = 0.1
    sigma: float | tuple = 1.0
    delta: float | tuple = 0.0
    bias_directions: str = "random"
    n_waves: int = 4
    x0_dist: float = 1.0
    x0: tuple | None = None
    seed: int = 0
    aggregate_noise: bool = True
    family = "C"

    def __post_init__(self):
        d = check_int("d", self.d, 1)
        n = check_int("n_aux (N)", self.n_aux, 0)
        check_float("kappa", self.kappa, 0.0)
        per_task("zeta", self.zeta, n)
        per_task("sigma", self.sigma, n + 1)
        per_task("delta", self.delta, n)
        check_int("n_waves", self.n_waves, 1)
        check_float("x0_dist", self.x0_dist, 0.0)
        check_int("seed", self.seed, 0)
        if self.bias_directions not in BIAS_DIRECTIONS:
            raise ValueError(f"bias_directions must be one of {BIAS_DIRECTIONS}, got "
                             f"{self.bias_directions!r}")
        if self.x0 is not None:
            x0 = np.asarray(self.x0, dtype=np.float64).ravel()
            if x0.shape != (d,) or not np.all(np.isfinite(x0)):
                raise ValueError(f"x0 must be None or {d} finite floats, got {self.x0!r}")

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks (both ways of drawing the noise)."""
        c = cls(d=3, n_aux=2, zeta=0.3, delta=0.1, seed=3)
        return [c, replace(c, aggregate_noise=False)]

    # -- instance -------------------------------------------------------------------------
    @property
    def prep_size(self) -> int:
        """``d + 2``: the weighted shift, the weight sum and the aggregated noise scale."""
        return self.d + 2

    @property
    def sigmas(self) -> np.ndarray:
        """``sigma_i`` for i = 0..N."""
        return per_task("sigma", self.sigma, self.n_aux + 1)

    @property
    def zetas(self) -> np.ndarray:
        """``zeta_i = ||v_i||`` for i = 1..N."""
        return per_task("zeta", self.zeta, self.n_aux)

    @property
    def deltas(self) -> np.ndarray:
        """``delta_i`` for i = 1..N."""
        return per_task("delta", self.delta, self.n_aux)

    def instance(self) -> dict:
        """``c``, ``V`` (rows ``v_0 = 0, v_1..v_N``), ``W`` ``(N+1, K, d)``, ``theta``
        ``(N+1, K)`` (task 0's unused) and ``x0`` (computed once)."""
        cached = self.__dict__.get("_instance")
        if cached is not None:
            return cached
        d, n, K = self.d, self.n_aux, self.n_waves
        rng = np.random.default_rng([int(self.seed), 0xC])
        c = rng.standard_normal(d)
        u = rng.standard_normal(d)
        x0 = c + self.x0_dist * u / np.linalg.norm(u)
        if self.x0 is not None:
            x0 = np.asarray(self.x0, dtype=np.float64).ravel().copy()
        V = np.zeros((n + 1, d))
        V[1:] = self.zetas[:, None] * bias_units(self.bias_directions, n, d, rng)
        W = np.zeros((n + 1, K, d))
        theta = np.zeros((n + 1, K))
        for i in range(1, n + 1):
            w = rng.standard_normal((K, d))
            W[i] = w / np.linalg.norm(w, axis=1, keepdims=True)
            theta[i] = rng.uniform(0.0, 2.0 * math.pi, K)
        cached = dict(c=c, V=V, W=W, theta=theta, x0=x0)
        object.__setattr__(self, "_instance", cached)
        return cached

    def _delta_all(self) -> np.ndarray:
        return np.concatenate([[0.0], self.deltas])

    def objective(self, x, i: int = 0) -> float:
        """``f_i(x)`` (numpy reference)."""
        inst = self.instance()
        x = np.asarray(x, dtype=np.float64)
        f = float(np.sum(psi(x - inst["c"], self.kappa)))
        if i > 0:
            phi = np.mean(np.cos(inst["W"][i] @ x + inst["theta"][i]))
            f += float(inst["V"][i] @ x + self._delta_all()[i] * phi)
        return f

    def gradient(self, x, i: int = 0) -> np.ndarray:
        """``grad f_i(x)`` (numpy reference)."""
        inst = self.instance()
        x = np.asarray(x, dtype=np.float64)
        u = x - inst["c"]
        g = u + self.kappa * np.sin(u)
        if i > 0:
            s = np.sin(inst["W"][i] @ x + inst["theta"][i])
            g = g + inst["V"][i] - self._delta_all()[i] * (s @ inst["W"][i]) / self.n_waves
        return g

    def _pack(self):
        d, n, K = self.d, self.n_aux, self.n_waves
        inst = self.instance()
        parts = [inst["c"], inst["V"].ravel(), self._delta_all(), inst["W"].ravel(),
                 inst["theta"].ravel(), self.sigmas, inst["x0"], [float(self.kappa)]]
        offs = np.cumsum([0] + [len(p) for p in parts])
        tdata = np.concatenate(parts)
        tmeta = np.array([d, n, d + 2, int(bool(self.aggregate_noise)), K, *offs[1:8]],
                         dtype=np.int64)
        return tdata, tmeta

    def constants(self, weights=None) -> dict:
        """Constants of the instance.

        Keys: ``L = 1 + kappa`` (exact smoothness of ``f_0``), ``L_tasks`` (``1 + kappa +
        delta_i``, bounds), ``mu`` (PL constant of ``f_0``, see :func:`pl_constant`; ``nan`` when
        ``kappa >= KAPPA_STAR``: not PL), ``mu_strong`` (``1 - kappa`` when ``kappa < 1``, else
        ``nan``: not strongly convex), ``convex`` (``kappa <= 1``), ``mu_note``, ``d``, ``N``,
        ``sigma``, ``zeta`` (``||v_i||``), ``zeta_sup`` (``||v_i|| + delta_i``, a bound on
        ``sup_x ||grad f_i - grad f_0||``), ``delta``, ``F0 = f_0(x_0)`` (exact), ``f0_star = 0``,
        ``x0_dist_sq = ||x_0 - c||^2``. With ``weights``: ``zeta_bar`` (``||sum alpha_i v_i||``,
        exact when every ``alpha_i delta_i = 0``; otherwise the bound ``zeta_bar_bound = ||sum
        alpha_i v_i|| + sum alpha_i delta_i``), ``zeta_bar_exact``, ``zeta_bar_bound``,
        ``delta_alpha``, ``sigma_alpha_sq = sum alpha_i^2 sigma_i^2`` and ``sigma_b_sq =
        (1 - alpha_0)^2 sigma_0^2 + sum_{i>=1} alpha_i^2 sigma_i^2``.
        """
        kappa = float(self.kappa)
        inst = self.instance()
        mu = pl_constant(kappa)
        if np.isnan(mu):
            note = (f"kappa = {kappa:g} >= KAPPA_STAR = {KAPPA_STAR:.6f}: psi has stationary "
                    "points other than 0, so f_0 is not PL (mu = nan)")
        elif kappa > 1.0:
            note = (f"kappa = {kappa:g} > 1: f_0 is not convex, but PL with mu = {mu:.6g} "
                    f"(kappa < KAPPA_STAR = {KAPPA_STAR:.6f})")
        else:
            note = f"kappa = {kappa:g} <= 1: f_0 is convex; mu is its PL constant"
        e0 = inst["x0"] - inst["c"]
        zeta = np.linalg.norm(inst["V"][1:], axis=1)
        out = dict(L=1.0 + kappa, L_tasks=1.0 + kappa + self._delta_all(), mu=mu,
                   mu_strong=1.0 - kappa if kappa < 1.0 else float("nan"), convex=kappa <= 1.0,
                   mu_note=note, d=self.d, N=self.n_aux, kappa=kappa, sigma=self.sigmas.copy(),
                   zeta=zeta, zeta_sup=zeta + self.deltas,
                   delta=self.deltas.copy(), F0=float(np.sum(psi(e0, kappa))), f0_star=0.0,
                   x0_dist_sq=float(e0 @ e0))
        if weights is not None:
            a = resolve_weights(weights, self.n_aux + 1)
            vbar = float(np.linalg.norm(a @ inst["V"]))
            bound = vbar + float(a[1:] @ self.deltas)
            exact = bool(np.all(a[1:] * self.deltas == 0.0))
            sg = self.sigmas
            out.update(zeta_bar=vbar if exact else bound, zeta_bar_exact=exact,
                       zeta_bar_bound=bound, delta_alpha=float(a[1:] @ self.deltas),
                       sigma_alpha_sq=float(np.sum(a ** 2 * sg ** 2)),
                       sigma_b_sq=float((1 - a[0]) ** 2 * sg[0] ** 2
                                        + np.sum(a[1:] ** 2 * sg[1:] ** 2)),
                       weights=a)
        return out


# -- ops (plain Python; composed and compiled by simlab.engine.kernel) -----------------------
# tdata = [c (d) | v (N+1, d) | delta (N+1) | w (N+1, K, d) | theta (N+1, K) | sigma (N+1) |
#          x_0 (d) | kappa]
# tmeta = [d, N, P, aggregate, K, off v, off delta, off w, off theta, off sigma, off x_0,
#          off kappa]
# prep  = [sum_{i>=1} alpha_i v_i (d) | sum_{i>=1} alpha_i | aux noise std per coordinate]

def bnc_grad0(tdata, tmeta, x, k):
    u = x[k] - tdata[k]
    return u + tdata[tmeta[11]] * math.sin(u)

def bnc_add_waves(tdata, tmeta, i, x, scale, out):
    # out += scale * grad phi_i(x), grad phi_i = -(1/K) sum_k sin(w_k.x + theta_k) w_k
    d = tmeta[0]
    K = tmeta[4]
    for q in range(K):
        w = tmeta[7] + (i * K + q) * d
        p = tdata[tmeta[8] + i * K + q]
        for j in range(d):
            p += tdata[w + j] * x[j]
        c = -scale * math.sin(p) / K
        for j in range(d):
            out[j] += c * tdata[w + j]

def init_x(tdata, tmeta, x):
    d = tmeta[0]
    off = tmeta[10]
    for k in range(d):
        x[k] = tdata[off + k]

def grad_norm_sq0(tdata, tmeta, x):
    d = tmeta[0]
    acc = 0.0
    for k in range(d):
        g = bnc_grad0(tdata, tmeta, x, k)
        acc += g * g
    return acc

def metrics(tdata, tmeta, x, row):
    d = tmeta[0]
    kappa = tdata[tmeta[11]]
    gn = 0.0
    f = 0.0
    dist = 0.0
    for k in range(d):
        u = x[k] - tdata[k]
        g = u + kappa * math.sin(u)
        h = math.sin(0.5 * u)
        gn += g * g
        f += 0.5 * u * u + 2.0 * kappa * h * h
        dist += u * u
    row[0] = gn
    row[1] = f
    row[2] = dist

def prepare(tdata, tmeta, alpha, prep):
    d = tmeta[0]
    n = tmeta[1]
    ov = tmeta[5]
    osig = tmeta[9]
    for k in range(d):
        prep[k] = 0.0
    asum = 0.0
    var = 0.0
    for i in range(1, n + 1):
        ai = alpha[i]
        asum += ai
        var += ai * ai * tdata[osig + i] * tdata[osig + i]
        for k in range(d):
            prep[k] += ai * tdata[ov + i * d + k]
    prep[d] = asum
    prep[d + 1] = math.sqrt(var / d)

def sample_grad(tdata, tmeta, i, x, streams, out):
    d = tmeta[0]
    ov = tmeta[5] + i * d
    for k in range(d):
        out[k] = bnc_grad0(tdata, tmeta, x, k) + tdata[ov + k]
    dl = tdata[tmeta[6] + i]
    if dl != 0.0:
        bnc_add_waves(tdata, tmeta, i, x, dl, out)
    sc = tdata[tmeta[9] + i] / math.sqrt(d)
    if sc > 0.0:
        si = streams[i]
        for k in range(d):
            out[k] += sc * normal(si)

def sample_split(tdata, tmeta, alpha, x, streams, prep, g0, aux):
    d = tmeta[0]
    n = tmeta[1]
    sample_grad(tdata, tmeta, 0, x, streams, g0)
    asum = prep[d]
    for k in range(d):
        aux[k] = asum * bnc_grad0(tdata, tmeta, x, k) + prep[k]
    for i in range(1, n + 1):
        c = alpha[i] * tdata[tmeta[6] + i]
        if c != 0.0:
            bnc_add_waves(tdata, tmeta, i, x, c, aux)
    if tmeta[3] != 0:
        sc = prep[d + 1]
        if sc > 0.0:
            sa = streams[n + 1]
            for k in range(d):
                aux[k] += sc * normal(sa)
    else:
        sq = math.sqrt(d)
        for i in range(1, n + 1):
            c = alpha[i] * tdata[tmeta[9] + i] / sq
            if c > 0.0:
                si = streams[i]
                for k in range(d):
                    aux[k] += c * normal(si)


BoundedNonconvex.ops = family_ops(
    (bnc_grad0, bnc_add_waves, init_x, grad_norm_sq0, metrics, prepare, sample_grad,
     sample_split), init_x, metrics, grad_norm_sq0)
