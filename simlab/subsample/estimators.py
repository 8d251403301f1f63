"""Horvitz-Thompson estimators, their variance and the variance ratio of spec 2.6.

[R] reconstruction (spec 1.2, 2.3, 2.6, 3): with ``(indices, weights)`` from a design of
:mod:`simlab.subsample.designs`,

* :func:`ht_total` / :func:`ht_mean`: ``L_hat = sum_{i in S} w_i v_i`` (and ``/ n``), unbiased
  for ``sum(v)`` (P1) for per-instance scalars (losses) or vectors (gradients);
* :func:`self_normalised_mean`: ``sum w_i v_i / sum w_i``, lower variance but biased (spec
  2.3); :func:`self_normalised_bias` measures that bias by Monte Carlo;
* :func:`poisson_variance`: ``sum_i ||v_i||^2 (1/p_i - 1)``, the exact variance (trace of the
  covariance for vectors) of the Poisson-design total (P2), i.e. the objective (P-loss) /
  (P-grad) that water-filling minimises (P3);
* :func:`variance_ratio`: the closed form ``(n_eff - k) / (n - k)`` of the water-filled loss
  estimator's variance over uniform's when no loss is capped (P4), with
  :func:`effective_sample_size` ``n_eff = (sum l)^2 / sum l^2``.

The P-numbers are this spec's testable statements, not the paper's (its theorems are
UNVERIFIED, spec 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from simlab.subsample.designs import Sample, _check_generator
from simlab.subsample.probabilities import _as_losses, _as_probabilities, _check_budget

__all__ = [
    "BiasEstimate",
    "effective_sample_size",
    "ht_mean",
    "ht_total",
    "poisson_variance",
    "self_normalised_bias",
    "self_normalised_mean",
    "variance_ratio",
]


def _values(values: ArrayLike) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim not in (1, 2) or v.shape[0] == 0:
        raise ValueError(f"values must have shape (n,) or (n, d) with n >= 1, got {v.shape}")
    return v


def _selected(values: ArrayLike, indices: ArrayLike | None,
              weights: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The values of the selected instances and their weights, checked."""
    v = _values(values)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"weights must be 1-D, got shape {w.shape}")
    if indices is None:
        if v.shape[0] != w.size:
            raise ValueError(f"without indices, values must hold the {w.size} selected "
                             f"instances, got {v.shape[0]}")
        return v, w
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.size != w.size or (idx.size and idx.dtype.kind not in "iu"):
        raise ValueError(f"indices must be a 1-D integer array of the length of weights "
                         f"({w.size}), got shape {idx.shape} and dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= v.shape[0]):
        raise ValueError(f"indices must be in [0, {v.shape[0]}) (the window), got "
                         f"[{idx.min()}, {idx.max()}]")
    return v[idx], w


def ht_total(values: ArrayLike, indices: ArrayLike | None,
             weights: ArrayLike) -> float | np.ndarray:
    """Horvitz-Thompson estimate ``sum_j weights[j] * values[indices[j]]`` of ``sum(values)``.

    [R] reconstruction (spec 1.2: ``L_hat = sum_i s_i w_i l_i``, ``G_hat = sum_i s_i w_i g_i``).

    Parameters
    ----------
    values : array_like, shape (n,) or (n, d)
        Per-instance values of the whole window (losses, or gradients as rows); with
        ``indices=None``, the values of the selected instances only, aligned with ``weights``.
    indices : array_like of int, shape (m,), or None
        Selected instances (a :class:`~simlab.subsample.designs.Sample`'s ``indices``).
    weights : array_like, shape (m,)
        Their weights (``1 / p_i`` for a design with inclusion probabilities ``p``).

    Returns
    -------
    float or ndarray, shape (d,)
        Unbiased for ``sum(values)`` when every instance with a non-zero value can be drawn
        (P1). An empty sample gives 0.
    """
    v, w = _selected(values, indices, weights)
    total = np.tensordot(w, v, axes=(0, 0))
    return float(total) if v.ndim == 1 else total


def ht_mean(values: ArrayLike, indices: ArrayLike | None, weights: ArrayLike,
            n: int | None = None) -> float | np.ndarray:
    """Horvitz-Thompson estimate of the window mean: :func:`ht_total` divided by ``n``.

    [R] reconstruction (spec 2.3: "divide by n, not by the sum of the weights").

    Parameters
    ----------
    values, indices, weights
        As :func:`ht_total`.
    n : int, optional
        Window size; defaults to ``len(values)``, and is required with ``indices=None``.
    """
    if n is None:
        if indices is None:
            raise ValueError("n (the window size) is required when indices is None")
        n = np.asarray(values).shape[0]
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return ht_total(values, indices, weights) / int(n)


def self_normalised_mean(values: ArrayLike, indices: ArrayLike | None,
                         weights: ArrayLike) -> float | np.ndarray:
    """Self-normalised (Hajek) estimate of the mean: ``sum w_i v_i / sum w_i``.

    [R] reconstruction (spec 2.3): lower variance than :func:`ht_mean` but biased (the ratio
    of two unbiased estimates); exact for constant values. Measure its bias with
    :func:`self_normalised_bias`.

    Raises
    ------
    ValueError
        On an empty sample (the estimate is 0/0) and on the errors of :func:`ht_total`.
    """
    v, w = _selected(values, indices, weights)
    if w.size == 0:
        raise ValueError("the sample is empty: the self-normalised mean is 0/0, undefined")
    est = np.tensordot(w, v, axes=(0, 0)) / w.sum()
    return float(est) if v.ndim == 1 else est


def poisson_variance(values: ArrayLike, p: ArrayLike) -> float:
    """Exact variance of the Poisson-design HT total: ``sum_i ||v_i||^2 (1/p_i - 1)`` (P2).

    [R] reconstruction (spec 2.1, P2): ``Var(L_hat)`` for scalar values, ``tr Cov(G_hat)`` for
    vector values (rows); it is also the objective (P-loss) / (P-grad) of water-filling.

    Parameters
    ----------
    values : array_like, shape (n,) or (n, d)
    p : array_like, shape (n,)
        Inclusion probabilities in ``[0, 1]``.

    Returns
    -------
    float
        ``inf`` when some ``p_i = 0`` has ``v_i != 0`` (that instance is never drawn: the
        estimate is biased and the formula diverges); an instance with ``p_i = v_i = 0``
        contributes 0.
    """
    v = _values(values)
    pa = _as_probabilities("p", p)
    if pa.size != v.shape[0]:
        raise ValueError(f"p must have the length of values ({v.shape[0]}), got {pa.size}")
    sq = v * v if v.ndim == 1 else np.einsum("ij,ij->i", v, v)
    drawn = pa > 0
    if np.any(sq[~drawn] > 0):
        return math.inf
    return float(np.sum(sq[drawn] * (1.0 / pa[drawn] - 1.0)))


def effective_sample_size(losses: ArrayLike) -> float:
    """``n_eff = (sum l)^2 / sum l^2``, between 1 and ``n`` (``n`` iff all losses are equal).

    [R] reconstruction (spec 2.6).

    Raises
    ------
    ValueError
        If the losses are not finite and ``>= 0`` or are all 0.
    """
    l = _as_losses("losses", losses)
    s2 = float(np.dot(l, l))
    if s2 == 0:
        raise ValueError("losses must not all be 0 (n_eff = 0/0)")
    return float(l.sum()) ** 2 / s2


def variance_ratio(losses: ArrayLike, k: float) -> float:
    """Closed form ``(n_eff - k) / (n - k)`` of ``Var_loss-prop / Var_uniform`` (P4).

    [R] reconstruction (spec 2.6, P4): the ratio of :func:`poisson_variance` of ``losses``
    under water-filling (here ``p = k l / sum l``) to that under uniform ``p = k / n``, for
    the loss estimator with fresh losses. It is ``<= 1``, with equality iff all losses are
    equal (Cauchy-Schwarz). It holds when no loss is capped; with capping, water-filling is at
    least as good (it is the optimum of (P-loss)) but the closed form no longer applies.

    Parameters
    ----------
    losses : array_like, shape (n,)
        Finite, ``>= 0``, not all 0.
    k : float
        Budget in ``(0, n)``.

    Raises
    ------
    ValueError
        If ``k`` is not in ``(0, n)``, or some loss would be capped (``k * max(l) > sum(l)``),
        where the closed form does not hold.
    """
    l = _as_losses("losses", losses)
    n = l.size
    kf = _check_budget(k, n, upper_open=True)
    total = float(l.sum())
    if total == 0:
        raise ValueError("losses must not all be 0 (n_eff = 0/0)")
    if kf * float(l.max()) > total:
        raise ValueError(f"the closed form needs no capping, k * max(l) <= sum(l); got "
                         f"k * max(l) = {kf * float(l.max()):g} > sum(l) = {total:g}")
    return (effective_sample_size(l) - kf) / (n - kf)


class BiasEstimate(NamedTuple):
    """Monte Carlo estimate of an estimator's bias (:func:`self_normalised_bias`).

    Attributes
    ----------
    bias : float or ndarray
        Mean of ``estimate - truth`` over the non-empty draws.
    standard_error : float or ndarray
        Its Monte Carlo standard error.
    n_draws : int
        Draws used (non-empty samples).
    n_empty : int
        Empty samples skipped (Poisson design only; the estimate is 0/0 there).
    """

    bias: float | np.ndarray
    standard_error: float | np.ndarray
    n_draws: int
    n_empty: int


def self_normalised_bias(values: ArrayLike, p: ArrayLike,
                         design: Callable[[np.ndarray, np.random.Generator], Sample],
                         rng: np.random.Generator, n_draws: int = 10_000) -> BiasEstimate:
    """Bias of :func:`self_normalised_mean` against ``mean(values)``, by Monte Carlo.

    [R] reconstruction (spec 2.3: "if you use it, test the bias explicitly").

    Parameters
    ----------
    values : array_like, shape (n,) or (n, d)
        Per-instance values of the window.
    p : array_like, shape (n,)
        Inclusion probabilities given to ``design``.
    design : callable
        ``design(p, rng) -> Sample``, e.g. :func:`~simlab.subsample.designs.poisson`.
    rng : numpy.random.Generator
    n_draws : int, default 10000
        Number of samples drawn, ``>= 2``.

    Returns
    -------
    BiasEstimate
        Bias is conditional on a non-empty sample (empty ones are counted and skipped).

    Raises
    ------
    ValueError
        If ``n_draws < 2``, ``p`` is not in ``[0, 1]`` or its length differs from ``values``'.
    """
    v = _values(values)
    pa = _as_probabilities("p", p)
    if pa.size != v.shape[0]:
        raise ValueError(f"p must have the length of values ({v.shape[0]}), got {pa.size}")
    if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 2:
        raise ValueError(f"n_draws must be an integer >= 2, got {n_draws!r}")
    _check_generator(rng)
    truth = v.mean(axis=0)
    errs = []
    empty = 0
    for _ in range(int(n_draws)):
        idx, w = design(pa, rng)
        if len(idx) == 0:
            empty += 1
            continue
        errs.append(self_normalised_mean(v, idx, w) - truth)
    if len(errs) < 2:
        raise ValueError(f"only {len(errs)} of {n_draws} samples were non-empty; raise p or "
                         "n_draws")
    e = np.asarray(errs)
    bias = e.mean(axis=0)
    se = e.std(axis=0, ddof=1) / math.sqrt(e.shape[0])
    if v.ndim == 1:
        return BiasEstimate(float(bias), float(se), e.shape[0], empty)
    return BiasEstimate(bias, se, e.shape[0], empty)
