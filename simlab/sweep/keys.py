"""Content addresses of simulation results: what a record's key is made of.

A record holds one configuration run for one block of replica ids. Its key is the SHA-256 of
everything that decides the numbers the kernel writes:

* the code: :func:`simlab.engine.kernel.compose_source` of the task's and the method's ops
  classes (the task's and method's ops, the random generator and the replica loop, as
  compiled), the source of :mod:`simlab.engine.rng` (the generator's tables are computed
  there) and of the engine functions that call the kernel, and ``simlab.__version__``;
* the inputs: the task instance packed as the kernel reads it (``tdata``, ``tmeta``), the
  method's packed hyperparameters, the work-row width, the task and method classes, the
  horizon, the checkpoints, whether the running average is tracked, and the backend;
* what the record keeps: per-replica values or only the statistics.

The seed and the replica block are not in the key; they name the record inside the key's
folder. So a fix to a kernel, or to how a task builds its instance, changes the key and the
next run recomputes, while two spellings of one configuration (``zeta=0`` and ``zeta=0.0``)
share their records.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json

import numpy as np

import simlab
from simlab.engine import kernel as _kernel
from simlab.engine import rng as _rng
from simlab.engine import simulate as _simulate
from simlab.engine.model import Method, Task

#: Bump when the record layout changes (a new layout never reads an old one). Format 2: a
#: record holds every metric its run produced, named in its metadata.
FORMAT = 2


def record_metrics(task: Task, method: Method, track_average: bool) -> tuple[str, ...]:
    """The metrics a record of ``(task, method)`` holds: every metric the kernel records,
    and the running average only when it was tracked (the key says whether)."""
    from simlab.engine.kernel import METRICS

    return tuple(m for m in METRICS if track_average or m != "avg_grad_norm_sq")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def code_hash(task_cls: type, method_cls: type, backend: str) -> str:
    """SHA-256 of the code that computes a (task ops class, method ops class, backend) result.

    Parameters
    ----------
    task_cls, method_cls : type
        The ops classes (``task.ops_class``, ``method.ops_class``).
    backend : str
        ``"numba"``, ``"numpy"`` or ``"cuda"``.

    Returns
    -------
    str
        64 hex digits. Cached per process: like the compiled kernels, a source edit takes
        effect in a new process.
    """
    h = hashlib.sha256()
    for part in (
        f"simlab {simlab.__version__} format {FORMAT}",
        _kernel.compose_source(task_cls, method_cls, backend),
        inspect.getsource(_rng),
        inspect.getsource(_simulate.simulate),
        inspect.getsource(_simulate._allocate),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _array_digest(h, name: str, a) -> None:
    a = np.ascontiguousarray(a)
    h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
    h.update(a.tobytes())


def record_key(task: Task, method: Method, steps: int, checkpoints: np.ndarray,
               track_average: bool, backend: str, keep_replicas: bool) -> str:
    """The key of a configuration's records (see the module docstring).

    Parameters
    ----------
    task : Task
    method : Method
    steps : int
    checkpoints : ndarray of int64
        The resolved checkpoints (as :func:`simlab.simulate` records them).
    track_average : bool
    backend : str
    keep_replicas : bool
        Whether the records hold per-replica values (else only the statistics).

    Returns
    -------
    str
        32 hex digits.
    """
    h = hashlib.sha256()
    h.update(code_hash(task.ops_class, method.ops_class, backend).encode())
    tdata, tmeta = task.packed()
    _array_digest(h, "tdata", tdata)
    _array_digest(h, "tmeta", tmeta)
    _array_digest(h, "hyper", np.asarray(method.hyper(task), dtype=np.float64))
    _array_digest(h, "checkpoints", np.asarray(checkpoints, dtype=np.int64))
    h.update(json.dumps({
        "task": _qualname(type(task)), "method": _qualname(type(method)),
        "work": int(method.work_size(task)), "sources": int(task.n_sources),
        "steps": int(steps), "track_average": bool(track_average), "backend": backend,
        "keep_replicas": bool(keep_replicas),
    }, sort_keys=True).encode())
    return h.hexdigest()[:32]


def describe(obj) -> dict:
    """``{"class": ..., "params": {...}}`` of a task or method, for a record's metadata."""
    import dataclasses

    params = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    return {"class": _qualname(type(obj)), "params": jsonable(params)}


def jsonable(obj):
    """``obj`` with tuples as lists and numpy scalars and arrays as Python values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
