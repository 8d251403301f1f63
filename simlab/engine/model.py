"""Base classes of task families and methods, as the engine sees them.

A **task family** is a frozen dataclass of constructor parameters. It packs its instance into
two flat arrays, ``tdata`` (float64) and ``tmeta`` (int64), and lists its *ops*: plain top-level
functions in the subset of Python that numba compiles for the CPU and CUDA, which the kernel
factory (:mod:`simlab.engine.kernel`) composes with a method's ops and compiles per backend.
``tmeta`` always starts with ``[d, N, P, ...]``: the dimension, the number of auxiliary tasks,
and the size of the per-weighting *prep* cache that methods reserve right after ``x`` in their
work row (see below).

Ops every task provides (compiled by the factory, all writing into caller-owned arrays):

``init_x(tdata, tmeta, x)``
    the starting point ``x_0``.
``metrics(tdata, tmeta, x, row)``
    ``row[0] = ||grad f_0(x)||^2``, ``row[1] = f_0(x) - f_0*``, ``row[2] = ||x - x_0*||^2``.
``grad_norm_sq0(tdata, tmeta, x)``
    ``||grad f_0(x)||^2`` (for the running average over iterates).
``prepare(tdata, tmeta, alpha, prep)``
    cache what depends only on the weights ``alpha`` (called once per replica).
``sample_grad(tdata, tmeta, i, x, s, bank, out)``
    one stochastic gradient ``g_i(x)`` of task ``i``.
``sample_split(tdata, tmeta, alpha, x, s, bank, prep, g0, aux)``
    ``g0 = g_0(x)`` and ``aux = sum_{i>=1} alpha_i g_i(x)`` drawn from the same samples. A task
    may draw the auxiliary noise as one Gaussian of the summed variance where that is exact in
    distribution (it says so in its docstring; ``aggregate_noise=False`` turns it off).

Random sources: ``s`` has ``3 (N + 2)`` streams; *bank* ``b`` owns rows ``b (N+2) + i`` for task
``i`` and row ``b (N+2) + N + 1`` for aggregated auxiliary noise. Bank 0 is the main sample of
a step; bank 1 serves independent extra samples (uncoupled BC, minibatches) or a copy of bank 0
(same-sample evaluation at two points, BC-MVR); bank 2 is the independent pseudo-gradient
sample of uncoupled BC-MVR.

A **method** is a frozen dataclass of hyperparameters that packs them into ``hyper`` (float64)
and lists ``init(tdata, tmeta, hyper, w, s)`` and ``step(tdata, tmeta, hyper, w, s, t)`` over
its work row ``w = [x (d) | prep (P) | method state ...]``. A method's ops call the task ops by
the interface names below; the stubs here document them and are replaced, per task family,
in the composed module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


class Task:
    """Base class of a task family (subclasses are frozen dataclasses).

    Subclasses implement :meth:`_pack`, :meth:`constants` and :meth:`build_ops`.
    """

    family: ClassVar[str] = "?"

    @property
    def n_tasks(self) -> int:
        """Number of tasks, ``N + 1``."""
        return self.n_aux + 1

    @property
    def n_sources(self) -> int:
        """Number of random streams per replica: three banks of ``N + 2``."""
        return 3 * (self.n_aux + 2)

    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """``(tdata, tmeta)``: the instance as flat arrays (computed once)."""
        cached = self.__dict__.get("_packed")
        if cached is None:
            cached = self._pack()
            object.__setattr__(self, "_packed", cached)
        return cached

    @property
    def prep_size(self) -> int:
        """Size of the per-weighting cache reserved after ``x`` in a work row."""
        return int(self.packed()[1][2])

    def _pack(self) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def constants(self, weights=None) -> dict:  # pragma: no cover - abstract
        """Exact constants of the instance (see subclasses)."""
        raise NotImplementedError

    #: The task's ops as plain top-level functions (see the module docstring).
    ops_functions: ClassVar[tuple] = ()

    @property
    def ops_class(self) -> type:
        """The class whose :meth:`build_ops` compiles this task (kernel cache key)."""
        return type(self)


@dataclass(frozen=True)
class Method:
    """Base class of an optimization method: a step size and ``(init, step)`` ops."""

    step_size: float = 0.1
    label: ClassVar[str] = "?"

    def validate(self, task: Task) -> None:
        """Raise ``ValueError`` naming the parameter when a hyperparameter is out of range."""
        if not np.isfinite(self.step_size) or self.step_size <= 0:
            raise ValueError(f"step_size must be > 0 and finite, got {self.step_size}")

    def hyper(self, task: Task) -> np.ndarray:  # pragma: no cover - abstract
        """Hyperparameters packed as float64 for the kernel."""
        raise NotImplementedError

    def state_size(self, task: Task) -> int:  # pragma: no cover - abstract
        """Size of the method's own state and scratch after ``[x | prep]``."""
        raise NotImplementedError

    def work_size(self, task: Task) -> int:
        """Width of one replica's work row."""
        return self._d(task) + task.prep_size + self.state_size(task)

    @staticmethod
    def _d(task: Task) -> int:
        return int(task.packed()[1][0])

    #: ``(init, step)`` as plain top-level functions (see the module docstring).
    ops_functions: ClassVar[tuple] = ()
    #: Further plain functions that ``init``/``step`` call (composed into the same module).
    ops_helpers: ClassVar[tuple] = ()

    @property
    def ops_class(self) -> type:
        """The class whose :meth:`build_ops` compiles this method (kernel cache key)."""
        return type(self)

    @property
    def name(self) -> str:
        """Short display name."""
        return self.label


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


# --- the task-op interface a method may call (stubs; bound per task by the kernel factory) ----

def prepare(tdata, tmeta, alpha, prep):  # pragma: no cover - interface stub
    """Cache what depends only on the weights ``alpha`` into ``prep`` (once per replica)."""
    raise NotImplementedError("task ops run inside a composed kernel module")


def sample_grad(tdata, tmeta, i, x, s, bank, out):  # pragma: no cover - interface stub
    """Write one stochastic gradient ``g_i(x)`` of task ``i`` into ``out``."""
    raise NotImplementedError("task ops run inside a composed kernel module")


def sample_split(tdata, tmeta, alpha, x, s, bank, prep, g0, aux):  # pragma: no cover - stub
    """Write ``g_0(x)`` into ``g0`` and ``sum_{i>=1} alpha_i g_i(x)`` into ``aux``."""
    raise NotImplementedError("task ops run inside a composed kernel module")
