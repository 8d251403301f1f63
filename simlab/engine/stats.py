"""Statistics over replicas and the verdict rules of DESIGN.md ("Statistics").

Every check declares a relative tolerance ``tol`` and a false-failure budget ``delta``; the
critical value ``z`` comes from ``delta``, Bonferroni-corrected over the ``n`` quantities the
check looks at (:func:`z_value`). For an upper bound ``B``:

* ``holds`` when ``mean + z SE <= B (1 + tol)`` at every point checked,
* ``violated`` when ``mean - z SE > B (1 + tol)`` at some point,
* ``inconclusive`` otherwise.

The other kinds follow the same rule: *holds* when the whole confidence region satisfies the
statement, *violated* when the whole region contradicts it somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

HOLDS, VIOLATED, INCONCLUSIVE = "holds", "violated", "inconclusive"


def z_value(delta: float, n: int = 1, two_sided: bool = False) -> float:
    """Critical value for false-failure budget ``delta`` over ``n`` checks (Bonferroni)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    p = delta / n / (2 if two_sided else 1)
    return float(stats.norm.isf(p))


@dataclass(frozen=True)
class Check:
    """Result of one statistical check.

    Attributes
    ----------
    verdict : {"holds", "violated", "inconclusive"}
    measured : float
        The measured value at the decisive point (worst point for bounds).
    interval : (float, float)
        Its confidence interval (``mean -+ z SE``).
    theory : float
        The bound or prediction at that point.
    margin : float
        Relative slack: ``(theory (1 + tol) - upper) / theory`` for an upper bound (positive
        when it holds), and the analogue for the other kinds.
    index : int
        Index of the decisive point.
    """

    verdict: str
    measured: float
    interval: tuple
    theory: float
    margin: float
    index: int = 0


def _arr(*xs):
    return [np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in xs]


def upper_bound(mean, se, bound, z: float, tol: float = 0.0) -> Check:
    """Check ``E[X] <= bound`` at every point (arrays broadcast)."""
    mean, se, bound = np.broadcast_arrays(*_arr(mean, se, bound))
    lim = bound * (1 + tol)
    hi, lo = mean + z * se, mean - z * se
    slack = (lim - hi) / np.abs(bound).clip(1e-300)
    i = int(np.argmin(slack))
    if np.any(lo > lim):
        i = int(np.argmax(lo - lim))
        v = VIOLATED
    elif np.all(hi <= lim):
        v = HOLDS
    else:
        v = INCONCLUSIVE
    return Check(v, float(mean[i]), (float(lo[i]), float(hi[i])), float(bound[i]),
                 float(slack[i]), i)


def lower_bound(mean, se, bound, z: float, tol: float = 0.0) -> Check:
    """Check ``E[X] >= bound`` at every point: holds when ``mean - z SE >= bound (1 - tol)``."""
    mean, se, bound = np.broadcast_arrays(*_arr(mean, se, bound))
    lim = bound * (1 - tol)
    hi, lo = mean + z * se, mean - z * se
    slack = (lo - lim) / np.abs(bound).clip(1e-300)
    i = int(np.argmin(slack))
    if np.any(hi < lim):
        i = int(np.argmax(lim - hi))
        v = VIOLATED
    elif np.all(lo >= lim):
        v = HOLDS
    else:
        v = INCONCLUSIVE
    return Check(v, float(mean[i]), (float(lo[i]), float(hi[i])), float(bound[i]),
                 float(slack[i]), i)


def agreement(mean, se, exact, z: float, tol: float = 0.0, max_rel_se: float | None = None
              ) -> Check:
    """Check ``E[X] == exact`` at every point, within ``z SE + tol |exact|``.

    ``violated`` when some point is off by more; ``inconclusive`` when the check is not sharp
    enough to mean anything (``SE > max_rel_se |exact|`` somewhere); ``holds`` otherwise.
    """
    mean, se, exact = np.broadcast_arrays(*_arr(mean, se, exact))
    allowed = z * se + (tol + 1e-12) * np.abs(exact)
    dev = np.abs(mean - exact)
    score = dev / np.where(allowed > 0, allowed, 1e-300)
    i = int(np.argmax(score))
    margin = float(1.0 - score[i])
    interval = (float(mean[i] - z * se[i]), float(mean[i] + z * se[i]))
    if np.any(dev > allowed):
        v = VIOLATED
    elif max_rel_se is not None and np.any(se > max_rel_se * np.abs(exact)):
        v = INCONCLUSIVE
    else:
        v = HOLDS
    return Check(v, float(mean[i]), interval, float(exact[i]), margin, i)


def interval_check(estimate: float, lo_ci: float, hi_ci: float, lo: float = -np.inf,
                   hi: float = np.inf) -> Check:
    """Check that a quantity lies in ``[lo, hi]`` given its confidence interval.

    ``holds`` when the CI is inside ``[lo, hi]``, ``violated`` when it does not meet it. Either
    end may be infinite (a one-sided statement such as ``ratio <= 1.2``). The margin is the
    CI's distance to the nearer end, relative to the interval's width when finite, else to the
    finite end's magnitude.
    """
    if lo_ci >= lo and hi_ci <= hi:
        v = HOLDS
    elif hi_ci < lo or lo_ci > hi:
        v = VIOLATED
    else:
        v = INCONCLUSIVE
    gap = min(lo_ci - lo, hi - hi_ci)
    finite = [x for x in (lo, hi) if np.isfinite(x)]
    scale = (hi - lo) if len(finite) == 2 else max(abs(finite[0]), 1e-300) if finite else 1.0
    target = (lo + hi) / 2 if len(finite) == 2 else (finite[0] if finite else 0.0)
    margin = gap / scale if np.isfinite(gap) else -1.0
    return Check(v, float(estimate), (float(lo_ci), float(hi_ci)), float(target), float(margin))


def worst(checks) -> Check:
    """The least favourable of several checks: violated > inconclusive > holds, then margin."""
    order = {HOLDS: 0, INCONCLUSIVE: 1, VIOLATED: 2}
    return max(checks, key=lambda c: (order[c.verdict], -c.margin))


@dataclass(frozen=True)
class Slope:
    """A log-log slope with its standard error and ``z``-interval."""

    slope: float
    se: float
    intercept: float

    def interval(self, z: float) -> tuple[float, float]:
        """``slope -+ z se``."""
        return (self.slope - z * self.se, self.slope + z * self.se)


def loglog_slope(x, mean, se) -> Slope:
    """Weighted least-squares slope of ``log mean`` against ``log x``.

    The weights are ``1 / Var(log mean) ~ (mean / se)^2`` (delta method); the slope's standard
    error is the weighted-LS one. Points must be positive.
    """
    x, mean, se = _arr(x, mean, se)
    if np.any(x <= 0) or np.any(mean <= 0):
        raise ValueError("loglog_slope needs positive x and mean")
    lx, ly = np.log(x), np.log(mean)
    var = (se / mean) ** 2
    var = np.where(var > 0, var, np.min(var[var > 0]) if np.any(var > 0) else 1.0)
    w = 1.0 / var
    X = np.stack([np.ones_like(lx), lx], axis=1)
    XtW = X.T * w
    cov = np.linalg.inv(XtW @ X)
    beta = cov @ (XtW @ ly)
    return Slope(float(beta[1]), float(np.sqrt(cov[1, 1])), float(beta[0]))


def trailing_mean(curve: np.ndarray, min_window: int, divisor: int) -> np.ndarray:
    """The mean of ``curve`` over the last ``max(min_window, t // divisor)`` points at each
    index ``t`` (fewer at the start).

    ``curve[t]`` must hold the value at every step ``t = 0..T``.
    """
    if min_window < 1 or divisor < 1:
        raise ValueError(f"min_window and divisor must be >= 1, got {min_window}, {divisor}")
    c = np.asarray(curve, dtype=np.float64)
    cs = np.concatenate([[0.0], np.cumsum(c)])
    t = np.arange(c.shape[0])
    w = np.maximum(min_window, t // divisor)
    lo = np.maximum(0, t + 1 - w)
    return (cs[t + 1] - cs[lo]) / (t + 1 - lo)


def first_below(curve: np.ndarray, eps: float) -> float:
    """``min{t : curve[t] <= eps}`` (``inf`` if never)."""
    hit = np.flatnonzero(np.asarray(curve) <= eps)
    return float(hit[0]) if hit.size else float("inf")


def normal_ci(mean, se, level: float = 0.95) -> np.ndarray:
    """Two-sided normal-approximation interval ``mean -+ z SE``, shape ``(..., 2)``.

    The one definition that traces and merged statistics share.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    z = stats.norm.ppf(0.5 + level / 2)
    mean, se = np.asarray(mean, dtype=np.float64), np.asarray(se, dtype=np.float64)
    return np.stack([mean - z * se, mean + z * se], axis=-1)
