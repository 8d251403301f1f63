"""``simulate`` through the result store: figures and notebooks compute a run once.

:func:`cached_simulate` takes :func:`simlab.simulate`'s arguments and returns the same
:class:`~simlab.engine.trace.Trace`, bit for bit: from the store when it holds the run (one
record, the whole block of replicas, per-replica values kept), else by simulating in this
process and storing the result. :func:`cached_stats` does the same for callers that need only
means and standard errors (:class:`~simlab.sweep.stats.ReplicaStats` has the Trace's ``mean``,
``se`` and ``ci``); its records keep only the statistics (no per-replica values), which matters
for runs recorded at every step. A run that diverges is stored as such and raises the same
:class:`~simlab.engine.simulate.DivergenceError` when read back.

The store is ``$SIMLAB_STORE`` or ``./.simlab/store``; ``SIMLAB_STORE=off`` (or ``none``, ``0``)
turns caching off, and so does a missing ``dist`` extra (pyarrow, fsspec), with one warning.
A damaged record is reported and computed again.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from simlab.engine.model import LoopMethod, Method, Task
from simlab.engine.simulate import (
    DivergenceError,
    _checkpoints,
    derived_names,
    metric_names,
    simulate,
)
from simlab.engine.trace import Trace
from simlab.sweep.errors import SweepError
from simlab.sweep.keys import code_hash, describe, record_key, record_metrics
from simlab.sweep.stats import ReplicaStats
from simlab.sweep.worker import Job, RecordId, compute

_OFF = ("off", "none", "0", "false", "no")
_STORES: dict = {}


def _store(store):
    """The store to use, or ``None`` when caching is off or unavailable."""
    from simlab.sweep import store as store_mod

    if store is False:
        return None
    if isinstance(store, store_mod.Store):
        return store
    url = store if store is not None else store_mod.default_url()
    if str(url).lower() in _OFF:
        return None
    if url not in _STORES:
        try:
            _STORES[url] = store_mod.Store(url)
        except (ImportError, SweepError) as e:
            warnings.warn(f"results are not cached: {e}", stacklevel=3)
            _STORES[url] = None
    return _STORES[url]


def _block(replicas, replica_ids) -> tuple[int, int] | None:
    if replica_ids is None:
        return 0, int(replicas)
    ids = np.asarray(replica_ids, dtype=np.int64).ravel()
    if ids.size and np.array_equal(ids, np.arange(ids[0], ids[0] + ids.size)) and ids[0] >= 0:
        return int(ids[0]), int(ids[0] + ids.size)
    return None  # not one contiguous block: not cached


def _derived(task: Task, method: Method, derived) -> tuple[str, ...]:
    names = derived_names(task, method)
    if derived is True:
        return names
    if derived is False or derived is None:
        return ()
    want = (derived,) if isinstance(derived, str) else tuple(derived)
    return tuple(n for n in names if n in want) + tuple(n for n in want if n not in names)


def _plan(task: Task, method: Method, steps: int, replicas: int, seed: int, backend: str,
          checkpoints, derived: tuple, replica_ids, metrics: tuple, keep: bool, store):
    """``(store, job, record, replace)`` of one run: ``record`` when the store holds it,
    else the ``job`` that computes it; ``store`` is None when caching is off (the job is
    still made) and ``(None, None, None, False)`` when the run is not cacheable at all."""
    from simlab.sweep.store import CorruptRecord

    st = _store(store)
    block = _block(replicas, replica_ids)
    if block is None or backend == "cuda" or isinstance(steps, bool):
        return None, None, None, False
    cps = _checkpoints(checkpoints, int(steps))
    method.validate(task)
    key = record_key(task, method, int(steps), cps, derived, backend, keep)
    rid = RecordId(key, int(seed), *block)
    replace = False
    if st is not None:
        try:
            return st, None, st.read(rid, cps, metrics, values=keep), False
        except FileNotFoundError:
            pass
        except CorruptRecord as e:
            print(f"warning: {e}; computing it again", file=sys.stderr)
            replace = True
    job = Job(rid, task, method, int(steps), cps, record_metrics(task, method, derived),
              derived, backend, keep, code_hash(task.ops_class, method.ops_class, backend))
    return st, job, None, replace


def _store_result(st, job: Job, result, metrics: tuple, replace: bool):
    """Write a computed record (a failed write warns) and return it as a Record."""
    from simlab.sweep.store import Record

    meta = {"sweep": "cached_simulate", "config": {
        "task": describe(job.task), "method": describe(job.method), "steps": job.steps,
        "checkpoints": int(len(job.checkpoints)), "backend": job.backend,
        "keep_replicas": job.keep_replicas}}
    try:
        st.write(result, meta, replace=replace)
    except OSError as e:
        warnings.warn(f"result not cached: cannot write {st.path(job.rid)} ({e})",
                      stacklevel=4)
    return Record.from_result(result, metrics, meta)


def _cached(task: Task, method: Method, steps: int, replicas: int, seed: int, backend: str,
            checkpoints, derived: tuple, replica_ids, metrics: tuple, keep: bool, store):
    """``(record, read from the store)`` of one run, computing and storing it when missing;
    ``(None, False)`` when the run is not cacheable."""
    if _store(store) is None:  # caching off: no key, no job
        return None, False
    st, job, rec, replace = _plan(task, method, steps, replicas, seed, backend, checkpoints,
                                  derived, replica_ids, metrics, keep, store)
    if st is None:
        return None, False
    if rec is not None:
        return rec, True
    return _store_result(st, job, compute(job), metrics, replace), False


def _raise_if_diverged(rec) -> None:
    if rec.status == "diverged":
        raise DivergenceError(*rec.diverged)


def cached_simulate(task: Task, method: Method, steps: int, replicas: int = 100, seed: int = 0,
                    backend: str = "numba", checkpoints=None, derived=False,
                    replica_ids=None, *, store=None) -> Trace:
    """:func:`simlab.simulate` through the result store (same arguments, same Trace).

    Parameters
    ----------
    task, method, steps, replicas, seed, backend, checkpoints, derived, replica_ids
        As for :func:`simlab.simulate`. Runs whose ``replica_ids`` are not one contiguous
        block, and CUDA runs, are not cached.
    store : Store, str or False, optional
        Default ``$SIMLAB_STORE`` or ``./.simlab/store``; ``False`` or ``"off"``: no cache.

    Returns
    -------
    Trace
        ``info["cached"]`` says whether it came from the store.
    """
    want = _derived(task, method, derived)
    held = record_metrics(task, method, want)
    rec, hit = _cached(task, method, steps, replicas, seed, backend, checkpoints, want,
                       replica_ids, held, True, store)
    if rec is None:
        return simulate(task, method, steps, replicas, seed, backend, checkpoints, derived,
                        replica_ids)
    return _as_trace(rec, task, method, held, backend, steps, hit)


def _as_trace(rec, task: Task, method: Method, held: tuple, backend: str, steps: int,
              hit: bool) -> Trace:
    """The Trace of a record with per-replica values (raises a stored divergence)."""
    _raise_if_diverged(rec)
    names = metric_names(task, method)
    values = rec.values
    if held != names:  # a derived metric not asked for reads NaN, as simulate gives it
        values = np.full(values.shape[:2] + (len(names),), np.nan)
        values[:, :, [names.index(m) for m in held]] = rec.values
    return Trace(checkpoints=rec.stats.checkpoints, values=values,
                 replica_ids=np.arange(rec.rid.start, rec.rid.stop, dtype=np.int64),
                 seed=rec.rid.seed, metrics=names, axis=_axis(method),
                 computed=None if held == names else held,
                 info=dict(task=repr(task), method=repr(method), backend=backend,
                           steps=int(steps), cached=hit, record=str(rec.rid)))


def _axis(method: Method) -> str:
    return getattr(method, "axis", "step") if isinstance(method, LoopMethod) else "step"


def cached_stats(task: Task, method: Method, steps: int, replicas: int = 100, seed: int = 0,
                 backend: str = "numba", checkpoints=None, derived=False,
                 replica_ids=None, *, metrics=None, store=None) -> ReplicaStats:
    """Means and standard errors of a run, through the store (records keep only these).

    Parameters
    ----------
    task, method, steps, replicas, seed, backend, checkpoints, derived, replica_ids
        As for :func:`simlab.simulate`.
    metrics : sequence of str, optional
        The metrics to return (default all that the run records).
    store : Store, str or False, optional

    Returns
    -------
    ReplicaStats
        ``mean(name)``, ``se(name)``, ``ci(name)`` equal the Trace's bit for bit.

    Raises
    ------
    ValueError
        A metric that the run does not record (a derived one not asked for in ``derived``).
    """
    want = _derived(task, method, derived)
    held = record_metrics(task, method, want)
    if metrics is None:
        metrics = held
    unknown = [m for m in metrics if m not in held]
    if unknown:
        raise ValueError(f"metrics {unknown} are not recorded by this run; it records "
                         f"{list(held)} (ask for derived ones with derived=[...])")
    metrics = tuple(m for m in held if m in metrics)
    rec, _ = _cached(task, method, steps, replicas, seed, backend, checkpoints, want,
                     replica_ids, metrics, False, store)
    if rec is None:
        tr = simulate(task, method, steps, replicas, seed, backend, checkpoints, want,
                      replica_ids)
        cols = [tr.metrics.index(m) for m in metrics]
        return ReplicaStats.from_values(tr.checkpoints, tr.values[:, :, cols], metrics)
    _raise_if_diverged(rec)
    return rec.stats


@dataclass(frozen=True)
class SimRun:
    """One run of :func:`cached_simulate_many`: :func:`simlab.simulate`'s arguments.

    Attributes
    ----------
    task : Task
    method : Method
    steps : int
    replicas : int
    seed : int
    checkpoints : optional
        As for :func:`simlab.simulate`.
    backend : str
        ``"numba"`` (CUDA runs are not cached: run them with :func:`simlab.simulate`).
    """

    task: Task
    method: Method
    steps: int
    replicas: int = 100
    seed: int = 0
    checkpoints: Any = None
    backend: str = "numba"


def _as_run(r) -> SimRun:
    if isinstance(r, dict):
        try:
            r = SimRun(**r)
        except TypeError as e:
            raise ValueError(f"a run must have SimRun's keys (task, method, steps, replicas, "
                             f"seed, checkpoints, backend): {e}") from None
    if not isinstance(r, SimRun):
        raise ValueError(f"a run must be a SimRun or a dict of its fields, got "
                         f"{type(r).__name__}")
    if isinstance(r.steps, bool):  # _plan would make no job for it
        raise ValueError(f"steps must be an integer, got {r.steps!r}")
    return r


def cached_simulate_many(runs, *, store=None, executor: str | None = "serial",
                         workers: int | None = None, quiet: bool | None = None,
                         desc: str = "runs", **executor_options) -> list[Trace]:
    """Many :func:`cached_simulate` runs at once, the missing ones on an executor.

    What the store holds is read back; the other runs become jobs of the sweep executors
    (:mod:`simlab.sweep.executors`: this process, local worker processes or a dask cluster)
    and are stored as they finish, so an interrupted call resumes where it stopped and a
    second call computes nothing. A grid whose cells differ in horizon or checkpoints (which
    one :class:`~simlab.sweep.spec.Sweep` cannot hold) runs this way. Records are the ones
    :func:`cached_simulate` reads and writes (one record per run, every replica kept), so the
    two share results, and the Traces equal :func:`simlab.simulate`'s bit for bit whichever
    executor computed them.

    Parameters
    ----------
    runs : iterable of SimRun or dict
        The runs (a dict holds :class:`SimRun`'s fields).
    store : Store, str or False, optional
        As for :func:`cached_simulate`; with caching off every run is computed (still on the
        executor).
    executor : {"serial", "local", "dask"} or Executor, optional
        Where missing runs are computed (default this process); see
        :func:`simlab.sweep.executors.make_executor`. An executor passed in is started if
        needed and left open.
    workers : int, optional
        Local worker processes (default the cores).
    quiet : bool, optional
        ``True``: no progress bar; default: a bar when stderr is a terminal.
    desc : str
        The progress bar's label.
    **executor_options
        ``threads``, ``scheduler``, ``dask_local``, ``client``, ``timeout``.

    Returns
    -------
    list of Trace
        In the order of ``runs``; ``info["cached"]`` says which came from the store.

    Raises
    ------
    ValueError
        A malformed run, or a CUDA run.
    RuntimeError
        Some runs failed (the others are stored; the message names the failures).
    DivergenceError
        A run diverged (as :func:`simlab.simulate` raises it).
    """
    from simlab.sweep.executors import Executor, make_executor
    from simlab.sweep.runner import _progress
    from simlab.sweep.store import Record

    runs = [_as_run(r) for r in runs]
    out: list = [None] * len(runs)
    todo = []  # (index, store, job, replace, held)
    for i, r in enumerate(runs):
        if r.backend == "cuda":
            raise ValueError("cached_simulate_many runs numba runs; run CUDA runs with "
                             "simlab.simulate")
        held = record_metrics(r.task, r.method, ())
        st, job, rec, replace = _plan(r.task, r.method, r.steps, r.replicas, r.seed,
                                      r.backend, r.checkpoints, (), None, held, True, store)
        if rec is not None:
            out[i] = _as_trace(rec, r.task, r.method, held, r.backend, r.steps, True)
            continue
        todo.append((i, st, job, replace, held))
    if not todo:
        return out
    owned = not isinstance(executor, Executor)
    ex = make_executor(executor or "serial", workers=workers, **executor_options)
    by_job = {id(t[2]): t for t in todo}
    failed = []
    try:
        ex.start()
        with _progress(len(todo), desc, quiet) as bar:
            for job, res in ex.map(compute, (t[2] for t in todo)):
                i, st, _, replace, held = by_job[id(job)]
                bar.update(1)
                if isinstance(res, BaseException):
                    failed.append(f"run {i} ({runs[i].method!r} on {runs[i].task!r}): "
                                  f"{type(res).__name__}: {res}")
                    continue
                rec = (_store_result(st, job, res, held, replace) if st is not None
                       else Record.from_result(res, held, {}))
                r = runs[i]
                out[i] = _as_trace(rec, r.task, r.method, held, r.backend, r.steps, False)
    finally:
        if owned:
            ex.close()
    if failed:
        kept = "the others are stored" if _store(store) is not None else "caching is off"
        raise RuntimeError(f"{len(failed)} of {len(todo)} runs failed ({kept}): "
                           + "; ".join(failed[:5]))
    return out


def store_enabled() -> bool:
    """Whether :func:`cached_simulate` caches with the default store."""
    return os.environ.get("SIMLAB_STORE", "").lower() not in _OFF and _store(None) is not None
