"""CoreSet (greedy k-center) and BADGE (k-means++ on gradient embeddings), with partitioning.

Brute-force references: the greedy against an O(n^2) loop (integer-grid data, so that
distances are exact and ties are frequent, and Gaussian data), the covering radius against
the exhaustive optimum (factor 2), the factored gradient distance against the explicit
outer products. Statistical tests (D^2 sampling, the uniform fallback) are chi-square tests
with fixed seeds at alpha = 1e-3: a correct sampler fails one with probability 1e-3 over
the choice of seed, and never for these fixed seeds (they are deterministic).
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simlab.active import GaussianMixturePool, SoftmaxRegression, run_active
from simlab.active.diversity import (
    BadgeSampler,
    CoreSetSampler,
    badge_embedding,
    badge_factors,
    gradient_sqdist,
    k_center_greedy,
    kmeans_pp_seeding,
    partition_targets,
)
from simlab.oracles import ExactOracle

ALPHA = 1e-3
EPS = np.finfo(np.float64).eps


class TableModel:
    """A learner stub: row ``X[i, 0]`` has the embedding ``Z[int(X[i, 0])]`` and the
    probabilities ``P[int(X[i, 0])]``."""

    def __init__(self, Z, P):
        self.Z, self.P = np.asarray(Z, dtype=float), np.asarray(P, dtype=float)

    def _rows(self, X):
        return np.asarray(X)[:, 0].astype(int)

    def embed(self, X):
        return self.Z[self._rows(X)]

    def predict_proba(self, X):
        return self.P[self._rows(X)]


def ids(n):
    return np.arange(n, dtype=float)[:, None]


def random_probs(rng, n, C, temp=2.0):
    E = np.exp(temp * rng.standard_normal((n, C)))
    return E / E.sum(axis=1, keepdims=True)


# -- greedy k-center ------------------------------------------------------------------------

def brute_k_center(Z, k, labeled, seed):
    """The O(n^2) reference: exact distance matrix, explicit loops, ties to the smallest
    index, the first center ``default_rng(seed).integers(n)`` when nothing is labeled."""
    n = Z.shape[0]
    Dm = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    centers = sorted(set(int(i) for i in labeled))
    out = []
    if not centers:
        out.append(int(np.random.default_rng(seed).integers(n)))
        centers.append(out[0])
    while len(out) < k:
        best, bv = None, -1.0
        for i in range(n):
            if i in centers:
                continue
            d = min(Dm[i, c] for c in centers)
            if d > bv:
                best, bv = i, d
        out.append(best)
        centers.append(best)
    return np.array(out)


@st.composite
def kcenter_case(draw):
    n = draw(st.integers(1, 60))
    D = draw(st.integers(1, 3))
    grid = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    Z = rng.integers(0, 4, size=(n, D)).astype(float) if grid else rng.standard_normal((n, D))
    n_lab = draw(st.integers(0, n - 1))
    labeled = rng.choice(n, size=n_lab, replace=False)
    k = draw(st.integers(1, n - n_lab))
    return Z, k, labeled, seed


@settings(max_examples=200)
@given(kcenter_case())
def test_k_center_greedy_equals_the_brute_force_reference(case):
    Z, k, labeled, seed = case
    want = brute_k_center(Z, k, labeled, seed)
    got = k_center_greedy(Z, k, labeled, np.random.default_rng(seed))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    # the vectorised (Fortran-ordered) path gives the same batch
    got_f = k_center_greedy(np.asfortranarray(Z), k, labeled, np.random.default_rng(seed))
    np.testing.assert_array_equal(got_f, want)
    assert np.unique(got).size == k and not np.isin(got, labeled).any()


def test_k_center_with_more_labeled_centers_than_one_block():
    """|labeled| = 600 > 256 centers per block of the nearest-labeled search."""
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((800, 6))
    labeled = rng.choice(800, size=600, replace=False)
    np.testing.assert_array_equal(k_center_greedy(Z, 40, labeled, None),
                                  brute_k_center(Z, 40, labeled, 0))


def covering_radius(Z, centers):
    Dm = np.sqrt(((Z[:, None, :] - Z[None, list(centers), :]) ** 2).sum(-1))
    return Dm.min(axis=1).max()


def test_k_center_greedy_is_a_2_approximation_of_the_covering_radius():
    """Gonzalez's bound r(greedy) <= 2 OPT, also with fixed labeled centers, against the
    exhaustive optimum (rounding slack 1e-12 relative)."""
    ratios = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 11))
        Z = rng.standard_normal((n, 2)) * rng.uniform(0.1, 10, size=2)
        n_lab = int(rng.integers(0, min(2, n - 1) + 1))
        labeled = rng.choice(n, size=n_lab, replace=False)
        k = int(rng.integers(1, min(3, n - n_lab) + 1))
        S = k_center_greedy(Z, k, labeled, rng)
        r = covering_radius(Z, list(labeled) + list(S))
        free = [i for i in range(n) if i not in set(labeled)]
        opt = min(covering_radius(Z, list(labeled) + list(c))
                  for c in itertools.combinations(free, k))
        assert opt <= r * (1 + 1e-12)
        assert r <= 2 * opt * (1 + 1e-12) + 1e-300
        if opt > 0:
            ratios.append(r / opt)
    assert max(ratios) > 1.2  # the instances are not all trivially solved by the greedy


def test_k_center_first_center_and_duplicates():
    Z = np.ones((7, 3))
    # nothing labeled: the first center is rng.integers(n), then the smallest free indices
    got = k_center_greedy(Z, 7, [], np.random.default_rng(11))
    f = int(np.random.default_rng(11).integers(7))
    np.testing.assert_array_equal(got, [f] + [i for i in range(7) if i != f])
    # labeled duplicates: still k distinct points, in index order
    np.testing.assert_array_equal(k_center_greedy(Z, 4, [1, 4, 4], None), [0, 2, 3, 5])


def test_k_center_bad_input():
    Z = np.zeros((5, 2))
    with pytest.raises(ValueError, match="larger than"):
        k_center_greedy(Z, 4, [0, 1], None)
    with pytest.raises(ValueError, match=r"lie in \[0, 5\)"):
        k_center_greedy(Z, 1, [5], None)
    with pytest.raises(ValueError, match="integer"):
        k_center_greedy(Z, 1, [0.5], None)
    with pytest.raises(ValueError, match="Generator"):
        k_center_greedy(Z, 1, [], None)
    with pytest.raises(ValueError, match="k must be"):
        k_center_greedy(Z, 0, [], np.random.default_rng(0))
    bad = Z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        k_center_greedy(bad, 1, [0], None)


# -- BADGE ---------------------------------------------------------------------------------

def test_badge_factors_and_the_factored_distance():
    rng = np.random.default_rng(3)
    for _trial in range(20):
        n, C, D = 30, int(rng.integers(2, 6)), int(rng.integers(1, 7))
        P = random_probs(rng, n, C)
        Z = rng.standard_normal((n, D)) * 10.0 ** rng.uniform(-2, 2)
        A = badge_factors(P)
        yhat = np.argmax(P, axis=1)
        E = np.zeros_like(P)
        E[np.arange(n), yhat] = 1.0
        np.testing.assert_array_equal(A, P - E)
        G = badge_embedding(A, Z)
        np.testing.assert_array_equal(G[4], np.outer(A[4], Z[4]).ravel())
        g2 = (G ** 2).sum(axis=1)
        for j in (0, 7, n - 1):
            want = ((G - G[j]) ** 2).sum(axis=1)
            got = gradient_sqdist(A, Z, j)
            # rounding of the two forms: first-order bound 4 (C D + C + D + 8) eps (g_i + g_j)
            tol = 4 * (C * D + C + D + 8) * EPS * (g2 + g2[j])
            assert np.all(np.abs(got - want) <= tol)
            assert got[j] == 0.0
            np.testing.assert_array_equal(
                gradient_sqdist(np.asfortranarray(A), np.asfortranarray(Z), j), got)
    # ties in argmax p go to the smallest class
    np.testing.assert_array_equal(badge_factors([[0.4, 0.4, 0.2]]), [[-0.6, 0.4, 0.2]])


def test_kmeans_pp_first_pick_is_the_largest_gradient_norm():
    rng = np.random.default_rng(8)
    for _trial in range(50):
        n = int(rng.integers(1, 40))
        A = badge_factors(random_probs(rng, n, 3))
        Z = rng.standard_normal((n, 4))
        g = np.linalg.norm(badge_embedding(A, Z), axis=1)
        got = kmeans_pp_seeding(A, Z, 1, rng)
        assert got[0] == np.argmax(g)
    # a tie for the largest norm: the smaller index
    Z = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    A = np.ones((4, 1))
    assert kmeans_pp_seeding(A, Z, 1, np.random.default_rng(0))[0] == 1


def test_kmeans_pp_d2_sampling_law_chi_square():
    """The ordered pair (2nd, 3rd pick) on a 6-point instance against its exact law:
    P(a) = D^2(a, c1) / sum, P(b | a) = min(D^2(b, c1), D^2(b, a)) / sum over the rest
    (explicit outer-product distances). 20,000 runs, seed 2024, alpha 1e-3."""
    rng = np.random.default_rng(77)
    n = 6
    A = badge_factors(random_probs(rng, n, 3, temp=1.0))
    Z = rng.standard_normal((n, 2))
    G = badge_embedding(A, Z)
    D2 = ((G[:, None] - G[None]) ** 2).sum(-1)
    c1 = int(np.argmax((G ** 2).sum(1)))
    rest = [i for i in range(n) if i != c1]
    cells, probs = [], []
    for a in rest:
        pa = D2[a, c1] / sum(D2[i, c1] for i in rest)
        others = [b for b in rest if b != a]
        w = {b: min(D2[b, c1], D2[b, a]) for b in others}
        for b in others:
            cells.append((a, b))
            probs.append(pa * w[b] / sum(w.values()))
    probs = np.array(probs)
    N = 20_000
    assert probs.min() * N >= 5  # chi-square's large-sample condition on this instance
    index = {c: i for i, c in enumerate(cells)}
    counts = np.zeros(len(cells))
    draw = np.random.default_rng(2024)
    for _ in range(N):
        s = kmeans_pp_seeding(A, Z, 3, draw)
        assert s[0] == c1
        counts[index[(int(s[1]), int(s[2]))]] += 1
    assert stats.chisquare(counts, probs * N).pvalue > ALPHA


def test_kmeans_pp_duplicates_fall_back_to_uniform():
    """All rows equal: every D^2 is 0, so picks after the first (row 0: the norms tie) are
    uniform over the unchosen rows (chi-square, 5,000 runs, seed 99, alpha 1e-3)."""
    A, Z = np.tile([[0.2, -0.2]], (5, 1)), np.ones((5, 3))
    full = kmeans_pp_seeding(A, Z, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(np.sort(full), np.arange(5))
    draw = np.random.default_rng(99)
    second = np.array([kmeans_pp_seeding(A, Z, 2, draw) for _ in range(5000)])
    assert (second[:, 0] == 0).all()
    counts = np.bincount(second[:, 1], minlength=5)
    assert counts[0] == 0
    assert stats.chisquare(counts[1:]).pvalue > ALPHA
    # D^2 sampling never picks a duplicate of a center (row 1 of row 0) while points at
    # positive distance remain; it comes last, by the fallback
    Zd = np.array([[5.0, 0.0], [5.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    for seed in range(50):
        s = kmeans_pp_seeding(np.ones((4, 1)), Zd, 4, np.random.default_rng(seed))
        assert s[0] == 0 and set(s[1:3].tolist()) == {2, 3} and s[3] == 1


def test_kmeans_pp_bad_input():
    A, Z = np.ones((4, 2)), np.ones((4, 3))
    with pytest.raises(ValueError, match="larger than"):
        kmeans_pp_seeding(A, Z, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="same rows"):
        kmeans_pp_seeding(A, Z[:3], 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        kmeans_pp_seeding(A, Z, 2, 0)
    with pytest.raises(ValueError, match="C >= 2"):
        badge_factors(np.ones((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        badge_factors([[0.5, np.nan]])
    with pytest.raises(ValueError, match="row index"):
        gradient_sqdist(A, Z, 4)


# -- partitioning and the samplers ---------------------------------------------------------

def one_at_a_time_targets(sizes, k):
    m = len(sizes)
    t = [min(k // m + (i < k % m), s) for i, s in enumerate(sizes)]
    short = k - sum(t)
    while short:
        for i in range(m):
            if short and t[i] < sizes[i]:
                t[i] += 1
                short -= 1
    return t


@settings(max_examples=200)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=8), st.data())
def test_partition_targets_against_the_cyclic_reference(sizes, data):
    total = sum(sizes)
    if total == 0:
        with pytest.raises(ValueError):
            partition_targets(sizes, 1)
        return
    k = data.draw(st.integers(1, total))
    t = partition_targets(sizes, k)
    assert t.sum() == k and np.all(t >= 0) and np.all(t <= sizes)
    np.testing.assert_array_equal(t, one_at_a_time_targets(sizes, k))


@given(st.integers(1, 200), st.integers(1, 12), st.data())
def test_near_equal_parts_never_fall_short(n, m, data):
    k = data.draw(st.integers(1, n))
    sizes = [p.size for p in np.array_split(np.arange(n), m)]
    q = [k // m + (i < k % m) for i in range(m)]
    np.testing.assert_array_equal(partition_targets(sizes, k), q)


@st.composite
def sampler_case(draw):
    n = draw(st.integers(1, 80))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dup = draw(st.booleans())
    Z = np.ones((n, 3)) if dup else rng.standard_normal((n, 3))
    P = np.full((n, 3), 1 / 3) if dup else random_probs(rng, n, 3)
    mask = rng.random(n) < draw(st.floats(0.05, 1.0))
    if not mask.any():
        mask[rng.integers(n)] = True
    U = np.flatnonzero(mask)
    rng.shuffle(U)  # unlabeled may come in any order
    k = draw(st.integers(1, U.size))
    m = draw(st.integers(1, 6))
    return Z, P, U, k, m, seed


@settings(max_examples=120)
@given(sampler_case(), st.sampled_from([CoreSetSampler, BadgeSampler]))
def test_samplers_return_k_distinct_unlabeled_points(case, cls):
    Z, P, U, k, m, seed = case
    b = cls(partitions=m).select(k, ids(Z.shape[0]), U, TableModel(Z, P),
                                 np.random.default_rng(seed))
    assert b.dtype == np.int64 and b.shape == (k,)
    assert np.unique(b).size == k and np.isin(b, U).all()


def replayed_parts(U, m, seed):
    rng = np.random.default_rng(seed)
    parts = [np.sort(p) for p in np.array_split(rng.permutation(np.sort(U)), m)]
    return parts, rng


@pytest.mark.parametrize("n_lab", [0, 25])
def test_partitioned_coreset_runs_greedy_per_part_with_all_labeled_centers(n_lab):
    rng = np.random.default_rng(4)
    n, k, m = 200, 23, 4
    Z = rng.standard_normal((n, 5))
    L = rng.choice(n, n_lab, replace=False)
    U = np.setdiff1d(np.arange(n), L)
    b = CoreSetSampler(partitions=m).select(k, ids(n), U, TableModel(Z, np.ones((n, 2)) / 2),
                                            np.random.default_rng(9))
    parts, rep = replayed_parts(U, m, 9)
    targets = partition_targets([p.size for p in parts], k)
    np.testing.assert_array_equal(targets, [6, 6, 6, 5])
    pos = 0
    for p, t in zip(parts, targets):
        rows = np.concatenate([p, L])  # the part, then every labeled point as a center
        want = rows[k_center_greedy(Z[rows], int(t), np.arange(p.size, rows.size), rep)]
        np.testing.assert_array_equal(b[pos:pos + t], want)
        pos += t


@pytest.mark.parametrize("n_lab", [0, 3, 40])
def test_partitioned_coreset_with_part_centers_uses_each_parts_own_labeled_points(n_lab):
    """centers="part": the whole pool is partitioned; a part starts from its own labeled
    points (with 3 labeled points in 4 parts, at least one part draws its first center)."""
    rng = np.random.default_rng(5)
    n, k, m = 200, 23, 4
    Z = rng.standard_normal((n, 5))
    L = rng.choice(n, n_lab, replace=False)
    U = rng.permutation(np.setdiff1d(np.arange(n), L))
    s = CoreSetSampler(partitions=m, centers="part")
    b = s.select(k, ids(n), U, TableModel(Z, np.ones((n, 2)) / 2), np.random.default_rng(9))
    rep = np.random.default_rng(9)
    parts = [np.sort(p) for p in np.array_split(rep.permutation(n), m)]
    free = np.isin(np.arange(n), U)
    targets = partition_targets([int(free[p].sum()) for p in parts], k)
    pos = 0
    for p, t in zip(parts, targets):
        Up, Lp = p[free[p]], p[~free[p]]
        rows = np.concatenate([Up, Lp])  # the part's unlabeled, then its own labeled points
        want = rows[k_center_greedy(Z[rows], int(t), np.arange(Up.size, rows.size), rep)]
        np.testing.assert_array_equal(b[pos:pos + t], want)
        pos += t
    assert pos == k and np.unique(b).size == k and np.isin(b, U).all()
    # one part: the option changes nothing
    one = CoreSetSampler(partitions=1, centers="part").select(
        k, ids(n), U, TableModel(Z, np.ones((n, 2)) / 2), np.random.default_rng(2))
    np.testing.assert_array_equal(one, k_center_greedy(Z, k, L, np.random.default_rng(2)))
    with pytest.raises(ValueError, match="centers must be one of"):
        CoreSetSampler(partitions=2, centers="each")


def test_partitioned_badge_runs_kmeanspp_per_part():
    rng = np.random.default_rng(6)
    n, k, m = 150, 17, 3
    Z, P = rng.standard_normal((n, 4)), random_probs(rng, n, 3)
    U = rng.choice(n, 120, replace=False)
    b = BadgeSampler(partitions=m).select(k, ids(n), U, TableModel(Z, P),
                                          np.random.default_rng(21))
    parts, rep = replayed_parts(U, m, 21)
    targets = partition_targets([p.size for p in parts], k)
    np.testing.assert_array_equal(targets, [6, 6, 5])
    pos = 0
    for p, t in zip(parts, targets):
        want = p[kmeans_pp_seeding(badge_factors(P[p]), Z[p], int(t), rep)]
        np.testing.assert_array_equal(b[pos:pos + t], want)
        pos += t
    # more parts than the batch: parts of target 0 give nothing, the batch is still k
    b = BadgeSampler(partitions=40).select(k, ids(n), U, TableModel(Z, P),
                                           np.random.default_rng(1))
    assert b.size == k and np.unique(b).size == k and np.isin(b, U).all()


@pytest.mark.parametrize("n_lab", [0, 30])
def test_one_partition_is_the_plain_method(n_lab):
    rng = np.random.default_rng(12)
    n, k = 120, 15
    Z, P = rng.standard_normal((n, 3)), random_probs(rng, n, 4)
    L = rng.choice(n, n_lab, replace=False)
    U = rng.permutation(np.setdiff1d(np.arange(n), L))
    model = TableModel(Z, P)
    got = CoreSetSampler().select(k, ids(n), U, model, np.random.default_rng(3))
    np.testing.assert_array_equal(got, k_center_greedy(Z, k, L, np.random.default_rng(3)))
    got = BadgeSampler().select(k, ids(n), U, model, np.random.default_rng(3))
    Us = np.sort(U)
    np.testing.assert_array_equal(
        got, Us[kmeans_pp_seeding(badge_factors(P[Us]), Z[Us], k, np.random.default_rng(3))])


def test_coreset_prefers_points_far_from_the_labeled_set():
    """Two clusters, all labeled points in the first: the batch comes from the second."""
    rng = np.random.default_rng(0)
    Z = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(10, 0.1, (50, 2))])
    L = np.arange(20)
    U = np.setdiff1d(np.arange(100), L)
    b = CoreSetSampler().select(1, ids(100), U, TableModel(Z, np.ones((100, 2)) / 2), rng)
    assert b[0] >= 50


def test_sampler_bad_input_and_names():
    Z, P = np.ones((6, 2)), np.full((6, 2), 0.5)
    model = TableModel(Z, P)
    for bad in (0, -1, 1.5, True, "2", None):
        for cls in (CoreSetSampler, BadgeSampler):
            with pytest.raises(ValueError, match="partitions"):
                cls(partitions=bad)
    for s in (CoreSetSampler(3), BadgeSampler(3)):
        with pytest.raises(ValueError, match="larger than the unlabeled pool"):
            s.select(4, ids(6), [0, 1, 2], model, np.random.default_rng(0))
        Zn = Z.copy()
        Zn[1, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            s.select(2, ids(6), [0, 1, 2], TableModel(Zn, P), np.random.default_rng(0))
    assert CoreSetSampler.name == "coreset" and BadgeSampler.name == "badge"
    assert repr(CoreSetSampler(2)) == "CoreSetSampler(partitions=2, centers='all')"
    assert repr(BadgeSampler(np.int64(3))) == "BadgeSampler(partitions=3)"


# -- in the loop ---------------------------------------------------------------------------

POOL = GaussianMixturePool(d=3, n_classes=3, n_pool=300, n_test=300, sep=3.0, seed=1)


@pytest.mark.parametrize("sampler", [CoreSetSampler(partitions=3), BadgeSampler(partitions=2),
                                     CoreSetSampler(), BadgeSampler()])
def test_loop_with_the_softmax_learner(sampler):
    D = POOL.data()
    run = run_active(D.X, ExactOracle(D.y, n_classes=3), SoftmaxRegression(3), sampler, 30,
                     20, 3, D.X_test, D.y_test, np.random.default_rng(0),
                     np.random.default_rng(1))
    lab = run.labeled
    assert lab.size == 90 and np.unique(lab).size == 90
    # chance is 1/3; the softmax fitted on the whole pool reaches 0.67 on this test set
    assert run.test_acc[-1] > 0.55


def test_loop_with_the_mlp_embedding():
    pytest.importorskip("torch")
    from simlab.active import MLPLearner

    D = POOL.data()
    for sampler in (CoreSetSampler(partitions=2), BadgeSampler(partitions=2)):
        run = run_active(D.X, ExactOracle(D.y, n_classes=3),
                         MLPLearner(3, hidden=8, epochs=5, seed=0), sampler, 30, 15, 2,
                         D.X_test, D.y_test, np.random.default_rng(0),
                         np.random.default_rng(1))
        assert np.unique(run.labeled).size == 60
