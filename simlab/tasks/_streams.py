"""What the streaming task families (subsample spec 6.1) share: the op contract and helpers.

A streaming family models a production stream that a model is trained on, window by window.
Its parameters are ``theta = (w, c)`` (weights and intercept, ``D = d + 1``), in the family's
slot ``theta``; each replica draws its own stream from the family's stream group ``data`` (one
stream, keyed by ``(seed, replica, 0)``), so two methods run with the same seed see the same
windows (paired comparisons). Every streaming family provides these ops, with the same names
and parameters, so a sampling method runs on any of them:

``stream_init(tdata, tmeta, theta)``
    The starting model ``theta_0 = warm theta*_0`` (a deployed model being retrained).
``stream_window(tdata, tmeta, t, data, X, y)``
    Draw the window of step ``t``: ``n`` rows into ``X`` (row-major, ``n * d``), labels into
    ``y``.
``stream_loss(tdata, tmeta, theta, X, y, i)``
    Instance ``i``'s loss at the parameters ``theta`` (training or serving copy).
``stream_dloss(tdata, tmeta, theta, X, y, i)``
    ``|d loss / d output|``: the last-layer gradient norm of Katharopoulos and Fleuret's score.
``stream_grad(tdata, tmeta, theta, X, y, i, scale, out)``
    Add ``scale * grad_theta loss_i`` to ``out``; return ``||grad_theta loss_i||``.
``stream_record(tdata, tmeta, t, theta, row)``
    The family's metrics (``test_loss`` first).

[R]: these are the spec's synthetic tasks (section 6.1), not the paper's data (UNVERIFIED).
"""

from __future__ import annotations

import numpy as np


def unit_pair(d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random unit vector and a unit vector orthogonal to it (zero when ``d == 1``)."""
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    u = rng.standard_normal(d)
    u -= (u @ w) * w
    nu = np.linalg.norm(u)
    u = u / nu if d > 1 and nu > 1e-12 else np.zeros(d)
    return w, u


def heavy_rows(n: int, d: int, row_sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows ``r g`` with ``g ~ N(0, I_d)`` and ``log r ~ N(0, row_sigma^2)``."""
    g = rng.standard_normal((n, d))
    return g * np.exp(row_sigma * rng.standard_normal(n))[:, None]


def sigmoid(z):
    """The logistic function, stable for any ``z``."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def draw_windows(task, windows: int, seed: int, t: int = 0):
    """``windows`` consecutive windows of one stream of ``task`` drawn by its own
    ``stream_window`` op (plain Python, as the numpy backend runs it): ``X`` of shape
    ``(windows, n, d)`` and ``y`` of shape ``(windows, n)``."""
    import sys

    from simlab.engine.rng import seed_stream

    ops = sys.modules[type(task).__module__]
    dims = task.dims()
    n, d = dims["n"], dims["d"]
    tdata, tmeta = task.packed()
    state = np.zeros((1, 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        seed_stream(np.uint64(seed), np.uint64(0), 0, state[0])
        X = np.zeros((windows, n * d))
        y = np.zeros((windows, n))
        for w in range(windows):
            ops.stream_window(tdata, tmeta, t, state, X[w], y[w])
    return X.reshape(windows, n, d), y


def window_gradients(task, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The window-mean gradient at ``theta`` of each window, by the task's ``stream_grad``."""
    import sys

    ops = sys.modules[type(task).__module__]
    tdata, tmeta = task.packed()
    W, n, d = X.shape
    out = np.zeros((W, d + 1))
    for w in range(W):
        flat = np.ascontiguousarray(X[w].ravel())
        for i in range(n):
            ops.stream_grad(tdata, tmeta, theta, flat, y[w], i, 1.0 / n, out[w])
    return out
