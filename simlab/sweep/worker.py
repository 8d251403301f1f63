"""What runs in a worker: one job = one configuration for one block of replica ids.

This module needs only numpy and the engine (no pyarrow, pandas or dask), so local worker
processes and dask workers start quickly. A job's result goes back to the process that owns
the sweep, which writes the record; workers never touch the store.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from simlab.engine.model import Method, Task
from simlab.engine.simulate import DivergenceError, simulate
from simlab.meta import peak_rss_mb
from simlab.sweep.keys import code_hash
from simlab.sweep.stats import ReplicaStats


@dataclass(frozen=True)
class RecordId:
    """A record's name: the configuration's key, the seed and the block ``[start, stop)``."""

    key: str
    seed: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        """File name inside the key's folder."""
        return f"seed{self.seed}_r{self.start}-{self.stop}.parquet"

    def __str__(self) -> str:
        return f"{self.key}/{self.name}"


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to compute one record.

    Attributes
    ----------
    rid : RecordId
    task : Task
    method : Method
    steps : int
    checkpoints : ndarray of int64
    metrics : tuple of str
        Metrics the record holds (:func:`simlab.sweep.keys.record_metrics`: all the run
        produces; readers select).
    derived : tuple of str
        The derived metrics to compute.
    backend : str
    keep_replicas : bool
    code : str
        :func:`simlab.sweep.keys.code_hash` on the client; the worker checks its own code
        gives the same, so a worker running other simlab code fails loudly.
    """

    rid: RecordId
    task: Task
    method: Method
    steps: int
    checkpoints: np.ndarray
    metrics: tuple
    derived: tuple
    backend: str
    keep_replicas: bool
    code: str = ""


@dataclass
class Result:
    """A computed record, before it is written.

    Attributes
    ----------
    rid : RecordId
    status : {"ok", "diverged"}
    stats : ReplicaStats or None
        ``None`` when diverged.
    values : ndarray, shape (K, R, M), or None
        Per-replica values (only when the job keeps them).
    diverged : (int, int) or None
        ``(step, replica)`` of a divergence.
    info : dict
        ``seconds`` (the simulation's wall time), ``host``, ``pid``, ``threads`` (numba's),
        ``peak_rss_mb`` (the worker process's peak resident memory so far).
    """

    rid: RecordId
    status: str
    stats: ReplicaStats | None = None
    values: np.ndarray | None = None
    diverged: tuple | None = None
    info: dict = field(default_factory=dict)


def compute(job: Job) -> Result:
    """Run one job (in whatever process calls it) and summarise it.

    Raises
    ------
    RuntimeError
        If this process's simlab code differs from the client's (``job.code``).
    """
    import numba

    if job.code and code_hash(job.task.ops_class, job.method.ops_class, job.backend) != job.code:
        raise RuntimeError(
            f"worker {socket.gethostname()}:{os.getpid()} runs different simlab code than the "
            f"client (version or kernel source); install the same simlab on every worker")
    info = {"host": socket.gethostname(), "pid": os.getpid(),
            "threads": int(numba.get_num_threads())}
    rid = job.rid
    t0 = time.perf_counter()
    try:
        tr = simulate(job.task, job.method, steps=job.steps, seed=rid.seed, backend=job.backend,
                      checkpoints=job.checkpoints, derived=job.derived,
                      replica_ids=np.arange(rid.start, rid.stop, dtype=np.int64))
    except DivergenceError as e:
        info["seconds"] = time.perf_counter() - t0
        return Result(rid, "diverged", diverged=(e.step, e.replica), info=info)
    info["seconds"] = time.perf_counter() - t0
    info["peak_rss_mb"] = peak_rss_mb()
    cols = [tr.metrics.index(m) for m in job.metrics]
    vals = tr.values if len(cols) == len(tr.metrics) else np.ascontiguousarray(
        tr.values[:, :, cols])
    stats = ReplicaStats.from_values(tr.checkpoints, vals, job.metrics)
    return Result(rid, "ok", stats, vals if job.keep_replicas else None, info=info)


def check_result(job: Job, result) -> str | None:
    """Why ``result`` is not the answer to ``job`` (``None`` when it is).

    A result is stored or returned only when it names the job's record and has its shape: the
    checkpoints, the metrics, one count per replica of the block, and per-replica values when
    the job keeps them.
    """
    if not isinstance(result, Result):
        return f"a {type(result).__name__}, not a Result"
    if result.rid != job.rid:
        return f"it is the result of {result.rid}, not of {job.rid}"
    if result.status == "diverged":
        ok = (isinstance(result.diverged, tuple) and len(result.diverged) == 2
              and job.rid.start <= result.diverged[1] < job.rid.stop)
        return None if ok else f"a diverged result names replica {result.diverged!r}"
    if result.status != "ok" or result.stats is None:
        return f"status {result.status!r} without statistics"
    s, R, K = result.stats, job.rid.stop - job.rid.start, len(job.checkpoints)
    if tuple(s.metrics) != tuple(job.metrics):
        return f"metrics {list(s.metrics)}, expected {list(job.metrics)}"
    if not np.array_equal(s.checkpoints, job.checkpoints):
        return "its checkpoints differ from the job's"
    if s.count.shape != (K, len(job.metrics)) or not (s.count == R).all():
        return f"replica counts {np.unique(s.count).tolist()}, expected {R}"
    if job.keep_replicas and (result.values is None
                              or result.values.shape != (K, R, len(job.metrics))):
        shape = None if result.values is None else result.values.shape
        return f"per-replica values of shape {shape}, expected {(K, R, len(job.metrics))}"
    return None


def load_kernels(kernels) -> int:
    """Compile, or load from numba's disk cache, the kernels of ``(task, method, backend)``
    examples in this process, by one tiny run of each; returns numba's thread count."""
    import numba

    for task, method, backend in kernels:
        if backend != "cuda":
            simulate(task, method, 1, replicas=1, backend=backend, checkpoints=[0, 1])
    return int(numba.get_num_threads())


def init_process(kernels, barrier=None, parent: int | None = None) -> None:
    """Initializer of a local worker process: load the kernels, exit when the parent dies,
    and wait at ``barrier`` until every worker is ready."""
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    load_kernels(kernels)
    if barrier is not None:
        barrier.wait(timeout=600)


def _watch_parent(parent: int, every: float = 1.0) -> None:
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)  # the sweep's process is gone (killed): do not linger


def ready() -> int:
    """A no-op job (the executor's start-up waits on one per worker)."""
    return os.getpid()
