"""One kernel factory for every (task family, method) pair and every backend.

A task family and a method each declare their kernel part (:mod:`simlab.engine.declare`):
plain top-level Python functions in the subset that numba compiles for the CPU and for CUDA,
the hooks the replica loop calls, and their slots, stream groups and metrics. The factory

1. checks the two declarations against each other (:func:`plan`): unique names, every hook
   parameter bound, every required task op provided;
2. generates the replica loop for them (:func:`replica_loop_source`): one view per slot and per
   stream group, made once per replica from a ``layout`` array of offsets that
   :func:`layout` computes from the instance's dims, the hooks called with their parameters
   bound by name, the declared metrics written at the checkpoints, the derived metrics
   accumulated only when asked for (NaN otherwise), and the finiteness checks;
3. composes one module from the random generator's source (:data:`simlab.engine.rng.RNG_FUNCTIONS`),
   the task's and the method's functions and the generated loop, decorates every function for
   the backend, and adds the kernel:

* ``"numpy"``: the readable reference: the same functions run as plain Python, one replica
  after the other. Slow; for small checks and debugging.
* ``"numba"``: ``numba.njit`` with ``cache=True``; replicas in parallel with ``prange``. The
  ops and the replica loop compile without numba's reference-counting runtime
  (``_nrt=False``): they only index and slice arrays the caller owns (allocating is outside
  the CUDA subset anyway), and with it every array view and call would update the shared
  arrays' reference counts atomically, several times per step and replica, on cache lines
  that all threads write.
* ``"cuda"``: numba-cuda, one replica per thread (the adapter is :mod:`simlab.engine.cuda`).

The module is written to a folder named by a hash of all the source that went into it, so
numba's on-disk cache serves it across processes and a change to any op recompiles it. The
folder is ``$SIMLAB_KERNEL_DIR``, else ``$NUMBA_CACHE_DIR/simlab_kernels``, else
``~/.cache/simlab/kernels``.

Replicas never share a random stream, so the backends give the same trace for the same
``(seed, replica)`` (bit for bit on the CPU; within floating-point tolerance on CUDA).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import os
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simlab.engine import rng as _rng
from simlab.engine.declare import (
    STANDARD_ARGS,
    MethodOps,
    RunningMean,
    TaskOps,
    parameters,
    size_of,
)

KERNEL_ARGS = ("tdata, tmeta, hyper, seed, replica_ids, T, checkpoints, track, check_every, "
               "layout, out, work, rngs, status")


def all_finite(x):
    """True when every entry of the 1-D array ``x`` is finite."""
    for k in range(x.shape[0]):
        if not math.isfinite(x[k]):
            return False
    return True


# --- the plan: two declarations checked against each other ----------------------------------

@dataclass(frozen=True)
class Plan:
    """What a (task class, method class) pair runs, names and order only (no sizes).

    Attributes
    ----------
    task, method : TaskOps, MethodOps
    slots : tuple of (str, Slot)
        ``("task" | "method", slot)`` in work-row order: the task's, then the method's.
    streams : tuple of (str, StreamGroup)
        In stream order: the task's groups, then the method's.
    metrics : tuple of str
        Recorded at every checkpoint: the task's, then the method's.
    derived : tuple of RunningMean
        Computed only when asked for; their columns follow :attr:`metrics`.
    """

    task: TaskOps
    method: MethodOps
    slots: tuple
    streams: tuple
    metrics: tuple
    derived: tuple

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every column of a trace: the recorded metrics, then the derived ones."""
        return self.metrics + tuple(d.name for d in self.derived)

    @property
    def derived_names(self) -> tuple[str, ...]:
        """Names of the derived metrics."""
        return tuple(d.name for d in self.derived)


class DeclarationError(TypeError):
    """A task family's and a method's declarations do not fit together (names the problem)."""


def _declaration(cls: type, kind: str):
    want = TaskOps if kind == "task" else MethodOps
    ops = getattr(cls, "ops", None)
    if not isinstance(ops, want):
        raise DeclarationError(f"{cls.__module__}.{cls.__qualname__} declares no kernel: its "
                               f"class attribute 'ops' must be a {want.__name__}, got "
                               f"{type(ops).__name__}")
    return ops


_PLANS: dict = {}


def plan(task_cls: type, method_cls: type) -> Plan:
    """Check a task family's and a method's declarations against each other.

    Raises
    ------
    DeclarationError
        A name declared twice, a required task op missing, or a hook parameter that is neither
        a standard argument nor a slot or stream group; the message says what is available.
    """
    t = _declaration(task_cls, "task")
    m = _declaration(method_cls, "method")
    key = (task_cls, method_cls, t, m)  # a class whose declaration changes is planned again
    if key not in _PLANS:
        _PLANS[key] = _plan(task_cls, method_cls, t, m)
    return _PLANS[key]


def _plan(task_cls: type, method_cls: type, t: TaskOps, m: MethodOps) -> Plan:
    tname, mname = task_cls.__name__, method_cls.__name__
    missing = [r for r in m.requires if r not in t.provides]
    if missing:
        raise DeclarationError(f"{mname} requires the task ops {missing}, which {tname} does "
                               f"not provide (it provides {list(t.provides)})")
    slots = tuple(("task", s) for s in t.slots) + tuple(("method", s) for s in m.slots)
    streams = tuple(("task", g) for g in t.streams) + tuple(("method", g) for g in m.streams)
    metrics = tuple(t.metrics) + tuple(m.metrics)
    derived = tuple(t.derived) + tuple(m.derived)
    names = ([s.name for _, s in slots] + [g.name for _, g in streams])
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DeclarationError(f"{tname} x {mname}: slot / stream group names declared twice: "
                               f"{dup}")
    clash = sorted(set(names) & set(STANDARD_ARGS))
    if clash:
        raise DeclarationError(f"{tname} x {mname}: slot or stream names {clash} are reserved "
                               f"({list(STANDARD_ARGS)})")
    mnames = list(metrics) + [d.name for d in derived]
    dup = sorted({n for n in mnames if mnames.count(n) > 1})
    if dup:
        raise DeclarationError(f"{tname} x {mname}: metrics declared twice: {dup}")
    funcs = [f.__name__ for f in list(_rng.RNG_FUNCTIONS) + list(t.functions)
             + list(m.functions)]
    dup = sorted({n for n in funcs if funcs.count(n) > 1})
    if dup:
        raise DeclarationError(f"{tname} x {mname}: functions of the same name in the composed "
                               f"module: {dup} (rename one)")
    if t.metrics and t.record is None:
        raise DeclarationError(f"{tname} declares metrics {list(t.metrics)} but no record op")
    if m.metrics and m.record is None:
        raise DeclarationError(f"{mname} declares metrics {list(m.metrics)} but no record op")
    p = Plan(t, m, slots, streams, metrics, derived)
    available = set(STANDARD_ARGS) | set(names)
    for who, fn in _hooks(p):
        unknown = [a for a in parameters(fn) if a not in available]
        if unknown:
            raise DeclarationError(
                f"{who} hook {fn.__name__} takes {unknown}, which are neither standard "
                f"arguments {list(STANDARD_ARGS)} nor slots / stream groups of {tname} x "
                f"{mname} ({sorted(names)})")
        if "row" in parameters(fn) and fn not in (t.record, m.record):
            raise DeclarationError(f"{who} hook {fn.__name__}: only a record op takes 'row'")
    for s in t.finite:
        if s not in [x.name for _, x in slots]:
            raise DeclarationError(f"{tname} declares finite slot {s!r}, which is not a slot")
    return p


def _hooks(p: Plan) -> list[tuple[str, object]]:
    hooks = [("task", p.task.init), ("method", p.method.init), ("method", p.method.step)]
    hooks += [("task", p.task.record)] if p.task.record is not None else []
    hooks += [("method", p.method.record)] if p.method.record is not None else []
    hooks += [("task", p.task.finite_op)] if p.task.finite_op is not None else []
    hooks += [("derived", d.op) for d in p.derived]
    return hooks


def layout(task, method) -> np.ndarray:
    """Offsets of the slots in a work row and of the stream groups, for an instance pair.

    Returns
    -------
    ndarray of int64
        ``[slot boundaries (n_slots + 1) | stream boundaries (n_groups + 1)]``: slot ``i`` is
        ``work[layout[i]:layout[i + 1]]``; the work row has ``layout[n_slots]`` entries and a
        replica ``layout[-1]`` streams.
    """
    p = plan(task.ops_class, method.ops_class)
    dims = task.dims()
    sizes = [size_of(s.size, dims, f"slot {s.name!r} of the {who}") for who, s in p.slots]
    counts = [size_of(g.count, dims, f"stream group {g.name!r} of the {who}")
              for who, g in p.streams]
    return np.concatenate([np.cumsum([0] + sizes), np.cumsum([0] + counts)]).astype(np.int64)


# --- the generated replica loop -------------------------------------------------------------

def _call(fn, bind: dict) -> str:
    return f"{fn.__name__}({', '.join(bind[a] for a in parameters(fn))})"


def replica_loop_source(p: Plan) -> str:
    """The source of ``run_replica`` for a plan (see the module docstring).

    ``status[j]`` is ``-1`` when the run stayed finite, else the first step found non-finite
    (exact when ``check_every == 1``; otherwise a step at which the finite slots or the finite
    op were checked, or the first checkpoint where a recorded metric is not finite).
    """
    ns = len(p.slots)
    lines = [f"def run_replica(j, {KERNEL_ARGS}):",
             "    s = rngs[j]",
             "    for src in range(s.shape[0]):",
             "        seed_stream(seed, replica_ids[j], src, s[src])",
             "    w = work[j]"]
    bind = {"tdata": "tdata", "tmeta": "tmeta", "hyper": "hyper", "t": "t", "recorded": "False"}
    for i, (_, sl) in enumerate(p.slots):
        bind[sl.name] = f"sl_{sl.name}"
        lines.append(f"    sl_{sl.name} = w[layout[{i}]:layout[{i + 1}]]")
    for g, (_, grp) in enumerate(p.streams):
        bind[grp.name] = f"sg_{grp.name}"
        lines.append(f"    sg_{grp.name} = s[layout[{ns + 1 + g}]:layout[{ns + 2 + g}]]")
    init_bind = dict(bind, t="0")
    lines.append(f"    {_call(p.task.init, init_bind)}")
    lines.append(f"    {_call(p.method.init, init_bind)}")
    nt, nm = len(p.task.metrics), len(p.method.metrics)
    lines += ["    K = checkpoints.shape[0]", "    k = 0"]
    lines += [f"    acc_{i} = 0.0" for i in range(len(p.derived))]
    lines.append("    status[j] = -1")
    lines.append("    for t in range(T + 1):")
    finite = [f"all_finite({bind[s]})" for s in p.task.finite]
    if p.task.finite_op is not None:
        finite.append(f"math.isfinite({_call(p.task.finite_op, bind)})")
    if finite:
        lines += ["        if check_every > 0 and t % check_every == 0:",
                  f"            if not ({' and '.join(finite)}):",
                  "                status[j] = t",
                  "                return"]
    lines += ["        while k < K and checkpoints[k] == t:",
              "            row = out[k, j]"]
    if p.task.record is not None:
        lines.append(f"            {_call(p.task.record, dict(bind, row=f'row[0:{nt}]'))}")
    if p.method.record is not None:
        lines.append(f"            "
                     f"{_call(p.method.record, dict(bind, row=f'row[{nt}:{nt + nm}]'))}")
    for i, d in enumerate(p.derived):
        c = nt + nm + i
        lines += [f"            if track[{i}] == 0:",
                  f"                row[{c}] = math.nan  # not asked for: NaN, never a number",
                  "            elif t > 0:",
                  f"                row[{c}] = acc_{i} / t",
                  "            else:",
                  f"                row[{c}] = {_call(d.op, bind)}"]
    if nt + nm:
        lines += [f"            if not all_finite(row[0:{nt + nm}]):",
                  "                status[j] = t",
                  "                return"]
    lines += ["            k += 1",
              "        if t == T:",
              "            break"]
    for i, d in enumerate(p.derived):
        lines += [f"        if track[{i}] != 0:",
                  f"            acc_{i} += {_call(d.op, bind)}"]
    step_bind = dict(bind, recorded="(k < K and checkpoints[k] == t + 1)")
    lines.append(f"        {_call(p.method.step, step_bind)}")
    if p.task.finite:
        cond = " and ".join(f"all_finite({bind[s]})" for s in p.task.finite)
        lines += [f"    if not ({cond}):", "        status[j] = T"]
    return "\n".join(lines) + "\n"


# --- composition ----------------------------------------------------------------------------

def _function_source(fn) -> str:
    src = textwrap.dedent(inspect.getsource(fn))
    lines = src.splitlines()
    while lines and lines[0].lstrip().startswith("@"):
        lines.pop(0)
    return "@JIT\n" + "\n".join(lines) + "\n"


_HEADERS = {
    "numpy": "JIT = _identity\n",
    "numba": "import numba\nJIT = numba.njit(cache=True, _nrt=False)\n",
}

_KERNELS = {
    "numpy": (
        "def kernel({args}):\n"
        "    with np.errstate(over='ignore'):\n"
        "        for j in range(replica_ids.shape[0]):\n"
        "            run_replica(j, {args})\n"
    ),
    "numba": (
        "@numba.njit(parallel=True, cache=True)\n"
        "def kernel({args}):\n"
        "    for j in numba.prange(replica_ids.shape[0]):\n"
        "        run_replica(j, {args})\n"
    ),
}

_PRELUDE = ("import math\n\nimport numpy as np\n\n"
            "from simlab.engine.rng import KN as _KN, WN as _WN, FN as _FN  # noqa: F401\n")


def _backend_parts(backend: str) -> tuple[str, str]:
    if backend == "cuda":
        from simlab.engine import cuda as cuda_adapter

        return cuda_adapter.HEADER, cuda_adapter.KERNEL
    if backend not in _HEADERS:
        raise ValueError(f"backend must be one of 'numpy', 'numba', 'cuda'; got {backend!r}")
    return _HEADERS[backend], _KERNELS[backend]


def compose_source(task_cls, method_cls, backend: str) -> str:
    """The source of the composed module for a task family, a method and a backend."""
    header, kernel = _backend_parts(backend)
    p = plan(task_cls, method_cls)
    parts = [
        f"# Generated by simlab.engine.kernel for {task_cls.__module__}.{task_cls.__name__} x "
        f"{method_cls.__module__}.{method_cls.__name__} ({backend}). Do not edit.\n",
        _PRELUDE, "def _identity(fn):\n    return fn\n\n", header,
    ]
    funcs = list(_rng.RNG_FUNCTIONS) + list(p.task.functions) + list(p.method.functions)
    funcs.append(all_finite)
    parts += [_function_source(f) for f in funcs]
    parts.append("@JIT\n" + replica_loop_source(p))
    parts.append(kernel.format(args=KERNEL_ARGS))
    return "\n\n".join(parts)


def kernel_dir() -> Path:
    """Folder of the generated kernel modules (created if missing)."""
    env = os.environ.get("SIMLAB_KERNEL_DIR")
    if env:
        root = Path(env)
    elif os.environ.get("NUMBA_CACHE_DIR"):
        root = Path(os.environ["NUMBA_CACHE_DIR"]) / "simlab_kernels"
    else:
        root = Path.home() / ".cache" / "simlab" / "kernels"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write_test"
        probe.touch()
        probe.unlink()
    except OSError:
        root = Path(tempfile.gettempdir()) / "simlab_kernels"
        root.mkdir(parents=True, exist_ok=True)
    return root


def load_source(name: str, source: str):
    """Import a generated module from ``source`` (written once to :func:`kernel_dir`)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"simlab_kernel_{name}_{digest}"
    if modname in sys.modules:
        return sys.modules[modname]
    path = kernel_dir() / f"{modname}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


_CACHE: dict = {}


def get_kernel(task_cls, method_cls, backend: str):
    """The compiled kernel for a task family, a method and a backend (one per process).

    Its arguments are :data:`KERNEL_ARGS`; see :func:`replica_loop_source`.
    """
    key = (task_cls, method_cls, backend)
    if key not in _CACHE:
        src = compose_source(task_cls, method_cls, backend)
        name = f"{backend}_{task_cls.__name__}_{method_cls.__name__}"
        _CACHE[key] = load_source(name, src).kernel
    return _CACHE[key]


def generator_module(backend: str, extra_source: str, name: str):
    """A composed module of the random generator and ``extra_source`` (e.g. a draw loop)."""
    header, _ = _backend_parts(backend)
    parts = [_PRELUDE, "def _identity(fn):\n    return fn\n\n", header]
    parts += [_function_source(f) for f in _rng.RNG_FUNCTIONS]
    parts.append(extra_source)
    return load_source(f"{name}_{backend}", "\n\n".join(parts))


__all__ = ["KERNEL_ARGS", "Plan", "DeclarationError", "plan", "layout", "compose_source",
           "replica_loop_source", "get_kernel", "generator_module", "kernel_dir", "all_finite",
           "RunningMean"]
