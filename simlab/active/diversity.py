"""Diversity baselines of the paper: CoreSet (greedy k-center) and BADGE (k-means++ seeding on
gradient embeddings), with the paper's random pool partitioning for large batches.

Spec ``papers/cluster_margin.md``, section 3 (baselines), 2.8 (their per-round cost) and 8.4
item 6 (run them partitioned at scale).

- :func:`k_center_greedy`: CoreSet's greedy k-center (Sener & Savarese, ICLR 2018) [S/M]:
  repeatedly add ``argmax_x min_{c in L u S} ||z(x) - z(c)||``. ``O(n k D)`` time and ``O(n)``
  memory beyond the input (a running min-distance array; no ``n x n`` matrix).
- :func:`badge_factors`, :func:`badge_embedding`, :func:`gradient_sqdist`: BADGE's gradient
  embedding ``g(x) = (p(x) - e_yhat(x)) (x) z(x)`` (Ash et al., ICLR 2020) [S/M], never
  materialised by the sampler: ``||g_i - g_j||^2 = ||a_i||^2 ||z_i||^2 + ||a_j||^2 ||z_j||^2 -
  2 (a_i . a_j)(z_i . z_j)`` with ``a = p - e_yhat`` costs ``O(C + D)`` per pair, not
  ``O(C D)``.
- :func:`kmeans_pp_seeding`: k-means++ seeding as in the BADGE reference code [M]: the point
  of largest norm first, then D^2 sampling without replacement.
- :class:`CoreSetSampler`, :class:`BadgeSampler`: the samplers, with ``partitions = m``: the
  unlabeled pool split uniformly at random into ``m`` near-equal parts, the method run
  independently in each with target ``k / m``, the union as the batch [P, spec Appendix A.1
  quoted in section 3; for CoreSet the partitioning is M].

Distances are squared Euclidean distances summed in coordinate order (``sum_j (u_j - v_j)^2``,
left to right, no fused multiply-add), in float64; every kernel computes them the same way,
so the row-major and the column-major paths and the blocked nearest-labeled search return
bitwise the same numbers. Ties (equal distances) go to the smallest index.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simlab.active.learners import check_features
from simlab.active.samplers import Sampler, _check, embeddings

__all__ = ["k_center_greedy", "badge_factors", "badge_embedding", "gradient_sqdist",
           "kmeans_pp_seeding", "partition_targets", "CoreSetSampler", "BadgeSampler"]

#: Centers per block of the nearest-labeled search (a contiguous D x 256 block stays in cache;
#: 5x faster than strided access into one transposed copy of all centers, measured).
_CENTER_BLOCK = 256


# -- numba kernels ---------------------------------------------------------------------------
# ``colmajor`` kernels loop over coordinates outside and rows inside (unit stride on a
# Fortran-ordered array: vectorised); the row-major ones loop over rows outside. Both sum
# each row's coordinates in the same order, so they agree bitwise.

@njit(cache=True)
def _sq_rows(Z, i, c):  # pragma: no cover - compiled
    s = 0.0
    for j in range(Z.shape[1]):
        t = Z[i, j] - c[j]
        s += t * t
    return s


@njit(cache=True)
def sqdist_colmajor(Z, c, acc):  # pragma: no cover - compiled
    """``acc[i] = ||Z[i] - c||^2`` for every row of a Fortran-ordered ``Z`` (coordinates
    outside, rows inside: vectorised), each row summed in coordinate order."""
    n, D = Z.shape
    for i in range(n):
        acc[i] = 0.0
    for j in range(D):
        cj = c[j]
        for i in range(n):
            t = Z[i, j] - cj
            acc[i] += t * t


@njit(cache=True)
def update_min_sqdist(Z, c, mind, acc, colmajor):  # pragma: no cover - compiled
    """``mind[i] = min(mind[i], ||Z[i] - c||^2)`` for every row (rows with ``mind <= 0``
    cannot decrease and are skipped)."""
    n = Z.shape[0]
    if colmajor:
        sqdist_colmajor(Z, c, acc)
        for i in range(n):
            if acc[i] < mind[i]:
                mind[i] = acc[i]
    else:
        for i in range(n):
            m = mind[i]
            if m <= 0.0:
                continue
            s = _sq_rows(Z, i, c)
            if s < m:
                mind[i] = s


@njit(cache=True)
def _argmax_first(v):  # pragma: no cover - compiled
    b = 0
    bv = v[0]
    for i in range(1, v.size):
        if v[i] > bv:
            bv = v[i]
            b = i
    return b


@njit(cache=True)
def _greedy_kernel(Z, k, mind, out, start, colmajor):  # pragma: no cover - compiled
    """Fill ``out[start:k]`` greedily; ``mind`` holds the running min squared distance to
    the centers so far (``-inf`` marks excluded rows: labeled or chosen)."""
    n, D = Z.shape
    acc = np.empty(n if colmajor else 0)
    c = np.empty(D)
    for t in range(start, k):
        b = _argmax_first(mind)
        out[t] = b
        mind[b] = -np.inf
        for j in range(D):
            c[j] = Z[b, j]
        update_min_sqdist(Z, c, mind, acc, colmajor)
        mind[b] = -np.inf


@njit(cache=True)
def _nearest_sqdist_kernel(Z, rows, CTb, best):  # pragma: no cover - compiled
    """``best[r] = min(best[r], min_q ||Z[rows[r]] - CTb[:, q]||^2)`` for a block of centers
    stored as the columns of the contiguous ``CTb`` (in cache; vectorised over the centers);
    each pair is summed in coordinate order, as :func:`_sq_rows` sums it."""
    D, w = CTb.shape
    acc = np.empty(w)
    for r in range(rows.size):
        i = rows[r]
        for q in range(w):
            acc[q] = 0.0
        for j in range(D):
            zij = Z[i, j]
            for q in range(w):
                u = zij - CTb[j, q]
                acc[q] += u * u
        b = best[r]
        for q in range(w):
            if acc[q] < b:
                b = acc[q]
        best[r] = b


@njit(cache=True)
def _gsq_to(A, Z, g2, c, out, colmajor, adot, zdot):  # pragma: no cover - compiled
    """``out[i] = max(0, g2[i] + g2[c] - 2 (A[i].A[c]) (Z[i].Z[c]))``, the factored squared
    distance between gradient embeddings ``A[i] (x) Z[i]`` and ``A[c] (x) Z[c]``."""
    n = A.shape[0]
    if colmajor:
        for i in range(n):
            adot[i] = 0.0
            zdot[i] = 0.0
        for j in range(A.shape[1]):
            acj = A[c, j]
            for i in range(n):
                adot[i] += A[i, j] * acj
        for j in range(Z.shape[1]):
            zcj = Z[c, j]
            for i in range(n):
                zdot[i] += Z[i, j] * zcj
        for i in range(n):
            d = g2[i] + g2[c] - 2.0 * (adot[i] * zdot[i])
            out[i] = d if d > 0.0 else 0.0
    else:
        for i in range(n):
            a = 0.0
            for j in range(A.shape[1]):
                a += A[i, j] * A[c, j]
            z = 0.0
            for j in range(Z.shape[1]):
                z += Z[i, j] * Z[c, j]
            d = g2[i] + g2[c] - 2.0 * (a * z)
            out[i] = d if d > 0.0 else 0.0


@njit(cache=True)
def _gnorms(A, Z):  # pragma: no cover - compiled
    """``||A[i] (x) Z[i]||^2 = ||A[i]||^2 ||Z[i]||^2``, the norms summed as the dots are."""
    n = A.shape[0]
    g2 = np.empty(n)
    for i in range(n):
        a = 0.0
        for j in range(A.shape[1]):
            a += A[i, j] * A[i, j]
        z = 0.0
        for j in range(Z.shape[1]):
            z += Z[i, j] * Z[i, j]
        g2[i] = a * z
    return g2


@njit(cache=True)
def nth_unchosen(chosen, u, free):  # pragma: no cover - compiled
    """The ``floor(u * free)``-th (at most the last) of the ``free`` rows not ``chosen``: a
    uniform pick among them for ``u`` uniform on ``[0, 1)``."""
    r = min(int(u * free), free - 1)
    for i in range(chosen.size):
        if not chosen[i]:
            if r == 0:
                return i
            r -= 1
    return -1


@njit(cache=True)
def _kmeanspp_kernel(A, Z, g2, k, u, out, colmajor):  # pragma: no cover - compiled
    n = A.shape[0]
    mind = np.full(n, np.inf)
    chosen = np.zeros(n, dtype=np.bool_)
    d = np.empty(n)
    adot = np.empty(n if colmajor else 0)
    zdot = np.empty(n if colmajor else 0)
    c = _argmax_first(g2)
    out[0] = c
    chosen[c] = True
    for t in range(1, k):
        _gsq_to(A, Z, g2, c, d, colmajor, adot, zdot)
        total = 0.0
        last = -1
        for i in range(n):
            if chosen[i]:
                continue
            if d[i] < mind[i]:
                mind[i] = d[i]
            if mind[i] > 0.0:
                total += mind[i]
                last = i
        if total > 0.0:  # D^2 sampling over the unchosen points
            target = u[t - 1] * total
            cum = 0.0
            c = last  # if rounding leaves target >= the final sum
            for i in range(n):
                if chosen[i] or mind[i] <= 0.0:
                    continue
                cum += mind[i]
                if cum > target:
                    c = i
                    break
        else:  # every unchosen point duplicates a center: uniform over the unchosen
            c = nth_unchosen(chosen, u[t - 1], n - t)
        out[t] = c
        chosen[c] = True


# -- helpers ---------------------------------------------------------------------------------

def _check_k(k, available: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    k = int(k)
    if k > available:
        raise ValueError(f"k={k} is larger than the {available} {what}")
    return k


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _check_partitions(m) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"partitions must be an integer >= 1, got {m!r}")
    return int(m)


def _is_colmajor(M: np.ndarray) -> bool:
    return bool(M.flags.f_contiguous and not M.flags.c_contiguous)


def _fortran_rows(M: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``M[rows]`` as a Fortran-ordered copy (the vectorised layout of the kernels)."""
    return np.ascontiguousarray(M.T[:, rows]).T


def _min_sqdist_to(Z: np.ndarray, rows: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``min_{c in centers} ||Z[r] - Z[c]||^2`` for every ``r`` in ``rows``, summed as every
    kernel sums it (so it equals ``centers``-by-``centers`` updates with
    :func:`update_min_sqdist`), in ``O(len(rows) * len(centers) * D)`` time, blocks of
    :data:`_CENTER_BLOCK` centers at a time (fixed extra memory).

    (Tried: a BLAS estimate ``|z|^2 + |c|^2 - 2 z.c`` with an exact recheck of the
    near-minimal pairs was only ~10% faster single-threaded, and 5-15x slower with OpenBLAS's
    two threads interleaved with the numba loop on a loaded 2-core machine; so this exact
    loop.)
    """
    best = np.full(rows.size, np.inf)
    if rows.size == 0:
        return best
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    for q0 in range(0, centers.size, _CENTER_BLOCK):
        CTb = np.ascontiguousarray(Z[centers[q0:q0 + _CENTER_BLOCK]].T)
        _nearest_sqdist_kernel(Z, rows, CTb, best)
    return best


def _greedy(Zp: np.ndarray, k: int, mind: np.ndarray, rng, draw_first: bool) -> np.ndarray:
    """Greedy k-center on the rows of ``Zp`` from the running min squared distances ``mind``
    (modified; ``-inf`` marks excluded rows). With ``draw_first`` the first center is
    ``rng.integers(n)`` (uniform over all rows; no row may be excluded then)."""
    out = np.empty(k, dtype=np.int64)
    colmajor = _is_colmajor(Zp)
    start = 0
    if draw_first:
        f = int(rng.integers(Zp.shape[0]))
        out[0] = f
        mind[f] = -np.inf
        acc = np.empty(Zp.shape[0] if colmajor else 0)
        update_min_sqdist(Zp, np.ascontiguousarray(Zp[f]), mind, acc, colmajor)
        mind[f] = -np.inf
        start = 1
    if k > start:
        _greedy_kernel(Zp, k, mind, out, start, colmajor)
    return out


def partition_targets(sizes, k: int) -> np.ndarray:
    """Per-part batch sizes for the pool partitioning: target ``k // m`` in each of the ``m``
    parts, one more in each of the first ``k % m``; a part smaller than its target gives all
    its points, and the shortfall is dealt out one point at a time, cyclically in part order,
    to the parts that still have points (simlab's choice; the paper's handling is UNVERIFIED).

    With near-equal parts (sizes differing by at most 1, the larger first, as
    :func:`numpy.array_split` makes them) no part falls short.

    Parameters
    ----------
    sizes : array_like of int, shape (m,)
        The parts' sizes, ``>= 0``, summing to at least ``k``.
    k : int
        The batch size, ``>= 1``.

    Returns
    -------
    ndarray of int64, shape (m,)
        Targets ``t`` with ``0 <= t <= sizes`` and ``t.sum() == k``.

    Raises
    ------
    ValueError
        Bad sizes or ``k`` larger than their sum.
    """
    s = np.asarray(sizes)
    if s.ndim != 1 or s.size == 0 or (s.size and not np.issubdtype(s.dtype, np.integer)):
        raise ValueError(f"sizes must be a non-empty 1-D integer array, got {sizes!r}")
    s = s.astype(np.int64)
    if (s < 0).any():
        raise ValueError(f"sizes must be >= 0, got {s.tolist()}")
    k = _check_k(k, int(s.sum()), "points in the parts")
    m = s.size
    q = np.full(m, k // m, dtype=np.int64)
    q[: k % m] += 1
    t = np.minimum(q, s)
    short = k - int(t.sum())
    while short > 0:
        room = np.flatnonzero(t < s)
        take = room[:short]
        t[take] += 1
        short -= take.size
    return t


def _split(U: np.ndarray, m: int, k: int, rng) -> tuple[list, np.ndarray]:
    """The random partition of ``U`` into ``m`` near-equal parts (each sorted, so ties go to
    the smallest pool index inside a part) and their targets; ``m == 1`` keeps ``U`` as it
    is and draws nothing."""
    if m == 1:
        return [U], np.array([k], dtype=np.int64)
    parts = [np.sort(p) for p in np.array_split(rng.permutation(U), m)]
    return parts, partition_targets([p.size for p in parts], k)


# -- public functions ------------------------------------------------------------------------

def k_center_greedy(Z, k: int, labeled, rng: np.random.Generator | None) -> np.ndarray:
    """Greedy k-center (CoreSet's selection): ``k`` rows of ``Z``, not in ``labeled``, each
    the row farthest from the centers so far (``labeled`` and the rows already chosen).

    Parameters
    ----------
    Z : array_like, shape (n, D)
        The embeddings (finite). A Fortran-ordered float64 array takes a vectorised path
        (about 2-3x faster, same result); any other layout is read in place.
    k : int
        Number of rows to choose, ``1 <= k <= n - |labeled|``.
    labeled : array_like of int
        Row indices of the initial centers (already labeled); may be empty; repeated
        indices count once.
    rng : numpy.random.Generator or None
        Draws the first center when ``labeled`` is empty: ``rng.integers(n)``, uniform over
        the ``n`` rows (simlab's choice; Sener & Savarese start from the labeled set).
        Unused (may be ``None``) otherwise.

    Returns
    -------
    ndarray of int64, shape (k,)
        Distinct row indices not in ``labeled``, in the order chosen.

    Notes
    -----
    Each step adds ``argmax_i min_{c in centers} ||Z[i] - Z[c]||^2`` over the rows not yet
    labeled or chosen (chosen rows are excluded outright: their distance 0 would otherwise
    tie with duplicates); ties go to the smallest index. So duplicates of the centers are
    still chosen (in index order) once every other row is at distance 0. ``O(n k D)`` time
    for the greedy steps and ``O(n |labeled| D)`` for the initial distances (blocked,
    exact); ``O(n)`` memory beyond ``Z`` (a running min-distance array, fixed-size blocks;
    never ``n x n``).
    The covering radius is within a factor 2 of the optimum (Gonzalez, 1985), also with
    fixed initial centers.

    Raises
    ------
    ValueError
        ``Z`` not 2-D or not finite, ``k`` not an integer in range, ``labeled`` not integer
        indices in ``[0, n)``, ``rng`` not a Generator when it is needed.
    """
    Z = check_features(Z, "Z")
    n = Z.shape[0]
    L = np.asarray(labeled)
    if L.ndim != 1 or (L.size and not np.issubdtype(L.dtype, np.integer)):
        raise ValueError(f"labeled must be a 1-D array of integer row indices, got "
                         f"{L.dtype} array of shape {L.shape}")
    L = np.unique(L.astype(np.int64))
    if L.size and (L[0] < 0 or L[-1] >= n):
        raise ValueError(f"labeled indices must lie in [0, {n})")
    k = _check_k(k, n - L.size, f"rows of Z not in labeled (n={n}, |labeled|={L.size})")
    if L.size == 0:
        _check_rng(rng)
        return _greedy(Z, k, np.full(n, np.inf), rng, True)
    free = np.ones(n, dtype=bool)
    free[L] = False
    mind = np.full(n, -np.inf)
    mind[free] = _min_sqdist_to(Z, np.flatnonzero(free), L)
    return _greedy(Z, k, mind, rng, False)


def badge_factors(proba) -> np.ndarray:
    """``a(x) = p(x) - e_yhat(x)``, the factor of BADGE's gradient embedding
    ``g(x) = a(x) (x) z(x)`` (the last layer's cross-entropy gradient under the label
    ``yhat = argmax p``, ties to the smallest class) [S/M, Ash et al. 2020].

    Parameters
    ----------
    proba : array_like, shape (n, C), C >= 2
        Class probabilities (finite; rows are not required to sum to 1).

    Returns
    -------
    ndarray, shape (n, C)
    """
    P = np.asarray(proba, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"proba must have shape (n, C) with C >= 2, got {P.shape}")
    if not np.isfinite(P).all():
        raise ValueError("proba has NaN or infinite entries")
    A = P.copy()
    A[np.arange(P.shape[0]), np.argmax(P, axis=1)] -= 1.0
    return A


def _check_factors(A, Z) -> tuple[np.ndarray, np.ndarray]:
    A = check_features(A, "A (gradient factors)")
    Z = check_features(Z, "Z (embeddings)")
    if A.shape[0] != Z.shape[0]:
        raise ValueError(f"A and Z must have the same rows, got {A.shape[0]} and {Z.shape[0]}")
    return A, Z


def badge_embedding(A, Z) -> np.ndarray:
    """The explicit gradient embeddings ``g_i = A[i] (x) Z[i]`` (row ``i`` is
    ``np.outer(A[i], Z[i]).ravel()``), shape ``(n, C * D)``.

    For checks on small pools only: it materialises ``n * C * D`` numbers, which the
    sampler never does (:func:`gradient_sqdist`, :func:`kmeans_pp_seeding` work on the
    factors).
    """
    A, Z = _check_factors(A, Z)
    return np.einsum("ic,id->icd", A, Z).reshape(A.shape[0], A.shape[1] * Z.shape[1])


def gradient_sqdist(A, Z, j: int) -> np.ndarray:
    """``||g_i - g_j||^2`` for every row ``i``, with ``g_i = A[i] (x) Z[i]``, from the factors:
    ``||A_i||^2 ||Z_i||^2 + ||A_j||^2 ||Z_j||^2 - 2 (A_i . A_j)(Z_i . Z_j)``, clipped at 0;
    ``O(n (C + D))``. (The kernel of :func:`kmeans_pp_seeding`; exactly 0 for a duplicate of
    row ``j``.)

    Parameters
    ----------
    A : array_like, shape (n, C)
        Gradient factors (:func:`badge_factors`).
    Z : array_like, shape (n, D)
        Embeddings.
    j : int
        The reference row.

    Returns
    -------
    ndarray, shape (n,)
        Accurate to rounding of order ``eps (||g_i||^2 + ||g_j||^2)`` (cancellation).
    """
    A, Z = _check_factors(A, Z)
    n = A.shape[0]
    if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= j < n:
        raise ValueError(f"j must be a row index in [0, {n}), got {j!r}")
    out = np.empty(n)
    cm = _is_colmajor(A) and _is_colmajor(Z)
    e = np.empty(n if cm else 0)
    _gsq_to(A, Z, _gnorms(A, Z), int(j), out, cm, e, e.copy())
    return out


def kmeans_pp_seeding(A, Z, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on the gradient embeddings ``g_i = A[i] (x) Z[i]``, as in the BADGE
    reference code [M]: ``k`` distinct rows.

    The first row is the one of largest ``||g||`` (compared as ``||g||^2``; ties to the
    smallest index); each next row is drawn with probability proportional to its squared
    distance to the nearest row chosen so far (D^2 sampling), among the rows not yet chosen
    (the reference code redraws a chosen row, which has D^2 = 0: the same law). If every
    unchosen row is at distance 0 (duplicates of the chosen ones), the next row is uniform
    over the unchosen rows instead (simlab's choice: the reference code divides by 0).

    Plain k-means++ on points ``X`` (largest norm first) is ``kmeans_pp_seeding(ones((n, 1)),
    X, k, rng)``.

    Parameters
    ----------
    A : array_like, shape (n, C)
        Gradient factors (:func:`badge_factors`).
    Z : array_like, shape (n, D)
        Embeddings. With both ``A`` and ``Z`` Fortran-ordered float64 a vectorised path runs.
    k : int
        ``1 <= k <= n``.
    rng : numpy.random.Generator
        Draws exactly ``k - 1`` uniforms, ``rng.random(k - 1)``, up front (one per pick after
        the first), whatever the data.

    Returns
    -------
    ndarray of int64, shape (k,)
        In the order picked.

    Notes
    -----
    ``O(n k (C + D))`` time, ``O(n)`` memory beyond the inputs (a running min-distance
    array); the factored distance of :func:`gradient_sqdist`.
    """
    A, Z = _check_factors(A, Z)
    n = A.shape[0]
    k = _check_k(k, n, "rows")
    _check_rng(rng)
    u = rng.random(k - 1)
    out = np.empty(k, dtype=np.int64)
    cm = _is_colmajor(A) and _is_colmajor(Z)
    _kmeanspp_kernel(A, Z, _gnorms(A, Z), k, u, out, cm)
    return out


# -- samplers --------------------------------------------------------------------------------

#: The initial-center rules of :class:`CoreSetSampler` with pool partitioning.
CORESET_CENTERS = ("all", "part")


def check_coreset_centers(centers, name: str = "centers") -> str:
    """``centers`` if it is one of :data:`CORESET_CENTERS`, else ``ValueError``."""
    if centers not in CORESET_CENTERS:
        raise ValueError(f"{name} must be one of {CORESET_CENTERS}, got {centers!r}")
    return centers


class CoreSetSampler(Sampler):
    """CoreSet: greedy k-center on the embeddings ``z(x)`` with the labeled set as initial
    centers (spec 3; Sener & Savarese 2018) [S/M].

    Parameters
    ----------
    partitions : int
        ``m >= 1``. With ``m > 1`` the unlabeled pool is split uniformly at random into ``m``
        near-equal parts (:func:`numpy.array_split` of ``rng.permutation(unlabeled)``) and
        greedy k-center runs in each with target ``k // m`` (one more in the first ``k % m``
        parts; :func:`partition_targets`); the batch is the union [P for BADGE, spec Appendix
        A.1; M for CoreSet]. Every part starts from the **whole** labeled set as centers
        (simlab's choice; the paper's handling is UNVERIFIED), so each part's points stay
        far from the labeled data, but not from the other parts' picks.
    centers : {"all", "part"}
        The initial centers of a part with ``m > 1``. ``"all"`` (the default): the whole
        labeled set, as above. ``"part"``: the **whole pool**, labeled and unlabeled, is split
        at random into ``m`` near-equal parts (of ``rng.permutation(n)``), and each part
        starts from the labeled points that fell into it (a part without any draws its
        first center). ``m`` times cheaper in the distances to the labeled set (the cost
        that dominates when ``|L|`` reaches 10^5), at the price of a coarser cover: a point
        near a labeled point of another part still counts as far. Also a reading of the
        paper's partitioning (UNVERIFIED); ignored with ``m = 1``.

    Notes
    -----
    ``L`` is the pool minus ``unlabeled``; the embeddings are
    :func:`~simlab.active.samplers.embeddings` of the whole pool. With ``centers="all"`` the
    distances to ``L`` are computed once for the whole unlabeled pool and shared by the
    parts. Randomness: the partition (``m > 1``), then, for each part without initial centers
    (all of them when ``L`` is empty), its first center (``rng.integers(part size)``, parts
    in order). With ``m = 1`` the batch is ``k_center_greedy(z, k, L, rng)``, in its order.
    Cost ``O(n k D / m + n |L| D)`` (``centers="all"``) or ``O(n (k + |L|) D / m)``
    (``"part"``).
    """

    name = "coreset"

    def __init__(self, partitions: int = 1, centers: str = "all"):
        self.partitions = _check_partitions(partitions)
        self.centers = check_coreset_centers(centers)

    def __repr__(self) -> str:
        return f"CoreSetSampler(partitions={self.partitions}, centers={self.centers!r})"

    def select(self, k: int, X, unlabeled, model, rng: np.random.Generator) -> np.ndarray:
        """Choose ``k`` distinct indices from ``unlabeled`` (see the class notes).

        Raises
        ------
        ValueError
            As :meth:`Sampler.select`; NaN embeddings.
        """
        X = check_features(X)
        k, U = _check(k, X, unlabeled)
        _check_rng(rng)
        Z = embeddings(model, X)
        if Z.shape[0] != X.shape[0]:
            raise ValueError(f"the model embedded {Z.shape[0]} rows for a pool of "
                             f"{X.shape[0]}")
        n = Z.shape[0]
        free = np.zeros(n, dtype=bool)
        free[U] = True
        if self.partitions > 1 and self.centers == "part":
            return self._select_part_centers(Z, k, free, rng)
        L = np.flatnonzero(~free)
        U = np.sort(U)
        mind_U = _min_sqdist_to(Z, U, L) if L.size else np.full(U.size, np.inf)
        pos = np.full(n, -1, dtype=np.int64)
        pos[U] = np.arange(U.size)
        parts, targets = _split(U, self.partitions, k, rng)
        out = []
        for p, t in zip(parts, targets):
            if t == 0:
                continue
            idx = _greedy(_fortran_rows(Z, p), int(t), mind_U[pos[p]].copy(), rng,
                          L.size == 0)
            out.append(p[idx])
        return np.concatenate(out)

    def _select_part_centers(self, Z, k: int, free: np.ndarray, rng) -> np.ndarray:
        """``centers="part"``: the whole pool partitioned; each part's own labeled points
        are its initial centers."""
        parts = [np.sort(p) for p in np.array_split(rng.permutation(free.size),
                                                     self.partitions)]
        Us = [p[free[p]] for p in parts]
        targets = partition_targets([u.size for u in Us], k)
        out = []
        for p, Up, t in zip(parts, Us, targets):
            if t == 0:
                continue
            Lp = p[~free[p]]
            mind = _min_sqdist_to(Z, Up, Lp) if Lp.size else np.full(Up.size, np.inf)
            idx = _greedy(_fortran_rows(Z, Up), int(t), mind, rng, Lp.size == 0)
            out.append(Up[idx])
        return np.concatenate(out)


class BadgeSampler(Sampler):
    """BADGE: k-means++ seeding (:func:`kmeans_pp_seeding`) on the gradient embeddings
    ``(p(x) - e_yhat(x)) (x) z(x)`` of the unlabeled points (spec 3; Ash et al. 2020) [S/M].

    Parameters
    ----------
    partitions : int
        ``m >= 1``. With ``m > 1`` the unlabeled pool is split uniformly at random into ``m``
        near-equal parts and the seeding runs independently in each with target ``k // m``
        (one more in the first ``k % m`` parts; :func:`partition_targets`); the batch is the
        union [P, spec Appendix A.1 quoted in section 3].

    Notes
    -----
    ``p = model.predict_proba(X[unlabeled])``, ``z =``
    :func:`~simlab.active.samplers.embeddings` of ``X[unlabeled]``. Randomness: the partition
    (``m > 1``), then ``t - 1`` uniforms per part of target ``t``, parts in order. Each part
    starts from its own largest-gradient point. With ``m = 1``, the batch is
    ``unlabeled[kmeans_pp_seeding(badge_factors(p), z, k, rng)]`` (unlabeled sorted), in its
    order. Cost ``O(n k (C + D) / m)``.
    """

    name = "badge"

    def __init__(self, partitions: int = 1):
        self.partitions = _check_partitions(partitions)

    def __repr__(self) -> str:
        return f"BadgeSampler(partitions={self.partitions})"

    def select(self, k: int, X, unlabeled, model, rng: np.random.Generator) -> np.ndarray:
        """Choose ``k`` distinct indices from ``unlabeled`` (see the class notes).

        Raises
        ------
        ValueError
            As :meth:`Sampler.select`; NaN embeddings or probabilities.
        """
        X = check_features(X)
        k, U = _check(k, X, unlabeled)
        _check_rng(rng)
        U = np.sort(U)
        XU = X[U]
        A = badge_factors(model.predict_proba(XU))
        Z = embeddings(model, XU)
        if A.shape[0] != U.size or Z.shape[0] != U.size:
            raise ValueError(f"the model returned {A.shape[0]} probability rows and "
                             f"{Z.shape[0]} embedding rows for {U.size} points")
        parts, targets = _split(np.arange(U.size), self.partitions, k, rng)
        out = []
        for p, t in zip(parts, targets):
            if t == 0:
                continue
            idx = kmeans_pp_seeding(_fortran_rows(A, p), _fortran_rows(Z, p), int(t), rng)
            out.append(U[p[idx]])
        return np.concatenate(out)
