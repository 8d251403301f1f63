"""Call a task family's plain ops directly on its packed arrays (the pure-Python reference).

Thin wrappers, with seeds, over :mod:`simlab.collab.conformance`: the ops are the functions the
kernel factory compiles; called here as plain Python they draw from the engine's generator on
numpy ``uint64`` state, exactly as the numpy backend does.
"""

from __future__ import annotations

import numpy as np

from simlab.collab import conformance as cc


def draw_split(task, alpha, x, n: int, seed: int = 0, bank: int = 0):
    """``n`` successive ``(g0, aux)`` from ``sample_split`` at ``x``; arrays ``(n, d)``."""
    return cc.draw_split(task, alpha, x, n, cc.banks(task, seed)[bank])


def draw_grad(task, i: int, x, n: int, seed: int = 0, bank: int = 0) -> np.ndarray:
    """``n`` successive ``g_i(x)`` from ``sample_grad``; array ``(n, d)``."""
    return cc.draw_grad(task, i, x, n, cc.banks(task, seed)[bank])


def metrics_row(task, x) -> np.ndarray:
    """``[||grad f_0||^2, f_0 - f_0*, dist^2]`` from the ``metrics`` op."""
    return cc.metrics_row(task, x)


def init_point(task) -> np.ndarray:
    """``x_0`` from the ``init_x`` op."""
    return cc.init_point(task)


def grad_norm_sq0(task, x) -> float:
    """The ``grad_norm_sq0`` op."""
    tdata, tmeta = task.packed()
    return float(cc.ops(task)["grad_norm_sq0"](tdata, tmeta, np.asarray(x, dtype=np.float64)))


def zscore_mean(samples: np.ndarray, expected) -> np.ndarray:
    """``(mean - expected) / SE`` per column."""
    m = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
    return (m - expected) / se


def zscore_var(noise: np.ndarray, expected_var) -> np.ndarray:
    """z-score of the second moment of zero-mean ``noise`` per column against ``expected_var``."""
    sq = noise ** 2
    return (sq.mean(axis=0) - expected_var) / (sq.std(axis=0, ddof=1) / np.sqrt(len(sq)))
