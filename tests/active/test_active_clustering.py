"""Exact average-linkage HAC at a threshold (spec 8.2 "HAC"), the default threshold and the
disk cache."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist, pdist

from simlab.active.clustering import (
    ClusterCache,
    canonical_labels,
    cluster_pool,
    default_threshold,
    exact_hac,
)


def _data(seed, n, d=2):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, n // 8), d)) * 4
    return centers[rng.integers(0, centers.shape[0], n)] + rng.standard_normal((n, d))


def _avg(Z, a, b):
    return cdist(Z[a], Z[b]).mean()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(2, 120), st.floats(0.3, 4.0))
def test_partition_merge_heights_and_separation(seed, n, eps):
    Z = _data(seed, n)
    lab = exact_hac(Z, eps)
    assert lab.shape == (n,) and lab.min() == 0
    g = lab.max() + 1
    assert set(np.unique(lab)) == set(range(g))  # a partition, labels 0..g-1
    # every pair of final clusters is more than eps apart in average linkage
    groups = [np.flatnonzero(lab == c) for c in range(g)]
    for i in range(g):
        for j in range(i + 1, g):
            assert _avg(Z, groups[i], groups[j]) > eps
    # every merge kept (inside a cluster) has height <= eps
    L = linkage(pdist(Z), "average")
    kept = L[:, 2] <= eps
    assert (n - kept.sum()) == g


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(3, 150), st.floats(0.2, 2.0), st.floats(1.1, 3))
def test_nesting_and_scale_invariance(seed, n, e1, f):
    Z = _data(seed, n, d=3)
    fine, coarse = exact_hac(Z, e1), exact_hac(Z, e1 * f)
    for c in np.unique(fine):  # each fine cluster lies inside one coarse cluster
        assert np.unique(coarse[fine == c]).size == 1
    np.testing.assert_array_equal(exact_hac(Z * 7.5, e1 * 7.5), fine)


def test_agrees_with_scipy_on_tie_free_data():
    for seed in range(5):
        Z = _data(seed, 300, d=4)
        eps = default_threshold(Z, seed=seed)
        want = canonical_labels(fcluster(linkage(pdist(Z), "average"), t=eps,
                                         criterion="distance"))
        np.testing.assert_array_equal(exact_hac(Z, eps), want)


def test_brute_force_hac_on_a_small_pool():
    """The spec's Algorithm 1 written out (merge the closest pair while <= eps)."""
    Z = _data(3, 40)
    eps = 1.5
    clusters = [[i] for i in range(40)]
    while len(clusters) > 1:
        best, pair = np.inf, None
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                d = _avg(Z, clusters[i], clusters[j])
                if d < best:
                    best, pair = d, (i, j)
        if best > eps:
            break
        i, j = pair
        clusters[i] = clusters[i] + clusters.pop(j)
    want = np.empty(40, int)
    for c, members in enumerate(clusters):
        want[members] = c
    np.testing.assert_array_equal(exact_hac(Z, eps), canonical_labels(want))


def test_default_threshold_is_positive_and_scale_equivariant():
    Z = _data(1, 2000, d=5)
    e = default_threshold(Z)
    assert e > 0
    assert default_threshold(Z * 3.0) == pytest.approx(3.0 * e, rel=1e-9)
    # more neighbours, larger distance
    assert default_threshold(Z, k=30) > e
    # subsampled reference set: near the full-pool value (k scaled to the subsample)
    sub = default_threshold(Z, n_ref=500)
    assert 0.6 * e < sub < 1.6 * e
    assert default_threshold(np.zeros((5, 2))) == 1.0  # all duplicates: a fallback > 0
    assert default_threshold(np.ones((1, 3))) == 1.0


def test_cache_roundtrip_and_damaged_entries(tmp_path):
    Z = _data(2, 200)
    a = cluster_pool(Z, eps=1.0, cache=tmp_path)
    assert not a.cached and a.method == "exact" and a.eps_source == "given"
    b = cluster_pool(Z, eps=1.0, cache=tmp_path)
    assert b.cached
    np.testing.assert_array_equal(a.labels, b.labels)
    c = cluster_pool(Z, eps=1.1, cache=tmp_path)  # another threshold: another entry
    assert not c.cached
    for p in tmp_path.glob("*.npy"):
        p.write_bytes(b"garbage")
    d = cluster_pool(Z, eps=1.0, cache=tmp_path)
    assert not d.cached
    np.testing.assert_array_equal(d.labels, a.labels)
    assert not cluster_pool(Z, eps=1.0, cache=False).cached
    assert not ClusterCache("off").enabled
    assert "clusters" in a.describe()


def test_bad_input():
    Z = _data(0, 30)
    with pytest.raises(ValueError, match="eps"):
        exact_hac(Z, 0.0)
    with pytest.raises(ValueError, match="eps"):
        cluster_pool(Z, eps=-1, cache=False)
    with pytest.raises(ValueError, match="eps"):
        exact_hac(Z, np.nan)
    Zn = Z.copy()
    Zn[4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cluster_pool(Zn, cache=False)
    with pytest.raises(ValueError, match="empty"):
        exact_hac(np.zeros((0, 2)), 1.0)
    with pytest.raises(ValueError, match="2-D"):
        exact_hac(np.zeros(5), 1.0)
    with pytest.raises(ValueError, match="method"):
        cluster_pool(Z, method="ward", cache=False)
    with pytest.raises(ValueError, match="two-level"):
        exact_hac(np.zeros((20_001, 1)), 1.0)
