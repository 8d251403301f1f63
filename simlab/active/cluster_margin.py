"""Cluster-Margin (spec 2.5, "Algorithm 2"): low-margin candidates, random round-robin over
their HAC clusters, smallest group first.

Each round: score the unlabeled points by margin, keep the ``k_m`` of smallest margin (the
candidates ``M``), group them by their cluster (computed **once** per pool, spec 2.1; the
group size is the number of members **inside** ``M``), order the groups by size, ascending,
and fill the batch of ``k_t`` points by a random round-robin: one uniformly random member of
each group in turn, cyclically, skipping exhausted groups [S, consistent across >= 5
implementations]. Ties among groups of equal size are broken by a permutation of the group
ids drawn once per round (spec 2.7: the paper's tie-break is UNVERIFIED; simlab's choice).

Two implementations draw the same random numbers and return the same batch, in the same
order: :func:`round_robin_loop` (the cyclic loop of the spec, the reference) and
:func:`round_robin` (vectorised: order the candidates by ``(within-group rank, group
position)``, spec 8.4 item 4). :func:`cluster_margin_batch` is the whole step on arrays;
:class:`ClusterMarginSampler` is the pool-loop sampler, which clusters the embedded pool on
its first call (:func:`simlab.active.clustering.cluster_pool`, cached on disk) and reuses
the clustering in every later round.

Bad input: ``k_t > k_m`` is refused (``ValueError``); ``k_m`` larger than the unlabeled
pool is **capped** to it with a :class:`UserWarning` (the batch still fits when ``k_t`` does,
and ``k_m = |U|`` is the spec's "margin plays no role" case, 2.7); ``k_t`` larger than the
unlabeled pool, an empty pool, NaN embeddings and a threshold that is not positive are
refused.
"""

from __future__ import annotations

import warnings

import numpy as np

from simlab.active.clustering import Clustering, check_threshold, cluster_pool
from simlab.active.samplers import Sampler, _check, embeddings, margin_scores
from simlab.tasks._validate import check_int

__all__ = ["ClusterMarginSampler", "cluster_margin_batch", "draw_order", "lowest_k",
           "round_robin", "round_robin_loop"]


def draw_order(groups, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The round's random numbers and the group order of the round-robin.

    Parameters
    ----------
    groups : array_like of int, shape (m,)
        The group (cluster) of each candidate; any integer ids.
    rng : numpy.random.Generator
        Draws, in this order, a permutation of the distinct group ids (the tie-break among
        groups of equal size) and one uniform key per candidate (its place in its group's
        random order).

    Returns
    -------
    gid : ndarray of int64, shape (m,)
        Each candidate's group as ``0 .. G-1`` (by sorted id).
    position : ndarray of int64, shape (G,)
        Each group's place in the round-robin: by size inside the candidates, ascending,
        ties by the drawn permutation.
    keys : ndarray of float64, shape (m,)
        The candidates' within-group random keys (smaller first).
    """
    g = np.asarray(groups)
    _, gid = np.unique(g, return_inverse=True)
    gid = gid.ravel().astype(np.int64)
    G = int(gid.max()) + 1 if gid.size else 0
    tie = rng.permutation(G)
    keys = rng.random(gid.size)
    sizes = np.bincount(gid, minlength=G)
    order = np.lexsort((tie, sizes))  # groups by size, then by the drawn tie-break
    position = np.empty(G, dtype=np.int64)
    position[order] = np.arange(G)
    return gid, position, keys


def round_robin_loop(groups, k: int, rng: np.random.Generator) -> np.ndarray:
    """The random round-robin of spec 2.5 as a cyclic loop (the reference implementation).

    Visit the groups in :func:`draw_order`'s order, cyclically; at each visit take the next
    member of the group in its random order (a uniformly random remaining member); skip
    exhausted groups; stop at ``k`` points or when every group is exhausted.

    Parameters
    ----------
    groups : array_like of int, shape (m,)
        The group of each candidate.
    k : int
        Batch size ``>= 1``.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape (min(k, m),)
        Positions into ``groups``, in the order taken.
    """
    k = check_int("k", k, 1)
    gid, position, keys = draw_order(groups, rng)
    G = position.size
    queues = [[] for _ in range(G)]
    for i in np.lexsort((np.arange(gid.size), keys)):  # members in their random order
        queues[gid[i]].append(int(i))
    visit = np.argsort(position)
    heads = [0] * G
    out: list[int] = []
    live = [int(c) for c in visit]
    while len(out) < k and live:
        nxt = []
        for c in live:
            out.append(queues[c][heads[c]])
            heads[c] += 1
            if heads[c] < len(queues[c]):
                nxt.append(c)
            if len(out) == k:
                break
        live = nxt
    return np.asarray(out, dtype=np.int64)


def round_robin(groups, k: int, rng: np.random.Generator) -> np.ndarray:
    """The random round-robin of spec 2.5, vectorised (equals :func:`round_robin_loop`).

    Each candidate's within-group rank ``r`` (0 for the first member of its group's random
    order) is the round-robin cycle in which it is taken; within a cycle the groups come in
    their order. So the batch is the first ``k`` candidates ordered by ``(r, position of the
    group)``, exhausted groups included (spec 8.4 item 4). ``O(m log m)``.

    Parameters
    ----------
    groups : array_like of int, shape (m,)
    k : int
        Batch size ``>= 1``.
    rng : numpy.random.Generator
        The same draws as :func:`round_robin_loop` (:func:`draw_order`).

    Returns
    -------
    ndarray of int64, shape (min(k, m),)
        Positions into ``groups``, in the order taken.
    """
    k = check_int("k", k, 1)
    gid, position, keys = draw_order(groups, rng)
    m = gid.size
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    # members in (group, random key, index) order: the rank is the offset inside the group
    by = np.lexsort((np.arange(m), keys, gid))
    starts = np.searchsorted(gid[by], np.arange(position.size))
    rank = np.empty(m, dtype=np.int64)
    rank[by] = np.arange(m) - starts[gid[by]]
    order = np.lexsort((position[gid], rank))
    return order[:k].astype(np.int64)


def lowest_k(scores, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest scores, ties by position (the first ``k`` of a stable
    sort), in increasing position order; ``O(m)`` by ``argpartition``.

    Parameters
    ----------
    scores : array_like, shape (m,)
        Finite scores.
    k : int
        ``1 <= k <= m``.

    Returns
    -------
    ndarray of int64, shape (k,)
    """
    s = np.asarray(scores, dtype=np.float64)
    k = check_int("k", k, 1)
    if k > s.size:
        raise ValueError(f"k={k} exceeds the {s.size} scores")
    if k == s.size:
        return np.arange(k, dtype=np.int64)
    t = s[np.argpartition(s, k - 1)[k - 1]]  # the k-th smallest value
    less = np.flatnonzero(s < t)
    eq = np.flatnonzero(s == t)[: k - less.size]
    return np.sort(np.concatenate([less, eq])).astype(np.int64)


def cluster_margin_batch(scores, clusters, k_t: int, k_m: int,
                         rng: np.random.Generator, vectorized: bool = True) -> np.ndarray:
    """One Cluster-Margin selection on arrays (spec 2.5 steps 2-6).

    Parameters
    ----------
    scores : array_like, shape (m,)
        Margins of the unlabeled points (smaller = less confident), finite.
    clusters : array_like of int, shape (m,)
        Their cluster labels (from the clustering of the whole pool).
    k_t : int
        Target batch size, ``1 <= k_t <= m``.
    k_m : int
        Candidates, ``k_m >= k_t``; capped at ``m`` with a warning.
    rng : numpy.random.Generator
    vectorized : bool
        :func:`round_robin` (default) or the loop :func:`round_robin_loop` (same result).

    Returns
    -------
    ndarray of int64, shape (k_t,)
        Positions into ``scores``, in the order the round-robin takes them.

    Raises
    ------
    ValueError
        ``k_t > k_m``, ``k_t > m``, shapes that differ, non-finite scores.
    """
    s = np.asarray(scores, dtype=np.float64)
    c = np.asarray(clusters)
    k_t, k_m = check_int("k_t", k_t, 1), check_int("k_m", k_m, 1)
    if s.ndim != 1 or c.shape != s.shape:
        raise ValueError(f"scores and clusters must be 1-D of one length, got {s.shape} and "
                         f"{c.shape}")
    if s.size == 0:
        raise ValueError("the unlabeled pool is empty: nothing left to select")
    if not np.isfinite(s).all():
        raise ValueError("scores have NaN or infinite entries")
    if k_t > k_m:
        raise ValueError(f"k_t={k_t} > k_m={k_m}: Cluster-Margin needs at least as many "
                         f"candidates as the batch size")
    if k_t > s.size:
        raise ValueError(f"k_t={k_t} is larger than the unlabeled pool ({s.size} points)")
    if k_m > s.size:
        warnings.warn(f"k_m={k_m} exceeds the unlabeled pool ({s.size} points); capped to "
                      f"{s.size}", UserWarning, stacklevel=2)
        k_m = s.size
    M = lowest_k(s, k_m)
    rr = round_robin if vectorized else round_robin_loop
    return M[rr(c[M], k_t, rng)]


class ClusterMarginSampler(Sampler):
    """Cluster-Margin in the pool loop (spec 2.1-2.5).

    On the first :meth:`select` (the round after the seed set, so the embedding is the seed
    model's, spec 2.2) the whole pool is embedded (``model.embed`` or the features, see
    :func:`~simlab.active.samplers.embeddings`) and clustered once by
    :func:`~simlab.active.clustering.cluster_pool` (exact average-linkage HAC up to
    :data:`~simlab.active.clustering.EXACT_MAX` points, two-level above; cached on disk);
    every later round reuses it (:attr:`clusterings` counts the clusterings made: 1).

    Parameters
    ----------
    k_m : int, optional
        Candidates per round; default ``ceil(km_ratio * k_t)``.
    km_ratio : float
        ``k_m / k_t`` when ``k_m`` is not given, ``>= 1``: 10 in the paper's Open Images
        setting, 1.25 on CIFAR/SVHN [S, spec 2.6].
    eps : float, optional
        HAC threshold ``> 0``; default derived from the data
        (:func:`~simlab.active.clustering.default_threshold`, reported in
        :attr:`clustering`).
    method : {"auto", "exact", "two-level"}
        Clustering path.
    cache : optional
        The clustering's disk cache (:func:`~simlab.active.clustering.cluster_pool`).
    clustering : Clustering or array_like of int, optional
        A precomputed clustering of the pool (skips the clustering step).
    """

    name = "cluster_margin"

    def __init__(self, k_m: int | None = None, km_ratio: float = 10.0,
                 eps: float | None = None, method: str = "auto", cache=None,
                 clustering: Clustering | np.ndarray | None = None):
        if k_m is not None:
            k_m = check_int("k_m", k_m, 1)
        if not (np.isfinite(km_ratio) and km_ratio >= 1):
            raise ValueError(f"km_ratio must be >= 1 (k_m >= k_t), got {km_ratio!r}")
        self.k_m, self.km_ratio = k_m, float(km_ratio)
        self.eps = None if eps is None else check_threshold(eps)
        self.method, self.cache = method, cache
        self.clustering: Clustering | None = None
        self._labels = None
        if clustering is not None:
            lab = clustering.labels if isinstance(clustering, Clustering) else clustering
            self._labels = np.asarray(lab, dtype=np.int64)
            self.clustering = clustering if isinstance(clustering, Clustering) else None
        self.clusterings = 0

    def __repr__(self) -> str:
        km = f"k_m={self.k_m}" if self.k_m is not None else f"km_ratio={self.km_ratio:g}"
        return f"ClusterMarginSampler({km}, eps={self.eps})"

    def candidates(self, k: int) -> int:
        """``k_m`` for a batch of ``k``: the given ``k_m`` or ``ceil(km_ratio * k)``."""
        return self.k_m if self.k_m is not None else int(np.ceil(self.km_ratio * k - 1e-9))

    def prepare(self, X, model) -> Clustering | np.ndarray:
        """Cluster the embedded pool (once); returns the clustering (or the given labels)."""
        if self._labels is None:
            self.clustering = cluster_pool(embeddings(model, X), eps=self.eps,
                                           method=self.method, cache=self.cache)
            self._labels = self.clustering.labels
            self.clusterings += 1
        return self.clustering if self.clustering is not None else self._labels

    def select(self, k: int, X, unlabeled, model, rng: np.random.Generator) -> np.ndarray:
        X = np.asarray(X)
        k, U = _check(k, X, unlabeled)
        U = np.sort(U)  # margin ties by pool index, as MarginSampler breaks them
        k_m = self.candidates(k)
        if k > k_m:
            raise ValueError(f"k_t={k} > k_m={k_m}: Cluster-Margin needs at least as many "
                             f"candidates as the batch size")
        self.prepare(X, model)
        if self._labels.shape != (X.shape[0],):
            raise ValueError(f"the clustering covers {self._labels.size} points, the pool "
                             f"has {X.shape[0]}")
        s = margin_scores(model.predict_proba(X[U]))  # k_m is capped (and warned) there
        return U[cluster_margin_batch(s, self._labels[U], k, k_m, rng)]
