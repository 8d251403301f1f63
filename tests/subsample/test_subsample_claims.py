"""Every subsample claim is decisive at its quick budget, and its planted error turns it
violated; the findings are registered with their evidence."""

import numpy as np
import pytest

from simlab.claims import KNOWN_FINDINGS, load_all
from simlab.engine.stats import HOLDS, VIOLATED
from simlab.subsample.claims import crossover
from simlab.subsample.claims_stream import backward_fraction, stream_task

REGISTRY = load_all()
CLAIMS = REGISTRY.for_paper("subsample")


def test_the_spec_claims_are_registered_with_provenance():
    ids = {c.id.split(".", 1)[1] for c in CLAIMS}
    assert ids >= {"P1", "P2", "P3", "P4", "P5", "P6", "T-approx", "T-unbiased", "T-conv",
                   "C1", "C2", "pilot-6.3"}
    for c in CLAIMS:
        assert c.bound_labels and all("(" in b for b in c.bound_labels), c.id
        assert all("paper)" not in b for b in c.bound_labels), c.id  # nothing is the paper's
        assert c.method_labels and all("?" not in m for m in c.method_labels), c.id
        assert "spec" in c.provenance, c.id
    for tid in ("T-approx", "T-unbiased", "T-conv"):
        assert "UNVERIFIED" in REGISTRY[f"subsample.{tid}"].provenance


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_quick_budget_is_decisive_and_matches_record(claim):
    v = claim.run(budget="quick")
    expected = VIOLATED if claim.id in KNOWN_FINDINGS else HOLDS
    assert v.verdict == expected, (v.verdict, v.details, v.measured, v.interval, v.theory)


#: The training claims' planted runs take the longest; they run in the slow tier.
SLOW = {"subsample.C1", "subsample.C1-rare", "subsample.C2"}


@pytest.mark.parametrize("claim", [pytest.param(c, marks=pytest.mark.slow) if c.id in SLOW
                                   else c for c in CLAIMS], ids=lambda c: c.id)
def test_planted_error_is_caught(claim):
    v = claim.run(budget="quick", planted=True)
    assert v.verdict == VIOLATED, (v.details, v.measured, v.interval, v.theory)
    assert v.known_finding is None


def test_findings_carry_numbers_and_a_command():
    for cid in ("subsample.C1-rare", "subsample.P6-floor"):
        assert cid in REGISTRY
        text = KNOWN_FINDINGS[cid]
        assert "simlab verify --claim " + cid in text and any(ch.isdigit() for ch in text)


def test_crossover_interpolates_and_says_never():
    s = np.array([0.0, 0.5, 1.0])
    assert crossover(s, np.array([0.5, 0.75, 1.25])) == pytest.approx(0.75)
    assert crossover(s, np.array([0.5, 0.6, 0.7])) == float("inf")
    assert crossover(s, np.array([1.2, 1.3, 1.4])) == 0.0


def test_backward_fraction_on_hand_made_curves():
    """Uniform ends at excess 1.0 after 100 backward passes; WF reaches 1.0 halfway between
    its checkpoints at 40 and 60 backward passes: 50 / 100."""
    ex_u = np.array([[4.0], [2.0], [1.0]])
    bw_u = np.array([[0.0], [50.0], [100.0]])
    ex_w = np.array([[4.0], [1.5], [0.5]])
    bw_w = np.array([[0.0], [40.0], [60.0]])
    assert backward_fraction(ex_u, ex_w, bw_u, bw_w) == pytest.approx(
        (40 + 0.5 / 1.0 * 20) / 100)
    assert backward_fraction(ex_u, ex_u * 2, bw_u, bw_u) == float("inf")


def test_stream_tasks_by_name():
    assert stream_task("S1-5%").base_rate == 0.05
    with pytest.raises(ValueError, match="unknown stream task"):
        stream_task("S3")
