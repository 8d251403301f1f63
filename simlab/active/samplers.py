"""Batch samplers: which ``k`` unlabeled pool points to label next.

A sampler has ``select(k, X, unlabeled, model, rng) -> indices``: ``k`` distinct pool indices
taken from ``unlabeled``. Samplers **refuse** ``k`` larger than the unlabeled pool
(``ValueError`` naming both sizes) rather than cap it silently; the loop
(:mod:`simlab.active.loop`) only asks for batches that fit.
"""

from __future__ import annotations

import numpy as np

from simlab.active.learners import check_features

__all__ = ["Sampler", "RandomSampler", "MarginSampler", "embeddings", "margin_scores",
           "make_sampler"]


def embeddings(model, X) -> np.ndarray:
    """The embedding ``z(x)`` of the pool points ``X`` under ``model``.

    ``model.embed(X)`` when the learner has one (the penultimate layer of a neural learner,
    spec 2.2), else the features ``X`` themselves (a linear learner's input space).

    Returns
    -------
    ndarray, shape (n, D), finite float64

    Raises
    ------
    ValueError
        NaN or infinite embeddings.
    """
    Z = model.embed(X) if hasattr(model, "embed") else X
    return check_features(Z, "embeddings")


def margin_scores(proba) -> np.ndarray:
    """Margin ``s(x) = p_(1)(x) - p_(2)(x)``, the gap between the two largest class
    probabilities, in ``[0, 1]``; small means uncertain [spec 2.4, S].

    Parameters
    ----------
    proba : array_like, shape (n, C), C >= 2

    Returns
    -------
    ndarray, shape (n,)
    """
    P = np.asarray(proba, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"proba must have shape (n, C) with C >= 2, got {P.shape}")
    if not np.isfinite(P).all():
        raise ValueError("proba has NaN or infinite entries")
    top2 = -np.partition(-P, 1, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


def _check(k, X, unlabeled) -> tuple[int, np.ndarray]:
    U = np.asarray(unlabeled)
    if U.ndim != 1:
        raise ValueError(f"unlabeled must be a 1-D array of pool indices, got shape {U.shape}")
    if U.size and not np.issubdtype(U.dtype, np.integer):
        raise ValueError(f"unlabeled must hold integer indices, got dtype {U.dtype}")
    U = U.astype(np.int64)
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    k = int(k)
    if U.size == 0:
        raise ValueError("the unlabeled pool is empty: nothing left to select")
    n = X.shape[0]
    if U.min() < 0 or U.max() >= n:
        raise IndexError(f"unlabeled indices must lie in [0, {n})")
    if np.unique(U).size != U.size:
        raise ValueError("unlabeled indices must be distinct")
    if k > U.size:
        raise ValueError(f"k={k} is larger than the unlabeled pool ({U.size} points); "
                         f"samplers refuse rather than cap")
    return k, U


class Sampler:
    """Base class: ``select(k, X, unlabeled, model, rng) -> (k,) int64 pool indices``."""

    name = "?"

    def select(self, k: int, X, unlabeled, model, rng: np.random.Generator) -> np.ndarray:
        """Choose ``k`` distinct indices from ``unlabeled``.

        Parameters
        ----------
        k : int
            Batch size, ``1 <= k <= len(unlabeled)``.
        X : array_like, shape (n, d)
            The pool's features (finite).
        unlabeled : array_like of int
            Distinct pool indices still unlabeled.
        model
            The current learner (``predict_proba``), for model-based samplers.
        rng : numpy.random.Generator

        Raises
        ------
        ValueError
            ``k`` out of range or larger than the unlabeled pool, an empty pool, NaN
            features.
        """
        raise NotImplementedError  # pragma: no cover

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomSampler(Sampler):
    """Uniform without replacement over the unlabeled pool (passive learning)."""

    name = "random"

    def select(self, k: int, X, unlabeled, model, rng: np.random.Generator) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array, got shape {X.shape}")
        k, U = _check(k, X, unlabeled)
        return U[rng.choice(U.size, size=k, replace=False)]


class MarginSampler(Sampler):
    """The ``k`` unlabeled points of smallest margin ``p_(1) - p_(2)`` (top-k lowest margin).

    Ties are broken deterministically by pool index (the smaller index first): the batch is
    the first ``k`` of a stable sort by ``(margin, index)`` (the paper's tie-break is
    UNVERIFIED, spec 2.4). The result is ordered by increasing margin. The sampler draws no
    random numbers.
    """

    name = "margin"

    def select(self, k: int, X, unlabeled, model, rng: np.random.Generator) -> np.ndarray:
        X = check_features(X)
        k, U = _check(k, X, unlabeled)
        s = margin_scores(model.predict_proba(X[U]))
        order = np.lexsort((U, s))  # by margin, then by index
        return U[order[:k]]


#: Sampler names of :func:`make_sampler`: ``(module, class, options it takes)``.
SAMPLERS = {
    "random": ("simlab.active.samplers", "RandomSampler", ()),
    "margin": ("simlab.active.samplers", "MarginSampler", ()),
    "cluster_margin": ("simlab.active.cluster_margin", "ClusterMarginSampler",
                       ("km_ratio", "eps")),
    "coreset": ("simlab.active.diversity", "CoreSetSampler", ("partitions", "centers")),
    "badge": ("simlab.active.diversity", "BadgeSampler", ("partitions",)),
    "cmv_det": ("simlab.active.volume", "ClusterMarginVSampler", ("km_ratio",)),
    "cmv_cells": ("simlab.active.volume", "ClusterMarginVSampler", ("km_ratio",)),
}


def make_sampler(name: str | Sampler, **options) -> Sampler:
    """A sampler from its name (a key of :data:`SAMPLERS`) or the sampler itself.

    Parameters
    ----------
    name : str or Sampler
    **options
        Settings; each sampler takes those :data:`SAMPLERS` lists for it (``km_ratio``,
        ``eps``, ``partitions``, ``centers``) and ignores the others, so one set of loop
        settings serves every sampler.
    """
    if isinstance(name, Sampler):
        return name
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)} or a Sampler, got "
                         f"{name!r}")
    import importlib

    module, cls, takes = SAMPLERS[name]
    kw = {k: options[k] for k in takes if k in options}
    if name.startswith("cmv_"):
        kw["reading"] = name[4:]
    return getattr(importlib.import_module(module), cls)(**kw)
