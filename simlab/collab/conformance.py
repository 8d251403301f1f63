"""What the collab task families add to the engine's conformance checks.

The engine's checks (:mod:`simlab.engine.conformance`) know nothing of the collab interface;
this module calls a family's plain ops directly (the pure-Python reference, drawing from the
engine's generator exactly as the numpy backend does) to give

* :func:`noise_law`: the family's ``noise_law(n, seed)`` hook: the means of ``sample_grad``
  and ``sample_split`` draws and of their squared noise, against ``gradient()`` and
  ``constants()`` (``sigma_i^2``; ``sigma_b_sq``, the variance of BC's one-sample bias estimate,
  which carries the correlations of family E);
* :func:`bank_isolation`: ``sample_split`` on one bank draws from that bank only, and a copy of
  a bank (:func:`simlab.engine.rng.copy_streams`) replays its draws exactly;
* :func:`exact_moments`: the family's ``exact_moments(method, steps, checkpoints)`` hook, from
  :mod:`simlab.collab.moments` where the recursion is exact.
"""

from __future__ import annotations

import numpy as np

from simlab.collab.interface import METRICS
from simlab.engine import rng
from simlab.engine.conformance import LawCheck


def ops(task) -> dict:
    """The family's plain functions by name."""
    return {f.__name__: f for f in type(task).ops.functions}


def banks(task, seed: int, replica: int = 0) -> np.ndarray:
    """The three banks of one replica, seeded as the engine seeds them: ``(3, N + 2, 2)``."""
    nb = task.n_aux + 2
    s = np.zeros((3 * nb, 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for src in range(3 * nb):
            rng.seed_stream(np.uint64(seed), replica, src, s[src])
    return s.reshape(3, nb, 2)


def prepared(task, alpha) -> np.ndarray:
    """The ``prep`` slot for weights ``alpha``."""
    tdata, tmeta = task.packed()
    prep = np.zeros(max(task.prep_size, 1))
    ops(task)["prepare"](tdata, tmeta, np.asarray(alpha, dtype=np.float64), prep)
    return prep


def draw_split(task, alpha, x, n: int, bank: np.ndarray):
    """``n`` successive ``(g0, aux)`` of ``sample_split`` at ``x`` from ``bank``: ``(n, d)``."""
    tdata, tmeta = task.packed()
    alpha = np.asarray(alpha, dtype=np.float64)
    prep = prepared(task, alpha)
    x = np.asarray(x, dtype=np.float64)
    g0, aux = np.zeros((n, x.shape[0])), np.zeros((n, x.shape[0]))
    fn = ops(task)["sample_split"]
    with np.errstate(over="ignore"):
        for r in range(n):
            fn(tdata, tmeta, alpha, x, bank, prep, g0[r], aux[r])
    return g0, aux


def draw_grad(task, i: int, x, n: int, bank: np.ndarray) -> np.ndarray:
    """``n`` successive ``g_i(x)`` of ``sample_grad`` from ``bank``: ``(n, d)``."""
    tdata, tmeta = task.packed()
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros((n, x.shape[0]))
    fn = ops(task)["sample_grad"]
    with np.errstate(over="ignore"):
        for r in range(n):
            fn(tdata, tmeta, i, x, bank, out[r])
    return out


def metrics_row(task, x) -> np.ndarray:
    """The family's metrics at ``x`` from its ``metrics`` op (:data:`METRICS` order)."""
    tdata, tmeta = task.packed()
    row = np.zeros(len(METRICS))
    ops(task)["metrics"](tdata, tmeta, np.asarray(x, dtype=np.float64), row)
    return row


def init_point(task) -> np.ndarray:
    """``x_0`` from the ``init_x`` op."""
    tdata, tmeta = task.packed()
    x = np.zeros(task.d)
    ops(task)["init_x"](tdata, tmeta, x)
    return x


def probe_point(task, seed: int = 0) -> np.ndarray:
    """A point near the start, off every optimum, to draw the noise at."""
    r = np.random.default_rng([seed, 0x5A])
    return init_point(task) + 0.3 * r.standard_normal(task.d)


def _sigma_b_sq(task, alpha) -> float | None:
    c = task.constants(alpha)
    if "sigma_b_sq" in c:
        v = float(c["sigma_b_sq"])
        return v if np.isfinite(v) else None
    sg = np.asarray(c.get("sigma"), dtype=np.float64)
    if sg.shape != (task.n_tasks,) or not np.all(np.isfinite(sg)):
        return None
    a = np.asarray(alpha, dtype=np.float64)
    return float((1 - a[0]) ** 2 * sg[0] ** 2 + np.sum(a[1:] ** 2 * sg[1:] ** 2))


def noise_law(task, n: int, seed: int) -> list[LawCheck]:
    """The family's noise law at a probe point (the ``noise_law`` conformance hook).

    Per task ``i``: ``E g_i(x) = grad f_i(x)`` and ``E||g_i(x) - grad f_i(x)||^2`` is the
    family's ``noise_trace(x, i)`` (``sigma_i^2`` for additive noise). For ``sample_split`` with
    non-uniform weights: ``E g0``, ``E aux = sum_{i>=1} alpha_i grad f_i(x)`` and
    ``E||b - E b||^2 = sigma_b_sq`` for the bias estimate ``b = (1 - alpha_0) g0 - aux``.
    """
    x = probe_point(task, seed)
    out = []
    bank = banks(task, seed)[0]
    for i in range(task.n_tasks):
        g = draw_grad(task, i, x, n, bank)
        mean = task.gradient(x, i)
        out.append(LawCheck(f"E g_{i}(x)", g, mean))
        out.append(LawCheck(f"E||xi_{i}||^2", np.sum((g - mean) ** 2, axis=1, keepdims=True),
                            np.array([task.noise_trace(x, i)])))
    alpha = np.linspace(1.0, 2.0, task.n_tasks)
    alpha /= alpha.sum()
    g0, aux = draw_split(task, alpha, x, n, banks(task, seed + 1)[0])
    m0 = task.gradient(x, 0)
    maux = sum(alpha[i] * task.gradient(x, i) for i in range(1, task.n_tasks))
    out.append(LawCheck("split E g0", g0, m0))
    out.append(LawCheck("split E aux", aux, np.broadcast_to(maux, (task.d,))))
    sb = _sigma_b_sq(task, alpha)
    if sb is not None:
        b = (1 - alpha[0]) * (g0 - m0) - (aux - maux)
        out.append(LawCheck("split E||b - Eb||^2 = sigma_b_sq",
                            np.sum(b ** 2, axis=1, keepdims=True), np.array([sb])))
    return out


def bank_isolation(task, alpha=None, x=None) -> tuple[bool, bool]:
    """``(only_its_bank_moved, replay_equal)`` for ``sample_split`` on bank 1.

    Draws once from bank 1 and checks that the other banks are untouched; then copies bank 0
    into bank 1 (as BC-MVR does) and checks that both banks give the same sample.
    """
    alpha = np.full(task.n_tasks, 1.0 / task.n_tasks) if alpha is None else alpha
    x = probe_point(task) if x is None else x
    s = banks(task, 7)
    before = s.copy()
    draw_split(task, alpha, x, 1, s[1])
    untouched = np.array_equal(s[0], before[0]) and np.array_equal(s[2], before[2])
    rng.copy_streams(s[0], s[1])
    a0, b0 = draw_split(task, alpha, x, 1, s[0])
    a1, b1 = draw_split(task, alpha, x, 1, s[1])
    return untouched, bool(np.array_equal(a0, a1) and np.array_equal(b0, b1))


def exact_moments(task, method, steps: int, checkpoints) -> dict | None:
    """Exact expected metrics where :mod:`simlab.collab.moments` has them, else ``None``."""
    from simlab.collab.methods import BCEMA, WGA, AuxMOM, SGDAlone
    from simlab.collab.moments import exact_metrics

    if not hasattr(task, "quadratic_blocks"):
        return None
    if type(method) not in (SGDAlone, WGA, BCEMA) or isinstance(method, AuxMOM):
        return None
    if isinstance(method, BCEMA) and (not method.coupled or method.init_batch):
        return None
    ex = exact_metrics(task, method, steps, checkpoints)
    return {name: ex[:, k] for k, name in enumerate(METRICS)}
