"""What a task family and a method declare to the kernel factory: ops, slots, streams, metrics.

A component (task family or method) attaches one declaration to its class: :class:`TaskOps` or
:class:`MethodOps`. The declaration names

* its **ops**: plain top-level functions in the subset of Python that numba compiles for the
  CPU and CUDA, composed into one module per (task, method, backend);
* the **hooks** the replica loop calls: the task's ``init`` (starting state) and ``record``
  (writes the task's metrics), the method's ``init`` and ``step``, an optional method
  ``record``;
* its **slots**: named blocks of the replica's work row (state and scratch), with sizes given
  as expressions over the task's :meth:`~simlab.engine.model.Task.dims`, e.g. ``Slot("m", "d")``.
  The factory computes the offsets and generates, in the replica loop, one view per slot; no
  op ever writes an offset;
* its **stream groups**: named sets of random streams, counts given the same way
  (``StreamGroup("noise", "1")``); stream ``i`` of a group is keyed by ``(seed, replica,
  offset + i)``, the groups laid out task first, then method, in declaration order;
* its **metrics**: names of the values its ``record`` op writes into ``row`` (in that order),
  and **derived** metrics (:class:`RunningMean`) that are computed only when asked for; a
  derived metric never asked for reads NaN, never 0;
* what must stay **finite** (slots, and a scalar op): a replica that overflows stops there and
  :func:`simlab.simulate` names the step and the replica;
* for a method, the task ops it **requires** (by name): :func:`simlab.simulate` says what is
  missing before it compiles.

Hooks are bound **by parameter name**: a hook's parameters are taken from ``tdata``,
``tmeta`` (the task's packed arrays), ``hyper`` (the method's), ``t`` (the step), ``row`` (the
metric row a ``record`` op writes), ``recorded`` (for the step: whether the state it produces,
at ``t + 1``, is recorded at a checkpoint, so a step can skip diagnostics nobody reads; False
elsewhere), and the names of the slots and stream groups. So a step
``def ou_step(tdata, tmeta, hyper, t, x, noise)`` receives the slot ``x`` and the stream group
``noise``; an unknown parameter name is an error naming what is available.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from dataclasses import dataclass

#: Names every hook may take besides slots and stream groups.
STANDARD_ARGS = ("tdata", "tmeta", "hyper", "t", "row", "recorded")


@dataclass(frozen=True)
class Slot:
    """A named block of a replica's work row.

    Parameters
    ----------
    name : str
        A Python identifier; hooks receive the block under this name.
    size : str or int
        Its length: an integer or an expression over the task's dims (``"d"``, ``"2 * d"``,
        ``"N + 2"``), with ``+ - * //`` and parentheses.
    """

    name: str
    size: str | int


@dataclass(frozen=True)
class StreamGroup:
    """A named group of random streams (one ``uint64`` pair each) per replica.

    Parameters
    ----------
    name : str
        Hooks receive the group as a ``(count, 2)`` array under this name.
    count : str or int
        Number of streams: an integer or an expression over the task's dims.
    """

    name: str
    count: str | int


@dataclass(frozen=True)
class RunningMean:
    """A derived metric: the mean of a scalar op over the iterates ``0..t-1``.

    At a checkpoint ``t > 0`` it reads ``(1/t) sum_{s<t} op(state_s)``; at ``t = 0`` the op's
    value at the starting state. Computed only when asked for (one op call per step); never
    asked for, it reads NaN.

    Parameters
    ----------
    name : str
        The metric's name.
    op : callable
        A scalar op of the task or method, its parameters bound by name.
    """

    name: str
    op: Callable


@dataclass(frozen=True)
class TaskOps:
    """The declaration of a task family's kernel part (see the module docstring).

    Parameters
    ----------
    functions : tuple of callables
        Every plain function of the family (hooks, ops methods call, helpers).
    init : callable
        Writes the starting state into the slots it takes.
    record : callable, optional
        Writes :attr:`metrics` into ``row`` (in order).
    metrics : tuple of str
    derived : tuple of RunningMean
    slots : tuple of Slot
    streams : tuple of StreamGroup
    finite : tuple of str
        Slots that must stay finite.
    finite_op : callable, optional
        A scalar op that must stay finite (e.g. a squared norm that overflows first).
    """

    functions: tuple
    init: Callable
    record: Callable | None = None
    metrics: tuple = ()
    derived: tuple = ()
    slots: tuple = ()
    streams: tuple = ()
    finite: tuple = ()
    finite_op: Callable | None = None

    @property
    def provides(self) -> tuple[str, ...]:
        """Names of the family's functions (what a method may require)."""
        return tuple(f.__name__ for f in self.functions)


@dataclass(frozen=True)
class MethodOps:
    """The declaration of a method's kernel part (see the module docstring).

    Parameters
    ----------
    init, step : callable
        ``init`` prepares the method's state once per replica; ``step`` advances it by one step.
    helpers : tuple of callables
        Further plain functions that ``init`` / ``step`` call.
    slots : tuple of Slot
    streams : tuple of StreamGroup
    requires : tuple of str
        Names of the task ops that ``init`` / ``step`` call.
    record : callable, optional
        Writes :attr:`metrics` into ``row``.
    metrics : tuple of str
    derived : tuple of RunningMean
    """

    init: Callable
    step: Callable
    helpers: tuple = ()
    slots: tuple = ()
    streams: tuple = ()
    requires: tuple = ()
    record: Callable | None = None
    metrics: tuple = ()
    derived: tuple = ()

    @property
    def functions(self) -> tuple:
        """``init``, ``step``, the record op and the helpers, each once."""
        out = []
        for f in (self.init, self.step, self.record, *self.helpers):
            if f is not None and f not in out:
                out.append(f)
        return tuple(out)


_ALLOWED = (ast.Expression, ast.BinOp, ast.Name, ast.Constant, ast.Load, ast.Add, ast.Sub,
            ast.Mult, ast.FloorDiv, ast.UnaryOp, ast.USub)


def size_of(expr: str | int, dims: dict, what: str) -> int:
    """Evaluate a slot size or stream count against the task's dims.

    Raises
    ------
    ValueError
        Naming ``what`` when the expression is not integer arithmetic over the dims, names an
        unknown dim, or is negative.
    """
    if isinstance(expr, bool):
        raise ValueError(f"{what}: size must be an integer or an expression, got {expr!r}")
    if isinstance(expr, int):
        value = expr
    else:
        try:
            tree = ast.parse(str(expr), mode="eval")
        except SyntaxError as e:
            raise ValueError(f"{what}: cannot parse size {expr!r} ({e.msg})") from None
        bad = [type(n).__name__ for n in ast.walk(tree) if not isinstance(n, _ALLOWED)]
        if bad:
            raise ValueError(f"{what}: size {expr!r} may use only integers, dims and + - * //; "
                             f"it uses {sorted(set(bad))}")
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        unknown = sorted(names - set(dims))
        if unknown:
            raise ValueError(f"{what}: size {expr!r} names {unknown}, which are not dims of the "
                             f"task (it has {sorted(dims)})")
        value = eval(compile(tree, "<size>", "eval"), {"__builtins__": {}},  # noqa: S307
                     {k: int(v) for k, v in dims.items()})
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{what}: size {expr!r} evaluates to {value!r}; it must be an integer "
                         f">= 0")
    return value


def parameters(fn: Callable) -> tuple[str, ...]:
    """The parameter names of a hook (bound by name by the kernel factory)."""
    return tuple(inspect.signature(fn).parameters)
