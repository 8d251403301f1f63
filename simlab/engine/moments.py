"""Exact first and second moments of linear-Gaussian recursions (the Monte Carlo's oracle).

A recursion ``s_{t+1} = M_t s_t + c_t + e_t`` with ``e_t ~ N(0, Q_t)`` independent of the past
has ``mu_{t+1} = M_t mu_t + c_t`` and ``P_{t+1} = M_t P_t M_t^T + Q_t``. Systems that decouple
into independent blocks (diagonal Hessians) are propagated as a batch of small blocks, shape
``(B, n, n)``; a coupled system is one block.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def propagate(step_fn: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]],
              mu0: np.ndarray, P0: np.ndarray, steps: int,
              observe: Callable[[np.ndarray, np.ndarray], np.ndarray],
              checkpoints: np.ndarray | None = None) -> np.ndarray:
    """Propagate mean and covariance for ``steps`` steps and observe them.

    Parameters
    ----------
    step_fn : callable
        ``t -> (M_t, c_t, Q_t)`` with shapes ``(B, n, n)``, ``(B, n)``, ``(B, n, n)``.
    mu0, P0 : ndarray
        Initial mean ``(B, n)`` and covariance ``(B, n, n)``.
    steps : int
        Number of steps T.
    observe : callable
        ``(mu, P) -> array of m values`` (e.g. exact expected metrics).
    checkpoints : ndarray of int, optional
        Steps at which to observe; every step ``0..T`` when omitted.

    Returns
    -------
    ndarray, shape (T + 1, m) or (len(checkpoints), m)
        Observations at every step, or at the checkpoints.
    """
    mu, P = mu0.copy(), P0.copy()
    obs = [observe(mu, P)]
    for t in range(steps):
        M, c, Q = step_fn(t)
        mu = np.einsum("bij,bj->bi", M, mu) + c
        P = M @ P @ np.transpose(M, (0, 2, 1)) + Q
        obs.append(observe(mu, P))
    out = np.asarray(obs)
    if checkpoints is not None:
        out = out[np.asarray(checkpoints)]
    return out
