"""Label oracles: exact and noisy labels, query accounting and budgets.

An oracle holds the true labels of a pool of ``n`` examples and answers batch queries
``oracle.query(indices) -> labels``. Every distinct example is billed once: a repeated query
(in a later batch or twice in the same batch) returns the cached label, neither re-drawn nor
re-billed, so ``oracle.labels_used`` is the number of distinct examples ever labeled. With a
``budget``, a batch that would take ``labels_used`` past it is refused as a whole with
:class:`BudgetExhausted` and leaves the oracle's state unchanged.

Noise (spec ``cluster_margin.md`` section 8.1; an extension, the paper's coverage is
UNVERIFIED). Example ``i`` is flipped with probability ``eta_i`` to a uniformly random *other*
class (for two classes: to the other class):

- :class:`ExactOracle`: ``eta_i = 0``.
- :class:`MassartOracle`: bounded (Massart) noise, ``eta_i = eta`` with
  ``0 <= eta < 1 - 1/C`` (``< 1/2`` for ``C = 2``), so the true class stays the most likely
  answer.
- :class:`TsybakovOracle`: noise that grows near the boundary,
  ``eta_i = (1 - 1/C) * (1 - min(1, (|m_i| / tau) ** kappa))`` for the example's margin
  ``m_i`` (e.g. ``w*.x``). For ``C = 2`` this is the spec's
  ``1/2 * (1 - min(1, (|w*.x| / tau)^kappa))`` [spec 8.1, reconstructed]: the label is a
  fair coin on the boundary and exact beyond ``|m| >= tau``; larger ``kappa`` keeps the noise
  high further from the boundary.

Seeds. The flip coin and the replacement class of every example are drawn once, at
construction, from the given seed (a numpy ``Generator`` or an int), as two uniforms per pool
example. So a label depends on the seed and the example only, not on the order or batching of
the queries, and a replay with the same seed is exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BudgetExhausted", "Oracle", "ExactOracle", "MassartOracle", "TsybakovOracle"]


class BudgetExhausted(RuntimeError):
    """A query that would bill more labels than the oracle's budget allows.

    Attributes
    ----------
    budget, used, requested : int
        The budget, the labels billed so far, the new (not yet billed) examples asked for.
    """

    def __init__(self, budget: int, used: int, requested: int):
        self.budget, self.used, self.requested = int(budget), int(used), int(requested)
        super().__init__(f"label budget exhausted: {requested} new label(s) requested, "
                         f"{used} of the budget {budget} already used "
                         f"({budget - used} left); the query was refused and nothing billed")


class Oracle:
    """Base class of a label oracle over a pool of ``n`` examples.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        The true labels, in ``0..n_classes-1``.
    n_classes : int, optional
        Number of classes ``C >= 2`` (default: ``max(labels) + 1``, at least 2).
    budget : int, optional
        At most this many distinct examples are billed (``None``: no limit). ``>= 0``.
    seed : int or numpy.random.Generator, optional
        The source of the noise draws (default 0).

    Attributes
    ----------
    labels_used : int
        Distinct examples billed so far.
    n_queries : int
        Calls of :meth:`query` that were answered (refused ones are not counted).
    """

    def __init__(self, labels, n_classes: int | None = None, budget: int | None = None,
                 seed: int | np.random.Generator = 0):
        y = np.asarray(labels)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) \
                    or np.any(y != np.round(y)):
                raise ValueError("labels must be integers (class indices)")
        y = y.astype(np.int64)
        if y.min() < 0:
            raise ValueError(f"labels must be >= 0, got min {y.min()}")
        C = max(int(y.max()) + 1, 2) if n_classes is None else n_classes
        if isinstance(C, bool) or int(C) != C or C < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        C = int(C)
        if y.max() >= C:
            raise ValueError(f"labels must be < n_classes={C}, got max {y.max()}")
        if budget is not None:
            if isinstance(budget, bool) or int(budget) != budget or budget < 0:
                raise ValueError(f"budget must be None or an integer >= 0, got {budget!r}")
            budget = int(budget)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.true_labels = y
        self.true_labels.setflags(write=False)
        self.n_classes = C
        self.budget = budget
        self.labels_used = 0
        self.n_queries = 0
        self._queried = np.zeros(y.size, dtype=bool)
        u = rng.random((2, y.size))
        flip = u[0] < self.flip_probabilities()
        # a uniformly random class other than the true one: shift by 1..C-1 (mod C)
        shift = 1 + np.minimum((u[1] * (C - 1)).astype(np.int64), C - 2)
        self._answers = np.where(flip, (y + shift) % C, y)
        self._answers.setflags(write=False)

    @property
    def n(self) -> int:
        """Pool size."""
        return int(self.true_labels.size)

    @property
    def remaining(self) -> int | None:
        """Labels left in the budget (``None``: no budget)."""
        return None if self.budget is None else self.budget - self.labels_used

    @property
    def queried(self) -> np.ndarray:
        """Boolean mask of the examples billed so far (a copy)."""
        return self._queried.copy()

    def flip_probabilities(self) -> np.ndarray:
        """``eta_i``, the probability that example ``i``'s answer is not its true label."""
        return np.zeros(self.n)

    def _indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.ndim != 1:
            raise ValueError(f"indices must be a 1-D sequence, got shape {idx.shape}")
        if idx.size == 0:
            return idx.astype(np.int64)
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        bad = (idx < 0) | (idx >= self.n)
        if bad.any():
            raise IndexError(f"indices must lie in [0, {self.n}), got {int(idx[bad][0])}")
        return idx

    def cost(self, indices) -> int:
        """Labels that :meth:`query` would bill for ``indices`` (distinct, not yet billed)."""
        idx = self._indices(indices)
        return int(np.unique(idx[~self._queried[idx]]).size)

    def query(self, indices) -> np.ndarray:
        """The (possibly noisy) labels of ``indices``, in their order.

        Parameters
        ----------
        indices : array_like of int
            Pool indices in ``[0, n)``; repeats allowed (billed once).

        Returns
        -------
        ndarray of int64
            The answers; the same example always gets the same answer.

        Raises
        ------
        IndexError
            An index out of range.
        ValueError
            Indices that are not a 1-D integer sequence.
        BudgetExhausted
            If the new examples would exceed the budget (nothing is billed then).
        """
        idx = self._indices(indices)
        new = np.unique(idx[~self._queried[idx]])
        if self.budget is not None and self.labels_used + new.size > self.budget:
            raise BudgetExhausted(self.budget, self.labels_used, new.size)
        self._queried[new] = True
        self.labels_used += int(new.size)
        self.n_queries += 1
        return self._answers[idx].copy()


class ExactOracle(Oracle):
    """The true labels (no noise). Parameters as :class:`Oracle`."""


class MassartOracle(Oracle):
    """Bounded (Massart) noise: every answer is flipped with probability ``eta``.

    Parameters
    ----------
    labels, n_classes, budget, seed
        As :class:`Oracle`.
    eta : float
        ``0 <= eta < 1 - 1/n_classes`` (``< 1/2`` for two classes) [spec 8.1].
    """

    def __init__(self, labels, eta: float, n_classes: int | None = None,
                 budget: int | None = None, seed: int | np.random.Generator = 0):
        self.eta = float(eta)
        if not np.isfinite(self.eta) or self.eta < 0:
            raise ValueError(f"eta must lie in [0, 1 - 1/C), got {eta!r}")
        super().__init__(labels, n_classes=n_classes, budget=budget, seed=seed)
        C = self.n_classes
        if not self.eta < 1.0 - 1.0 / C:
            raise ValueError(f"eta must lie in [0, 1 - 1/C) = [0, {1 - 1 / C:g}) for C={C} "
                             f"classes, got {eta!r}")

    def flip_probabilities(self) -> np.ndarray:
        return np.full(self.n, self.eta)


class TsybakovOracle(Oracle):
    """Noise that grows toward the decision boundary (Tsybakov-style).

    ``eta_i = (1 - 1/C) * (1 - min(1, (|m_i| / tau) ** kappa))``; for two classes the spec's
    ``1/2 (1 - min(1, (|w*.x|/tau)^kappa))`` [spec 8.1, reconstructed].

    Parameters
    ----------
    labels, n_classes, budget, seed
        As :class:`Oracle`.
    margins : array_like of float, shape (n,)
        The examples' margins ``m_i`` (e.g. ``w*.x``; only ``|m_i|`` matters), finite.
    tau : float
        Width of the noisy band, ``> 0``.
    kappa : float
        Shape exponent, ``> 0``.
    """

    def __init__(self, labels, margins, tau: float, kappa: float = 1.0,
                 n_classes: int | None = None, budget: int | None = None,
                 seed: int | np.random.Generator = 0):
        m = np.asarray(margins, dtype=np.float64)
        if m.shape != np.shape(labels):
            raise ValueError(f"margins must have the shape of labels {np.shape(labels)}, got "
                             f"{m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError("margins must be finite (got NaN or inf)")
        if not (np.isfinite(tau) and tau > 0):
            raise ValueError(f"tau must be > 0, got {tau!r}")
        if not (np.isfinite(kappa) and kappa > 0):
            raise ValueError(f"kappa must be > 0, got {kappa!r}")
        self.margins, self.tau, self.kappa = m, float(tau), float(kappa)
        super().__init__(labels, n_classes=n_classes, budget=budget, seed=seed)

    def flip_probabilities(self) -> np.ndarray:
        r = np.minimum(1.0, (np.abs(self.margins) / self.tau) ** self.kappa)
        return (1.0 - 1.0 / self.n_classes) * (1.0 - r)
