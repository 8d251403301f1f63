"""Water-filling inclusion probabilities and the knobs of spec 2.4.

[R] reconstruction (spec 2.1-2.2): the paper's own algorithm is not available (spec section 0).
This module implements the reconstruction that fits every verified hint: choose inclusion
probabilities ``p`` for the ``n`` instances of a window to minimise the variance of the
Horvitz-Thompson estimate of the window loss,

    minimise  sum_i l_i^2 (1/p_i - 1)   subject to  sum_i p_i = k,  0 < p_i <= 1   (P-loss)

whose solution is capped proportional sampling, ``p_i = min(1, c l_i)`` with ``c > 0`` the
unique level that spends the budget ``k`` ("water-filling", :func:`waterfill`).

The knobs of spec 2.4 (whose values in the paper are UNVERIFIED) are

* :func:`scores`: epsilon-uniform mixing and a power (temperature) ``alpha`` applied to the
  recorded (stale, serving-time) losses before water-filling;
* ``p_min``: a floor ``p_i >= p_min``, i.e. water-filling re-run on the mass left once the
  floored instances are fixed at ``p_min`` (the KKT solution ``p_i = clip(c l_i, p_min, 1)``);
* :func:`clip_weights`: weight clipping ``w_i <= w_max``, which biases the estimate and reports
  that bias.

:func:`inclusion_probabilities` chains the first two. All arguments are checked before any work
and a bad one raises ``ValueError`` naming the parameter and its allowed range.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ClippedWeights",
    "clip_weights",
    "inclusion_probabilities",
    "scores",
    "waterfill",
    "waterfill_level",
]

#: Windows up to this size are solved by one exact sort of their positive losses.
_SMALL = 4096
#: Size of the random sample that locates the capping threshold in larger windows.
_SAMPLE = 8192
#: Relative distance of ``sum(p)`` from ``k`` (a few ulps) above which a correcting pass
#: rescales the level (at most 4 passes, :func:`_fix_sum`).
_SUM_RTOL = 8 * np.finfo(np.float64).eps
#: Newton steps on the floored level before the exact sorted solver takes over.
_FLOOR_STEPS = 100


# --------------------------------------------------------------------------- argument checks
# (shared by the other modules of simlab.subsample)

def _as_losses(name: str, values: ArrayLike) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array of finite, non-negative numbers."""
    return _losses_and_range(name, values)[0]


def _losses_and_range(name: str, values: ArrayLike) -> tuple[np.ndarray, float, float]:
    """:func:`_as_losses` plus the smallest and the largest loss (computed for the check)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    lo, hi = float(arr.min()), float(arr.max())  # NaN propagates into both
    if not (lo >= 0.0 and hi < np.inf):
        bad_neg = np.flatnonzero(arr < 0)
        bad_fin = np.flatnonzero(~np.isfinite(arr))
        parts = []
        if bad_fin.size:
            parts.append(f"{bad_fin.size} non-finite (first at index {bad_fin[0]}: "
                         f"{arr[bad_fin[0]]})")
        if bad_neg.size:
            parts.append(f"{bad_neg.size} negative (first at index {bad_neg[0]}: "
                         f"{arr[bad_neg[0]]})")
        raise ValueError(f"{name} must be finite and >= 0, got " + " and ".join(parts)
                         + " entries")
    return arr, lo, hi


def _check_budget(k: float, n: int, *, upper_open: bool = False) -> float:
    """Return ``float(k)`` after checking ``0 < k <= n`` (or ``< n`` with ``upper_open``)."""
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)):
        raise ValueError(f"k must be a real number in (0, {n}], got {k!r}")
    kf = float(k)
    bad = not math.isfinite(kf) or kf <= 0 or kf > n or (upper_open and kf == n)
    if bad:
        rng = f"(0, {n})" if upper_open else f"(0, {n}]"
        raise ValueError(f"k must be in {rng} (the budget of a window of n = {n}), got {k!r}")
    return kf


def _check_unit(name: str, value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """Return ``float(value)`` after checking it is finite and in ``[lo, hi]``."""
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}")
    return v


def _check_floor(p_min: float, k: float, n: int) -> float:
    """Return ``p_min`` after checking ``0 <= p_min <= 1`` and ``p_min * n <= k``."""
    pm = _check_unit("p_min", p_min)
    if pm * n > k * (1 + 1e-12):
        raise ValueError(f"p_min must be <= k / n = {k / n:g} (p_min * n > k makes the budget "
                         f"infeasible), got p_min = {p_min!r} with n = {n}, k = {k:g}")
    return pm


# --------------------------------------------------------------------------- water-filling

def waterfill(losses: ArrayLike, k: float, p_min: float = 0.0) -> np.ndarray:
    """Inclusion probabilities ``p_i = clip(c * l_i, p_min, 1)`` that sum to ``k``.

    [R] reconstruction (spec 2.2): the minimiser of (P-loss), ``sum_i l_i^2 (1/p_i - 1)``
    subject to ``sum_i p_i = k`` and ``p_min <= p_i <= 1``; with ``p_min = 0`` it is
    ``p_i = min(1, c l_i)`` with ``c > 0`` unique. With a floor it is water-filling re-run on
    the mass left once the floored instances are fixed at ``p_min`` (spec 2.4), which is the
    KKT solution ``clip(c l_i, p_min, 1)``. The same function with gradient norms in place of
    losses solves (P-grad).

    Parameters
    ----------
    losses : array_like, shape (n,)
        Non-negative, finite per-instance losses (or any scores: gradient norms, the output of
        :func:`scores`).
    k : float
        Budget, the expected number of instances drawn, in ``(0, n]``. It need not be an
        integer for the Poisson design; the fixed-size designs need ``sum(p)`` integral.
    p_min : float, default 0
        Floor, ``0 <= p_min <= k / n``.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``p`` with ``sum(p) == k`` to rounding (a few ulps of ``k``), ``p_min <= p_i <= 1``
        and ``p`` non-decreasing in ``l``.

    Raises
    ------
    ValueError
        If ``losses`` is empty, not 1-D, negative or not finite; if ``k`` is not in
        ``(0, n]``; if ``p_min`` is not in ``[0, k / n]``; or if fewer than ``k`` losses are
        positive, ``k < n`` and ``p_min == 0`` (infeasible without a floor: a zero loss gets
        ``p_i = 0``, so the budget cannot be spent).

    Notes
    -----
    Degenerate cases:

    * ``k == n`` gives all ones (every instance is trained on), zero losses included;
    * constant losses give ``k / n`` everywhere;
    * a zero loss gets ``p_i = 0`` when no floor is asked (``p_min == 0``). It is then never
      drawn, which keeps the estimate unbiased only if that instance's current loss (or
      gradient) is 0 too; use ``p_min > 0`` or ``epsilon > 0`` in :func:`scores` otherwise;
    * with a floor, zero losses get ``p_min``; if even ``p_i = 1`` on every positive loss
      leaves budget over, the rest is spread evenly over the zero-loss instances (any such
      split is optimal, as those instances carry no variance).

    Complexity: expected O(n). No full sort: the capping threshold is estimated from a
    random sample of 8192 losses; the losses in a band around it are extracted in one pass
    and only they are sorted and scanned. The sample only steers the speed, never the
    result: a band that does not contain the threshold is widened, in the end to an exact
    sort. With a floor, the level solves ``sum clip(c l, p_min, 1) = k`` by safeguarded
    Newton steps, O(n) each and typically fewer than ten (an exact O(n log n) solver takes
    over after 100).

    Examples
    --------
    >>> waterfill([1.0, 1.0, 2.0, 8.0], 2).tolist()
    [0.25, 0.25, 0.5, 1.0]
    """
    l, lo, hi = _losses_and_range("losses", losses)
    n = l.size
    kf = _check_budget(k, n)
    pm = _check_floor(p_min, kf, n)
    return _waterfill(l, kf, pm, lo, hi)[0]


def waterfill_level(losses: ArrayLike, k: float, p_min: float = 0.0) -> float:
    """The level ``c`` of :func:`waterfill`: ``p = clip(c * losses, p_min, 1)``.

    [R] reconstruction (spec 2.2). ``c`` is unique whenever some ``p_i`` lies strictly between
    ``p_min`` and 1 (always the case for ``0 < k < n`` with more than ``k`` positive losses and
    no floor). Otherwise a whole interval of levels gives the same ``p``, and this returns its
    left end: 0 when ``p_min * n == k`` (all ``p_i = p_min``); ``inf`` when no finite level
    gives ``p`` (``k == n`` with a zero loss, or when budget is spread over zero losses).

    Parameters and errors are those of :func:`waterfill`.

    Returns
    -------
    float
        The level ``c >= 0``, or ``inf``.
    """
    l, lo, hi = _losses_and_range("losses", losses)
    n = l.size
    kf = _check_budget(k, n)
    pm = _check_floor(p_min, kf, n)
    return _waterfill(l, kf, pm, lo, hi)[1]


def _waterfill(l: np.ndarray, k: float, p_min: float, lo: float,
               hi: float) -> tuple[np.ndarray, float]:
    """Water-filling on checked input (``lo``, ``hi``: its extremes): ``(p, c)``."""
    n = l.size
    if k >= n:
        return np.ones(n), (1.0 / lo if lo > 0 else np.inf)
    if p_min > 0 and p_min * n >= k * (1 - 1e-12):
        return np.full(n, k / n), 0.0
    if lo > 0:  # no zero loss: the common case, without a mask
        if p_min == 0.0:
            return _waterfill_positive(l, k, hi)
        return _waterfill_floor(l, k, p_min)
    positive = l > 0
    n_pos = int(np.count_nonzero(positive))
    n_zero = n - n_pos
    if p_min == 0.0:
        if n_pos < k:
            raise ValueError(
                f"losses: only {n_pos} of {n} losses are > 0 but k = {k:g}; the budget is "
                "infeasible without a floor (a zero loss gets p_i = 0): pass p_min > 0, or "
                "epsilon > 0 to scores()")
        if n_pos == k:
            return positive.astype(np.float64), np.inf
        p = np.zeros(n)
        p[positive], c = _waterfill_positive(l[positive], k, hi)
        return p, c
    # with a floor: zero losses sit at p_min, and the positives share what is left
    if n_pos + n_zero * p_min <= k * (1 + 1e-12):
        p = np.ones(n)
        p[~positive] = (k - n_pos) / n_zero
        return p, np.inf
    return _waterfill_floor(l, k, p_min)  # zero losses are floored by the clip itself


def _waterfill_positive(l: np.ndarray, k: float, lmax: float) -> tuple[np.ndarray, float]:
    """``p = min(1, c l)`` for positive ``l`` (largest ``lmax``), ``k < l.size``: ``(p, c)``."""
    total = float(l.sum())
    if not math.isfinite(total):
        raise ValueError("losses: their sum overflows float64; rescale them (water-filling is "
                         "invariant to rescaling)")
    if k * lmax <= total:  # no capping: p = k l / sum(l)
        c = k / total
        p = np.multiply(l, c)
        return _fix_sum(l, p, c, 0, k), c
    n_cap, c = _capped_level(l, k, total)
    p = np.multiply(l, c)
    np.clip(p, 0.0, 1.0, out=p)  # = min(p, 1) here; np.clip is the faster kernel
    return _fix_sum(l, p, c, n_cap, k), c


def _capped_level(l: np.ndarray, k: float, total: float) -> tuple[int, float]:
    """Number capped and level for positive ``l`` whose largest value is capped.

    Every loss at or above the threshold ``tau = 1/c`` is capped. Small windows are sorted
    once. Larger ones estimate ``tau`` from a random sample and take two sample quantiles
    ``t_lo < tau < t_hi`` (``t_hi = inf`` when few losses are capped): the losses ``>= t_hi``
    are counted as capped (their mass follows from ``sum(min(l, t_hi))``, one pass), the band
    ``[t_lo, t_hi)`` is extracted and sorted, and spec 2.2's scan runs over the band. The
    result is accepted only if it is self-consistent (``c * t_hi >= 1`` and ``c * t_lo < 1``),
    which by uniqueness of the KKT point makes it exact; otherwise the bracket widens, in the
    end to a full sort. The sample steers the speed, never the result.
    """
    n = l.size
    if n <= _SMALL:
        return _scan(np.sort(l)[::-1], k, 0.0, 0, 0.0)
    sample = np.sort(l[np.random.default_rng(0x5A17).integers(0, n, _SAMPLE)])[::-1]
    js = _sample_rank(sample, k, n / _SAMPLE)
    for mult in (3.0, 12.0):
        margin = int(mult * math.sqrt(js + 1.0)) + 8
        t_lo = float(sample[js + margin]) if js + margin < _SAMPLE else 0.0
        # a loss >= total / k is always capped; few capped: extract all of the top instead
        t_hi = float(sample[js - margin]) if js - margin >= _SAMPLE // 32 else np.inf
        if t_hi < np.inf:
            t_hi = min(t_hi, total / k)
            t_lo = min(t_lo, t_hi)
        if t_lo == 0.0:
            break
        n_hi = int(np.count_nonzero(l >= t_hi))
        if n_hi:  # mass below t_hi: sum(min(l, t_hi)) - t_hi * #(l >= t_hi)
            buf = np.clip(l, 0.0, t_hi)
            rest0 = float(buf.sum()) - t_hi * n_hi
            band = l[(l >= t_lo) & (l < t_hi)]
        else:
            rest0 = total
            band = l[l >= t_lo]
        band_mass = float(band.sum())
        outside = rest0 - band_mass  # the mass below t_lo
        if n_hi * t_hi + band_mass > 0.5 * total:  # that difference would cancel: sum it
            outside = float(np.sum(l, where=l < t_lo))
        found = _scan(np.sort(band)[::-1], k, outside, n_hi, t_lo)
        if found is not None and (n_hi == 0 or found[1] * t_hi >= 1.0):
            return found
    found = _scan(np.sort(l)[::-1], k, 0.0, 0, 0.0)
    assert found is not None  # the exact scan always succeeds for n_pos > k
    return found


def _scan(cand: np.ndarray, k: float, outside: float, n_cap0: int,
          below: float) -> tuple[int, float] | None:
    """Spec 2.2's scan over candidates sorted in descending order.

    ``n_cap0`` losses above the candidates are capped already and ``outside`` is the mass of
    the losses below them (all ``< below``; ``below == 0`` means there are none). With ``j``
    candidates capped, ``c_j = (k - n_cap0 - j) / rest_j``, ``rest_j = outside + (sum of the
    candidates after the j-th)``, a suffix sum, so no cancellation; the answer is the first
    ``j`` with ``c_j * l_(j+1) < 1``, where past the last candidate ``l_(j+1)`` is bounded by
    ``below``. ``None`` when the candidates do not decide it.
    """
    m = cand.size
    suffix = np.zeros(m + 1)
    np.cumsum(cand[::-1], out=suffix[m - 1::-1] if m else suffix[:0])
    rest = (0.0 if below == 0.0 else max(outside, 0.0)) + suffix
    j = np.arange(m + 1)
    budget = k - n_cap0 - j
    nxt = np.empty(m + 1)
    nxt[:m] = cand
    nxt[m] = below
    with np.errstate(divide="ignore", invalid="ignore"):
        c = budget / rest
        ok = (c * nxt < 1.0) & (budget > 0) & (rest > 0)
    if below == 0.0:
        ok[m] = False
    if not ok.any():
        return None
    jstar = int(np.argmax(ok))
    return n_cap0 + jstar, float(c[jstar])


def _sample_rank(sample: np.ndarray, k: float, scale: float) -> int:
    """Number of capped points when each point of the descending sample stands for ``scale``."""
    m = sample.size
    top = np.concatenate(([0.0], np.cumsum(sample)))
    j = np.arange(m + 1)
    nxt = np.append(sample, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (k - j * scale) / (scale * (top[-1] - top))
        ok = (c * nxt < 1.0) & (j * scale < k)
    return int(np.argmax(ok)) if ok.any() else m


def _fix_sum(l: np.ndarray, p: np.ndarray, c: float, n_cap: int, k: float) -> np.ndarray:
    """Rescale the level if rounding left ``sum(p)`` off ``k`` by more than a few ulps.

    ``sum(p) = n_cap + c * rest`` gives the corrected level ``c (k - n_cap) / (s - n_cap)``;
    the capped count is re-read after each pass, and a level whose ``min(1, c l)`` sums to
    ``k`` is the unique solution whatever the rounding on the way.
    """
    for _ in range(4):
        s = float(p.sum())
        if abs(s - k) <= _SUM_RTOL * k or s <= n_cap:
            return p
        c = c * (k - n_cap) / (s - n_cap)
        np.multiply(l, c, out=p)
        np.clip(p, 0.0, 1.0, out=p)
        n_cap = int(np.count_nonzero(p >= 1.0))
    return p


def _waterfill_floor(l: np.ndarray, k: float, p_min: float) -> tuple[np.ndarray, float]:
    """``clip(c l, p_min, 1)`` summing to ``k``: the fixed point of spec 2.4's re-runs.

    Re-running water-filling on the mass left once the floored instances are fixed at
    ``p_min`` converges to the level ``c`` with ``F(c) = sum_i clip(c l_i, p_min, 1) = k``.
    ``F`` is continuous, non-decreasing and linear between breakpoints, so it is solved
    directly: Newton steps (slope = the mass of the unclipped losses) land exactly on the root
    once inside its linear piece; a bracket ``F(lo) < k < F(hi)`` rejects steps that leave
    it, and a geometric bisection is forced when the bracket stops halving. Each step is
    O(n) (one clip and one sum); the exact sorted solver takes over after 100 steps.
    """
    total = float(l.sum())
    if not math.isfinite(total):
        raise ValueError("losses: their sum overflows float64; rescale them (water-filling is "
                         "invariant to rescaling)")
    buf = np.empty_like(l)
    lo, hi = 0.0, math.inf
    c = k / total
    width = math.inf
    stalled = 0
    for _ in range(_FLOOR_STEPS):
        np.multiply(l, c, out=buf)
        n_cap = int(np.count_nonzero(buf >= 1.0))
        n_floor = int(np.count_nonzero(buf <= p_min))
        np.clip(buf, p_min, 1.0, out=buf)
        f = float(buf.sum())
        if abs(f - k) <= _SUM_RTOL * k:
            return buf, c
        if f < k:
            lo = c
        else:
            hi = c
        slope = (f - n_cap - p_min * n_floor) / c
        step = c + (k - f) / slope if slope > 0 else math.nan
        new_width = math.log(hi / lo) if 0 < lo and hi < math.inf else math.inf
        stalled = stalled + 1 if new_width > 0.5 * width else 0
        width = min(width, new_width)
        if stalled >= 3 or not lo < step < hi:
            if hi == math.inf:
                step = 2.0 * c
            elif lo == 0.0:
                step = 0.5 * c
            else:
                step = math.sqrt(lo * hi)
            stalled = 0
        c = step
    return _clip_level_exact(l, k, p_min)


def _clip_level_exact(l: np.ndarray, k: float, p_min: float) -> tuple[np.ndarray, float]:
    """Exact ``clip(c l, p_min, 1)`` summing to ``k`` by bisection over sorted breakpoints.

    ``F(c) = sum_i clip(c l_i, p_min, 1)`` is continuous, non-decreasing and linear between the
    breakpoints ``p_min / l_i`` and ``1 / l_i``; O(n log n).
    """
    pos = l[l > 0]
    n_zero = l.size - pos.size

    def f(c: float) -> float:
        return float(np.clip(c * pos, p_min, 1.0).sum()) + n_zero * p_min

    bp = np.unique(np.concatenate((p_min / pos, 1.0 / pos)))
    lo, hi = 0, bp.size - 1
    if f(bp[0]) > k:  # cannot happen: F(p_min / max l) = n p_min <= k
        raise AssertionError("unreachable")  # pragma: no cover
    while lo < hi:  # largest index with F(bp[idx]) <= k
        mid = (lo + hi + 1) // 2
        if f(bp[mid]) <= k:
            lo = mid
        else:
            hi = mid - 1
    a = bp[lo]
    b = bp[lo + 1] if lo + 1 < bp.size else 2.0 * a
    mid_c = 0.5 * (a + b)
    x = mid_c * pos
    capped = x >= 1.0
    floored = x <= p_min
    lin = float(pos[~capped & ~floored].sum())
    const = float(np.count_nonzero(capped)) + p_min * (np.count_nonzero(floored) + n_zero)
    c = a if lin == 0 else min(max((k - const) / lin, a), b)
    p = np.clip(c * l, p_min, 1.0)
    return p, c


# --------------------------------------------------------------------------- knobs (spec 2.4)

def scores(recorded_losses: ArrayLike, epsilon: float = 0.0, alpha: float = 1.0) -> np.ndarray:
    """Smoothed sampling scores ``s = (1 - eps) l^alpha / mean(l^alpha) + eps``.

    [R] reconstruction (spec 2.4; the paper's smoothing is UNVERIFIED): epsilon-uniform mixing
    of a power (temperature) of the recorded losses. ``epsilon = 1`` or ``alpha = 0`` is
    uniform, ``alpha = 1`` loss-proportional, ``alpha = 0.5`` the gradient-norm proxy for the
    squared loss.

    Parameters
    ----------
    recorded_losses : array_like, shape (n,)
        Non-negative, finite recorded (serving-time, possibly stale) losses.
    epsilon : float, default 0
        Mixing weight of the uniform score, in ``[0, 1]``.
    alpha : float, default 1
        Power applied to the losses, in ``[0, 1]`` (``0 ** 0 == 1``).

    Returns
    -------
    ndarray of float64, shape (n,)
        ``s_i >= epsilon`` and ``mean(s) == 1``, so water-filling ``s`` gives
        ``p_i >= min(1, epsilon k / n)`` and weights ``<= n / (epsilon k)`` (spec 6.2).

    Notes
    -----
    A zero loss gets the score ``epsilon``: the mix handles it, no division by zero happens.
    If every ``l_i^alpha`` is 0 the loss term is 0/0; it is taken as 0, so ``s = epsilon``
    everywhere (uniform for ``epsilon > 0``; all zero, which :func:`waterfill` rejects without
    a floor, for ``epsilon == 0``).
    """
    eps = _check_unit("epsilon", epsilon)
    a = _check_unit("alpha", alpha)
    l = _as_losses("recorded_losses", recorded_losses)
    la = l if a == 1.0 else np.power(l, a)
    mean = float(la.mean())
    if not math.isfinite(mean):
        raise ValueError("recorded_losses: their mean overflows float64; rescale them")
    if mean == 0.0:
        return np.full(l.size, eps)
    return la * ((1.0 - eps) / mean) + eps


def inclusion_probabilities(recorded: ArrayLike, k: float, epsilon: float = 0.0,
                            alpha: float = 1.0, p_min: float = 0.0) -> np.ndarray:
    """Water-filled inclusion probabilities of smoothed recorded losses.

    [R] reconstruction (spec 2.3-2.4): ``waterfill(scores(recorded, epsilon, alpha), k,
    p_min)``, the ``p = WATERFILL(smooth(l~), k)`` line of the reference training loop.

    Parameters
    ----------
    recorded : array_like, shape (n,)
        Recorded (serving-time) losses, finite and ``>= 0``.
    k : float
        Budget in ``(0, n]``.
    epsilon, alpha : float
        Knobs of :func:`scores`, each in ``[0, 1]``.
    p_min : float, default 0
        Floor in ``[0, k / n]``.

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        As :func:`scores` and :func:`waterfill`; every argument is checked before any work.
    """
    l = _as_losses("recorded", recorded)
    kf = _check_budget(k, l.size)
    _check_unit("epsilon", epsilon)
    _check_unit("alpha", alpha)
    pm = _check_floor(p_min, kf, l.size)
    s = scores(l, epsilon, alpha)
    return _waterfill(s, kf, pm, float(s.min()), float(s.max()))[0]


class ClippedWeights(NamedTuple):
    """Result of :func:`clip_weights`.

    Attributes
    ----------
    weights : ndarray, shape (n,)
        ``min(1 / p_i, w_max)`` for every instance (``w_max`` where ``p_i == 0``).
    bias : float or ndarray
        ``E[sum_{i in S} w_i v_i] - E[sum_{i in S} v_i / p_i]``: the bias clipping adds to the
        Horvitz-Thompson total, ``sum_{p_i > 0} (p_i min(1/p_i, w_max) - 1) v_i``; a vector
        for vector values (e.g. gradients).
    relative_bias : float
        ``bias`` over the unclipped total ``sum_{p_i > 0} v_i`` in norm (``nan`` if it is 0).
    """

    weights: np.ndarray
    bias: float | np.ndarray
    relative_bias: float


def clip_weights(p: ArrayLike, w_max: float, values: ArrayLike) -> ClippedWeights:
    """Clip importance weights at ``w_max`` and report the bias this introduces.

    [R] reconstruction (spec 2.4: "weight clipping biases the estimate; report the bias").
    For any design with first-order inclusion probabilities ``p`` (Poisson, systematic,
    conditional Poisson), the clipped estimate ``sum_{i in S} min(1/p_i, w_max) v_i`` has
    expectation ``sum_i p_i min(1/p_i, w_max) v_i``: an instance with ``p_i < 1 / w_max`` is
    under-weighted by the factor ``p_i w_max < 1``.

    Parameters
    ----------
    p : array_like, shape (n,)
        Inclusion probabilities in ``[0, 1]``.
    w_max : float
        Largest weight allowed, ``>= 1`` (``inf``: no clipping).
    values : array_like, shape (n,) or (n, d)
        Per-instance values whose total is estimated (losses, gradients), to measure the bias.

    Returns
    -------
    ClippedWeights

    Raises
    ------
    ValueError
        If ``w_max < 1`` or NaN, if ``p`` is not in ``[0, 1]``, or if the shapes disagree.
    """
    wm = float(w_max)
    if not wm >= 1.0:
        raise ValueError(f"w_max must be >= 1 (a weight 1/p_i is never below 1), got {w_max!r}")
    pa = _as_probabilities("p", p)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim not in (1, 2) or v.shape[0] != pa.size:
        raise ValueError(f"values must have shape ({pa.size},) or ({pa.size}, d), got {v.shape}")
    with np.errstate(divide="ignore"):
        w = np.minimum(1.0 / pa, wm)
    drawn = pa > 0
    factor = np.zeros(pa.size)
    factor[drawn] = pa[drawn] * w[drawn] - 1.0  # p_i = 0: never drawn, clipping changes nothing
    bias = np.tensordot(factor, v, axes=(0, 0))
    total = np.tensordot(drawn.astype(np.float64), v, axes=(0, 0))
    tn = float(np.linalg.norm(total))
    rel = float(np.linalg.norm(bias)) / tn if tn > 0 else math.nan
    bias_out: float | np.ndarray = float(bias) if v.ndim == 1 else bias
    return ClippedWeights(w, bias_out, rel)


def _as_probabilities(name: str, p: ArrayLike, *, upper: float = 1.0) -> np.ndarray:
    """Return ``p`` as a non-empty 1-D float64 array with entries in ``[0, upper]``."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    lo, hi = arr.min(), arr.max()
    if not (lo >= 0.0 and hi <= upper and hi < np.inf):
        bad = np.flatnonzero(~((arr >= 0) & (arr <= upper) & np.isfinite(arr)))
        span = f"[0, {upper:g}]" if upper < np.inf else "[0, inf) and finite"
        raise ValueError(f"{name} must be in {span}, got {bad.size} entries outside "
                         f"(first at index {bad[0]}: {arr[bad[0]]})")
    return arr
