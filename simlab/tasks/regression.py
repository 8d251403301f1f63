"""Family D of the collab spec (section 8.1): linear regression with multiplicative noise.

[spec 8.1(D), a recommendation of the spec, not the paper's own experiment]

Task ``i`` draws features ``a ~ N(0, Sigma_i)`` and labels ``y = a^T w_i* + eps``,
``eps ~ N(0, s^2)``; its one-sample gradient at ``x`` is ``a (a^T x - y)``. The population loss
is ``f_i(x) = 1/2 (x - w_i*)^T Sigma_i (x - w_i*) + s^2/2``, so ``f_0* = s^2/2``.

* Covariate shift: ``Sigma_i = Sigma_0 + delta_i Q_i diag(s) Q_i^T`` with ``Sigma_0`` diagonal,
  eigenvalues log-spaced in ``[mu, L]`` (the construction of family B,
  :func:`~simlab.tasks.hessian_perturbed.build_perturbed`), so ``||Sigma_i - Sigma_0||_op =
  delta_i`` exactly (the Hessian dissimilarity); ``Sigma_i`` must stay positive definite
  (``lambda_min >= 0.01 mu``).
* Concept shift: ``w_i* = w_0* + r_i`` with ``||Sigma_i r_i|| = zeta_i``, i.e. ``zeta_i`` is the
  norm of the bias ``grad f_i(w_0*) - grad f_0(w_0*)`` at task 0's optimum (the definition of
  families A and B). The mean field is exactly family B with ``A_i = Sigma_i``.

Noise (multiplicative, not uniformly bounded): with ``e = x - w_i*``,
``Cov(g_i(x)) = Sigma_i e e^T Sigma_i + (e^T Sigma_i e + s^2) Sigma_i`` (Gaussian fourth moment
``E[a a^T M a a^T] = 2 Sigma M Sigma + tr(Sigma M) Sigma``), so
``E||xi_i(x)||^2 = ||Sigma_i e||^2 + (e^T Sigma_i e + s^2) tr Sigma_i``, which grows with
``||x||``; at the optimum it is ``s^2 tr Sigma_i``. Use this family for figures, not for the
[D]-bound checks that assume bounded variance (spec 8.1(D)). No noise is aggregated: each
task's sample is drawn (``d + 1`` normals from its own stream: ``z`` with ``a = C_i z``,
``C_i`` the Cholesky factor of ``Sigma_i``, then ``eps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simlab.collab.interface import family_ops
from simlab.collab.weights import resolve_weights
from simlab.engine.rng import normal
from simlab.tasks._validate import check_float
from simlab.tasks.hessian_perturbed import _PerturbedQuadraticBase, init_x  # same x_0 slot


@dataclass(frozen=True)
class LinearRegressionTasks(_PerturbedQuadraticBase):
    """Family D (spec 8.1(D)): Gaussian linear regression with covariate and concept shift.

    Parameters
    ----------
    d : int
        Dimension, ``>= 1``.
    n_aux : int
        Number ``N >= 0`` of auxiliary tasks.
    eig : (float, float) or sequence of d floats
        ``(mu, L)`` of ``Sigma_0 = diag(lambda)`` (log-spaced), or all ``d`` eigenvalues.
    zeta : float or sequence of N floats
        Concept shift ``zeta_i = ||Sigma_i (w_i* - w_0*)|| >= 0`` (bias at ``w_0*``).
    delta : float or sequence of N floats
        Covariate shift ``delta_i = ||Sigma_i - Sigma_0||_op >= 0``.
    noise_s : float
        Label noise standard deviation ``s >= 0``.
    bias_directions : {"random", "aligned", "cancelling"}
        Directions of the biases at ``w_0*``.
    hessian_signs : {"random", "alternating", "positive"}
        Sign pattern of the covariate shifts (see
        :func:`~simlab.tasks.hessian_perturbed.sign_pattern`).
    x0_dist : float
        ``||x_0 - w_0*||``; ``x_0 = 0``.
    radius : float, optional
        Radius of the ball around ``w_0*`` for ``zeta_ball``/``zeta_bar_ball`` (default
        ``2 x0_dist``).
    seed : int
        Seed of the instance; independent of the simulation seed.
    """

    d: int = 10
    n_aux: int = 3
    eig: tuple = (0.1, 1.0)
    zeta: float | tuple = 0.1
    delta: float | tuple = 0.0
    noise_s: float = 1.0
    bias_directions: str = "random"
    hessian_signs: str = "random"
    x0_dist: float = 1.0
    radius: float | None = None
    seed: int = 0
    family = "D"
    _instance_key = 0xD
    _matrix = "Sigma"

    def __post_init__(self):
        check_float("noise_s", self.noise_s, 0.0)
        self._validate_common()

    def _f_offset(self) -> float:
        return 0.5 * float(self.noise_s) ** 2

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(d=3, n_aux=2, zeta=0.3, delta=0.05, seed=4)]

    def noise_trace(self, x, i: int = 0) -> float:
        """``E||g_i(x) - grad f_i(x)||^2 = tr Cov(g_i(x))`` (multiplicative noise)."""
        return float(np.trace(self.noise_cov(x, i)))

    def noise_cov(self, x, i: int = 0) -> np.ndarray:
        """Exact ``Cov(g_i(x))`` (see the module docstring)."""
        H, X = self.instance().H, self.instance().X
        S = H[i]
        e = np.asarray(x, dtype=np.float64) - X[i]
        Se = S @ e
        return np.outer(Se, Se) + (e @ Se + float(self.noise_s) ** 2) * S

    def _pack(self):
        d, n = self.d, self.n_aux
        inst = self.instance()
        chol = np.linalg.cholesky(inst.H)
        parts = [chol.ravel(), inst.X.ravel(), inst.H[0].ravel(), inst.x0,
                 [float(self.noise_s)]]
        offs = np.cumsum([0] + [len(p) for p in parts])
        tdata = np.concatenate(parts)
        tmeta = np.array([d, n, 0, 0, *offs[1:5]], dtype=np.int64)
        return tdata, tmeta

    def constants(self, weights=None) -> dict:
        """Constants of the instance.

        Keys: ``L``, ``mu`` (extreme eigenvalues of ``Sigma_0``: ``f_0`` is ``mu``-strongly
        convex and ``L``-smooth), ``L_tasks``, ``mu_tasks``, ``d``, ``N``, ``noise_s``,
        ``sigma`` (``inf`` per task: the noise is not uniformly bounded), ``sigma_bounded =
        False``, ``sigma_at_opt`` (per task, ``sqrt(s^2 tr Sigma_i)`` at ``w_i*``),
        ``sigma_at_x0_star`` (per task, ``sqrt(E||xi_i(w_0*)||^2)``), ``zeta`` (bias at
        ``w_0*``), ``zeta_ball``, ``radius``, ``delta``, ``delta_op``, ``F0 = f_0(x_0) - f_0*``,
        ``f0_star = s^2/2``, ``x0_dist_sq``. With ``weights``: ``zeta_bar``, ``zeta_bar_ball``,
        ``zeta_bar_ball_triangle``, ``delta_alpha``, ``delta_alpha_op`` (as in family B),
        ``sigma_alpha_sq = inf`` and ``sigma_alpha_sq_at_x0_star = sum alpha_i^2
        E||xi_i(w_0*)||^2`` (independent tasks).
        """
        lam = self.eigenvalues
        inst = self.instance()
        s2 = float(self.noise_s) ** 2
        n1 = self.n_aux + 1
        at_x0s = np.array([np.trace(self.noise_cov(inst.X[0], i)) for i in range(n1)])
        out = dict(L=float(lam.max()), mu=float(lam.min()), d=self.d, N=self.n_aux,
                   noise_s=float(self.noise_s), sigma=np.full(n1, np.inf), sigma_bounded=False,
                   sigma_note="multiplicative noise: E||xi_i(x)||^2 grows like ||x - w_i*||^2; "
                              "sigma_at_opt and sigma_at_x0_star are its values at w_i*, w_0*",
                   sigma_at_opt=np.sqrt(s2 * np.trace(inst.H, axis1=1, axis2=2)),
                   sigma_at_x0_star=np.sqrt(at_x0s), f0_star=0.5 * s2)
        a = None if weights is None else resolve_weights(weights, n1)
        self._bias_constants(out, a)
        if a is not None:
            out["sigma_alpha_sq"] = float("inf")
            out["sigma_alpha_sq_at_x0_star"] = float(np.sum(a ** 2 * at_x0s))
        return out


# -- ops (plain Python; composed and compiled by simlab.engine.kernel) -----------------------
# tdata = [chol(Sigma_i) (N+1, d, d), lower | w* (N+1, d) | Sigma_0 (d, d) | x_0 (d) | s]
# tmeta = [d, N, P = 0, 0, off w*, off Sigma_0, off x_0, off s]

def lrt_row0(tdata, tmeta, x, k):
    d = tmeta[0]
    h = tmeta[5] + k * d
    wo = tmeta[4]
    acc = 0.0
    for j in range(d):
        acc += tdata[h + j] * (x[j] - tdata[wo + j])
    return acc

def grad_norm_sq0(tdata, tmeta, x):
    d = tmeta[0]
    acc = 0.0
    for k in range(d):
        g = lrt_row0(tdata, tmeta, x, k)
        acc += g * g
    return acc

def metrics(tdata, tmeta, x, row):
    d = tmeta[0]
    wo = tmeta[4]
    gn = 0.0
    f = 0.0
    dist = 0.0
    for k in range(d):
        e = x[k] - tdata[wo + k]
        g = lrt_row0(tdata, tmeta, x, k)
        gn += g * g
        f += 0.5 * g * e
        dist += e * e
    row[0] = gn
    row[1] = f
    row[2] = dist

def prepare(tdata, tmeta, alpha, prep):
    pass

def sample_grad(tdata, tmeta, i, x, streams, out):
    # a = C_i z computed in place (lower-triangular, last row first), then a (a^T (x - w*) - eps)
    d = tmeta[0]
    si = streams[i]
    for k in range(d):
        out[k] = normal(si)
    h = i * d * d
    for k in range(d - 1, -1, -1):
        acc = 0.0
        for j in range(k + 1):
            acc += tdata[h + k * d + j] * out[j]
        out[k] = acc
    wo = tmeta[4] + i * d
    r = 0.0
    for k in range(d):
        r += out[k] * (x[k] - tdata[wo + k])
    ns = tdata[tmeta[7]]
    if ns > 0.0:
        r -= ns * normal(si)
    for k in range(d):
        out[k] *= r

def sample_split(tdata, tmeta, alpha, x, streams, prep, g0, aux):
    # g0 is scratch for the auxiliary tasks' samples, then holds task 0's
    d = tmeta[0]
    n = tmeta[1]
    for k in range(d):
        aux[k] = 0.0
    for i in range(1, n + 1):
        ai = alpha[i]
        if ai == 0.0:
            continue
        sample_grad(tdata, tmeta, i, x, streams, g0)
        for k in range(d):
            aux[k] += ai * g0[k]
    sample_grad(tdata, tmeta, 0, x, streams, g0)


LinearRegressionTasks.ops = family_ops(
    (lrt_row0, init_x, grad_norm_sq0, metrics, prepare, sample_grad, sample_split), init_x,
    metrics, grad_norm_sq0)
