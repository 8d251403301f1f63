"""``simulate(task, method, steps, replicas, seed, backend, checkpoints) -> Trace``."""

from __future__ import annotations

import time

import numpy as np

from simlab.engine.kernel import DeclarationError, get_kernel, layout, plan
from simlab.engine.model import LoopMethod, Method, Task
from simlab.engine.trace import Trace

BACKENDS = ("numpy", "numba", "cuda")


class DivergenceError(RuntimeError):
    """A replica's state (or a value that must stay finite) became NaN or infinite.

    Attributes
    ----------
    step : int
        First step ``t`` at which the state is not finite (the first over all replicas).
    replica : int
        The replica id (stream key) that diverged there (the smallest id on ties).
    """

    def __init__(self, step: int, replica: int, detail: str = ""):
        self.step, self.replica = int(step), int(replica)
        super().__init__(f"diverged: the state is not finite at step t={self.step} in replica "
                         f"{self.replica}{detail}; reduce the step size")


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


def metric_names(task: Task, method: Method) -> tuple[str, ...]:
    """Every metric a run of ``method`` on ``task`` has (recorded, then derived)."""
    if isinstance(method, LoopMethod):
        return tuple(method.metrics)
    return plan(task.ops_class, method.ops_class).metric_names


def derived_names(task: Task, method: Method) -> tuple[str, ...]:
    """The derived metrics of ``(task, method)``: computed only when asked for."""
    if isinstance(method, LoopMethod):
        return ()
    return plan(task.ops_class, method.ops_class).derived_names


def requirements(task: Task, method: Method) -> None:
    """Check that ``method`` can run on ``task`` before anything compiles.

    Raises
    ------
    ValueError
        Naming what the method requires that the task does not provide (task ops, slots,
        stream groups), or a declaration that does not fit.
    """
    if isinstance(method, LoopMethod):
        return
    if type(task).ops is None:
        raise ValueError(f"{type(task).__name__} has no kernel declaration (ops), so the "
                         f"compiled method {type(method).__name__} cannot run on it")
    try:
        plan(task.ops_class, method.ops_class)
        layout(task, method)
    except (DeclarationError, ValueError) as e:
        raise ValueError(f"{type(method).__name__} cannot run on {type(task).__name__}: "
                         f"{e}") from None


def _track(task: Task, method: Method, derived) -> tuple[np.ndarray, tuple]:
    names = derived_names(task, method)
    if derived is True:
        want = names
    elif derived is False or derived is None:
        want = ()
    else:
        want = (derived,) if isinstance(derived, str) else tuple(derived)
        unknown = [d for d in want if d not in names]
        if unknown:
            raise ValueError(f"derived must name derived metrics of {type(task).__name__} x "
                             f"{type(method).__name__} ({list(names)}), got {unknown}")
    return np.array([int(n in want) for n in names], dtype=np.int64), tuple(want)


def simulate(task: Task, method: Method, steps: int, replicas: int = 100, seed: int = 0,
             backend: str = "numba", checkpoints=None, derived=False,
             replica_ids=None) -> Trace:
    """Run ``replicas`` independent runs of ``method`` on ``task`` for ``steps`` steps.

    Parameters
    ----------
    task : Task
        A task family instance (e.g. :class:`simlab.tasks.SharedHessianQuadratics`).
    method : Method
        A compiled method (e.g. :class:`simlab.collab.WGA`) or a
        :class:`~simlab.engine.model.LoopMethod` (runner protocol).
    steps : int
        Horizon ``T >= 1`` (of the method's axis: steps, or e.g. labels for a loop).
    replicas : int
        Number of replicas ``R >= 1`` (ids ``0..R-1`` unless ``replica_ids`` is given).
    seed : int
        Simulation seed ``>= 0``; replica ``r`` draws from streams keyed by ``(seed, r)``.
    backend : {"numba", "numpy", "cuda"}
        See :mod:`simlab.engine.kernel` (loops run in Python whatever the backend, except
        ``"cuda"``, which they refuse).
    checkpoints : None, int, "all" or sequence of int
        Steps at which metrics are recorded: default about 50 log-spaced, an int for that
        many, ``"all"`` for every step, or explicit steps in ``[0, steps]``.
    derived : bool or sequence of str
        Derived metrics to compute (running means; one extra op call per step each): ``True``
        for all, names for some. The others read NaN.
    replica_ids : sequence of int, optional
        Run exactly these replica ids (overrides ``replicas``).

    Returns
    -------
    Trace

    Raises
    ------
    ValueError
        On bad input, or a method that requires what the task does not provide, before any
        work.
    DivergenceError
        If a replica's state becomes NaN or infinite (names the first step over all replicas
        and its replica).
    """
    if not isinstance(task, Task):
        raise TypeError(f"task must be a simlab Task, got {type(task).__name__}")
    if not isinstance(method, Method):
        raise TypeError(f"method must be a simlab Method, got {type(method).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    loop = isinstance(method, LoopMethod)
    if backend == "cuda":
        if loop:
            raise ValueError(f"{type(method).__name__} is a Python loop (runner protocol); it "
                             f"runs on the CPU: use backend='numpy' or 'numba'")
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
    requirements(task, method)
    method.validate(task)
    track, want = _track(task, method, derived)
    if loop:
        from simlab.engine.runner import run_loop

        return run_loop(task, method, steps, ids, int(seed), cps, backend)
    tdata, tmeta = task.packed()
    hyper = np.ascontiguousarray(method.hyper(task), dtype=np.float64)
    p = plan(task.ops_class, method.ops_class)
    lay = layout(task, method)

    t0 = time.perf_counter()
    kernel = get_kernel(task.ops_class, method.ops_class, backend)
    args = _allocate(p, lay, ids, cps)
    run_args = (tdata, tmeta, hyper, np.uint64(seed), ids, steps, cps, track)
    if backend == "cuda":
        from simlab.engine import cuda as cuda_adapter

        launch = cuda_adapter.launch
    else:
        launch = _call
    t1 = time.perf_counter()
    launch(kernel, *run_args, 0, lay, *args)
    t2 = time.perf_counter()
    out, work, rngs, status = args
    bad = np.flatnonzero(status >= 0)
    if bad.size:
        _locate_divergence(kernel, launch, run_args, p, lay, ids[bad], cps)
        j = int(bad[np.argmin(status[bad])])  # pragma: no cover - fallback
        raise DivergenceError(int(status[j]), int(ids[j]))  # pragma: no cover - fallback
    computed = p.metrics + want
    return Trace(checkpoints=cps, values=out, replica_ids=ids, seed=int(seed),
                 metrics=p.metric_names,
                 computed=None if len(computed) == len(p.metric_names) else computed,
                 info=dict(task=repr(task), method=repr(method), backend=backend,
                           steps=steps, seconds=t2 - t1, setup_seconds=t1 - t0))


def _call(kernel, *args):
    kernel(*args)


def _allocate(p, lay, ids, cps):
    R = ids.shape[0]
    ns = len(p.slots)
    out = np.full((cps.shape[0], R, len(p.metric_names)), np.nan)
    work = np.zeros((R, max(int(lay[ns]), 1)))
    rngs = np.zeros((R, int(lay[-1]), 2), dtype=np.uint64)
    status = np.full(R, -1, dtype=np.int64)
    return out, work, rngs, status


def _locate_divergence(kernel, launch, run_args, p, lay, ids, cps):
    """Replay the diverged replicas with a finiteness check at every step and raise at the
    first divergence over all of them (the smallest step; the smallest replica id on ties)."""
    tdata, tmeta, hyper, seed, _, steps, _, track = run_args
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    args = _allocate(p, lay, ids, cps)
    launch(kernel, tdata, tmeta, hyper, seed, ids, steps, cps, track, 1, lay, *args)
    status = args[3]
    hit = np.flatnonzero(status >= 0)
    if hit.size:
        order = np.lexsort((ids[hit], status[hit]))
        j = int(hit[order[0]])
        raise DivergenceError(int(status[j]), int(ids[j]))
