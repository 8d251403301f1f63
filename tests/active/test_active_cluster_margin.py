"""Cluster-Margin: the round-robin (hypothesis), the degenerate cases of spec 2.7, the sampler
in the loop (one clustering per experiment) and its bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simlab.active import LinearSeparatorPool, SoftmaxRegression, run_active
from simlab.active.cluster_margin import (
    ClusterMarginSampler,
    cluster_margin_batch,
    lowest_k,
    round_robin,
    round_robin_loop,
)
from simlab.active.samplers import MarginSampler

groups_st = st.lists(st.integers(0, 9), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(groups_st, st.integers(1, 70), st.integers(0, 2 ** 32 - 1))
def test_vectorized_round_robin_equals_the_loop(groups, k, seed):
    g = np.array(groups)
    a = round_robin_loop(g, k, np.random.default_rng(seed))
    b = round_robin(g, k, np.random.default_rng(seed))
    np.testing.assert_array_equal(a, b)


@settings(max_examples=300, deadline=None)
@given(groups_st, st.integers(1, 70), st.integers(0, 2 ** 32 - 1))
def test_round_robin_properties(groups, k, seed):
    g = np.array(groups)
    out = round_robin(g, k, np.random.default_rng(seed))
    # batch size min(k, m), distinct positions, only candidates
    assert out.size == min(k, g.size)
    assert np.unique(out).size == out.size
    assert out.min() >= 0 and out.max() < g.size
    ids, sizes = np.unique(g, return_counts=True)
    cnt = dict(zip(*np.unique(g[out], return_counts=True)))
    counts = np.array([cnt.get(i, 0) for i in ids])
    # balance: two groups differ by more than 1 only if the smaller one is exhausted
    for a in range(ids.size):
        for b in range(ids.size):
            if counts[a] + 1 < counts[b]:
                assert counts[a] == sizes[a]
    if ids.size >= k:  # one point from each of the k smallest groups (up to size ties)
        assert counts.max() <= 1
        used = sizes[counts == 1]
        unused = sizes[counts == 0]
        if unused.size:
            assert used.max() <= unused.min()
    # smallest groups first: within the first cycle, sizes are non-decreasing
    first = []
    seen = set()
    for p in out:
        if g[p] in seen:
            break
        seen.add(g[p])
        first.append(sizes[np.searchsorted(ids, g[p])])
    assert all(x <= y for x, y in zip(first, first[1:]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=50), st.data())
def test_lowest_k_is_the_stable_sort_prefix(vals, data):
    s = np.array(vals, dtype=float)
    k = data.draw(st.integers(1, s.size))
    want = np.sort(np.argsort(s, kind="stable")[:k])
    np.testing.assert_array_equal(lowest_k(s, k), want)


def test_relabelling_clusters_of_distinct_sizes_leaves_the_batch_unchanged():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(6), [1, 2, 3, 5, 8, 13])
    rng.shuffle(g)
    relabel = np.array([40, 7, 3, 19, 2, 11])[g]
    for k in (3, 6, 10, 32):
        a = round_robin(g, k, np.random.default_rng(5))
        b = round_robin(relabel, k, np.random.default_rng(5))
        np.testing.assert_array_equal(a, b)


def test_terminates_when_groups_run_out():
    g = np.array([0, 0, 1])
    out = round_robin(g, 10, np.random.default_rng(1))
    assert sorted(out.tolist()) == [0, 1, 2]
    assert round_robin_loop(np.zeros(4, int), 9, np.random.default_rng(0)).size == 4
    assert round_robin(np.arange(5), 9, np.random.default_rng(0)).size == 5


# --- degenerate cases (spec 2.7) ---------------------------------------------------------

def test_km_equal_kt_gives_the_margin_set():
    rng = np.random.default_rng(3)
    s = rng.random(300)
    c = rng.integers(0, 20, 300)
    for k in (1, 7, 50):
        got = cluster_margin_batch(s, c, k, k, np.random.default_rng(k))
        assert set(got.tolist()) == set(np.argsort(s)[:k].tolist())


def test_km_equal_kt_in_the_loop_matches_the_margin_sampler():
    task = LinearSeparatorPool(d=3, n_pool=400, n_test=50, seed=4)
    D = task.data()
    model = SoftmaxRegression(2).fit(D.X[:40], D.y[:40])
    U = np.arange(40, 400)
    cm = ClusterMarginSampler(k_m=25, eps=0.5, cache=False)
    a = cm.select(25, D.X, U, model, np.random.default_rng(0))
    b = MarginSampler().select(25, D.X, U, model, np.random.default_rng(0))
    assert set(a.tolist()) == set(b.tolist())


def _uniformity_pvalue(labels, k_t, k_m, reps=3000):
    """Chi-square p-value of the inclusion counts of the k_m candidates."""
    s = np.arange(40, dtype=float)  # candidates: positions 0..k_m-1
    counts = np.zeros(k_m)
    for r in range(reps):
        out = cluster_margin_batch(s, labels, k_t, k_m, np.random.default_rng([11, r]))
        assert np.all(out < k_m)
        counts[out] += 1
    return stats.chisquare(counts).pvalue


def test_one_cluster_gives_a_uniform_subset_of_the_candidates():
    # alpha 1e-3: false-failure budget of this replayable (seeded) check
    assert _uniformity_pvalue(np.zeros(40, int), 4, 12) > 1e-3


def test_all_singletons_give_a_uniform_subset_of_the_candidates():
    assert _uniformity_pvalue(np.arange(40), 4, 12) > 1e-3


def test_km_equal_pool_is_cluster_stratified_sampling():
    rng = np.random.default_rng(8)
    c = np.repeat(np.arange(5), 20)
    s = rng.random(100)
    out = cluster_margin_batch(s, c, 10, 100, np.random.default_rng(2))
    np.testing.assert_array_equal(np.bincount(c[out], minlength=5), np.full(5, 2))


# --- the sampler in the loop ---------------------------------------------------------------

def test_clusters_once_per_experiment_and_labels_each_point_once(tmp_path):
    task = LinearSeparatorPool(d=3, n_pool=600, n_test=200, seed=2)
    D = task.data()
    cm = ClusterMarginSampler(km_ratio=4.0, cache=tmp_path)
    res = run_active(D.X, task.oracle(0), SoftmaxRegression(2), cm, 20, 15, 6, D.X_test,
                     D.y_test, np.random.default_rng(0), np.random.default_rng(1))
    assert cm.clusterings == 1
    assert cm.clustering.eps_source == "default" and cm.clustering.eps > 0
    assert res.labeled.size == np.unique(res.labeled).size == 20 + 6 * 15
    assert res.labels[-1] == 20 + 6 * 15
    # a second experiment reads the clustering back from the disk cache
    cm2 = ClusterMarginSampler(km_ratio=4.0, cache=tmp_path)
    cm2.prepare(D.X, SoftmaxRegression(2))
    assert cm2.clustering.cached
    np.testing.assert_array_equal(cm2.clustering.labels, cm.clustering.labels)


def test_diversity_spreads_the_batch_over_clusters():
    """Near-duplicates: Margin takes copies of one point, Cluster-Margin one per cluster."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((30, 2)) * 3
    X = np.repeat(base, 20, axis=0) + 1e-3 * rng.standard_normal((600, 2))
    s = np.abs(X[:, 0])  # low margin near x0 = 0
    c = np.repeat(np.arange(30), 20)
    cm = cluster_margin_batch(s, c, 10, 200, np.random.default_rng(1))
    assert np.unique(c[cm]).size == 10
    assert np.unique(c[np.argsort(s)[:10]]).size == 1


# --- bad input -----------------------------------------------------------------------------

def test_bad_input_is_refused_clearly():
    s, c = np.random.default_rng(0).random(20), np.zeros(20, int)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="k_t=5 > k_m=3"):
        cluster_margin_batch(s, c, 5, 3, rng)
    with pytest.raises(ValueError, match="larger than the unlabeled pool"):
        cluster_margin_batch(s, c, 21, 30, rng)
    with pytest.raises(ValueError, match="empty"):
        cluster_margin_batch(np.zeros(0), np.zeros(0, int), 1, 1, rng)
    with pytest.raises(ValueError, match="NaN"):
        cluster_margin_batch(np.r_[np.nan, s[1:]], c, 1, 2, rng)
    with pytest.warns(UserWarning, match="capped"):
        out = cluster_margin_batch(s, c, 5, 50, rng)
    assert out.size == 5
    with pytest.raises(ValueError, match="km_ratio"):
        ClusterMarginSampler(km_ratio=0.5)
    with pytest.raises(ValueError, match="eps"):
        ClusterMarginSampler(eps=0.0)
    X = np.random.default_rng(1).standard_normal((30, 2))
    model = SoftmaxRegression(2).fit(X[:10], (X[:10, 0] > 0).astype(int))
    with pytest.raises(ValueError, match="k_t=5 > k_m=3"):
        ClusterMarginSampler(k_m=3, cache=False).select(5, X, np.arange(10, 30), model, rng)
    with pytest.raises(ValueError, match="empty"):
        ClusterMarginSampler(cache=False).select(1, X, np.zeros(0, int), model, rng)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ClusterMarginSampler(cache=False).select(1, Xn, np.arange(10, 30), model, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ClusterMarginSampler(k_m=20, cache=False).select(5, X, np.arange(10, 30), model, rng)
    with pytest.warns(UserWarning, match="capped"):
        ClusterMarginSampler(k_m=25, cache=False).select(5, X, np.arange(10, 30), model, rng)
