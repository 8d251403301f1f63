"""Water-filling (spec 2.2, 6.2) and the knobs of spec 2.4: invariants, optimality (P3),
floor safety, weight clipping, and one test per bad input."""

import importlib
import math
import time
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from simlab.subsample import (
    clip_weights,
    inclusion_probabilities,
    poisson,
    scores,
    waterfill,
    waterfill_level,
)

# the package attribute ``waterfill`` is the function; the module holds the internals
W = importlib.import_module("simlab.subsample.probabilities")  # the module (private helpers)

positive_losses = st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=60).map(np.array)
# losses with ties and zeros: a few distinct levels
tied_losses = st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 7.0, 30.0]), min_size=1,
                       max_size=40).map(np.array)


def budget(n: int, frac: float) -> float:
    return max(frac * n, 1e-3)


def reference(l: np.ndarray, k: float) -> np.ndarray:
    """Spec 2.2's WATERFILL written out literally (O(n log n), one instance at a time)."""
    order = np.argsort(-l, kind="stable")
    p = np.zeros(l.size)
    capped, rest = 0, float(l.sum())
    for pos, j in enumerate(order):
        c = (k - capped) / rest
        if c * l[j] >= 1:
            p[j] = 1.0
            capped += 1
            rest -= l[j]
        else:
            p[order[pos:]] = c * l[order[pos:]]
            break
    return p


def objective(l: np.ndarray, p: np.ndarray) -> float:
    """(P-loss): sum l^2 (1/p - 1)."""
    return float(np.sum(l**2 * (1.0 / p - 1.0)))


# --------------------------------------------------------------------------- invariants

@settings(max_examples=200)
@given(positive_losses, st.floats(0.01, 1.0))
def test_in_unit_interval_and_sums_to_k(l, frac):
    k = budget(l.size, frac)
    p = waterfill(l, k)
    assert np.all(p > 0) and np.all(p <= 1)
    assert abs(p.sum() - k) <= 1e-9


@settings(max_examples=200)
@given(positive_losses, st.floats(0.01, 1.0))
def test_monotone_in_loss(l, frac):
    p = waterfill(l, budget(l.size, frac))
    order = np.argsort(l, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)


@settings(max_examples=100)
@given(positive_losses, st.floats(0.01, 1.0))
def test_proportional_without_capping(l, frac):
    k = budget(l.size, frac)
    assume(k * l.max() <= l.sum())
    np.testing.assert_allclose(waterfill(l, k), k * l / l.sum(), rtol=1e-12, atol=0)


@settings(max_examples=50)
@given(tied_losses)
def test_all_ones_when_k_is_n(l):
    np.testing.assert_array_equal(waterfill(l, l.size), np.ones(l.size))


@settings(max_examples=50)
@given(st.integers(1, 200), st.floats(1e-6, 1e6), st.floats(0.01, 1.0))
def test_uniform_for_constant_losses(n, value, frac):
    k = budget(n, frac)
    np.testing.assert_allclose(waterfill(np.full(n, value), k), k / n, rtol=1e-12)


@settings(max_examples=100)
@given(positive_losses, st.floats(0.01, 1.0), st.floats(1e-6, 1e6))
def test_invariant_to_rescaling(l, frac, scale):
    k = budget(l.size, frac)
    np.testing.assert_allclose(waterfill(scale * l, k), waterfill(l, k), rtol=1e-11, atol=1e-14)


@settings(max_examples=150)
@given(st.one_of(positive_losses, tied_losses), st.floats(0.01, 1.0))
def test_matches_the_spec_algorithm_and_its_level(l, frac):
    k = budget(l.size, frac)
    assume(np.count_nonzero(l > 0) > k)  # otherwise infeasible or an indicator, tested below
    p = waterfill(l, k)
    np.testing.assert_allclose(p, reference(l, k), rtol=1e-10, atol=1e-12)
    c = waterfill_level(l, k)
    assert 0 < c < math.inf
    np.testing.assert_allclose(p, np.minimum(1.0, c * l), rtol=1e-10, atol=1e-12)
    if k < l.size:  # c is unique: some p_i lies strictly inside (0, 1)
        assert np.any((p > 0) & (p < 1))


@pytest.mark.parametrize(("sigma", "frac"), [(0.3, 0.1), (1.0, 0.1), (2.5, 0.3), (3.0, 0.5)])
def test_large_windows_match_the_reference(sigma, frac):
    """n = 10^5 takes the sampled paths: no capping, few capped, many capped (bracket)."""
    l = np.random.default_rng(7).lognormal(0.0, sigma, 100_000)
    k = frac * l.size
    p = waterfill(l, k)
    np.testing.assert_allclose(p, reference_sorted(l, k), rtol=1e-10, atol=1e-13)
    assert abs(p.sum() - k) <= 1e-9


def reference_sorted(l: np.ndarray, k: float) -> np.ndarray:
    """Vectorised spec 2.2 scan over a full sort (fast enough for n = 10^5); the uncapped
    mass rest_j is a suffix sum, exact even when the capped mass dwarfs it."""
    d = np.sort(l)[::-1]
    j = np.arange(d.size)
    rest = np.cumsum(d[::-1])[::-1]  # rest[j] = sum of d[j:]
    c = (k - j) / rest
    jstar = int(np.argmax((c * d < 1) & (j < k)))
    return np.minimum(1.0, c[jstar] * l)


@pytest.mark.parametrize("n", [3000, 100_000])
def test_huge_capped_mass_does_not_cancel(n):
    """Half the window at 1e12: the uncapped rest is ~1e-12 of the total mass."""
    rng = np.random.default_rng(5)
    l = rng.permutation(np.r_[np.full(n // 2, 1e12), rng.uniform(0.0, 1.0, n - n // 2)])
    k = n // 2 + 0.05 * (n - n // 2)
    p = waterfill(l, k)
    assert abs(p.sum() - k) <= 1e-9
    ref = reference_sorted(l, k)
    np.testing.assert_allclose(p, ref, rtol=1e-10, atol=1e-13)
    # the search itself is exact, before the final correcting pass
    n_cap, c = W._capped_level(l, k, float(l.sum()))
    assert n_cap == np.count_nonzero(ref >= 1)
    assert c == pytest.approx(np.max(ref[ref < 1] / l[ref < 1]), rel=1e-10)


def test_fix_sum_corrects_a_rounded_level():
    """The last pass turns a level that is off (by rounding, or here on purpose) into the exact
    one, re-counting the capped instances when the correction moves them."""
    l = np.random.default_rng(6).lognormal(0.0, 1.5, 2000)
    k = 200.0
    c = waterfill_level(l, k)
    for wrong in (c * (1 + 1e-6), c * 0.97, c * 1.2):
        p = np.minimum(1.0, wrong * l)
        fixed = W._fix_sum(l, p, wrong, int(np.count_nonzero(p >= 1)), k)
        assert abs(fixed.sum() - k) <= 1e-9
        np.testing.assert_allclose(fixed, waterfill(l, k), rtol=1e-9, atol=1e-12)


@settings(max_examples=150)
@given(st.integers(65, 400), st.floats(0.2, 3.0), st.floats(0.02, 0.9), st.integers(0, 2**32 - 1),
       st.booleans())
def test_sampled_search_with_a_tiny_sample(n, sigma, frac, seed, discretise):
    """A 64-point pivot sample makes the sampled paths, and their fallbacks, run on small n."""
    l = np.random.default_rng(seed).lognormal(0.0, sigma, n)
    if discretise:
        l = np.round(l, 1) + 0.1  # ties
    k = frac * n
    with mock.patch.object(W, "_SMALL", 64), mock.patch.object(W, "_SAMPLE", 64):
        p = waterfill(l, k)
    np.testing.assert_allclose(p, reference(l, k), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sigma", [1.0, 2.5])
def test_no_full_sort_on_large_windows(sigma):
    """Expected O(n): only the pivot sample and a band of candidates are ever sorted."""
    l = np.random.default_rng(3).lognormal(0.0, sigma, 200_000)
    sizes = []
    real_sort = np.sort

    def spy(a, *args, **kwargs):
        sizes.append(np.size(a))
        return real_sort(a, *args, **kwargs)

    with mock.patch.object(np, "sort", spy):
        waterfill(l, 20_000)
    assert sizes and max(sizes) <= l.size // 20


@pytest.mark.slow
def test_time_within_3x_argpartition():
    l = np.random.default_rng(0).lognormal(0.0, 1.5, 10**6)
    k = 10**5

    def best(f):
        out = math.inf
        for _ in range(15):
            t0 = time.perf_counter()
            f()
            out = min(out, time.perf_counter() - t0)
        return out

    t_wf = best(lambda: waterfill(l, k))
    t_ap = best(lambda: np.argpartition(l, l.size - k))
    assert t_wf <= 3.0 * t_ap, (t_wf, t_ap)


# --------------------------------------------------------------------------- zeros and floors

def test_zero_losses_get_zero_without_floor():
    l = np.array([0.0, 1.0, 2.0, 0.0, 3.0, 4.0])
    p = waterfill(l, 2)
    assert p[0] == 0 and p[3] == 0
    np.testing.assert_allclose(p, reference(l, 2))


def test_as_many_positive_losses_as_k_gives_the_indicator():
    l = np.array([0.0, 1.0, 5.0, 0.0])
    np.testing.assert_array_equal(waterfill(l, 2), [0.0, 1.0, 1.0, 0.0])
    assert waterfill_level(l, 2) == math.inf


@settings(max_examples=150)
@given(st.one_of(positive_losses, tied_losses), st.floats(0.02, 1.0), st.floats(0.0, 1.0))
def test_floor_is_the_clipped_kkt_point(l, frac, floor_frac):
    k = budget(l.size, frac)
    p_min = floor_frac * k / l.size
    n_pos = np.count_nonzero(l > 0)
    assume(n_pos + (l.size - n_pos) * p_min > k * (1 + 1e-9))  # not the spreading case
    assume(p_min > 0 or n_pos > k)
    p = waterfill(l, k, p_min)
    assert np.all(p >= p_min) and np.all(p <= 1)
    assert abs(p.sum() - k) <= 1e-9
    c = waterfill_level(l, k, p_min)
    np.testing.assert_allclose(p, np.clip(c * l, p_min, 1.0), rtol=1e-9, atol=1e-12)
    if p_min > 0:  # and the exact sorted solver used after many re-runs agrees
        np.testing.assert_allclose(p, W._clip_level_exact(l, k, p_min)[0], rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_floor_newton_falls_back_to_the_exact_solver(seed):
    """Capping the Newton steps at 1 hands over to the exact sorted solver: same answer."""
    l = np.r_[0.5 ** np.arange(40.0), np.random.default_rng(seed).lognormal(0, 2, 60)]
    k, p_min = 9.0, 0.04
    with mock.patch.object(W, "_FLOOR_STEPS", 1), \
            mock.patch.object(W, "_clip_level_exact", wraps=W._clip_level_exact) as exact:
        p1 = waterfill(l, k, p_min)
    assert exact.call_count == 1
    p = waterfill(l, k, p_min)
    np.testing.assert_allclose(p1, p, rtol=1e-9, atol=1e-12)
    assert abs(p.sum() - k) <= 1e-9 and p.min() >= p_min


def test_floor_on_a_large_window():
    l = np.random.default_rng(8).lognormal(0.0, 1.5, 200_000)
    k, p_min = 20_000.0, 0.05
    p = waterfill(l, k, p_min)
    assert abs(p.sum() - k) <= 1e-9
    np.testing.assert_allclose(p, W._clip_level_exact(l, k, p_min)[0], rtol=1e-9, atol=1e-12)


def test_floor_spreads_leftover_budget_over_zero_losses():
    l = np.array([0.0, 0.0, 0.0, 5.0])
    p = waterfill(l, 2.5, p_min=0.1)  # p = 1 on the positive loss leaves 1.5 for the zeros
    np.testing.assert_allclose(p, [0.5, 0.5, 0.5, 1.0])


def test_all_zero_losses_with_a_floor_are_uniform():
    np.testing.assert_allclose(waterfill(np.zeros(10), 3, p_min=0.1), 0.3)


def test_floor_at_k_over_n_is_uniform():
    l = np.random.default_rng(1).lognormal(size=50)
    np.testing.assert_allclose(waterfill(l, 10, p_min=0.2), 0.2)


# --------------------------------------------------------------------------- optimality (P3)

def slsqp(l: np.ndarray, k: float, p_min: float) -> np.ndarray:
    """(P-loss) by a generic solver, in the variables x = p n / k (of order 1)."""
    n = l.size
    a = (l / l.max()) ** 2
    s = k / n
    res = minimize(lambda x: float(np.sum(a / x)), np.ones(n), jac=lambda x: -a / x**2,
                   method="SLSQP", bounds=[(max(p_min, 1e-6) / s, 1.0 / s)] * n,
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - n,
                                 "jac": lambda x: np.ones(n)}],
                   options={"ftol": 1e-14, "maxiter": 2000})
    assert res.success, res.message
    return s * res.x


@settings(max_examples=15)
@given(st.integers(2, 50), st.floats(0.1, 2.5), st.floats(0.05, 0.8), st.floats(0.0, 0.9),
       st.integers(0, 2**32 - 1))
def test_optimal_against_slsqp(n, sigma, frac, floor_frac, seed):
    """No generic solver does better (P3), with or without a floor.

    Only objectives are compared: SLSQP stops early along the flat directions of small
    losses (its p can differ by ~1e-2 there at an objective within 1e-15 of the optimum)."""
    l = np.random.default_rng(seed).lognormal(0.0, sigma, n) + 0.05
    k = frac * n
    p_min = floor_frac * k / n
    p = waterfill(l, k, p_min)
    q = slsqp(l, k, p_min)
    assert abs(q.sum() - k) <= 1e-9 * k and q.min() >= p_min * (1 - 1e-9)  # feasible
    assert objective(l, p) <= objective(l, q) * (1 + 1e-9)


@settings(max_examples=30)
@given(st.integers(2, 50), st.floats(0.1, 2.5), st.floats(0.05, 0.9), st.integers(0, 2**32 - 1))
def test_no_feasible_perturbation_improves(n, sigma, frac, seed):
    rng = np.random.default_rng(seed)
    l = rng.lognormal(0.0, sigma, n)
    k = frac * n
    p = waterfill(l, k)
    base = objective(l, p)
    capped = p >= 1.0
    for _ in range(200):
        d = rng.normal(size=n)
        d[capped] = -np.abs(d[capped])  # a capped p may only go down
        free = ~capped
        d[free] -= d.sum() / free.sum()  # keep sum(p) = k
        # largest step that stays inside (0, 1]
        with np.errstate(divide="ignore"):
            up = np.where(d > 0, (1.0 - p) / d, np.inf)
            down = np.where(d < 0, -p / d, np.inf)
        t = 0.5 * min(up.min(), down.min(), 1.0) * rng.uniform(0.01, 1.0)
        q = p + t * d
        assert objective(l, q) >= base * (1 - 1e-12)


# --------------------------------------------------------------------------- knobs

@settings(max_examples=100)
@given(tied_losses.filter(lambda l: l.sum() > 0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_scores_are_at_least_epsilon_with_mean_one(l, eps, alpha):
    s = scores(l, eps, alpha)
    assert np.all(s >= eps * (1 - 1e-12))
    assert abs(s.mean() - 1.0) <= 1e-12


def test_scores_limits():
    l = np.array([0.0, 1.0, 3.0, 4.0])
    np.testing.assert_allclose(scores(l), l / l.mean())
    np.testing.assert_allclose(scores(l, epsilon=1.0), 1.0)
    np.testing.assert_allclose(scores(l, alpha=0.0), 1.0)  # 0 ** 0 == 1: uniform
    np.testing.assert_allclose(scores(l, alpha=0.5), np.sqrt(l) / np.sqrt(l).mean())
    np.testing.assert_allclose(scores(l, 0.2), 0.8 * l / l.mean() + 0.2)
    np.testing.assert_array_equal(scores(np.zeros(3), 0.3), 0.3)  # 0/0 term taken as 0


@settings(max_examples=150)
@given(tied_losses.filter(lambda l: l.sum() > 0), st.floats(0.01, 1.0), st.floats(0.01, 1.0))
def test_floor_safety_of_epsilon_mixing(l, eps, frac):
    """s_i >= eps and mean(s) = 1 give p_i >= min(1, eps k / n), weights <= n / (eps k)."""
    n = l.size
    k = budget(n, frac)
    p = inclusion_probabilities(l, k, epsilon=eps)
    assert np.all(p >= min(1.0, eps * k / n) * (1 - 1e-12))
    assert np.max(1.0 / p) <= n / (eps * k) * (1 + 1e-12)


def test_inclusion_probabilities_chains_scores_and_waterfill():
    l = np.random.default_rng(2).lognormal(size=30)
    np.testing.assert_allclose(inclusion_probabilities(l, 6, 0.1, 0.5, 0.02),
                               waterfill(scores(l, 0.1, 0.5), 6, 0.02))


def test_clip_weights_bias_formula():
    p = np.array([0.01, 0.1, 0.5, 1.0, 0.0])
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out = clip_weights(p, 20.0, v)
    np.testing.assert_allclose(out.weights, [20.0, 10.0, 2.0, 1.0, 20.0])
    # only instance 0 is clipped: E = 0.01 * 20 * 1 instead of 1; p = 0 is clipping-free
    assert out.bias == pytest.approx((0.01 * 20 - 1) * 1.0)
    assert out.relative_bias == pytest.approx(0.8 / 10.0)
    assert clip_weights(p, math.inf, v).bias == 0.0
    assert clip_weights(p, 100.0, v).bias == 0.0
    g = np.column_stack([v, -v])
    np.testing.assert_allclose(clip_weights(p, 20.0, g).bias, [-0.8, 0.8])


@pytest.mark.parametrize("seed", [11, 12])
def test_clip_weights_bias_matches_monte_carlo(seed):
    """The clipped Poisson HT total has mean sum(v) + bias (4 SE; false-failure ~1e-4)."""
    rng = np.random.default_rng(seed)
    l = rng.lognormal(0.0, 1.5, 40)
    p = waterfill(l, 8, p_min=0.01)
    out = clip_weights(p, 10.0, l)
    totals = np.empty(20_000)
    for t in range(totals.size):
        idx, _ = poisson(p, rng)
        totals[t] = np.sum(out.weights[idx] * l[idx])
    se = totals.std(ddof=1) / math.sqrt(totals.size)
    assert abs(out.bias) > 8 * se  # the bias is really there at this size
    assert abs(totals.mean() - (l.sum() + out.bias)) <= 4 * se


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("k", [0, -1, 0.0, 11, 10.5, math.nan, math.inf, True, "3"])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match=r"k must be"):
        waterfill(np.ones(10), k)


@pytest.mark.parametrize("bad", [[1.0, -0.5, 2.0], [1.0, math.nan], [math.inf, 1.0]])
def test_negative_or_non_finite_losses(bad):
    with pytest.raises(ValueError, match=r"losses must be finite and >= 0"):
        waterfill(bad, 1)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]]])
def test_losses_must_be_a_nonempty_vector(bad):
    with pytest.raises(ValueError, match=r"losses must be a non-empty 1-D array"):
        waterfill(bad, 1)


def test_all_zero_losses_without_floor_are_infeasible():
    with pytest.raises(ValueError, match=r"infeasible without a floor"):
        waterfill(np.zeros(5), 2)


def test_too_few_positive_losses_without_floor_are_infeasible():
    with pytest.raises(ValueError, match=r"only 1 of 4 losses are > 0"):
        waterfill([0.0, 3.0, 0.0, 0.0], 2)


@pytest.mark.parametrize("p_min", [0.3, -0.1, 1.5, math.nan])
def test_infeasible_or_invalid_floor(p_min):
    with pytest.raises(ValueError, match=r"p_min must be"):
        waterfill(np.ones(10), 2, p_min=p_min)


@pytest.mark.parametrize(("eps", "alpha", "name"),
                         [(-0.1, 1.0, "epsilon"), (1.1, 1.0, "epsilon"), (0.0, -1.0, "alpha"),
                          (0.0, 2.0, "alpha"), (math.nan, 1.0, "epsilon")])
def test_knob_ranges(eps, alpha, name):
    with pytest.raises(ValueError, match=name):
        scores(np.ones(3), eps, alpha)
    with pytest.raises(ValueError, match=name):
        inclusion_probabilities(np.ones(3), 1, eps, alpha)


@pytest.mark.parametrize("w_max", [0.5, 0.0, -1.0, math.nan])
def test_clipping_below_one(w_max):
    with pytest.raises(ValueError, match=r"w_max must be >= 1"):
        clip_weights([0.5, 0.5], w_max, [1.0, 1.0])


def test_clip_weights_shapes_and_probabilities():
    with pytest.raises(ValueError, match=r"values must have shape"):
        clip_weights([0.5, 0.5], 2.0, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        clip_weights([0.5, 1.5], 2.0, [1.0, 2.0])
