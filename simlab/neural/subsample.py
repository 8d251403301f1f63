"""One backward from ten forward on a neural network: a streaming comparison with real savings.

[R] reconstruction (subsample spec 2.3, 6.1): the reference training loop of the spec, run on an
MLP over a stream of instances made on the fly. Per window of ``n`` instances:

1. **serving forward** (the deployed model, already paid for in production): the serving copy
   ``theta_serve`` of the model runs under :func:`torch.inference_mode` on every instance and
   records its loss ``l~_i`` (cross-entropy); the serving copy is refreshed from the trained
   model every ``refresh`` windows (staleness, spec 1.1);
2. **selection**: the sampler chooses the instances from the recorded losses (below);
3. **training forward and backward on the selected instances only**: the window is *indexed*,
   so the model in training never sees a skipped instance (skipped backward passes are real
   savings of wall time, not masked-out rows), and the loss is
   ``(1/n) sum_{i in S} w_i l_i(theta_train)``, with Horvitz-Thompson weights ``w_i = 1/p_i``
   for the probability samplers: unbiased for the window-mean loss (:func:`window_loss`);
4. one optimiser step (skipped when nothing was drawn).

Samplers (:data:`SAMPLERS`):

==================== =============================================================== ========
sampler              rule                                                            weights
==================== =============================================================== ========
``full``             every instance (``rho = 1``; the ``rho`` field is ignored)      1
``uniform``          Poisson with ``p_i = rho`` (``uniform_design="poisson"``), or   ``1/p``
                     exactly ``k = round(rho n)`` without replacement (``"fixed"``)
``waterfill`` [R]    ``p = inclusion_probabilities(l~, rho n, epsilon, alpha)``,     ``1/p``
                     then Poisson (``design="poisson"``) or randomised systematic
                     sampling of exactly ``k = round(rho n)`` (``"systematic"``)
``selective_backprop`` keep with ``CDF_R(l~)^beta``, ``beta = 1/rho - 1`` (keep rate     ``1/rho``
                     about ``rho``; ``R``: the last ``sb_history`` windows), spec 5.3 (flat)
``top_k``            the ``k = round(rho n)`` largest recorded losses (spec 5.6)     ``n/k``
                                                                                     (flat)
==================== =============================================================== ========

The flat weights of the two biased baselines only put their loss on the same scale as the
others (``sum w = n`` in expectation); they are not importance weights.

Seeds. A run with seed ``s`` takes three streams of :class:`simlab.engine.runner.ReplicaStreams`
``(s, replica)``: stream 0 draws the instances, stream 1 the initial weights, stream 2 the
sampler's choices. So every sampler (and full training) sees the same instances in the same
order from the same initial weights (paired comparisons), and
``simlab.simulate(task, method, steps=windows, seed=s)`` through the runner protocol
(:class:`NeuralSubsample` is a :class:`~simlab.engine.model.LoopMethod`) gives replica 0 the
numbers of :func:`run_subsample` with ``seed=s``.

Timing. ``torch`` CPU operations are synchronous, so :func:`time.perf_counter` around each part
measures it: ``seconds_serving`` is the serving forward (and recording the losses),
``seconds_train`` everything else the training system does (the sampler, the training forward
and backward, the optimiser step, refreshing the serving copy); ``seconds_total`` is their sum.
Making the stream (the data arriving) and evaluating on the test set are measurement, not
training, and are timed apart (``info["seconds_stream"]``, ``info["seconds_eval"]``).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from simlab.engine.model import LoopMethod, Task
from simlab.engine.runner import ReplicaStreams
from simlab.neural.models import MLP
from simlab.subsample.baselines import LossHistory, selective_backprop, top_k
from simlab.subsample.designs import Sample, poisson, systematic
from simlab.subsample.probabilities import inclusion_probabilities

__all__ = ["MixtureStream", "NeuralSubsample", "SubsampleResult", "SAMPLERS", "run_subsample",
           "window_loss", "evaluate", "Selector", "StreamTrainer", "checkpoint_windows"]

SAMPLERS = ("full", "uniform", "waterfill", "selective_backprop", "top_k")
OPTIMIZERS = ("adam", "sgd")
#: Rows per pass of the test-set evaluation.
EVAL_CHUNK = 4096
#: Streams of :class:`~simlab.engine.runner.ReplicaStreams` used by a run.
STREAM_DATA, STREAM_INIT, STREAM_SAMPLER = 0, 1, 2


# --- the stream ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MixtureStream(Task):
    """A Gaussian-mixture classification stream with heavy-tailed, hard instances.

    Class ``c`` is a mixture of ``clusters_per_class`` isotropic Gaussians; the cluster means
    are drawn once from ``N(0, separation^2 / dim * I)`` (fixed by ``task_seed``), so two means
    are about ``separation * sqrt(2)`` apart. An instance picks a cluster uniformly and is
    ``x = mu_j + s z`` with ``z ~ N(0, I)`` and its own scale ``s = exp(scale_sigma * N(0, 1))``
    (lognormal): most instances are easy (``s`` near 1), a heavy tail of large ``s`` are hard or
    hopeless, so the per-instance losses vary a lot. A fraction ``label_noise`` of labels is
    replaced by a uniformly random class. The stream is stationary; the test set comes from
    the same distribution.

    Parameters
    ----------
    dim : int
        Input dimension, ``>= 1``.
    n_classes : int
        ``>= 2``.
    clusters_per_class : int
        ``>= 1`` (1: linear class boundaries; more: non-linear ones).
    separation : float
        Scale of the cluster means, ``> 0``.
    scale_sigma : float
        Log-standard deviation of the per-instance noise scale, ``>= 0``.
    label_noise : float
        Fraction of random labels, in ``[0, 1]``.
    task_seed : int
        Seed of the cluster means and of the test set (the stream itself has its own seed).
    """

    dim: int = 64
    n_classes: int = 10
    clusters_per_class: int = 4
    separation: float = 4.0
    scale_sigma: float = 0.5
    label_noise: float = 0.0
    task_seed: int = 0
    family: ClassVar[str] = "mixture stream"

    def __post_init__(self):
        _int("dim", self.dim, 1)
        _int("n_classes", self.n_classes, 2)
        _int("clusters_per_class", self.clusters_per_class, 1)
        _int("task_seed", self.task_seed, 0)
        if not (math.isfinite(self.separation) and self.separation > 0):
            raise ValueError(f"separation must be finite and > 0, got {self.separation!r}")
        if not (math.isfinite(self.scale_sigma) and self.scale_sigma >= 0):
            raise ValueError(f"scale_sigma must be finite and >= 0, got {self.scale_sigma!r}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ValueError(f"label_noise must be in [0, 1], got {self.label_noise!r}")

    def dims(self) -> dict[str, int]:
        """``{"d": dim, "classes": n_classes}``."""
        return {"d": int(self.dim), "classes": int(self.n_classes)}

    @cached_property
    def means(self) -> np.ndarray:
        """Cluster means, shape ``(n_classes * clusters_per_class, dim)``; cluster ``j`` has
        class ``j % n_classes``."""
        rng = np.random.default_rng([int(self.task_seed), 0x5AB5])
        m = self.n_classes * self.clusters_per_class
        return rng.standard_normal((m, self.dim)) * (self.separation / math.sqrt(self.dim))

    @property
    def cluster_labels(self) -> np.ndarray:
        """Class of each cluster, shape ``(n_classes * clusters_per_class,)``."""
        return np.arange(self.means.shape[0], dtype=np.int64) % self.n_classes

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` instances: ``(X float32 (n, dim), y int64 (n,))``."""
        mu = self.means
        j = rng.integers(0, mu.shape[0], n)
        s = np.exp(self.scale_sigma * rng.standard_normal(n))
        X = mu[j] + s[:, None] * rng.standard_normal((n, self.dim))
        y = self.cluster_labels[j]
        if self.label_noise > 0:
            flip = rng.random(n) < self.label_noise
            y = np.where(flip, rng.integers(0, self.n_classes, n), y)
        return X.astype(np.float32), y.astype(np.int64)

    def windows(self, n_windows: int, window: int, seed: int):
        """Yield ``n_windows`` windows ``(X, y)`` of ``window`` instances, made on the fly.

        The same ``seed`` gives the same instances in the same order (one PCG64 generator
        for the whole stream, independent of what the consumer does with them).
        """
        rng = np.random.Generator(np.random.PCG64(int(seed)))
        for _ in range(int(n_windows)):
            yield self.draw(int(window), rng)

    def test_set(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A fixed held-out set of ``size`` instances (a function of ``task_seed`` alone)."""
        _int("test_size", size, 1)
        return self.draw(int(size), np.random.default_rng([int(self.task_seed), 0x7E57]))

    def nearest_mean_accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of the class of the nearest cluster mean: a reference near the Bayes rule
        (for isotropic noise of any scale the nearest mean is the most probable cluster)."""
        mu = self.means
        d2 = (X.astype(np.float64) ** 2).sum(1)[:, None] - 2 * X @ mu.T + (mu ** 2).sum(1)
        return float(np.mean(self.cluster_labels[np.argmin(d2, axis=1)] == y))


def _int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


# --- the method (configuration) ------------------------------------------------------------

@dataclass(frozen=True)
class NeuralSubsample(LoopMethod):
    """Streaming training of an MLP with a backward budget: the configuration of a run.

    [R] reconstruction (subsample spec 2.3): see the module docstring for the loop, the
    samplers and the timing. Every field is checked on construction (``ValueError`` naming
    the field and its allowed range).

    Parameters
    ----------
    sampler : {"full", "uniform", "waterfill", "selective_backprop", "top_k"}
    rho : float
        Backward budget per forward, in ``(0, 1]`` (``k = rho * n`` expected backward passes
        per window; ``"full"`` ignores it: ``rho = 1``).
    window : int
        Instances per window ``n >= 2`` (the fixed-size designs need ``round(rho n) >= 1``).
    hidden : tuple of int
        Hidden widths of the MLP (ReLU).
    optimizer : {"adam", "sgd"}
        Adam, or SGD with momentum 0.9.
    lr : float
        Learning rate, ``> 0``.
    refresh : int
        The serving copy is refreshed from the trained model every ``refresh >= 1`` windows.
    epsilon, alpha : float
        Water-filling knobs of :func:`simlab.subsample.scores` (epsilon-uniform mixing and the
        power), each in ``[0, 1]``.
    design : {"poisson", "systematic"}
        Water-filling's sampling design.
    uniform_design : {"poisson", "fixed"}
        Uniform's design: independent ``p_i = rho``, or exactly ``round(rho n)`` without
        replacement.
    sb_history : int
        Selective Backprop's loss history, in windows (``>= 1``).
    test_size : int
        Size of the fixed held-out test set, ``>= 1``.
    threads : int, optional
        ``torch.set_num_threads`` during the run (restored afterwards); ``None`` leaves it.
    """

    sampler: str = "waterfill"
    rho: float = 0.1
    window: int = 256
    hidden: tuple = (512, 512)
    optimizer: str = "adam"
    lr: float = 1e-3
    refresh: int = 10
    epsilon: float = 0.1
    alpha: float = 1.0
    design: str = "poisson"
    uniform_design: str = "poisson"
    sb_history: int = 10
    test_size: int = 10_000
    threads: int | None = None

    metrics: ClassVar[tuple] = ("test_acc", "test_loss", "instances", "backward",
                                "seconds_train", "seconds_serving", "seconds_total")
    axis: ClassVar[str] = "windows"
    label: ClassVar[str] = "neural subsample"
    provenance: ClassVar[str] = "R"

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        r = self.rho
        if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(float(r)) and 0.0 < float(r) <= 1.0):
            raise ValueError(f"rho must be in (0, 1] (backward passes per forward), got {r!r}")
        _int("window", self.window, 2)
        hidden = tuple(self.hidden) if isinstance(self.hidden, (tuple, list)) else None
        if not hidden or any(isinstance(h, bool) or not isinstance(h, (int, np.integer))
                             or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of integers >= 1, got "
                             f"{self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be finite and > 0, got {self.lr!r}")
        _int("refresh", self.refresh, 1)
        for name in ("epsilon", "alpha"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {v!r}")
        if self.design not in ("poisson", "systematic"):
            raise ValueError(f"design must be 'poisson' or 'systematic', got {self.design!r}")
        if self.uniform_design not in ("poisson", "fixed"):
            raise ValueError(f"uniform_design must be 'poisson' or 'fixed', got "
                             f"{self.uniform_design!r}")
        _int("sb_history", self.sb_history, 1)
        _int("test_size", self.test_size, 1)
        if self.threads is not None:
            _int("threads", self.threads, 1)
        fixed = (self.sampler == "top_k" or (self.sampler == "waterfill"
                                             and self.design == "systematic")
                 or (self.sampler == "uniform" and self.uniform_design == "fixed"))
        if fixed and round(float(r) * self.window) < 1:
            raise ValueError(f"rho * window = {float(r) * self.window:g} rounds to 0 backward "
                             f"passes per window; a fixed-size design needs rho * window >= "
                             f"0.5")

    @property
    def effective_rho(self) -> float:
        """``rho`` (1 for ``"full"``)."""
        return 1.0 if self.sampler == "full" else float(self.rho)

    @property
    def name(self) -> str:
        """``"waterfill (rho = 0.1)"``, ``"full"``."""
        return self.sampler if self.sampler == "full" else f"{self.sampler} (rho = {self.rho:g})"

    def validate(self, task: Task) -> None:
        """The task must be a :class:`MixtureStream` (the fields are checked on construction)."""
        if not isinstance(task, MixtureStream):
            raise ValueError(f"NeuralSubsample runs on a MixtureStream, got "
                             f"{type(task).__name__}")

    def run_replica(self, task: Task, streams: ReplicaStreams,
                    checkpoints: np.ndarray) -> np.ndarray:
        """One run over ``checkpoints[-1]`` windows (runner protocol): ``(K, metrics)``."""
        res = _run(task, self, int(checkpoints[-1]), np.asarray(checkpoints), streams)
        return np.stack([res.arrays()[m] for m in self.metrics], axis=1).astype(np.float64)

    def build_model(self, task: MixtureStream, seed: int) -> nn.Module:
        """The MLP, its weights a function of ``seed`` alone."""
        torch.manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)
        return MLP(task.dim, task.n_classes, hidden=self.hidden)


# --- per window: sampler, loss, trainer ----------------------------------------------------

class Selector:
    """The sampler of a :class:`NeuralSubsample`: recorded losses of a window -> a Sample.

    Parameters
    ----------
    method : NeuralSubsample
    rng : numpy.random.Generator
        The sampler's own stream.
    """

    def __init__(self, method: NeuralSubsample, rng: np.random.Generator):
        self.method = method
        self.rng = rng
        n = method.window
        self.n = n
        self.k = method.effective_rho * n
        self.k_int = max(1, round(self.k))
        self.history = (LossHistory(method.sb_history * n)
                        if method.sampler == "selective_backprop" else None)

    def probabilities(self, recorded: np.ndarray) -> np.ndarray | None:
        """Inclusion probabilities of the probability samplers (``None`` for the others)."""
        m = self.method
        if m.sampler == "uniform":
            return np.full(self.n, self.k / self.n)
        if m.sampler == "waterfill":
            k = self.k_int if m.design == "systematic" else self.k
            return inclusion_probabilities(recorded, k, epsilon=m.epsilon, alpha=m.alpha)
        return None

    def __call__(self, recorded: np.ndarray) -> Sample | None:
        """The selected instances and their weights (``None``: the whole window, weight 1)."""
        m, n = self.method, self.n
        if m.sampler == "full":
            return None
        if m.sampler == "uniform":
            if m.uniform_design == "fixed":
                idx = np.sort(self.rng.choice(n, self.k_int, replace=False))
                return Sample(idx.astype(np.int64), np.full(idx.size, n / self.k_int))
            return poisson(np.full(n, self.k / n), self.rng)
        if m.sampler == "waterfill":
            p = self.probabilities(recorded)
            if m.design == "systematic":
                return systematic(p, self.rng, shuffle=True)
            return poisson(p, self.rng)
        if m.sampler == "selective_backprop":
            self.history.extend(recorded)  # the reference code appends the current batch first
            beta = max(1.0 / m.rho - 1.0, 1e-12)
            s = selective_backprop(recorded, self.history.values, beta, self.rng)
            return Sample(s.indices, np.full(s.indices.size, 1.0 / m.rho))
        s = top_k(recorded, self.k_int)  # "top_k"
        return Sample(s.indices, np.full(s.indices.size, n / self.k_int))


def window_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                sample: Sample | None, n: int | None = None) -> torch.Tensor:
    """``(1/n) sum_{i in S} w_i l_i(theta)``: the training loss of one window.

    With Horvitz-Thompson weights ``w_i = 1/p_i`` it is unbiased for the window-mean loss
    ``(1/n) sum_i l_i(theta)`` (spec 2.3; divide by ``n``, not by ``sum w``). Only the selected
    rows ``X[S]`` go through ``model``.

    Parameters
    ----------
    model : torch.nn.Module
    X, y : torch.Tensor
        The window, ``(n, ...)`` and ``(n,)``.
    sample : Sample or None
        Selected indices and weights; ``None``: every instance with weight 1 (the mean loss).
    n : int, optional
        The window size (default ``len(y)``).

    Returns
    -------
    torch.Tensor
        A scalar (0 when nothing is selected).
    """
    n = int(y.shape[0]) if n is None else int(n)
    if sample is None:
        return F.cross_entropy(model(X), y)
    if sample.indices.size == 0:
        return torch.zeros((), dtype=X.dtype)
    idx = torch.from_numpy(np.ascontiguousarray(sample.indices, dtype=np.int64))
    w = torch.from_numpy(np.asarray(sample.weights, dtype=np.float64) / n).to(X.dtype)
    losses = F.cross_entropy(model(X[idx]), y[idx], reduction="none")
    return torch.dot(losses, w)


@torch.inference_mode()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
             chunk: int = EVAL_CHUNK) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` on ``(X, y)``."""
    correct, total = 0, 0.0
    for a in range(0, int(y.shape[0]), chunk):
        out = model(X[a:a + chunk])
        total += float(F.cross_entropy(out, y[a:a + chunk], reduction="sum"))
        correct += int((out.argmax(1) == y[a:a + chunk]).sum())
    return correct / int(y.shape[0]), total / int(y.shape[0])


@dataclass
class WindowStats:
    """What one window did: rows trained on, seconds, the largest coefficient ``w_i / n``."""

    backward: int
    seconds_serving: float
    seconds_train: float
    max_coef: float
    recorded_mean: float


class StreamTrainer:
    """The training system of one run: trained model, serving copy, optimiser and sampler.

    Parameters
    ----------
    method : NeuralSubsample
    model : torch.nn.Module
        The model in training (its serving copy is a deep copy).
    rng : numpy.random.Generator
        The sampler's stream.

    Attributes
    ----------
    model, serving : torch.nn.Module
        :meth:`step` passes only the selected rows through ``model`` (a forward hook on it
        sees exactly the training batches) and every row through ``serving``.
    """

    def __init__(self, method: NeuralSubsample, model: nn.Module, rng: np.random.Generator):
        self.method = method
        self.model = model
        self.serving = copy.deepcopy(model)
        self.serving.requires_grad_(False)
        self.select = Selector(method, rng)
        if method.optimizer == "adam":
            self.opt = torch.optim.Adam(model.parameters(), lr=method.lr)
        else:
            self.opt = torch.optim.SGD(model.parameters(), lr=method.lr, momentum=0.9)
        self.windows = 0

    def serve(self, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """The serving forward: the recorded loss of every instance (float64)."""
        with torch.inference_mode():
            rec = F.cross_entropy(self.serving(X), y, reduction="none")
        return rec.numpy().astype(np.float64)

    def step(self, X: torch.Tensor, y: torch.Tensor) -> WindowStats:
        """Serve, select, train on the selection, refresh the serving copy when due."""
        t0 = time.perf_counter()
        recorded = self.serve(X, y)
        t1 = time.perf_counter()
        sample = self.select(recorded)
        n = int(y.shape[0])
        rows = n if sample is None else int(sample.indices.size)
        if rows:
            self.model.train()
            loss = window_loss(self.model, X, y, sample, n)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.windows += 1
        if self.windows % self.method.refresh == 0:
            self.serving.load_state_dict(self.model.state_dict())
        t2 = time.perf_counter()
        coef = (1.0 / n if sample is None else
                float(sample.weights.max()) / n if rows else 0.0)
        return WindowStats(rows, t1 - t0, t2 - t1, coef, float(recorded.mean()))


# --- a run ---------------------------------------------------------------------------------

@dataclass
class SubsampleResult:
    """Metrics of one run at its checkpoints (numpy arrays, no pandas).

    Attributes
    ----------
    sampler : str
    rho : float
        The effective budget (1 for ``"full"``).
    seed : int
    windows : ndarray of int64, shape (K,)
        Windows done at each checkpoint (0: before training).
    instances : ndarray, shape (K,)
        Instances seen (served), ``windows * n``.
    backward : ndarray, shape (K,)
        Training forward/backward rows so far.
    seconds_train, seconds_serving, seconds_total : ndarray, shape (K,)
        Cumulative wall seconds without the serving forwards, of the serving forwards, and
        both.
    test_acc, test_loss : ndarray, shape (K,)
        On the fixed held-out set.
    stream_loss : ndarray, shape (K,)
        Mean recorded (serving) loss of the windows since the previous checkpoint: the
        progressive-validation loss of the stream (NaN at checkpoint 0).
    max_coef : ndarray, shape (K,)
        Largest per-instance loss coefficient ``w_i / n`` since the previous checkpoint
        (``1/n`` for full training; spec 2.3 asks to log the weights).
    info : dict
        Configuration, task, seeds, ``seconds_stream`` and ``seconds_eval``.
    """

    sampler: str
    rho: float
    seed: int
    windows: np.ndarray
    instances: np.ndarray
    backward: np.ndarray
    seconds_train: np.ndarray
    seconds_serving: np.ndarray
    seconds_total: np.ndarray
    test_acc: np.ndarray
    test_loss: np.ndarray
    stream_loss: np.ndarray
    max_coef: np.ndarray
    info: dict = field(default_factory=dict)

    _ARRAYS: ClassVar[tuple] = ("windows", "instances", "backward", "seconds_train",
                                "seconds_serving", "seconds_total", "test_acc", "test_loss",
                                "stream_loss", "max_coef")

    def arrays(self) -> dict[str, np.ndarray]:
        """``{name: array}`` of every per-checkpoint array."""
        return {k: getattr(self, k) for k in self._ARRAYS}

    def final(self, metric: str = "test_acc", tail: float = 0.1) -> float:
        """Mean of ``metric`` over the checkpoints in the last ``tail`` fraction of the windows
        (at least the last checkpoint)."""
        v = getattr(self, metric)
        keep = self.windows >= (1.0 - tail) * self.windows[-1]
        keep[-1] = True
        return float(np.mean(v[keep]))

    def time_to(self, target: float, metric: str = "test_acc", serving: bool = False,
                axis: str | None = None) -> float:
        """Seconds (or ``axis`` units) at the first checkpoint with ``metric >= target``.

        Parameters
        ----------
        target : float
        metric : str
        serving : bool
            Count the serving forwards (``seconds_total``) or not (``seconds_train``).
        axis : str, optional
            Another cumulative array instead of seconds (``"backward"``, ``"instances"``).

        Returns
        -------
        float
            ``inf`` if the target is never reached.
        """
        hit = np.flatnonzero(getattr(self, metric) >= target)
        if not hit.size:
            return math.inf
        x = getattr(self, axis) if axis else (self.seconds_total if serving
                                              else self.seconds_train)
        return float(x[hit[0]])


def checkpoint_windows(windows: int, checkpoints: int | np.ndarray) -> np.ndarray:
    """Checkpoint windows: ``checkpoints + 1`` evenly spaced points of ``[0, windows]`` for an
    int, or the given windows (sorted, unique, within ``[0, windows]``; 0 is always added)."""
    windows = _int("windows", windows, 1)
    if np.isscalar(checkpoints):
        c = _int("checkpoints", checkpoints, 1)
        cps = np.round(np.linspace(0, windows, c + 1)).astype(np.int64)
    else:
        cps = np.asarray(checkpoints, dtype=np.int64).ravel()
        if cps.size == 0 or cps.min() < 0 or cps.max() > windows:
            raise ValueError(f"checkpoints must lie in [0, windows = {windows}], got "
                             f"{checkpoints!r}")
    return np.unique(np.concatenate([[0], cps, [windows]]))


def run_subsample(task: MixtureStream, method: NeuralSubsample, instances: int | None = None,
                  windows: int | None = None, seed: int = 0,
                  checkpoints: int | np.ndarray = 20, progress: bool = False
                  ) -> SubsampleResult:
    """Train on a stream of ``instances`` (or ``windows`` windows) and record at checkpoints.

    Parameters
    ----------
    task : MixtureStream
    method : NeuralSubsample
    instances : int, optional
        Stream length; rounded up to whole windows (``ceil(instances / n)``).
    windows : int, optional
        Number of windows instead of ``instances`` (exactly one of the two).
    seed : int
        Run seed ``>= 0``: the stream, the initial weights and the sampler (see the module
        docstring; the same seed gives every sampler the same stream and initial weights).
    checkpoints : int or array of int
        An int: that many evenly spaced intervals; or the windows to record at.
    progress : bool
        A tqdm bar (only when stderr is a terminal).

    Returns
    -------
    SubsampleResult

    Raises
    ------
    ValueError
        Bad ``instances``/``windows``/``seed``/``checkpoints``, or a task that is not a
        :class:`MixtureStream`, before any work.
    """
    method.validate(task)
    if (instances is None) == (windows is None):
        raise ValueError("give exactly one of instances and windows")
    if instances is not None:
        windows = -(-_int("instances", instances, 1) // method.window)
    windows = _int("windows", windows, 1)
    seed = _int("seed", seed, 0)
    cps = checkpoint_windows(windows, checkpoints)
    return _run(task, method, windows, cps, ReplicaStreams(seed, 0), progress)


def _run(task: MixtureStream, method: NeuralSubsample, windows: int, cps: np.ndarray,
         streams: ReplicaStreams, progress: bool = False) -> SubsampleResult:
    """The loop of :func:`run_subsample` (and of :meth:`NeuralSubsample.run_replica`)."""
    prev_threads = torch.get_num_threads()
    if method.threads is not None:
        torch.set_num_threads(method.threads)
    try:
        return _loop(task, method, windows, cps, streams, progress)
    finally:
        torch.set_num_threads(prev_threads)


def _loop(task, method, windows, cps, streams, progress) -> SubsampleResult:
    n = method.window
    model = method.build_model(task, streams.key(STREAM_INIT))
    trainer = StreamTrainer(method, model, streams.generator(STREAM_SAMPLER))
    Xt, yt = task.test_set(method.test_size)
    Xt, yt = torch.from_numpy(Xt), torch.from_numpy(yt)
    K = cps.size
    out = {k: np.zeros(K) for k in SubsampleResult._ARRAYS}
    t_eval = t_stream = 0.0
    backward, s_train, s_serve = 0, 0.0, 0.0
    rec_sum, rec_count, max_coef = 0.0, 0, 0.0

    def record(j: int, w: int) -> None:
        nonlocal t_eval, rec_sum, rec_count, max_coef
        t0 = time.perf_counter()
        model.eval()
        acc, loss = evaluate(model, Xt, yt)
        t_eval += time.perf_counter() - t0
        vals = dict(windows=w, instances=w * n, backward=backward, seconds_train=s_train,
                    seconds_serving=s_serve, seconds_total=s_train + s_serve, test_acc=acc,
                    test_loss=loss, max_coef=max_coef)
        vals["stream_loss"] = rec_sum / rec_count if rec_count else math.nan
        for key, v in vals.items():
            out[key][j] = v
        rec_sum, rec_count, max_coef = 0.0, 0, 0.0

    nxt = 0
    if cps[0] == 0:
        record(0, 0)
        nxt = 1
    stream = task.windows(windows, n, streams.key(STREAM_DATA))
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=windows, desc=method.name, leave=False)
    for w in range(1, windows + 1):
        t0 = time.perf_counter()
        Xn, yn = next(stream)
        X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
        t_stream += time.perf_counter() - t0
        st = trainer.step(X, y)
        backward += st.backward
        s_train += st.seconds_train
        s_serve += st.seconds_serving
        rec_sum += st.recorded_mean
        rec_count += 1
        max_coef = max(max_coef, st.max_coef)
        if nxt < K and cps[nxt] == w:
            record(nxt, w)
            nxt += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    info = dict(task=repr(task), method=repr(method), seed=streams.seed,
                replica=streams.replica, window=n, windows=int(windows),
                k=method.effective_rho * n, seconds_stream=t_stream, seconds_eval=t_eval,
                threads=torch.get_num_threads(), torch=torch.__version__,
                nearest_mean_test_acc=task.nearest_mean_accuracy(Xt.numpy(), yt.numpy()))
    arrays = {k: (v.astype(np.int64) if k in ("windows", "instances", "backward") else v)
              for k, v in out.items()}
    return SubsampleResult(sampler=method.sampler, rho=method.effective_rho, seed=streams.seed,
                           info=info, **arrays)
