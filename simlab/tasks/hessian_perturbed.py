"""Families B and E of the collab spec (section 8.1): Hessian-perturbed quadratics.

Family B [spec 8.1(B), a recommendation of the spec, not the paper's own experiment]:
``f_i(x) = 1/2 (x - x_i*)^T A_i (x - x_i*)`` with

* ``A_0 = diag(lambda)``, eigenvalues log-spaced in ``[mu, L]``;
* ``A_i = A_0 + delta_i S_i``, ``S_i = Q_i diag(s) Q_i^T``, ``s in {-1, +1}^d``, ``Q_i`` Haar
  orthogonal, so ``||A_i - A_0||_op = delta_i`` exactly (assumption A4 with equality);
* shifted optima ``x_i* = x_0* + r_i`` with ``||A_i r_i|| = zeta_i``: the bias of task ``i`` at
  ``x_0*`` is ``grad f_i(x_0*) - grad f_0(x_0*) = -A_i r_i``, of norm ``zeta_i``. Away from
  ``x_0*`` the bias grows like ``delta_i ||x - x_0*||`` (spec 8.1(B): A3 and A4 cannot both hold
  on all of ``R^d``), so :meth:`HessianPerturbedQuadratics.constants` also reports its supremum
  over the ball ``||x - x_0*|| <= radius``;
* additive Gaussian noise ``xi_i = (sigma_i / sqrt(d)) z_i``, ``E||xi_i||^2 = sigma_i^2``.

Family E [spec 8.1(E), TMLR follow-up]: family B whose auxiliary noise is correlated with task
0's on the same sample: ``xi_0 = (sigma_0/sqrt(d)) z_0`` and, for ``i >= 1``,
``xi_i = (sigma_i/sqrt(d)) (rho z_0 + sqrt(1 - rho^2) z_i)``, so ``corr(xi_0, xi_i) = rho`` and
``corr(xi_i, xi_j) = rho^2`` coordinate-wise. Family B is family E with ``rho = 0``: both share
one implementation and one compiled kernel.

Aggregated noise (``aggregate_noise=True``): given ``z_0``, ``sum_{i>=1} alpha_i xi_i`` is
``rho (sum alpha_i sigma_i)/sqrt(d) z_0 + sqrt((1 - rho^2) sum alpha_i^2 sigma_i^2 / d) z``
with ``z ~ N(0, I)`` independent: exact in joint law with ``xi_0`` (not path by path), one
normal per coordinate instead of ``N``. ``sample_split`` draws ``z_0`` once per coordinate and
feeds it to ``g_0`` and to the correlated part of the auxiliary noise.

Exact moments: :meth:`HessianPerturbedQuadratics.quadratic_blocks` returns the instance as one
dense block for :mod:`simlab.collab.moments` (spec 8.2), with the cross-covariances of family E.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from simlab.collab.interface import CollabFamily, family_ops
from simlab.collab.weights import resolve_weights
from simlab.engine.rng import normal
from simlab.tasks._validate import check_float, check_int, eigenvalues_from, per_task
from simlab.tasks.shared_hessian import BIAS_DIRECTIONS, bias_units

#: Sign patterns ``s`` of the perturbations ``S_i = Q_i diag(s) Q_i^T``.
HESSIAN_SIGNS = ("random", "alternating", "positive")

#: Every perturbed Hessian must keep ``lambda_min(A_i) >= PD_FLOOR * mu``, ``mu = lambda_min(A_0)``.
PD_FLOOR = 0.01


# --- instance construction, shared with family D (simlab.tasks.regression) -------------------

#: ``eig = (mu, L)`` or explicit eigenvalues (one parser for families A, B, D, E).
log_spaced_eigenvalues = eigenvalues_from


def haar_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed ``d x d`` orthogonal matrix (QR of a Gaussian, signs fixed)."""
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def sign_pattern(kind: str, d: int, rng: np.random.Generator) -> np.ndarray:
    """The diagonal ``s in {-1, +1}^d`` of a perturbation (one random draw in every case).

    ``random``: iid signs; ``alternating``: ``+1, -1, +1, ...``; ``positive``: all ``+1``
    (``S_i = I``: ``A_i = A_0 + delta_i I`` is positive definite for every ``delta_i >= 0``).
    """
    s = np.where(rng.random(d) < 0.5, -1.0, 1.0)
    if kind == "alternating":
        s = np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
    elif kind == "positive":
        s = np.ones(d)
    return s


class PerturbedInstance(NamedTuple):
    """A built instance of a Hessian-perturbed quadratic family (B, D, E).

    Attributes
    ----------
    H : ndarray, shape (N+1, d, d)
        ``A_i`` (or ``Sigma_i`` for family D); ``H[0]`` is diagonal.
    X : ndarray, shape (N+1, d)
        Optima ``x_i*``.
    x0 : ndarray, shape (d,)
        Starting point (the origin).
    units : ndarray, shape (N, d)
        Unit bias directions ``u_i``: ``A_i (x_i* - x_0*) = zeta_i u_i``.
    """

    H: np.ndarray
    X: np.ndarray
    x0: np.ndarray
    units: np.ndarray


def build_perturbed(lam: np.ndarray, deltas: np.ndarray, zetas: np.ndarray, directions: str,
                    signs: str, x0_dist: float, rng: np.random.Generator,
                    delta_name: str = "delta", matrix: str = "A") -> PerturbedInstance:
    """Build ``A_i = diag(lam) + delta_i Q_i diag(s) Q_i^T`` and optima, ``||A_i r_i|| = zeta_i``.

    ``x_0 = 0`` and ``x_0* = x0_dist * v`` for a random unit ``v``; draws in this order: ``v``,
    the bias directions (:func:`~simlab.tasks.shared_hessian.bias_units`), then ``Q_i`` and
    ``s`` per task.

    Parameters
    ----------
    lam : ndarray, shape (d,)
        Diagonal of ``A_0``.
    deltas, zetas : ndarray, shape (N,)
        ``||A_i - A_0||_op`` and ``||A_i (x_i* - x_0*)||`` per auxiliary task.
    directions : {"random", "aligned", "cancelling"}
        Bias directions.
    signs : {"random", "alternating", "positive"}
        Sign pattern of the perturbations (see :func:`sign_pattern`).
    x0_dist : float
        ``||x_0 - x_0*||``.
    rng : numpy.random.Generator
        Source of the instance's randomness.
    delta_name, matrix : str
        Names used in the error message (``"delta"``, ``"A"``; family D says ``"Sigma"``).

    Returns
    -------
    PerturbedInstance

    Raises
    ------
    ValueError
        Naming ``delta_name`` when some ``lambda_min(A_i) < PD_FLOOR * mu``.
    """
    d, n = lam.shape[0], deltas.shape[0]
    v = rng.standard_normal(d)
    x0s = x0_dist * v / np.linalg.norm(v)
    units = bias_units(directions, n, d, rng)
    H = np.zeros((n + 1, d, d))
    H[0] = np.diag(lam)
    mu = float(lam.min())
    floor = PD_FLOOR * mu
    for i in range(n):
        Q = haar_orthogonal(d, rng)
        s = sign_pattern(signs, d, rng)
        S = (Q * s) @ Q.T
        S = 0.5 * (S + S.T)
        H[i + 1] = H[0] + deltas[i] * S
        lmin = float(np.linalg.eigvalsh(H[i + 1])[0])
        if not lmin >= floor:
            raise ValueError(
                f"{delta_name}[{i}] = {deltas[i]:g} makes {matrix}_{i + 1} = {matrix}_0 + "
                f"delta_{i + 1} S_{i + 1} not positive definite enough: its smallest eigenvalue "
                f"is {lmin:.4g} < the floor {PD_FLOOR:g} * mu = {floor:.4g}; every "
                f"{matrix}_i must keep lambda_min >= {PD_FLOOR:g} mu. {delta_name}_i <= "
                f"{1 - PD_FLOOR:g} mu = {(1 - PD_FLOOR) * mu:.4g} always works, or use "
                f"hessian_signs='positive'")
    X = np.empty((n + 1, d))
    X[0] = x0s
    for i in range(n):
        X[i + 1] = x0s + zetas[i] * np.linalg.solve(H[i + 1], units[i])
    return PerturbedInstance(H, X, np.zeros(d), units)


def sup_norm_on_ball(D: np.ndarray, b: np.ndarray, radius: float) -> float:
    """Exact ``sup_{||e|| <= radius} ||D e + b||`` (a trust-region problem, solved exactly).

    The maximum of the convex ``||D e + b||^2`` lies on the sphere, where (with ``M = D^T D``,
    ``g = D^T b``) ``(lam I - M) e = g`` for some ``lam >= lambda_max(M)``: either ``lam``
    solves the secular equation ``||(lam I - M)^{-1} g|| = radius`` (found by bisection), or
    ``lam = lambda_max(M)`` and the radius is filled along the top eigenspace (the "hard
    case"). Both candidates are evaluated and the larger ``||D e + b||`` is returned, so the
    value is attained (never above the supremum) and equals it up to rounding.

    Parameters
    ----------
    D : ndarray, shape (d, d)
        Linear part (for the aggregate bias, ``sum alpha_i (A_i - A_0)``).
    b : ndarray, shape (d,)
        Value at the centre (the bias at ``x_0*``).
    radius : float
        Radius ``R >= 0`` of the ball.

    Returns
    -------
    float
    """
    b = np.asarray(b, dtype=np.float64)
    if radius <= 0.0 or not np.any(D):
        return float(np.linalg.norm(b))
    m, V = np.linalg.eigh(D.T @ D)
    g = V.T @ (D.T @ b)
    mmax = float(m[-1])
    top = m >= mmax - 1e-12 * max(mmax, 1e-300)
    gnorm = float(np.linalg.norm(g))
    candidates = []
    if gnorm > 0.0:
        lo, hi = mmax, mmax + gnorm / radius
        for _ in range(300):
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                break
            if np.linalg.norm(g / (mid - m)) > radius:
                lo = mid
            else:
                hi = mid
        e = g / (hi - m)
        candidates.append(e * (radius / max(float(np.linalg.norm(e)), 1e-300)))
    e = np.zeros_like(g)
    e[~top] = g[~top] / (mmax - m[~top])
    rest = float(np.sum(e ** 2))
    if rest <= radius ** 2:
        gt = np.where(top, g, 0.0)
        if np.any(gt):
            u = gt / np.linalg.norm(gt)
        else:
            u = np.zeros_like(g)
            u[np.flatnonzero(top)[0]] = 1.0
        candidates.append(e + math.sqrt(radius ** 2 - rest) * u)
    return float(max(np.linalg.norm(D @ (V @ c) + b) for c in candidates))


class _PerturbedQuadraticBase(CollabFamily):
    """Shared constructor logic of families B, D and E (a quadratic mean field).

    Subclasses are frozen dataclasses with fields ``d, n_aux, eig, zeta, delta,
    bias_directions, hessian_signs, x0_dist, radius, seed``.
    """

    _instance_key: int = 0xB
    _delta_name: str = "delta"
    _matrix: str = "A"

    def _validate_common(self) -> None:
        check_int("d", self.d, 1)
        n = check_int("n_aux (N)", self.n_aux, 0)
        log_spaced_eigenvalues(self.eig, self.d)
        per_task("zeta", self.zeta, n)
        per_task(self._delta_name, self.delta, n)
        check_float("x0_dist", self.x0_dist, 0.0)
        if self.radius is not None:
            check_float("radius", self.radius, 0.0)
        check_int("seed", self.seed, 0)
        if self.bias_directions not in BIAS_DIRECTIONS:
            raise ValueError(f"bias_directions must be one of {BIAS_DIRECTIONS}, got "
                             f"{self.bias_directions!r}")
        if self.hessian_signs not in HESSIAN_SIGNS:
            raise ValueError(f"hessian_signs must be one of {HESSIAN_SIGNS}, got "
                             f"{self.hessian_signs!r}")
        self.instance()  # raises on a Hessian that is not positive definite

    @property
    def eigenvalues(self) -> np.ndarray:
        """The diagonal of ``A_0`` (``Sigma_0`` for family D)."""
        return log_spaced_eigenvalues(self.eig, self.d)

    @property
    def zetas(self) -> np.ndarray:
        """Individual biases at ``x_0*``, ``zeta_i = ||A_i (x_i* - x_0*)||``, i = 1..N."""
        return per_task("zeta", self.zeta, self.n_aux)

    @property
    def deltas(self) -> np.ndarray:
        """Hessian dissimilarities ``delta_i = ||A_i - A_0||_op``, i = 1..N."""
        return per_task(self._delta_name, self.delta, self.n_aux)

    @property
    def ball_radius(self) -> float:
        """Radius ``R`` of the ball around ``x_0*`` for the bias bounds (``2 x0_dist`` default)."""
        return float(2.0 * self.x0_dist if self.radius is None else self.radius)

    def instance(self) -> PerturbedInstance:
        """The built instance (Hessians, optima, start; computed once)."""
        cached = self.__dict__.get("_instance")
        if cached is None:
            rng = np.random.default_rng([int(self.seed), self._instance_key])
            cached = build_perturbed(self.eigenvalues, self.deltas, self.zetas,
                                     self.bias_directions, self.hessian_signs,
                                     float(self.x0_dist), rng, self._delta_name, self._matrix)
            object.__setattr__(self, "_instance", cached)
        return cached

    def optima(self) -> np.ndarray:
        """``x_i*`` as rows, i = 0..N."""
        return self.instance().X.copy()

    def hessians(self) -> np.ndarray:
        """``A_i`` (``Sigma_i``), shape ``(N+1, d, d)``."""
        return self.instance().H.copy()

    def objective(self, x, i: int = 0) -> float:
        """``f_i(x)`` of the mean-field quadratic (numpy reference; family D adds ``s^2/2``)."""
        H, X = self.instance().H, self.instance().X
        e = np.asarray(x, dtype=np.float64) - X[i]
        return float(0.5 * e @ H[i] @ e) + self._f_offset()

    def gradient(self, x, i: int = 0) -> np.ndarray:
        """``grad f_i(x) = A_i (x - x_i*)`` (numpy reference)."""
        H, X = self.instance().H, self.instance().X
        return H[i] @ (np.asarray(x, dtype=np.float64) - X[i])

    def _f_offset(self) -> float:
        return 0.0

    def _bias_constants(self, out: dict, a: np.ndarray | None) -> None:
        """Add the bias and Hessian-dissimilarity constants to ``out``."""
        H, X, x0, _ = self.instance()
        R = self.ball_radius
        dev = H[1:] - H[0]
        bias0 = np.einsum("ijk,ik->ij", H[1:], X[0] - X[1:])  # grad f_i - grad f_0 at x_0*
        out["delta"] = self.deltas.copy()
        out["delta_op"] = np.array([np.linalg.norm(m, 2) for m in dev])
        out["zeta"] = np.linalg.norm(bias0, axis=1) if len(bias0) else np.zeros(0)
        out["radius"] = R
        out["zeta_ball"] = np.array([sup_norm_on_ball(dev[i], bias0[i], R)
                                     for i in range(self.n_aux)])
        e0 = x0 - X[0]
        out["F0"] = float(0.5 * e0 @ H[0] @ e0)
        out["x0_dist_sq"] = float(e0 @ e0)
        eigs = np.linalg.eigvalsh(H)
        out["L_tasks"] = eigs[:, -1].copy()
        out["mu_tasks"] = eigs[:, 0].copy()
        if a is not None:
            Da = np.einsum("i,ijk->jk", a[1:], dev)
            ba = a[1:] @ bias0
            out["zeta_bar"] = float(np.linalg.norm(ba))
            out["zeta_bar_ball"] = sup_norm_on_ball(Da, ba, R)
            out["zeta_bar_ball_triangle"] = float(np.linalg.norm(Da, 2) * R
                                                  + np.linalg.norm(ba))
            out["delta_alpha"] = float(a[1:] @ self.deltas)
            out["delta_alpha_op"] = float(np.linalg.norm(Da, 2))
            out["weights"] = a


# --- families B and E --------------------------------------------------------------------------

@dataclass(frozen=True)
class HessianPerturbedQuadratics(_PerturbedQuadraticBase):
    """Family B (spec 8.1(B)): ``A_i = A_0 + delta_i S_i``, shifted optima, additive noise.

    Parameters
    ----------
    d : int
        Dimension, ``>= 1``.
    n_aux : int
        Number ``N >= 0`` of auxiliary tasks.
    eig : (float, float) or sequence of d floats
        ``(mu, L)`` of ``A_0 = diag(lambda)``, eigenvalues log-spaced in ``[mu, L]``; or all
        ``d`` eigenvalues.
    zeta : float or sequence of N floats
        ``zeta_i = ||A_i (x_i* - x_0*)||``, the bias of task ``i`` at ``x_0*`` (``>= 0``).
    sigma : float or sequence of N+1 floats
        Noise levels ``sigma_i >= 0`` (``E||xi_i||^2 = sigma_i^2``).
    delta : float or sequence of N floats
        ``delta_i = ||A_i - A_0||_op >= 0``. Every ``A_i`` must keep
        ``lambda_min(A_i) >= PD_FLOOR * mu`` (``PD_FLOOR = 0.01``); ``delta_i <= 0.99 mu`` always
        does, larger values depend on the draw (or use ``hessian_signs="positive"``).
    bias_directions : {"random", "aligned", "cancelling"}
        Directions ``u_i`` of the biases at ``x_0*`` (see
        :func:`~simlab.tasks.shared_hessian.bias_units`).
    hessian_signs : {"random", "alternating", "positive"}
        Sign pattern ``s`` of ``S_i = Q_i diag(s) Q_i^T`` (see :func:`sign_pattern`).
    x0_dist : float
        ``||x_0 - x_0*||``; ``x_0 = 0`` and ``x_0*`` lies in a random direction.
    radius : float, optional
        Radius ``R`` of the ball ``||x - x_0*|| <= R`` over which ``zeta_ball`` and
        ``zeta_bar_ball`` bound the bias; default ``2 x0_dist``.
    seed : int
        Seed of the instance; independent of the simulation seed.
    aggregate_noise : bool
        Draw the auxiliary noise as one Gaussian per coordinate (exact in joint law).
    """

    d: int = 10
    n_aux: int = 3
    eig: tuple = (0.1, 1.0)
    zeta: float | tuple = 0.1
    sigma: float | tuple = 1.0
    delta: float | tuple = 0.05
    bias_directions: str = "random"
    hessian_signs: str = "random"
    x0_dist: float = 1.0
    radius: float | None = None
    seed: int = 0
    aggregate_noise: bool = True
    family = "B"

    def __post_init__(self):
        per_task("sigma", self.sigma, check_int("n_aux (N)", self.n_aux, 0) + 1)
        self._validate_rho()
        self._validate_common()

    def _validate_rho(self) -> None:
        pass

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(d=3, n_aux=2, zeta=0.3, delta=0.05, seed=2)]

    @property
    def noise_rho(self) -> float:
        """Correlation ``rho`` of each auxiliary noise with task 0's (0 in family B)."""
        return 0.0

    @property
    def prep_size(self) -> int:
        """``d^2 + d + 2``: the weighted Hessian and optimum and two noise scales."""
        return self.d * self.d + self.d + 2

    @property
    def ops_class(self) -> type:
        """Families B and E share one kernel."""
        return HessianPerturbedQuadratics

    @property
    def sigmas(self) -> np.ndarray:
        """``sigma_i`` for i = 0..N."""
        return per_task("sigma", self.sigma, self.n_aux + 1)

    def noise_covariances(self) -> np.ndarray:
        """``C[i, j] = E[xi_i xi_j^T]``, shape ``(N+1, N+1, d, d)`` (multiples of ``I``)."""
        n1, d, rho = self.n_aux + 1, self.d, self.noise_rho
        sg = self.sigmas
        c = np.empty((n1, n1))
        for i in range(n1):
            for j in range(n1):
                if i == j:
                    c[i, j] = sg[i] ** 2
                elif i == 0 or j == 0:
                    c[i, j] = rho * sg[i] * sg[j]
                else:
                    c[i, j] = rho ** 2 * sg[i] * sg[j]
        return c[:, :, None, None] / d * np.eye(d)

    def _pack(self):
        d, n = self.d, self.n_aux
        inst = self.instance()
        tdata = np.concatenate([inst.H.ravel(), inst.X.ravel(), self.sigmas, inst.x0,
                                [self.noise_rho]])
        oX = (n + 1) * d * d
        oS = oX + (n + 1) * d
        oX0 = oS + n + 1
        oR = oX0 + d
        tmeta = np.array([d, n, d * d + d + 2, int(bool(self.aggregate_noise)), oX, oS, oX0,
                          oR], dtype=np.int64)
        return tdata, tmeta

    def constants(self, weights=None) -> dict:
        """Exact constants of the instance.

        Keys: ``L``, ``mu`` (of ``f_0``), ``L_tasks``, ``mu_tasks`` (extreme eigenvalues of
        each ``A_i``), ``d``, ``N``, ``sigma`` (per task), ``rho``, ``zeta`` (per auxiliary
        task: the bias at ``x_0*``), ``zeta_ball`` (its supremum over the ball
        ``||x - x_0*|| <= radius``), ``radius``, ``delta`` (per auxiliary task) and
        ``delta_op`` (``||A_i - A_0||_op`` computed), ``F0``, ``f0_star = 0``, ``x0_dist_sq``.
        With ``weights``: ``zeta_bar = ||b_alpha(x_0*)||``, ``zeta_bar_ball`` (exact
        ``sup ||b_alpha(x)||`` over the ball, see :func:`sup_norm_on_ball`),
        ``zeta_bar_ball_triangle = ||D_alpha|| R + zeta_bar`` (the simple bound),
        ``delta_alpha = sum alpha_i delta_i``, ``delta_alpha_op = ||sum alpha_i (A_i - A_0)||``,
        ``sigma_alpha_sq = E||sum alpha_i xi_i||^2`` and ``sigma_b_sq = E||xi_0 - sum alpha_i
        xi_i||^2`` (the variance of BC's one-sample bias estimate, spec 4.6, with correlations).
        """
        lam = self.eigenvalues
        out = dict(L=float(lam.max()), mu=float(lam.min()), d=self.d, N=self.n_aux,
                   sigma=self.sigmas.copy(), rho=self.noise_rho, f0_star=0.0)
        a = None if weights is None else resolve_weights(weights, self.n_aux + 1)
        self._bias_constants(out, a)
        if a is not None:
            C = self.noise_covariances()
            tr = np.trace(C, axis1=2, axis2=3)
            out["sigma_alpha_sq"] = float(a @ tr @ a)
            c = -a.copy()
            c[0] += 1.0
            out["sigma_b_sq"] = float(c @ tr @ c)
        return out

    def quadratic_blocks(self):
        """The instance as one dense block for :mod:`simlab.collab.moments` (spec 8.2).

        Returns
        -------
        H : ndarray, shape (N+1, 1, d, d)
        X : ndarray, shape (N+1, 1, d)
        x0 : ndarray, shape (1, d)
        C : ndarray, shape (N+1, N+1, 1, d, d)
            Noise cross-covariances ``E[xi_i xi_j^T]``.
        """
        inst = self.instance()
        return (inst.H[:, None].copy(), inst.X[:, None].copy(), inst.x0[None].copy(),
                self.noise_covariances()[:, :, None])


@dataclass(frozen=True)
class CorrelatedNoiseQuadratics(HessianPerturbedQuadratics):
    """Family E (spec 8.1(E), TMLR follow-up): family B with noise correlated with task 0's.

    ``xi_0 = (sigma_0/sqrt(d)) z_0``; ``xi_i = (sigma_i/sqrt(d)) (rho z_0 + sqrt(1-rho^2) z_i)``
    for ``i >= 1``, on the same sample. Parameters are those of
    :class:`HessianPerturbedQuadratics` plus:

    Parameters
    ----------
    rho : float
        Correlation in ``[0, 1]`` of each auxiliary noise with task 0's (coordinate-wise);
        auxiliary noises are correlated with each other by ``rho^2``.

    Notes
    -----
    ``sample_grad(i)`` for ``i >= 1`` alone has the right marginal law but draws its own
    ``z_0``; the correlation with ``g_0`` is carried by ``sample_split`` (one sample for all
    tasks), which is what the methods use.
    """

    rho: float = 0.5
    family = "E"

    def _validate_rho(self) -> None:
        check_float("rho", self.rho, 0.0, 1.0)

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks (both ways of drawing the noise)."""
        e = cls(d=3, n_aux=2, zeta=0.3, delta=0.05, rho=0.6, seed=5)
        return [e, replace(e, aggregate_noise=False)]

    @property
    def noise_rho(self) -> float:
        """``rho``."""
        return float(self.rho)


# -- ops (plain Python; composed and compiled by simlab.engine.kernel) -----------------------
# tdata = [A (N+1, d, d) | x* (N+1, d) | sigma (N+1) | x_0 (d) | rho]
# tmeta = [d, N, P, aggregate, off x*, off sigma, off x_0, off rho]
# prep  = [sum_{i>=1} alpha_i A_i (d, d) | sum_{i>=1} alpha_i A_i x_i* (d) | c_corr | c_ind]

def hpq_row(tdata, h, xo, x, d):
    acc = 0.0
    for j in range(d):
        acc += tdata[h + j] * (x[j] - tdata[xo + j])
    return acc

def init_x(tdata, tmeta, x):
    d = tmeta[0]
    off = tmeta[6]
    for k in range(d):
        x[k] = tdata[off + k]

def grad_norm_sq0(tdata, tmeta, x):
    d = tmeta[0]
    ox = tmeta[4]
    acc = 0.0
    for k in range(d):
        g = hpq_row(tdata, k * d, ox, x, d)
        acc += g * g
    return acc

def metrics(tdata, tmeta, x, row):
    d = tmeta[0]
    ox = tmeta[4]
    gn = 0.0
    f = 0.0
    dist = 0.0
    for k in range(d):
        e = x[k] - tdata[ox + k]
        g = hpq_row(tdata, k * d, ox, x, d)
        gn += g * g
        f += 0.5 * g * e
        dist += e * e
    row[0] = gn
    row[1] = f
    row[2] = dist

def prepare(tdata, tmeta, alpha, prep):
    d = tmeta[0]
    n = tmeta[1]
    ox = tmeta[4]
    osig = tmeta[5]
    dd = d * d
    for k in range(dd + d):
        prep[k] = 0.0
    ssum = 0.0
    qsum = 0.0
    for i in range(1, n + 1):
        ai = alpha[i]
        if ai == 0.0:
            continue
        si = tdata[osig + i]
        ssum += ai * si
        qsum += ai * ai * si * si
        h = i * dd
        for k in range(d):
            acc = 0.0
            for j in range(d):
                hkj = tdata[h + k * d + j]
                prep[k * d + j] += ai * hkj
                acc += hkj * tdata[ox + i * d + j]
            prep[dd + k] += ai * acc
    rho = tdata[tmeta[7]]
    prep[dd + d] = rho * ssum / math.sqrt(d)
    prep[dd + d + 1] = math.sqrt((1.0 - rho * rho) * qsum / d)

def sample_grad(tdata, tmeta, i, x, streams, out):
    d = tmeta[0]
    h = i * d * d
    xo = tmeta[4] + i * d
    sc = tdata[tmeta[5] + i] / math.sqrt(d)
    rho = tdata[tmeta[7]]
    if sc > 0.0:
        si = streams[i]
        if i == 0 or rho == 0.0:
            for k in range(d):
                out[k] = hpq_row(tdata, h + k * d, xo, x, d) + sc * normal(si)
        else:
            s0 = streams[0]
            c = math.sqrt(1.0 - rho * rho)
            for k in range(d):
                z = rho * normal(s0) + c * normal(si)
                out[k] = hpq_row(tdata, h + k * d, xo, x, d) + sc * z
    else:
        for k in range(d):
            out[k] = hpq_row(tdata, h + k * d, xo, x, d)

def sample_split(tdata, tmeta, alpha, x, streams, prep, g0, aux):
    d = tmeta[0]
    n = tmeta[1]
    dd = d * d
    ox = tmeta[4]
    osig = tmeta[5]
    s0 = streams[0]
    sq = math.sqrt(d)
    sc0 = tdata[osig] / sq
    rho = tdata[tmeta[7]]
    if tmeta[3] != 0:
        cc = prep[dd + d]
        ci = prep[dd + d + 1]
        sa = streams[n + 1]
        for k in range(d):
            z0 = 0.0
            if sc0 > 0.0 or cc != 0.0:
                z0 = normal(s0)
            g0[k] = hpq_row(tdata, k * d, ox, x, d) + sc0 * z0
            acc = -prep[dd + k]
            for j in range(d):
                acc += prep[k * d + j] * x[j]
            if ci > 0.0:
                acc += ci * normal(sa)
            aux[k] = acc + cc * z0
    else:
        c = math.sqrt(1.0 - rho * rho)
        for k in range(d):
            z0 = 0.0
            if sc0 > 0.0 or rho != 0.0:
                z0 = normal(s0)
            g0[k] = hpq_row(tdata, k * d, ox, x, d) + sc0 * z0
            acc = 0.0
            for i in range(1, n + 1):
                ai = alpha[i]
                if ai == 0.0:
                    continue
                gi = hpq_row(tdata, i * dd + k * d, ox + i * d, x, d)
                sci = tdata[osig + i] / sq
                if sci > 0.0:
                    gi += sci * (rho * z0 + c * normal(streams[i]))
                acc += ai * gi
            aux[k] = acc


HessianPerturbedQuadratics.ops = family_ops(
    (hpq_row, init_x, grad_norm_sq0, metrics, prepare, sample_grad, sample_split), init_x,
    metrics, grad_norm_sq0)
