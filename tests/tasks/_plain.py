"""Call a task family's plain ops directly on its packed arrays (the pure-Python reference).

The ops are the functions the kernel factory compiles; called here as plain Python they draw
from the engine's generator on numpy ``uint64`` state, exactly as the numpy backend does.
"""

from __future__ import annotations

import numpy as np

from simlab.engine import rng


def ops(task) -> dict:
    """The task's ops by name."""
    return {f.__name__: f for f in task.ops_functions}


def streams(task, seed: int, replica: int = 0) -> np.ndarray:
    """The ``2 (N + 2)`` random streams of one replica, seeded as the engine seeds them."""
    s = np.zeros((task.n_sources, 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for src in range(task.n_sources):
            rng.seed_stream(np.uint64(seed), replica, src, s[src])
    return s


def prepared(task, alpha) -> np.ndarray:
    """The ``prep`` cache for weights ``alpha``."""
    tdata, tmeta = task.packed()
    prep = np.zeros(max(task.prep_size, 1))
    ops(task)["prepare"](tdata, tmeta, np.asarray(alpha, dtype=np.float64), prep)
    return prep


def draw_split(task, alpha, x, n: int, seed: int = 0, bank: int = 0, s=None):
    """``n`` successive ``(g0, aux)`` from ``sample_split`` at ``x``; arrays ``(n, d)``."""
    tdata, tmeta = task.packed()
    alpha = np.asarray(alpha, dtype=np.float64)
    prep = prepared(task, alpha)
    s = streams(task, seed) if s is None else s
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[0]
    g0, aux = np.zeros((n, d)), np.zeros((n, d))
    fn = ops(task)["sample_split"]
    with np.errstate(over="ignore"):
        for r in range(n):
            fn(tdata, tmeta, alpha, x, s, bank, prep, g0[r], aux[r])
    return g0, aux


def draw_grad(task, i: int, x, n: int, seed: int = 0, bank: int = 0, s=None) -> np.ndarray:
    """``n`` successive ``g_i(x)`` from ``sample_grad``; array ``(n, d)``."""
    tdata, tmeta = task.packed()
    s = streams(task, seed) if s is None else s
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros((n, x.shape[0]))
    fn = ops(task)["sample_grad"]
    with np.errstate(over="ignore"):
        for r in range(n):
            fn(tdata, tmeta, i, x, s, bank, out[r])
    return out


def metrics_row(task, x) -> np.ndarray:
    """``[||grad f_0||^2, f_0 - f_0*, dist^2]`` from the ``metrics`` op."""
    tdata, tmeta = task.packed()
    row = np.zeros(4)
    ops(task)["metrics"](tdata, tmeta, np.asarray(x, dtype=np.float64), row)
    return row[:3]


def init_point(task) -> np.ndarray:
    """``x_0`` from the ``init_x`` op."""
    tdata, tmeta = task.packed()
    x = np.zeros(int(tmeta[0]))
    ops(task)["init_x"](tdata, tmeta, x)
    return x


def grad_norm_sq0(task, x) -> float:
    """The ``grad_norm_sq0`` op."""
    tdata, tmeta = task.packed()
    return float(ops(task)["grad_norm_sq0"](tdata, tmeta, np.asarray(x, dtype=np.float64)))


def bank_isolation(task, alpha, x) -> tuple[bool, bool]:
    """``(only_bank_1_moved, replay_equal)`` for ``sample_split`` on bank 1.

    Draws once from bank 1 and checks that the other banks' rows are untouched; then copies
    bank 0 into bank 1 (as BC-MVR does) and checks that both banks give the same sample.
    """
    tdata, tmeta = task.packed()
    nb = task.n_aux + 2
    s = streams(task, 7)
    before = s.copy()
    draw_split(task, alpha, x, 1, bank=1, s=s)
    untouched = np.array_equal(s[:nb], before[:nb]) and np.array_equal(s[2 * nb:],
                                                                         before[2 * nb:])
    s[nb:2 * nb] = s[:nb]
    a0, b0 = draw_split(task, alpha, x, 1, bank=0, s=s)
    a1, b1 = draw_split(task, alpha, x, 1, bank=1, s=s)
    return untouched, bool(np.array_equal(a0, a1) and np.array_equal(b0, b1))


def zscore_mean(samples: np.ndarray, expected) -> np.ndarray:
    """``(mean - expected) / SE`` per column."""
    m = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
    return (m - expected) / se


def zscore_var(noise: np.ndarray, expected_var) -> np.ndarray:
    """z-score of the second moment of zero-mean ``noise`` per column against ``expected_var``."""
    sq = noise ** 2
    return (sq.mean(axis=0) - expected_var) / (sq.std(axis=0, ddof=1) / np.sqrt(len(sq)))
