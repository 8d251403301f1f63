"""One kernel factory for every (task family, method) pair and every backend.

A task family and a method each list their ops as plain top-level Python functions
(``Task.ops_functions``, ``Method.ops_functions``) written in the subset of Python that numba
compiles for the CPU and for CUDA. The factory composes one module from their source, the
random generator's (:data:`simlab.engine.rng.RNG_FUNCTIONS`) and the replica loop below
(:func:`run_replica`), decorates every function for the backend, and adds the kernel:

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
Metrics recorded at each checkpoint are :data:`METRICS`.
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
from pathlib import Path

from simlab.engine import rng as _rng

#: Metrics recorded at every checkpoint, in this column order.
METRICS = ("grad_norm_sq", "subopt", "dist_sq", "avg_grad_norm_sq")
N_METRICS = len(METRICS)

KERNEL_ARGS = ("tdata, tmeta, hyper, seed, replica_ids, T, checkpoints, track_avg, "
               "check_every, out, work, rngs, status")


# --- the replica loop (plain Python; composed with the task's and method's ops) -------------
# Names it uses that the composed module provides: seed_stream (rng), init_x, metrics,
# grad_norm_sq0 (task), m_init, m_step (method aliases).

def all_finite(x, d):
    """True when the first ``d`` entries of ``x`` are finite."""
    for k in range(d):
        if not math.isfinite(x[k]):
            return False
    return True


def run_replica(j, tdata, tmeta, hyper, seed, replica_ids, T, checkpoints, track_avg,
                check_every, out, work, rngs, status):
    """Run replica ``j`` for ``T`` steps, recording metrics at ``checkpoints``.

    ``status[j]`` is ``-1`` when the run stayed finite, else the first step found non-finite:
    ``x_t`` or ``||grad f_0(x_t)||^2`` overflowed (exact when ``check_every == 1``; otherwise the
    first checkpoint where a recorded metric is not finite).
    """
    d = tmeta[0]
    s = rngs[j]
    for src in range(s.shape[0]):
        seed_stream(seed, replica_ids[j], src, s[src])  # noqa: F821
    w = work[j]
    init_x(tdata, tmeta, w)  # noqa: F821
    m_init(tdata, tmeta, hyper, w, s)  # noqa: F821
    K = checkpoints.shape[0]
    k = 0
    acc = 0.0
    status[j] = -1
    for t in range(T + 1):
        if check_every > 0 and t % check_every == 0:
            if not (all_finite(w, d) and math.isfinite(grad_norm_sq0(tdata, tmeta, w))):  # noqa: F821
                status[j] = t
                return
        while k < K and checkpoints[k] == t:
            row = out[k, j]
            metrics(tdata, tmeta, w, row)  # noqa: F821
            if not track_avg:
                row[3] = math.nan  # not asked for: NaN, never a number
            elif t > 0:
                row[3] = acc / t
            else:
                row[3] = row[0]
            if not (math.isfinite(row[0]) and math.isfinite(row[1])):
                status[j] = t
                return
            k += 1
        if t == T:
            break
        if track_avg:
            acc += grad_norm_sq0(tdata, tmeta, w)  # noqa: F821
        m_step(tdata, tmeta, hyper, w, s, t)  # noqa: F821
    if not all_finite(w, d):
        status[j] = T


RUNNER_FUNCTIONS = (all_finite, run_replica)


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
    m_init, m_step = method_cls.ops_functions
    parts = [
        f"# Generated by simlab.engine.kernel for {task_cls.__module__}.{task_cls.__name__} x "
        f"{method_cls.__module__}.{method_cls.__name__} ({backend}). Do not edit.\n",
        "import math\n\nimport numpy as np\n\n"
        "from simlab.engine.rng import KN as _KN, WN as _WN, FN as _FN  # noqa: F401\n",
        "def _identity(fn):\n    return fn\n\n",
        header,
    ]
    funcs = list(_rng.RNG_FUNCTIONS) + list(task_cls.ops_functions) + [m_init, m_step]
    funcs += list(getattr(method_cls, "ops_helpers", ()))
    funcs += list(RUNNER_FUNCTIONS)
    parts += [_function_source(f) for f in funcs]
    parts.append(f"m_init = {m_init.__name__}\nm_step = {m_step.__name__}\n")
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


def _load(name: str, source: str):
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

    Its arguments are :data:`KERNEL_ARGS`; see :func:`run_replica`.
    """
    key = (task_cls, method_cls, backend)
    if key not in _CACHE:
        src = compose_source(task_cls, method_cls, backend)
        name = f"{backend}_{task_cls.__name__}_{method_cls.__name__}"
        _CACHE[key] = _load(name, src).kernel
    return _CACHE[key]


def load_module(name: str, backend: str):
    """A composed module holding only the generator and one extra function (``draw``)."""
    header, _ = _backend_parts(backend)
    parts = ["import math\n\nimport numpy as np\n\n"
             "from simlab.engine.rng import KN as _KN, WN as _WN, FN as _FN  # noqa: F401\n",
             "def _identity(fn):\n    return fn\n\n", header]
    parts += [_function_source(f) for f in _rng.RNG_FUNCTIONS]
    parts.append(_rng.draw_normals_source())
    return _load(f"{name}_{backend}", "\n\n".join(parts))
