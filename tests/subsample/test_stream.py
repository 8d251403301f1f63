"""The streaming samplers on S1/S2: the kernel's water-filling, the diagnostics, keep rates,
staleness, bad input.

Statistical checks state their tolerance; seeds are fixed, so every failure replays.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlab import simulate
from simlab.subsample import (
    FreshWaterFill,
    Full,
    GradNormOracle,
    KatharopoulosFleuret,
    LossProportional,
    NegativeDownsampling,
    SelectiveBackprop,
    TopK,
    Uniform,
    WaterFill,
    waterfill,
)
from simlab.subsample import stream_ops as so
from simlab.subsample.methods import window_steps
from simlab.tasks import LinearStream, LogisticStream

S1 = LogisticStream(d=5, window=50, warm=0.5, n_test=200, seed=3)
S2 = LinearStream(d=4, window=50, warm=0.0, seed=3)


# --- the kernel's water-filling equals the numpy reference ----------------------------------

losses = st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e3)), min_size=2, max_size=60)


@settings(max_examples=200, deadline=None)
@given(l=losses, frac=st.floats(0.01, 1.0), floor=st.floats(0.0, 1.0))
def test_kernel_waterfill_equals_numpy_waterfill(l, frac, floor):
    s = np.asarray(l)
    n = s.size
    k = max(frac * n, 1.0)
    p_min = floor * k / n * 0.999
    p = np.empty(n)
    so.ss_waterfill(s.copy(), n, k, p_min, p)
    assert abs(p.sum() - k) <= 1e-9 * k
    if np.count_nonzero(s) + p_min * (n - np.count_nonzero(s)) > k:
        np.testing.assert_allclose(p, waterfill(s, k, p_min), rtol=1e-9, atol=1e-12)
    else:  # too few positive scores: each is kept, the rest of the budget spread evenly
        assert np.all(p[s > 0] == 1.0)
        np.testing.assert_allclose(p[s == 0], (k - np.count_nonzero(s)) / (n - np.count_nonzero(s)))


@settings(max_examples=100, deadline=None)
@given(l=st.lists(st.floats(0.0, 1e3), min_size=2, max_size=60), eps=st.floats(0.0, 1.0),
       alpha=st.sampled_from([0.0, 0.5, 1.0]))
def test_kernel_smoothing_floor_safety(l, eps, alpha):
    """Spec 6.2: s >= eps and mean(s) = 1 (an all-zero record becomes uniform)."""
    s = np.asarray(l)
    so.ss_smooth(s, s.size, eps, alpha)
    assert np.all(s >= eps - 1e-12)
    assert abs(s.mean() - 1.0) <= 1e-9


def test_kernel_argsort_is_a_stable_permutation_by_key():
    rng = np.random.default_rng(0)
    key = rng.integers(0, 5, 40).astype(float)
    idx = np.empty(40)
    so.ss_argsort(key, idx, 40)
    order = idx.astype(int)
    assert sorted(order) == list(range(40))
    assert np.all(np.diff(key[order]) >= 0)


# --- one step, exactly: diagnostics against Monte Carlo over the draws ----------------------

def _one_window(task, method, draws=20000, seed=0):
    """Probabilities, diagnostics and many draws of the step for one fixed window."""
    return window_steps(task, method, None, np.array([[12345, 678910]], dtype=np.uint64),
                        np.array([[seed + 1, 99]], dtype=np.uint64), draws)


@pytest.mark.parametrize("method", [Uniform(rho=0.2), WaterFill(rho=0.2, refresh=0),
                                    GradNormOracle(rho=0.2, p_min=0.01),
                                    WaterFill(rho=0.2, refresh=0, w_max=3.0),
                                    TopK(rho=0.2, refresh=0)],
                         ids=lambda m: m.label + ("(clip)" if getattr(m, "w_max", 0) == 3 else ""))
@pytest.mark.parametrize("task", [S1, S2], ids=["S1", "S2"])
def test_diagnostics_are_exact_for_the_poisson_step(task, method):
    """E[d] = gbias, E||d - gbar||^2 = grad_mse, E||d||^2 = step_sq, E|S| = sum p; each
    within 5 standard errors of the Monte Carlo over 20,000 draws (false-failure budget
    ~1e-6 per comparison)."""
    w = _one_window(task, method)
    steps, st_ = w["steps"], w["state"]
    R = steps.shape[0]
    mean, se = steps.mean(0), steps.std(0, ddof=1) / np.sqrt(R)
    assert np.all(np.abs(mean - w["gbias"]) <= 5 * se + 1e-12)
    err = np.sum((steps - w["gbar"]) ** 2, axis=1)
    assert abs(err.mean() - st_[2]) <= 5 * err.std(ddof=1) / np.sqrt(R) + 1e-12
    sq = np.sum(steps ** 2, axis=1)
    assert abs(sq.mean() - st_[5]) <= 5 * sq.std(ddof=1) / np.sqrt(R) + 1e-12
    c = w["counts"]
    assert abs(c.mean() - w["p"].sum()) <= 5 * c.std(ddof=1) / np.sqrt(R) + 1e-12


@pytest.mark.parametrize("task", [S1, S2], ids=["S1", "S2"])
def test_horvitz_thompson_step_is_unbiased_and_clipping_is_not(task):
    """Unclipped HT weights: E[d] equals the window-mean gradient exactly (gbias == gbar);
    clipping at w_max = 3 moves it."""
    w = _one_window(task, WaterFill(rho=0.2, refresh=0), draws=1)
    np.testing.assert_allclose(w["gbias"], w["gbar"], rtol=1e-12, atol=1e-14)
    c = _one_window(task, WaterFill(rho=0.2, refresh=0, w_max=3.0), draws=1)
    assert np.linalg.norm(c["gbias"] - c["gbar"]) > 1e-3 * np.linalg.norm(c["gbar"])


# --- the samplers in the simulation ---------------------------------------------------------

def _final(task, method, steps=200, replicas=16, seed=1, **kw):
    tr = simulate(task, method, steps=steps, replicas=replicas, seed=seed, **kw)
    return tr, {m: tr.values[-1, :, tr.metrics.index(m)] for m in tr.metrics}


@pytest.mark.parametrize("method, rate", [
    (Uniform(rho=0.1), 0.1), (WaterFill(rho=0.1), 0.1), (LossProportional(rho=0.1), 0.1),
    (SelectiveBackprop(rho=0.25), 0.25), (SelectiveBackprop(rho=0.5, beta=2.0), 1 / 3),
    (FreshWaterFill(rho=0.2), 0.2), (GradNormOracle(rho=0.1), 0.1),
    (NegativeDownsampling(rho=0.4), 0.4)], ids=lambda x: getattr(x, "label", str(x)))
def test_backward_count_matches_the_budget(method, rate):
    """Poisson designs: backward passes / instances within 5 binomial standard errors of the
    expected rate (negative downsampling: of rho, through the base rate of the test rows; its
    tolerance adds the base rate's sampling error over 200 test rows)."""
    task = replace(S1, base_rate=0.2) if isinstance(method, NegativeDownsampling) else S1
    _, f = _final(task, method)
    total = 200 * 16 * task.window
    got = f["backward"].sum() / total
    tol = 5 * np.sqrt(rate * (1 - rate) / total)
    if isinstance(method, NegativeDownsampling):
        tol += 3 * np.sqrt(0.2 * 0.8 / task.n_test)
    assert abs(got - rate) <= tol, (got, rate, tol)


def test_exact_counts_and_costs():
    """Top-k and Katharopoulos-Fleuret take exactly round(rho n) per window; full takes all;
    the cost model charges forward 1 + backward 2 per trained instance and one forward per
    fresh score."""
    n, T = S1.window, 50
    for m, per, extra in [(TopK(rho=0.1), 5, 0), (KatharopoulosFleuret(rho=0.1), 5, n),
                          (Full(), n, 0), (FreshWaterFill(rho=0.1), None, n)]:
        _, f = _final(S1, m, steps=T, replicas=4)
        if per is not None:
            assert np.all(f["backward"] == per * T), m.label
        np.testing.assert_allclose(f["cost"], 3 * f["backward"] + extra * T, err_msg=m.label)


def test_full_has_no_sampling_error_and_uniform_is_its_own_reference():
    _, f = _final(S2, Full(), steps=20, replicas=4)
    assert np.all(f["grad_mse"] == 0) and np.all(f["max_weight"] == 1)
    _, u = _final(S2, Uniform(rho=0.1), steps=20, replicas=4)
    np.testing.assert_allclose(u["mse_ratio"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(u["max_weight"], 10.0, rtol=1e-12)


def test_fresh_record_equals_the_fresh_sampler_path_by_path():
    """Delta = 0 (serving copy = training model): the recorded losses are the current ones, so
    water-filling on the record and on one extra forward take the same path; only the cost
    differs (the extra forward)."""
    a, fa = _final(S1, WaterFill(refresh=0), steps=60, replicas=4)
    b, fb = _final(S1, FreshWaterFill(refresh=0), steps=60, replicas=4)
    for m in ("test_loss", "backward", "grad_mse", "mse_ratio"):
        np.testing.assert_array_equal(a.values[..., a.metrics.index(m)],
                                      b.values[..., b.metrics.index(m)])
    assert np.all(fb["cost"] > fa["cost"])


def test_staleness_changes_the_path_and_a_stale_record_helps_less():
    """Refreshing the serving copy every 1000 steps (stale records from the starting model)
    gives a larger variance ratio than every step (mean over replicas at step 300)."""
    task = replace(S2, warm=0.0)
    _, fresh = _final(task, WaterFill(refresh=1), steps=300)
    _, stale = _final(task, WaterFill(refresh=1000), steps=300)
    assert stale["mse_ratio"].mean() > fresh["mse_ratio"].mean()


def test_a_misaligned_record_join_destroys_the_benefit():
    """record_shift = 1 scores instance i by i+1's record: the ratio goes to about uniform's
    or worse (spec 6.2, informative vs shuffled records)."""
    _, ok = _final(S2, WaterFill(refresh=1), steps=200)
    _, bad = _final(S2, WaterFill(refresh=1, record_shift=1), steps=200)
    assert ok["mse_ratio"].mean() < 0.8 < bad["mse_ratio"].mean()


def test_same_seed_same_windows_for_every_sampler():
    """Paired comparisons: one seed gives every sampler the same windows. At checkpoint 1 every
    sampler has taken one step from the same starting model, and ``window_var`` is a function
    of the first window and that model alone: equal bit for bit across samplers (it would
    differ if a sampler drew from the window's stream or the window depended on the method);
    a run repeated with the same seed is identical."""
    samplers = [Full(), Uniform(), WaterFill(), TopK(), KatharopoulosFleuret(),
                SelectiveBackprop(), GradNormOracle()]
    wv = [simulate(S2, m, steps=3, replicas=3, seed=9, checkpoints=[0, 1, 3]).metric(
        "window_var")[1] for m in samplers]
    assert np.all(wv[0] > 0)
    for m, v in zip(samplers[1:], wv[1:]):
        np.testing.assert_array_equal(v, wv[0], err_msg=m.label)
    a = simulate(S2, WaterFill(), steps=5, replicas=3, seed=9, checkpoints="all")
    b = simulate(S2, WaterFill(), steps=5, replicas=3, seed=9, checkpoints="all")
    np.testing.assert_array_equal(a.values, b.values)


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, match", [
    (Uniform(rho=0.0), "rho must be in"), (Uniform(rho=1.5), "rho must be in"),
    (Uniform(rho=0.001), "at least 1/n"), (Uniform(rho=float("nan")), "rho must be"),
    (Uniform(step_size=-1.0), "step_size"), (Uniform(refresh=2.5), "refresh"),
    (Uniform(weighting="sn"), "weighting"), (WaterFill(p_min=0.2), "p_min"),
    (WaterFill(w_max=0.5), "w_max"), (WaterFill(epsilon=1.5), "epsilon"),
    (SelectiveBackprop(beta=-1.0), "beta"), (KatharopoulosFleuret(weighting="none"),
                                             "weighting"),
    (KatharopoulosFleuret(tau_th=0.5), "tau_th"), (Uniform(record_shift=-1), "record_shift"),
])
def test_bad_parameters_are_named(method, match):
    with pytest.raises(ValueError, match=match):
        simulate(S1, method, steps=2, replicas=1)


def test_negative_downsampling_needs_labels_and_a_low_base_rate():
    with pytest.raises(ValueError, match="0/1 labels"):
        simulate(S2, NegativeDownsampling(rho=0.3), steps=2, replicas=1)
    with pytest.raises(ValueError, match="base rate"):
        simulate(replace(S1, base_rate=0.27), NegativeDownsampling(rho=0.1), steps=2,
                 replicas=1)


def test_samplers_refuse_a_non_streaming_task():
    from simlab.tasks import SharedHessianQuadratics

    with pytest.raises(ValueError, match="streaming task|lacks|requires"):
        simulate(SharedHessianQuadratics(), Uniform(), steps=2, replicas=1)


def test_a_zero_loss_window_is_handled_by_the_floor():
    """Losses all zero (the truth at warm = 1 with w_norm tiny is not exact, so force it): the
    smoothing makes the record uniform; no division by zero, p = k/n."""
    s = np.zeros(20)
    so.ss_smooth(s, 20, 0.0, 1.0)
    p = np.empty(20)
    so.ss_waterfill(s, 20, 4.0, 0.0, p)
    np.testing.assert_allclose(p, 0.2)
