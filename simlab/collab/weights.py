"""Task weights of the collab methods: ``alpha`` over the N + 1 tasks (spec 3.1)."""

from __future__ import annotations

import numpy as np


def resolve_weights(weights, n_tasks: int) -> np.ndarray:
    """Turn a weight spec into a validated probability vector of length ``n_tasks``.

    Parameters
    ----------
    weights : {"uniform", "alone"} or sequence of float
        ``"uniform"`` gives ``1/(N+1)`` each, ``"alone"`` gives ``e_0``.
    n_tasks : int
        ``N + 1``.

    Returns
    -------
    ndarray of float64

    Raises
    ------
    ValueError
        If a weight is negative, the length is wrong, or they do not sum to 1 (within 1e-9).
    """
    if isinstance(weights, str):
        if weights == "uniform":
            return np.full(n_tasks, 1.0 / n_tasks)
        if weights == "alone":
            w = np.zeros(n_tasks)
            w[0] = 1.0
            return w
        raise ValueError(f"weights must be 'uniform', 'alone' or a sequence of {n_tasks} "
                         f"non-negative floats summing to 1; got {weights!r}")
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape[0] != n_tasks:
        raise ValueError(f"weights must have length N+1 = {n_tasks}, got {w.shape[0]}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be >= 0 and finite, got {w.tolist()}")
    if abs(w.sum() - 1.0) > 1e-9:
        raise ValueError(f"weights must sum to 1, got sum {w.sum():.12g}")
    return w


def beta_weights(beta: float, n_aux: int) -> tuple[float, ...]:
    """The one-parameter family ``alpha_0 = 1 - beta``, ``alpha_i = beta / N`` (spec 3.1)."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if n_aux == 0:
        return (1.0,)
    return (1.0 - beta,) + (beta / n_aux,) * n_aux
