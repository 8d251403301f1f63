"""The claims framework: declarative claims, registration checks, discovery, check specs."""

from __future__ import annotations

import numpy as np
import pytest

from simlab import claims as cl
from simlab.collab.methods import WGA
from simlab.engine.stats import HOLDS, INCONCLUSIVE, VIOLATED
from theory import collab as th
from theory.bound import Bound


def _claim(**kw):
    base = dict(id="collab.TEST", title="t", statement="s", provenance="[D]",
                measure=lambda r: cl.Measurement(x=[1], mean=[0.5], se=[0.01], z=3,
                                                 prediction=[1.0]),
                check=cl.UpperBound(delta=0.01), bounds=(th.wga_nc,), methods=(WGA,),
                params={}, budgets={"quick": {}, "full": {}}, planted_error="none")
    base.update(kw)
    return cl.Claim(**base)


def test_paper_modules_are_discovered():
    assert "simlab.collab.claims" in cl.paper_modules()
    assert "collab" in cl.load_all().papers


def test_a_claim_needs_a_registered_bound_object_not_a_string():
    reg = cl.Registry()
    reg.register(_claim())
    with pytest.raises(ValueError, match="already registered"):
        reg.register(_claim())
    stray = Bound("WGA-NC", th.T, "derived", "collab spec: a lookalike not in BOUNDS")
    with pytest.raises(ValueError, match="not a Bound registered in theory.collab.BOUNDS"):
        reg.register(_claim(id="collab.T2", bounds=(stray,)))
    with pytest.raises(ValueError, match="needs its prediction"):
        _claim(bounds=())
    with pytest.raises(TypeError, match="CheckSpec"):
        _claim(check="upper_bound")


def test_a_failed_precondition_is_inconclusive_not_an_assert():
    def measure(run):
        run.require(False, "the target is below the floor")

    v = _claim(measure=measure).run()
    assert v.verdict == INCONCLUSIVE and "below the floor" in v.details


@pytest.mark.parametrize("spec, mean, se, pred, verdict", [
    (cl.UpperBound(delta=0.01), [0.5], [0.01], [1.0], HOLDS),
    (cl.UpperBound(delta=0.01), [1.5], [0.01], [1.0], VIOLATED),
    (cl.UpperBound(delta=0.01), [1.0], [0.05], [1.0], INCONCLUSIVE),
    (cl.LowerBound(delta=0.01, tol=0.1), [0.95], [0.01], [1.0], HOLDS),
    (cl.LowerBound(delta=0.01, tol=0.1), [0.5], [0.01], [1.0], VIOLATED),
    (cl.Agreement(delta=0.01), [1.0], [0.01], [1.0], HOLDS),
    (cl.Agreement(delta=0.01), [1.2], [0.01], [1.0], VIOLATED),
    (cl.Within(delta=0.01, lo=-0.1, hi=0.1), [-1.0], [0.01], [-1.0], HOLDS),
    (cl.Within(delta=0.01, lo=-0.1, hi=0.1), [-0.5], [0.01], [-1.0], VIOLATED),
])
def test_check_specs(spec, mean, se, pred, verdict):
    m = cl.Measurement(x=[1], mean=mean, se=se, z=3.0, prediction=pred)
    assert spec.judge(m).verdict == verdict


def test_within_takes_one_range_per_point():
    m = cl.Measurement(x=["a", "b"], mean=[-0.5, -1.12], se=[0.0, 0.0], z=3.0,
                       prediction=[-0.5, -1.0])
    assert cl.Within(delta=0.01, lo=(-0.1, -0.15), hi=(0.1, 0.15)).judge(m).verdict == HOLDS
    assert cl.Within(delta=0.01, lo=-0.1, hi=0.1).judge(m).verdict == VIOLATED


def test_measurement_intervals():
    m = cl.Measurement(x=[1, 2], mean=[1.0, 2.0], se=[0.1, 0.2], z=2.0)
    lo, hi = m.intervals()
    np.testing.assert_allclose(lo, [0.8, 1.6]) and np.testing.assert_allclose(hi, [1.2, 2.4])
    m = cl.Measurement(x=[1], mean=[1.0], lo=[0.0], hi=[np.inf])
    assert m.intervals()[1][0] == np.inf
