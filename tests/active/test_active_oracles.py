"""Label oracles: accounting, budgets, noise rates, replay and bad input.

Statistical checks use fixed seeds and a binomial (or chi-square) test at a stated level; each
has a false-failure probability below 1e-4 for a correct implementation (|z| <= 4 two-sided:
6.3e-5; chi-square p > 1e-4).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simlab.oracles import BudgetExhausted, ExactOracle, MassartOracle, Oracle, TsybakovOracle

Z = 4.0  # two-sided false-failure probability 6.3e-5 per check


@st.composite
def batches(draw, max_n=60):
    n = draw(st.integers(1, max_n))
    bs = draw(st.lists(st.lists(st.integers(0, n - 1), max_size=15), min_size=1, max_size=8))
    return n, bs


@settings(max_examples=80)
@given(batches(), st.integers(2, 5), st.integers(0, 2**31))
def test_each_distinct_example_is_billed_once(nb, C, seed):
    n, bs = nb
    y = np.random.default_rng(seed).integers(0, C, n)
    o = MassartOracle(y, eta=0.3 * (1 - 1 / C), n_classes=C, seed=seed)
    seen: set = set()
    first: dict = {}
    for b in bs:
        new = set(b) - seen
        assert o.cost(b) == len(new)
        ans = o.query(b)
        assert ans.shape == (len(b),)
        seen |= set(b)
        assert o.labels_used == len(seen)  # batch cost = its new distinct examples
        for i, a in zip(b, ans):
            assert first.setdefault(i, a) == a  # repeats: the cached answer
    assert o.n_queries == len(bs)
    assert set(np.flatnonzero(o.queried)) == seen


@settings(max_examples=80)
@given(batches(), st.integers(0, 20))
def test_budget_refusal_leaves_state_unchanged(nb, budget):
    n, bs = nb
    y = np.arange(n) % 2
    o = ExactOracle(y, budget=budget, seed=1)
    for b in bs:
        before = (o.labels_used, o.n_queries, o.queried)
        cost = o.cost(b)
        if before[0] + cost > budget:
            with pytest.raises(BudgetExhausted, match="budget"):
                o.query(b)
            assert (o.labels_used, o.n_queries) == before[:2]
            assert np.array_equal(o.queried, before[2])
        else:
            np.testing.assert_array_equal(o.query(b), y[b])
        assert o.labels_used <= budget
        assert o.remaining == budget - o.labels_used


def test_repeat_queries_are_free_after_the_budget_is_spent():
    o = ExactOracle(np.array([0, 1, 1, 0]), budget=2)
    o.query([0, 1, 0])
    assert o.remaining == 0
    np.testing.assert_array_equal(o.query([1, 0]), [1, 0])
    with pytest.raises(BudgetExhausted) as e:
        o.query([2])
    assert isinstance(e.value, RuntimeError) and e.value.requested == 1
    assert o.labels_used == 2


@pytest.mark.parametrize("eta", [0.05, 0.2, 0.45])
def test_massart_binary_flip_rate(eta):
    n = 40_000
    y = np.arange(n) % 2
    o = MassartOracle(y, eta, seed=7)
    flips = np.mean(o.query(np.arange(n)) != y)
    assert abs(flips - eta) <= Z * np.sqrt(eta * (1 - eta) / n)


@pytest.mark.parametrize("C,eta", [(3, 0.3), (5, 0.7)])
def test_massart_multiclass_flips_go_to_a_uniform_other_class(C, eta):
    n = 40_000
    y = np.random.default_rng(3).integers(0, C, n)
    o = MassartOracle(y, eta, n_classes=C, seed=11)
    a = o.query(np.arange(n))
    flipped = a != y
    assert abs(flipped.mean() - eta) <= Z * np.sqrt(eta * (1 - eta) / n)
    shift = (a[flipped] - y[flipped]) % C  # 1..C-1, uniform
    counts = np.bincount(shift, minlength=C)
    assert counts[0] == 0
    assert stats.chisquare(counts[1:]).pvalue > 1e-4


@settings(max_examples=25)
@given(st.floats(0.0, 0.49), st.integers(0, 2**31))
def test_massart_flips_never_exceed_eta_in_expectation(eta, seed):
    n = 5000
    y = np.arange(n) % 2
    o = MassartOracle(y, eta, seed=seed)
    assert np.all(o.flip_probabilities() <= eta)
    flips = np.mean(o.query(np.arange(n)) != y)
    # one-sided: the measured rate is not above eta beyond the binomial tolerance
    assert flips <= eta + Z * np.sqrt(max(eta * (1 - eta), 1e-12) / n) + 1e-12
    if eta == 0.0:
        assert flips == 0.0


def test_tsybakov_noise_law():
    n = 60_000
    rng = np.random.default_rng(5)
    m = rng.uniform(-1, 1, n)
    y = (m > 0).astype(int)
    tau, kappa = 0.5, 2.0
    o = TsybakovOracle(y, m, tau=tau, kappa=kappa, seed=9)
    p = o.flip_probabilities()
    np.testing.assert_allclose(p, 0.5 * (1 - np.minimum(1, (np.abs(m) / tau) ** kappa)))
    assert np.all(p[np.abs(m) >= tau] == 0) and np.all(p <= 0.5)
    f = o.query(np.arange(n)) != y
    assert not f[np.abs(m) >= tau].any()
    band = np.abs(m) < tau
    # the flips in the band: a sum of independent Bernoulli(p_i)
    mu, var = p[band].sum(), (p[band] * (1 - p[band])).sum()
    assert abs(f[band].sum() - mu) <= Z * np.sqrt(var)


def test_replay_is_exact_and_independent_of_query_order():
    y = np.arange(500) % 3
    a = MassartOracle(y, 0.4, seed=21).query(np.arange(500))
    o = MassartOracle(y, 0.4, seed=np.random.default_rng(21))
    perm = np.random.default_rng(0).permutation(500)
    b = np.empty(500, dtype=np.int64)
    for chunk in np.array_split(perm, 7):
        b[chunk] = o.query(chunk)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, MassartOracle(y, 0.4, seed=22).query(np.arange(500)))


def test_bad_input_errors():
    y = np.array([0, 1, 1, 0])
    o = ExactOracle(y)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        o.query([4])
    with pytest.raises(IndexError):
        o.query([-1])
    with pytest.raises(ValueError, match="integers"):
        o.query([0.5])
    with pytest.raises(ValueError, match="1-D"):
        o.query([[0, 1]])
    assert o.query([]).size == 0 and o.labels_used == 0
    with pytest.raises(ValueError, match="budget"):
        ExactOracle(y, budget=-1)
    with pytest.raises(ValueError, match="eta"):
        MassartOracle(y, 0.5)
    with pytest.raises(ValueError, match="eta"):
        MassartOracle(y, -0.1)
    with pytest.raises(ValueError, match="eta"):
        MassartOracle(y, 0.67, n_classes=3)
    MassartOracle(y, 0.66, n_classes=3)
    with pytest.raises(ValueError, match="n_classes"):
        Oracle(y, n_classes=1)
    with pytest.raises(ValueError, match="< n_classes"):
        Oracle(np.array([0, 3]), n_classes=3)
    with pytest.raises(ValueError, match="labels"):
        Oracle(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match=">= 0"):
        Oracle(np.array([-1, 0]))
    with pytest.raises(ValueError, match="tau"):
        TsybakovOracle(y, np.zeros(4), tau=0.0)
    with pytest.raises(ValueError, match="kappa"):
        TsybakovOracle(y, np.zeros(4), tau=1.0, kappa=-1)
    with pytest.raises(ValueError, match="finite"):
        TsybakovOracle(y, np.array([0, np.nan, 0, 0]), tau=1.0)
    with pytest.raises(ValueError, match="shape"):
        TsybakovOracle(y, np.zeros(3), tau=1.0)
