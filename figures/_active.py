"""Shared settings and helpers of the active-learning figures (Cluster-Margin spec 8.3).

Not a figure: ``simlab figures active`` runs every ``figures/active_*.py``; the figure
scripts import this module beside :mod:`_common` (arguments, sidecars).

Every loop run goes through the result store (:func:`simlab.sweep.cache.cached_simulate`),
so a second ``simlab figures active`` reads the stored runs back.
"""

from __future__ import annotations

import numpy as np

from simlab.active import ActiveLearning
from simlab.sweep.cache import cached_simulate

#: (key, label, sampler, options, colour, line style) of the small-batch samplers.
ARMS = (
    ("random", "Random", "random", {}, "#7f7f7f", "-"),
    ("margin", "Margin", "margin", {}, "#1f77b4", "-"),
    ("cm1.25", "Cluster-Margin k_m=1.25 k_t", "cluster_margin", {"km_ratio": 1.25},
     "#d62728", "-"),
    ("cm10", "Cluster-Margin k_m=10 k_t", "cluster_margin", {"km_ratio": 10.0},
     "#ff9896", "--"),
    ("coreset", "CoreSet", "coreset", {}, "#2ca02c", "-"),
    ("badge", "BADGE", "badge", {}, "#9467bd", "-"),
    ("cmv_det", "Cluster-MarginV (V-det) k_m=10 k_t", "cmv_det", {"km_ratio": 10.0},
     "#8c564b", ":"),
    ("cmv_cells", "Cluster-MarginV (V-cells) k_m=10 k_t", "cmv_cells", {"km_ratio": 10.0},
     "#e377c2", ":"),
)


def loop(sampler: str, k: int, n_seed: int, **options) -> ActiveLearning:
    """The softmax-regression loop of the figures (seed sets may miss a class)."""
    return ActiveLearning(sampler=sampler, k=k, n_seed=n_seed, require_all_classes=False,
                          **options)


def run(task, method: ActiveLearning, rounds: int, replicas: int, seed: int):
    """``cached_simulate`` recorded after the seed set and after every round.

    Returns
    -------
    Trace
    """
    cps = np.array([method.horizon(r) for r in range(rounds + 1)], dtype=np.int64)
    return cached_simulate(task, method, steps=int(cps[-1]), replicas=replicas, seed=seed,
                           checkpoints=np.r_[0, cps] if cps[0] > 0 else cps)


def mean_se(trace, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, mean and standard error over replicas of ``metric`` (checkpoints >= 1)."""
    keep = trace.checkpoints >= 1
    v = trace.metric(metric)[keep]
    R = v.shape[1]
    return trace.checkpoints[keep], v.mean(axis=1), v.std(axis=1, ddof=1) / np.sqrt(R)


if __name__ == "__main__":
    print(__doc__.strip().splitlines()[0])
