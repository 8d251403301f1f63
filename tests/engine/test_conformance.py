"""Every registered task family and method passes the engine's conformance checks.

The pairs come from :func:`simlab.engine.conformance.registered` (every simlab task family and
method that defines ``examples()``); the CUDA check runs in the CUDA-simulator process
(``tests/cuda``).
"""

from __future__ import annotations

import pytest

from simlab.collab import conformance as collab_checks
from simlab.engine import conformance as cf

TASKS, METHODS = cf.registered()


@cf.parametrize(cf.PAIR_CHECKS)
def test_pair(task, method, check):
    check(task, method)


@pytest.mark.parametrize("task", TASKS, ids=repr)
def test_noise_law_against_constants(task):
    cf.check_noise_law(task)


EXACT = [(t, m) for t, m in cf.pairs(TASKS, METHODS)
         if getattr(t, "exact_moments", None) and t.exact_moments(m, 2, [0, 1]) is not None]


@pytest.mark.parametrize("task, method", EXACT, ids=repr)
def test_monte_carlo_against_exact_moments(task, method):
    cf.check_exact_moments(task, method)


def test_the_registry_covers_every_collab_family_and_method():
    assert {type(t).__name__ for t in TASKS} >= {
        "SharedHessianQuadratics", "HessianPerturbedQuadratics", "BoundedNonconvex",
        "LinearRegressionTasks", "CorrelatedNoiseQuadratics"}
    assert {type(m).__name__ for m in METHODS} >= {
        "SGDAlone", "WGA", "BCEMA", "BCMVR", "BCSNAP", "AuxMOM", "AuxMVR"}
    assert len(EXACT) >= 12  # SGD, WGA x2, BC-EMA on A (x2), B and E (x2)


@pytest.mark.parametrize("task", [t for t in TASKS if hasattr(t, "n_tasks")], ids=repr)
def test_collab_sample_split_draws_only_from_its_bank(task):
    untouched, replay = collab_checks.bank_isolation(task)
    assert untouched, "sample_split moved another bank's streams"
    assert replay, "a copied bank does not replay the same sample"


# --- the checks can fail: each catches a realistic bug ---------------------------------------

def test_noise_law_check_catches_a_noise_scale_bug():
    from dataclasses import replace

    task = next(t for t in TASKS if hasattr(t, "n_tasks"))  # a collab family

    class Wrong(type(task)):
        def noise_law(self, n, seed):  # the constants say sigma, the draws use 1.2 sigma
            drawn = collab_checks.noise_law(replace(task, sigma=1.2 * task.sigma), n, seed)
            said = collab_checks.noise_law(task, n, seed)
            return [cf.LawCheck(d.name, d.samples, s.mean) for d, s in zip(drawn, said)]

    wrong = Wrong(**{f: getattr(task, f) for f in task.__dataclass_fields__})
    with pytest.raises(AssertionError, match="noise law"):
        cf.check_noise_law(wrong)


def test_exact_moments_check_catches_a_step_size_off_by_ten_percent():
    from dataclasses import replace

    task, method = next((t, m) for t, m in EXACT if type(m).__name__ == "WGA")

    class Off(type(task)):
        def exact_moments(self, m, steps, checkpoints):
            return collab_checks.exact_moments(task, replace(m, step_size=1.1 * m.step_size),
                                               steps, checkpoints)

    off = Off(**{f: getattr(task, f) for f in task.__dataclass_fields__})
    with pytest.raises(AssertionError, match="exact"):
        cf.check_exact_moments(off, method)
