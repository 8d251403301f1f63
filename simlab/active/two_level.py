"""Two-level average-linkage HAC for large pools (spec 8.4): k-means buckets, exact HAC per
bucket, a merge pass across bucket boundaries.

Exact average-linkage HAC needs all ``n (n - 1) / 2`` distances, which rules it out above a few
ten thousand points (spec 7 and 8.4). The scheme of spec 8.4 item 1 [S: measured for the spec;
the paper's own large-scale HAC is UNVERIFIED, spec 2.3] makes it feasible:

1. **Level 1, buckets.** k-means (sklearn ``MiniBatchKMeans`` by default, seeded) with
   ``ceil(n / bucket_size)`` centers (at most :data:`TOP_MAX`) partitions the pool into buckets.
   The centers are fitted on a seeded subsample of at most ``FIT_PER_CENTER`` points per center
   and every point is assigned to its nearest center. **Oversized buckets** (simlab's rule): a
   bucket of ``m > 2 * bucket_size`` points is split by k-means (sklearn ``KMeans``, Lloyd,
   seeded by the bucket) into ``ceil(m / bucket_size)`` parts, recursively, until no part holds
   more than ``2 * bucket_size`` points; when a k-means split does not shrink the largest part
   (degenerate data, e.g. many duplicated points), the part is cut in two halves at the median
   of its highest-variance coordinate, which always shrinks it. The final parts are the
   buckets of level 2.
2. **Level 2, exact HAC per bucket.** :func:`simlab.active.clustering.exact_hac` (fastcluster
   when installed, else scipy) cut at ``eps`` (merges of height ``<= eps`` kept), per bucket.
   These jobs, one per level-1 bucket (the oversized-bucket split runs inside the job), go
   through the sweep executors (:mod:`simlab.sweep.executors`): in this process, in local
   worker processes, or on a dask cluster. Each job carries only its bucket's rows.
3. **Level 3, boundary re-clustering, then the merge pass.** A true ``eps``-cluster that
   straddles a bucket boundary is split by level 2 (spec 8.4's "error mode"), and the clusters
   near a boundary were formed without the points across it. Level 3 has two steps.

   *(a) Boundary re-clustering (simlab's choice, in the spirit of spec 8.4's "overlapping
   buckets").* Candidate pairs are level-2 clusters of *different* buckets whose centroids lie
   within ``eps`` of each other (:func:`candidate_edges`: a search confined by the level-1
   Voronoi cells, never an ``n x n`` matrix). The connected components of the candidate graph
   are re-clustered from their points by exact HAC, one job per component through the same
   executor, when a component holds at most ``recluster_max`` points (default
   ``2 * bucket_size``, the memory of a bucket); a larger component is left to step (b), or,
   with ``split_large=True``, cut by k-means into pieces of at most ``recluster_max`` points
   that are re-clustered each. Inside a component the merges then happen in exact HAC's
   order. On the quality test's pools this step lifts the ARI against exact HAC by several
   points over the merge pass alone (e.g. 0.82 -> 0.94 on a 5,000-point 8-d mixture with
   10 buckets).

   *(b) Merge pass.* Average-linkage HAC continues from the clusters of (a), on a sparse
   graph: the initial edges are the candidate pairs (clusters of different buckets, or of a
   bucket and a re-clustered component); the edge with the smallest average-linkage distance
   ``D(A, B)`` (mean pairwise Euclidean distance, spec 2.3) is merged while ``D <= eps``, and
   the merged cluster's distance to every neighbour of either part is the size-weighted mean
   ``D(A u B, C) = (|A| D(A, C) + |B| D(B, C)) / (|A| + |B|)`` (a heap, as in exact HAC). A
   missing ``D(B, C)`` enters as Jensen's lower bound ``||mean(B) - mean(C)||`` and is
   computed exactly only if the pair reaches the top of the heap (``on_demand_pairs``).

   *Why the graph loses nothing.* ``D(A, B) >= ||mean(A) - mean(B)||`` (Jensen: the mean of
   the norms is at least the norm of the mean), so a pair of clusters with centroids farther
   than ``eps`` apart never qualifies, and a merged cluster's distance is a weighted mean of
   its parts' distances, so a pair of merged clusters none of whose parts were joined by an
   edge never qualifies either; two clusters of one bucket (or of one re-clustered component)
   are at ``D > eps`` after their exact HAC and become neighbours through a merge with a
   cluster of another bucket. The final
   partition is therefore *consistent*: every pair of final clusters has ``D > eps`` (with
   exact pair sums; see below), the property of exact HAC at ``eps`` (spec 8.2). What the
   scheme does not reproduce is exact HAC's merge *order* across buckets (level 2 merges within
   each bucket first), so the partitions can differ: the quality test measures the adjusted
   Rand index against exact HAC.

   *Pair sums (simlab's choice).* ``D(A, B)`` is exact (float64, all ``|A| |B|`` distances)
   when ``|A| |B| <= exact_pairs``; above it, it is the mean over ``sample_pairs`` pairs drawn
   uniformly with replacement by a generator seeded by ``(seed, A, B)`` (a relative standard
   error of about ``cv / sqrt(sample_pairs)``, ``cv`` the pairs' coefficient of variation), so
   a decision within that margin of ``eps`` can differ from the exact one. ``info`` counts the
   sampled pairs.

*Quality (measured; a finding, not a guarantee).* Against exact HAC at the library's default
threshold, the adjusted Rand index is 0.95-0.99 on 2- and 3-d overlapping mixtures (5,000
points, 5 buckets; 20,000 points, 10 buckets), 0.91-0.95 in 4-d, but 0.875-0.91 in 6-d with 5
buckets of 1,000: in higher dimension more points lie within ``eps`` of a boundary than the
centroid criterion of (a) detects. On a 2*10^4-point patch of the benchmark's 32-d pool
(near-duplicate components, its own density) it is 0.96-0.9996 (benchmarks/active_scale.py).

The labels do not depend on the executor or the number of workers (every random choice is
seeded by ``seed`` and the bucket, and level 3's graph runs in the calling process); they are
canonical (:func:`simlab.active.clustering.canonical_labels`). A pool of ``10^7`` points runs
with the same call on a dask cluster (``executor=DaskExecutor(scheduler=...)``): the calling
process holds the pool, runs level 1's assignment, the candidate search and the merge pass,
and sends each bucket's (and each boundary component's) rows to the workers. Level 1 stays
in the calling process (the issue's "k-means first level where it helps"): on the
benchmark's 10^6-point, 32-d float32 pool (``python benchmarks/active_scale.py``, arm
``ship_pool_to_worker``) level 1 took 1.6 s of the 41-56 s clustering, and sending the pool
(122 MB) to one started worker took 0.95 s, so splitting level 1's assignment over two
workers would save at most a few tenths of a second (measured on 2 cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import math
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from simlab.active.clustering import canonical_labels, check_embeddings, check_threshold, exact_hac
from simlab.tasks._validate import check_int

__all__ = ["BucketJob", "BucketResult", "KMEANS", "TOP_MAX", "candidate_edges", "hac_bucket",
           "merge_pass", "split_bucket", "two_level_hac"]

#: Level-1 k-means flavours: sklearn ``MiniBatchKMeans`` or ``KMeans`` (Lloyd).
KMEANS = ("minibatch", "full")
#: Most level-1 centers; larger pools get buckets above ``2 * bucket_size``, which the
#: oversized-bucket rule splits inside the bucket jobs (so the split runs on the workers).
TOP_MAX = 1024
#: Level-1 centers are fitted on a subsample of at most this many points per center.
FIT_PER_CENTER = 256
#: Recursion guard of the oversized-bucket split (each level at least halves a part).
_MAX_DEPTH = 64


# --- validation -------------------------------------------------------------------------------

def _check_pool(Z) -> np.ndarray:
    """``Z`` as a finite 2-D C-contiguous array: float32 kept (it halves the memory), other
    dtypes as float64 (:func:`~simlab.active.clustering.check_embeddings`)."""
    arr = np.asarray(Z)
    if arr.dtype != np.float32:
        return check_embeddings(arr)
    arr = np.ascontiguousarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (points x dims), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("embeddings is empty: there is no pool to cluster")
    for s in range(0, arr.shape[0], 1 << 18):  # chunked: no n x d boolean array
        ok = np.isfinite(arr[s:s + (1 << 18)]).all(axis=1)
        if not ok.all():
            raise ValueError(f"embeddings have NaN or infinite entries (first in row "
                             f"{s + int(np.flatnonzero(~ok)[0])}); clustering needs finite "
                             f"embeddings")
    return arr


def _sub_seed(*words: int) -> int:
    """A 32-bit seed for sklearn from integer words (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1)[0])


def _threads(limit: int | None):
    """A context limiting the OpenMP threads of sklearn's k-means (``None``: no limit)."""
    if limit is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - sklearn depends on threadpoolctl
        return contextlib.nullcontext()
    return threadpool_limits(limits=limit, user_api="openmp")


# --- level 1: buckets -------------------------------------------------------------------------

def _median_halves(X: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
    j = int(np.argmax(X[idx].var(axis=0)))
    o = idx[np.argsort(X[idx, j], kind="stable")]
    h = o.size // 2
    return [np.sort(o[:h]), np.sort(o[h:])]


def split_bucket(X, bucket_size: int, seed: int = 0, tag: int = 0) -> list[np.ndarray]:
    """Split a bucket into parts of at most ``2 * bucket_size`` points (the oversized rule).

    A part of ``m > 2 * bucket_size`` points is split by k-means (sklearn ``KMeans``, Lloyd,
    one initialisation, seeded by ``(seed, tag, depth, first index)``) into
    ``ceil(m / bucket_size)`` parts, recursively; a k-means split that leaves a part of ``m``
    points (no progress, e.g. duplicated points) is replaced by the two halves at the median of
    the highest-variance coordinate. simlab's choice (spec 8.4 says "split oversized buckets
    recursively").

    Parameters
    ----------
    X : array_like, shape (m, d)
        The bucket's rows.
    bucket_size : int
        Target size, ``>= 2``.
    seed, tag : int
        Seed the k-means splits (``tag`` names the bucket).

    Returns
    -------
    list of ndarray of int64
        Row indices into ``X`` of each part (sorted), ordered by their first index; together
        a partition of ``range(m)``.
    """
    X = np.asarray(X)
    limit = 2 * int(bucket_size)
    todo = [(np.arange(X.shape[0], dtype=np.int64), 0)]
    done: list[np.ndarray] = []
    while todo:
        idx, depth = todo.pop()
        m = idx.size
        if m <= limit:
            done.append(idx)
            continue
        parts: list[np.ndarray] = []
        if depth < _MAX_DEPTH:
            from sklearn.cluster import KMeans
            from sklearn.exceptions import ConvergenceWarning

            k = math.ceil(m / bucket_size)
            km = KMeans(n_clusters=k, n_init=1, algorithm="lloyd", max_iter=50,
                        random_state=_sub_seed(seed, tag, depth, int(idx[0])))
            # one OpenMP thread: the parallelism is across bucket jobs, and small k-means
            # fits with spinning threads are slow on a busy machine
            with warnings.catch_warnings(), _threads(1):
                warnings.simplefilter("ignore", ConvergenceWarning)  # duplicates: fallback
                lab = km.fit_predict(X[idx])
            parts = [idx[lab == c] for c in range(k)]
            parts = [p for p in parts if p.size]
        if not parts or max(p.size for p in parts) >= m:
            parts = _median_halves(X, idx)
        todo.extend((p, depth + 1) for p in parts)
    done.sort(key=lambda p: int(p[0]))
    return done


@dataclass
class _Level1:
    """Level 1's output: the buckets and the Voronoi cells they are (``centers`` row ``b``
    is bucket ``b``'s k-means center; ``None`` when the pool is one bucket)."""

    buckets: list
    centers: np.ndarray | None
    cell: np.ndarray | None  # (n,) bucket of each point


def _level1(Z: np.ndarray, bucket_size: int, seed: int, kmeans: str) -> _Level1:
    """The level-1 buckets: sorted index arrays, ordered by their first index."""
    n = Z.shape[0]
    if n <= 2 * bucket_size:
        return _Level1([np.arange(n, dtype=np.int64)], None, None)
    k = min(TOP_MAX, math.ceil(n / bucket_size))
    rng = np.random.default_rng([int(seed), 1])
    m = min(n, FIT_PER_CENTER * k)
    fit = np.sort(rng.choice(n, size=m, replace=False)) if m < n else slice(None)
    if kmeans == "minibatch":
        from sklearn.cluster import MiniBatchKMeans

        km = MiniBatchKMeans(n_clusters=k, n_init=1, batch_size=4096,
                             random_state=_sub_seed(seed, 1))
    else:
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, n_init=1, algorithm="lloyd", random_state=_sub_seed(seed, 1))
    top = np.empty(n, dtype=np.int64)
    step = 1 << 17
    with _threads(None if m * k > 10_000_000 else 1):  # threads only for large fits
        km.fit(Z[fit])
        for s in range(0, n, step):  # every point to its nearest center: Voronoi cells
            top[s:s + step] = km.predict(Z[s:s + step])
    counts = np.bincount(top, minlength=k)
    first = np.full(k, n, dtype=np.int64)
    np.minimum.at(first, top, np.arange(n, dtype=np.int64))
    used = np.flatnonzero(counts)
    used = used[np.argsort(first[used], kind="stable")]  # buckets by their first index
    renum = np.full(k, -1, dtype=np.int64)
    renum[used] = np.arange(used.size)
    cell = renum[top]
    order = np.argsort(cell, kind="stable")
    buckets = np.split(order, np.cumsum(counts[used])[:-1])
    centers = np.asarray(km.cluster_centers_, dtype=np.float64)[used]
    return _Level1(buckets, centers, cell)


# --- level 2: the bucket jobs -----------------------------------------------------------------

@dataclass(frozen=True)
class BucketJob:
    """One level-2 job: split one level-1 bucket if oversized, then exact HAC per part.

    Attributes
    ----------
    index : int
        The bucket's position among the level-1 buckets.
    rows : ndarray, shape (m, d)
        The bucket's rows (its pool indices in increasing order); the job needs nothing else.
    eps : float
    bucket_size : int
    seed : int
    split : bool
        Apply the oversized-bucket rule (:func:`split_bucket`); ``False``: one exact HAC of
        all the rows, or of each group of ``groups``.
    groups : tuple of int
        With ``split=False``: the sizes of consecutive row groups clustered apart, each a
        part of its own (level 3 packs small boundary components into one job); empty: one
        group.
    """

    index: int
    rows: np.ndarray = field(repr=False)
    eps: float
    bucket_size: int
    seed: int
    split: bool = True
    groups: tuple = ()

    @property
    def dask_key(self) -> str:
        """A dask key naming exactly this work (a digest of the rows and settings)."""
        h = hashlib.blake2b(digest_size=12)
        h.update(repr((self.rows.shape, str(self.rows.dtype), float(self.eps),
                       int(self.bucket_size), int(self.seed), int(self.index),
                       bool(self.split), tuple(self.groups))).encode())
        h.update(np.ascontiguousarray(self.rows).tobytes())
        return f"simlab-two-level-b{self.index}-{h.hexdigest()}"


@dataclass
class BucketResult:
    """What a bucket job returns.

    Attributes
    ----------
    index : int
        The job's bucket.
    labels : ndarray of int64, shape (m,)
        Cluster of each row, ``0 .. g-1`` (numbered part by part, canonical within a part).
    cluster_part : ndarray of int64, shape (g,)
        The part (level-2 bucket, ``0 .. parts-1``) of each cluster.
    centroids : ndarray of float64, shape (g, d)
    sizes : ndarray of int64, shape (g,)
    part_sizes : ndarray of int64, shape (parts,)
    seconds_split, seconds_hac : float
    peak_rss_mb : float
        The process's peak resident memory after the job.
    pid : int
    """

    index: int
    labels: np.ndarray
    cluster_part: np.ndarray
    centroids: np.ndarray
    sizes: np.ndarray
    part_sizes: np.ndarray
    seconds_split: float
    seconds_hac: float
    peak_rss_mb: float
    pid: int


def hac_bucket(job: BucketJob) -> BucketResult:
    """Run one :class:`BucketJob` (module-level and picklable: the executors' job function).

    Returns
    -------
    BucketResult
    """
    from simlab.meta import peak_rss_mb

    X = np.asarray(job.rows)
    t0 = time.perf_counter()
    if job.split:
        parts = split_bucket(X, job.bucket_size, job.seed, job.index)
    else:
        ends = np.cumsum(job.groups or (X.shape[0],))
        if ends[-1] != X.shape[0]:
            raise ValueError(f"groups {job.groups} do not add up to the {X.shape[0]} rows")
        parts = [np.arange(a, b, dtype=np.int64) for a, b in zip(np.r_[0, ends[:-1]], ends)]
    t1 = time.perf_counter()
    labels = np.empty(X.shape[0], dtype=np.int64)
    cparts, off = [], 0
    for p, idx in enumerate(parts):
        lab = exact_hac(X[idx], job.eps, force=True)
        labels[idx] = lab + off
        g = int(lab.max()) + 1
        cparts.append(np.full(g, p, dtype=np.int64))
        off += g
    t2 = time.perf_counter()
    sizes = np.bincount(labels, minlength=off).astype(np.int64)
    cent = np.zeros((off, X.shape[1]), dtype=np.float64)
    np.add.at(cent, labels, X.astype(np.float64, copy=False))
    cent /= sizes[:, None]
    return BucketResult(job.index, labels, np.concatenate(cparts), cent, sizes,
                        np.array([p.size for p in parts], dtype=np.int64), t1 - t0, t2 - t1,
                        float(peak_rss_mb()), os.getpid())


def _resolve_executor(executor, workers):
    """``(executor or None, owned)``: None runs in this process without an executor."""
    if executor is None:
        return None, False
    from simlab.sweep.executors import Executor, make_executor

    if isinstance(executor, Executor):
        return executor, False
    if isinstance(executor, Mapping):
        return make_executor(**dict(executor)), True
    if isinstance(executor, str):
        name = executor.strip().lower()
        if name == "dask":
            return make_executor("dask", dask_local=workers or (os.cpu_count() or 1),
                                 threads=1), True
        if name in ("local", "processes"):
            return make_executor(name, workers=workers, threads=1), True
        return make_executor(name, workers=workers), True
    raise ValueError(f"executor must be None, an executor name ('serial', 'local', 'dask'), "
                     f"make_executor settings (a dict) or an Executor, got {executor!r}")


# --- level 3: boundary re-clustering and merge pass -------------------------------------------

def _dist(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """All Euclidean distances ``(|P|, |Q|)`` by the Gram trick (float64, clipped at 0), on
    data centred at ``P``'s mean (smaller norms, smaller cancellation)."""
    P = np.asarray(P, dtype=np.float64)
    mid = P.mean(axis=0)
    P = P - mid
    Q = np.asarray(Q, dtype=np.float64) - mid
    D2 = np.einsum("ij,ij->i", P, P)[:, None] + np.einsum("ij,ij->i", Q, Q)[None, :]
    D2 -= 2.0 * (P @ Q.T)
    np.maximum(D2, 0.0, out=D2)
    return np.sqrt(D2, out=D2)


#: Entries of one block of distances (4M float64 = 32 MB).
_BLOCK = 1 << 22
#: Entries of one block of the float32 filter of :func:`_pairs_within` (cache-sized).
_FBLOCK = 1 << 18


def _pairs_within(A: np.ndarray, B: np.ndarray, ia: np.ndarray, ib: np.ndarray, r: float):
    """Pairs ``(ia[p], ib[q])`` with ``||A[p] - B[q]|| <= r`` (float64 distances).

    A float32 filter with a safety margin (one matrix product per cache-sized block:
    ``[a, |a|^2, 1] . [-2 b, 1, |b|^2] = |a - b|^2``, on data centred at ``B``'s mean), then
    the exact float64 distance of the pairs it keeps.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    none = np.zeros(0, dtype=np.int64)
    if not (A.shape[0] and B.shape[0]):
        return none, none.copy()
    mid = B.mean(axis=0)
    d = A.shape[1]
    Aa = np.empty((A.shape[0], d + 2), dtype=np.float32)
    Ba = np.empty((d + 2, B.shape[0]), dtype=np.float32)
    Aa[:, :d] = A - mid
    Ba[:d] = (B - mid).T
    na = np.einsum("ij,ij->i", Aa[:, :d], Aa[:, :d])
    nb = np.einsum("ij,ij->j", Ba[:d], Ba[:d])
    Aa[:, d], Aa[:, d + 1] = na, 1.0
    Ba[:d] *= -2.0
    Ba[d], Ba[d + 1] = 1.0, nb
    scale = float(max(na.max(), nb.max()))
    r2 = np.float32(r * r * (1 + 1e-4) + 1e-5 * scale + 1e-30)  # float32 rounding margin
    m = B.shape[0]
    step = max(1, _FBLOCK // m)
    G = np.empty((min(step, A.shape[0]), m), dtype=np.float32)
    out_a, out_b = [], []
    for s in range(0, A.shape[0], step):
        a = Aa[s:s + step]
        g = G[:a.shape[0]]
        np.matmul(a, Ba, out=g)
        f = np.flatnonzero(g.ravel() <= r2)
        if f.size:
            out_a.append(s + f // m)
            out_b.append(f % m)
    if not out_a:
        return none, none.copy()
    p, q = np.concatenate(out_a), np.concatenate(out_b)
    ok = ((A[p] - B[q]) ** 2).sum(axis=1) <= r * r
    return ia[p[ok]], ib[q[ok]]


def candidate_edges(centroids, cluster_bucket, eps: float, centers=None, home=None,
                    query=None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of clusters of different buckets whose centroids are within ``eps``.

    Never a ``g x g`` matrix. With the level-1 Voronoi cells (``centers`` and each cluster's
    ``home`` cell, ``-1`` for a cluster whose points lie in several cells) the search is
    local: if every point of ``Y`` lies in cell ``b`` then so does its centroid (cells are
    convex), and any ``X`` with ``||c_X - c_Y|| <= eps`` satisfies
    ``||c_X - mu_b|| <= min_a ||c_X - mu_a|| + 2 eps`` (triangle inequality twice), so ``Y``
    is compared only with the clusters that are this close to cell ``b`` (each pair once, by
    float32 matrix products checked in float64); clusters of several cells are compared with
    each other by a ball-tree radius query. In high dimension many cells can be this close
    (about a tenth of them on the benchmark's 32-d pool), so the search costs a fraction of
    the ``g^2`` centroid pairs, in blocks. Without cells: one ball-tree radius query (sklearn
    ``NearestNeighbors``) on all centroids.

    Parameters
    ----------
    centroids : array_like, shape (g, d)
    cluster_bucket : array_like of int, shape (g,)
        Pairs within one bucket are not candidates.
    eps : float
    centers : array_like, shape (k, d), optional
        The level-1 k-means centers (each point lies in its nearest center's cell).
    home : array_like of int, shape (g,), optional
        The cell of each cluster, ``-1`` when its points lie in several cells.
    query : array_like of bool, shape (g,), optional
        Only pairs with at least one end in ``query`` (default: all pairs).

    Returns
    -------
    ei, ej : ndarray of int64
        The pairs, sorted by ``(i, j)``.
    """
    C = np.asarray(centroids, dtype=np.float64)
    cb = np.asarray(cluster_bucket, dtype=np.int64)
    g = C.shape[0]
    r = eps * (1 + 1e-9)
    none = np.zeros(0, dtype=np.int64)
    qm = np.ones(g, dtype=bool) if query is None else np.asarray(query, dtype=bool)
    if g < 2 or not qm.any():
        return none, none.copy()
    xs, ys = [], []

    def radius_pairs(idx: np.ndarray) -> None:
        if idx.size < 2:
            return
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(radius=r, algorithm="ball_tree").fit(C[idx])
        G = nn.radius_neighbors_graph(C[idx], mode="connectivity").tocoo()
        xs.append(idx[G.row])
        ys.append(idx[G.col])

    if centers is None or home is None:
        radius_pairs(np.arange(g, dtype=np.int64))
    else:
        M = np.asarray(centers, dtype=np.float64)
        h = np.asarray(home, dtype=np.int64)
        k = M.shape[0]
        # slack for the float32 assignment of the points to their cells
        tol = 1e-3 * eps + 1e-5 * (1.0 + float(np.abs(M).max()))
        mc, mb = [], []
        step = max(1, _BLOCK // k)
        for s in range(0, g, step):
            D = _dist(C[s:s + step], M)
            near = D <= D.min(axis=1, keepdims=True) + 2 * eps + tol
            pc, pb = np.nonzero(near)
            mc.append(pc + s)
            mb.append(pb)
        mc, mb = np.concatenate(mc), np.concatenate(mb)
        o = np.argsort(mb, kind="stable")
        mc, mb = mc[o], mb[o]
        lo = np.searchsorted(mb, np.arange(k))
        hi = np.searchsorted(mb, np.arange(k), side="right")
        ho = np.argsort(h, kind="stable")
        hs = h[ho]
        hlo = np.searchsorted(hs, np.arange(k))
        hhi = np.searchsorted(hs, np.arange(k), side="right")
        for b in range(k):
            H = ho[hlo[b]:hhi[b]]
            L = mc[lo[b]:hi[b]]
            if not (H.size and L.size):
                continue
            if query is not None:  # (H in query) x L, then (H not in query) x (L in query)
                Hq, Hn, Lq = H[qm[H]], H[~qm[H]], L[qm[L]]
                for A_, B_ in ((Hq, L), (Hn, Lq)):
                    if A_.size and B_.size:
                        x, y = _pairs_within(C[A_], C[B_], A_, B_, r)
                        xs.append(x)
                        ys.append(y)
                continue
            x, y = _pairs_within(C[H], C[L], H, L, r)
            xs.append(x)
            ys.append(y)
        radius_pairs(ho[:np.searchsorted(hs, 0)])  # the clusters of several cells
    if not xs:
        return none, none.copy()
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = (cb[x] != cb[y]) & (qm[x] | qm[y])
    x, y = x[keep], y[keep]
    i, j = np.minimum(x, y), np.maximum(x, y)
    code = np.unique(i * np.int64(g) + j)
    return code // g, code % g


class _PairSums:
    """Sums of pairwise Euclidean distances between point sets of the pool (float64)."""

    def __init__(self, Z, exact_pairs: int, sample_pairs: int, seed: int):
        self.Z, self.exact, self.sample, self.seed = Z, exact_pairs, sample_pairs, seed
        self.sampled = 0
        self.evaluated = 0

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.Z[idx], dtype=np.float64)

    def pair(self, a: np.ndarray, b: np.ndarray, u: int, v: int) -> float:
        """``sum_{i in a, j in b} ||z_i - z_j||``: exact, or estimated from a seeded sample."""
        na, nb = a.size, b.size
        if na * nb <= self.exact:
            self.evaluated += na * nb
            return float(_dist(self.rows(a), self.rows(b)).sum())
        rng = np.random.default_rng([self.seed, 3, min(u, v), max(u, v)])
        i = a[rng.integers(0, na, self.sample)]
        j = b[rng.integers(0, nb, self.sample)]
        d = np.sqrt(((self.rows(i) - self.rows(j)) ** 2).sum(axis=1))
        self.sampled += 1
        self.evaluated += self.sample
        return float(d.mean()) * na * nb

    def many(self, a: np.ndarray, u: int, bs: list, vs: list) -> list:
        """:meth:`pair` of ``a`` (node ``u``) with each of ``bs`` (nodes ``vs``); one block of
        distances when all of them fit in ``exact_pairs``."""
        sizes = np.array([b.size for b in bs], dtype=np.int64)
        tot = int(sizes.sum())
        if a.size * tot > self.exact:
            return [self.pair(a, b, u, v) for b, v in zip(bs, vs)]
        self.evaluated += a.size * tot
        col = _dist(self.rows(a), self.rows(np.concatenate(bs))).sum(axis=0)
        return np.add.reduceat(col, np.concatenate([[0], np.cumsum(sizes)[:-1]])).tolist()


def merge_pass(Z, labels, cluster_bucket, centroids, eps: float, exact_pairs: int = 1_000_000,
               sample_pairs: int = 20_000, seed: int = 0, centers=None, home=None,
               edges=None) -> tuple[np.ndarray, dict]:
    """Level 3: average-linkage HAC continued from per-bucket clusters on a sparse graph.

    The initial edges are :func:`candidate_edges` (centroids within ``eps``, different
    buckets); the edge of smallest average-linkage distance is merged while it is ``<= eps``;
    a merged cluster's pair sums with its parts' neighbours are the sums of its parts' (the
    missing ones computed on demand). Module docstring: why this loses no pair at ``D <= eps``.

    Parameters
    ----------
    Z : ndarray, shape (n, d)
        The pool.
    labels : ndarray of int, shape (n,)
        Level-2 clusters ``0 .. g-1``; clusters of one bucket must be at ``D > eps``.
    cluster_bucket : ndarray of int, shape (g,)
        The bucket of each cluster.
    centroids : ndarray, shape (g, d)
        Cluster means.
    eps : float
        Merge while the smallest average-linkage distance is ``<= eps``.
    exact_pairs, sample_pairs : int
        Pair sums are exact up to ``exact_pairs`` point pairs, else estimated from
        ``sample_pairs`` seeded random pairs (module docstring).
    seed : int
    centers, home : optional
        Level-1 cells for :func:`candidate_edges`.
    edges : (ndarray, ndarray), optional
        The candidate edges, when already known (:func:`candidate_edges` of these clusters).

    Returns
    -------
    final : ndarray of int64, shape (g,)
        The merged cluster of each level-2 cluster (not canonical: any ids).
    info : dict
        ``candidate_pairs`` (initial edges), ``merges``, ``on_demand_pairs`` (pair sums
        computed after merges, when a lower bound reached the top of the heap),
        ``sampled_pairs`` (pair sums estimated by sampling),
        ``distance_evaluations`` (point pairs whose distance was computed).
    """
    labels = np.asarray(labels, dtype=np.int64)
    cb = np.asarray(cluster_bucket, dtype=np.int64)
    C0 = np.asarray(centroids, dtype=np.float64)
    g = cb.size
    sizes = np.bincount(labels, minlength=g).astype(np.int64)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sums = _PairSums(Z, int(exact_pairs), int(sample_pairs), int(seed))

    def pts(c: int) -> np.ndarray:
        return order[starts[c]:starts[c] + sizes[c]]

    ei, ej = candidate_edges(C0, cb, eps, centers, home) if edges is None else edges
    n_edges = int(ei.size)
    # nbr[u][c] = (sum of pairwise distances of u and c, or a lower bound; exact?)
    nbr: list = [dict() for _ in range(g)]
    heap: list = []
    bounds = np.flatnonzero(np.diff(ei)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [n_edges]])):
        if lo >= hi:
            continue
        i = int(ei[lo])
        J = ej[lo:hi].tolist()
        S = sums.many(pts(i), i, [pts(j) for j in J], J)
        for j, s in zip(J, S):
            nbr[i][j] = nbr[j][i] = (s, True)
            heap.append((s / (sizes[i] * sizes[j]), i, j, True))
    heapq.heapify(heap)

    size = sizes.tolist()
    cen = np.empty((2 * g, C0.shape[1]), dtype=np.float64)  # node means (at most 2g - 1)
    cen[:g] = C0
    npts: list = [None] * g  # point indices of merged (alive) nodes
    parent = list(range(g))
    alive = [True] * g
    merges = exact_later = 0

    def node_pts(u: int) -> np.ndarray:
        return pts(u) if u < g else npts[u]

    while heap:
        D, u, v, ex = heapq.heappop(heap)
        if not (alive[u] and alive[v]) or nbr[u][v][1] != ex:
            continue  # a dead node, or a bound since made exact
        if D > eps:
            break
        if not ex:  # a lower bound reached the top: compute the pair sum now
            s = sums.pair(node_pts(u), node_pts(v), u, v)
            nbr[u][v] = nbr[v][u] = (s, True)
            heapq.heappush(heap, (s / (size[u] * size[v]), u, v, True))
            exact_later += 1
            continue
        w = len(size)
        sw = size[u] + size[v]
        size.append(sw)
        cen[w] = (size[u] * cen[u] + size[v] * cen[v]) / sw
        Nu, Nv = nbr[u], nbr[v]
        del Nu[v], Nv[u]
        # a pair without an edge gets Jensen's bound |x| |c| ||mean(x) - mean(c)||, made
        # exact only if the merged pair ever reaches the top of the heap
        for x, Nx, Ny in ((u, Nu, Nv), (v, Nv, Nu)):
            miss = [c for c in Ny if c not in Nx]
            if miss:
                lb = np.sqrt(((cen[miss] - cen[x]) ** 2).sum(axis=1))
                Nx.update((c, (size[x] * size[c] * b, False))
                          for c, b in zip(miss, lb.tolist()))
        Nw: dict = {}
        for c in sorted(Nu.keys()):
            a, b = Nu[c], Nv[c]
            e = (a[0] + b[0], a[1] and b[1])
            Nw[c] = e
            Nc = nbr[c]
            Nc.pop(u, None)
            Nc.pop(v, None)
            Nc[w] = e
            heapq.heappush(heap, (e[0] / (sw * size[c]), c, w, e[1]))
        npts.append(np.concatenate([node_pts(u), node_pts(v)]))
        nbr.append(Nw)
        parent.append(w)
        alive.append(True)
        parent[u] = parent[v] = w
        alive[u] = alive[v] = False
        nbr[u] = nbr[v] = npts[u] = npts[v] = None
        merges += 1

    par = np.asarray(parent, dtype=np.int64)
    final = par[:g].copy()
    while True:  # roots: each step goes to a larger id, so this ends
        nxt = par[final]
        if np.array_equal(nxt, final):
            break
        final = nxt
    info = {"candidate_pairs": n_edges, "merges": merges, "on_demand_pairs": exact_later,
            "sampled_pairs": sums.sampled, "distance_evaluations": int(sums.evaluated)}
    return final, info


# --- the entry point --------------------------------------------------------------------------

def _run(ex, jobs, results: list) -> None:
    """Run bucket jobs in this process (``ex is None``) or through ``ex``; fill ``results``."""
    if ex is None:
        for job in jobs:
            results[job.index] = hac_bucket(job)
        return
    for job, res in ex.map(hac_bucket, jobs):
        if isinstance(res, BaseException):
            raise RuntimeError(f"the HAC job of bucket {job.index} ({job.rows.shape[0]} "
                               f"points) failed: {type(res).__name__}: {res}") from res
        results[job.index] = res


def _assemble(groups: list[np.ndarray], results: list, labels: np.ndarray, c_off: int,
              p_off: int, peaks: dict):
    """Write the jobs' clusters into ``labels`` (ids from ``c_off``, parts from ``p_off``)."""
    parts, cents, psizes = [], [], []
    for idx, r in zip(groups, results):
        labels[idx] = r.labels + c_off
        parts.append(r.cluster_part + p_off)
        cents.append(r.centroids)
        psizes.append(r.part_sizes)
        c_off += r.sizes.size
        p_off += r.part_sizes.size
        if r.pid != os.getpid():
            peaks[r.pid] = max(peaks.get(r.pid, 0.0), r.peak_rss_mb)
    return np.concatenate(parts), np.concatenate(cents), np.concatenate(psizes), c_off, p_off


def _boundary_components(ei, ej, g: int) -> tuple[np.ndarray, int]:
    """Component of each cluster in the candidate graph (``-1``: a cluster without an edge)
    and the number of components with an edge."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    comp = np.full(g, -1, dtype=np.int64)
    if ei.size == 0:
        return comp, 0
    A = sp.coo_matrix((np.ones(ei.size, dtype=np.int8), (ei, ej)), shape=(g, g))
    _, lab = connected_components(A, directed=False)
    touched = np.zeros(g, dtype=bool)
    touched[ei] = touched[ej] = True
    kept, comp[touched] = np.unique(lab[touched], return_inverse=True)
    return comp, int(kept.size)


def _homes(labels: np.ndarray, cell: np.ndarray | None, g: int) -> np.ndarray | None:
    """The level-1 cell of each cluster, ``-1`` when its points lie in several cells."""
    if cell is None:
        return None
    lo = np.full(g, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(g, -1, dtype=np.int64)
    np.minimum.at(lo, labels, cell)
    np.maximum.at(hi, labels, cell)
    return np.where(lo == hi, lo, -1)


def two_level_hac(Z, eps: float, bucket_size: int = 2000, executor=None,
                  workers: int | None = None, seed: int = 0, merge: bool = True,
                  kmeans: str = "minibatch", recluster: bool = True,
                  recluster_max: int | None = None, split_large: bool = False,
                  exact_pairs: int = 1_000_000,
                  sample_pairs: int = 20_000) -> tuple[np.ndarray, dict]:
    """Average-linkage HAC of a large pool cut at ``eps``, by the two-level scheme of spec 8.4.

    Parameters
    ----------
    Z : array_like, shape (n, d)
        Embeddings, finite; float32 is kept as float32 (half the memory), anything else is
        converted to float64. Euclidean distances.
    eps : float
        Threshold ``> 0``: merges of average-linkage distance ``<= eps`` are made.
    bucket_size : int
        Target bucket size, ``>= 2``; no bucket holds more than ``2 * bucket_size`` points
        (the oversized rule, :func:`split_bucket`). A pool of at most ``2 * bucket_size``
        points is one bucket (exact HAC).
    executor : None, str, dict or Executor
        Where the HAC jobs run: ``None`` in this process (no executor); ``"serial"``,
        ``"local"`` (``workers`` local processes) or ``"dask"`` (a ``workers``-process dask
        LocalCluster); a dict of :func:`simlab.sweep.executors.make_executor` settings (e.g.
        ``{"executor": "dask", "scheduler": "tcp://host:8786"}``); or an executor instance
        (started if needed, not closed). The labels are the same whatever runs the jobs.
    workers : int, optional
        Workers of an executor given by name; default the cores.
    seed : int
        Seeds level 1's k-means, the oversized splits and the sampled pair sums.
    merge : bool
        Run level 3 (boundary re-clustering and the merge pass across bucket boundaries);
        ``False`` returns the per-bucket clusters as they are.
    kmeans : {"minibatch", "full"}
        Level 1's k-means: sklearn ``MiniBatchKMeans`` or ``KMeans`` (Lloyd).
    recluster : bool
        Level 3's first step (module docstring): exact HAC of each boundary component of at
        most ``recluster_max`` points. ``False``: the merge pass alone.
    recluster_max : int, optional
        Largest boundary component re-clustered exactly, ``>= 4``; default
        ``2 * bucket_size`` (the memory of the largest bucket).
    split_large : bool
        Cut a larger component by k-means into pieces of at most ``recluster_max`` points and
        re-cluster each (``False``, the default: leave it to the merge pass; on percolating
        pools, where most points lie in one component, splitting re-clusters most of the
        pool a second time).
    exact_pairs, sample_pairs : int
        The merge pass's average-linkage distances are exact up to ``exact_pairs`` point pairs,
        else estimated from ``sample_pairs`` seeded random pairs.

    Returns
    -------
    labels : ndarray of int64, shape (n,)
        Canonical cluster labels.
    info : dict
        ``buckets`` (level-1 buckets), ``parts`` (buckets after the oversized splits: the HAC
        units), ``largest_bucket``, ``smallest_bucket`` (HAC units), ``oversized_buckets``
        (level-1 buckets split), ``clusters_before_merge``, ``boundary_components``,
        ``boundary_points`` (re-clustered), ``boundary_skipped`` (components above
        ``recluster_max`` left to the merge pass), ``boundary_split`` (those cut in pieces),
        ``clusters_after_recluster``, ``merges`` and the merge pass's
        counters (:func:`merge_pass`), ``clusters_after_merge``, ``seconds``
        (``level1_kmeans``, ``level2_hac``, ``level3_recluster``, ``level3_merge``,
        ``total``), ``executor``, and for jobs run in other processes ``worker_peak_rss_mb``
        (the sum over worker processes of each one's peak resident memory).

    Raises
    ------
    ValueError
        NaN/infinite or malformed embeddings, ``eps <= 0``, ``bucket_size < 2``, an unknown
        ``kmeans`` or executor, bad counts.
    RuntimeError
        A HAC job failed (chained to the job's exception).
    """
    t_start = time.perf_counter()
    Z = _check_pool(Z)
    eps = check_threshold(eps)
    bucket_size = check_int("bucket_size", bucket_size, 2)
    seed = check_int("seed", seed, 0)
    exact_pairs = check_int("exact_pairs", exact_pairs, 1)
    sample_pairs = check_int("sample_pairs", sample_pairs, 1)
    recluster_max = (2 * bucket_size if recluster_max is None
                     else check_int("recluster_max", recluster_max, 4))
    if workers is not None:
        workers = check_int("workers", workers, 1)
    if kmeans not in KMEANS:
        raise ValueError(f"kmeans must be one of {KMEANS}, got {kmeans!r}")
    n = Z.shape[0]
    ex, owned = _resolve_executor(executor, workers)
    peaks: dict = {}
    sec: dict = {}
    info: dict = {"n": n, "eps": eps, "bucket_size": bucket_size, "kmeans": kmeans,
                  "seed": seed, "merge": bool(merge), "recluster": bool(recluster and merge)}
    try:
        t0 = time.perf_counter()
        lv1 = _level1(Z, bucket_size, seed, kmeans)
        buckets = lv1.buckets
        sec["level1_kmeans"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if ex is not None:
            ex.start()
        results: list = [None] * len(buckets)
        _run(ex, (BucketJob(b, np.ascontiguousarray(Z[idx]), eps, bucket_size, seed)
                  for b, idx in enumerate(buckets)), results)
        labels = np.empty(n, dtype=np.int64)
        cpart, cent, psz, g, n_parts = _assemble(buckets, results, labels, 0, 0, peaks)
        # level-2 clusters lie in their bucket's cell (bucket b is cell b)
        home = None if lv1.cell is None else np.repeat(
            np.arange(len(buckets), dtype=np.int64), [r.sizes.size for r in results])
        info.update(buckets=len(buckets), parts=int(psz.size), largest_bucket=int(psz.max()),
                    smallest_bucket=int(psz.min()),
                    oversized_buckets=int(sum(r.part_sizes.size > 1 for r in results)),
                    clusters_before_merge=g)
        del results
        sec["level2_hac"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        n_comp = n_split = n_skip = n_bpts = 0
        edges = None
        if merge and recluster and n_parts > 1:
            ei, ej = candidate_edges(cent, cpart, eps, lv1.centers, home)
            comp, n_comp = _boundary_components(ei, ej, g)
            edges = (ei, ej)
            if n_comp:
                pcomp = comp[labels]
                order = np.argsort(pcomp, kind="stable")
                counts = np.bincount(pcomp + 1, minlength=n_comp + 1)
                groups = []
                redo = np.zeros(n_comp, dtype=bool)  # components re-clustered
                for c, idx in enumerate(np.split(order, np.cumsum(counts)[:-1])[1:]):
                    if idx.size <= recluster_max:  # ([0] above are the other points)
                        groups.append(idx)
                    elif split_large:  # k-means pieces, each re-clustered
                        n_split += 1
                        groups.extend(idx[p] for p in split_bucket(
                            Z[idx], recluster_max // 2, seed, len(buckets) + c))
                    else:  # left to the merge pass
                        n_skip += 1
                        continue
                    redo[c] = True
                comp[comp >= 0] = np.where(redo[comp[comp >= 0]], comp[comp >= 0], -1)
                n_bpts = int(sum(idx.size for idx in groups))
                if groups:
                    # small groups travel together: jobs of about bucket_size points
                    packs, cur, tot = [], [], 0
                    for idx in groups:
                        if cur and tot + idx.size > bucket_size:
                            packs.append(cur)
                            cur, tot = [], 0
                        cur.append(idx)
                        tot += idx.size
                    packs.append(cur)
                    groups = [np.concatenate(pk) for pk in packs]
                    res2: list = [None] * len(groups)
                    _run(ex, (BucketJob(c, np.ascontiguousarray(Z[idx]), eps, bucket_size, seed,
                                        split=False, groups=tuple(x.size for x in pk))
                              for c, (idx, pk) in enumerate(zip(groups, packs))), res2)
                    # the clusters outside the components keep their ids and parts; the new
                    # clusters are numbered after them, each re-clustered group a new part
                    keep = comp < 0
                    new_id = np.full(g, -1, dtype=np.int64)
                    new_id[keep] = np.arange(int(keep.sum()))
                    labels = new_id[labels]
                    cpart2, cent2, _, g, _ = _assemble(groups, res2, labels, int(keep.sum()),
                                                       n_parts, peaks)
                    cpart = np.concatenate([cpart[keep], cpart2])
                    cent = np.concatenate([cent[keep], cent2])
                    home = _homes(labels, lv1.cell, g)
                    del res2
                    # the merge pass's edges: those between kept clusters are unchanged; those
                    # with a new cluster are searched for
                    both = keep[ei] & keep[ej]
                    new = np.zeros(g, dtype=bool)
                    new[int(keep.sum()):] = True
                    ni, nj = candidate_edges(cent, cpart, eps, lv1.centers, home, query=new)
                    code = np.unique(np.concatenate([new_id[ei[both]] * np.int64(g)
                                                     + new_id[ej[both]], ni * np.int64(g) + nj]))
                    edges = (code // g, code % g)
        info.update(boundary_components=n_comp, boundary_points=n_bpts,
                    boundary_split=n_split, boundary_skipped=n_skip,
                    clusters_after_recluster=g)
        sec["level3_recluster"] = time.perf_counter() - t0
    finally:
        desc = "in-process" if ex is None else ex.describe()
        if owned:
            ex.close()

    t0 = time.perf_counter()
    if merge and n_parts > 1:
        final, minfo = merge_pass(Z, labels, cpart, cent, eps, exact_pairs, sample_pairs, seed,
                                  lv1.centers, home, edges)
        labels = final[labels]
    else:
        minfo = {"candidate_pairs": 0, "merges": 0, "on_demand_pairs": 0, "sampled_pairs": 0,
                 "distance_evaluations": 0}
    labels = canonical_labels(labels)
    sec["level3_merge"] = time.perf_counter() - t0
    sec["total"] = time.perf_counter() - t_start
    info.update(minfo)
    info["clusters_after_merge"] = int(labels.max()) + 1
    info["seconds"] = {k: round(v, 4) for k, v in sec.items()}
    info["executor"] = desc
    if peaks:
        info["worker_peak_rss_mb"] = round(float(sum(peaks.values())), 1)
        info["worker_processes"] = len(peaks)
    return labels, info
