"""Summaries of active-learning curves: the paper's "X% fewer labels" (spec 5.1)."""

from __future__ import annotations

import numpy as np

__all__ = ["fewer_labels", "labels_to_metric"]


def labels_to_metric(labels, metric, target: float) -> float:
    """The smallest label count at which the linearly interpolated curve reaches ``target``.

    Parameters
    ----------
    labels : array_like, shape (m,)
        Increasing label counts.
    metric : array_like, shape (m,)
        The curve (larger is better).
    target : float

    Returns
    -------
    float
        ``inf`` when the curve never reaches ``target``.
    """
    x = np.asarray(labels, dtype=np.float64)
    y = np.asarray(metric, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"labels and metric must be 1-D of one length, got {x.shape}, "
                         f"{y.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("labels must be increasing")
    hit = np.flatnonzero(y >= target)
    if hit.size == 0:
        return float("inf")
    j = int(hit[0])
    if j == 0:
        return float(x[0])
    t = (target - y[j - 1]) / (y[j] - y[j - 1])
    return float(x[j - 1] + t * (x[j] - x[j - 1]))


def fewer_labels(labels, metric, labels_comp, metric_comp) -> float:
    """The "X% fewer labels" of spec 5.1 (this spec's precise definition; UNVERIFIED
    whether the paper measured from the seed size or from zero).

    Take the competitor's metric at its final budget ``m* = metric_comp[-1]``, find the
    smallest ``N`` at which the interpolated curve of the method reaches ``m*``, and return
    ``1 - N / N_final`` (``N_final = labels_comp[-1]``), measured from zero labels.

    Returns
    -------
    float
        The saving (negative when the method needs more labels; ``-inf`` when it never gets
        there).
    """
    lc = np.asarray(labels_comp, dtype=np.float64)
    n = labels_to_metric(labels, metric, float(np.asarray(metric_comp, dtype=float)[-1]))
    return float(1.0 - n / lc[-1]) if np.isfinite(n) else float("-inf")
