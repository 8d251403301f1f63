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


def _cached(task: Task, method: Method, steps: int, replicas: int, seed: int, backend: str,
            checkpoints, derived: tuple, replica_ids, metrics: tuple, keep: bool, store):
    """``(record, read from the store)`` of one run, computing and storing it when missing;
    ``(None, False)`` when the run is not cacheable."""
    from simlab.sweep.store import CorruptRecord, Record

    st = _store(store)
    block = _block(replicas, replica_ids)
    if st is None or block is None or backend == "cuda" or isinstance(steps, bool):
        return None, False
    cps = _checkpoints(checkpoints, int(steps))
    method.validate(task)
    key = record_key(task, method, int(steps), cps, derived, backend, keep)
    rid = RecordId(key, int(seed), *block)
    replace = False
    try:
        return st.read(rid, cps, metrics, values=keep), True
    except FileNotFoundError:
        pass
    except CorruptRecord as e:
        print(f"warning: {e}; computing it again", file=sys.stderr)
        replace = True
    job = Job(rid, task, method, int(steps), cps, record_metrics(task, method, derived),
              derived, backend, keep, code_hash(task.ops_class, method.ops_class, backend))
    result = compute(job)
    meta = {"sweep": "cached_simulate", "config": {
        "task": describe(task), "method": describe(method), "steps": int(steps),
        "checkpoints": int(len(cps)), "backend": backend, "keep_replicas": keep}}
    try:
        st.write(result, meta, replace=replace)
    except OSError as e:
        warnings.warn(f"result not cached: cannot write {st.path(rid)} ({e})", stacklevel=3)
    return Record.from_result(result, metrics, meta), False


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


def store_enabled() -> bool:
    """Whether :func:`cached_simulate` caches with the default store."""
    return os.environ.get("SIMLAB_STORE", "").lower() not in _OFF and _store(None) is not None
