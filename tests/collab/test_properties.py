"""Each collab claim as a hypothesis test over its parameter ranges (spec 8.3).

The default tier draws a few examples per claim from its ``ranges`` (shrunk to fit the tier) at
its quick budget (the one at which a claim must be decisive) and asserts it *holds*: an
inconclusive example is a defect of the claim (DESIGN.md), not a pass. Each example runs with a
false-failure budget of 0.1% (a tenth of the claims' own), so that the few dozen examples of a
run stay clear of chance failures. The ``slow`` tier samples the spec's full ranges
(``spec_ranges``: L in [1, 100], N up to 63, d up to 50, ...) and asserts the claim is not
violated (far from the tuned setting a claim may lose its decisiveness). Seeds derive from the
claim id and the drawn parameters, so a failing example replays exactly (hypothesis prints the
parameters). Known findings are excluded: they are violated by record.
"""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlab.claims import KNOWN_FINDINGS, claim_seed, load_all
from simlab.engine.stats import HOLDS, VIOLATED

ALL = [c for c in load_all().for_paper("collab") if c.id not in KNOWN_FINDINGS]
CLAIMS = [c for c in ALL if c.ranges]
SPEC = [c for c in ALL if c.spec_ranges]
#: Claims decisive only at their own setting (their statements say why): no ranges.
FIXED = {"collab.P15-spec"}
DELTA = 1e-3  # false-failure budget of each example (a tenth of the claims' own)
EXAMPLES = 2  # per claim in the default tier; `pytest -m slow` runs more


def strategy(spec):
    kind = spec[0]
    if kind == "choice":
        return st.sampled_from(spec[1])
    if kind == "float":
        return st.floats(spec[1], spec[2], allow_nan=False)
    if kind == "logfloat":
        return st.floats(math.log(spec[1]), math.log(spec[2])).map(math.exp)
    if kind == "int":
        return st.integers(spec[1], spec[2])
    raise ValueError(f"unknown range kind {kind!r}")


def params_strategy(ranges):
    return st.fixed_dictionaries({k: strategy(v) for k, v in ranges.items()})


def check(claim, params, must_hold: bool):
    seed = claim_seed(claim.id + json.dumps(params, sort_keys=True, default=str))
    v = claim.run(budget="quick", params=params, seed=seed, delta=DELTA)
    info = (claim.id, params, seed, v.verdict, v.details, v.measured, v.interval, v.theory)
    assert v.verdict != VIOLATED, info
    if must_hold:
        assert v.verdict == HOLDS, info


def test_every_claim_but_the_findings_has_ranges():
    assert {c.id for c in ALL} - FIXED == {c.id for c in CLAIMS} == {c.id for c in SPEC}
    for c in ("collab.P10", "collab.P11"):
        assert load_all()[c].ranges, c


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_claim_holds_over_its_ranges(claim):
    @settings(max_examples=EXAMPLES)
    @given(params=params_strategy(claim.ranges))
    def run(params):
        check(claim, params, must_hold=True)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("claim", SPEC, ids=lambda c: c.id)
def test_claim_not_violated_over_the_spec_ranges(claim):
    @settings(max_examples=25)
    @given(params=params_strategy(claim.spec_ranges))
    def run(params):
        check(claim, params, must_hold=False)

    run()
