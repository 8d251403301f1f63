"""Statistics over replicas that merge across blocks: counts, means and sums of squares.

A block of replicas is summarised at every checkpoint and metric by its count ``n``, its mean
and ``M2 = sum (x - mean)^2``. Two blocks merge exactly (Chan, Golub and LeVeque 1979)::

    n = n_a + n_b,  d = mean_b - mean_a,
    mean = mean_a + d n_b / n,  M2 = M2_a + M2_b + d^2 n_a n_b / n,

so the merged mean and standard error equal those of all the replicas taken together (up to
rounding), not an average of the blocks' means. For one block the numbers are computed exactly
as :class:`simlab.engine.trace.Trace` computes them, so a cached summary equals the trace's
``mean``, ``se`` and ``ci`` bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simlab.engine.stats import normal_ci


@dataclass(frozen=True)
class ReplicaStats:
    """Per-checkpoint statistics of each metric over a set of replicas.

    Attributes
    ----------
    checkpoints : ndarray of int64, shape (K,)
    metrics : tuple of str, length M
    count : ndarray of int64, shape (K, M)
        Number of replicas.
    means : ndarray of float64, shape (K, M)
    m2 : ndarray of float64, shape (K, M)
        Sum of squared deviations from the mean.
    """

    checkpoints: np.ndarray
    metrics: tuple
    count: np.ndarray
    means: np.ndarray
    m2: np.ndarray

    @classmethod
    def from_values(cls, checkpoints, values: np.ndarray, metrics) -> ReplicaStats:
        """Summarise ``values[k, r, m]`` (metric ``metrics[m]`` of replica ``r`` at ``k``)."""
        K, R, M = values.shape
        means = np.empty((K, M))
        m2 = np.empty((K, M))
        for m in range(M):
            v = values[:, :, m]  # as Trace.metric slices it: the same reductions, bit for bit
            means[:, m] = v.mean(axis=1)
            dev = v - means[:, m][:, None]
            m2[:, m] = (dev * dev).sum(axis=1)
        return cls(np.asarray(checkpoints, dtype=np.int64), tuple(metrics),
                   np.full((K, M), R, dtype=np.int64), means, m2)

    def select(self, metrics) -> ReplicaStats:
        """The statistics of a subset of the metrics, in the order given."""
        metrics = tuple(metrics)
        if metrics == self.metrics:
            return self
        cols = [self._col(m) for m in metrics]
        return ReplicaStats(self.checkpoints, metrics, self.count[:, cols], self.means[:, cols],
                            self.m2[:, cols])

    def merge(self, other: ReplicaStats) -> ReplicaStats:
        """The statistics of the union of two disjoint sets of replicas."""
        if self.metrics != other.metrics or not np.array_equal(self.checkpoints,
                                                               other.checkpoints):
            raise ValueError("can only merge statistics of the same checkpoints and metrics")
        na, nb = self.count.astype(np.float64), other.count.astype(np.float64)
        n = na + nb
        d = other.means - self.means
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(n > 0, self.means + d * (nb / n), np.nan)
            m2 = np.where(n > 0, self.m2 + other.m2 + d * d * (na * nb / n), np.nan)
        return ReplicaStats(self.checkpoints, self.metrics, self.count + other.count, means, m2)

    @staticmethod
    def merge_all(parts) -> ReplicaStats:
        """Merge a non-empty sequence of statistics, left to right."""
        parts = list(parts)
        out = parts[0]
        for p in parts[1:]:
            out = out.merge(p)
        return out

    # -- the Trace interface (mean, se, ci) -----------------------------------------------
    @property
    def replicas(self) -> int:
        """Number of replicas (at the first checkpoint)."""
        return int(self.count[0, 0]) if self.count.size else 0

    def _col(self, name: str) -> int:
        if name not in self.metrics:
            raise KeyError(f"unknown metric {name!r}; these statistics hold {self.metrics}")
        return self.metrics.index(name)

    def mean(self, name: str) -> np.ndarray:
        """Mean over replicas at each checkpoint, shape (K,)."""
        return self.means[:, self._col(name)]

    def std(self, name: str) -> np.ndarray:
        """Standard deviation over replicas (``ddof=1``; 0 for one replica), shape (K,)."""
        m = self._col(name)
        n = self.count[:, m]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 1, np.sqrt(self.m2[:, m] / np.maximum(n - 1, 1)), 0.0)

    def se(self, name: str) -> np.ndarray:
        """Standard error of the mean, shape (K,) (0 for one replica)."""
        m = self._col(name)
        n = self.count[:, m]
        return np.where(n > 1, self.std(name) / np.sqrt(np.maximum(n, 1)), 0.0)

    def ci(self, name: str, level: float = 0.95) -> np.ndarray:
        """Two-sided normal-approximation confidence interval of the mean, shape (K, 2)."""
        return normal_ci(self.mean(name), self.se(name), level)
