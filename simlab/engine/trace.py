"""The result of a simulation: metrics ``[checkpoint, replica]`` and statistics over replicas."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from simlab.engine.kernel import METRICS


@dataclass
class Trace:
    """Metrics of R replicas at K checkpoints.

    Attributes
    ----------
    checkpoints : ndarray of int64, shape (K,)
        Step indices ``t`` (``x_t`` after ``t`` steps).
    values : ndarray of float64, shape (K, R, M)
        ``values[k, r, m]``: metric ``METRICS[m]`` of replica ``replica_ids[r]`` at
        ``checkpoints[k]``.
    replica_ids : ndarray of int64, shape (R,)
    seed : int
    info : dict
        Task, method, backend and timing.
    """

    checkpoints: np.ndarray
    values: np.ndarray
    replica_ids: np.ndarray
    seed: int
    info: dict = field(default_factory=dict)

    metric_names = METRICS

    @property
    def replicas(self) -> int:
        """Number of replicas R."""
        return int(self.values.shape[1])

    def metric(self, name: str) -> np.ndarray:
        """All replicas of one metric, shape (K, R)."""
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; choose from {METRICS}")
        return self.values[:, :, METRICS.index(name)]

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
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        z = stats.norm.ppf(0.5 + level / 2)
        m, s = self.mean(name), self.se(name)
        return np.stack([m - z * s, m + z * s], axis=1)

    def quantiles(self, name: str, q=(0.1, 0.9)) -> np.ndarray:
        """Quantiles over replicas (the spread bands of figures), shape (K, len(q))."""
        return np.quantile(self.metric(name), q, axis=1).T

    def to_pandas(self):
        """A tidy DataFrame: one row per (checkpoint, replica), one column per metric."""
        import pandas as pd

        K, R, _ = self.values.shape
        df = pd.DataFrame({
            "step": np.repeat(self.checkpoints, R),
            "replica": np.tile(self.replica_ids, K),
        })
        for m, name in enumerate(METRICS):
            df[name] = self.values[:, :, m].ravel()
        return df

    def summary(self, name: str = "grad_norm_sq"):
        """Per-checkpoint mean, SE and 95% CI as a DataFrame."""
        import pandas as pd

        ci = self.ci(name)
        return pd.DataFrame({"step": self.checkpoints, "mean": self.mean(name),
                             "se": self.se(name), "ci_low": ci[:, 0], "ci_high": ci[:, 1]})

    def __repr__(self) -> str:
        return (f"Trace(K={len(self.checkpoints)}, R={self.replicas}, seed={self.seed}, "
                f"steps={int(self.checkpoints[-1])}, {self.info.get('method', '')})")
