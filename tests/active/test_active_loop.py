"""Samplers (Margin, Random), the pool loop and its Trace through simulate(), bad input.

The frequency test of Random uses a fixed seed and a chi-square test at p > 1e-4 (its
false-failure probability for a correct sampler is below 1e-4).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

import simlab
from simlab.active import (
    ActiveLearning,
    GaussianMixturePool,
    LinearSeparatorPool,
    MarginSampler,
    MissingClassError,
    PoolTask,
    RandomSampler,
    SoftmaxRegression,
    margin_scores,
    run_active,
)
from simlab.engine.runner import ReplicaStreams
from simlab.oracles import BudgetExhausted, ExactOracle


class TableModel:
    """predict_proba of row ``X[i, 0]`` is the fixed table row ``P[int(X[i, 0])]``."""

    def __init__(self, P):
        self.P = np.asarray(P)

    def predict_proba(self, X):
        return self.P[np.asarray(X)[:, 0].astype(int)]


@st.composite
def margin_case(draw):
    n = draw(st.integers(1, 40))
    C = draw(st.integers(2, 4))
    # coarse probabilities, so that margins tie often
    raw = np.array(draw(st.lists(st.integers(1, 4), min_size=n * C, max_size=n * C)),
                   dtype=float).reshape(n, C)
    P = raw / raw.sum(axis=1, keepdims=True)
    mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    assume(mask.any())
    U = np.flatnonzero(mask)
    k = draw(st.integers(1, U.size))
    return P, U, k


@settings(max_examples=150)
@given(margin_case())
def test_margin_selects_exactly_the_k_smallest_margins(case):
    P, U, k = case
    X = np.arange(P.shape[0], dtype=float)[:, None]
    got = MarginSampler().select(k, X, U, TableModel(P), np.random.default_rng(0))
    s = [sorted(row)[-1] - sorted(row)[-2] for row in P.tolist()]
    brute = sorted(U.tolist(), key=lambda i: (s[i], i))[:k]  # ties: by index
    assert got.tolist() == brute
    assert len(set(got.tolist())) == k and set(got.tolist()) <= set(U.tolist())


@settings(max_examples=60)
@given(st.integers(2, 6), st.integers(1, 30), st.integers(0, 2**31))
def test_margin_scores_properties(C, n, seed):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(C), n)
    s = margin_scores(P)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(margin_scores(P[:, rng.permutation(C)]), s)
    P[0, :2] = P[0, :2].mean()
    P[0, 2:] = 0.0
    assert margin_scores(P)[0] == 0.0


@settings(max_examples=60)
@given(st.integers(1, 50), st.data())
def test_random_selects_k_distinct_unlabeled(n, data):
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    assume(mask.any())
    U = np.flatnonzero(mask)
    k = data.draw(st.integers(1, U.size))
    got = RandomSampler().select(k, np.zeros((n, 1)), U, None,
                                 np.random.default_rng(data.draw(st.integers(0, 99))))
    assert got.size == k and np.unique(got).size == k and set(got.tolist()) <= set(U.tolist())


def test_random_is_uniform_over_the_unlabeled_pool():
    U = np.array([1, 2, 4, 5, 7, 8, 10, 11, 13, 14])
    rng = np.random.default_rng(2024)
    k, reps = 3, 6000
    counts = np.zeros(15)
    for _ in range(reps):
        counts[RandomSampler().select(k, np.zeros((15, 1)), U, None, rng)] += 1
    assert counts[np.setdiff1d(np.arange(15), U)].sum() == 0
    # each unlabeled point is chosen with probability k / |U|
    assert stats.chisquare(counts[U]).pvalue > 1e-4
    assert counts.sum() == k * reps


TASK = LinearSeparatorPool(d=3, n_pool=300, n_test=300, seed=4)


@settings(max_examples=12)
@given(st.sampled_from(["random", "margin"]), st.integers(8, 20), st.integers(1, 15),
       st.integers(0, 6), st.integers(0, 10**6))
def test_loop_label_counts_and_no_point_twice(sampler, n_seed, k, rounds, seed):
    D = TASK.data()
    oracle = ExactOracle(D.y)
    try:
        res = run_active(D.X, oracle, SoftmaxRegression(2), sampler, n_seed, k, rounds,
                         D.X_test, D.y_test, np.random.default_rng(seed),
                         np.random.default_rng(seed + 1), w_star=D.w_star)
    except MissingClassError:
        assume(False)
    np.testing.assert_array_equal(res.labels, n_seed + k * np.arange(rounds + 1))
    assert oracle.labels_used == res.labels[-1] == sum(b.size for b in res.batches)
    assert np.unique(res.labeled).size == res.labeled.size
    assert res.test_acc.shape == res.angle.shape == (rounds + 1,)
    assert np.all((res.angle >= 0) & (res.angle <= np.pi))


def test_trace_through_simulate_equals_the_loop_run_directly():
    m = ActiveLearning(sampler="margin", k=15, n_seed=10, record_angle=True)
    R = 4
    cps = [m.horizon(r) for r in range(R + 1)]
    tr = simlab.simulate(TASK, m, steps=m.horizon(R), replicas=3, seed=5, checkpoints=cps)
    assert tr.axis == "labels queried" and tr.metrics == ("labels", "test_acc", "angle")
    D = TASK.data()
    for r in range(3):
        s = ReplicaStreams(5, r)
        res = run_active(D.X, ExactOracle(D.y, seed=s.generator(2)), SoftmaxRegression(2),
                         "margin", 10, 15, R, D.X_test, D.y_test, s.generator(0),
                         s.generator(1), w_star=D.w_star)
        np.testing.assert_array_equal(tr.values[:, r, 0], res.labels)
        np.testing.assert_array_equal(tr.values[:, r, 1], res.test_acc)
        np.testing.assert_array_equal(tr.values[:, r, 2], res.angle)
    # replay by seed, and replica r alone equals replica r beside others
    again = simlab.simulate(TASK, m, steps=m.horizon(R), replica_ids=[2], seed=5,
                            checkpoints=cps)
    np.testing.assert_array_equal(again.values[:, 0], tr.values[:, 2])
    other = simlab.simulate(TASK, m, steps=m.horizon(R), replicas=1, seed=6, checkpoints=cps)
    assert not np.array_equal(other.values[:, 0], tr.values[:, 0])


def test_checkpoints_between_rounds_and_below_the_seed_set():
    m = ActiveLearning(sampler="random", k=10, n_seed=20, budget=45, record_angle=True)
    tr = simlab.simulate(TASK, m, steps=60, replicas=2, seed=0,
                         checkpoints=[0, 19, 20, 29, 30, 45, 60])
    lab = tr.values[:, 0, 0]
    # budget 45: whole rounds only, so at most 20 + 2 * 10 = 40 labels
    np.testing.assert_array_equal(lab, [0, 0, 20, 20, 30, 40, 40])
    np.testing.assert_allclose(tr.values[:2, :, 2], np.pi / 2)  # no model yet
    acc0 = np.mean(TASK.data().y_test == 0)
    np.testing.assert_allclose(tr.values[:2, :, 1], acc0)


def test_margin_beats_random_on_a_separable_pool():
    task = LinearSeparatorPool(d=4, n_pool=3000, n_test=2000, seed=1)
    out = {}
    for name in ("random", "margin"):
        m = ActiveLearning(sampler=name, k=20, n_seed=20, record_angle=True)
        tr = simlab.simulate(task, m, steps=m.horizon(8), replicas=4, seed=3,
                             checkpoints=[m.horizon(8)])
        out[name] = np.median(tr.values[-1, :, 2])
    assert out["margin"] < out["random"]


def test_multiclass_pool_and_noisy_oracles():
    g = GaussianMixturePool(d=4, n_classes=4, n_pool=800, n_test=800, sep=3.0, seed=2)
    m = ActiveLearning(sampler="margin", k=20, n_seed=40)
    tr = simlab.simulate(g, m, steps=m.horizon(3), replicas=2, seed=1,
                         checkpoints=[m.horizon(3)])
    assert np.all(tr.values[-1, :, 1] > 0.6)
    noisy = LinearSeparatorPool(d=3, n_pool=20000, n_test=10, noise="massart", eta=0.2, seed=0)
    D = noisy.data()
    f = np.mean(noisy.oracle(seed=3).query(np.arange(D.y.size)) != D.y)
    assert abs(f - 0.2) <= 4 * np.sqrt(0.2 * 0.8 / D.y.size)
    ts = LinearSeparatorPool(d=3, n_pool=500, n_test=10, noise="tsybakov", tau=0.3, seed=0)
    o = ts.oracle(seed=1)
    p = o.flip_probabilities()
    assert np.all(p[np.abs(ts.data().margins) >= 0.3] == 0) and p.max() <= 0.5


def test_bad_input_errors():
    D = TASK.data()
    X, y = D.X, D.y
    U = np.arange(5)
    model = SoftmaxRegression(2).fit(X[:20], y[:20])
    rng = np.random.default_rng(0)
    for S in (RandomSampler(), MarginSampler()):
        with pytest.raises(ValueError, match="larger than the unlabeled pool"):
            S.select(6, X, U, model, rng)
        with pytest.raises(ValueError, match="empty"):
            S.select(1, X, np.array([], dtype=np.int64), model, rng)
        with pytest.raises(ValueError, match="k must be"):
            S.select(0, X, U, model, rng)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MarginSampler().select(2, Xn, U, model, rng)
    args = (D.X_test, D.y_test, np.random.default_rng(0), np.random.default_rng(1))
    with pytest.raises(ValueError, match="NaN"):
        run_active(Xn, ExactOracle(y), SoftmaxRegression(2), "margin", 10, 5, 1, *args)
    with pytest.raises(ValueError, match="empty"):
        run_active(np.zeros((0, 3)), ExactOracle(y), SoftmaxRegression(2), "margin", 10, 5,
                   1, *args)
    spent = ExactOracle(y, budget=10)
    spent.query(np.arange(10))
    with pytest.raises(BudgetExhausted, match="budget"):
        run_active(X, spent, SoftmaxRegression(2), "margin", 10, 5, 1, *args)
    with pytest.raises(ValueError, match="exceed the pool"):
        run_active(X, ExactOracle(y), SoftmaxRegression(2), "margin", 100, 50, 5, *args)
    with pytest.raises(ValueError, match="sampler"):
        ActiveLearning(sampler="kmeans")
    with pytest.raises(ValueError, match="coreset_centers"):
        ActiveLearning(sampler="coreset", partitions=4, coreset_centers="own")
    assert ActiveLearning(sampler="coreset", partitions=4,
                          coreset_centers="part").make_sampler().centers == "part"
    g = GaussianMixturePool(d=2, n_classes=5, n_pool=100, n_test=10)
    with pytest.raises(MissingClassError, match="class"):
        simlab.simulate(g, ActiveLearning(n_seed=2, k=2), steps=10, replicas=1)
    with pytest.raises(ValueError, match="w_star"):
        simlab.simulate(g, ActiveLearning(record_angle=True), steps=30, replicas=1)
    with pytest.raises(ValueError, match="n_seed"):
        simlab.simulate(TASK, ActiveLearning(n_seed=20, budget=10), steps=30, replicas=1)
    with pytest.raises(ValueError, match="noise"):
        LinearSeparatorPool(noise="bogus")
    with pytest.raises(ValueError, match="eta"):
        LinearSeparatorPool(noise="massart", eta=0.5)


def test_examples_are_small_and_validate_refuses_other_tasks():
    from simlab.engine import conformance as cf

    pools = LinearSeparatorPool.examples() + GaussianMixturePool.examples()
    methods = ActiveLearning.examples()
    assert all(p.dims()["n"] <= 200 and p.dims()["d"] <= 5 for p in pools)
    assert all(m.horizon(1) <= cf.STEPS for m in methods)
    for p in pools:  # every pool takes at least the softmax margin example
        assert cf.compatible(p, methods[0])
    assert not cf.compatible(GaussianMixturePool.examples()[0], methods[1])  # no w_star
    tasks, _ = cf.registered()
    other = [t for t in tasks if not isinstance(t, PoolTask)]
    assert other
    for t in other[:3]:
        with pytest.raises(ValueError, match="pool task"):
            methods[0].validate(t)
        assert not cf.compatible(t, methods[0])
