"""``simulate(task, method, steps, replicas, seed, backend, checkpoints) -> Trace``."""

from __future__ import annotations

import time

import numpy as np

from simlab.engine.kernel import N_METRICS, get_kernel
from simlab.engine.model import Method, Task
from simlab.engine.trace import Trace

BACKENDS = ("numpy", "numba", "cuda")


class DivergenceError(RuntimeError):
    """A replica's iterate (or its gradient norm) became NaN or infinite.

    Attributes
    ----------
    step : int
        First step ``t`` at which ``x_t`` is not finite.
    replica : int
        The replica id (stream key) that diverged.
    """

    def __init__(self, step: int, replica: int, detail: str = ""):
        self.step, self.replica = int(step), int(replica)
        super().__init__(f"diverged: x_t or ||grad f_0(x_t)||^2 is not finite at step "
                         f"t={self.step} in replica {self.replica}{detail}; reduce the step size")


def log_checkpoints(steps: int, n: int = 50) -> np.ndarray:
    """About ``n`` log-spaced distinct integers in ``[0, steps]``, always with 0 and ``steps``."""
    if steps <= n:
        return np.arange(steps + 1, dtype=np.int64)
    c = np.unique(np.round(np.geomspace(1, steps, n - 1)).astype(np.int64))
    return np.concatenate([[0], c]).astype(np.int64)


def _checkpoints(checkpoints, steps: int) -> np.ndarray:
    if checkpoints is None:
        return log_checkpoints(steps)
    if isinstance(checkpoints, str):
        if checkpoints == "all":
            return np.arange(steps + 1, dtype=np.int64)
        raise ValueError(f"checkpoints must be None, 'all', an int or a sequence, got "
                         f"{checkpoints!r}")
    if np.isscalar(checkpoints):
        return log_checkpoints(steps, int(checkpoints))
    c = np.asarray(checkpoints, dtype=np.int64).ravel()
    if c.size == 0:
        raise ValueError("checkpoints must not be empty")
    if c.min() < 0 or c.max() > steps:
        raise ValueError(f"checkpoints must lie in [0, steps={steps}], got range "
                         f"[{c.min()}, {c.max()}]")
    return np.unique(c)


def simulate(task: Task, method: Method, steps: int, replicas: int = 100, seed: int = 0,
             backend: str = "numba", checkpoints=None, track_average: bool = True,
             replica_ids=None) -> Trace:
    """Run ``replicas`` independent runs of ``method`` on ``task`` for ``steps`` steps.

    Parameters
    ----------
    task : Task
        A task family instance (e.g. :class:`simlab.tasks.SharedHessianQuadratics`).
    method : Method
        A method instance (e.g. :class:`simlab.collab.WGA`).
    steps : int
        Horizon ``T >= 1``.
    replicas : int
        Number of replicas ``R >= 1`` (ids ``0..R-1`` unless ``replica_ids`` is given).
    seed : int
        Simulation seed ``>= 0``; replica ``r`` draws from streams keyed by ``(seed, r)``.
    backend : {"numba", "numpy", "cuda"}
        See :mod:`simlab.engine.kernel`.
    checkpoints : None, int, "all" or sequence of int
        Steps at which metrics are recorded: default about 50 log-spaced, an int for that
        many, ``"all"`` for every step, or explicit steps in ``[0, steps]``.
    track_average : bool
        Also track ``(1/t) sum_{s<t} ||grad f_0(x_s)||^2`` (one extra pass per step).
    replica_ids : sequence of int, optional
        Run exactly these replica ids (overrides ``replicas``).

    Returns
    -------
    Trace

    Raises
    ------
    ValueError
        On bad input, before any work.
    DivergenceError
        If a replica's iterate becomes NaN or infinite (names the step and the replica).
    """
    if not isinstance(task, Task):
        raise TypeError(f"task must be a simlab Task, got {type(task).__name__}")
    if not isinstance(method, Method):
        raise TypeError(f"method must be a simlab Method, got {type(method).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "cuda":
        from simlab.engine import cuda as cuda_adapter

        cuda_adapter.require()  # a clear RuntimeError naming the fix, before any work
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    steps = int(steps)
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if replica_ids is None:
        if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 1:
            raise ValueError(f"replicas must be an integer >= 1, got {replicas!r}")
        ids = np.arange(int(replicas), dtype=np.int64)
    else:
        ids = np.asarray(replica_ids, dtype=np.int64).ravel()
        if ids.size == 0 or ids.min() < 0:
            raise ValueError("replica_ids must be a non-empty sequence of integers >= 0")
    cps = _checkpoints(checkpoints, steps)
    method.validate(task)
    tdata, tmeta = task.packed()
    hyper = np.ascontiguousarray(method.hyper(task), dtype=np.float64)

    kernel_key = (task.ops_class, method.ops_class, backend)
    t0 = time.perf_counter()
    kernel = get_kernel(*kernel_key)
    args = _allocate(task, method, ids, cps)
    run_args = (tdata, tmeta, hyper, np.uint64(seed), ids, steps, cps, bool(track_average))
    if backend == "cuda":
        from simlab.engine import cuda as cuda_adapter

        launch = cuda_adapter.launch
    else:
        launch = _call
    t1 = time.perf_counter()
    launch(kernel, *run_args, 0, *args)
    t2 = time.perf_counter()
    out, work, rngs, status = args
    bad = np.flatnonzero(status >= 0)
    if bad.size:
        _locate_divergence(kernel, launch, run_args, task, method, ids[bad], cps)
        j = int(bad[np.argmin(status[bad])])  # pragma: no cover - fallback
        raise DivergenceError(int(status[j]), int(ids[j]))  # pragma: no cover - fallback
    return Trace(checkpoints=cps, values=out, replica_ids=ids, seed=int(seed),
                 info=dict(task=repr(task), method=repr(method), backend=backend,
                           steps=steps, seconds=t2 - t1, setup_seconds=t1 - t0))


def _call(kernel, *args):
    kernel(*args)


def _allocate(task, method, ids, cps):
    R = ids.shape[0]
    out = np.full((cps.shape[0], R, N_METRICS), np.nan)
    work = np.zeros((R, method.work_size(task)))
    rngs = np.zeros((R, task.n_sources, 2), dtype=np.uint64)
    status = np.full(R, -1, dtype=np.int64)
    return out, work, rngs, status


def _locate_divergence(kernel, launch, run_args, task, method, ids, cps):
    """Replay the diverged replicas with a finiteness check at every step and raise at the
    first divergence over all of them (the smallest step; the smallest replica id on ties)."""
    tdata, tmeta, hyper, seed, _, steps, _, track = run_args
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    args = _allocate(task, method, ids, cps)
    launch(kernel, tdata, tmeta, hyper, seed, ids, steps, cps, track, 1, *args)
    status = args[3]
    hit = np.flatnonzero(status >= 0)
    if hit.size:
        order = np.lexsort((ids[hit], status[hit]))
        j = int(hit[order[0]])
        raise DivergenceError(int(status[j]), int(ids[j]))
