"""Two-level average-linkage HAC (spec 8.4): quality against exact HAC, the merge pass, bucket
boundaries, the partition's consistency, executor invariance, bad input, the benchmark smoke.

Tolerances: the adjusted Rand index target 0.9 is the issue's; pools, thresholds and seeds are
fixed, so each assertion is deterministic (no statistical tolerance is involved).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from simlab.active.clustering import canonical_labels, cluster_pool, default_threshold, exact_hac
from simlab.active.two_level import (
    BucketJob,
    candidate_edges,
    hac_bucket,
    split_bucket,
    two_level_hac,
)

ROOT = Path(__file__).resolve().parents[2]


def mixture(n: int, d: int, k: int, spread: float, seed: int) -> np.ndarray:
    """``k`` unit-variance Gaussians with means uniform in ``[-spread, spread]^d``: they
    overlap, so the average-linkage clusters at the default threshold straddle buckets."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(-spread, spread, size=(k, d))
    return mu[rng.integers(0, k, n)] + rng.normal(size=(n, d))


def sticks(n_sticks: int = 12, per: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Thin segments of length 1.5, at least 5 apart: at ``eps = 1`` exact HAC keeps each
    segment whole (halves at mean distance 0.75), and small buckets cut every segment."""
    rng = np.random.default_rng(seed)
    pts, lab = [], []
    for s in range(n_sticks):
        c = np.array([6.0 * (s % 4), 6.0 * (s // 4)])
        a = rng.uniform(0, np.pi)
        t = rng.uniform(-0.75, 0.75, per)
        pts.append(c + t[:, None] * [np.cos(a), np.sin(a)] + rng.normal(0, 0.02, (per, 2)))
        lab.append(np.full(per, s))
    return np.concatenate(pts), np.concatenate(lab)


def avg_linkage_matrix(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Brute-force average-linkage distances between all clusters (small pools only)."""
    from scipy.spatial.distance import cdist

    D = cdist(Z, Z)
    g = labels.max() + 1
    M = np.zeros((Z.shape[0], g))
    M[np.arange(Z.shape[0]), labels] = 1.0
    s = M.sum(axis=0)
    return (M.T @ D @ M) / np.outer(s, s)


# --- quality against exact HAC ----------------------------------------------------------------

@pytest.mark.parametrize("d,k,spread,seed", [(2, 20, 6.0, 0), (3, 20, 5.0, 1)])
def test_ari_against_exact_hac_on_overlapping_mixtures_5000(d, k, spread, seed):
    Z = mixture(5000, d, k, spread, seed)
    eps = default_threshold(Z)
    exact = exact_hac(Z, eps, force=True)
    labels, info = two_level_hac(Z, eps, bucket_size=500, seed=seed)
    assert info["buckets"] >= 8 and info["boundary_components"] > 0  # clusters straddle
    assert adjusted_rand_score(exact, labels) >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("d,k,spread,seed", [(2, 30, 8.0, 0), (3, 30, 6.0, 1),
                                             (4, 30, 5.0, 2)])
def test_ari_against_exact_hac_on_overlapping_mixtures_20000(d, k, spread, seed):
    Z = mixture(20_000, d, k, spread, seed)
    eps = default_threshold(Z)
    exact = exact_hac(Z, eps, force=True)  # about 20-30 s on 2 cores
    labels, info = two_level_hac(Z, eps, bucket_size=2000, seed=seed)
    assert info["buckets"] >= 8 and info["boundary_components"] > 0
    assert adjusted_rand_score(exact, labels) >= 0.9


def test_merge_pass_improves_ari_on_straddling_mixture():
    Z = mixture(2500, 3, 20, 5.0, 1)
    eps = default_threshold(Z)
    exact = exact_hac(Z, eps, force=True)
    ari = {}
    for name, kw in {"none": {"merge": False}, "merge_only": {"recluster": False},
                     "full": {}}.items():
        ari[name] = adjusted_rand_score(exact, two_level_hac(Z, eps, bucket_size=250, seed=1,
                                                             **kw)[0])
    assert ari["merge_only"] > ari["none"]
    assert ari["full"] >= ari["none"] + 0.01


@pytest.mark.parametrize("recluster", [True, False])
def test_merge_pass_rejoins_every_segment_cut_by_buckets(recluster):
    Z, truth = sticks()
    exact = exact_hac(Z, 1.0)
    assert adjusted_rand_score(truth, exact) == 1.0  # the reference: one cluster per segment
    cut, info0 = two_level_hac(Z, 1.0, bucket_size=100, merge=False)
    assert cut.max() + 1 > 12  # buckets of <= 200 points cut the 200-point segments
    assert adjusted_rand_score(truth, cut) < 0.95
    joined, info = two_level_hac(Z, 1.0, bucket_size=100, recluster=recluster)
    assert np.array_equal(joined, canonical_labels(truth))
    assert info["clusters_before_merge"] == info0["clusters_after_merge"] > 12
    assert info["clusters_after_merge"] == 12
    if not recluster:
        assert info["merges"] == info["clusters_before_merge"] - 12


# --- the partition and its consistency --------------------------------------------------------

def test_labels_are_a_canonical_partition_with_every_pair_of_clusters_above_eps():
    Z = mixture(600, 2, 8, 4.0, 3)
    eps = default_threshold(Z, k=20)
    labels, info = two_level_hac(Z, eps, bucket_size=40, seed=3)
    assert labels.shape == (600,) and labels.dtype == np.int64
    assert np.array_equal(labels, canonical_labels(labels))
    assert set(np.unique(labels)) == set(range(labels.max() + 1))
    assert info["clusters_after_merge"] == labels.max() + 1 and info["parts"] >= 8
    A = avg_linkage_matrix(Z, labels)
    off = ~np.eye(A.shape[0], dtype=bool)
    assert A[off].min() > eps  # no pair of final clusters qualifies for a merge
    # without level 3 some pair across a boundary does qualify
    raw, _ = two_level_hac(Z, eps, bucket_size=40, seed=3, merge=False)
    B = avg_linkage_matrix(Z, raw)
    assert B[~np.eye(B.shape[0], dtype=bool)].min() <= eps


def test_one_bucket_is_exact_hac():
    Z = mixture(700, 3, 5, 3.0, 4)
    eps = default_threshold(Z)
    labels, info = two_level_hac(Z, eps, bucket_size=400)
    assert info["buckets"] == info["parts"] == 1 and info["merges"] == 0
    assert np.array_equal(labels, exact_hac(Z, eps))


def test_sampled_pair_sums_are_seeded_and_counted():
    Z, truth = sticks(n_sticks=8, per=150, seed=2)
    a, info = two_level_hac(Z, 1.0, bucket_size=60, exact_pairs=1, sample_pairs=500,
                            recluster=False, seed=5)
    b, _ = two_level_hac(Z, 1.0, bucket_size=60, exact_pairs=1, sample_pairs=500,
                         recluster=False, seed=5)
    assert info["sampled_pairs"] > 0 and np.array_equal(a, b)
    assert np.array_equal(a, canonical_labels(truth))  # far from eps: sampling decides alike


def test_float32_pool_is_kept_and_clustered_alike():
    Z = mixture(1500, 2, 10, 5.0, 6)
    eps = default_threshold(Z)
    l64, _ = two_level_hac(Z, eps, bucket_size=150)
    l32, info = two_level_hac(Z.astype(np.float32), eps, bucket_size=150)
    assert info["n"] == 1500 and adjusted_rand_score(l64, l32) >= 0.99


def test_cluster_pool_two_level_path():
    Z = mixture(1200, 2, 10, 5.0, 7)
    c = cluster_pool(Z, eps=0.3, method="two-level", cache=False, bucket_size=120)
    assert c.method == "two-level" and c.info["buckets"] >= 8
    assert np.array_equal(c.labels, two_level_hac(Z, 0.3, bucket_size=120)[0])


# --- bucket boundaries -------------------------------------------------------------------------

def test_no_bucket_exceeds_twice_the_bucket_size_and_duplicates_are_split_and_rejoined():
    rng = np.random.default_rng(8)
    Z = np.concatenate([np.tile([[5.0, 5.0]], (1500, 1)), rng.uniform(-3, 3, (500, 2))])
    labels, info = two_level_hac(Z, 0.2, bucket_size=100, seed=8)
    assert info["largest_bucket"] <= 200 and info["oversized_buckets"] >= 1
    assert info["parts"] >= 1500 // 200
    assert np.unique(labels[:1500]).size == 1  # identical points: one cluster again
    assert not np.isin(labels[1500:], labels[:1]).any()


def test_split_bucket_partitions_into_parts_of_at_most_twice_the_size():
    X = mixture(3000, 4, 6, 3.0, 9)
    parts = split_bucket(X, 250, seed=1)
    assert max(p.size for p in parts) <= 500
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(3000))
    assert [int(p[0]) for p in parts] == sorted(int(p[0]) for p in parts)
    again = split_bucket(X, 250, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_bucket_job_without_split_is_exact_hac_of_its_rows():
    X = mixture(300, 2, 3, 3.0, 10)
    r = hac_bucket(BucketJob(0, X, 0.8, 50, 0, split=False))
    assert np.array_equal(r.labels, exact_hac(X, 0.8)) and r.part_sizes.tolist() == [300]
    assert np.allclose(r.centroids[0], X[r.labels == 0].mean(axis=0))
    g = hac_bucket(BucketJob(1, X, 0.8, 50, 0, split=False, groups=(120, 180)))
    first, second = exact_hac(X[:120], 0.8), exact_hac(X[120:], 0.8)
    assert g.part_sizes.tolist() == [120, 180]
    assert np.array_equal(g.labels, np.concatenate([first, second + first.max() + 1]))
    assert np.array_equal(g.cluster_part, np.repeat([0, 1], [first.max() + 1,
                                                             second.max() + 1]))
    with pytest.raises(ValueError, match="do not add up"):
        hac_bucket(BucketJob(2, X, 0.8, 50, 0, split=False, groups=(100, 100)))


def test_candidate_edges_with_cells_equal_brute_force():
    rng = np.random.default_rng(11)
    M = rng.normal(size=(12, 3)) * 3
    C = rng.normal(size=(900, 3)) * 3
    d = ((C[:, None, :] - M[None]) ** 2).sum(-1)
    home = d.argmin(axis=1)
    home[rng.random(900) < 0.1] = -1  # clusters whose points lie in several cells
    part = np.where(home >= 0, home, 100 + rng.integers(0, 5, 900))
    eps = 0.7
    D = np.sqrt(((C[:, None, :] - C[None]) ** 2).sum(-1))
    i, j = np.nonzero(np.triu(D <= eps, 1) & (part[:, None] != part[None, :]))
    ei, ej = candidate_edges(C, part, eps, M, home)
    assert np.array_equal(np.stack([ei, ej]), np.stack([i, j])) and i.size > 50
    bi, bj = candidate_edges(C, part, eps)  # the ball-tree path
    assert np.array_equal(np.stack([bi, bj]), np.stack([i, j]))
    q = rng.random(900) < 0.2
    qi, qj = candidate_edges(C, part, eps, M, home, query=q)
    sel = q[i] | q[j]
    assert np.array_equal(np.stack([qi, qj]), np.stack([i[sel], j[sel]]))


# --- executors ----------------------------------------------------------------------------------

def test_same_labels_whatever_the_executor():
    distributed = pytest.importorskip("distributed")
    from simlab.sweep.executors import DaskExecutor

    Z = mixture(1500, 3, 15, 4.0, 12)
    eps = default_threshold(Z)
    ref, info = two_level_hac(Z, eps, bucket_size=150, seed=2)
    assert info["boundary_components"] > 0
    serial, _ = two_level_hac(Z, eps, bucket_size=150, seed=2, executor="serial")
    local, linfo = two_level_hac(Z, eps, bucket_size=150, seed=2, executor="local", workers=2)
    assert linfo["worker_processes"] == 2 and linfo["worker_peak_rss_mb"] > 0
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        dask, _ = two_level_hac(Z, eps, bucket_size=150, seed=2,
                                executor=DaskExecutor(client=client))
    finally:
        client.close()
        cluster.close()
    for other in (serial, local, dask):
        assert np.array_equal(ref, other)


def test_bucket_job_dask_key_names_its_work():
    X = np.arange(12.0).reshape(6, 2)
    a = BucketJob(3, X, 0.5, 100, 0)
    assert a.dask_key == BucketJob(3, X.copy(), 0.5, 100, 0).dask_key
    assert a.dask_key != BucketJob(3, X + 1, 0.5, 100, 0).dask_key
    assert a.dask_key != BucketJob(3, X, 0.6, 100, 0).dask_key
    assert a.dask_key.startswith("simlab-two-level-b3-")


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,match", [
    ({"eps": 0.0}, "eps must be finite and > 0"),
    ({"eps": -1.0}, "eps must be finite and > 0"),
    ({"bucket_size": 1}, "bucket_size must be >= 2"),
    ({"kmeans": "spectral"}, "kmeans must be one of"),
    ({"executor": 3.5}, "executor must be None"),
    ({"workers": 0}, "workers must be >= 1"),
    ({"recluster_max": 2}, "recluster_max must be >= 4"),
])
def test_bad_settings_are_refused(kw, match):
    Z = mixture(200, 2, 3, 3.0, 13)
    args = {"eps": 0.5, **kw}
    with pytest.raises(ValueError, match=match):
        two_level_hac(Z, **args)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_embeddings_are_refused(dtype):
    Z = mixture(200, 2, 3, 3.0, 14).astype(dtype)
    Z[17, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite entries.*row 17"):
        two_level_hac(Z, 0.5)


@pytest.mark.parametrize("Z,match", [(np.zeros((0, 3)), "empty"),
                                     (np.zeros(5), "2-D")])
def test_malformed_embeddings_are_refused(Z, match):
    with pytest.raises(ValueError, match=match):
        two_level_hac(Z, 0.5)


# --- the benchmark's smoke run -------------------------------------------------------------------

def test_active_scale_benchmark_quick_prints_one_json_line(tmp_path):
    out = tmp_path / "results.jsonl"
    r = subprocess.run([sys.executable, "benchmarks/active_scale.py", "--quick", "--out",
                        str(out)], cwd=ROOT, env=dict(os.environ), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and out.read_text().strip() == lines[0]
    rec = json.loads(lines[0])
    assert {"benchmark", "threads", "versions", "params", "results", "targets"} <= set(rec)
    arms = {"two_level_serial", "two_level_local_1", "two_level_local_2", "selection",
            "exact_hac_2e4", "two_level_2e4", "margin_simlab", "margin_skactiveml"}
    assert arms | {"ship_pool_to_worker"} == set(rec["results"])
    for arm in arms:
        assert rec["results"][arm]["seconds"] > 0 and rec["results"][arm]["peak_rss_mb"] > 0
    ship = rec["results"]["ship_pool_to_worker"]
    assert ship["seconds"] > 0 and ship["level1_seconds"] > 0
    assert ship["mb"] == pytest.approx(rec["params"]["n"] * 32 * 4 / 2**20, abs=0.1)
    for target in rec["targets"].values():
        assert {"value", "goal", "pass"} <= set(target)
    assert rec["targets"]["margin_same_set"]["pass"] is True
    assert rec["targets"]["identical_labels_across_executors"]["pass"] is True


def test_a_failed_bucket_job_is_reported_with_its_bucket():
    from simlab.sweep.executors import Executor

    class Failing(Executor):
        def map(self, fn, jobs):
            for job in jobs:
                yield job, ValueError("worker ran out of memory")

    Z = mixture(500, 2, 3, 3.0, 15)
    with pytest.raises(RuntimeError, match="HAC job of bucket 0 .*out of memory"):
        two_level_hac(Z, 0.5, bucket_size=100, executor=Failing())
