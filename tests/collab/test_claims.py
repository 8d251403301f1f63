"""Every collab claim is decisive at its quick budget, and its planted error turns it violated."""

import pytest

from simlab.claims import KNOWN_FINDINGS, load_all
from simlab.engine.stats import HOLDS, VIOLATED

REGISTRY = load_all()
CLAIMS = REGISTRY.for_paper("collab")


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_quick_budget_is_decisive_and_matches_record(claim):
    v = claim.run(budget="quick")
    expected = VIOLATED if claim.id in KNOWN_FINDINGS else HOLDS
    assert v.verdict == expected, (v.verdict, v.details, v.measured, v.interval, v.theory)


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
