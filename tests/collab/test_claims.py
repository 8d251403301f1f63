"""Every collab claim is decisive at its quick budget, and its planted error turns it violated."""

import numpy as np
import pytest

from simlab.claims import KNOWN_FINDINGS, load_all
from simlab.collab.claims_bc import fit_speedup, p10_rule
from simlab.engine.stats import HOLDS, INCONCLUSIVE, VIOLATED

REGISTRY = load_all()
CLAIMS = REGISTRY.for_paper("collab")


def test_at_least_eighteen_collab_claims_with_bounds_and_method_provenance():
    assert len(CLAIMS) >= 18
    for c in CLAIMS:
        assert c.bound_labels and all("(" in b for b in c.bound_labels), c.id
        assert c.method_labels and all("[" in m and "?" not in m for m in c.method_labels), c.id


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_quick_budget_is_decisive_and_matches_record(claim):
    v = claim.run(budget="quick")
    expected = VIOLATED if claim.id in KNOWN_FINDINGS else HOLDS
    assert v.verdict == expected, (v.verdict, v.details, v.measured, v.interval, v.theory)
    assert v.bounds and v.methods


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_planted_error_is_caught(claim):
    v = claim.run(budget="quick", planted=True)
    assert v.verdict == VIOLATED, (v.details, v.measured, v.interval, v.theory)
    assert v.known_finding is None  # a planted error is never excused as a known finding


def test_seeds_replay_exactly():
    c = REGISTRY["collab.P1"]
    a, b = c.run(example=3), c.run(example=3)
    assert a.seed == b.seed and a.measured == b.measured
    assert c.run(example=4).seed != a.seed


def test_unknown_parameter_and_budget_are_rejected():
    c = REGISTRY["collab.P1"]
    with pytest.raises(ValueError, match="unknown parameter 'etaa'"):
        c.run(params={"etaa": 0.1})
    with pytest.raises(ValueError, match="budget must be one of"):
        c.run(budget="huge")


def test_a_failed_precondition_is_inconclusive_with_its_reason():
    # P9 needs zeta_bar^2 >> eps; at zeta = 0.1 it is not: no assert, a reason
    v = REGISTRY["collab.P9"].run(params={"zeta": 0.1})
    assert v.verdict == INCONCLUSIVE and "precondition not met" in v.details
    assert "zeta_bar^2" in v.details


# --- P10's criterion tells a 2x speedup from linear speedup ---------------------------------

def _judge(T, ns=(0, 1, 3, 7), width=2.0, z=3.0):
    from simlab.claims import Decide, Measurement

    T = np.asarray(T, dtype=float)
    fit = fit_speedup(ns, T, T - width, T + width, z)
    k = max(ns) + 1
    m = Measurement(x=["B"], mean=[fit["B"]], lo=[fit["B"] - z * fit["se_B"]],
                    hi=[fit["B"] + z * fit["se_B"]], z=z, prediction=[fit["A"] / k],
                    series=dict(fit, z1=z, n_max=max(ns)))
    return p10_rule(m, Decide(delta=0.01, kind="speedup", rule=p10_rule)).verdict


@pytest.mark.parametrize("name, T, verdict", [
    ("linear", [800, 400, 200, 100], HOLDS),
    ("linear plus a small constant", [810, 410, 210, 110], HOLDS),
    ("2x that fits A/(N+1) + B", [800, 572, 457, 400], VIOLATED),
    ("2x that stops at N = 1", [800, 400, 400, 400], VIOLATED),
    ("no speedup", [800, 800, 800, 800], VIOLATED),
])
def test_p10_criterion(name, T, verdict):
    assert _judge(T) == verdict, name
