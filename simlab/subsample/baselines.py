"""Baselines of spec section 5, each a small function over one window.

These are the published or industry methods the simulator compares the [R] reconstruction
against (spec 6.1, methods 2-11). Rules are as the spec states them: Katharopoulos-Fleuret
and Loshchilov-Hutter follow ``idiap/importance-sampling`` (spec 5.2, 5.5), Selective
Backprop the original paper and ``Manuscrit/SelectiveBackPropagation`` (5.3), the negative
downsampling correction is quoted from memory in the spec (5.1), and the Mineiro-Karampatziakis
form is from a secondary summary (5.4); constants marked there as unchecked stay unchecked.

============================================  ===============================  ===========
baseline                                      returns                          weighted
============================================  ===============================  ===========
:func:`uniform_probabilities`                 ``p = k / n``                    ``1/p``
:func:`negative_downsampling`                 ``p`` (1 or ``r``)               ``1/p``
:func:`katharopoulos_fleuret`                 :class:`Sample` (b draws, repl.) yes
:func:`selective_backprop`                    :class:`Sample`                  no
:func:`loss_proportional`                     ``p = clip(lambda l, p_min, 1)`` ``1/p``
:func:`rank_based_selection`                  :class:`Sample` (b draws, repl.) no
:func:`top_k`                                 :class:`Sample`                  no
:func:`gradient_norm_oracle`                  ``p`` (water-filled ``||g||``)   ``1/p``
============================================  ===============================  ===========

Functions returning ``p`` leave the draw to a design of :mod:`simlab.subsample.designs`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from simlab.subsample.designs import Sample, _check_generator
from simlab.subsample.probabilities import (
    _as_losses,
    _check_budget,
    _check_floor,
    _check_unit,
    _waterfill,
)

__all__ = [
    "KFSwitch",
    "LossHistory",
    "calibrate_logit",
    "calibrate_probability",
    "gradient_norm_oracle",
    "katharopoulos_fleuret",
    "kf_tau",
    "kf_threshold",
    "loss_proportional",
    "negative_downsampling",
    "rank_based_probabilities",
    "rank_based_selection",
    "selection_pressure",
    "selective_backprop",
    "selective_backprop_probability",
    "top_k",
    "uniform_probabilities",
]


def _check_positive_int(name: str, value: object, lo: int = 1, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        span = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be an integer {span}, got {v}")
    return v


# --------------------------------------------------------------------------- 5.1 industry

def uniform_probabilities(n: int, k: float) -> np.ndarray:
    """Uniform subsampling (spec 5.1): ``p_i = k / n``, weights ``n / k``.

    Parameters
    ----------
    n : int
        Window size, ``>= 1``.
    k : float
        Budget in ``(0, n]``.
    """
    nn = _check_positive_int("n", n)
    return np.full(nn, _check_budget(k, nn) / nn)


def negative_downsampling(labels: ArrayLike, r: float) -> np.ndarray:
    """Negative downsampling (spec 5.1): keep every positive, each negative with rate ``r``.

    Parameters
    ----------
    labels : array_like of {0, 1}, shape (n,)
    r : float
        Negative keep rate in ``(0, 1]``.

    Returns
    -------
    ndarray, shape (n,)
        Inclusion probabilities (1 for positives, ``r`` for negatives). With weights ``1/p``
        (any design of :mod:`~simlab.subsample.designs`) training stays calibrated; trained
        unweighted, correct the predictions with :func:`calibrate_probability` or
        :func:`calibrate_logit`.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be a non-empty 1-D array of 0s and 1s")
    rr = float(r)
    if not (math.isfinite(rr) and 0 < rr <= 1):
        raise ValueError(f"r (the negative keep rate) must be in (0, 1], got {r!r}")
    return np.where(y == 1, 1.0, rr)


def calibrate_probability(q: ArrayLike, r: float) -> np.ndarray:
    """Undo negative downsampling on a probability: ``q / (q + (1 - q) / r)`` (spec 5.1).

    He et al. 2014's recipe (quoted from memory in the spec): a model trained unweighted on
    negatives kept at rate ``r`` over-predicts the odds by ``1/r``.

    Parameters
    ----------
    q : array_like
        Predicted probabilities of the downsampled model, in ``[0, 1]``.
    r : float
        Negative keep rate in ``(0, 1]``.
    """
    qa = np.asarray(q, dtype=np.float64)
    if not np.all((qa >= 0) & (qa <= 1)):
        raise ValueError("q must be probabilities in [0, 1]")
    rr = float(r)
    if not (math.isfinite(rr) and 0 < rr <= 1):
        raise ValueError(f"r (the negative keep rate) must be in (0, 1], got {r!r}")
    return qa / (qa + (1.0 - qa) / rr)


def calibrate_logit(logit: ArrayLike, r: float) -> np.ndarray:
    """Undo negative downsampling on a logit: ``logit + log r`` (equivalent to
    :func:`calibrate_probability`, spec 5.1)."""
    z = np.asarray(logit, dtype=np.float64)
    rr = float(r)
    if not (math.isfinite(rr) and 0 < rr <= 1):
        raise ValueError(f"r (the negative keep rate) must be in (0, 1], got {r!r}")
    return z + math.log(rr)


# --------------------------------------------------------------------------- 5.2 K-F

def katharopoulos_fleuret(scores: ArrayLike, b: int, rng: np.random.Generator) -> Sample:
    """Katharopoulos & Fleuret (2018) importance sampling of a presampled batch (spec 5.2).

    Of ``B = len(scores)`` uniformly presampled instances, draw ``b`` **with replacement** with
    ``q_i = s_i / sum(s)`` and weight each by ``w_i = (sum(s) / B) / s_i``
    (``BiasedReweightingPolicy(1)``, the unbiased one). Then
    ``(1/b) sum_j w_j g_{i_j}`` is unbiased for the presampled mean gradient ``mean(g)``.

    Parameters
    ----------
    scores : array_like, shape (B,)
        Importance scores (an upper bound of the gradient norm, the loss, ...), ``>= 0`` and
        not all 0; an instance with score 0 is never drawn.
    b : int
        Batch size, ``1 <= b``.
    rng : numpy.random.Generator

    Returns
    -------
    Sample
        ``b`` indices into the presampled batch (in draw order) and their weights; the estimate
        of the mean is ``sum(weights * g[indices]) / b``.
    """
    s = _as_losses("scores", scores)
    bb = _check_positive_int("b", b)
    _check_generator(rng)
    total = float(s.sum())
    if total == 0:
        raise ValueError("scores must not all be 0 (q = s / sum(s) is undefined)")
    idx = rng.choice(s.size, size=bb, replace=True, p=s / total)
    return Sample(idx, (total / s.size) / s[idx])


def kf_tau(scores: ArrayLike) -> float:
    """Katharopoulos-Fleuret's variance-reduction estimate ``tau_new`` (spec 5.2).

    ``g = s / sum(s)``, ``u = 1 / B``, ``tau_new = 1 / sqrt(1 - sum (g - u)^2 / sum g^2)``
    (``VarianceReductionCondition``). It equals ``sqrt(B sum g^2) >= 1``, with 1 exactly for
    equal scores. All-zero scores count as equal (the reference code sets ``g = u``).
    """
    s = _as_losses("scores", scores)
    total = float(s.sum())
    u = 1.0 / s.size
    g = s / total if total > 0 else np.full(s.size, u)
    ratio = float(np.sum((g - u) ** 2) / np.sum(g * g))  # = 1 - 1 / (B sum g^2) < 1
    return 1.0 / math.sqrt(1.0 - ratio)


def kf_threshold(B: int, b: int) -> float:
    """Default switch-on threshold ``tau_th = (B + 3 b) / (3 b)`` ("eq. 29", spec 5.2)."""
    bb = _check_positive_int("b", b)
    BB = _check_positive_int("B", B, lo=bb)
    return (BB + 3.0 * bb) / (3.0 * bb)


class KFSwitch:
    """The switch-on rule of Katharopoulos & Fleuret (spec 5.2): sample uniformly until the EMA
    of :func:`kf_tau` exceeds the threshold.

    ``tau <- momentum * tau + (1 - momentum) * tau_new`` from ``tau = 0`` (as the reference
    code's ``VarianceReductionCondition``); importance sampling is on while ``tau > tau_th``.

    Parameters
    ----------
    B, b : int
        Presample and batch sizes (``B >= b >= 1``), for the default threshold.
    tau_th : float, optional
        Threshold, default :func:`kf_threshold` ``(B, b)``.
    momentum : float, default 0.9
        In ``[0, 1)``.
    """

    def __init__(self, B: int, b: int, tau_th: float | None = None,
                 momentum: float = 0.9) -> None:
        self.tau_th = kf_threshold(B, b) if tau_th is None else float(tau_th)
        if not math.isfinite(self.tau_th):
            raise ValueError(f"tau_th must be finite, got {tau_th!r}")
        m = float(momentum)
        if not (0.0 <= m < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = m
        self.tau = 0.0

    @property
    def active(self) -> bool:
        """Whether importance sampling is on (``tau > tau_th``)."""
        return self.tau > self.tau_th

    def update(self, scores: ArrayLike) -> float:
        """Fold the scores of one presampled batch into the EMA; return the new ``tau``."""
        self.tau = self.momentum * self.tau + (1.0 - self.momentum) * kf_tau(scores)
        return self.tau


# --------------------------------------------------------------------------- 5.3 SB

class LossHistory:
    """Running history ``R`` of the last ``maxlen`` losses, for :func:`selective_backprop`.

    Parameters
    ----------
    maxlen : int
        Capacity (the reference code uses ``batch_size * epoch_length``).
    """

    def __init__(self, maxlen: int) -> None:
        self.maxlen = _check_positive_int("maxlen", maxlen)
        self._values = np.empty(0)

    def __len__(self) -> int:
        return self._values.size

    def extend(self, losses: ArrayLike) -> None:
        """Append losses, dropping the oldest beyond ``maxlen``."""
        l = _as_losses("losses", np.ravel(losses))
        self._values = np.concatenate((self._values, l))[-self.maxlen:]

    @property
    def values(self) -> np.ndarray:
        """The stored losses, oldest first (a copy)."""
        return self._values.copy()


def selective_backprop_probability(losses: ArrayLike, history: ArrayLike,
                                   beta: float) -> np.ndarray:
    """Selective Backprop keep probability ``CDF_R(l)^beta`` (Jiang et al. 2019, spec 5.3).

    ``CDF_R(l) = #{r in R : r <= l} / |R|`` is the empirical percentile of ``l`` in the
    history ``R``. For fresh i.i.d. losses with a continuous law, the expected keep rate is
    ``E[U^beta] = 1 / (beta + 1)`` as ``|R|`` grows (exactly ``mean((j/m)^beta, j = 0..m)``
    for a history of ``m`` independent draws of the same law).

    Parameters
    ----------
    losses : array_like, shape (n,)
    history : array_like, shape (m,)
        Recent losses, ``m >= 1`` (the reference code appends the current batch first).
    beta : float
        Selectivity, ``> 0``.
    """
    l = _as_losses("losses", losses)
    h = _as_losses("history", history)
    bt = float(beta)
    if not (math.isfinite(bt) and bt > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    cdf = np.searchsorted(np.sort(h), l, side="right") / h.size
    return cdf**bt


def selective_backprop(losses: ArrayLike, history: ArrayLike, beta: float,
                       rng: np.random.Generator) -> Sample:
    """Selective Backprop's keep decisions for one window (spec 5.3): unweighted.

    Each instance is kept independently with :func:`selective_backprop_probability`; the
    weights are 1 (no importance weights: the method is biased towards high losses). The
    caller accumulates kept instances into backward batches of size ``b``.

    Returns
    -------
    Sample
        Kept indices (sorted), weights 1.
    """
    prob = selective_backprop_probability(losses, history, beta)
    _check_generator(rng)
    idx = np.flatnonzero(rng.random(prob.size) < prob)
    return Sample(idx, np.ones(idx.size))


# --------------------------------------------------------------------------- 5.4 M-K

def loss_proportional(losses: ArrayLike, lam: float, p_min: float = 0.0) -> np.ndarray:
    """Loss-proportional subsampling, Mineiro & Karampatziakis 2013 (spec 5.4).

    ``p_i = min(1, max(p_min, lambda * l_i))`` with the pilot's losses ``l``; train with
    weights ``1 / p_i``. Structurally the [R] reconstruction: with
    ``lambda = waterfill_level(l, k, p_min)`` it coincides with ``waterfill(l, k, p_min)``.

    Parameters
    ----------
    losses : array_like, shape (n,)
        Pilot-hypothesis losses, finite and ``>= 0``.
    lam : float
        Scale ``lambda >= 0``.
    p_min : float, default 0
        Floor in ``[0, 1]``.
    """
    l = _as_losses("losses", losses)
    lm = float(lam)
    if not (math.isfinite(lm) and lm >= 0):
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
    pm = _check_unit("p_min", p_min)
    return np.minimum(1.0, np.maximum(pm, lm * l))


# --------------------------------------------------------------------------- 5.5 L-H

def selection_pressure(epoch: float, s_e0: float, s_e_end: float, n_epochs: float) -> float:
    """Loshchilov-Hutter's annealed pressure ``s_e0 (s_e_end / s_e0)^(epoch / n_epochs)``."""
    a, b, ne = float(s_e0), float(s_e_end), float(n_epochs)
    if not (a >= 1 and b >= 1 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"s_e0 and s_e_end must be finite and >= 1, got {s_e0!r}, {s_e_end!r}")
    if not (math.isfinite(ne) and ne > 0):
        raise ValueError(f"n_epochs must be > 0, got {n_epochs!r}")
    return a * (b / a) ** (float(epoch) / ne)


def rank_based_probabilities(losses: ArrayLike, s_e: float) -> np.ndarray:
    """Loshchilov & Hutter (2015) rank-based selection distribution (spec 5.5).

    Rank the losses, rank 0 the largest, and set ``p_i ∝ exp(-log(s_e) rank_i / N)``: the top
    instance is ``s_e^((N-1)/N)`` (about ``s_e``) times as likely as the bottom one. Ties are
    ranked by position (a stable sort), as ``argsort`` does in the reference code.

    Parameters
    ----------
    losses : array_like, shape (N,)
    s_e : float
        Selection pressure, ``>= 1`` (1 is uniform).

    Returns
    -------
    ndarray, shape (N,)
        Probabilities of one draw, summing to 1.
    """
    l = _as_losses("losses", losses)
    se = float(s_e)
    if not (math.isfinite(se) and se >= 1):
        raise ValueError(f"s_e must be finite and >= 1, got {s_e!r}")
    n = l.size
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-l, kind="stable")] = np.arange(n)
    w = np.exp(-math.log(se) * rank / n)
    return w / w.sum()


def rank_based_selection(losses: ArrayLike, b: int, s_e: float,
                         rng: np.random.Generator) -> Sample:
    """Draw ``b`` instances with replacement from :func:`rank_based_probabilities`: unweighted.

    Returns
    -------
    Sample
        ``b`` indices (draw order), weights 1 (the method is biased, spec 5.5).
    """
    prob = rank_based_probabilities(losses, s_e)
    bb = _check_positive_int("b", b)
    _check_generator(rng)
    idx = rng.choice(prob.size, size=bb, replace=True, p=prob)
    return Sample(idx, np.ones(bb))


# --------------------------------------------------------------------------- 5.6 hard mining

def top_k(losses: ArrayLike, k: int) -> Sample:
    """Hard-example mining (spec 5.6): the ``k`` largest losses, unweighted.

    Deterministic and maximally biased. Ties at the ``k``-th loss are broken by
    ``np.argpartition``.

    Returns
    -------
    Sample
        ``k`` indices (sorted), weights 1.
    """
    l = _as_losses("losses", losses)
    kk = _check_positive_int("k", k, hi=l.size)
    idx = np.sort(np.argpartition(l, l.size - kk)[l.size - kk:])
    return Sample(idx, np.ones(kk))


# --------------------------------------------------------------------------- oracle

def gradient_norm_oracle(gradients: ArrayLike, k: float, p_min: float = 0.0) -> np.ndarray:
    """The (P-grad) optimum: water-filling on the per-instance gradient norms ``||g_i||``.

    [R] reconstruction (spec 2.1, P3): minimises ``tr Cov(G_hat) = sum ||g_i||^2 (1/p_i - 1)``
    subject to the budget; an oracle upper bound on what any recorded score can buy.

    Parameters
    ----------
    gradients : array_like, shape (n, d)
        Per-instance gradients (rows).
    k : float
        Budget in ``(0, n]``.
    p_min : float, default 0
        Floor in ``[0, k / n]``.
    """
    g = np.asarray(gradients, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] == 0:
        raise ValueError(f"gradients must have shape (n, d) with n >= 1, got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("gradients must be finite")
    norms = np.sqrt(np.einsum("ij,ij->i", g, g))
    kf = _check_budget(k, norms.size)
    pm = _check_floor(p_min, kf, norms.size)
    return _waterfill(norms, kf, pm, float(norms.min()), float(norms.max()))[0]
