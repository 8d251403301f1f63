"""Base classes of task families and methods, as the engine sees them.

A **task family** is a frozen dataclass of constructor parameters. It packs its instance into
two flat arrays, ``tdata`` (float64) and ``tmeta`` (int64), whose layout is its own business,
names its sizes in :meth:`Task.dims` (``{"d": 10, ...}``, the names that slot sizes and stream
counts are written in), and declares its kernel part in a :class:`~simlab.engine.declare.TaskOps`
attached to the class as ``ops`` (its functions, hooks, slots, stream groups, metrics).

A **method** is a frozen dataclass of hyperparameters that packs them into ``hyper``
(float64, :meth:`Method.hyper`) and declares its kernel part in a
:class:`~simlab.engine.declare.MethodOps` (``init`` and ``step``, its slots and stream groups,
the task ops it requires). A method that is not a compiled kernel (a numpy, scikit-learn or
torch loop) subclasses :class:`LoopMethod` instead: the runner protocol
(:mod:`simlab.engine.runner`).

Neither knows about backends, sweeps or figures; :mod:`simlab.engine.kernel` composes and
compiles them, :func:`simlab.simulate` runs them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simlab.engine.declare import MethodOps, TaskOps


class Task:
    """Base class of a task family (subclasses are frozen dataclasses).

    Subclasses implement :meth:`_pack` (kernel families), :meth:`dims` and :meth:`constants`,
    and attach a :class:`~simlab.engine.declare.TaskOps` as the class attribute ``ops``.
    """

    family: ClassVar[str] = "?"
    #: The kernel declaration (``None``: the task serves loop methods only).
    ops: ClassVar[TaskOps | None] = None

    def dims(self) -> dict[str, int]:
        """The sizes that slot sizes and stream counts are written in (``{"d": 10, ...}``)."""
        return {}

    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """``(tdata, tmeta)``: the instance as flat arrays (computed once)."""
        cached = self.__dict__.get("_packed")
        if cached is None:
            cached = self._pack()
            object.__setattr__(self, "_packed", cached)
        return cached

    def _pack(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1), np.zeros(1, dtype=np.int64)

    def constants(self) -> dict:
        """Exact constants of the instance (see subclasses)."""
        return {}

    @property
    def ops_class(self) -> type:
        """The class whose kernel computes this task (the kernel cache key)."""
        return type(self)

    def key_parts(self) -> dict:
        """What decides the numbers this instance produces, for result-store keys.

        Kernel families: the packed arrays and the dims; others: the constructor parameters.
        """
        if type(self).ops is not None:
            tdata, tmeta = self.packed()
            return {"tdata": tdata, "tmeta": tmeta, "dims": json.dumps(self.dims(),
                                                                     sort_keys=True)}
        return {"params": _params_json(self)}


@dataclass(frozen=True)
class Method:
    """Base class of a compiled method: hyperparameters and a ``MethodOps`` declaration."""

    label: ClassVar[str] = "?"
    #: The method's provenance tag in its paper's spec (``"V"``, ``"UNVERIFIED"``, ...).
    provenance: ClassVar[str] = ""
    #: The kernel declaration.
    ops: ClassVar[MethodOps | None] = None

    def validate(self, task: Task) -> None:
        """Raise ``ValueError`` naming the parameter when a hyperparameter is out of range."""

    def hyper(self, task: Task) -> np.ndarray:
        """Hyperparameters packed as float64 for the kernel (default: none)."""
        return np.zeros(0)

    @property
    def ops_class(self) -> type:
        """The class whose kernel this method runs (the kernel cache key)."""
        return type(self)

    @property
    def name(self) -> str:
        """Short display name."""
        return self.label

    def key_parts(self, task: Task) -> dict:
        """What decides the numbers this method produces on ``task``, for store keys."""
        return {"hyper": np.asarray(self.hyper(task), dtype=np.float64)}


@dataclass(frozen=True)
class LoopMethod(Method):
    """A method that runs as a plain Python loop per replica (the runner protocol).

    Subclasses set :attr:`metrics` and :attr:`axis` and implement :meth:`run_replica`; the
    engine (:mod:`simlab.engine.runner`) gives each replica its own streams keyed by
    ``(seed, replica, stream)`` and assembles the same :class:`~simlab.engine.trace.Trace` that
    compiled kernels return, so statistics, the sweep store and the claims serve it unchanged.
    """

    #: Names of the values :meth:`run_replica` returns per checkpoint.
    metrics: ClassVar[tuple] = ()
    #: Name of the x-axis (``"step"``, ``"labels"``, ...).
    axis: ClassVar[str] = "step"

    def run_replica(self, task: Task, streams, checkpoints: np.ndarray
                    ) -> np.ndarray:  # pragma: no cover - abstract
        """Run one replica; return its metrics at the checkpoints, shape ``(K, M)``.

        Parameters
        ----------
        task : Task
        streams : simlab.engine.runner.ReplicaStreams
            This replica's random streams.
        checkpoints : ndarray of int64
            Points of :attr:`axis` at which to record (increasing, from 0 to the horizon).
        """
        raise NotImplementedError

    def key_parts(self, task: Task) -> dict:
        """The constructor parameters (a loop has no packed hyperparameters)."""
        return {"params": _params_json(self)}


def _params_json(obj) -> str:
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init} \
        if dataclasses.is_dataclass(obj) else {}
    return json.dumps(fields, sort_keys=True, default=repr)
