"""Conformance checks that every task family and method passes (as scikit-learn's
``check_estimator``).

:func:`check_task` and :func:`check_method` run the engine's contract on a task instance and a
(task, method) pair and raise ``AssertionError`` naming what broke:

* the declarations fit (:func:`simlab.engine.kernel.plan`, the layout's sizes);
* the numpy backend equals numba bit for bit (NaN where a derived metric was not asked for),
  and runs without an index error (every op stays inside its slots and stream groups: numpy
  views are bounds-checked, numba's are not);
* a replica's trace does not depend on how many replicas run beside it, nor on numba's thread
  count;
* streams are keyed by ``(seed, replica, source)``: no two streams of a run share a state,
  other replicas and other seeds give other paths;
* a derived metric not asked for is NaN, and asking for it changes no other metric;
* the CUDA backend agrees within :data:`CUDA_RTOL` (run it where numba-cuda's simulator is on,
  ``NUMBA_ENABLE_CUDASIM=1``, or on a GPU);
* a task's noise law agrees with its ``constants()`` when the task provides
  ``noise_law(n, seed)`` (:class:`LawCheck` items, z-tests with a declared false-failure budget);
* the Monte Carlo agrees with a family's exact moments when it provides
  ``exact_moments(method, steps, checkpoints)``.

:func:`registered` discovers the task families and methods to check: every subclass of
:class:`~simlab.engine.model.Task` / :class:`~simlab.engine.model.Method` in a loaded simlab
package that defines ``examples()`` (small instances that cover its code paths).
:func:`parametrize` turns them into pytest parameters.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from simlab.engine import stats
from simlab.engine.kernel import layout, plan
from simlab.engine.model import LoopMethod, Method, Task
from simlab.engine.simulate import requirements, simulate

#: Relative tolerance of the CUDA backend against numba (real GPUs fuse multiply-adds).
CUDA_RTOL = 1e-9
#: False-failure budget of each statistical conformance check (Bonferroni inside it).
DELTA = 1e-3
STEPS, REPLICAS, SEED = 12, 6, 3


@dataclass(frozen=True)
class LawCheck:
    """One statistical statement about a task's noise, for :func:`check_noise_law`.

    Attributes
    ----------
    name : str
    samples : ndarray, shape (n, k)
        Independent draws of ``k`` quantities.
    mean : ndarray, shape (k,)
        Their exact means (from the task's constants).
    """

    name: str
    samples: np.ndarray
    mean: np.ndarray


def _run(task, method, backend="numba", **kw):
    kw = {"steps": STEPS, "replicas": REPLICAS, "seed": SEED, "checkpoints": "all",
          "derived": True, **kw}
    return simulate(task, method, backend=backend, **kw)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


# --- pair checks ----------------------------------------------------------------------------

def check_declarations(task: Task, method: Method) -> None:
    """The two declarations fit: hooks bound, names unique, sizes non-negative."""
    requirements(task, method)
    if isinstance(method, LoopMethod):
        assert method.metrics, f"{type(method).__name__} declares no metrics"
        return
    p = plan(task.ops_class, method.ops_class)
    lay = layout(task, method)
    assert np.all(np.diff(lay[:len(p.slots) + 1]) >= 0) and np.all(
        np.diff(lay[len(p.slots) + 1:]) >= 0), f"negative sizes in layout {lay.tolist()}"
    assert p.metric_names, f"{type(task).__name__} x {type(method).__name__} records nothing"


def check_numpy_equals_numba(task: Task, method: Method) -> None:
    """The numpy reference and the numba kernel give the same trace, bit for bit."""
    a = _run(task, method, "numpy")
    b = _run(task, method, "numba")
    assert a.metrics == b.metrics
    bad = np.argwhere(~((a.values == b.values) | (np.isnan(a.values) & np.isnan(b.values))))
    assert bad.size == 0, (f"numpy and numba differ at {len(bad)} entries, first [checkpoint, "
                           f"replica, metric] = {bad[0].tolist()}")


def check_replica_count_invariance(task: Task, method: Method) -> None:
    """Replica ``r``'s trace is the same whichever replicas run beside it."""
    full = _run(task, method)
    some = _run(task, method, replica_ids=[4, 1])
    assert _same(some.values[:, 0], full.values[:, 4]) and _same(some.values[:, 1],
                                                                 full.values[:, 1]), \
        "a replica's trace changed with the replicas run beside it"


def check_thread_count_invariance(task: Task, method: Method) -> None:
    """One numba thread or several: the same trace."""
    import numba

    old, most = numba.get_num_threads(), int(numba.config.NUMBA_NUM_THREADS)
    if most < 2 or isinstance(method, LoopMethod):
        return  # one thread only: nothing to compare
    try:
        numba.set_num_threads(1)
        one = _run(task, method)
        numba.set_num_threads(most)
        many = _run(task, method)
    finally:
        numba.set_num_threads(old)
    assert _same(one.values, many.values), "the trace depends on numba's thread count"


def check_stream_keys(task: Task, method: Method) -> None:
    """Streams are keyed by (seed, replica, source): distinct states, distinct paths."""
    from simlab.engine import rng

    if not isinstance(method, LoopMethod):
        n = int(layout(task, method)[-1])
        states = set()
        with np.errstate(over="ignore"):
            for r in range(REPLICAS):
                for src in range(n):
                    s = np.zeros(2, dtype=np.uint64)
                    rng.seed_stream(np.uint64(SEED), r, src, s)
                    states.add((int(s[0]), int(s[1])))
        assert len(states) == REPLICAS * n, "two streams of a run share a state"
    a = _run(task, method)
    other_seed = _run(task, method, seed=SEED + 1)
    if _random(a):
        assert not _same(a.values[:, 0], a.values[:, 1]), "replicas 0 and 1 took one path"
        assert not _same(a.values, other_seed.values), "another seed gave the same trace"


def _random(tr) -> bool:
    """Whether the run draws any randomness at all (a noise-free example takes one path)."""
    return not np.array_equal(tr.values[:, 0], tr.values[:, -1], equal_nan=True)


def check_derived_only_when_asked(task: Task, method: Method) -> None:
    """A derived metric not asked for is NaN; asking for it changes no other metric."""
    asked = _run(task, method, derived=True)
    not_asked = _run(task, method, derived=False)
    from simlab.engine.simulate import derived_names

    names = derived_names(task, method)
    cols = [asked.metrics.index(n) for n in names]
    keep = [i for i in range(len(asked.metrics)) if i not in cols]
    assert _same(asked.values[:, :, keep], not_asked.values[:, :, keep]), \
        "tracking a derived metric changed another metric"
    if cols:
        assert np.isnan(not_asked.values[:, :, cols]).all(), \
            "a derived metric not asked for is not NaN"
        assert np.isfinite(asked.values[:, :, cols]).all(), "a derived metric is not finite"


def check_cuda_agrees(task: Task, method: Method) -> None:
    """The CUDA backend agrees with numba within :data:`CUDA_RTOL` (simulator or GPU)."""
    if isinstance(method, LoopMethod):
        return
    a = _run(task, method, "cuda")
    b = _run(task, method, "numba")
    np.testing.assert_allclose(a.values, b.values, rtol=CUDA_RTOL, atol=1e-300,
                               err_msg="cuda and numba disagree")


PAIR_CHECKS = (check_declarations, check_numpy_equals_numba, check_replica_count_invariance,
               check_thread_count_invariance, check_stream_keys, check_derived_only_when_asked)


def check_method(task: Task, method: Method, cuda: bool = False) -> None:
    """Run every pair check (and the CUDA one when ``cuda``) on ``(task, method)``."""
    for check in PAIR_CHECKS + ((check_cuda_agrees,) if cuda else ()):
        check(task, method)


# --- task checks ----------------------------------------------------------------------------

def check_noise_law(task: Task) -> None:
    """The task's draws have the means its constants say (z-tests, budget :data:`DELTA`)."""
    law = getattr(task, "noise_law", None)
    if law is None:
        return
    items = list(law(4000, 11))
    k = sum(int(np.asarray(c.mean).size) for c in items)
    z = stats.z_value(DELTA, max(k, 1), two_sided=True)
    for c in items:
        x = np.asarray(c.samples, dtype=np.float64)
        x = x.reshape(x.shape[0], -1)
        m, se = x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])
        want = np.asarray(c.mean, dtype=np.float64).ravel()
        off = np.abs(m - want) > z * se + 1e-12 * np.abs(want)
        assert not off.any(), (f"{type(task).__name__} noise law {c.name!r}: mean "
                               f"{m[off][:3].tolist()} vs {want[off][:3].tolist()} (z = {z:.2f})")


def check_exact_moments(task: Task, method: Method, replicas: int = 3000,
                        steps: int = 60) -> None:
    """The Monte Carlo means agree with the family's exact moments at every checkpoint."""
    exact_fn = getattr(task, "exact_moments", None)
    if exact_fn is None:
        return
    tr = simulate(task, method, steps=steps, replicas=replicas, seed=5, checkpoints=12)
    exact = exact_fn(method, steps, tr.checkpoints)
    if exact is None:
        return
    names = [n for n in exact if n in tr.metrics]
    z = stats.z_value(DELTA, len(tr.checkpoints) * len(names), two_sided=True)
    for n in names:
        chk = stats.agreement(tr.mean(n), tr.se(n), exact[n], z)
        assert chk.verdict != stats.VIOLATED, (f"{n}: Monte Carlo {chk.measured:.6g} vs exact "
                                               f"{chk.theory:.6g} at checkpoint {chk.index}")


def check_task(task: Task) -> None:
    """Run the task checks (noise law) on one instance."""
    check_noise_law(task)


# --- discovery ------------------------------------------------------------------------------

def _load_packages() -> None:
    import simlab

    for info in pkgutil.iter_modules(simlab.__path__, "simlab."):
        if info.ispkg and info.name.rsplit(".", 1)[1] not in ("engine", "sweep", "neural"):
            importlib.import_module(info.name)


def _subclasses(base: type) -> list[type]:
    out, todo = [], [base]
    while todo:
        for c in todo.pop().__subclasses__():
            if c not in out:
                out.append(c)
                todo.append(c)
    return out


def registered() -> tuple[list[Task], list[Method]]:
    """Example instances of every task family and method of the loaded simlab packages.

    A class takes part when it defines ``examples()`` (a classmethod returning instances).
    """
    _load_packages()
    tasks, methods = [], []
    for cls in _subclasses(Task):
        if "examples" in vars(cls) and cls.__module__.startswith("simlab."):
            tasks += list(cls.examples())
    for cls in _subclasses(Method):
        if "examples" in vars(cls) and cls.__module__.startswith("simlab."):
            methods += list(cls.examples())
    return tasks, methods


def compatible(task: Task, method: Method) -> bool:
    """Whether ``method`` can run on ``task``: its requirements are provided and its
    ``validate(task)`` accepts the instance (e.g. a method that needs 0/1 labels)."""
    try:
        requirements(task, method)
        method.validate(task)
    except ValueError:
        return False
    return True


def pairs(tasks=None, methods=None) -> Iterator[tuple[Task, Method]]:
    """Every compatible (task, method) pair of the registered examples."""
    if tasks is None or methods is None:
        t, m = registered()
        tasks = t if tasks is None else tasks
        methods = m if methods is None else methods
    for task in tasks:
        for method in methods:
            if compatible(task, method):
                yield task, method


def _label(obj) -> str:
    return repr(obj).replace(" ", "")[:80]


def parametrize(checks: tuple[Callable, ...] = PAIR_CHECKS, tasks=None, methods=None):
    """A ``pytest.mark.parametrize("task, method, check", ...)`` over every compatible pair."""
    import pytest

    params = [pytest.param(t, m, c, id=f"{_label(t)}-{_label(m)}-{c.__name__}")
              for t, m in pairs(tasks, methods) for c in checks]
    return pytest.mark.parametrize("task, method, check", params)
