"""Measurements shared by the collab claims, figures and notebooks.

* :func:`t_eps` and :func:`t_eps_interval`: spec 8.3's definition of time-to-epsilon on a curve
  (``T_eps = min{t : E_t <= eps}``, ``E_t`` the Monte Carlo mean smoothed by a running average
  over the last ``max(10, t/10)`` steps).
* :func:`time_to_eps`: ``T_eps`` of one configuration with its confidence interval.
* :func:`time_to_eps_tuned`: the minimum over a step-size grid (geometric, factor 2, capped at
  ``1/L``), as spec 8.3 prescribes.
* :func:`final_error`: the mean over replicas of a metric averaged over the last checkpoints of
  each replica, with its standard error (replicas are independent, so the SE is honest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simlab.collab.interface import AVERAGE
from simlab.engine import stats
from simlab.engine.model import Method, Task
from simlab.engine.simulate import DivergenceError, simulate

#: Spec 8.3's smoothing window: the last ``max(SMOOTH_MIN, t // SMOOTH_DIVISOR)`` steps.
SMOOTH_MIN, SMOOTH_DIVISOR = 10, 10


def smoothed(curve: np.ndarray) -> np.ndarray:
    """Spec 8.3 smoothing: the mean over the last ``max(10, t/10)`` steps (fewer at the start).

    ``curve[t]`` must hold the value at every step ``t = 0..T``.
    """
    return stats.trailing_mean(curve, SMOOTH_MIN, SMOOTH_DIVISOR)


def t_eps(curve: np.ndarray, eps: float, smooth: bool = True) -> float:
    """``T_eps = min{t : E_t <= eps}`` on a per-step curve (``inf`` if never), spec 8.3."""
    return stats.first_below(smoothed(curve) if smooth else np.asarray(curve), eps)


def t_eps_interval(mean: np.ndarray, se: np.ndarray, eps: float, z: float
                   ) -> tuple[float, float, float]:
    """``(T_eps, lower, upper)``: ``T_eps`` of the mean curve and of ``mean -+ z SE``.

    The lower curve reaches ``eps`` no later than the mean, so ``lower <= T_eps <= upper``.
    """
    return t_eps(mean, eps), t_eps(mean - z * se, eps), t_eps(mean + z * se, eps)


@dataclass(frozen=True)
class TimeToEps:
    """``T_eps`` with its interval ``[lo, hi]`` (``inf`` when not reached within the horizon).

    Attributes
    ----------
    value, lo, hi : float
        ``T_eps`` of the smoothed mean and of the curves ``mean -+ z SE``.
    eta : float
        The step size (the best one after tuning; ``nan`` when none reached ``eps``).
    tried : dict
        ``eta -> T_eps`` of every step size run (after tuning).
    """

    value: float
    lo: float
    hi: float
    eta: float = float("nan")
    tried: dict = field(default_factory=dict, compare=False)

    @property
    def reached(self) -> bool:
        """Whether the mean curve reached ``eps``."""
        return bool(np.isfinite(self.value))


def time_to_eps(task: Task, method: Method, eps: float, steps: int, replicas: int, seed: int,
                z: float, backend: str = "numba", metric: str = "grad_norm_sq") -> TimeToEps:
    """``T_eps`` of the smoothed Monte Carlo mean of ``metric`` (spec 8.3), with its interval.

    The interval comes from the curves ``mean -+ z SE`` (a lower curve reaches ``eps`` no
    later than the mean). A run that diverges never reaches ``eps`` (``inf``). The run goes
    through the result store (:func:`simlab.sweep.cached_stats`): claims, figures and
    notebooks that measure the same configuration compute it once.
    """
    from simlab.sweep.cache import cached_stats

    try:
        st = cached_stats(task, method, steps=steps, replicas=replicas, seed=seed,
                          backend=backend, checkpoints="all", derived=metric == AVERAGE,
                          metrics=(metric,))
    except DivergenceError:
        # a diverging step size never reaches eps; in a grid search it is simply a bad choice
        inf = float("inf")
        return TimeToEps(inf, inf, inf, float(method.step_size))
    v, lo, hi = t_eps_interval(st.mean(metric), st.se(metric), eps, z)
    return TimeToEps(v, lo, hi, float(method.step_size))


def eta_grid(L: float, n: int, factor: float = 2.0) -> np.ndarray:
    """``n`` step sizes ``1/L, 1/(f L), 1/(f^2 L), ...`` (spec 8.3: factor ``f = 2``, capped at
    ``1/L``).

    Pass the largest smoothness among the tasks a method queries (``max L_tasks``) when the
    auxiliary tasks are more curved than task 0. A finer factor (``sqrt(2)``) measures
    ``T_eps`` more precisely: on a factor-2 grid the minimum can sit up to 20% above the tuned
    value, which matters where ``T_eps`` is fitted rather than compared.
    """
    if not factor > 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    return (1.0 / L) * float(factor) ** -np.arange(n, dtype=np.float64)


def time_to_eps_tuned(task: Task, make_method: Callable[[float], Method], etas, eps: float,
                      steps: int, replicas: int, seed: int, z: float, backend: str = "numba",
                      metric: str = "grad_norm_sq", start_eta: float | None = None,
                      shorten: bool = False) -> TimeToEps:
    """``min_eta T_eps(eta)`` over the grid, with the interval ``[min lo, min hi]``.

    ``z`` should already be Bonferroni-corrected for the grid's size (every grid point's
    interval holds at once, so the min's interval holds too). Common random numbers: every
    grid point runs the same ``seed``.

    Parameters
    ----------
    start_eta : float, optional
        ``None`` (claims): the whole grid. Otherwise (figures) a local search that assumes
        ``T_eps`` is unimodal in eta: from the grid point nearest ``start_eta``, to larger
        step sizes while ``T_eps`` improves, then to smaller ones while it improves (or, while
        nothing has reached eps yet, until two in a row fail).
    shorten : bool
        Once some step size reached eps at ``T*``, run later ones only to ``1.5 T* + 50``
        steps (they matter only if they reach eps sooner); the minimum is unchanged.
    """
    grid = np.sort(np.asarray(etas, dtype=np.float64))[::-1]
    found: dict = {}

    def run(k: int) -> float:
        eta = float(grid[k])
        best = min((r.value for r in found.values()), default=float("inf"))
        horizon = int(min(steps, 1.5 * best + 50)) if shorten and np.isfinite(best) else steps
        found[eta] = time_to_eps(task, make_method(eta), eps, horizon, replicas, seed, z,
                                 backend, metric)
        return found[eta].value

    if start_eta is None:
        for k in range(len(grid)):
            run(k)
    else:
        k0 = int(np.argmin(np.abs(np.log(grid) - np.log(start_eta))))
        v0 = prev = run(k0)
        for k in range(k0 - 1, -1, -1):
            v = run(k)
            if not v < prev:
                break
            prev = v
        prev, misses = v0, 0
        for k in range(k0 + 1, len(grid)):
            v = run(k)
            misses = misses + 1 if not np.isfinite(v) else 0
            if (np.isfinite(prev) and not v < prev) or misses >= 2:
                break
            prev = v
    tried = {eta: r.value for eta, r in found.items()}
    best = min(found.values(), key=lambda r: r.value)
    lo = min(r.lo for r in found.values())
    hi = min(r.hi for r in found.values())
    eta = best.eta if best.reached else float("nan")
    return TimeToEps(best.value, lo, hi, eta, tried)


def final_error(task: Task, method: Method, steps: int, replicas: int, seed: int,
                backend: str = "numba", metric: str = "subopt", window: int = 10
                ) -> tuple[float, float]:
    """Mean and SE over replicas of ``metric`` averaged over the last ``window`` checkpoints.

    The checkpoints are the last ``window`` steps ``T - window + 1 .. T``.
    """
    cps = np.arange(max(0, steps - window + 1), steps + 1)
    tr = simulate(task, method, steps=steps, replicas=replicas, seed=seed, backend=backend,
                  checkpoints=cps, derived=metric == AVERAGE)
    per_replica = tr.metric(metric).mean(axis=0)
    return float(per_replica.mean()), float(per_replica.std(ddof=1) / np.sqrt(replicas))
