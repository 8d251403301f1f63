"""Content addresses of simulation results: what a record's key is made of.

A record holds one configuration run for one block of replica ids. Its key is the SHA-256 of
everything that decides the numbers the kernel writes:

* the code: :func:`simlab.engine.kernel.compose_source` of the task's and the method's ops
  classes (the task's and method's ops, the random generator and the replica loop, as
  compiled) or, for a loop method (runner protocol), the source of the modules of the task's
  and the method's classes and of every simlab module they use (:func:`loop_modules`: the
  imports, also those inside functions, and module names given as strings, followed
  transitively), so a fix to a sampler or a learner that a loop calls changes the key; the
  source of :mod:`simlab.engine.rng` (the generator's tables are
  computed there) and of the engine functions that call the kernel, and ``simlab.__version__``;
* the inputs: what the task and the method say decides their numbers (``key_parts``: the
  packed instance and hyperparameters of a kernel, the parameters of a loop), the layout of
  slots and streams, the task and method classes, the horizon, the checkpoints, the derived
  metrics asked for, and the backend;
* what the record keeps: per-replica values or only the statistics.

The seed and the replica block are not in the key; they name the record inside the key's
folder. So a fix to a kernel, or to how a task builds its instance, changes the key and the
next run recomputes, while two spellings of one configuration (``zeta=0`` and ``zeta=0.0``)
share their records.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import re

import numpy as np

import simlab
from simlab.engine import kernel as _kernel
from simlab.engine import rng as _rng
from simlab.engine import runner as _runner
from simlab.engine import simulate as _simulate
from simlab.engine.model import LoopMethod, Method, Task

#: Bump when the record layout changes (a new layout never reads an old one). Format 2: a
#: record holds every metric its run produced, named in its metadata.
FORMAT = 2


def record_metrics(task: Task, method: Method, derived=()) -> tuple[str, ...]:
    """The metrics a record of ``(task, method)`` holds: every metric the run records, and
    the derived ones that were asked for (the key says which)."""
    names = _simulate.metric_names(task, method)
    optional = set(_simulate.derived_names(task, method))
    asked = set(derived or ())
    return tuple(m for m in names if m not in optional or m in asked)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_NOT_FOLLOWED = ("simlab.engine", "simlab.sweep")
_MODULE_NAME = re.compile(r"^simlab(\.[A-Za-z_]\w*)+$")


def _is_simlab_module(name: str) -> bool:
    if not (name == "simlab" or name.startswith("simlab.")):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _used_modules(name: str) -> set[str]:
    """The simlab modules that module ``name`` imports (anywhere in it, also inside
    functions) or names in a string constant (``importlib.import_module`` tables)."""
    mod = importlib.import_module(name)
    tree = ast.parse(inspect.getsource(mod))
    pkg = name if hasattr(mod, "__path__") else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                base = f"{up}.{base}" if base else up
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # submodules imported by name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _MODULE_NAME.match(node.value):
            out.add(node.value)
    return {m for m in out if m != "simlab" and _is_simlab_module(m)}


@functools.cache
def loop_modules(cls: type) -> tuple[str, ...]:
    """The simlab modules whose source decides a loop class's numbers: its own module and
    every simlab module reachable from it by imports (see :func:`_used_modules`), sorted.

    Left out, and not followed: ``simlab/__init__``, the engine (the key hashes the parts
    of it that decide numbers separately) and the sweep layer (where a job runs does not
    change its numbers).
    """
    start = inspect.getmodule(cls).__name__
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if m != start and m.startswith(_NOT_FOLLOWED):
            continue
        todo.extend(_used_modules(m) - seen)
    return tuple(sorted(m for m in seen if m == start or not m.startswith(_NOT_FOLLOWED)))


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
    if issubclass(method_cls, LoopMethod):
        names = sorted(set(loop_modules(task_cls)) | set(loop_modules(method_cls)))
        code = "\n".join(inspect.getsource(importlib.import_module(m)) for m in names)
        code += inspect.getsource(_runner)
    else:
        code = _kernel.compose_source(task_cls, method_cls, backend)
    for part in (
        f"simlab {simlab.__version__} format {FORMAT}",
        code,
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
               derived, backend: str, keep_replicas: bool) -> str:
    """The key of a configuration's records (see the module docstring).

    Parameters
    ----------
    task : Task
    method : Method
    steps : int
    checkpoints : ndarray of int64
        The resolved checkpoints (as :func:`simlab.simulate` records them).
    derived : sequence of str
        The derived metrics computed.
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
    for name, part in {**{f"task.{k}": v for k, v in task.key_parts().items()},
                       **{f"method.{k}": v for k, v in method.key_parts(task).items()}}.items():
        if isinstance(part, np.ndarray):
            _array_digest(h, name, part)
        else:
            h.update(f"{name}={part}".encode())
    if not isinstance(method, LoopMethod):
        _array_digest(h, "layout", _kernel.layout(task, method))
    _array_digest(h, "checkpoints", np.asarray(checkpoints, dtype=np.int64))
    h.update(json.dumps({
        "task": _qualname(type(task)), "method": _qualname(type(method)),
        "steps": int(steps), "derived": sorted(derived or ()), "backend": backend,
        "keep_replicas": bool(keep_replicas),
    }, sort_keys=True).encode())
    return h.hexdigest()[:32]


def describe(obj) -> dict:
    """``{"class": ..., "params": {...}}`` of a task or method, for a record's metadata."""
    import dataclasses

    from simlab.meta import jsonable

    params = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    return {"class": _qualname(type(obj)), "params": jsonable(params)}
