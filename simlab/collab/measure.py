"""Measurements shared by the collab claims, figures and notebooks.

* :func:`time_to_eps`: spec 8.3's ``T_eps`` of one configuration with its confidence interval.
* :func:`time_to_eps_tuned`: the minimum over a step-size grid (geometric, factor 2, capped at
  ``1/L``), as spec 8.3 prescribes.
* :func:`final_error`: the mean over replicas of a metric averaged over the last checkpoints of
  each replica, with its standard error (replicas are independent, so the SE is honest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simlab.engine import stats
from simlab.engine.model import Method, Task
from simlab.engine.simulate import DivergenceError, simulate


@dataclass(frozen=True)
class TimeToEps:
    """``T_eps`` with its interval ``[lo, hi]`` (``inf`` when not reached within the horizon)."""

    value: float
    lo: float
    hi: float
    eta: float = float("nan")

    @property
    def reached(self) -> bool:
        """Whether the mean curve reached ``eps``."""
        return bool(np.isfinite(self.value))


def time_to_eps(task: Task, method: Method, eps: float, steps: int, replicas: int, seed: int,
                z: float, backend: str = "numba", metric: str = "grad_norm_sq") -> TimeToEps:
    """``T_eps`` of the smoothed Monte Carlo mean of ``metric`` (spec 8.3), with its interval.

    The interval comes from the curves ``mean -+ z SE`` (a lower curve reaches ``eps`` no
    later than the mean). A run that diverges never reaches ``eps`` (``inf``).
    """
    try:
        tr = simulate(task, method, steps=steps, replicas=replicas, seed=seed, backend=backend,
                      checkpoints="all", track_average=False)
    except DivergenceError:
        # a diverging step size never reaches eps; in a grid search it is simply a bad choice
        inf = float("inf")
        return TimeToEps(inf, inf, inf, float(method.step_size))
    v, lo, hi = stats.time_to_eps_interval(tr.mean(metric), tr.se(metric), eps, z)
    return TimeToEps(v, lo, hi, float(method.step_size))


def eta_grid(L: float, n: int) -> np.ndarray:
    """``n`` step sizes ``1/L, 1/(2L), 1/(4L), ...`` (spec 8.3: factor 2, capped at ``1/L``).

    Pass the largest smoothness among the tasks a method queries (``max L_tasks``) when the
    auxiliary tasks are more curved than task 0.
    """
    return (1.0 / L) * 0.5 ** np.arange(n)


def time_to_eps_tuned(task: Task, make_method: Callable[[float], Method], etas, eps: float,
                      steps: int, replicas: int, seed: int, z: float, backend: str = "numba",
                      metric: str = "grad_norm_sq") -> TimeToEps:
    """``min_eta T_eps(eta)`` over the grid, with the interval ``[min lo, min hi]``.

    ``z`` should already be Bonferroni-corrected for the grid's size (every grid point's
    interval holds at once, so the min's interval holds too). Common random numbers: every
    grid point runs the same ``seed``.
    """
    best = None
    lo = hi = float("inf")
    for eta in etas:
        r = time_to_eps(task, make_method(float(eta)), eps, steps, replicas, seed, z, backend,
                        metric)
        lo, hi = min(lo, r.lo), min(hi, r.hi)
        if best is None or r.value < best.value:
            best = r
    return TimeToEps(best.value, lo, hi, best.eta)


def final_error(task: Task, method: Method, steps: int, replicas: int, seed: int,
                backend: str = "numba", metric: str = "subopt", window: int = 10
                ) -> tuple[float, float]:
    """Mean and SE over replicas of ``metric`` averaged over the last ``window`` checkpoints.

    The checkpoints are the last ``window`` steps ``T - window + 1 .. T``.
    """
    cps = np.arange(max(0, steps - window + 1), steps + 1)
    tr = simulate(task, method, steps=steps, replicas=replicas, seed=seed, backend=backend,
                  checkpoints=cps, track_average=False)
    per_replica = tr.metric(metric).mean(axis=0)
    return float(per_replica.mean()), float(per_replica.std(ddof=1) / np.sqrt(replicas))
