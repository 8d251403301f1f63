"""The pool-based active-learning loop, directly and through the engine's runner protocol.

:func:`run_active` is the loop: label a uniformly random seed set, fit, then for each round
``select(k)`` from the unlabeled pool, query the oracle, refit, and record the labels used and
the model quality (test accuracy; with a known separator ``w*`` also the angle
``angle(w, w*)``, whose ``/ pi`` is the exact error under isotropic inputs, spec 4.4).

:class:`ActiveLearning` runs it as a :class:`~simlab.engine.model.LoopMethod`, so
``simlab.simulate(pool, ActiveLearning(...), steps=H, replicas=R, seed=s)`` returns a Trace on
the axis ``"labels queried"``: the horizon ``H`` is a number of labels, and the value at
checkpoint ``c`` is that of the last model fitted on at most ``c`` labels. Below the seed set
size no model has been fitted: the values are those of the unfitted learner (the uniform
distribution: the accuracy of always predicting class 0, and the angle ``pi/2``, the error
1/2 of a guess). :meth:`ActiveLearning.horizon` gives ``H`` for a number of rounds.

Streams of replica ``r`` (:class:`simlab.engine.runner.ReplicaStreams`): 0 draws the seed
set, 1 the sampler's randomness, 2 the oracle's noise, 3 the seed of a neural learner
(``learner="mlp"``: :class:`~simlab.active.neural_learner.MLPLearner`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simlab.active.diversity import check_coreset_centers
from simlab.active.learners import SoftmaxRegression, check_features
from simlab.active.pools import PoolTask
from simlab.active.samplers import SAMPLERS, Sampler, make_sampler
from simlab.engine.model import LoopMethod, Task
from simlab.oracles import BudgetExhausted, Oracle

__all__ = ["ActiveRun", "run_active", "ActiveLearning", "angle_to"]

#: ReplicaStreams sources used by :class:`ActiveLearning`.
SEED_SET_STREAM, SAMPLER_STREAM, ORACLE_STREAM, LEARNER_STREAM = 0, 1, 2, 3
#: The learners :class:`ActiveLearning` can fit.
LEARNERS = ("softmax", "mlp")


@dataclass
class ActiveRun:
    """The record of one loop run (index 0: the seed-set model; ``r``: after round ``r``).

    Attributes
    ----------
    labels : ndarray of int64, shape (rounds + 1,)
        Labels used by each fitted model (``n_seed + r * k``).
    test_acc : ndarray, shape (rounds + 1,)
    angle : ndarray or None
        ``angle(w, w*)`` in radians, when ``w_star`` was given.
    batches : list of ndarray
        The seed set, then each round's selected pool indices.
    info : dict
        What the sampler reports about itself: for Cluster-Margin the clustering's
        threshold ``eps``, its source (``"given"`` or ``"default"``), ``method`` and
        ``n_clusters``.
    """

    labels: np.ndarray
    test_acc: np.ndarray
    angle: np.ndarray | None
    batches: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def labeled(self) -> np.ndarray:
        """Every labeled pool index, in the order labeled."""
        return np.concatenate(self.batches) if self.batches else np.zeros(0, np.int64)


def angle_to(w, w_star) -> float:
    """``angle(w, w*)`` in ``[0, pi]``; ``pi/2`` for ``w`` zero or ``None`` (no model)."""
    if w is None:
        return float(np.pi / 2)
    w = np.asarray(w, dtype=np.float64)
    nw = np.linalg.norm(w)
    if nw == 0:
        return float(np.pi / 2)
    c = float(w @ w_star) / (nw * float(np.linalg.norm(w_star)))
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def _quality(learner, X_test, y_test, w_star):
    acc = float(np.mean(learner.predict(X_test) == y_test)) if hasattr(learner, "predict") \
        else float(np.mean(np.argmax(learner.predict_proba(X_test), axis=1) == y_test))
    ang = None if w_star is None else angle_to(learner.direction(), w_star)
    return acc, ang


def run_active(X, oracle: Oracle, learner, sampler: Sampler | str, n_seed: int, k: int,
               rounds: int, X_test, y_test, seed_rng: np.random.Generator,
               sampler_rng: np.random.Generator, w_star=None) -> ActiveRun:
    """Run the pool-based loop: seed set, then ``rounds`` rounds of select -> query -> fit.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The pool (finite).
    oracle : simlab.oracles.Oracle
        Over the same ``n`` points; its budget (if any) must cover ``n_seed + rounds * k``.
    learner
        ``fit(X, y)``, ``predict_proba(X)`` (e.g. :class:`SoftmaxRegression`); with
        ``w_star`` also ``direction()``.
    sampler : Sampler or str
        ``"random"``, ``"margin"`` or a :class:`~simlab.active.samplers.Sampler`.
    n_seed, k, rounds : int
        Seed set size ``>= 1``, batch size ``>= 1``, rounds ``>= 0``; together at most the
        pool size (``n_seed + rounds * k <= n``; the loop refuses otherwise).
    X_test, y_test : array_like
        Test set (true labels).
    seed_rng, sampler_rng : numpy.random.Generator
        Draw the seed set and the sampler's randomness.
    w_star : array_like, optional
        The true separator, to record the angle.

    Returns
    -------
    ActiveRun

    Raises
    ------
    ValueError
        Bad sizes, NaN features, a pool too small for the rounds, an oracle over another
        pool.
    simlab.oracles.BudgetExhausted
        If the oracle's remaining budget cannot cover the run (checked before any query).
    simlab.active.learners.MissingClassError
        A seed set without some class (from the softmax learner).
    """
    X = check_features(X, "X (the pool)")
    X_test = check_features(X_test, "X_test")
    y_test = np.asarray(y_test)
    for name, v, lo in (("n_seed", n_seed, 1), ("k", k, 1), ("rounds", rounds, 0)):
        if isinstance(v, bool) or int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    n_seed, k, rounds = int(n_seed), int(k), int(rounds)
    n = X.shape[0]
    if n == 0:
        raise ValueError("the pool is empty")
    if oracle.n != n:
        raise ValueError(f"the oracle covers {oracle.n} points, the pool has {n}")
    need = n_seed + rounds * k
    if need > n:
        raise ValueError(f"n_seed + rounds * k = {need} labels exceed the pool of {n} points")
    if oracle.remaining is not None and oracle.remaining < need:
        raise BudgetExhausted(oracle.budget, oracle.labels_used, need)
    sampler = make_sampler(sampler)

    mask = np.zeros(n, dtype=bool)
    seed_idx = np.sort(seed_rng.choice(n, size=n_seed, replace=False))
    y_lab = [oracle.query(seed_idx)]
    mask[seed_idx] = True
    batches = [seed_idx]
    learner.fit(X[seed_idx], y_lab[0])
    labels, accs, angs = [n_seed], [], []
    a, g = _quality(learner, X_test, y_test, w_star)
    accs.append(a)
    angs.append(g)
    for _ in range(rounds):
        batch = np.asarray(sampler.select(k, X, np.flatnonzero(~mask), learner, sampler_rng),
                           dtype=np.int64)
        if batch.size != k or np.unique(batch).size != k or mask[batch].any():
            raise RuntimeError(f"{sampler!r} returned an invalid batch (size {batch.size}, "
                               f"k={k}, duplicates or labeled points)")
        y_lab.append(oracle.query(batch))
        mask[batch] = True
        batches.append(batch)
        idx = np.concatenate(batches)
        learner.fit(X[idx], np.concatenate(y_lab))
        labels.append(labels[-1] + k)
        a, g = _quality(learner, X_test, y_test, w_star)
        accs.append(a)
        angs.append(g)
    info = {}
    c = getattr(sampler, "clustering", None)
    if c is not None:
        info = {"eps": c.eps, "eps_source": c.eps_source, "method": c.method,
                "n_clusters": c.n_clusters}
    return ActiveRun(labels=np.asarray(labels, dtype=np.int64), test_acc=np.asarray(accs),
                     angle=None if w_star is None else np.asarray(angs), batches=batches,
                     info=info)


@dataclass(frozen=True)
class ActiveLearning(LoopMethod):
    """Pool-based active learning with a softmax-regression or MLP learner (runner protocol).

    Parameters
    ----------
    sampler : str
        A name of :data:`simlab.active.samplers.SAMPLERS`: ``"random"``, ``"margin"``,
        ``"cluster_margin"``, ``"coreset"``, ``"badge"``, ``"cmv_det"``, ``"cmv_cells"``.
    k : int
        Batch size per round, ``>= 1``.
    n_seed : int
        Size of the uniformly random seed set, ``>= 1``.
    l2 : float
        Ridge strength of :class:`~simlab.active.learners.SoftmaxRegression`.
    budget : int, optional
        The oracle's label budget; rounds stop before a batch that would not fit (as they
        stop before one that the unlabeled pool cannot fill). Only whole batches are taken.
    record_angle : bool
        Also record ``angle`` (needs a task with ``w_star``, e.g. a
        :class:`~simlab.active.pools.LinearSeparatorPool`, and the softmax learner).
    learner : {"softmax", "mlp"}
        :class:`~simlab.active.learners.SoftmaxRegression` (``l2``) or
        :class:`~simlab.active.neural_learner.MLPLearner` (``hidden``, ``epochs``, ``lr``;
        needs torch; its seed comes from the replica's stream 3).
    hidden : int
        Hidden width of the MLP (one hidden layer), ``>= 1``.
    epochs : int
        Adam epochs of each MLP fit, ``>= 1``.
    lr : float
        Adam's learning rate for the MLP, ``> 0``.
    km_ratio : float
        ``k_m / k`` of Cluster-Margin and Cluster-MarginV, ``>= 1`` (10: the paper's Open
        Images setting; 1.25: CIFAR/SVHN [S, spec 2.6]).
    eps : float, optional
        Cluster-Margin's HAC threshold; default derived from the data
        (:func:`simlab.active.clustering.default_threshold`).
    partitions : int
        Random pool parts of CoreSet and BADGE (the paper's device for large batches,
        spec 3 [P]), ``>= 1``.
    coreset_centers : {"all", "part"}
        CoreSet's initial centers in each part (``centers`` of
        :class:`~simlab.active.diversity.CoreSetSampler`): the whole labeled set (the
        default) or the labeled points of the part (the whole pool partitioned).
    require_all_classes : bool
        The learner refuses a seed set that misses a class
        (:class:`~simlab.active.learners.MissingClassError`, the default); ``False`` lets it
        fit without them (their logits stay at the ridge's zero until labeled).

    Notes
    -----
    Metrics: ``labels`` (labels used by the recorded model), ``test_acc`` and, with
    ``record_angle``, ``angle`` (radians). Axis: ``"labels queried"``.
    """

    sampler: str = "margin"
    k: int = 10
    n_seed: int = 10
    l2: float = 1e-3
    budget: int | None = None
    record_angle: bool = False
    learner: str = "softmax"
    hidden: int = 32
    epochs: int = 30
    lr: float = 1e-2
    km_ratio: float = 10.0
    eps: float | None = None
    partitions: int = 1
    coreset_centers: str = "all"
    require_all_classes: bool = True
    axis = "labels queried"
    label = "active learning"
    provenance = "S"

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got "
                             f"{self.sampler!r}")
        if not (np.isfinite(self.km_ratio) and self.km_ratio >= 1):
            raise ValueError(f"km_ratio must be >= 1 (k_m >= k), got {self.km_ratio!r}")
        if self.eps is not None and not (np.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be None or a number > 0, got {self.eps!r}")
        p = self.partitions
        if isinstance(p, bool) or int(p) != p or p < 1:
            raise ValueError(f"partitions must be an integer >= 1, got {p!r}")
        check_coreset_centers(self.coreset_centers, "coreset_centers")
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {LEARNERS}, got {self.learner!r}")
        for name, lo in (("k", 1), ("n_seed", 1), ("hidden", 1), ("epochs", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not (np.isfinite(self.l2) and self.l2 > 0):
            raise ValueError(f"l2 must be > 0, got {self.l2!r}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.record_angle and self.learner != "softmax":
            raise ValueError(f"record_angle needs a linear learner (learner='softmax'); the "
                             f"{self.learner!r} learner has no direction")
        b = self.budget
        if b is not None and (isinstance(b, bool) or int(b) != b or b < 0):
            raise ValueError(f"budget must be None or an integer >= 0, got {b!r}")

    @classmethod
    def examples(cls) -> list:
        """Small instances for the engine's conformance checks (horizons of about 12
        labels: a seed set of 9-10 labels, then rounds of 1 or 2 labels; one stops at a
        budget; Cluster-Margin; the MLP learner where torch is installed)."""
        import importlib.util

        out = [cls(sampler="margin", k=1, n_seed=10),
               cls(sampler="random", k=1, n_seed=9, budget=11, record_angle=True),
               cls(sampler="cluster_margin", k=2, n_seed=10, km_ratio=2.0)]
        if importlib.util.find_spec("torch") is not None:  # the MLP learner needs torch
            out.append(cls(sampler="margin", k=2, n_seed=10, learner="mlp", hidden=4,
                           epochs=3))
        return out

    @property
    def metrics(self) -> tuple:  # type: ignore[override]
        """``("labels", "test_acc")``, plus ``"angle"`` with ``record_angle``, plus ``"eps"``
        (the replica's HAC threshold; 0 when no round ran, so nothing was clustered) for
        Cluster-Margin."""
        return ("labels", "test_acc") + (("angle",) if self.record_angle else ()) + \
            (("eps",) if self.sampler == "cluster_margin" else ())

    @property
    def name(self) -> str:
        tag = "" if self.learner == "softmax" else f", {self.learner}"
        return f"{self.sampler} (k={self.k}{tag})"

    def horizon(self, rounds: int) -> int:
        """The label horizon of ``rounds`` rounds: ``n_seed + rounds * k``."""
        return self.n_seed + int(rounds) * self.k

    def validate(self, task: Task) -> None:
        """The task must be a pool task large enough for the seed set (within the budget),
        with ``w_star`` when the angle is recorded; the MLP learner needs torch."""
        if not isinstance(task, PoolTask):
            raise ValueError(f"ActiveLearning runs on a pool task (simlab.active.pools), got "
                             f"{type(task).__name__}")
        if self.learner == "mlp":
            import importlib.util

            if importlib.util.find_spec("torch") is None:
                raise ValueError("learner='mlp' needs torch (pip install torch); use "
                                 "learner='softmax' without it")
        D = task.data()
        cap = D.X.shape[0] if self.budget is None else min(D.X.shape[0], self.budget)
        if self.n_seed > cap:
            raise ValueError(f"n_seed={self.n_seed} exceeds the pool ({D.X.shape[0]}) or the "
                             f"budget ({self.budget})")
        if self.record_angle and D.w_star is None:
            raise ValueError(f"record_angle needs a task with a true separator w_star; "
                             f"{type(task).__name__} has none")

    def rounds_for(self, task: PoolTask, horizon: int) -> int:
        """Whole rounds that fit in ``horizon`` labels, the pool and the budget."""
        n = task.data().X.shape[0]
        cap = n if self.budget is None else min(n, self.budget)
        return max(0, (min(int(horizon), cap) - self.n_seed) // self.k)

    def make_sampler(self) -> Sampler:
        """A fresh sampler with this loop's settings (one per replica: Cluster-Margin
        clusters each replica's embedded pool once)."""
        return make_sampler(self.sampler, km_ratio=self.km_ratio, eps=self.eps,
                            partitions=self.partitions, centers=self.coreset_centers)

    def make_learner(self, task: PoolTask, streams=None):
        """A fresh, unfitted learner for ``task`` (the MLP's seed from the replica's stream
        :data:`LEARNER_STREAM`, or 0 without ``streams``)."""
        C = task.data().n_classes
        if self.learner == "softmax":
            return SoftmaxRegression(C, l2=self.l2,
                                     require_all_classes=self.require_all_classes)
        from simlab.active.neural_learner import MLPLearner

        seed = 0 if streams is None else int(
            streams.generator(LEARNER_STREAM).integers(2 ** 31))
        return MLPLearner(C, hidden=self.hidden, epochs=self.epochs, lr=self.lr, seed=seed,
                          require_all_classes=self.require_all_classes)

    def run(self, task: PoolTask, streams, rounds: int) -> ActiveRun:
        """Run ``rounds`` rounds directly with a replica's streams
        (:class:`~simlab.engine.runner.ReplicaStreams`)."""
        D = task.data()
        oracle = task.oracle(streams.generator(ORACLE_STREAM), budget=self.budget)
        return run_active(D.X, oracle, self.make_learner(task, streams), self.make_sampler(),
                          self.n_seed, self.k, rounds, D.X_test, D.y_test,
                          streams.generator(SEED_SET_STREAM), streams.generator(SAMPLER_STREAM),
                          w_star=D.w_star if self.record_angle else None)

    def run_replica(self, task: Task, streams, checkpoints: np.ndarray) -> np.ndarray:
        """One replica over the label horizon ``checkpoints[-1]`` (runner protocol)."""
        cps = np.asarray(checkpoints, dtype=np.int64)
        H = int(cps[-1])
        D = task.data()
        out = np.empty((cps.size, len(self.metrics)))
        # the unfitted learner: below the seed set size
        acc0, ang0 = _quality(self.make_learner(task), D.X_test, D.y_test,
                              D.w_star if self.record_angle else None)
        out[:, 0], out[:, 1] = 0.0, acc0
        if self.record_angle:
            out[:, 2] = ang0
        if H >= self.n_seed:
            res = self.run(task, streams, self.rounds_for(task, H))
            j = np.searchsorted(res.labels, cps, side="right") - 1
            ok = j >= 0
            out[ok, 0] = res.labels[j[ok]]
            out[ok, 1] = res.test_acc[j[ok]]
            if self.record_angle:
                out[ok, 2] = res.angle[j[ok]]
        if self.sampler == "cluster_margin":  # the replica's threshold (0: never clustered)
            out[:, -1] = res.info.get("eps", 0.0) if H >= self.n_seed else 0.0
        return out
