"""The task interface of the collab methods, and what every collab family declares.

A collab task family (families A to E of :mod:`simlab.tasks`) has ``N + 1`` tasks, task 0 the
one to optimise, and provides, besides the engine hooks (``init_x``, ``metrics``,
``grad_norm_sq0``), the three ops the methods call (:data:`TASK_OPS`):

``prepare(tdata, tmeta, alpha, prep)``
    cache what depends only on the weights ``alpha`` into the ``prep`` slot (once per replica).
``sample_grad(tdata, tmeta, i, x, streams, out)``
    one stochastic gradient ``g_i(x)`` of task ``i``, drawn from row ``i`` of a stream bank.
``sample_split(tdata, tmeta, alpha, x, streams, prep, g0, aux)``
    ``g0 = g_0(x)`` and ``aux = sum_{i>=1} alpha_i g_i(x)`` drawn from the same sample. A task
    may draw the auxiliary noise as one Gaussian of the summed variance where that is exact in
    distribution (row ``N + 1`` of the bank; it says so in its docstring;
    ``aggregate_noise=False`` turns it off).

Random streams: every collab method declares the same three **banks** (:data:`BANKS`) of
``N + 2`` streams: row ``i`` for task ``i``, row ``N + 1`` for aggregated auxiliary noise.
``sample`` is the main sample of a step; ``extra`` serves independent extra samples (uncoupled
BC, minibatches) or a replay of ``sample`` (same-sample evaluation at two points, BC-MVR, with
:func:`simlab.engine.rng.copy_streams`); ``pseudo`` is the independent pseudo-gradient sample
of uncoupled BC-MVR. Stream ``b (N + 2) + i`` of a replica is row ``i`` of bank ``b``.

Slots: the family's ``x`` (dim ``d``) and ``prep`` (dim ``P``, the family's own cache size);
methods add theirs. The dims are ``d``, ``N`` and ``P`` (:meth:`CollabFamily.dims`).

The functions below are interface stubs: a method's ops call these names, and the kernel
factory binds them, per task family, to the family's functions in the composed module.
"""

from __future__ import annotations

from simlab.engine.declare import RunningMean, Slot, StreamGroup, TaskOps
from simlab.engine.model import Task

#: Metrics every collab family records: ``||grad f_0(x)||^2``, ``f_0(x) - f_0*``,
#: ``||x - x_0*||^2``; and the derived running mean of the first.
METRICS = ("grad_norm_sq", "subopt", "dist_sq")
AVERAGE = "avg_grad_norm_sq"
ALL_METRICS = METRICS + (AVERAGE,)

#: The ops a collab family provides to the methods.
TASK_OPS = ("prepare", "sample_grad", "sample_split")

#: The stream banks every collab method declares (see the module docstring).
BANKS = (StreamGroup("sample", "N + 2"), StreamGroup("extra", "N + 2"),
         StreamGroup("pseudo", "N + 2"))


class CollabFamily(Task):
    """Base of the collab task families: ``N + 1`` tasks, dims ``d``, ``N``, ``P``."""

    @property
    def n_tasks(self) -> int:
        """Number of tasks, ``N + 1``."""
        return self.n_aux + 1

    @property
    def prep_size(self) -> int:
        """Size of the ``prep`` slot (the per-weighting cache)."""
        return 0

    def dims(self) -> dict[str, int]:
        """``d`` (dimension), ``N`` (auxiliary tasks) and ``P`` (the ``prep`` slot)."""
        return {"d": int(self.d), "N": int(self.n_aux), "P": int(self.prep_size)}

    def noise_trace(self, x, i: int = 0) -> float:
        """``E||g_i(x) - grad f_i(x)||^2``: ``sigma_i^2`` for additive noise."""
        return float(self.sigmas[i] ** 2)

    def noise_law(self, n: int, seed: int) -> list:
        """Conformance hook: the noise law against the constants
        (:func:`simlab.collab.conformance.noise_law`)."""
        from simlab.collab.conformance import noise_law

        return noise_law(self, n, seed)

    def exact_moments(self, method, steps: int, checkpoints) -> dict | None:
        """Conformance hook: exact expected metrics where the recursion is exact
        (:func:`simlab.collab.conformance.exact_moments`), else ``None``."""
        from simlab.collab.conformance import exact_moments

        return exact_moments(self, method, steps, checkpoints)


def family_ops(functions, init_x, metrics, grad_norm_sq0) -> TaskOps:
    """The declaration every collab family makes, with its own functions.

    Slots ``x`` (``d``) and ``prep`` (``P``); metrics :data:`METRICS` written by ``metrics``;
    the derived :data:`AVERAGE`, the running mean of ``grad_norm_sq0`` over the iterates; ``x``
    and ``||grad f_0(x)||^2`` must stay finite.
    """
    return TaskOps(functions=tuple(functions), init=init_x, record=metrics, metrics=METRICS,
                   derived=(RunningMean(AVERAGE, grad_norm_sq0),),
                   slots=(Slot("x", "d"), Slot("prep", "P")), finite=("x",),
                   finite_op=grad_norm_sq0)


# --- the task-op interface a method may call (stubs; bound per task by the kernel factory) ----

def prepare(tdata, tmeta, alpha, prep):  # pragma: no cover - interface stub
    """Cache what depends only on the weights ``alpha`` into ``prep`` (once per replica)."""
    raise NotImplementedError("task ops run inside a composed kernel module")


def sample_grad(tdata, tmeta, i, x, streams, out):  # pragma: no cover - interface stub
    """Write one stochastic gradient ``g_i(x)`` of task ``i`` into ``out``."""
    raise NotImplementedError("task ops run inside a composed kernel module")


def sample_split(tdata, tmeta, alpha, x, streams, prep, g0, aux):  # pragma: no cover - stub
    """Write ``g_0(x)`` into ``g0`` and ``sum_{i>=1} alpha_i g_i(x)`` into ``aux``."""
    raise NotImplementedError("task ops run inside a composed kernel module")
