"""The result of a simulation: metrics ``[checkpoint, replica]`` and statistics over replicas."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simlab.engine.stats import normal_ci


class MetricNotComputed(KeyError):
    """A derived metric was not asked for in this run (its column holds NaN)."""


@dataclass
class Trace:
    """Metrics of R replicas at K points of an axis (steps, labels queried, ...).

    Attributes
    ----------
    checkpoints : ndarray, shape (K,)
        The points of :attr:`axis` at which the metrics were recorded (``x_t`` after ``t``
        steps for compiled kernels).
    values : ndarray of float64, shape (K, R, M)
        ``values[k, r, m]``: metric ``metrics[m]`` of replica ``replica_ids[r]`` at
        ``checkpoints[k]``.
    replica_ids : ndarray of int64, shape (R,)
    seed : int
    metrics : tuple of str, length M
        The column names, as the task and the method declare them.
    axis : str
        Name of the x-axis (``"step"`` for kernels; a loop names its own).
    computed : tuple of str, optional
        The metrics that hold numbers (``None``: all). A derived metric that was not asked for
        is NaN in :attr:`values`, and :meth:`metric` refuses it.
    info : dict
        Task, method, backend and timing.
    """

    checkpoints: np.ndarray
    values: np.ndarray
    replica_ids: np.ndarray
    seed: int
    metrics: tuple = ()
    axis: str = "step"
    computed: tuple | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.metrics) != self.values.shape[2]:
            raise ValueError(f"a trace with {self.values.shape[2]} metric columns needs as many "
                             f"names, got {list(self.metrics)}")

    @property
    def replicas(self) -> int:
        """Number of replicas R."""
        return int(self.values.shape[1])

    def metric(self, name: str) -> np.ndarray:
        """All replicas of one metric, shape (K, R).

        Raises
        ------
        KeyError
            Not a metric of this run (naming those it has).
        MetricNotComputed
            A derived metric that was not asked for.
        """
        if name not in self.metrics:
            raise KeyError(f"unknown metric {name!r}; this trace has {list(self.metrics)}")
        if self.computed is not None and name not in self.computed:
            raise MetricNotComputed(f"{name!r} was not computed in this run (it is NaN): ask "
                                    f"for it, e.g. simulate(..., derived=[{name!r}])")
        return self.values[:, :, self.metrics.index(name)]

    def mean(self, name: str) -> np.ndarray:
        """Mean over replicas at each checkpoint, shape (K,)."""
        return self.metric(name).mean(axis=1)

    def se(self, name: str) -> np.ndarray:
        """Standard error of the mean over replicas, shape (K,) (0 for one replica)."""
        v = self.metric(name)
        if v.shape[1] < 2:
            return np.zeros(v.shape[0])
        return v.std(axis=1, ddof=1) / np.sqrt(v.shape[1])

    def ci(self, name: str, level: float = 0.95) -> np.ndarray:
        """Two-sided normal-approximation confidence interval of the mean, shape (K, 2)."""
        return normal_ci(self.mean(name), self.se(name), level)

    def quantiles(self, name: str, q=(0.1, 0.9)) -> np.ndarray:
        """Quantiles over replicas (the spread bands of figures), shape (K, len(q))."""
        return np.quantile(self.metric(name), q, axis=1).T

    def to_pandas(self):
        """A tidy DataFrame: one row per (checkpoint, replica), one column per metric."""
        import pandas as pd

        K, R, _ = self.values.shape
        df = pd.DataFrame({
            self.axis: np.repeat(self.checkpoints, R),
            "replica": np.tile(self.replica_ids, K),
        })
        for m, name in enumerate(self.metrics):
            if self.computed is None or name in self.computed:
                df[name] = self.values[:, :, m].ravel()
        return df

    def summary(self, name: str):
        """Per-checkpoint mean, SE and 95% CI of one metric as a DataFrame."""
        import pandas as pd

        ci = self.ci(name)
        return pd.DataFrame({self.axis: self.checkpoints, "mean": self.mean(name),
                             "se": self.se(name), "ci_low": ci[:, 0], "ci_high": ci[:, 1]})

    def __repr__(self) -> str:
        return (f"Trace(K={len(self.checkpoints)}, R={self.replicas}, seed={self.seed}, "
                f"{self.axis}s={self.checkpoints[-1]}, metrics={list(self.metrics)}, "
                f"{self.info.get('method', '')})")
