"""Each collab claim as a hypothesis test over its parameter ranges (spec 8.3, shrunk).

Every example runs the claim at half its quick replica budget and asserts it is not violated.
Seeds derive from the claim id and the drawn parameters, so a failing example replays exactly
(hypothesis prints the parameters). Known findings are excluded: they are violated by record.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlab.claims import KNOWN_FINDINGS, claim_seed, load_all
from simlab.engine.stats import VIOLATED

CLAIMS = [c for c in load_all().for_paper("collab") if c.ranges and c.id not in KNOWN_FINDINGS]
EXAMPLES = 2  # per claim in the default tier; `pytest -m slow` runs more


def strategy(spec):
    kind = spec[0]
    if kind == "choice":
        return st.sampled_from(spec[1])
    if kind == "float":
        return st.floats(spec[1], spec[2], allow_nan=False)
    if kind == "logfloat":
        import math

        return st.floats(math.log(spec[1]), math.log(spec[2])).map(math.exp)
    if kind == "int":
        return st.integers(spec[1], spec[2])
    raise ValueError(f"unknown range kind {kind!r}")


def params_strategy(claim):
    return st.fixed_dictionaries({k: strategy(v) for k, v in claim.ranges.items()})


def half_budget(claim):
    return {k: (max(50, v // 2) if "replicas" in k else v)
            for k, v in claim.budgets["quick"].items()}


def check(claim, params):
    seed = claim_seed(claim.id + json.dumps(params, sort_keys=True, default=str))
    v = claim.run(budget=half_budget(claim), params=params, seed=seed)
    assert v.verdict != VIOLATED, (claim.id, params, seed, v.details, v.measured, v.interval,
                                   v.theory)


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_claim_not_violated_over_its_ranges(claim):
    @settings(max_examples=EXAMPLES)
    @given(params=params_strategy(claim))
    def run(params):
        check(claim, params)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_claim_not_violated_over_its_ranges_many(claim):
    @settings(max_examples=25)
    @given(params=params_strategy(claim))
    def run(params):
        check(claim, params)

    run()
