"""The active-learning claims: registered with provenance, decisive, and their planted errors
turn them violated.

The quick verdicts themselves are checked by ``tests/test_readme.py`` (the README's table must
match a fresh ``simlab verify``); the default tier here runs the cheaper planted errors, the
slow tier every claim at its quick budget, the rest of the planted errors, and T2 and T2-k at
their full budgets (the claims the quick budget leaves inconclusive).
"""

import numpy as np
import pytest

from simlab.active.claims import bootstrap, log_ratio
from simlab.claims import KNOWN_FINDINGS, load_all
from simlab.engine.stats import HOLDS, INCONCLUSIVE, VIOLATED

REGISTRY = load_all()
CLAIMS = REGISTRY.for_paper("active")
#: Planted runs cheap enough for the default tier (seconds each).
FAST_PLANTED = {"active.LB-dup", "active.T2-det", "active.T2-k"}


def test_the_spec_claims_are_registered_with_provenance():
    ids = {c.id.split(".", 1)[1] for c in CLAIMS}
    assert ids >= {"B0", "B0-passive", "T1", "T2", "T2-det", "T2-k", "T3", "T4", "LB-dup"}
    for c in CLAIMS:
        assert c.bound_labels and all("(reconstructed)" in b for b in c.bound_labels), c.id
        assert c.method_labels and all("?" not in m for m in c.method_labels), c.id
        assert "spec" in c.provenance, c.id
        assert c.planted_error, c.id
    for tid in ("T1", "T2", "T2-k", "T3", "T4"):
        assert "[S]" in REGISTRY[f"active.{tid}"].title


@pytest.mark.parametrize("claim", [c if c.id in FAST_PLANTED else
                                   pytest.param(c, marks=pytest.mark.slow) for c in CLAIMS],
                         ids=lambda c: c.id)
def test_planted_error_is_caught(claim):
    v = claim.run(budget="quick", planted=True)
    assert v.verdict == VIOLATED, (v.details, v.measured, v.interval, v.theory)
    assert v.known_finding is None


#: Claims the quick budget cannot decide: beta ~ 1.1 (T2: beta(d=2); T2-k: beta(k=100) /
#: beta(k=10)) with 20 replicas cannot be told from the 1.05 threshold.
QUICK_UNDECIDED = {"active.T2", "active.T2-k"}


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_quick_budget_verdicts(claim):
    v = claim.run(budget="quick")
    if claim.id in QUICK_UNDECIDED:
        assert v.verdict in (HOLDS, INCONCLUSIVE), v.details
        return
    expected = VIOLATED if claim.id in KNOWN_FINDINGS else HOLDS
    assert v.verdict == expected, (v.verdict, v.details, v.measured, v.interval)


@pytest.mark.slow
@pytest.mark.parametrize("cid", ["active.T2", "active.T2-k"])
def test_t2_is_decided_at_its_full_budget(cid):
    # measured: T2 holds with 960 replicas (240 left beta(3) / beta(2) = 0.95 [0.88, 1.03]
    # undecided), T2-k with 1,920 (240 left beta(300) / beta(10) = 1.10 [1.00, 1.20])
    v = REGISTRY[cid].run(budget="full")
    assert v.verdict == HOLDS, v.details


def _measurement(mean, lo, hi):
    from simlab.claims import Measurement

    return Measurement(x=np.arange(len(mean)), mean=mean, lo=lo, hi=hi)


@pytest.mark.parametrize("mean, lo, hi, verdict", [
    # every ratio >= 0.95 and the last >= 1.05: holds
    ([1.0, 1.2], [0.96, 1.1], [1.04, 1.3], HOLDS),
    # beta falls with k (an interval below 0.95): violated, wherever it sits
    ([0.9, 1.2], [0.85, 1.1], [0.94, 1.3], VIOLATED),
    # flat: the last ratio's interval below 1.05
    ([1.0, 1.0], [0.98, 0.98], [1.02, 1.02], VIOLATED),
    # the growth not decided
    ([1.0, 1.08], [0.97, 1.0], [1.03, 1.16], INCONCLUSIVE),
])
def test_t2k_rule_on_hand_made_intervals(mean, lo, hi, verdict):
    from simlab.active.claims import t2k_rule

    spec = REGISTRY["active.T2-k"].check
    assert t2k_rule(_measurement(mean, lo, hi), spec).verdict == verdict


@pytest.mark.parametrize("mean, lo, hi, verdict", [
    ([1.2, 0.9], [1.1, 0.8], [1.3, 0.98], HOLDS),
    ([1.2, 1.1], [1.1, 1.02], [1.3, 1.2], VIOLATED),  # beta grows with d
    ([1.02, 0.9], [1.0, 0.8], [1.04, 0.98], VIOLATED),  # beta(d_lo) below 1.05
    ([1.2, 0.96], [1.1, 0.885], [1.3, 1.04], INCONCLUSIVE),  # the full run's d = 3
])
def test_t2_rule_on_hand_made_intervals(mean, lo, hi, verdict):
    from simlab.active.claims import t2_rule

    spec = REGISTRY["active.T2"].check
    assert t2_rule(_measurement(mean, lo, hi), spec).verdict == verdict


def test_t4_runs_every_km_ratio_of_its_budget():
    v = REGISTRY["active.T4"].run(budget={"replicas": 3, "rounds": 10,
                                          "km_ratios": (1.25, 2.0)})
    assert "k_m = 1.25 k" in v.details and "k_m = 2 k" in v.details, v.details
    assert "k_m = k is not run" in v.details


def test_log_ratio_and_bootstrap_on_hand_made_numbers():
    num, den = np.array([4.0, 4.0, 4.0]), np.array([2.0, 2.0, 2.0])
    r, lo, hi, se = log_ratio(num, den, 2.0)
    assert (r, lo, hi, se) == (pytest.approx(2.0), pytest.approx(2.0), pytest.approx(2.0), 0.0)
    assert np.isnan(log_ratio(np.array([np.inf, 1.0]), np.array([1.0, 1.0]), 2.0)[0])
    N = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    pt, lo, hi = bootstrap(N, lambda y: y[1] / y[0], 50, np.random.default_rng(0), 0.05)
    assert pt == pytest.approx(2.0) and lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    Ninf = np.array([[1.0, np.inf], [2.0, 3.0]])
    pt, lo, hi = bootstrap(Ninf, lambda y: -np.inf if not np.isfinite(y).all() else 1.0, 20,
                           np.random.default_rng(0), 0.05)
    assert pt == -np.inf and lo == -np.inf


def test_t2k_takes_a_horizon_per_batch_size():
    c = REGISTRY["active.T2-k"]
    v = c.run(budget={"replicas": 3, "ks": (10, 30), "rounds": (20, 15)})
    assert "beta(k=10)" in v.details and "beta(k=30)" in v.details, v.details
    with pytest.raises(ValueError):  # one horizon per batch size, or one for all
        c.run(budget={"replicas": 3, "ks": (10, 30), "rounds": (20,)})
