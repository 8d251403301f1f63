"""The active-learning claims: registered with provenance, decisive, and their planted errors
turn them violated.

The quick verdicts themselves are checked by ``tests/test_readme.py`` (the README's table must
match a fresh ``simlab verify``); the default tier here runs the cheaper planted errors, the
slow tier every claim at its quick budget, the rest of the planted errors and T2 at its full
budget (the only claim the quick budget leaves inconclusive).
"""

import numpy as np
import pytest

from simlab.active.claims import bootstrap, log_ratio
from simlab.claims import KNOWN_FINDINGS, load_all
from simlab.engine.stats import HOLDS, INCONCLUSIVE, VIOLATED

REGISTRY = load_all()
CLAIMS = REGISTRY.for_paper("active")
#: Planted runs cheap enough for the default tier (seconds each).
FAST_PLANTED = {"active.LB-dup", "active.T2-det"}


def test_the_spec_claims_are_registered_with_provenance():
    ids = {c.id.split(".", 1)[1] for c in CLAIMS}
    assert ids >= {"B0", "B0-passive", "T1", "T2", "T2-det", "T3", "T4", "LB-dup"}
    for c in CLAIMS:
        assert c.bound_labels and all("(reconstructed)" in b for b in c.bound_labels), c.id
        assert c.method_labels and all("?" not in m for m in c.method_labels), c.id
        assert "spec" in c.provenance, c.id
        assert c.planted_error, c.id
    for tid in ("T1", "T2", "T3", "T4"):
        assert "[S]" in REGISTRY[f"active.{tid}"].title


@pytest.mark.parametrize("claim", [c if c.id in FAST_PLANTED else
                                   pytest.param(c, marks=pytest.mark.slow) for c in CLAIMS],
                         ids=lambda c: c.id)
def test_planted_error_is_caught(claim):
    v = claim.run(budget="quick", planted=True)
    assert v.verdict == VIOLATED, (v.details, v.measured, v.interval, v.theory)
    assert v.known_finding is None


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_quick_budget_verdicts(claim):
    v = claim.run(budget="quick")
    if claim.id == "active.T2":  # beta(d=2) ~ 1.1: 20 replicas cannot tell it from 1.05
        assert v.verdict in (HOLDS, INCONCLUSIVE), v.details
        return
    expected = VIOLATED if claim.id in KNOWN_FINDINGS else HOLDS
    assert v.verdict == expected, (v.verdict, v.details, v.measured, v.interval)


@pytest.mark.slow
def test_t2_is_decided_at_its_full_budget():
    v = REGISTRY["active.T2"].run(budget="full")
    assert v.verdict == HOLDS, v.details


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
