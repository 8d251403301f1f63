"""Pool tasks of the active-learning loop: a fixed unlabeled pool, a test set and an oracle.

A pool task is a frozen dataclass (a :class:`simlab.engine.model.Task` serving loop methods
only); its arrays are a deterministic function of its fields (``seed`` included) and are
built once per instance (:meth:`PoolTask.data`). The replicas of a run share the pool; they
differ in the seed set, the sampler's draws and the oracle's noise draws.

- :class:`LinearSeparatorPool`: the synthetic setting of spec section 8.1: ``x ~ N(0, I_d)``
  (or uniform on the sphere ``S^{d-1}``), a hidden separator ``w*`` uniform on the sphere,
  labels ``1[w*.x > 0]``; the error of a linear ``w`` is exactly ``angle(w, w*) / pi``
  [spec 4.4].
- :class:`GaussianMixturePool`: ``C`` isotropic Gaussian classes with random means at a given
  separation (a multi-class pool with a softmax-friendly Bayes rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simlab.engine.model import Task
from simlab.oracles import ExactOracle, MassartOracle, Oracle, TsybakovOracle
from simlab.tasks._validate import check_int

__all__ = ["PoolData", "PoolTask", "LinearSeparatorPool", "GaussianMixturePool", "DuplicatedPool"]

NOISES = ("none", "massart", "tsybakov")


@dataclass(frozen=True)
class PoolData:
    """The arrays of a pool task.

    Attributes
    ----------
    X, y : ndarray
        Pool features ``(n_pool, d)`` and true labels ``(n_pool,)``.
    X_test, y_test : ndarray
        Test features and true (noise-free) labels.
    n_classes : int
    w_star : ndarray or None
        The hidden unit separator (linear-separator pools only).
    margins : ndarray or None
        ``w*.x`` of the pool points (linear-separator pools only).
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    w_star: np.ndarray | None = None
    margins: np.ndarray | None = None


class PoolTask(Task):
    """Base class of pool tasks: :meth:`data` and :meth:`oracle` (subclasses: dataclasses
    with fields ``n_pool``, ``noise``, ``eta``, ``tau``, ``kappa``, ``seed``)."""

    family: ClassVar[str] = "pool"

    def _check_mixture(self, counts: dict) -> None:
        """The checks of the mixture pools: integer sizes (``counts``: name -> minimum), the
        seed, ``sep > 0``, no Tsybakov noise (they have no margins), the noise settings."""
        for name, lo in {**counts, "seed": 0}.items():
            check_int(name, getattr(self, name), lo)
        if not (np.isfinite(self.sep) and self.sep > 0):
            raise ValueError(f"sep must be > 0, got {self.sep!r}")
        if self.noise == "tsybakov":
            raise ValueError(f"{type(self).__name__} supports noise 'none' or 'massart'")
        self._check_noise()

    def _check_noise(self) -> None:
        if self.noise not in NOISES:
            raise ValueError(f"noise must be one of {NOISES}, got {self.noise!r}")
        if self.noise == "massart" and not (0 <= self.eta < 0.5):
            raise ValueError(f"eta must lie in [0, 1/2) for Massart noise, got {self.eta!r}")
        if self.noise == "tsybakov" and not (self.tau > 0 and self.kappa > 0):
            raise ValueError(f"tau and kappa must be > 0, got tau={self.tau!r}, "
                             f"kappa={self.kappa!r}")

    def data(self) -> PoolData:
        """The pool, test set and truth (built once per instance)."""
        cached = self.__dict__.get("_data")
        if cached is None:
            cached = self._build()
            for a in (cached.X, cached.y, cached.X_test, cached.y_test):
                a.setflags(write=False)
            object.__setattr__(self, "_data", cached)
        return cached

    def _build(self) -> PoolData:  # pragma: no cover - abstract
        raise NotImplementedError

    def dims(self) -> dict[str, int]:
        """``{"n": n_pool, "d": dim, "classes": C}``."""
        D = self.data()
        return {"n": int(D.X.shape[0]), "d": int(D.X.shape[1]), "classes": int(D.n_classes)}

    def oracle(self, seed: int | np.random.Generator = 0, budget: int | None = None) -> Oracle:
        """A fresh oracle over the pool with this task's noise model (see
        :mod:`simlab.oracles`); ``seed`` drives its noise draws."""
        D = self.data()
        if self.noise == "none":
            return ExactOracle(D.y, n_classes=D.n_classes, budget=budget, seed=seed)
        if self.noise == "massart":
            return MassartOracle(D.y, self.eta, n_classes=D.n_classes, budget=budget,
                                 seed=seed)
        if D.margins is None:
            raise ValueError(f"{type(self).__name__} has no margins for Tsybakov noise")
        return TsybakovOracle(D.y, D.margins, self.tau, self.kappa, n_classes=D.n_classes,
                              budget=budget, seed=seed)


@dataclass(frozen=True)
class LinearSeparatorPool(PoolTask):
    """Isotropic inputs with a hidden linear separator (spec 8.1).

    Parameters
    ----------
    d : int
        Dimension, ``>= 2``.
    n_pool, n_test : int
        Pool and test sizes, ``>= 1``.
    inputs : {"gaussian", "sphere"}
        ``x ~ N(0, I_d)`` or uniform on ``S^{d-1}`` (a normalised Gaussian).
    noise : {"none", "massart", "tsybakov"}
        The oracle's noise (:mod:`simlab.oracles`); the test labels are always exact.
    eta : float
        Massart flip rate, ``[0, 1/2)``.
    tau, kappa : float
        Tsybakov band width and exponent (``flip = 1/2 (1 - min(1, (|w*.x|/tau)^kappa))``).
    seed : int
        Seed of the pool, the test set and ``w*``.
    """

    d: int = 5
    n_pool: int = 2000
    n_test: int = 2000
    inputs: str = "gaussian"
    noise: str = "none"
    eta: float = 0.0
    tau: float = 0.1
    kappa: float = 1.0
    seed: int = 0
    family: ClassVar[str] = "linear-separator pool"

    def __post_init__(self):
        check_int("d", self.d, 2)
        check_int("n_pool", self.n_pool, 1)
        check_int("n_test", self.n_test, 1)
        check_int("seed", self.seed, 0)
        if self.inputs not in ("gaussian", "sphere"):
            raise ValueError(f"inputs must be 'gaussian' or 'sphere', got {self.inputs!r}")
        self._check_noise()

    @classmethod
    def examples(cls) -> list:
        """Tiny instances for the engine's conformance checks (two classes, so that a
        seed set of 9-10 labels holds both with near certainty)."""
        return [cls(d=3, n_pool=120, n_test=200, seed=1),
                cls(d=2, n_pool=80, n_test=150, inputs="sphere", noise="tsybakov", tau=0.3,
                    kappa=1.0, seed=2)]

    def _build(self) -> PoolData:
        rng = np.random.default_rng([int(self.seed), 8_1])
        w = rng.standard_normal(self.d)
        w /= np.linalg.norm(w)
        X = rng.standard_normal((self.n_pool + self.n_test, self.d))
        if self.inputs == "sphere":
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        m = X @ w
        y = (m > 0).astype(np.int64)
        n = self.n_pool
        return PoolData(X[:n], y[:n], X[n:], y[n:], 2, w_star=w, margins=m[:n].copy())


def _mixture(rng: np.random.Generator, C: int, d: int, sep: float,
             n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced draws of ``C`` unit-variance Gaussian classes whose means are standard
    normal vectors scaled to norm ``sep`` (class ``c``: the examples ``i % C == c`` before a
    shuffle)."""
    mu = rng.standard_normal((C, d))
    mu *= sep / np.linalg.norm(mu, axis=1, keepdims=True)
    y = np.arange(n, dtype=np.int64) % C
    rng.shuffle(y)
    return mu[y] + rng.standard_normal((n, d)), y


@dataclass(frozen=True)
class GaussianMixturePool(PoolTask):
    """``C`` isotropic unit-variance Gaussian classes with balanced class sizes.

    The class means are ``sep`` times independent standard-normal vectors scaled to norm 1
    (so the mean spacing grows with ``sep``); class ``c`` holds the examples ``i`` with
    ``i % C == c`` before a seeded shuffle.

    Parameters
    ----------
    d : int
        Dimension, ``>= 1``.
    n_classes : int
        ``C >= 2``.
    n_pool, n_test : int
        ``>= 1``.
    sep : float
        Norm of the class means, ``> 0``.
    noise : {"none", "massart"}
        Oracle noise; Massart flips go to a uniformly random other class
        (``eta < 1/2`` here).
    eta : float
    seed : int
    """

    d: int = 5
    n_classes: int = 3
    n_pool: int = 2000
    n_test: int = 2000
    sep: float = 2.0
    noise: str = "none"
    eta: float = 0.0
    tau: float = 0.1
    kappa: float = 1.0
    seed: int = 0
    family: ClassVar[str] = "gaussian-mixture pool"

    def __post_init__(self):
        self._check_mixture({"d": 1, "n_classes": 2, "n_pool": 1, "n_test": 1})

    @classmethod
    def examples(cls) -> list:
        """A tiny instance for the engine's conformance checks (two classes: the checks'
        horizon of 12 labels leaves seed sets too small to hold three classes reliably)."""
        return [cls(d=4, n_classes=2, n_pool=150, n_test=200, sep=1.5, noise="massart",
                    eta=0.1, seed=3)]

    def _build(self) -> PoolData:
        rng = np.random.default_rng([int(self.seed), 8_2])
        X, y = _mixture(rng, self.n_classes, self.d, self.sep, self.n_pool + self.n_test)
        k = self.n_pool
        return PoolData(X[:k], y[:k], X[k:], y[k:], int(self.n_classes))


@dataclass(frozen=True)
class DuplicatedPool(PoolTask):
    """A Gaussian-mixture pool with near-duplicates: the large-batch setting (spec 8.3 item 2).

    ``n_base`` base points are drawn as in :class:`GaussianMixturePool` (``C`` classes of
    unit-variance Gaussians with means of norm ``sep``); each is repeated ``copies`` times
    with isotropic jitter of standard deviation ``jitter`` (the copies keep the base point's
    label), mimicking web-scale redundancy, where top-k Margin spends a batch on copies of a
    few uncertain points. The test set is ``n_test`` fresh draws of the mixture (no copies).

    Parameters
    ----------
    d : int
        Dimension, ``>= 1``.
    n_classes : int
        ``C >= 2``.
    n_base, copies, n_test : int
        ``>= 1``; the pool has ``n_base * copies`` points.
    sep : float
        Norm of the class means, ``> 0``.
    jitter : float
        Standard deviation of the copies around their base point, ``>= 0``.
    noise, eta : str, float
        Oracle noise (``"none"`` or ``"massart"``).
    seed : int
    """

    d: int = 10
    n_classes: int = 10
    n_base: int = 2000
    copies: int = 10
    n_test: int = 2000
    sep: float = 3.0
    jitter: float = 0.05
    noise: str = "none"
    eta: float = 0.0
    tau: float = 0.1
    kappa: float = 1.0
    seed: int = 0
    family: ClassVar[str] = "near-duplicate pool"

    def __post_init__(self):
        self._check_mixture({"d": 1, "n_classes": 2, "n_base": 1, "copies": 1, "n_test": 1})
        if not (np.isfinite(self.jitter) and self.jitter >= 0):
            raise ValueError(f"jitter must be >= 0, got {self.jitter!r}")

    @classmethod
    def examples(cls) -> list:
        """A tiny instance for the engine's conformance checks (two classes)."""
        return [cls(d=3, n_classes=2, n_base=40, copies=4, n_test=150, sep=2.0, seed=5)]

    def _build(self) -> PoolData:
        rng = np.random.default_rng([int(self.seed), 8_5])
        X, y = _mixture(rng, self.n_classes, self.d, self.sep, self.n_base + self.n_test)
        base, yb = X[:self.n_base], y[:self.n_base]
        Xp = np.repeat(base, self.copies, axis=0)
        Xp += self.jitter * rng.standard_normal(Xp.shape)
        yp = np.repeat(yb, self.copies)
        perm = rng.permutation(Xp.shape[0])
        return PoolData(Xp[perm], yp[perm], X[self.n_base:], y[self.n_base:],
                        int(self.n_classes))
