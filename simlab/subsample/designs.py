"""Sampling designs that realise given inclusion probabilities (spec 2.5).

[R] reconstruction (spec 2.3, 2.5): the reference training loop draws ``s_i ~ Bernoulli(p_i)``
independently (Poisson sampling), or uses a fixed-size design that keeps the first-order
inclusion probabilities ``p`` (and therefore Horvitz-Thompson unbiasedness) for fixed-shape
GPU batches. Which design the paper uses is UNVERIFIED.

Every design takes the probabilities ``p`` (e.g. from
:func:`~simlab.subsample.probabilities.waterfill`) and a :class:`numpy.random.Generator`, and
returns a :class:`Sample`: the selected indices and their importance weights, such that
``sum_j weights[j] * v[indices[j]]`` is an unbiased estimate of ``sum_i v_i``
(:func:`~simlab.subsample.estimators.ht_total`). Each design documents its exact inclusion
probabilities:

==========================  ==============================  ===========================
design                      first-order inclusion of ``i``  sample size
==========================  ==============================  ===========================
:func:`poisson`             ``p_i``                         random, mean ``sum(p)``
:func:`systematic`          ``p_i``                         exactly ``k = sum(p)``
:func:`conditional_poisson` ``p_i`` (adjusted, default)     exactly ``k``
:func:`with_replacement`    ``1 - (1 - p_i / k)^k``         exactly ``k`` draws
==========================  ==============================  ===========================

(with replacement, ``p_i`` is the expected number of times ``i`` is drawn).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from simlab.subsample.probabilities import _as_probabilities

__all__ = [
    "ConditionalPoisson",
    "Sample",
    "conditional_poisson",
    "conditional_poisson_inclusion",
    "poisson",
    "systematic",
    "with_replacement",
]

#: How far ``sum(p)`` may be from an integer for the designs that draw exactly ``k``.
SUM_ATOL = 1e-6


class Sample(NamedTuple):
    """A drawn sample: indices into the window and their importance weights.

    Attributes
    ----------
    indices : ndarray of int64, shape (m,)
        Selected instances (with repetitions for :func:`with_replacement`).
    weights : ndarray of float64, shape (m,)
        Importance weights: ``sum(weights * v[indices])`` estimates ``sum(v)``.
    """

    indices: np.ndarray
    weights: np.ndarray


def _check_generator(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def _integral_sum(name: str, p: np.ndarray) -> int:
    """``round(sum(p))`` after checking ``sum(p)`` is a positive integer to ``SUM_ATOL``."""
    s = float(p.sum())
    k = round(s)
    if k < 1 or abs(s - k) > SUM_ATOL:
        raise ValueError(f"{name} must sum to a positive integer k (to {SUM_ATOL:g}) for a "
                         f"fixed-size design, got sum({name}) = {s!r}")
    return int(k)


# --------------------------------------------------------------------------- Poisson

def poisson(p: ArrayLike, rng: np.random.Generator) -> Sample:
    """Poisson sampling: include each ``i`` independently with probability ``p_i``.

    [R] reconstruction (spec 2.3): the design of the reference loop.

    Parameters
    ----------
    p : array_like, shape (n,)
        Inclusion probabilities in ``[0, 1]``.
    rng : numpy.random.Generator

    Returns
    -------
    Sample
        Weights ``1 / p_i``.

    Notes
    -----
    Exact inclusion probabilities: ``pi_i = p_i``, ``pi_ij = p_i p_j`` (``i != j``). The
    sample size is Poisson-binomial with mean ``sum(p)``; it may be 0. Instances with
    ``p_i = 0`` are never drawn.
    """
    pa = _as_probabilities("p", p)
    _check_generator(rng)
    idx = np.flatnonzero(rng.random(pa.size) < pa)
    return Sample(idx, 1.0 / pa[idx])


# --------------------------------------------------------------------------- systematic

def systematic(p: ArrayLike, rng: np.random.Generator, shuffle: bool = False) -> Sample:
    """Systematic sampling: one uniform ``u``, the points ``u, u+1, ..., u+k-1`` on ``cumsum(p)``.

    [R] reconstruction (spec 2.5).

    Parameters
    ----------
    p : array_like, shape (n,)
        Inclusion probabilities in ``[0, 1]`` whose sum is an integer ``k``.
    rng : numpy.random.Generator
    shuffle : bool, default False
        Visit the instances in a random order (randomised systematic sampling), so that no
        pair has a zero joint inclusion probability because of the window's order.

    Returns
    -------
    Sample
        Exactly ``k`` distinct indices (sorted unless ``shuffle``), weights ``1 / p_i``.

    Notes
    -----
    Exact inclusion probabilities: instance ``i`` owns the interval ``[C_{i-1}, C_i)`` of length
    ``p_i <= 1`` of the cumulative sums ``C``; exactly one point of ``u + Z`` falls in it with
    probability ``p_i``, so ``pi_i = p_i``. The joint probabilities depend on the order; without
    ``shuffle`` some are 0 (no unbiased variance estimator exists then).
    """
    pa = _as_probabilities("p", p)
    k = _integral_sum("p", pa)
    _check_generator(rng)
    order = rng.permutation(pa.size) if shuffle else None
    q = pa[order] if shuffle else pa
    u = rng.random()
    idx = _systematic_indices(q, k, u)
    if shuffle:
        idx = order[idx]
    return Sample(idx, 1.0 / pa[idx])


def _systematic_indices(p: np.ndarray, k: int, u: float) -> np.ndarray:
    """Units whose interval ``[C_{i-1}, C_i)`` holds one of ``u, u+1, ..., u+k-1``.

    Only units with ``p_i > 0`` take part. Rounding can put a point on the wrong side of a
    boundary when ``u`` or a cumulative sum lies within a few ulps of it (a set of ``u`` of
    measure ~1e-16); the indices are then repaired to stay ``k`` distinct positive-``p``
    units, so that a weight ``1 / p_i`` is always finite.
    """
    units = np.flatnonzero(p > 0)
    c = np.cumsum(p[units])
    c *= k / c[-1]  # total exactly k
    c[-1] = k
    j = np.arange(k)
    pos = np.searchsorted(c, u + j, side="right")
    # clamp into [j, m - k + j], then make strictly increasing (a rounding repair only)
    pos = np.clip(pos, j, units.size - k + j)
    pos = np.maximum.accumulate(pos - j) + j
    return units[pos]


# --------------------------------------------------------------------------- conditional Poisson

def conditional_poisson(p: ArrayLike, rng: np.random.Generator, adjust: bool = True) -> Sample:
    """Conditional Poisson sampling: Poisson sampling conditioned on exactly ``k`` draws.

    [R] reconstruction (spec 2.5). A one-shot convenience for
    ``ConditionalPoisson(p, adjust).draw(rng)``; build the :class:`ConditionalPoisson` once to
    draw many samples from the same ``p``.

    Parameters
    ----------
    p : array_like, shape (n,)
        Target inclusion probabilities in ``[0, 1]`` whose sum is an integer ``k``.
    rng : numpy.random.Generator
    adjust : bool, default True
        Fit the working probabilities so that the inclusion probabilities equal ``p``.

    Returns
    -------
    Sample
        ``k`` distinct sorted indices, weights ``1 / pi_i`` (the exact inclusion probabilities;
        ``= 1 / p_i`` when ``adjust``).
    """
    return ConditionalPoisson(p, adjust=adjust).draw(rng)


def conditional_poisson_inclusion(working: ArrayLike, k: int) -> np.ndarray:
    """Exact first-order inclusion probabilities of conditional Poisson sampling.

    Bernoulli(``working``) draws conditioned on exactly ``k`` successes give
    ``pi_i = w_i e_{k-1}(w_{-i}) / e_k(w)``, with odds ``w_i = working_i / (1 - working_i)``
    and ``e_r`` the elementary symmetric polynomials. Units with ``working_i = 1`` are always
    drawn and those with ``working_i = 0`` never.

    Parameters
    ----------
    working : array_like, shape (n,)
        Working (Bernoulli) probabilities in ``[0, 1]``.
    k : int
        Sample size, ``#{working == 1} <= k <= #{working > 0}``.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``pi``, summing to ``k``. In general ``pi != working``: conditioning on the size moves
        the probabilities (towards 0 and 1 where the working ones are extreme), and
        ``pi == working`` exactly only when the free working probabilities are all equal.
    """
    wp = _as_probabilities("working", working)
    sure = wp >= 1.0
    free = (wp > 0) & ~sure
    n_sure, n_free = int(sure.sum()), int(free.sum())
    if isinstance(k, bool) or int(k) != k or not n_sure <= k <= n_sure + n_free:
        raise ValueError(f"k must be an integer in [{n_sure}, {n_sure + n_free}] (units with "
                         f"working == 1, and those with working > 0), got {k!r}")
    pi = sure.astype(np.float64)
    kf = int(k) - n_sure
    if kf > 0:
        lw = np.log(wp[free]) - np.log1p(-wp[free])
        pi[free] = _cps_tables(lw, kf)[1]
    return pi


def _cps_tables(log_odds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(logE, pi)`` of conditional Poisson sampling with the given log-odds and size ``k``.

    ``logE[i, r] = log e_r(w_i, ..., w_{m-1})`` (``-inf`` where impossible), built backwards in
    O(m k). The sequential (draw-by-draw) probability of taking unit ``i`` with ``r`` still to
    draw is ``w_i e_{r-1}(suffix_{i+1}) / e_r(suffix_i)``; pushing the distribution of ``r``
    forward through the units gives ``pi`` with no subtraction, hence stably.
    """
    m = log_odds.size
    log_e = np.full((m + 1, k + 1), -np.inf)
    log_e[m, 0] = 0.0
    for i in range(m - 1, -1, -1):
        log_e[i, 0] = 0.0
        log_e[i, 1:] = np.logaddexp(log_e[i + 1, 1:], log_odds[i] + log_e[i + 1, :-1])
    pi = np.empty(m)
    mass = np.zeros(k + 1)  # distribution of the number still to draw
    mass[k] = 1.0
    r = np.arange(1, k + 1)
    for i in range(m):
        take = np.zeros(k + 1)
        with np.errstate(invalid="ignore"):
            t = np.exp(log_odds[i] + log_e[i + 1, r - 1] - log_e[i, r])
        take[1:] = np.where(np.isfinite(t), t, 0.0)
        moved = mass * take
        pi[i] = moved.sum()
        mass = mass - moved
        mass[:-1] += moved[1:]
    return log_e, pi


def _fit_log_odds(lw: np.ndarray, log_e: np.ndarray, pi: np.ndarray, target: np.ndarray,
                  k: int, tol: float, max_iter: int):
    """Working log-odds whose CPS inclusion probabilities are ``target``.

    Damped Jacobi (Newton with the diagonal of the Hessian) steps on the convex
    ``log e_k(exp lw) - lw . target``: ``lw += theta (logit target - logit pi)``. In these
    coordinates the Jacobian ``diag(pi (1 - pi))^-1 Cov(s)`` has its spectrum in ``[0, 2]``
    (CPS has non-positive covariances and ``Cov(s) 1 = 0``: Gershgorin), so ``theta = 1``
    converges except along eigenvalues near 2 (e.g. ``n = 2``), where ``theta = 2/3``
    contracts by 1/3; the smaller step is taken whenever the full one does not halve the error.
    """
    logit_t = np.log(target) - np.log1p(-target)
    err = float(np.max(np.abs(pi - target)))
    it = 0
    while err > tol:
        if it >= max_iter:
            raise RuntimeError(f"conditional Poisson adjustment did not reach tol = {tol:g} in "
                               f"{max_iter} iterations (max |pi - p| = {err:.3g})")
        pic = np.clip(pi, 1e-300, 1 - 1e-16)
        step = logit_t - (np.log(pic) - np.log1p(-pic))
        best = None
        for theta in (1.0, 2.0 / 3.0):
            cand = lw + theta * step
            cand -= cand.mean()  # the design ignores a common shift of the log-odds
            le, pc = _cps_tables(cand, k)
            e = float(np.max(np.abs(pc - target)))
            if best is None or e < best[3]:
                best = (cand, le, pc, e)
            if e <= 0.5 * err:
                break
        lw, log_e, pi, err = best
        it += 1
    return lw, log_e, pi, it


def _size_shift(log_odds: np.ndarray, k: int) -> float:
    """The shift ``s`` with ``sum(sigmoid(log_odds + s)) == k`` (``0 < k < len``)."""
    from scipy.optimize import brentq

    def excess(s: float) -> float:
        return float(np.sum(0.5 * (1.0 + np.tanh(0.5 * (log_odds + s))))) - k

    lo = -float(log_odds.max()) - 50.0
    hi = -float(log_odds.min()) + 50.0
    return float(brentq(excess, lo, hi, xtol=1e-14))


class ConditionalPoisson:
    """Conditional Poisson sampling (CPS) prepared for one ``p``: fit once, draw many.

    [R] reconstruction (spec 2.5). CPS of size ``k`` with working probabilities ``q`` draws
    ``S`` with ``P(S) ∝ prod_{i in S} q_i / (1 - q_i)`` over the subsets of size ``k``
    (Hajek 1964): Poisson(``q``) sampling conditioned on ``|S| = k``. Its first-order
    inclusion probabilities :func:`conditional_poisson_inclusion` are **not** ``q``.

    * ``adjust=True`` (default): the working log-odds are fitted by the fixed-point iteration
      ``logit q <- logit q + logit p - logit pi(q)`` (Chen, Dempster & Liu 1994 use the
      additive form) until ``max |pi - p| <= tol``; then ``pi = p`` and the weights are
      ``1 / p``. A common shift of the log-odds leaves the design unchanged; it is chosen so
      that ``sum(q) = k``, which keeps the rejection method efficient.
    * ``adjust=False``: ``q = p``; the inclusion probabilities are ``pi(p) != p`` (computed
      exactly, :attr:`inclusion`), and the weights are ``1 / pi`` so that the
      Horvitz-Thompson estimate stays unbiased, but the design is then not the water-filled
      one.

    Units with ``p_i = 1`` are always drawn and those with ``p_i = 0`` never; CPS runs on the
    others. Drawing is sequential and exact (probability ``w_i e_{r-1}(suffix) / e_r(suffix)``
    for unit ``i`` with ``r`` left), or by rejection (Poisson(``q``) draws until one has size
    ``k``). Memory and preparation are O(n k).

    Parameters
    ----------
    p : array_like, shape (n,)
        Target inclusion probabilities in ``[0, 1]`` whose sum is an integer ``k``.
    adjust : bool, default True
    tol : float, default 1e-12
        Tolerance on ``max |pi - p|`` of the adjustment.
    max_iter : int, default 500

    Attributes
    ----------
    k : int
    working : ndarray, shape (n,)
        Working probabilities ``q``.
    inclusion : ndarray, shape (n,)
        Exact first-order inclusion probabilities ``pi`` of the design.
    iterations : int
        Adjustment iterations used (0 without ``adjust``).

    Raises
    ------
    ValueError
        If ``p`` is not in ``[0, 1]`` or does not sum to an integer.
    RuntimeError
        If the adjustment does not reach ``tol`` in ``max_iter`` iterations.
    """

    def __init__(self, p: ArrayLike, adjust: bool = True, tol: float = 1e-12,
                 max_iter: int = 500) -> None:
        pa = _as_probabilities("p", p)
        self.k = _integral_sum("p", pa)
        if not (math.isfinite(tol) and tol > 0):
            raise ValueError(f"tol must be > 0, got {tol!r}")
        if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        self.target = pa
        self._sure = pa >= 1.0
        self._free = np.flatnonzero((pa > 0) & ~self._sure)
        self._k_free = self.k - int(self._sure.sum())
        pf = pa[self._free]
        lw = np.log(pf) - np.log1p(-pf)
        self.iterations = 0
        if self._k_free > 0:
            log_e, pi = _cps_tables(lw, self._k_free)
            if adjust:
                lw, log_e, pi, self.iterations = _fit_log_odds(lw, log_e, pi, pf,
                                                               self._k_free, tol, max_iter)
                # the same design, shifted so that sum(working) = k: rejection stays efficient
                shift = _size_shift(lw, self._k_free)
                lw = lw + shift
                log_e += shift * np.arange(self._k_free + 1)  # e_r scales by exp(shift r)
            self._log_e = log_e
        else:
            pi = np.zeros(0)
        self._log_odds = lw
        working = self._sure.astype(np.float64)
        working[self._free] = 1.0 / (1.0 + np.exp(-lw))
        self.working = working
        inclusion = self._sure.astype(np.float64)
        inclusion[self._free] = pi
        self.inclusion = inclusion
        self._weights = np.zeros(pa.size)
        drawn = inclusion > 0
        self._weights[drawn] = 1.0 / inclusion[drawn]

    def draw(self, rng: np.random.Generator, method: str = "sequential") -> Sample:
        """Draw one sample of exactly ``k`` distinct (sorted) indices.

        Parameters
        ----------
        rng : numpy.random.Generator
        method : {"sequential", "rejection"}
            Both are exact; rejection repeats Poisson(``working``) draws until one has size
            ``k`` (expected tries ``1 / P(|S| = k)``).

        Returns
        -------
        Sample
            Weights ``1 / inclusion``.
        """
        _check_generator(rng)
        if method not in ("sequential", "rejection"):
            raise ValueError(f"method must be 'sequential' or 'rejection', got {method!r}")
        sure = np.flatnonzero(self._sure)
        if self._k_free == 0:
            chosen = np.zeros(0, dtype=np.int64)
        elif method == "sequential":
            chosen = self._free[self._sequential(rng)]
        else:
            q = self.working[self._free]
            while True:
                hit = np.flatnonzero(rng.random(q.size) < q)
                if hit.size == self._k_free:
                    break
            chosen = self._free[hit]
        idx = np.sort(np.concatenate((sure, chosen)))
        return Sample(idx, self._weights[idx])

    def _sequential(self, rng: np.random.Generator) -> np.ndarray:
        m, left = self._free.size, self._k_free
        u = rng.random(m)
        out = np.empty(left, dtype=np.int64)
        got = 0
        log_e, lw = self._log_e, self._log_odds
        for i in range(m):
            if left == 0:
                break
            if m - i == left:  # every remaining unit must be taken
                out[got:] = np.arange(i, m)
                got = self._k_free
                break
            if u[i] < math.exp(lw[i] + log_e[i + 1, left - 1] - log_e[i, left]):
                out[got] = i
                got += 1
                left -= 1
        return out[:got]


# --------------------------------------------------------------------------- with replacement

def with_replacement(p: ArrayLike, rng: np.random.Generator) -> Sample:
    """``k`` i.i.d. draws from ``q = p / k`` (Hansen-Hurwitz), ``k = sum(p)``.

    [R] reconstruction (spec 2.5; this is what Katharopoulos & Fleuret do, spec 5.2).

    Parameters
    ----------
    p : array_like, shape (n,)
        Expected numbers of draws, ``>= 0`` and summing to an integer ``k`` (here ``p_i`` may
        exceed 1: with replacement the optimum is ``q ∝ l`` without capping).
    rng : numpy.random.Generator

    Returns
    -------
    Sample
        ``k`` indices (repetitions possible, in draw order), weights ``1 / (k q_i) = 1 / p_i``,
        so that ``sum(weights * v[indices])`` is the Hansen-Hurwitz estimate of ``sum(v)``.

    Notes
    -----
    Exact inclusion probabilities: ``1 - (1 - q_i)^k``; the expected number of draws of ``i``
    is ``k q_i = p_i``, which is what makes the weights unbiased. The variance of the total is
    ``(1/k) sum_i q_i (v_i / q_i - sum(v))^2``.
    """
    pa = _as_probabilities("p", p, upper=np.inf)
    k = _integral_sum("p", pa)
    _check_generator(rng)
    q = pa / pa.sum()
    idx = rng.choice(pa.size, size=k, replace=True, p=q)
    return Sample(idx, 1.0 / (k * q[idx]))
