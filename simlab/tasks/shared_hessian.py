"""Family A of the collab spec (section 8.1): shared-Hessian quadratics (delta = 0, exact zeta).

``f_i(x) = 1/2 (x - x_i*)^T A (x - x_i*)`` with ``A = diag(lambda)``, ``x_i* = x_0* + r_i`` and
``||A r_i|| = zeta_i``; noise ``g_i = A (x - x_i*) + (sigma_i / sqrt(d)) z``, ``z ~ N(0, I)``
independent across tasks and steps, so ``E||xi_i||^2 = sigma_i^2`` (assumption A2 with equality).

Aggregated noise: ``sum_{i>=1} alpha_i (sigma_i/sqrt(d)) z_i`` has the law of
``sqrt(sum_{i>=1} alpha_i^2 sigma_i^2) / sqrt(d) * z`` (a sum of independent centred Gaussians),
so with ``aggregate_noise=True`` the auxiliary tasks cost one normal per coordinate instead of
``N``. This is exact in distribution, not path by path; ``tests/engine`` checks the law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simlab.collab.interface import CollabFamily, family_ops
from simlab.collab.weights import resolve_weights
from simlab.engine.rng import normal_state
from simlab.tasks._validate import check_float, check_int, eigenvalues_from, per_task

BIAS_DIRECTIONS = ("aligned", "cancelling", "random")


def bias_units(kind: str, n_aux: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Unit directions ``u_i`` (rows, i = 1..N) of the collaborators' shifts.

    ``aligned``: one direction for all; ``cancelling``: ``u_{2k} = -u_{2k-1}`` (an unpaired last
    task gets no shift, so the uniform aggregate is exactly 0); ``random``: iid uniform.
    """
    if kind not in BIAS_DIRECTIONS:
        raise ValueError(f"bias_directions must be one of {BIAS_DIRECTIONS}, got {kind!r}")
    u = np.zeros((n_aux, d))
    if n_aux == 0:
        return u
    if kind == "aligned":
        v = rng.standard_normal(d)
        u[:] = v / np.linalg.norm(v)
    elif kind == "random":
        v = rng.standard_normal((n_aux, d))
        u[:] = v / np.linalg.norm(v, axis=1, keepdims=True)
    else:
        for k in range(n_aux // 2):
            v = rng.standard_normal(d)
            v /= np.linalg.norm(v)
            u[2 * k], u[2 * k + 1] = v, -v
    return u


@dataclass(frozen=True)
class SharedHessianQuadratics(CollabFamily):
    """Family A: shared diagonal Hessian, shifted optima, additive Gaussian noise.

    Parameters
    ----------
    d : int
        Dimension, ``>= 1``.
    n_aux : int
        Number ``N >= 0`` of auxiliary tasks.
    eig : (float, float) or sequence of d floats
        ``(mu, L)``: eigenvalues log-spaced in ``[mu, L]``; or all ``d`` eigenvalues.
    zeta : float or sequence of N floats
        Individual bias ``zeta_i = ||A r_i|| = ||grad f_i - grad f_0||`` (constant in x).
    sigma : float or sequence of N+1 floats
        Noise level ``sigma_i`` (``E||xi_i||^2 = sigma_i^2``).
    bias_directions : {"random", "aligned", "cancelling"}
        How the shifts ``r_i`` point (see :func:`bias_units`).
    x0_dist : float
        ``||x_0 - x_0*||``; ``x_0 = 0`` and ``x_0*`` lies in a random direction.
    seed : int
        Seed of the instance (directions); independent of the simulation seed.
    aggregate_noise : bool
        Draw the auxiliary noise as one Gaussian of the summed variance (exact in law).
    """

    d: int = 10
    n_aux: int = 3
    eig: tuple = (0.1, 1.0)
    zeta: float | tuple = 0.1
    sigma: float | tuple = 1.0
    bias_directions: str = "random"
    x0_dist: float = 1.0
    seed: int = 0
    aggregate_noise: bool = True
    family = "A"

    def __post_init__(self):
        check_int("d", self.d, 1)
        n = check_int("n_aux (N)", self.n_aux, 0)
        _ = self.eigenvalues  # validates eig
        per_task("zeta", self.zeta, n)
        per_task("sigma", self.sigma, n + 1)
        check_float("x0_dist", self.x0_dist, 0.0)
        if self.bias_directions not in BIAS_DIRECTIONS:
            raise ValueError(f"bias_directions must be one of {BIAS_DIRECTIONS}, got "
                             f"{self.bias_directions!r}")

    # -- instance -------------------------------------------------------------------------
    @property
    def eigenvalues(self) -> np.ndarray:
        """The diagonal of ``A``."""
        return eigenvalues_from(self.eig, self.d)

    @property
    def prep_size(self) -> int:
        """``d + 2``: the weighted optimum, the weight sum and the aggregated noise scale."""
        return self.d + 2

    @property
    def sigmas(self) -> np.ndarray:
        """``sigma_i`` for i = 0..N."""
        return per_task("sigma", self.sigma, self.n_aux + 1)

    @property
    def zetas(self) -> np.ndarray:
        """Individual biases ``zeta_i`` for i = 1..N."""
        return per_task("zeta", self.zeta, self.n_aux)

    def optima(self) -> np.ndarray:
        """``x_i*`` as rows, i = 0..N."""
        rng = np.random.default_rng([self.seed, 0xA])
        lam = self.eigenvalues
        v = rng.standard_normal(self.d)
        x0s = self.x0_dist * v / np.linalg.norm(v)
        u = bias_units(self.bias_directions, self.n_aux, self.d, rng)
        out = np.empty((self.n_aux + 1, self.d))
        out[0] = x0s
        for i in range(self.n_aux):
            r = (u[i] / lam)
            nr = np.linalg.norm(lam * r)
            out[i + 1] = x0s + (self.zetas[i] * r / nr if nr > 0 else 0.0)
        return out

    def gradient(self, x, i: int = 0) -> np.ndarray:
        """``grad f_i(x) = A (x - x_i*)`` (numpy reference)."""
        return self.eigenvalues * (np.asarray(x, dtype=np.float64) - self.optima()[i])

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks (both ways of drawing the noise)."""
        a = cls(d=3, n_aux=2, zeta=0.3, sigma=1.0, seed=1)
        return [a, replace(a, aggregate_noise=False)]

    def _pack(self):
        d, n = self.d, self.n_aux
        tdata = np.concatenate([self.eigenvalues, self.optima().ravel(), self.sigmas,
                                np.zeros(d)])
        tmeta = np.array([d, n, d + 2, int(bool(self.aggregate_noise))], dtype=np.int64)
        return tdata, tmeta

    def constants(self, weights=None) -> dict:
        """Exact constants: ``L, mu, sigma`` (per task), ``zeta`` (per aux), ``delta = 0``,
        ``F0``, and, for ``weights``, the aggregate bias ``zeta_bar`` and ``sigma_alpha^2``.
        """
        lam = self.eigenvalues
        xs = self.optima()
        e0 = -xs[0]  # x_0 = 0
        out = dict(L=float(lam.max()), mu=float(lam.min()), d=self.d, N=self.n_aux,
                   sigma=self.sigmas.copy(), zeta=self.zetas.copy(), delta=0.0,
                   F0=float(0.5 * np.sum(lam * e0 ** 2)), f0_star=0.0,
                   x0_dist_sq=float(np.sum(e0 ** 2)))
        if weights is not None:
            a = resolve_weights(weights, self.n_aux + 1)
            xbar = a @ xs
            out["zeta_bar"] = float(np.linalg.norm(lam * (xbar - xs[0])))
            out["sigma_alpha_sq"] = float(np.sum(a ** 2 * self.sigmas ** 2))
            out["weights"] = a
        return out


# -- ops (plain Python; composed and compiled by simlab.engine.kernel) -----------------------
# layout: tdata = [lam (d) | x* (N+1, d) | sigma (N+1) | x_0 (d)], tmeta = [d, N, P, aggregate]
# The noise loops load a stream's two state words into locals, draw with normal_state and
# store them back once: the same draws as normal(s), without a memory round trip per draw.

def init_x(tdata, tmeta, x):
    d = tmeta[0]
    off = d + (tmeta[1] + 1) * d + tmeta[1] + 1
    for k in range(d):
        x[k] = tdata[off + k]

def grad_norm_sq0(tdata, tmeta, x):
    d = tmeta[0]
    acc = 0.0
    for k in range(d):
        g = tdata[k] * (x[k] - tdata[d + k])
        acc += g * g
    return acc

def metrics(tdata, tmeta, x, row):
    d = tmeta[0]
    gn = 0.0
    f = 0.0
    dist = 0.0
    for k in range(d):
        e = x[k] - tdata[d + k]
        g = tdata[k] * e
        gn += g * g
        f += 0.5 * g * e
        dist += e * e
    row[0] = gn
    row[1] = f
    row[2] = dist

def prepare(tdata, tmeta, alpha, prep):
    # prep = [sum_{i>=1} alpha_i x_i* (d) | sum_{i>=1} alpha_i | aux noise std per coord]
    d = tmeta[0]
    n = tmeta[1]
    sig = d + (n + 1) * d
    asum = 0.0
    var = 0.0
    for k in range(d):
        prep[k] = 0.0
    for i in range(1, n + 1):
        ai = alpha[i]
        asum += ai
        var += ai * ai * tdata[sig + i] * tdata[sig + i]
        for k in range(d):
            prep[k] += ai * tdata[d + i * d + k]
    prep[d] = asum
    prep[d + 1] = math.sqrt(var / d)

def sample_grad(tdata, tmeta, i, x, streams, out):
    d = tmeta[0]
    n = tmeta[1]
    sc = tdata[d + (n + 1) * d + i] / math.sqrt(d)
    si = streams[i]
    xo = d + i * d
    if sc > 0.0:
        r0 = si[0]
        r1 = si[1]
        for k in range(d):
            z, r0, r1 = normal_state(r0, r1)
            out[k] = tdata[k] * (x[k] - tdata[xo + k]) + sc * z
        si[0] = r0
        si[1] = r1
    else:
        for k in range(d):
            out[k] = tdata[k] * (x[k] - tdata[xo + k])

def sample_split(tdata, tmeta, alpha, x, streams, prep, g0, aux):
    d = tmeta[0]
    n = tmeta[1]
    sample_grad(tdata, tmeta, 0, x, streams, g0)
    if tmeta[3] != 0:
        asum = prep[d]
        sc = prep[d + 1]
        if sc > 0.0:
            sa = streams[n + 1]
            r0 = sa[0]
            r1 = sa[1]
            for k in range(d):
                z, r0, r1 = normal_state(r0, r1)
                aux[k] = tdata[k] * (asum * x[k] - prep[k]) + sc * z
            sa[0] = r0
            sa[1] = r1
        else:
            for k in range(d):
                aux[k] = tdata[k] * (asum * x[k] - prep[k])
    else:
        sig = d + (n + 1) * d
        for k in range(d):
            aux[k] = 0.0
        for i in range(1, n + 1):
            ai = alpha[i]
            if ai == 0.0:
                continue
            sc = tdata[sig + i] / math.sqrt(d)
            si = streams[i]
            xo = d + i * d
            r0 = si[0]
            r1 = si[1]
            for k in range(d):
                z, r0, r1 = normal_state(r0, r1)
                aux[k] += ai * (tdata[k] * (x[k] - tdata[xo + k]) + sc * z)
            si[0] = r0
            si[1] = r1


SharedHessianQuadratics.ops = family_ops(
    (init_x, grad_norm_sq0, metrics, prepare, sample_grad, sample_split), init_x, metrics,
    grad_norm_sq0)


def _quadratic_blocks(self):
    """The instance as decoupled 1x1 blocks for :mod:`simlab.collab.moments`.

    Returns ``(H, X, x0, C)``: Hessians ``(N+1, d, 1, 1)``, optima ``(N+1, d, 1)``, start
    ``(d, 1)`` and noise covariances ``C[i, j]`` of shape ``(N+1, N+1, d, 1, 1)``.
    """
    d, n1 = self.d, self.n_aux + 1
    lam = self.eigenvalues
    H = np.broadcast_to(lam[None, :, None, None], (n1, d, 1, 1)).copy()
    X = self.optima()[:, :, None]
    C = np.zeros((n1, n1, d, 1, 1))
    for i, s in enumerate(self.sigmas):
        C[i, i] = s * s / d
    return H, X, np.zeros((d, 1)), C


SharedHessianQuadratics.quadratic_blocks = _quadratic_blocks
