"""The stage-wise margin learner of spec 8.1 (the label-complexity setting), directly and
through the runner protocol.

Checks: labels are billed ``k`` per round and never twice; the error falls on an easy
setting (d = 2); band candidates satisfy ``|w_{s-1}.x| <= b_s`` and a top-k batch is the
brute-force ``k`` smallest; ``k_m = k`` makes every margin selector return the top-k batch
(spec 8.1 check 6); the planted errors change behaviour; the fits satisfy their
constraints / optimality conditions; ``labels_to_reach`` on hand-made records; the
LoopMethod returns a Trace on "labels queried", invariant to the replicas run beside it and
equal to the direct run; the engine's conformance checks; bad input. Seeds are fixed; the
statistical statements (error decreases, planted errors hurt) hold on every seed tried with
a wide margin and declare their thresholds inline.
"""

from __future__ import annotations

import numpy as np
import pytest

import simlab
from simlab.active.pools import GaussianMixturePool, LinearSeparatorPool
from simlab.active.stagewise import (
    SELECTORS,
    StagewiseMargin,
    band_width,
    fit_hinge,
    fit_logistic,
    labels_to_reach,
    pool_clusters,
    rounds_to_reach,
    run_stagewise,
)
from simlab.engine.runner import ReplicaStreams

TASK = LinearSeparatorPool(d=3, n_pool=3000, n_test=1, seed=4)
BAND = ("margin_uniform", "margin_topk", "cmv_det", "cmv_cells", "kcenter")


def _run(selector="margin_uniform", k=10, k_m=50, stages=6, task=TASK, seed=0, **kw):
    D = task.data()
    clusters = kw.pop("clusters", None)
    if selector == "cluster_margin" and clusters is None:
        clusters = pool_clusters(task, None, "off").labels
    return run_stagewise(D.X, task.oracle(0), D.w_star, selector, k, k_m, stages, 2.0, 2.0,
                         np.random.default_rng(seed), inputs=task.inputs, clusters=clusters,
                         seed_rng=np.random.default_rng([seed, 0]), **kw)


# --- accounting and geometry ---------------------------------------------------------------

@pytest.mark.parametrize("selector", SELECTORS)
def test_labels_are_k_per_round_and_never_repeated(selector):
    res = _run(selector)
    assert res.labels.tolist() == [10 * (r + 1) for r in range(7)]
    assert res.stage.tolist() == list(range(7))
    lab = res.batches
    assert all(b.size == 10 for b in lab)
    allidx = np.concatenate(lab)
    assert np.unique(allidx).size == allidx.size
    np.testing.assert_allclose(res.rounds, np.arange(1, 8))
    np.testing.assert_allclose(np.linalg.norm(res.directions, axis=1), 1.0)
    assert np.all(np.diff(res.band_exhausted) >= 0)


@pytest.mark.parametrize("fit", ["logistic", "hinge"])
def test_error_falls_on_an_easy_setting(fit):
    task = LinearSeparatorPool(d=2, n_pool=5000, n_test=1, seed=1)
    for seed in range(3):
        res = _run("margin_uniform", k=10, k_m=100, stages=8, task=task, seed=seed, fit=fit)
        # threshold: every seed ends below 1% error and well below its stage-0 error
        assert res.err[-1] < 0.01
        assert res.err[-1] < 0.5 * res.err[0]


@pytest.mark.parametrize("selector", BAND + ("cluster_margin",))
def test_batches_lie_in_the_band_of_the_previous_direction(selector):
    res = _run(selector, k=5, k_m=40, stages=5)
    d = TASK.data()
    for s in range(1, 6):
        new = res.band_exhausted[s] - res.band_exhausted[s - 1]
        if new:
            continue
        b = band_width(s, 2.0, 3)
        assert res.band[s] == b
        assert np.all(np.abs(d.X[res.batches[s]] @ res.directions[s - 1]) <= b)
        assert res.n_candidates[s] == 40


def test_topk_batch_is_the_brute_force_k_smallest_unlabeled():
    res = _run("margin_topk", k=7, k_m=30, stages=4)
    X = TASK.data().X
    for s in range(1, 5):
        labeled = np.concatenate(res.batches[:s])
        U = np.setdiff1d(np.arange(X.shape[0]), labeled)
        a = np.abs(X[U] @ res.directions[s - 1])
        assert np.array_equal(np.sort(res.batches[s]), np.sort(U[np.lexsort((U, a))[:7]]))


@pytest.mark.parametrize("selector", ["margin_uniform", "cmv_det", "cmv_cells", "kcenter",
                                      "cluster_margin"])
def test_km_equal_k_makes_every_margin_selector_the_topk_batch(selector):
    ref = _run("margin_topk", k=6, k_m=6, stages=4)
    res = _run(selector, k=6, k_m=6, stages=4)
    for a, b in zip(ref.batches, res.batches):
        assert np.array_equal(np.sort(a), np.sort(b))
    np.testing.assert_allclose(res.err, ref.err)


def test_band_exhaustion_is_recorded_and_falls_back_to_the_nearest_points():
    task = LinearSeparatorPool(d=2, n_pool=300, n_test=1, seed=2)
    res = _run("margin_uniform", k=10, k_m=50, stages=12, task=task)
    assert res.band_exhausted[-1] > 0  # a 300-point pool cannot fill 12 halvings
    X = task.data().X
    s = int(np.flatnonzero(np.diff(res.band_exhausted) > 0)[0]) + 1
    labeled = np.concatenate(res.batches[:s])
    U = np.setdiff1d(np.arange(300), labeled)
    a = np.abs(X[U] @ res.directions[s - 1])
    assert np.sum(a <= res.band[s]) < 10
    assert np.array_equal(np.sort(res.batches[s]), np.sort(U[np.argsort(a)[:10]]))


def test_sphere_inputs_scale_the_band():
    assert band_width(3, 2.0, 16, "sphere") == pytest.approx(2.0 / 8 / 4)
    assert band_width(3, 2.0, 16) == pytest.approx(0.25)
    assert band_width(5, 2.0, 4, shrink=False) == band_width(1, 2.0, 4)
    task = LinearSeparatorPool(d=4, n_pool=2000, n_test=1, inputs="sphere", seed=3)
    res = _run("margin_uniform", k=10, k_m=40, stages=3, task=task)
    assert res.band[1] == pytest.approx(1.0 / 2.0)


def test_rounds_per_stage_keeps_the_band_for_several_batches():
    res = _run("margin_uniform", k=5, k_m=30, stages=3, rounds_per_stage=2)
    assert res.stage.tolist() == [0, 1, 1, 2, 2, 3, 3]
    assert res.band[1] == res.band[2] and res.band[3] == res.band[4] < res.band[2]
    cut = _run("margin_uniform", k=5, k_m=30, stages=3, rounds_per_stage=2, max_rounds=3)
    assert cut.labels.tolist() == [5, 10, 15, 20]


# --- planted errors -------------------------------------------------------------------------

def test_volume_bypass_turns_the_cmv_selectors_into_uniform_sampling():
    uni = _run("margin_uniform", k=8, k_m=60, stages=5)
    for sel in ("cmv_det", "cmv_cells"):
        res = _run(sel, k=8, k_m=60, stages=5, volume_bypass=True)
        assert all(np.array_equal(a, b) for a, b in zip(uni.batches, res.batches))
        honest = _run(sel, k=8, k_m=60, stages=5)
        assert not all(np.array_equal(np.sort(a), np.sort(b))
                       for a, b in zip(uni.batches, honest.batches))


def test_band_shrink_off_keeps_the_band_and_costs_labels_with_all_band_candidates():
    task = LinearSeparatorPool(d=5, n_pool=20000, n_test=1, seed=0)
    res = _run("margin_uniform", k=10, k_m=None, stages=14, task=task, band_shrink=False)
    assert np.all(res.band[1:] == band_width(1, 2.0, 5))
    # threshold (measured: median N(0.02) is 40 labels shrinking, 65 not; N(0.005) 70 vs
    # 260): over 6 seeds the planted error needs more labels to reach 0.01
    N_ok, N_bug = [], []
    for seed in range(6):
        ok = _run("margin_uniform", k=10, k_m=None, stages=14, task=task, seed=seed)
        bug = _run("margin_uniform", k=10, k_m=None, stages=14, task=task, seed=seed,
                   band_shrink=False)
        N_ok.append(labels_to_reach(ok.labels, ok.err, 0.01))
        N_bug.append(labels_to_reach(bug.labels, bug.err, 0.01))
    assert np.median(N_bug) >= 1.5 * np.median(N_ok)


def test_stale_band_stays_on_w0_and_stalls():
    task = LinearSeparatorPool(d=5, n_pool=20000, n_test=1, seed=0)
    res = _run("margin_uniform", k=10, k_m=100, stages=10, task=task, stale_band=True)
    X = task.data().X
    for s in range(1, 11):
        if res.band_exhausted[s] == res.band_exhausted[s - 1]:
            assert np.all(np.abs(X[res.batches[s]] @ res.directions[0]) <= res.band[s])
    # threshold (measured: median N(0.02) = 40 labels honest, never in 50% of seeds stale)
    stalled = 0
    for seed in range(6):
        bug = _run("margin_uniform", k=10, k_m=100, stages=10, task=task, seed=seed,
                   stale_band=True)
        ok = _run("margin_uniform", k=10, k_m=100, stages=10, task=task, seed=seed)
        assert ok.err[-1] < 0.01
        stalled += bug.err[-1] > 0.01
    assert stalled >= 2


# --- fits -----------------------------------------------------------------------------------

def test_hinge_fit_stays_in_the_ball_and_lowers_the_loss():
    rng = np.random.default_rng(0)
    d = 4
    w_star = np.array([1.0, 0, 0, 0])
    X = rng.standard_normal((200, d))
    y = np.sign(X @ w_star)
    w0 = np.array([0.8, 0.6, 0.0, 0.0])
    for r in (0.05, 0.3, 1.0):
        w = fit_hinge(X, y, w0, r, 0.5, np.random.default_rng(1), epochs=20)
        assert np.linalg.norm(w - w0) <= r + 1e-12 and np.linalg.norm(w) <= 1 + 1e-9

        def loss(v):
            return np.maximum(0, 1 - y * (X @ v) / 0.5).mean()

        assert loss(w) < loss(w0)
    # with room to move, the direction approaches w* (threshold: within 0.15 rad)
    w = fit_hinge(X, y, w0, 1.0, 0.5, np.random.default_rng(1), epochs=50)
    assert np.arccos(w @ w_star / np.linalg.norm(w)) < 0.15
    assert np.array_equal(fit_hinge(X[:0], y[:0], w0, 0.1, 0.5, rng), w0)


def test_logistic_fit_is_the_regularised_optimum():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 3))
    y = np.where(rng.random(80) < 1 / (1 + np.exp(-X @ [2.0, -1.0, 0.5])), 1.0, -1.0)
    for l2 in (1e-2, 1e-6):
        w = fit_logistic(X, y, None, l2)
        z = y * (X @ w)
        grad = -(X * (y / (1 + np.exp(z)))[:, None]).mean(axis=0) + l2 * w
        assert np.linalg.norm(grad) < 1e-7
        np.testing.assert_allclose(fit_logistic(X, y, w * 0.5, l2), w, atol=1e-6)


# --- label complexity -----------------------------------------------------------------------

def test_labels_to_reach_on_hand_made_records():
    labels = np.array([10, 20, 30, 40])
    err = np.array([0.5, 0.05, 0.2, 0.01])
    assert labels_to_reach(labels, err, 0.1) == 40  # 0.2 at 30: it did not stay
    assert labels_to_reach(labels, err, 0.3) == 20
    assert labels_to_reach(labels, err, 0.6) == 10
    assert labels_to_reach(labels, err, 0.001) == np.inf
    E = np.vstack([err, [0.05, 0.04, 0.03, 0.02]])
    assert labels_to_reach(labels, E, 0.1).tolist() == [40.0, 10.0]
    assert rounds_to_reach(labels, E, 0.1, 10).tolist() == [4.0, 1.0]
    with pytest.raises(ValueError, match="length"):
        labels_to_reach(labels, err[:3], 0.1)


def test_passive_record_rounds_equal_fitting_every_round():
    full = _run("passive", k=20, k_m=None, stages=12)
    some = _run("passive", k=20, k_m=None, stages=12, record_rounds=[3, 7])
    assert some.labels.tolist() == [20, 80, 160, 260]
    idx = [0, 3, 7, 12]
    np.testing.assert_allclose(some.err, full.err[idx], atol=1e-7)
    assert all(np.array_equal(a, b) for a, b in zip(full.batches, some.batches))


# --- the LoopMethod -------------------------------------------------------------------------

SMALL = LinearSeparatorPool(d=3, n_pool=1500, n_test=1, seed=5)


@pytest.mark.parametrize("selector", ["margin_uniform", "cmv_cells", "passive"])
def test_trace_through_simulate_equals_the_direct_run(selector):
    m = StagewiseMargin(selector=selector, k=10, km_ratio=5.0)
    H = m.horizon(6)
    cps = np.arange(0, H + 1, 10)
    tr = simlab.simulate(SMALL, m, steps=H, replicas=3, seed=9, checkpoints=cps)
    assert tr.axis == "labels queried" and tr.metrics == m.metrics
    assert tr.values.shape == (cps.size, 3, 4)
    direct = m.run(SMALL, ReplicaStreams(9, 2), 6)
    np.testing.assert_allclose(tr.values[1:, 2, 1], direct.err)
    np.testing.assert_allclose(tr.values[1:, 2, 0], direct.labels)
    assert tr.values[0, 0].tolist() == [0.0, 0.5, -1.0, 0.0]  # before any model
    alone = simlab.simulate(SMALL, m, steps=H, replica_ids=[2], seed=9, checkpoints=cps)
    np.testing.assert_array_equal(alone.values[:, 0], tr.values[:, 2])
    assert not np.array_equal(tr.values[:, 0, 1], tr.values[:, 1, 1])


def test_checkpoints_between_rounds_read_the_last_model():
    m = StagewiseMargin(selector="margin_topk", k=10, km_ratio=3.0)
    tr = simlab.simulate(SMALL, m, steps=45, replicas=1, seed=0,
                         checkpoints=[0, 9, 10, 19, 25, 40, 45])
    assert tr.values[:, 0, 0].tolist() == [0, 0, 10, 10, 20, 40, 40]
    assert tr.values[:, 0, 2].tolist() == [-1, -1, 0, 0, 1, 3, 3]


def test_conformance_checks_pass_on_the_examples():
    from simlab.engine import conformance as cf

    pools = LinearSeparatorPool.examples()
    for m in StagewiseMargin.examples():
        assert m.horizon(3) <= cf.STEPS
        for p in pools:
            assert cf.compatible(p, m)
            cf.check_method(p, m)
    g = GaussianMixturePool.examples()[0]
    assert not cf.compatible(g, StagewiseMargin())


# --- bad input ------------------------------------------------------------------------------

def test_bad_input():
    D = TASK.data()
    rng = np.random.default_rng(0)

    def go(*a, **kw):
        args = dict(X=D.X, y_oracle=TASK.oracle(0), w_star=D.w_star, selector="margin_uniform",
                    k=5, k_m=20, stages=2, c_b=2.0, c_r=2.0, rng=rng)
        args.update(kw)
        return run_stagewise(**args)

    with pytest.raises(ValueError, match="selector"):
        go(selector="bogus")
    with pytest.raises(ValueError, match="fit"):
        go(fit="svm")
    with pytest.raises(ValueError, match="k_t=5 > k_m=3"):
        go(k_m=3)
    with pytest.raises(ValueError, match="clusters"):
        go(selector="cluster_margin")
    with pytest.raises(ValueError, match="clusters must have shape"):
        go(selector="cluster_margin", clusters=np.zeros(3, int))
    X = D.X.copy()
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        go(X=X)
    with pytest.raises(ValueError, match="w_star"):
        go(w_star=np.ones(2))
    with pytest.raises(ValueError, match="larger than the pool"):
        go(X=D.X[:3], y_oracle=D.y[:3])
    with pytest.raises(ValueError, match="oracle covers"):
        go(X=D.X[:100])
    with pytest.raises(ValueError, match="c_b"):
        go(c_b=0.0)
    with pytest.raises(ValueError, match="rounds_per_stage"):
        go(rounds_per_stage=0)
    with pytest.raises(ValueError, match="inputs"):
        go(inputs="cube")
    with pytest.raises(ValueError, match="selector"):
        StagewiseMargin(selector="coreset")
    with pytest.raises(ValueError, match="km_ratio"):
        StagewiseMargin(km_ratio=0.5)
    with pytest.raises(ValueError, match="k must be"):
        StagewiseMargin(k=0)
    with pytest.raises(ValueError, match="eps_hac"):
        StagewiseMargin(eps_hac=-1.0)
    g = GaussianMixturePool(d=2, n_classes=3, n_pool=50, n_test=5)
    with pytest.raises(ValueError, match="true separator"):
        simlab.simulate(g, StagewiseMargin(k=5), steps=20, replicas=1)
    with pytest.raises(ValueError, match="exceeds the pool"):
        simlab.simulate(LinearSeparatorPool(d=2, n_pool=5, n_test=1), StagewiseMargin(k=10),
                        steps=20, replicas=1)


def test_vdet_on_normalised_projections_is_topk_in_two_dimensions():
    """d = 2: the projections onto w^perp normalise to +-u, every V-det gain ties and the
    smallest candidate positions (the smallest |w.x|) win: the top-k batch, exactly."""
    task = LinearSeparatorPool(d=2, n_pool=3000, n_test=1, seed=6)
    det = _run("cmv_det", k=8, k_m=80, stages=5, task=task)
    top = _run("margin_topk", k=8, k_m=80, stages=5, task=task)
    assert all(np.array_equal(np.sort(a), np.sort(b)) for a, b in zip(det.batches, top.batches))
    cells = _run("cmv_cells", k=8, k_m=80, stages=5, task=task)  # unnormalised: differs
    assert not all(np.array_equal(np.sort(a), np.sort(b))
                   for a, b in zip(cells.batches, top.batches))
