"""Cluster-MarginV's volume selectors (spec 4.2): V-det, V-cells, projections, the sampler.

Exact checks against brute force on tiny sets (every greedy step of V-det is the argmax of
the conditional log-determinant over the rows left), the contracts of V-cells (exactly ``k``
distinct rows, one per well-separated cluster) and of :class:`ClusterMarginVSampler` (a
subset of the ``k_m`` lowest margins; ``k_m = k`` gives the Margin batch), and bad input.
No statistical tolerances: every check is exact or uses a fixed seed with a deterministic
outcome.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simlab.active.learners import SoftmaxRegression
from simlab.active.pools import GaussianMixturePool, LinearSeparatorPool
from simlab.active.samplers import MarginSampler, margin_scores
from simlab.active.volume import (
    ClusterMarginVSampler,
    kmeans,
    log_det,
    project_out,
    vcells_select,
    vdet_select,
    volume_features,
)


def _rows(seed, n=7, D=3):
    return np.random.default_rng(seed).standard_normal((n, D))


# --- project_out -------------------------------------------------------------------------

def test_projection_is_orthogonal_unit_and_keeps_zero_rows_zero():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(4)
    P = rng.standard_normal((20, 4))
    P[3] = 2.5 * w  # parallel to w: its projection is zero
    P[5] = 0.0
    Q = project_out(P, w)
    np.testing.assert_allclose(Q @ w, 0.0, atol=1e-12)
    norms = np.linalg.norm(Q, axis=1)
    assert np.all(Q[[3, 5]] == 0.0)
    np.testing.assert_allclose(np.delete(norms, [3, 5]), 1.0, rtol=1e-12)
    # unnormalised: the plain projection, rows rescaled by their norms
    R = project_out(P, w, normalize=False)
    u = w / np.linalg.norm(w)
    np.testing.assert_allclose(R, P - np.outer(P @ u, u), atol=1e-12)
    keep = np.delete(np.arange(20), [3, 5])
    np.testing.assert_allclose(R[keep] / np.linalg.norm(R[keep], axis=1)[:, None], Q[keep],
                               atol=1e-12)
    # the scale of w does not matter
    np.testing.assert_allclose(project_out(P, -7.0 * w), Q, atol=1e-12)


def test_projection_bad_input():
    P = np.ones((3, 2))
    with pytest.raises(ValueError, match="non-zero"):
        project_out(P, np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        project_out(P, np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        project_out(np.array([[np.nan, 1.0]]), np.ones(2))
    with pytest.raises(ValueError, match="2-D"):
        project_out(np.ones(3), np.ones(3))


# --- V-det ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_vdet_each_greedy_step_is_the_brute_force_argmax(seed):
    """Step t adds argmax_i log det(Phi_{S+i} Phi_{S+i}^T + lam I); k = 6 > rank 3."""
    P = _rows(seed)
    lam = 1e-2
    S = vdet_select(P, 6, lam)
    assert np.unique(S).size == 6
    for t in range(6):
        rest = [i for i in range(P.shape[0]) if i not in S[:t]]
        vals = [log_det(P, list(S[:t]) + [i], lam) for i in rest]
        assert S[t] == rest[int(np.argmax(vals))]
        assert log_det(P, S[:t + 1], lam) == pytest.approx(max(vals), rel=1e-9, abs=1e-9)


def test_vdet_k1_is_the_max_norm_row_and_k2_the_best_partner():
    P = _rows(11, n=6, D=2)
    lam = 1e-3
    # k = 1: the global argmax, the row of largest norm
    best1 = max(range(6), key=lambda i: log_det(P, [i], lam))
    assert vdet_select(P, 1, lam).tolist() == [best1]
    assert best1 == int(np.argmax(np.linalg.norm(P, axis=1)))
    # k = 2: the greedy second pick is the best partner of the first (brute force over pairs
    # that contain it)
    S = vdet_select(P, 2, lam)
    pairs = [(best1, j) for j in range(6) if j != best1]
    assert tuple(S) == max(pairs, key=lambda p: log_det(P, p, lam))


def test_vdet_prefers_spread_directions_over_near_duplicates():
    """The objective of the greedy set equals slogdet, and a pair of orthogonal rows beats a
    pair of parallel ones (the volume criterion prefers spread directions)."""
    P = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    assert vdet_select(P, 2, 1e-3).tolist() == [0, 2]  # not the near-duplicate row 1
    best = max(itertools.combinations(range(3), 2), key=lambda p: log_det(P, p, 1e-3))
    assert best == (0, 2)


def test_vdet_ties_go_to_the_smallest_index_and_k_above_rank_works():
    u = np.array([1.0, 0.0])
    P = np.array([u, u, -u, u, u])  # one direction: every gain ties after each step
    assert vdet_select(P, 5, 1e-3).tolist() == [0, 1, 2, 3, 4]
    Z = np.zeros((4, 3))
    assert vdet_select(Z, 3, 1e-3).tolist() == [0, 1, 2]  # all zero rows: ties, defined


def test_vdet_bad_input():
    P = _rows(0)
    with pytest.raises(ValueError, match="lam"):
        vdet_select(P, 2, lam=0.0)
    with pytest.raises(ValueError, match="larger than"):
        vdet_select(P, 8)
    with pytest.raises(ValueError, match="k must be"):
        vdet_select(P, 0)
    with pytest.raises(ValueError, match="empty"):
        vdet_select(np.zeros((0, 3)), 1)


# --- V-cells -------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 10, 29, 30])
def test_vcells_returns_exactly_k_distinct_sorted_rows(k):
    P = np.random.default_rng(1).standard_normal((30, 3))
    S = vcells_select(P, k, np.random.default_rng(2))
    assert S.shape == (k,) and np.unique(S).size == k
    assert np.all(np.diff(S) > 0) and S.min() >= 0 and S.max() < 30


def test_vcells_picks_one_point_per_separated_cluster_the_one_nearest_its_centre():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    P = np.concatenate([c + rng.standard_normal((15, 2)) for c in centres])
    for seed in range(5):
        S = vcells_select(P, 3, np.random.default_rng(seed))
        assert sorted(S // 15) == [0, 1, 2]  # one per cluster
        for i in S:
            members = P[(i // 15) * 15:(i // 15 + 1) * 15]
            c = members.mean(axis=0)  # the converged centre of that cluster
            assert i % 15 == int(np.argmin(np.linalg.norm(members - c, axis=1)))


def test_vcells_fills_when_fewer_cells_than_k_are_non_empty():
    P = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 6, axis=0)  # 2 distinct points
    S = vcells_select(P, 5, np.random.default_rng(0))
    assert S.size == 5 and np.unique(S).size == 5
    assert set(P[S, 0]) == {0.0, 5.0}  # both locations covered
    # deterministic given the generator's seed
    assert np.array_equal(S, vcells_select(P, 5, np.random.default_rng(0)))


def test_kmeans_labels_are_nearest_centres():
    P = np.random.default_rng(4).standard_normal((40, 2))
    C, lab = kmeans(P, 5, np.random.default_rng(0))
    D = ((P[:, None, :] - C[None]) ** 2).sum(-1)
    assert np.array_equal(lab, np.argmin(D, axis=1))


# --- volume features -----------------------------------------------------------------------

def test_volume_features_per_reading():
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((12, 4))
    w = rng.standard_normal(4)
    det = volume_features(Z, w, "det")
    cells = volume_features(Z, w, "cells")
    np.testing.assert_allclose(det @ w, 0.0, atol=1e-12)
    np.testing.assert_allclose(cells @ w, 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(det, axis=1), 1.0)
    np.testing.assert_allclose(cells, project_out(Z, w, normalize=False))
    # no direction (or one of another dimension): centred, and normalised for V-det
    c = volume_features(Z, None, "cells")
    np.testing.assert_allclose(c, Z - Z.mean(axis=0))
    np.testing.assert_allclose(volume_features(Z, np.ones(3), "det"),
                               c / np.linalg.norm(c, axis=1)[:, None])
    with pytest.raises(ValueError, match="reading"):
        volume_features(Z, w, "bogus")


# --- the sampler ---------------------------------------------------------------------------

TASK = LinearSeparatorPool(d=4, n_pool=600, n_test=10, seed=7)


def _fitted(task=TASK, n_seed=40):
    D = task.data()
    m = SoftmaxRegression(D.n_classes)
    idx = np.arange(n_seed)
    m.fit(D.X[idx], D.y[idx])
    return m, D.X, np.arange(n_seed, D.X.shape[0])


@pytest.mark.parametrize("reading", ["det", "cells"])
@pytest.mark.parametrize("k, k_m", [(5, 50), (12, 13), (1, 30)])
def test_sampler_contract(reading, k, k_m):
    model, X, U = _fitted()
    S = ClusterMarginVSampler(reading, k_m=k_m).select(k, X, U, model,
                                                        np.random.default_rng(0))
    assert S.shape == (k,) and np.unique(S).size == k and np.isin(S, U).all()
    s = margin_scores(model.predict_proba(X[U]))
    lowest = U[np.lexsort((U, s))[:k_m]]  # brute force: the k_m lowest margins
    assert np.isin(S, lowest).all()


@pytest.mark.parametrize("reading", ["det", "cells"])
def test_sampler_with_km_equal_k_is_the_margin_batch(reading):
    model, X, U = _fitted()
    S = ClusterMarginVSampler(reading, k_m=9).select(9, X, U, model, np.random.default_rng(1))
    M = MarginSampler().select(9, X, U, model, np.random.default_rng(1))
    assert np.array_equal(np.sort(S), np.sort(M))


def test_sampler_det_reading_is_vdet_on_the_projected_candidates():
    model, X, U = _fitted()
    S = ClusterMarginVSampler("det", k_m=60, lam=1e-3).select(8, X, U, model,
                                                             np.random.default_rng(0))
    s = margin_scores(model.predict_proba(X[U]))
    M = U[np.lexsort((U, s))[:60]]
    Phi = project_out(X[M], model.direction())
    assert np.array_equal(S, M[vdet_select(Phi, 8, 1e-3)])


def test_sampler_without_a_direction_uses_centred_embeddings():
    g = GaussianMixturePool(d=3, n_classes=3, n_pool=300, n_test=10, seed=1)
    D = g.data()
    model = SoftmaxRegression(3).fit(D.X[:60], D.y[:60])  # 3 classes: no direction
    U = np.arange(60, 300)
    for reading in ("det", "cells"):
        S = ClusterMarginVSampler(reading, km_ratio=5).select(6, D.X, U, model,
                                                              np.random.default_rng(0))
        assert S.size == 6 and np.unique(S).size == 6 and np.isin(S, U).all()


def test_sampler_bad_input():
    model, X, U = _fitted()
    with pytest.raises(ValueError, match="k_t=10 > k_m=5"):
        ClusterMarginVSampler("det", k_m=5).select(10, X, U, model, np.random.default_rng(0))
    with pytest.raises(ValueError, match="reading"):
        ClusterMarginVSampler("volume")
    with pytest.raises(ValueError, match="km_ratio"):
        ClusterMarginVSampler("det", km_ratio=0.5)
    with pytest.raises(ValueError, match="lam"):
        ClusterMarginVSampler("det", lam=-1.0)
    with pytest.raises(ValueError, match="k_m"):
        ClusterMarginVSampler("det", k_m=0)
    with pytest.raises(ValueError, match="empty"):
        ClusterMarginVSampler("cells").select(1, X, np.zeros(0, np.int64), model,
                                              np.random.default_rng(0))
    with pytest.raises(ValueError, match="larger than the unlabeled"):
        ClusterMarginVSampler("cells", k_m=20).select(10, X, U[:5], model,
                                                      np.random.default_rng(0))
    # k_m above the unlabeled pool: capped, with a warning
    with pytest.warns(UserWarning, match="capped"):
        S = ClusterMarginVSampler("cells", k_m=500).select(4, X, U[:30], model,
                                                           np.random.default_rng(0))
    assert S.size == 4 and np.isin(S, U[:30]).all()


def _reference_seeding(P, k, rng):
    """k-means++ seeding written plainly (numpy): the compiled kernel must draw the same."""
    n = P.shape[0]
    idx = [int(rng.integers(n))]
    dmin = ((P - P[idx[0]]) ** 2).sum(axis=1)
    taken = np.zeros(n, dtype=bool)
    taken[idx[0]] = True
    for _ in range(1, k):
        w = np.where(taken, 0.0, dmin)
        u = rng.random()
        if w.sum() > 0:
            j = min(int(np.searchsorted(np.cumsum(w), u * np.cumsum(w)[-1], side="right")),
                    n - 1)
            while taken[j]:
                j -= 1
        else:
            free = np.flatnonzero(~taken)
            j = int(free[min(int(u * free.size), free.size - 1)])
        idx.append(j)
        taken[j] = True
        dmin = np.minimum(dmin, ((P - P[j]) ** 2).sum(axis=1))
    return P[idx]


@pytest.mark.parametrize("shape, k", [((200, 2), 20), ((500, 3), 60), ((12, 2), 5)])
def test_compiled_kmeans_seeding_draws_what_the_plain_version_draws(shape, k):
    P = np.random.default_rng(k).standard_normal(shape)
    if shape[0] == 12:  # duplicates: the weights run out, the fallback is uniform
        P = np.repeat(P[:3], 4, axis=0)
    for seed in range(5):
        C, _ = kmeans(P, k, np.random.default_rng(seed), iters=0)
        assert np.allclose(C, _reference_seeding(P, k, np.random.default_rng(seed))), seed
