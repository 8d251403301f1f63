"""Exact moment recursions of SGD alone, WGA and BC-EMA on quadratic families (spec 8.2).

With quadratic tasks and additive Gaussian noise, BC-EMA with coupled samples is a
linear-Gaussian system in ``s_t = (x_t, m_{t-1})`` (spec 8.2):

``m_t = a (A_0 - Abar) x_t + (1 - a) m_{t-1} - a c_b + a (v - u)``
``x_{t+1} = [I - eta Abar - eta a (A_0 - Abar)] x_t - eta (1 - a) m_{t-1} + eta c_G
+ eta a c_b - eta (1 - a) u - eta a v``

with ``Abar = sum alpha_i A_i``, ``c_G = sum alpha_i A_i x_i*``, ``c_b = A_0 x_0* - c_G``, the
pseudo-gradient noise ``u = sum alpha_i xi_i`` and ``v = xi_0``. WGA is the case ``a = 0``
(``m`` stays 0) and SGD alone is WGA with ``alpha = e_0``. [D]: derived for the recursions as
written in :mod:`simlab.collab.methods`; the test suite checks the Monte Carlo against it.
"""

from __future__ import annotations

import numpy as np

from simlab.collab.interface import ALL_METRICS as METRICS
from simlab.collab.methods import BCEMA, WGA, SGDAlone
from simlab.engine.model import Method, Task
from simlab.engine.moments import propagate


def _method_params(method: Method, task: Task):
    if isinstance(method, SGDAlone):
        alpha = np.zeros(task.n_tasks)
        alpha[0] = 1.0
        return alpha, lambda t: 0.0
    if isinstance(method, BCEMA):
        if not method.coupled or method.init_batch:
            raise ValueError("exact moments need BC-EMA with coupled=True and init_batch=0")
        if method.momentum == "running":
            return method.alpha(task), lambda t: 1.0 / (t + 1.0)
        a = float(method.momentum)
        return method.alpha(task), lambda t: a
    if isinstance(method, WGA):
        return method.alpha(task), lambda t: 0.0
    raise TypeError(f"exact moments are available for SGDAlone, WGA and BC-EMA, not "
                    f"{type(method).__name__}")


def exact_metrics(task: Task, method: Method, steps: int, checkpoints=None) -> np.ndarray:
    """Exact expectations of :data:`simlab.collab.interface.ALL_METRICS` (no Monte Carlo error).

    Parameters
    ----------
    task : Task
        A quadratic family exposing ``quadratic_blocks()`` (families A, B, E).
    method : SGDAlone, WGA or BCEMA
        BC-EMA must be coupled with ``m_{-1} = 0``.
    steps : int
        Horizon T.
    checkpoints : array of int, optional
        Where to report; every step when omitted.

    Returns
    -------
    ndarray, shape (K, 4)
        Columns in the order of ``METRICS``.
    """
    if not hasattr(task, "quadratic_blocks"):
        raise TypeError(f"{type(task).__name__} has no exact moment recursion")
    method.validate(task)
    H, X, x0, C = task.quadratic_blocks()
    alpha, a_of_t = _method_params(method, task)
    return exact_metrics_blocks(H, X, x0, C, alpha, a_of_t, float(method.step_size), steps,
                                checkpoints)


def pooled_blocks(task: Task, weights) -> tuple:
    """Blocks of SGD on the pooled objective ``sum alpha_i f_i`` with noise ``sum alpha_i xi_i``.

    Returns ``(H, X, x0, C, H_ref, X_ref)``: one task with Hessian ``Abar``, optimum
    ``Abar^{-1} sum alpha_i A_i x_i*`` and noise covariance ``sum alpha_i alpha_j C_ij``; metrics
    stay those of the original task 0 (``H_ref``, ``X_ref``). WGA on the task has exactly this
    law (identity (iv) of P13).
    """
    from simlab.collab.weights import resolve_weights

    H, X, x0, C = task.quadratic_blocks()
    alpha = resolve_weights(weights, task.n_tasks)
    Abar = np.einsum("i,ibjk->bjk", alpha, H)
    xbar = np.linalg.solve(Abar, np.einsum("i,ibjk,ibk->bj", alpha, H, X)[..., None])[..., 0]
    Cp = np.einsum("i,j,ijbkl->bkl", alpha, alpha, C)
    return Abar[None], xbar[None], x0, Cp[None, None], H[0], X[0]


def exact_metrics_blocks(H, X, x0, C, alpha, a_of_t, eta: float, steps: int, checkpoints=None,
                         H_ref=None, X_ref=None) -> np.ndarray:
    """:func:`exact_metrics` on explicit blocks (see ``quadratic_blocks`` of family A).

    ``H_ref``, ``X_ref`` (default task 0's) define the metrics' ``f_0``.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    B, q = X.shape[1], X.shape[2]
    eye = np.broadcast_to(np.eye(q), (B, q, q))
    Abar = np.einsum("i,ibjk->bjk", alpha, H)
    cG = np.einsum("i,ibjk,ibk->bj", alpha, H, X)
    cb = np.einsum("bjk,bk->bj", H[0], X[0]) - cG
    D = H[0] - Abar
    Cu = np.einsum("i,j,ijbkl->bkl", alpha, alpha, C)
    Cuv = np.einsum("i,ibkl->bkl", alpha, C[:, 0])
    Cv = C[0, 0]
    Cov = np.zeros((B, 2 * q, 2 * q))
    Cov[:, :q, :q], Cov[:, :q, q:], Cov[:, q:, :q], Cov[:, q:, q:] = (
        Cu, Cuv, np.transpose(Cuv, (0, 2, 1)), Cv)

    def step_fn(t):
        a = a_of_t(t)
        M = np.zeros((B, 2 * q, 2 * q))
        M[:, :q, :q] = eye - eta * Abar - eta * a * D
        M[:, :q, q:] = -eta * (1 - a) * eye
        M[:, q:, :q] = a * D
        M[:, q:, q:] = (1 - a) * eye
        c = np.concatenate([eta * cG + eta * a * cb, -a * cb], axis=1)
        K = np.zeros((B, 2 * q, 2 * q))
        K[:, :q, :q] = -eta * (1 - a) * eye
        K[:, :q, q:] = -eta * a * eye
        K[:, q:, :q] = -a * eye
        K[:, q:, q:] = a * eye
        return M, c, K @ Cov @ np.transpose(K, (0, 2, 1))

    H0 = H[0] if H_ref is None else H_ref
    X0 = X[0] if X_ref is None else X_ref

    def observe(mu, P):
        e = mu[:, :q] - X0
        Pxx = P[:, :q, :q]
        g = np.einsum("bjk,bk->bj", H0, e)
        gn = np.sum(g * g) + np.einsum("bij,bjk,bik->", H0, Pxx, H0)
        f = 0.5 * (np.sum(e * g) + np.einsum("bij,bji->", H0, Pxx))
        dist = np.sum(e * e) + np.einsum("bii->", Pxx)
        return np.array([gn, f, dist])

    mu0 = np.concatenate([x0, np.zeros((B, q))], axis=1)
    P0 = np.zeros((B, 2 * q, 2 * q))
    dense = propagate(step_fn, mu0, P0, steps, observe)
    avg = np.concatenate([[dense[0, 0]], np.cumsum(dense[:-1, 0]) / np.arange(1, steps + 1)])
    out = np.concatenate([dense, avg[:, None]], axis=1)
    assert out.shape[1] == len(METRICS)
    if checkpoints is not None:
        out = out[np.asarray(checkpoints)]
    return out
