"""Baselines of spec section 5: their rules, the properties spec 6.2 lists for them, and
their bad-input errors.

False-failure budget. Monte Carlo checks allow 4 standard errors (6.3e-5 each under the
normal approximation): 12 in the Selective Backprop tests, 2 x 3 in Katharopoulos-Fleuret's,
2 in negative downsampling's and 12 in Loshchilov-Hutter's, so the file's budget is about
32 x 6.3e-5 < 3e-3 for fresh seeds. The seeds are explicit, so every failure replays.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlab.subsample import (
    KFSwitch,
    LossHistory,
    calibrate_logit,
    calibrate_probability,
    gradient_norm_oracle,
    katharopoulos_fleuret,
    kf_tau,
    kf_threshold,
    loss_proportional,
    negative_downsampling,
    poisson,
    poisson_variance,
    rank_based_probabilities,
    rank_based_selection,
    selection_pressure,
    selective_backprop,
    selective_backprop_probability,
    top_k,
    uniform_probabilities,
    waterfill,
    waterfill_level,
)

Z = 4.0


def logit(q):
    return np.log(q) - np.log1p(-q)


# --------------------------------------------------------------------------- uniform

def test_uniform_probabilities():
    p = uniform_probabilities(8, 2)
    np.testing.assert_array_equal(p, 0.25)
    v = np.arange(8.0)
    assert poisson_variance(v, p) == pytest.approx(np.sum(v**2) * (8 / 2 - 1))


# --------------------------------------------------------------------------- negative downsampling

def test_negative_downsampling_probabilities():
    np.testing.assert_array_equal(negative_downsampling([1, 0, 0, 1], 0.2), [1.0, 0.2, 0.2, 1.0])


@settings(max_examples=100)
@given(st.floats(1e-4, 1 - 1e-4), st.floats(1e-3, 1.0))
def test_calibration_inverts_downsampling(pi, r):
    """Keeping negatives at rate r turns a base rate pi into pi / (pi + (1 - pi) r); the
    correction q / (q + (1 - q) / r) undoes it, and equals logit + log r."""
    sampled = pi / (pi + (1 - pi) * r)
    assert float(calibrate_probability(sampled, r)) == pytest.approx(pi, rel=1e-9)
    q = np.array([sampled, 0.3, 0.9])
    np.testing.assert_allclose(logit(calibrate_probability(q, r)), calibrate_logit(logit(q), r),
                               rtol=1e-9, atol=1e-9)


def test_downsampled_base_rate_and_weights_by_simulation():
    """Unweighted, the kept base rate is pi_s (calibrate it back); weighted 1/p, it is pi."""
    rng = np.random.default_rng(51)
    pi, r = 0.05, 0.1
    y = (rng.random(200_000) < pi).astype(float)
    idx, w = poisson(negative_downsampling(y, r), rng)
    kept = y[idx]
    pi_s = pi / (pi + (1 - pi) * r)
    assert abs(kept.mean() - pi_s) <= Z * math.sqrt(pi_s * (1 - pi_s) / kept.size)
    # weighted positive rate N_pos / (N_pos + N_neg_kept / r); delta-method SE, labels and
    # downsampling: pi (1 - pi) / N * (1 + pi (1 - r) / r)
    weighted = np.sum(w * kept) / np.sum(w)
    se = math.sqrt(pi * (1 - pi) / y.size * (1 + pi * (1 - r) / r))
    assert abs(weighted - pi) <= Z * se
    # calibrating the unweighted rate gives exactly the weighted one
    assert float(calibrate_probability(kept.mean(), r)) == pytest.approx(weighted, rel=1e-12)


# --------------------------------------------------------------------------- Katharopoulos-Fleuret

def test_kf_weights_are_exactly_unbiased():
    """sum_i q_i w_i g_i = mean(g): the identity behind E[sum w g / b] = presampled mean."""
    rng = np.random.default_rng(52)
    g = rng.normal(size=(24, 3))
    s = np.linalg.norm(g, axis=1) + 0.1
    q = s / s.sum()
    w = (s.sum() / s.size) / s
    np.testing.assert_allclose((q * w) @ g, g.mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("seed", [53, 54])
def test_kf_estimate_is_unbiased(seed):
    """E[sum_j w_j g_{i_j} / b] equals the presampled mean gradient (2 * 10^4 draws)."""
    rng = np.random.default_rng(seed)
    B, b = 24, 8
    g = rng.normal(size=(B, 3)) * rng.lognormal(0.0, 1.0, B)[:, None]
    s = np.linalg.norm(g, axis=1) * rng.uniform(0.5, 2.0, B)  # a noisy upper bound
    est = np.empty((20_000, 3))
    for t in range(est.shape[0]):
        idx, w = katharopoulos_fleuret(s, b, rng)
        assert idx.size == b
        est[t] = (w[:, None] * g[idx]).sum(axis=0) / b
    se = est.std(axis=0, ddof=1) / math.sqrt(est.shape[0])
    assert np.all(np.abs(est.mean(axis=0) - g.mean(axis=0)) <= Z * se)


def test_kf_zero_score_is_never_drawn():
    idx, _ = katharopoulos_fleuret([0.0, 1.0, 2.0], 100, np.random.default_rng(0))
    assert 0 not in idx


def test_kf_tau():
    assert kf_tau(np.full(12, 3.7)) == 1.0
    assert kf_tau(np.zeros(5)) == 1.0  # the reference code treats all-zero scores as uniform
    assert kf_tau([0.0, 0.0, 5.0, 0.0]) == pytest.approx(2.0)  # sqrt(B) for one score
    s = np.random.default_rng(55).lognormal(size=30)
    g = s / s.sum()
    assert kf_tau(s) == pytest.approx(math.sqrt(s.size * np.sum(g**2)), rel=1e-12)
    assert kf_tau(s) > 1.0


def test_kf_threshold_and_switch():
    assert kf_threshold(9, 3) == 2.0  # presample 3: (3b + 3b) / 3b
    assert kf_threshold(30, 10) == pytest.approx(2.0)
    flat = KFSwitch(9, 3)
    for _ in range(100):
        flat.update(np.ones(9))
        assert not flat.active  # tau -> 1 < 2: uniform sampling forever
    assert flat.tau == pytest.approx(1 - 0.9**100)
    peaked = KFSwitch(9, 3)
    steps = 0
    while not peaked.active:
        peaked.update(np.r_[1.0, np.zeros(8)])  # tau_new = sqrt(9) = 3
        steps += 1
    assert steps == 11  # 3 (1 - 0.9^t) > 2  <=>  t > log(1/3) / log(0.9) = 10.4


# --------------------------------------------------------------------------- Selective Backprop

def history_integral(hist_sorted, beta, q):
    """Exact int_0^q CDF_R(l)^beta dl for the step ECDF of a history in [0, 1]."""
    m = hist_sorted.size
    edges = np.concatenate(([0.0], hist_sorted, [1.0]))
    lengths = np.diff(np.clip(edges, 0.0, q))
    levels = (np.arange(m + 1) / m) ** beta
    return float(np.sum(levels * lengths))


@pytest.mark.parametrize("beta", [1.0, 2.0, 3.0])
def test_selective_backprop_keep_rate_and_bias(beta):
    """Fresh i.i.d. U(0, 1) losses against an independent U(0, 1) history of m = 2 * 10^5:

    * the keep rate matches the exact rate given the history, int CDF_R^beta, within 4 SE,
      and that rate is 1 / (beta + 1) up to the history's own sampling noise;
    * the kept losses are stochastically larger: their CDF at q is
      int_0^q CDF_R^beta / int_0^1 CDF_R^beta (about q^(beta + 1)), below q.
    """
    rng = np.random.default_rng(60 + int(beta))
    hist = np.sort(rng.random(200_000))
    losses = rng.random(50_000)
    idx, w = selective_backprop(losses, hist, beta, rng)
    np.testing.assert_array_equal(w, 1.0)  # unweighted
    rate_h = history_integral(hist, beta, 1.0)
    rate = idx.size / losses.size
    assert abs(rate - rate_h) <= Z * math.sqrt(rate_h * (1 - rate_h) / losses.size)
    var_ubeta = 1 / (2 * beta + 1) - 1 / (beta + 1) ** 2
    assert abs(rate_h - 1 / (beta + 1)) <= Z * math.sqrt(var_ubeta / hist.size) + beta / hist.size
    kept = losses[idx]
    for q in (0.25, 0.5, 0.75):
        f_h = history_integral(hist, beta, q) / rate_h
        frac = np.mean(kept <= q)
        assert abs(frac - f_h) <= Z * math.sqrt(f_h * (1 - f_h) / kept.size)
        assert abs(f_h - q ** (beta + 1)) < 0.01
        assert frac < q - 0.1  # stochastically larger than the window's losses


def test_selective_backprop_probability_is_the_percentile_power():
    hist = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(selective_backprop_probability([0.5, 2.0, 2.5, 9.0], hist, 2.0),
                               [0.0, 0.25, 0.25, 1.0])


def test_loss_history_keeps_the_latest():
    h = LossHistory(5)
    h.extend([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(h.values, [1.0, 2.0, 3.0])
    h.extend([4.0, 5.0, 6.0, 7.0])
    np.testing.assert_array_equal(h.values, [3.0, 4.0, 5.0, 6.0, 7.0])
    assert len(h) == 5
    h.extend(np.arange(10.0, 20.0))
    np.testing.assert_array_equal(h.values, np.arange(15.0, 20.0))


# --------------------------------------------------------------------------- Mineiro-Karampatziakis

@settings(max_examples=100)
@given(st.lists(st.floats(1e-3, 1e3), min_size=2, max_size=60), st.floats(0.05, 0.95),
       st.floats(0.0, 0.9))
def test_loss_proportional_coincides_with_waterfill(losses, frac, floor_frac):
    """min(1, max(p_min, lambda l)) with lambda = the water-filling level is water-filling."""
    l = np.array(losses)
    k = frac * l.size
    p_min = floor_frac * k / l.size
    lam = waterfill_level(l, k, p_min)
    np.testing.assert_allclose(loss_proportional(l, lam, p_min), waterfill(l, k, p_min),
                               rtol=1e-9, atol=1e-12)


def test_loss_proportional_formula():
    np.testing.assert_allclose(loss_proportional([0.0, 1.0, 5.0, 50.0], 0.1, 0.05),
                               [0.05, 0.1, 0.5, 1.0])


# --------------------------------------------------------------------------- Loshchilov-Hutter

def test_rank_based_probabilities():
    l = np.array([0.3, 5.0, 1.0, 0.1, 2.0])
    p = rank_based_probabilities(l, 100.0)
    assert p.sum() == pytest.approx(1.0)
    order = np.argsort(-l)
    assert np.all(np.diff(p[order]) < 0)  # larger loss, more likely
    assert p[order[0]] / p[order[-1]] == pytest.approx(100.0 ** (4 / 5))
    np.testing.assert_allclose(rank_based_probabilities(l, 1.0), 0.2)
    ties = rank_based_probabilities(np.ones(3), 8.0)  # stable ranks: by position
    assert ties[0] > ties[1] > ties[2]


def test_selection_pressure_anneals_geometrically():
    assert selection_pressure(0, 100.0, 1.0, 10) == pytest.approx(100.0)
    assert selection_pressure(10, 100.0, 1.0, 10) == pytest.approx(1.0)
    assert selection_pressure(5, 100.0, 1.0, 10) == pytest.approx(10.0)


def test_rank_based_selection_frequencies():
    rng = np.random.default_rng(70)
    l = rng.lognormal(size=12)
    prob = rank_based_probabilities(l, 20.0)
    counts = np.zeros(12)
    for _ in range(10_000):
        idx, w = rank_based_selection(l, 4, 20.0, rng)
        np.add.at(counts, idx, 1.0)
    np.testing.assert_array_equal(w, 1.0)
    m = 40_000
    assert np.all(np.abs(counts / m - prob) <= Z * np.sqrt(prob * (1 - prob) / m))


# --------------------------------------------------------------------------- top-k and oracle

@settings(max_examples=100)
@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.0, 5.0]) | st.floats(0, 10), min_size=1,
                max_size=40), st.data())
def test_top_k_takes_the_largest(losses, data):
    l = np.array(losses)
    k = data.draw(st.integers(1, l.size))
    idx, w = top_k(l, k)
    assert idx.size == k and np.unique(idx).size == k
    np.testing.assert_array_equal(np.sort(l[idx]), np.sort(l)[-k:])
    np.testing.assert_array_equal(w, 1.0)


@settings(max_examples=60)
@given(st.integers(2, 50), st.floats(0.05, 0.9), st.integers(0, 2**32 - 1))
def test_gradient_norm_oracle_minimises_gradient_variance(n, frac, seed):
    """P3 for (P-grad): no other budget-k probabilities give a lower tr Cov(G_hat)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, 3)) * rng.lognormal(0.0, 1.0, n)[:, None]
    k = frac * n
    p = gradient_norm_oracle(g, k)
    np.testing.assert_allclose(p, waterfill(np.linalg.norm(g, axis=1), k), rtol=1e-12)
    best = poisson_variance(g, p)
    for other in (rng.lognormal(size=n), np.linalg.norm(g, axis=1) ** 2, np.ones(n)):
        assert best <= poisson_variance(g, waterfill(other, k)) * (1 + 1e-12)
    assert gradient_norm_oracle(g, k, p_min=0.5 * k / n).min() >= 0.5 * k / n * (1 - 1e-12)


# --------------------------------------------------------------------------- bad input

def test_baseline_input_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"k must be in \(0, 4\]"):
        uniform_probabilities(4, 5)
    with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
        uniform_probabilities(0, 1)
    with pytest.raises(ValueError, match=r"labels must be"):
        negative_downsampling([0, 2, 1], 0.5)
    for bad_r in (0.0, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"r \(the negative keep rate\) must be in \(0, 1\]"):
            negative_downsampling([0, 1], bad_r)
        with pytest.raises(ValueError, match=r"r \(the negative keep rate\)"):
            calibrate_probability([0.5], bad_r)
        with pytest.raises(ValueError, match=r"r \(the negative keep rate\)"):
            calibrate_logit([0.5], bad_r)
    with pytest.raises(ValueError, match=r"q must be probabilities"):
        calibrate_probability([1.5], 0.5)
    with pytest.raises(ValueError, match=r"scores must not all be 0"):
        katharopoulos_fleuret([0.0, 0.0], 2, rng)
    with pytest.raises(ValueError, match=r"scores must be finite and >= 0"):
        katharopoulos_fleuret([-1.0, 2.0], 2, rng)
    with pytest.raises(ValueError, match=r"b must be an integer >= 1"):
        katharopoulos_fleuret([1.0, 2.0], 0, rng)
    with pytest.raises(ValueError, match=r"B must be an integer >= 3"):
        kf_threshold(2, 3)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        KFSwitch(9, 3, momentum=1.0)
    with pytest.raises(ValueError, match=r"beta must be finite and > 0"):
        selective_backprop_probability([1.0], [1.0], 0.0)
    with pytest.raises(ValueError, match=r"history must be a non-empty 1-D array"):
        selective_backprop_probability([1.0], [], 1.0)
    with pytest.raises(TypeError, match=r"numpy.random.Generator"):
        selective_backprop([1.0], [1.0], 1.0, None)
    with pytest.raises(ValueError, match=r"maxlen must be an integer >= 1"):
        LossHistory(0)
    with pytest.raises(ValueError, match=r"lam must be finite and >= 0"):
        loss_proportional([1.0], -1.0)
    with pytest.raises(ValueError, match=r"p_min must be in \[0, 1\]"):
        loss_proportional([1.0], 1.0, p_min=2.0)
    with pytest.raises(ValueError, match=r"s_e must be finite and >= 1"):
        rank_based_probabilities([1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match=r"s_e0 and s_e_end must be finite and >= 1"):
        selection_pressure(0, 0.5, 1.0, 10)
    with pytest.raises(ValueError, match=r"n_epochs must be > 0"):
        selection_pressure(0, 2.0, 1.0, 0)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 3\]"):
        top_k([1.0, 2.0, 3.0], 4)
    with pytest.raises(ValueError, match=r"gradients must have shape \(n, d\)"):
        gradient_norm_oracle(np.ones(3), 1)
    with pytest.raises(ValueError, match=r"gradients must be finite"):
        gradient_norm_oracle(np.array([[1.0, math.nan]]), 1)
    with pytest.raises(ValueError, match=r"p_min must be <="):
        gradient_norm_oracle(np.ones((4, 2)), 1, p_min=0.5)
