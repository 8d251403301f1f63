"""Personalized collaborative learning on real data: SGD alone, WGA and BC-EMA in PyTorch.

The methods are the simulator's own hyperparameter objects (:class:`simlab.collab.SGDAlone`,
:class:`~simlab.collab.WGA`, :class:`~simlab.collab.BCEMA`, and AuxMOM, which is BC-EMA with
``alpha_0 = 0``), so one object describes a run of the simulator and of the network. Each runs
through its ``bc_form`` (:class:`simlab.collab.methods.BCForm`), the one recursion all four
share, on the flattened parameter vector ``x`` of a network, with one stochastic gradient per
task per step (a minibatch of ``batch_size`` examples drawn with replacement from that task's
training set): ``G = sum_i alpha_i g_i`` over the tasks with ``alpha_i != 0``, the correction
``b = g_0 - G`` (coupled: from the samples of ``G``; uncoupled: from fresh samples),
``m <- (1 - a) m + a b`` (``a_t = 1/(t+1)`` for ``momentum="running"``; ``m`` starts at the
mean of ``init_batch`` fresh ``b``), and ``x <- x - eta_t (G + m)`` with
``eta_t = eta / (1 + decay t)``:

* SGD alone: ``alpha = e_0``, no correction: ``x <- x - eta_t g_0``;
* WGA: no correction (``a = 0``): ``x <- x - eta G``;
* BC-EMA and AuxMOM: the whole recursion.

Methods of another form (BC-MVR, BC-SNAP, AuxMVR) raise ``NotImplementedError``.

Replicas (seeds) run side by side: the per-task gradients of all replicas come from one forward
and one backward pass per step (the parameters replicated per replica and task; an MLP as
batched matrix products, other modules through ``torch.func.vmap``). Replica ``r`` with seed
``s`` draws its initial weights from ``torch.manual_seed(s)`` and task ``i``'s minibatches from
a ``torch.Generator`` keyed by ``(s, i, bank)``, so task 0 sees the same minibatches under
every method and every N (common random numbers), and WGA with ``alpha = e_0`` is SGD alone
step for step.

At chosen checkpoints :func:`run_collab` also *measures* the constants of the collab spec on
the run itself: ``||grad f_0||^2``, the gradient noise ``sigma_i^2`` of a minibatch (exact:
``(1/B)(mean_j ||grad l_j||^2 - ||grad f_i||^2)`` from per-example gradients), the aggregate
bias ``zeta_bar^2 = ||grad f_0 - sum_i alpha_i grad f_i||^2`` and the individual ``zeta_i^2``,
and, from gradient differences along the trajectory (one step apart and checkpoint to
checkpoint), the smoothness ``||Delta grad f_0|| / ||Delta x||``, the curvature
``<Delta grad f_0, Delta x> / ||Delta x||^2`` and the Hessian dissimilarity
``max_i ||Delta (grad f_i - grad f_0)|| / ||Delta x||``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from simlab.collab.methods import BCEMA, WGA, BCForm, SGDAlone
from simlab.engine.model import Method
from simlab.neural.data import ArrayDataset, load_digits
from simlab.neural.models import MLP, build_model
from simlab.neural.splits import balanced_split, label_shift_tasks
from simlab.neural.trainer import resolve_device, set_threads

__all__ = ["CollabProblem", "label_shift_problem", "FlatModel", "TaskSampler", "stream_seed",
           "run_collab", "CollabResult", "method_weights", "SUPPORTED", "CollabStudy",
           "METHOD_LABELS", "surrogate_task", "make_method"]

SUPPORTED = ("SGDAlone", "WGA", "BCEMA", "AuxMOM")
CHUNK = 2048  # examples per pass of the full-batch evaluations


# --- problem ------------------------------------------------------------------------------

class CollabProblem:
    """Task 0, ``N`` auxiliary tasks and task 0's test set, as tensors.

    Parameters
    ----------
    tasks : sequence of ArrayDataset
        ``tasks[0]`` is the task of interest, ``tasks[1:]`` the auxiliary tasks (same input
        shape and classes; sizes may differ).
    test : ArrayDataset
        Task 0's held-out test set.
    batch_size : int
        Examples per stochastic gradient (per task).
    device : str
    dtype : torch.dtype
    info : dict, optional
        How the tasks were built (recorded in results).
    """

    def __init__(self, tasks: Sequence[ArrayDataset], test: ArrayDataset, batch_size: int = 32,
                 device: str = "cpu", dtype: torch.dtype = torch.float32,
                 info: dict | None = None):
        if len(tasks) < 1:
            raise ValueError("a collab problem needs at least task 0")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        shape, c = tasks[0].input_shape, tasks[0].n_classes
        for i, t in enumerate(tasks):
            if t.input_shape != shape or t.n_classes != c or len(t) == 0:
                raise ValueError(f"task {i}: inputs {t.input_shape}, {t.n_classes} classes, "
                                 f"{len(t)} examples; expected {shape}, {c} classes, n >= 1")
        if test.input_shape != shape:
            raise ValueError(f"test inputs have shape {test.input_shape}, expected {shape}")
        self.device = resolve_device(device)
        self.dtype = dtype
        self.batch_size = int(batch_size)
        self.input_shape, self.n_classes = shape, c
        self.sizes = torch.tensor([len(t) for t in tasks], dtype=torch.long)
        n_max = int(self.sizes.max())
        X = torch.zeros((len(tasks), n_max) + shape, dtype=dtype)
        y = torch.zeros((len(tasks), n_max), dtype=torch.long)
        w = torch.zeros((len(tasks), n_max), dtype=dtype)
        for i, t in enumerate(tasks):
            X[i, :len(t)] = torch.as_tensor(t.X, dtype=dtype)
            y[i, :len(t)] = torch.as_tensor(t.y)
            w[i, :len(t)] = 1.0 / len(t)
        self.X, self.y, self.w = X.to(self.device), y.to(self.device), w.to(self.device)
        self.test_X = torch.as_tensor(test.X, dtype=dtype, device=self.device)
        self.test_y = torch.as_tensor(test.y, dtype=torch.long, device=self.device)
        self.info = dict(info or {})

    @property
    def n_aux(self) -> int:
        """Number ``N`` of auxiliary tasks."""
        return int(self.sizes.numel()) - 1

    @property
    def n_tasks(self) -> int:
        """``N + 1``."""
        return int(self.sizes.numel())

    def __repr__(self) -> str:
        return (f"CollabProblem(N={self.n_aux}, sizes={self.sizes.tolist()}, test="
                f"{self.test_y.numel()}, batch_size={self.batch_size}, info={self.info})")


def label_shift_problem(n_aux: int, strength: float, kind: str = "permutation",
                       batch_size: int = 32, test_per_class: int = 30, seed: int = 0,
                       n_pairs: int = 1, device: str = "cpu",
                       dtype: torch.dtype = torch.float32,
                       data: ArrayDataset | None = None) -> CollabProblem:
    """Task 0 and ``N`` label-shifted auxiliary tasks from a data set (default: digits).

    A balanced test set of ``test_per_class`` images per class is held out
    (:func:`~simlab.neural.splits.balanced_split`); task 0 trains on the rest with the true
    labels; auxiliary task ``i`` trains on the same images with labels shifted by
    :func:`~simlab.neural.splits.label_shift_tasks` (a fraction ``strength`` of each moved
    class relabelled by task ``i``'s own permutation or swap).

    Parameters
    ----------
    n_aux : int
        ``N``.
    strength : float in [0, 1]
        Strength of the label shift (0: identical tasks).
    kind : {"permutation", "swap"}
    batch_size, test_per_class, seed, n_pairs, device, dtype
        ``seed`` fixes the split and the shifts (not the training runs).
    data : ArrayDataset, optional
        Another data set (e.g. :func:`~simlab.neural.data.load_mnist`).
    """
    data = load_digits() if data is None else data
    train_idx, test_idx = balanced_split(data.y, test_per_class, seed=seed,
                                         n_classes=data.n_classes)
    train, test = data.subset(train_idx), data.subset(test_idx)
    shift = label_shift_tasks(train.y, n_aux, strength, seed=seed, kind=kind, n_pairs=n_pairs,
                              n_classes=data.n_classes)
    tasks = [train] + [train.with_labels(lab, f"{data.name}-aux{i + 1}")
                       for i, lab in enumerate(shift.labels)]
    changed = [float(m.mean()) for m in shift.changed]
    info = dict(data=data.name, n_aux=int(n_aux), strength=float(strength), kind=kind,
                n_pairs=int(n_pairs), test_per_class=int(test_per_class), split_seed=int(seed),
                n_train=len(train), n_test=len(test),
                relabelled_fraction=float(np.mean(changed)) if changed else 0.0)
    return CollabProblem(tasks, test, batch_size=batch_size, device=device, dtype=dtype,
                         info=info)


# --- a network as a function of its flat parameter vector ----------------------------------

class FlatModel:
    """A module's parameters as one flat vector ``x`` of size ``P``, and its loss as ``f(x)``.

    :meth:`block_loss` evaluates the loss of many parameter vectors on many minibatches at once
    (leading dimensions broadcast). An :class:`~simlab.neural.models.MLP` runs as batched
    matrix products (plain autograd); any other module (e.g. the CNN) runs through
    ``torch.func.vmap`` of ``functional_call``. Both give the same numbers up to rounding.

    Parameters
    ----------
    module : torch.nn.Module
        The architecture (its own parameter values are only a template).
    input_ndim : int
        Number of dimensions of one input (3 for ``(C, H, W)`` images).
    """

    _ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Softplus, nn.Identity)

    def __init__(self, module: nn.Module, input_ndim: int = 3):
        self.module = module
        self.input_ndim = int(input_ndim)
        named = [(n, p) for n, p in module.named_parameters()]
        self.names = [n for n, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.size = int(sum(self.numels))
        self._plan = self._sequential_plan()

    def _sequential_plan(self) -> list | None:
        """``[(kind, what)]`` of an :class:`~simlab.neural.models.MLP` (``None`` otherwise)."""
        if not isinstance(self.module, MLP):  # registration order = forward order
            return None
        plan, offsets = [], {}
        pos = 0
        for n, k in zip(self.names, self.numels):
            offsets[n] = (pos, pos + k)
            pos += k
        for name, sub in self.module.named_modules():
            if isinstance(sub, nn.Linear):
                plan.append(("linear", (offsets[f"{name}.weight"], sub.weight.shape,
                                        offsets.get(f"{name}.bias"))))
            elif isinstance(sub, nn.Flatten):
                continue  # the inputs are flattened first
            elif isinstance(sub, self._ELEMENTWISE):
                plan.append(("act", sub))
            elif isinstance(sub, (nn.Sequential,)) or sub is self.module:
                continue
            else:
                return None
        n_lin = sum(1 for k, _ in plan if k == "linear")
        return plan if n_lin and sum(self.numels) == pos else None

    def flatten(self, module: nn.Module | None = None) -> torch.Tensor:
        """The parameters of ``module`` (default: the template) as a vector."""
        m = self.module if module is None else module
        return torch.cat([p.detach().reshape(-1) for p in m.parameters()])

    def unflatten(self, x: torch.Tensor) -> dict:
        """``{name: tensor}`` views of ``x``."""
        parts = torch.split(x, self.numels)
        return {n: p.view(s) for n, p, s in zip(self.names, parts, self.shapes)}

    def load_into(self, x: torch.Tensor, module: nn.Module | None = None) -> nn.Module:
        """Copy ``x`` into ``module``'s parameters (default: the template); returns it."""
        m = self.module if module is None else module
        with torch.no_grad():
            for p, v in zip(m.parameters(), torch.split(x, self.numels)):
                p.copy_(v.view(p.shape))
        return m

    def logits(self, x: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The network's output at one parameter vector ``x`` for a batch ``inputs``."""
        return functional_call(self.module, self.unflatten(x), (inputs,))

    def batched_logits(self, th: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of parameters ``th`` (``(*L, P)``) on inputs ``(*L', B, *input_shape)`` whose
        leading dimensions broadcast with ``L``; returns ``(*L'', B, classes)``."""
        if self._plan is None:
            return self._vmap_logits(th, inputs)
        h = inputs.flatten(start_dim=inputs.dim() - self.input_ndim)
        for kind, what in self._plan:
            if kind == "act":
                h = what(h)
                continue
            (w0, w1), wshape, boff = what
            W = th[..., w0:w1].unflatten(-1, tuple(wshape))  # (*L, out, in)
            h = torch.matmul(h, W.transpose(-1, -2))
            if boff is not None:
                h = h + th[..., boff[0]:boff[1]].unsqueeze(-2)
        return h

    def _vmap_logits(self, th: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        lead_t, lead_x = th.shape[:-1], inputs.shape[:inputs.dim() - self.input_ndim - 1]
        lead = torch.broadcast_shapes(lead_t, lead_x)
        th_f = th.expand(*lead, th.shape[-1]).reshape(-1, th.shape[-1])
        x_f = inputs.expand(*lead, *inputs.shape[len(lead_x):]).reshape(
            -1, *inputs.shape[len(lead_x):])
        out = vmap(self.logits)(th_f, x_f)
        return out.reshape(*lead, *out.shape[1:])

    def example_grad_sq(self, x: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor,
                        chunk: int = 256) -> torch.Tensor:
        """``||grad l_j(x_r)||^2`` for every parameter vector ``x_r`` and example ``j``.

        Parameters
        ----------
        x : Tensor, shape (R, P)
        inputs : Tensor, shape (n, *input_shape)
        labels : Tensor, shape (n,)
        chunk : int
            Examples per pass of the generic path.

        Returns
        -------
        Tensor, shape (R, n)
            For an MLP from the per-example output gradients ``delta`` of each linear layer
            and its inputs ``a`` (``||delta||^2 (||a||^2 + 1)``), exactly; otherwise from
            per-example gradients (the parameters replicated per example).
        """
        R = x.shape[0]
        x = x.detach()
        if self._plan is None:
            out = []
            one = torch.ones(1, dtype=x.dtype, device=x.device)
            for k in range(0, labels.numel(), chunk):
                xs, ys = inputs[k:k + chunk], labels[k:k + chunk]
                with torch.enable_grad():
                    th = x[:, None, :].expand(R, ys.numel(), self.size).clone()
                    th.requires_grad_(True)
                    v = self.block_loss(th, xs[:, None], ys[:, None], one)
                    (g,) = torch.autograd.grad(v.sum(), th)
                out.append((g * g).sum(-1))
            return torch.cat(out, dim=1)
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)  # so that the layer outputs join a graph
            h = inputs.flatten(start_dim=1)
            acts, outs, biased = [], [], []
            for kind, what in self._plan:
                if kind == "act":
                    h = what(h)
                    continue
                (w0, w1), wshape, boff = what
                W = x[:, w0:w1].unflatten(-1, tuple(wshape))
                z = torch.matmul(h, W.transpose(-1, -2))
                if boff is not None:
                    z = z + x[:, boff[0]:boff[1]].unsqueeze(-2)
                acts.append(h.detach())
                outs.append(z)
                biased.append(boff is not None)
                h = z
            lab = labels.expand(h.shape[:-1])
            ce = F.cross_entropy(h.reshape(-1, h.shape[-1]), lab.reshape(-1), reduction="sum")
            deltas = torch.autograd.grad(ce, outs)
        total = torch.zeros(R, labels.numel(), dtype=x.dtype, device=x.device)
        for a, d, b in zip(acts, deltas, biased):
            total = total + (d * d).sum(-1) * ((a * a).sum(-1) + float(b))
        return total

    def block_loss(self, th: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor,
                   weights: torch.Tensor) -> torch.Tensor:
        """``sum_j weights_j CE(logits_j, labels_j)`` over the last batch dimension.

        Parameters
        ----------
        th : Tensor, shape (*L, P)
        inputs : Tensor, shape (*L', B, *input_shape)
        labels : Tensor, shape (*L', B)
        weights : Tensor, broadcastable to (*L', B)
            ``1/B`` for the mean.

        Returns
        -------
        Tensor, shape ``broadcast(L, L')``
        """
        z = self.batched_logits(th, inputs)
        lab = labels.expand(z.shape[:-1])
        ce = F.cross_entropy(z.reshape(-1, z.shape[-1]), lab.reshape(-1), reduction="none")
        return (ce.view(z.shape[:-1]) * weights).sum(-1)


# --- sampling ------------------------------------------------------------------------------

def stream_seed(seed: int, task: int, bank: int = 0) -> int:
    """The seed of replica ``seed``'s minibatch stream for ``task`` and ``bank`` (a 63-bit int).

    Bank 0 is the step's main sample, bank 1 the independent samples of uncoupled BC-EMA and
    of its ``init_batch``.
    """
    ss = np.random.SeedSequence([int(seed), int(task), int(bank), 0xC011AB])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class TaskSampler:
    """Minibatch indices for ``R`` replicas and a set of tasks, drawn with replacement.

    ``next()`` returns a ``(R, len(tasks), batch)`` long tensor: replica ``r``'s indices into
    task ``tasks[a]``'s training set, from the generator keyed by
    ``(seeds[r], tasks[a], bank)``. Indices are drawn ``chunk`` steps at a time.
    """

    def __init__(self, seeds: Sequence[int], tasks: Sequence[int], sizes, batch: int,
                 bank: int = 0, chunk: int = 128, device: torch.device | str = "cpu"):
        self.seeds, self.tasks = [int(s) for s in seeds], [int(i) for i in tasks]
        self.sizes = [int(sizes[i]) for i in self.tasks]
        self.batch, self.chunk, self.device = int(batch), int(chunk), device
        self.gens = [[torch.Generator().manual_seed(stream_seed(s, i, bank)) for i in self.tasks]
                     for s in self.seeds]
        self._buf: torch.Tensor | None = None
        self._k = 0

    def next(self) -> torch.Tensor:
        """The next step's indices, shape ``(R, A, batch)``."""
        if self._buf is None or self._k == self.chunk:
            self._buf = torch.stack([torch.stack([
                torch.randint(n, (self.chunk, self.batch), generator=g)
                for n, g in zip(self.sizes, gens)], dim=1) for gens in self.gens], dim=1
            ).to(self.device)  # (chunk, R, A, B)
            self._k = 0
        out = self._buf[self._k]
        self._k += 1
        return out


# --- methods: the simulator's objects, through their bias-correction form -------------------

def _unsupported(method: Method) -> NotImplementedError:
    return NotImplementedError(f"{type(method).__name__} has no PyTorch implementation; "
                               f"supported: {SUPPORTED}")


@dataclass(frozen=True)
class _Rule:
    """The adapter: a method's :class:`~simlab.collab.methods.BCForm` at ``N``, and the tasks
    whose minibatch gradient a step needs (in increasing order, so task 0 comes first)."""

    form: BCForm
    alpha: np.ndarray  # float64, N + 1
    active: tuple

    @classmethod
    def of(cls, method: Method, n_aux: int) -> _Rule:
        """``method`` (validated) with ``N = n_aux``; ``NotImplementedError`` naming
        :data:`SUPPORTED` when it is not a bias-correction recursion."""
        shape = SimpleNamespace(n_aux=int(n_aux), n_tasks=int(n_aux) + 1)
        if not callable(getattr(method, "bc_form", None)):
            raise _unsupported(method)
        try:
            form = method.bc_form(shape)
        except NotImplementedError as exc:
            raise _unsupported(method) from exc
        alpha = np.asarray(form.alpha, dtype=np.float64)
        active = [0] if alpha[0] != 0.0 or form.corrects else []
        active += [i for i in range(1, int(n_aux) + 1) if alpha[i] != 0.0]
        return cls(form, alpha, tuple(active))

    @property
    def fresh_bias(self) -> bool:
        """Whether the correction draws independent samples (uncoupled, or an initial batch)."""
        f = self.form
        return f.corrects and (not f.coupled or f.init_batch > 0)

    def eta(self, t: int) -> float:
        """``eta_t = eta / (1 + decay t)``."""
        f = self.form
        return f.eta / (1.0 + f.decay * t) if f.decay != 0.0 else f.eta

    def rate(self, t: int) -> float:
        """The correction's ``a_t`` (``1/(t+1)`` for the running average)."""
        a = self.form.momentum
        return 1.0 / (t + 1.0) if a < 0 else a


def method_weights(method: Method, n_aux: int) -> np.ndarray:
    """The weights ``alpha`` that ``method`` uses with ``N = n_aux`` (``e_0`` for SGD alone).

    Parameters
    ----------
    method : Method
        A collab method of the bias-correction form (see :data:`SUPPORTED`).
    n_aux : int
        ``N``.

    Returns
    -------
    ndarray of float64, shape (N + 1,)

    Raises
    ------
    NotImplementedError
        For a method that is not of that form (BC-MVR, BC-SNAP, AuxMVR, other families).
    ValueError
        From the method's own validation (e.g. weights of the wrong length).
    """
    return _Rule.of(method, n_aux).alpha.copy()


# --- results ---------------------------------------------------------------------------------

@dataclass
class CollabResult:
    """Metrics of ``R`` replicas of one method at ``K`` checkpoints, and the measured constants.

    Attributes
    ----------
    checkpoints : ndarray of int64, shape (K,)
    metrics : dict of str to ndarray, shape (K, R)
        ``test_loss``, ``test_acc`` (task 0's test set), ``train_loss`` and ``grad_norm_sq``
        (task 0's full training objective).
    seeds : list of int
    method : str
    measured : pandas.DataFrame
        One row per (measure checkpoint, replica): ``t``, ``replica``, ``grad_norm_sq``,
        ``sigma0_sq`` and ``sigma_aux_sq`` (minibatch noise), ``zeta_bar_sq`` (the method's
        weights), ``zeta_bar_sq_uniform``, ``mean_bias_sq`` (``||mean_i (grad f_i - grad
        f_0)||^2``), ``zeta_sq_mean`` (mean of ``zeta_i^2``).
    pairs : pandas.DataFrame
        Gradient differences along the trajectory: ``t0``, ``t1``, ``replica``, ``lipschitz``,
        ``curvature``, ``delta_max`` (over aux tasks), ``delta_bar`` (uniform aggregate).
    params : ndarray or None, shape (K, R, P)
        The iterates at the checkpoints (``keep_params=True``).
    final : torch.Tensor, shape (R, P)
    seconds : float
    info : dict
    """

    checkpoints: np.ndarray
    metrics: dict
    seeds: list
    method: str
    measured: object
    pairs: object
    params: np.ndarray | None
    final: torch.Tensor
    seconds: float
    info: dict = field(default_factory=dict)

    def to_pandas(self):
        """The metrics in long form: one row per (checkpoint, replica)."""
        import pandas as pd

        K, R = self.metrics["test_loss"].shape
        df = pd.DataFrame({"t": np.repeat(self.checkpoints, R),
                           "replica": np.tile(np.arange(R), K),
                           "seed": np.tile(np.asarray(self.seeds), K)})
        for k, v in self.metrics.items():
            df[k] = v.reshape(-1)
        df["method"] = self.method
        return df


# --- the runner ------------------------------------------------------------------------------

def _checkpoint_list(checkpoints, steps: int) -> np.ndarray:
    from simlab.engine.simulate import log_checkpoints

    if checkpoints is None:
        return log_checkpoints(steps, 30)
    if isinstance(checkpoints, str) and checkpoints == "all":
        return np.arange(steps + 1, dtype=np.int64)
    c = np.unique(np.asarray(checkpoints, dtype=np.int64).ravel())
    if c.size == 0 or c.min() < 0 or c.max() > steps:
        raise ValueError(f"checkpoints must be a non-empty subset of [0, steps={steps}]")
    return c


def _measure_list(measure, steps: int) -> np.ndarray:
    meas = (np.zeros(0, np.int64) if measure is None
            else np.unique(np.asarray(measure, dtype=np.int64)))
    return meas[(meas >= 0) & (meas <= steps)]


def _sq(v: torch.Tensor) -> torch.Tensor:
    return (v * v).sum(-1)


class _Replicas:
    """``R`` copies of one network as the rows of ``x`` (shape ``(R, P)``), and their gradients.

    Gradients per (replica, task) or (replica, example) come from one forward and one backward
    pass: the parameters are replicated into a leaf of shape ``(R, A, P)``, the batched forward
    sums the losses and each block only enters its own loss.
    """

    def __init__(self, problem: CollabProblem, model: str, model_kwargs: dict,
                 seeds: Sequence[int]):
        dev, dt = problem.device, problem.dtype
        shape, c = problem.input_shape, problem.n_classes
        template = build_model(model, shape, c, dtype=dt, **model_kwargs)
        self.problem = problem
        self.fm = FlatModel(template.to(dev), input_ndim=len(shape))
        self.x = torch.stack([self.fm.flatten(build_model(model, shape, c, seed=s, dtype=dt,
                                                          **model_kwargs))
                              for s in seeds]).to(dev)

    @property
    def R(self) -> int:
        return int(self.x.shape[0])

    def blockwise(self, blocks: int, inputs, labels, weights
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients ``(R, blocks, P)`` and values ``(R, blocks)`` of the block losses."""
        with torch.enable_grad():
            th = self.x.detach()[:, None, :].expand(self.R, blocks, self.fm.size).clone()
            th.requires_grad_(True)
            values = self.fm.block_loss(th, inputs, labels, weights)
            (g,) = torch.autograd.grad(values.sum(), th)
        return g, values.detach()

    def full_grads(self, tasks: list) -> tuple[torch.Tensor, torch.Tensor]:
        """``grad f_i`` and ``f_i`` of ``tasks`` at every replica: ``(R, A, P)``, ``(R, A)``."""
        # the weights are 1/n_i (0 on padding): sums over example chunks are the means
        p = self.problem
        tid = torch.as_tensor(tasks, dtype=torch.long, device=p.device)
        g = v = 0.0
        for k in range(0, p.X.shape[1], CHUNK):
            gk, vk = self.blockwise(len(tasks), p.X[tid, k:k + CHUNK], p.y[tid, k:k + CHUNK],
                                    p.w[tid, k:k + CHUNK])
            g, v = g + gk, v + vk
        return g, v

    def sigma_sq(self, task: int, g_full: torch.Tensor) -> np.ndarray:
        """The noise of a with-replacement minibatch of ``B``:
        ``(1/B) (mean_j ||grad l_j||^2 - ||grad f||^2)``, per replica."""
        p = self.problem
        n = int(p.sizes[task])
        sq = torch.cat([self.fm.example_grad_sq(self.x, p.X[task, k:min(k + CHUNK, n)],
                                                p.y[task, k:min(k + CHUNK, n)]).double()
                        for k in range(0, n, CHUNK)], dim=1)
        return ((sq.mean(1) - _sq(g_full.double())) / p.batch_size).cpu().numpy()

    def test_metrics(self) -> tuple[np.ndarray, np.ndarray]:
        """Task 0's test loss and accuracy per replica."""
        p = self.problem
        lg = torch.cat([self.fm.batched_logits(self.x, p.test_X[k:k + CHUNK])
                        for k in range(0, p.test_X.shape[0], CHUNK)], dim=1)
        yt = p.test_y.expand(self.R, -1)
        loss = F.cross_entropy(lg.transpose(1, 2), yt, reduction="none").mean(1)
        return loss.cpu().numpy(), (lg.argmax(-1) == yt).double().mean(1).cpu().numpy()


class _Stepper:
    """The steps of a :class:`_Rule` on the replicas: ``G = sum_i alpha_i g_i`` over the active
    tasks; when the method corrects, ``m <- (1 - a_t) m + a_t (g_0 - G)`` (fresh samples from
    bank 1 when uncoupled; ``m`` starts at the mean of ``init_batch`` of them); and
    ``x <- x - eta_t (G + m)``."""

    def __init__(self, rule: _Rule, reps: _Replicas, seeds: Sequence[int]):
        p = reps.problem
        self.rule, self.reps = rule, reps
        active = torch.as_tensor(rule.active, dtype=torch.long, device=p.device)
        self.ids = active.view(1, -1, 1)
        self.alpha = torch.as_tensor(rule.alpha, dtype=p.dtype, device=p.device)[active]
        self.wB = torch.full((p.batch_size,), 1.0 / p.batch_size, dtype=p.dtype,
                             device=p.device)
        self.sampler = TaskSampler(seeds, rule.active, p.sizes, p.batch_size, bank=0,
                                   device=p.device)
        self.extra = (TaskSampler(seeds, rule.active, p.sizes, p.batch_size, bank=1,
                                  device=p.device) if rule.fresh_bias else None)
        self.m = torch.zeros_like(reps.x)
        nb = rule.form.init_batch
        for _ in range(nb):
            self.m += self.bias(self.grads(self.extra)) / nb

    def grads(self, sampler: TaskSampler) -> torch.Tensor:
        """One minibatch gradient per replica and active task, ``(R, A, P)``."""
        idx = sampler.next()  # (R, A, B)
        p = self.reps.problem
        return self.reps.blockwise(self.ids.shape[1], p.X[self.ids, idx], p.y[self.ids, idx],
                                   self.wB)[0]

    def bias(self, g: torch.Tensor) -> torch.Tensor:
        """``g_0 - sum_i alpha_i g_i`` (task 0 at position 0 of ``g``)."""
        return g[:, 0] - torch.einsum("a,rap->rp", self.alpha, g)

    def step(self, t: int) -> None:
        """``x_{t+1}`` from ``x_t``."""
        with torch.no_grad():
            g = self.grads(self.sampler)
            d = torch.einsum("a,rap->rp", self.alpha, g)  # G
            form = self.rule.form
            if form.corrects:
                b = g[:, 0] - d if form.coupled else self.bias(self.grads(self.extra))
                a = self.rule.rate(t)
                self.m = (1.0 - a) * self.m + a * b
                d = d + self.m
            self.reps.x = self.reps.x - self.rule.eta(t) * d


def _raise_if_diverged(x: torch.Tensor, method: Method, t: int, seeds: list) -> None:
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(1).nonzero()[0])
        raise FloatingPointError(f"{method.name} diverged at step {t + 1} in replica "
                                 f"{bad} (seed {seeds[bad]}); reduce the step size")


class _Recorder:
    """The checkpoint measurements of one run (see :func:`run_collab` and the module docstring).

    At the metric checkpoints: task 0's test loss and accuracy, training loss and
    ``||grad f_0||^2``. At the measure checkpoints and one step after them: every task's full
    gradient, the differences along the trajectory (:attr:`pair_rows`) and, at the measure
    checkpoints themselves, the noise and biases (:attr:`rows`).
    """

    METRICS = ("test_loss", "test_acc", "train_loss", "grad_norm_sq")

    def __init__(self, reps: _Replicas, alpha: np.ndarray, cps: np.ndarray, meas: np.ndarray,
                 steps: int, sigma_tasks: int, keep_params: bool):
        p = reps.problem
        self.reps, self.cps, self.sigma_tasks = reps, cps, int(sigma_tasks)
        self.alpha = torch.as_tensor(alpha, dtype=p.dtype, device=p.device)
        self.record_at = set(cps.tolist())
        self.meas_at = set(meas.tolist())
        self.grad_at = self.meas_at | {t + 1 for t in meas.tolist() if t < steps}
        K, R = cps.size, reps.R
        self.metrics = {k: np.zeros((K, R)) for k in self.METRICS}
        self.params = np.zeros((K, R, reps.fm.size)) if keep_params else None
        self.rows: list = []
        self.pair_rows: list = []
        self.prev: dict = {}  # last gradient checkpoint: t, x, grad f_0, biases

    def __call__(self, t: int) -> None:
        """Measure at step ``t`` (nothing when ``t`` is no checkpoint)."""
        with torch.no_grad():
            if t in self.record_at:
                self._record_test(t)
            if t in self.record_at or t in self.grad_at:
                self._record_gradients(t)

    def _index(self, t: int) -> int:
        return int(np.searchsorted(self.cps, t))

    def _record_test(self, t: int) -> None:
        k = self._index(t)
        self.metrics["test_loss"][k], self.metrics["test_acc"][k] = self.reps.test_metrics()
        if self.params is not None:
            self.params[k] = self.reps.x.double().cpu().numpy()

    def _record_gradients(self, t: int) -> None:
        measuring = t in self.grad_at
        N = self.reps.problem.n_aux
        g, val = self.reps.full_grads(list(range(N + 1)) if measuring else [0])
        g0 = g[:, 0]
        if t in self.record_at:
            k = self._index(t)
            self.metrics["train_loss"][k] = val[:, 0].double().cpu().numpy()
            self.metrics["grad_norm_sq"][k] = _sq(g0).double().cpu().numpy()
        if not measuring:
            return
        diffs = g[:, 1:] - g0[:, None]  # grad f_i - grad f_0, (R, N, P)
        self._record_pair(t, g0, diffs)
        if t in self.meas_at:
            self._record_constants(t, g, val, diffs)

    def _record_pair(self, t: int, g0: torch.Tensor, diffs: torch.Tensor) -> None:
        """Smoothness, curvature and Hessian dissimilarity since the last gradient checkpoint."""
        x, prev, R = self.reps.x, self.prev, self.reps.R
        if prev and prev["t"] < t:
            dx = x - prev["x"]
            nx = torch.sqrt(_sq(dx)).clamp_min(1e-30)
            dg = g0 - prev["g0"]
            lip = (torch.sqrt(_sq(dg)) / nx).cpu().numpy()
            curv = ((dg * dx).sum(-1) / nx**2).cpu().numpy()
            if diffs.shape[1]:
                dd = diffs - prev["diffs"]
                dmax = (torch.sqrt(_sq(dd)).amax(1) / nx).cpu().numpy()
                dbar = (torch.sqrt(_sq(dd.mean(1))) / nx).cpu().numpy()
            else:
                dmax = dbar = np.zeros(R)
            for r in range(R):
                self.pair_rows.append(dict(t0=prev["t"], t1=t, replica=r,
                                           lipschitz=float(lip[r]), curvature=float(curv[r]),
                                           delta_max=float(dmax[r]), delta_bar=float(dbar[r])))
        self.prev = dict(t=t, x=x.clone(), g0=g0, diffs=diffs)

    def _record_constants(self, t: int, g: torch.Tensor, val: torch.Tensor,
                          diffs: torch.Tensor) -> None:
        """Noise ``sigma_i^2`` and the biases at a measure checkpoint."""
        reps, R, N = self.reps, self.reps.R, self.reps.problem.n_aux
        g0 = g[:, 0]
        zb = _sq(g0 - torch.einsum("i,rip->rp", self.alpha, g)).cpu().numpy()
        zu = _sq(g0 - g.mean(1)).cpu().numpy()
        mb = _sq(diffs.mean(1)).cpu().numpy() if N else np.zeros(R)
        zi = _sq(diffs).mean(1).cpu().numpy() if N else np.zeros(R)
        s0 = reps.sigma_sq(0, g0)
        aux = [reps.sigma_sq(i, g[:, i]) for i in range(1, min(N, self.sigma_tasks) + 1)]
        sa = np.mean(aux, axis=0) if aux else np.full(R, np.nan)
        gn = _sq(g0).cpu().numpy()
        for r in range(R):
            self.rows.append(dict(t=t, replica=r, grad_norm_sq=float(gn[r]),
                                  train_loss=float(val[r, 0]), sigma0_sq=float(s0[r]),
                                  sigma_aux_sq=float(sa[r]), zeta_bar_sq=float(zb[r]),
                                  zeta_bar_sq_uniform=float(zu[r]), mean_bias_sq=float(mb[r]),
                                  zeta_sq_mean=float(zi[r])))


def run_collab(problem: CollabProblem, method: Method, steps: int, seeds: Sequence[int],
               model: str = "mlp", model_kwargs: dict | None = None, checkpoints=None,
               measure=None, sigma_tasks: int = 2, keep_params: bool = False,
               threads: int | None = 1, quiet: bool = True, desc: str | None = None
               ) -> CollabResult:
    """Train one network per seed on task 0 with ``method``; measure at checkpoints.

    Parameters
    ----------
    problem : CollabProblem
    method : Method
        From :mod:`simlab.collab`, a method of the bias-correction form (SGDAlone, WGA,
        BCEMA or AuxMOM; see :data:`SUPPORTED`), run through its ``bc_form``: its step size
        ``eta`` and ``decay`` give ``eta_t = eta / (1 + decay t)``.
    steps : int
        ``T``.
    seeds : sequence of int
        One replica per seed (initial weights and minibatch streams).
    model : {"mlp", "cnn"}
    model_kwargs : dict, optional
        E.g. ``{"hidden": (64,)}``.
    checkpoints : None, "all" or sequence of int
        Where the metrics are recorded (default: 30 log-spaced steps with 0 and ``T``).
    measure : sequence of int, optional
        Checkpoints at which the constants are measured (see the module docstring); each also
        measures at ``t + 1`` for the one-step gradient differences.
    sigma_tasks : int
        How many auxiliary tasks' noise is measured (the first ones), besides task 0's.
    keep_params : bool
        Keep the iterates at the checkpoints.
    threads : int or None
        ``torch.set_num_threads``.
    quiet : bool
        No progress bar (it is also silent when stderr is not a terminal).
    desc : str, optional
        The progress bar's label.

    Returns
    -------
    CollabResult

    Raises
    ------
    NotImplementedError
        For a method that is not of the bias-correction form (BC-MVR, BC-SNAP, AuxMVR).
    ValueError
        For bad ``steps``, ``seeds`` or ``checkpoints``, or the method's own validation.
    FloatingPointError
        When an iterate stops being finite.
    """
    import pandas as pd
    from tqdm import tqdm

    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    seeds = [int(s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds}")
    set_threads(threads)
    T = int(steps)
    rule = _Rule.of(method, problem.n_aux)
    cps = _checkpoint_list(checkpoints, T)
    meas = _measure_list(measure, T)
    mk = dict(model_kwargs or {})
    reps = _Replicas(problem, model, mk, seeds)
    stepper = _Stepper(rule, reps, seeds)
    record = _Recorder(reps, rule.alpha, cps, meas, T, sigma_tasks, keep_params)

    t_start = time.perf_counter()
    bar = tqdm(total=T, desc=desc or method.name, unit="step", leave=False,
               disable=quiet or not sys.stderr.isatty(), mininterval=0.5)
    record(0)
    for t in range(T):
        stepper.step(t)
        _raise_if_diverged(reps.x, method, t, seeds)
        record(t + 1)
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t_start
    return CollabResult(checkpoints=cps, metrics=record.metrics, seeds=seeds, method=method.name,
                        measured=pd.DataFrame(record.rows), pairs=pd.DataFrame(record.pair_rows),
                        params=record.params, final=reps.x.detach(), seconds=seconds,
                        info=dict(problem=problem.info, method=repr(method), model=model,
                                  model_kwargs=mk, parameters=reps.fm.size, steps=T,
                                  batch_size=problem.batch_size, alpha=rule.alpha.tolist()))


# --- a study: the four methods, the measured constants, and the simulator's surrogate --------

#: Method keys of :class:`CollabStudy` and their display labels (as in ``figures/_common.py``).
METHOD_LABELS = {"alone": "Alone", "wga": "WGA uniform", "wga-opt": "WGA opt", "bc": "BC-EMA"}


def make_method(key: str, eta: float, n_aux: int, momentum: float | str = 0.2,
                alpha0: float | None = None) -> Method:
    """The simulator's method object for a :data:`METHOD_LABELS` key.

    ``"alone"``: :class:`~simlab.collab.SGDAlone`; ``"wga"``: uniform
    :class:`~simlab.collab.WGA`; ``"wga-opt"``: WGA with ``alpha_0 = alpha0`` and
    ``alpha_i = (1 - alpha0) / N``; ``"bc"``: uniform :class:`~simlab.collab.BCEMA` with
    ``momentum``. The same object runs in the simulator and in :func:`run_collab`.
    """
    from simlab.collab.weights import beta_weights

    if key == "alone":
        return SGDAlone(step_size=eta)
    if key == "wga":
        return WGA(weights="uniform", step_size=eta)
    if key == "wga-opt":
        if alpha0 is None:
            raise ValueError("wga-opt needs alpha0 (or the alone / uniform WGA runs to "
                             "measure it from)")
        return WGA(weights=beta_weights(1.0 - float(alpha0), int(n_aux)), step_size=eta)
    if key == "bc":
        return BCEMA(weights="uniform", step_size=eta, momentum=momentum)
    raise ValueError(f"method must be one of {tuple(METHOD_LABELS)}, got {key!r}")


@dataclass
class CollabStudy:
    """SGD alone, uniform WGA, tuned WGA and BC-EMA on one problem, and what they measure.

    The tuned WGA uses ``alpha_0 = 1 - beta``, ``alpha_i = beta / N`` with ``alpha_0`` from
    ``theory.collab.wga_opt_mse`` (WGA-OPT (MSE), derived) evaluated at the noise ``sigma_0^2``
    and the aligned bias ``||mean_i (grad f_i - grad f_0)||^2`` measured on the runs made
    before it (alone and uniform WGA), unless ``alpha0`` is given.

    Parameters
    ----------
    problem : CollabProblem
    steps : int
    seeds : sequence of int
    eta : float
        The step size of every method.
    momentum : float or "running"
        BC-EMA's ``a``.
    model, model_kwargs
        As for :func:`run_collab`.
    n_measure : int
        Measure checkpoints, evenly spaced in ``[0, T - 1]``.
    checkpoints : int
        Number of log-spaced metric checkpoints (11 more are evenly spaced over the last 10%
        of the steps, where :meth:`summary` averages).
    threads : int or None
    quiet : bool
    """

    problem: CollabProblem
    steps: int
    seeds: Sequence[int]
    eta: float
    momentum: float | str = 0.2
    model: str = "mlp"
    model_kwargs: dict | None = None
    n_measure: int = 4
    checkpoints: int = 30
    threads: int | None = 1
    quiet: bool = True

    def measure_points(self) -> np.ndarray:
        """The measure checkpoints."""
        if self.n_measure <= 0:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.round(np.linspace(0, self.steps - 1, self.n_measure))
                         .astype(np.int64))

    def method(self, key: str, alpha0: float | None = None) -> Method:
        """The simulator's method object for ``key`` (see :func:`make_method`)."""
        return make_method(key, self.eta, self.problem.n_aux, self.momentum, alpha0)

    def run_one(self, method: Method, desc: str | None = None) -> CollabResult:
        """:func:`run_collab` with the study's settings."""
        from simlab.engine.simulate import log_checkpoints

        T = self.steps
        tail = np.round(np.linspace(0.9 * T, T, 11)).astype(np.int64)
        return run_collab(self.problem, method, T, self.seeds, model=self.model,
                          model_kwargs=self.model_kwargs,
                          checkpoints=np.union1d(log_checkpoints(T, self.checkpoints), tail),
                          measure=self.measure_points(), threads=self.threads,
                          quiet=self.quiet, desc=desc)

    def alpha0_opt(self, results: dict) -> float:
        """WGA-OPT (MSE) at the constants measured on ``results`` (1 when ``N = 0``)."""
        from theory.collab import wga_opt_mse

        N = self.problem.n_aux
        if N == 0:
            return 1.0
        c = self.constants(results)
        if not c:
            raise ValueError("wga-opt needs alpha0 or earlier runs to measure the constants")
        return float(wga_opt_mse(sigma2=c["sigma0_sq"], N=N, zeta2=c["zeta_sq"]))

    def run(self, keys: Sequence[str] = tuple(METHOD_LABELS), alpha0: float | None = None
            ) -> dict:
        """Run the methods ``keys`` (alone and uniform WGA first); ``{label: CollabResult}``."""
        order = [k for k in METHOD_LABELS if k in keys]
        unknown = set(keys) - set(METHOD_LABELS)
        if unknown:
            raise ValueError(f"methods must be among {tuple(METHOD_LABELS)}, got {unknown}")
        results: dict = {}
        for key in order:
            a0 = None
            if key == "wga-opt":
                a0 = alpha0 if alpha0 is not None else self.alpha0_opt(results)
            m = self.method(key, a0)
            label = METHOD_LABELS[key]
            results[label] = self.run_one(m, desc=f"{label} (N={self.problem.n_aux})")
            results[label].info["alpha0"] = float(method_weights(m, self.problem.n_aux)[0])
        return results

    def constants(self, results: dict, late: float = 0.25) -> dict:
        """The constants measured on ``results``, pooled over methods, seeds and checkpoints.

        Noise and biases: means over the measure checkpoints ``t >= late * T`` (all of them
        when none is that late). Smoothness ``L``: the largest ratio
        ``||Delta grad f_0|| / ||Delta x||`` over one-step pairs; ``mu``: the median positive
        curvature ``<Delta grad f_0, Delta x> / ||Delta x||^2`` between consecutive measure
        checkpoints (the direction of progress); ``delta``: the median one-step Hessian
        dissimilarity ``max_i ||Delta (grad f_i - grad f_0)|| / ||Delta x||`` (``delta_max``:
        its largest value; ``delta_bar``: the median for the uniform aggregate);
        ``F0 = f_0(x_0)`` with ``f_0* = 0`` (cross-entropy is non-negative and
        the network can fit its training set).
        """
        import pandas as pd

        meas = [r.measured for r in results.values() if len(r.measured)]
        pairs = [r.pairs for r in results.values() if len(r.pairs)]
        if not meas:
            return {}
        m = pd.concat(meas, ignore_index=True)
        lateset = m[m.t >= late * self.steps]
        mm = lateset if len(lateset) else m
        out = {"sigma0_sq": float(mm.sigma0_sq.mean()),
               "sigma_aux_sq": float(mm.sigma_aux_sq.mean()),
               "zeta_sq": float(mm.mean_bias_sq.mean()),
               "zeta_bar_sq_uniform": float(mm.zeta_bar_sq_uniform.mean()),
               "zeta_i_sq_mean": float(mm.zeta_sq_mean.mean()),
               "grad_norm_sq_late": float(mm.grad_norm_sq.mean())}
        first = next(iter(results.values()))
        out["F0"] = float(first.metrics["train_loss"][0].mean())
        out["grad_norm_sq_0"] = float(first.metrics["grad_norm_sq"][0].mean())
        if pairs:
            p = pd.concat(pairs, ignore_index=True)
            one = p[p.t1 - p.t0 == 1]
            long = p[(p.t1 - p.t0 > 1) & (p.curvature > 0)]
            out["L"] = float(one.lipschitz.max()) if len(one) else float(p.lipschitz.max())
            out["L_median"] = float(one.lipschitz.median()) if len(one) else float("nan")
            out["mu"] = (float(long.curvature.median()) if len(long)
                         else float(p.curvature[p.curvature > 0].min()))
            out["delta"] = float(one.delta_max.median()) if len(one) else float("nan")
            out["delta_max"] = float(one.delta_max.max()) if len(one) else float("nan")
            out["delta_bar"] = float(one.delta_bar.median()) if len(one) else float("nan")
        out["late_from_step"] = int(np.ceil(late * self.steps))
        return out

    def summary(self, results: dict, tail: float = 0.1) -> dict:
        """Final metrics per method (mean over seeds of the mean over checkpoints in the last
        ``tail`` of the horizon) and the pooled constants."""
        final = {}
        for label, r in results.items():
            k = r.checkpoints >= (1 - tail) * self.steps
            row = {}
            for name, v in r.metrics.items():
                per_seed = v[k].mean(axis=0)
                row[name] = float(per_seed.mean())
                row[f"{name}_se"] = (float(per_seed.std(ddof=1) / np.sqrt(per_seed.size))
                                     if per_seed.size > 1 else 0.0)
            row["seconds"] = r.seconds
            row["alpha0"] = r.info.get("alpha0")
            final[label] = row
        return {"final": final, "constants": self.constants(results)}


def surrogate_task(constants: dict, n_aux: int, d: int = 20, seed: int = 0):
    """The simulator's family-A task (shared-Hessian quadratics) built from measured constants.

    ``eig = (mu, L)`` log-spaced over ``d`` coordinates; noise ``sigma_0 = sqrt(sigma0_sq)``
    and ``sigma_i = sqrt(sigma_aux_sq)``; aligned biases with ``zeta_i = sqrt(zeta_sq)`` (so the
    aggregate bias of any weights ``alpha_0 = 1 - beta, alpha_i = beta/N`` is
    ``beta * sqrt(zeta_sq)``, as ``||sum_i alpha_i (grad f_i - grad f_0)||`` on the network
    when the measured bias is that mean); ``x0_dist`` such that ``f_0(x_0) - f_0* = F0``.
    Family A has ``delta = 0``: the network's measured ``delta`` is not modelled.

    Returns
    -------
    simlab.tasks.SharedHessianQuadratics
    """
    from simlab.tasks import SharedHessianQuadratics

    N = int(n_aux)
    L, mu = float(constants["L"]), float(constants["mu"])
    mu = min(mu, L)
    s0 = float(np.sqrt(max(constants["sigma0_sq"], 0.0)))
    sa = constants.get("sigma_aux_sq", np.nan)
    sa = s0 if not np.isfinite(sa) else float(np.sqrt(max(sa, 0.0)))
    zeta = float(np.sqrt(max(constants.get("zeta_sq", 0.0), 0.0)))
    kw = dict(d=d, n_aux=N, eig=(mu, L), zeta=zeta, sigma=(s0,) + (sa,) * N,
              bias_directions="aligned", seed=seed)
    unit = SharedHessianQuadratics(x0_dist=1.0, **kw).constants()["F0"]
    return SharedHessianQuadratics(x0_dist=float(np.sqrt(constants["F0"] / unit)), **kw)
