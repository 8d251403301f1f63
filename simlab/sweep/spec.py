"""A sweep spec: tasks x methods x a grid of their constructor parameters x seeds x blocks.

In Python (:meth:`Sweep.build`, or :func:`simlab.sweep` with the same keywords)::

    Sweep.build(task=SharedHessianQuadratics(d=16, n_aux=4),      # or "A", or a dict
                method=[WGA(step_size=0.1), "SGDAlone"],          # one or several
                grid={"zeta": [0.0, 0.1, 1.0], "step_size": [0.05, 0.1]},
                steps=1000, replicas=256, blocks=4, seeds=[0],
                metrics=["grad_norm_sq"], checkpoints=20)

and the same as a TOML file for ``simlab sweep run spec.toml``::

    name = "zeta-vs-eta"
    steps = 1000
    replicas = 256
    blocks = 4                 # or block_size = 64; replicas must divide evenly
    seed = 0                   # or seeds = [0, 1]
    metrics = ["grad_norm_sq"] # default: every metric the configurations share
    checkpoints = 20           # an int (log-spaced), "all", or a list of steps
    keep_replicas = false      # true: records keep per-replica values (quantiles)
    store = "./.simlab/store"  # optional; any fsspec URL

    [task]                     # or [[task]] tables for several
    name = "SharedHessianQuadratics"   # a class of simlab.tasks, a family letter A-E,
    d = 16                             # or "package.module:Class"
    n_aux = 4

    [[method]]
    name = "WGA"               # a class of simlab.collab, or "package.module:Class"
    step_size = 0.1
    [[method]]
    name = "SGDAlone"

    [grid]                     # constructor parameters; "task.x" / "method.x" if ambiguous
    zeta = [0.0, 0.1, 1.0]
    step_size = [0.05, 0.1]

A grid key applies to every task or method whose constructor takes it and to no other (a
``momentum`` grid multiplies BC-EMA's configurations, not WGA's). TOML arrays become tuples, so
``eig = [0.1, 1.0]`` is the tuple ``(0.1, 1.0)``.

Everything is checked when the spec is built, before any work: unknown parameter names (with
the names allowed), empty or repeated grid values, replica counts that blocks do not divide,
bad metrics, steps, seeds or checkpoints, and every configuration is instantiated and
validated.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simlab.engine.model import Method, Task
from simlab.engine.simulate import BACKENDS, derived_names, metric_names, requirements
from simlab.sweep.errors import SweepError
from simlab.sweep.worker import RecordId

TOP_KEYS = ("name", "task", "method", "grid", "steps", "replicas", "blocks", "block_size",
            "seed", "seeds", "metrics", "checkpoints", "backend", "keep_replicas", "store")
FAMILIES = {"A": "SharedHessianQuadratics", "B": "HessianPerturbedQuadratics",
            "C": "BoundedNonconvex", "D": "LinearRegressionTasks",
            "E": "CorrelatedNoiseQuadratics"}
_KINDS = {"task": (Task, "simlab.tasks"), "method": (Method, "simlab.collab")}


def _freeze(v: Any) -> Any:
    """Lists (TOML arrays) to tuples, numpy scalars to Python scalars, recursively."""
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.ndarray):
        return _freeze(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    return v


def _init_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def _resolve_class(kind: str, name: str) -> type:
    base, package = _KINDS[kind]
    if ":" in name:
        mod, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise SweepError(f"{kind} {name!r}: cannot import it ({e})") from None
    else:
        if kind == "task":
            name = FAMILIES.get(name, name)
        pkg = importlib.import_module(package)
        allowed = list(getattr(pkg, "__all__", ()))
        if name not in allowed:
            extra = ", a family letter A-E" if kind == "task" else ""
            raise SweepError(f"unknown {kind} {name!r}; choose from {allowed}{extra}, or give "
                             f"'package.module:Class'")
        cls = getattr(pkg, name)
    if not (isinstance(cls, type) and issubclass(cls, base) and dataclasses.is_dataclass(cls)):
        raise SweepError(f"{kind} {name!r} is not a simlab {base.__name__} dataclass")
    return cls


@dataclass(frozen=True)
class Component:
    """One task or method of a sweep: its class, fixed constructor parameters and label."""

    kind: str
    cls: type
    params: tuple
    label: str

    @property
    def fields(self) -> tuple[str, ...]:
        """The constructor parameters the class takes."""
        return _init_fields(self.cls)

    @classmethod
    def parse(cls, kind: str, spec: Any) -> Component:
        """From a name, a class, an instance, or a dict ``{"name": ..., "label": ..., **params}``.

        Raises
        ------
        SweepError
            Unknown class or parameter names.
        """
        base = _KINDS[kind][0]
        label = None
        if isinstance(spec, base):
            klass = type(spec)
            params = {f: getattr(spec, f) for f in _init_fields(klass)}
        elif isinstance(spec, type):
            klass, params = _resolve_class(kind, f"{spec.__module__}:{spec.__qualname__}"), {}
        elif isinstance(spec, str):
            klass, params = _resolve_class(kind, spec), {}
        elif isinstance(spec, dict):
            params = dict(spec)
            if "name" not in params:
                raise SweepError(f"a {kind} table needs a 'name' (its class), got keys "
                                 f"{sorted(params)}")
            klass = _resolve_class(kind, str(params.pop("name")))
            label = params.pop("label", None)
        else:
            raise SweepError(f"{kind} must be a name, a class, an instance or a table, got "
                             f"{type(spec).__name__}")
        allowed = _init_fields(klass)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise SweepError(f"unknown {kind} parameter(s) {unknown} for {klass.__name__}; "
                             f"it takes {list(allowed)}")
        return cls(kind, klass, tuple((k, _freeze(v)) for k, v in params.items()),
                   str(label) if label is not None else klass.__name__)


@dataclass(frozen=True)
class Config:
    """One configuration of a sweep.

    Attributes
    ----------
    index : int
        Position in the sweep.
    task : Task
    method : Method
    columns : dict
        ``task`` and ``method`` labels and the grid values (``None`` where a grid key does not
        apply); the DataFrame's configuration columns.
    key : str
        :func:`simlab.sweep.keys.record_key` of the configuration.
    """

    index: int
    task: Task
    method: Method
    columns: dict
    key: str


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _int(name: str, v, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise SweepError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep spec (build it with :meth:`build`, :meth:`from_dict` or
    :meth:`from_toml`).

    Attributes
    ----------
    tasks, methods : tuple of Component
    grid : tuple of (str, tuple)
        Grid keys (as written) and their values.
    steps, replicas, blocks : int
        Horizon, replicas per configuration and seed, and blocks they are split into.
    seeds : tuple of int
    metrics : tuple of str
        The metrics the sweep reads (every configuration has them); the derived ones among
        them are computed (:meth:`derived_for`).
    checkpoints : None, int, "all" or tuple of int
        As :func:`simlab.simulate` takes them.
    backend : str
    keep_replicas : bool
        Records keep per-replica values (else only counts, means and sums of squares).
    name : str
    store : str or None
        Store URL from the spec file (a ``store=`` argument wins).
    """

    tasks: tuple
    methods: tuple
    grid: tuple
    steps: int
    replicas: int
    blocks: int = 1
    seeds: tuple = (0,)
    metrics: tuple = ()
    checkpoints: Any = None
    backend: str = "numba"
    keep_replicas: bool = False
    name: str = "sweep"
    store: str | None = None

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def build(cls, task, method, steps: int, replicas: int, grid: dict | None = None,
              blocks: int | None = None, block_size: int | None = None, seed: int | None = None,
              seeds=None, metrics=None, checkpoints=None, backend: str = "numba",
              keep_replicas: bool = False, name: str = "sweep", store: str | None = None
              ) -> Sweep:
        """Check every argument and every configuration; see the module docstring.

        Raises
        ------
        SweepError
            Naming the parameter and what is allowed.
        """
        tasks = tuple(Component.parse("task", t) for t in _as_list(task))
        methods = tuple(Component.parse("method", m) for m in _as_list(method))
        if not tasks or not methods:
            raise SweepError("a sweep needs at least one task and one method")
        for comps in (tasks, methods):
            labels = [c.label for c in comps]
            if len(set(labels)) != len(labels):
                raise SweepError(f"two {comps[0].kind}s share a label in {labels}; give each "
                                 f"a distinct 'label'")
        steps = _int("steps", steps, 1)
        replicas = _int("replicas", replicas, 1)
        blocks = _blocks(replicas, blocks, block_size)
        if seed is not None and seeds is not None:
            raise SweepError("give 'seed' or 'seeds', not both")
        if seeds is None:
            seeds = 0 if seed is None else seed
        seeds = tuple(_int("seed", s, 0) for s in _as_list(seeds))
        if not seeds or len(set(seeds)) != len(seeds):
            raise SweepError(f"seeds must be distinct integers >= 0, got {list(seeds)}")
        if backend not in BACKENDS:
            raise SweepError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if isinstance(checkpoints, list):
            checkpoints = tuple(checkpoints)
        try:
            _resolve_checkpoints(checkpoints, steps)
        except (ValueError, TypeError) as e:
            raise SweepError(f"checkpoints: {e}") from None
        grid = _grid(grid or {}, tasks, methods)
        pairs = _instantiate(tasks, methods, grid)
        metrics = _metrics(metrics, pairs)
        spec = cls(tasks, methods, grid, steps, replicas, blocks, seeds, metrics, checkpoints,
                   backend, bool(keep_replicas), str(name), None if store is None else str(store))
        spec.configurations  # key every configuration now  # noqa: B018
        return spec

    @classmethod
    def from_dict(cls, d: dict) -> Sweep:
        """From a dict with the TOML file's keys (see the module docstring)."""
        unknown = sorted(set(d) - set(TOP_KEYS))
        if unknown:
            raise SweepError(f"unknown sweep key(s) {unknown}; allowed: {list(TOP_KEYS)}")
        for k in ("task", "method", "steps", "replicas"):
            if k not in d:
                raise SweepError(f"the sweep needs '{k}'")
        return cls.build(**d)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> Sweep:
        """Read a TOML spec file."""
        import tomllib

        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise SweepError(f"no such spec file: {p}") from None
        except tomllib.TOMLDecodeError as e:
            raise SweepError(f"{p}: not valid TOML ({e})") from None
        data.setdefault("name", p.stem)
        return cls.from_dict(data)

    # -- derived ----------------------------------------------------------------------------
    @property
    def block_size(self) -> int:
        """Replicas per block."""
        return self.replicas // self.blocks

    def derived_for(self, task: Task, method: Method) -> tuple[str, ...]:
        """The derived metrics of a configuration that the sweep computes (those it reads)."""
        names = derived_names(task, method)
        return tuple(m for m in self.metrics if m in names)

    @functools.cached_property
    def checkpoint_array(self) -> np.ndarray:
        """The resolved checkpoints."""
        return _resolve_checkpoints(self.checkpoints, self.steps)

    @functools.cached_property
    def configurations(self) -> tuple[Config, ...]:
        """Every configuration, instantiated, validated and keyed."""
        from simlab.sweep.keys import record_key

        return tuple(
            Config(i, task, method, cols,
                   record_key(task, method, self.steps, self.checkpoint_array,
                              self.derived_for(task, method), self.backend, self.keep_replicas))
            for i, (task, method, cols) in enumerate(_instantiate(self.tasks, self.methods,
                                                                  self.grid)))

    def block_ranges(self) -> list[tuple[int, int]]:
        """``[start, stop)`` of each block of replica ids."""
        b = self.block_size
        return [(i * b, (i + 1) * b) for i in range(self.blocks)]

    def records(self) -> list[tuple[Config, RecordId]]:
        """Every (configuration, record id) of the sweep, in a fixed order."""
        return [(c, RecordId(c.key, s, a, b)) for c in self.configurations for s in self.seeds
                for a, b in self.block_ranges()]

    def kernels(self, configs=None) -> list[tuple]:
        """One ``(task, method, backend)`` example per kernel the configurations need."""
        seen: dict = {}
        for c in self.configurations if configs is None else configs:
            seen.setdefault((c.task.ops_class, c.method.ops_class),
                            (c.task, c.method, self.backend))
        return list(seen.values())

    def describe(self) -> str:
        """One line: the sweep's size."""
        n = len(self.configurations)
        total = n * len(self.seeds) * self.blocks
        return (f"{self.name}: {n} configuration(s) x {len(self.seeds)} seed(s) x "
                f"{self.blocks} block(s) of {self.block_size} replicas = {total} records; "
                f"{self.steps} steps, {len(self.checkpoint_array)} checkpoints")


def _resolve_checkpoints(checkpoints, steps: int) -> np.ndarray:
    from simlab.engine.simulate import _checkpoints

    return _checkpoints(checkpoints, steps)


def _blocks(replicas: int, blocks, block_size) -> int:
    if blocks is not None and block_size is not None:
        if _int("blocks", blocks, 1) * _int("block_size", block_size, 1) != replicas:
            raise SweepError(f"blocks x block_size must equal replicas = {replicas}, got "
                             f"{blocks} x {block_size}")
    if block_size is not None:
        block_size = _int("block_size", block_size, 1)
        if replicas % block_size:
            raise SweepError(f"replicas = {replicas} is not divisible into blocks of "
                             f"block_size = {block_size}")
        return replicas // block_size
    blocks = _int("blocks", 1 if blocks is None else blocks, 1)
    if replicas % blocks:
        ok = [b for b in range(1, min(replicas, 64) + 1) if replicas % b == 0]
        raise SweepError(f"replicas = {replicas} is not divisible into blocks = {blocks}; "
                         f"blocks must divide it (e.g. {ok[-8:]})")
    return blocks


def _instantiate(tasks, methods, grid) -> list[tuple]:
    """``(task, method, columns)`` of every configuration, instantiated and validated."""
    out = []
    for tc in tasks:
        for mc in methods:
            dims = [(k, vals, target) for k, vals in grid
                    for target in [_target(k, tc, mc)] if target is not None]
            for combo in itertools.product(*[vals for _, vals, _ in dims]):
                tp, mp = dict(tc.params), dict(mc.params)
                cols = {"task": tc.label, "method": mc.label}
                cols.update({k: None for k, _ in grid})
                for (k, _, target), v in zip(dims, combo):
                    (tp if target == "task" else mp)[k.rpartition(".")[2]] = v
                    cols[k] = v
                try:
                    task = tc.cls(**tp)
                    method = mc.cls(**mp)
                    requirements(task, method)
                    method.validate(task)
                    task.packed()
                except (ValueError, TypeError) as e:
                    raise SweepError(f"configuration {cols}: {e}") from None
                out.append((task, method, cols))
    return out


def _metrics(metrics, pairs) -> tuple:
    """The sweep's metrics: given ones (each a metric of every configuration), or every metric
    the configurations share, in the first configuration's order."""
    names = [metric_names(t, m) for t, m, _ in pairs]
    common = [n for n in names[0] if all(n in other for other in names[1:])]
    if metrics is None:
        return tuple(common)
    metrics = _as_list(metrics)
    unknown = [m for m in metrics if m not in common]
    if unknown or not metrics:
        raise SweepError(f"metrics must be a non-empty subset of the configurations' metrics "
                         f"{common}, got {metrics}")
    return tuple(m for m in common if m in metrics)


def _target(key: str, tc: Component, mc: Component) -> str | None:
    """Where a grid key goes for one (task, method) pair: "task", "method" or None."""
    scope, _, field = key.rpartition(".")
    in_task, in_method = field in tc.fields, field in mc.fields
    if scope == "task":
        return "task" if in_task else None
    if scope == "method":
        return "method" if in_method else None
    if in_task and in_method:
        raise SweepError(f"grid key {key!r} is a parameter of both {tc.cls.__name__} and "
                         f"{mc.cls.__name__}; write 'task.{key}' or 'method.{key}'")
    return "task" if in_task else "method" if in_method else None


def _grid(grid: dict, tasks, methods) -> tuple:
    if not isinstance(grid, dict):
        raise SweepError(f"grid must be a table of parameter -> list of values, got "
                         f"{type(grid).__name__}")
    out = []
    for key, values in grid.items():
        scope, _, field = key.rpartition(".")
        if scope not in ("", "task", "method"):
            raise SweepError(f"grid key {key!r}: the prefix must be 'task.' or 'method.'")
        comps = [c for c in (tasks if scope != "method" else ()) + (methods if scope != "task"
                                                                     else ())]
        if not any(field in c.fields for c in comps):
            allowed = {c.label: list(c.fields) for c in comps}
            raise SweepError(f"unknown grid parameter {key!r}: no {scope or 'task or method'} "
                             f"of the sweep takes it; they take {allowed}")
        if not isinstance(values, (list, tuple)):
            raise SweepError(f"grid {key!r} must be a list of values, got {values!r}")
        vals = tuple(_freeze(v) for v in values)
        if not vals:
            raise SweepError(f"grid {key!r} is empty; give at least one value")
        if len(set(map(repr, vals))) != len(vals) or len(set(_hashable(v) for v in vals)) \
                != len(vals):
            raise SweepError(f"grid {key!r} repeats a value: {list(vals)}")
        out.append((key, vals))
    return tuple(out)


def _hashable(v):
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)
