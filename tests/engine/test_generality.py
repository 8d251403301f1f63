"""The engine serves a paper that is not collab, with no edit to ``simlab/engine/``.

``toy.py`` (in this folder) declares an Ornstein-Uhlenbeck task family with its own metric
names, an Euler-Maruyama method and a plain numpy loop; they run through ``simulate()`` on the
numpy and numba backends (the CUDA simulator runs them in ``tests/cuda``), pass the conformance
checks, agree with the family's exact law, and run through a sweep and its store.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy import EulerMaruyama, OUProcess, SampleMean, UniformSource

import simlab
from simlab import simulate
from simlab.engine import conformance as cf
from simlab.engine.declare import MethodOps
from simlab.engine.kernel import DeclarationError, plan
from simlab.sweep import Sweep, load, run

TASK, METHOD = OUProcess(n=3), EulerMaruyama(dt=0.1)
ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_holds_nothing_of_collab():
    pattern = "grad_norm_sq|n_aux|sample_split|resolve_weights|beta_weights|f_0"
    out = subprocess.run(["grep", "-rnE", "--include=*.py", pattern,
                          str(ROOT / "simlab" / "engine")], capture_output=True, text=True)
    assert out.stdout == "", out.stdout


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ou_runs_with_its_own_metrics(backend):
    tr = simulate(TASK, METHOD, steps=50, replicas=200, seed=1, backend=backend,
                  derived=["avg_energy"])
    assert tr.metrics == ("position", "energy", "avg_energy")
    exact = TASK.exact_moments(METHOD, 50, tr.checkpoints)
    for m in ("position", "energy"):
        assert np.all(np.abs(tr.mean(m) - exact[m]) < 5 * tr.se(m) + 1e-12), m
    every = simulate(TASK, METHOD, steps=50, replicas=200, seed=1, backend=backend,
                     checkpoints="all")
    e = every.metric("energy")
    np.testing.assert_allclose(tr.metric("avg_energy")[-1], e[:-1].mean(axis=0), rtol=1e-12)


@cf.parametrize(cf.PAIR_CHECKS, tasks=[TASK], methods=[METHOD])
def test_ou_passes_the_conformance_checks(task, method, check):
    check(task, method)


def test_ou_monte_carlo_agrees_with_its_exact_law():
    cf.check_exact_moments(TASK, METHOD)


def test_a_missing_requirement_is_named_before_compiling():
    from simlab.collab import WGA
    from simlab.tasks import SharedHessianQuadratics

    with pytest.raises(ValueError, match=r"EulerMaruyama cannot run on .*requires the task ops "
                                         r"\['ou_drift'\]"):
        simulate(SharedHessianQuadratics(d=2, n_aux=1), METHOD, steps=3)
    with pytest.raises(ValueError, match=r"WGA cannot run on OUProcess.*prepare"):
        simulate(TASK, WGA(), steps=3)


def test_a_hook_parameter_that_is_not_declared_is_named():
    @dataclass(frozen=True)
    class Typo(EulerMaruyama):
        pass

    def typo_step(tdata, tmeta, hyper, x, nosie):
        pass

    Typo.ops = MethodOps(init=EulerMaruyama.ops.init, step=typo_step,
                         streams=EulerMaruyama.ops.streams, requires=("ou_drift",))
    with pytest.raises(DeclarationError, match=r"typo_step takes \['nosie'\]"):
        plan(OUProcess, Typo)


def test_conformance_catches_an_op_that_writes_outside_its_slot():
    @dataclass(frozen=True)
    class Spill(EulerMaruyama):
        pass

    def spill_step(tdata, tmeta, hyper, x, noise):
        for k in range(x.shape[0] + 1):  # one past the end: numba would not notice
            x[k] += hyper[0] * ou_drift(tdata, tmeta, x, k)  # noqa: F821

    Spill.ops = MethodOps(init=EulerMaruyama.ops.init, step=spill_step,
                          streams=EulerMaruyama.ops.streams, requires=("ou_drift",))
    with pytest.raises(IndexError):
        cf.check_numpy_equals_numba(TASK, Spill(dt=0.1))


def test_a_numpy_loop_returns_a_trace_through_the_runner_protocol():
    task, loop = UniformSource(width=2.0), SampleMean()
    tr = simulate(task, loop, steps=1000, replicas=50, seed=4, checkpoints=[1, 10, 100, 1000])
    assert tr.axis == "samples" and tr.metrics == ("mean", "error")
    assert tr.values.shape == (4, 50, 2)
    # error shrinks like n^-1/2: the runner's statistics serve the loop unchanged
    assert tr.mean("error")[-1] < tr.mean("error")[0] / 10
    # replica r's streams are keyed by (seed, r): the same alone or beside others
    alone = simulate(task, loop, steps=1000, replica_ids=[7], seed=4,
                     checkpoints=[1, 10, 100, 1000])
    np.testing.assert_array_equal(alone.values[:, 0], tr.values[:, 7])
    assert "samples" in tr.to_pandas().columns


def test_the_toy_paper_runs_through_a_sweep_and_its_store(tmp_path):
    store = str(tmp_path / "store")
    spec = Sweep.build(task=TASK, method=METHOD, grid={"theta": [0.5, 1.0], "dt": [0.05, 0.1]},
                       steps=40, replicas=32, blocks=2, checkpoints=5,
                       metrics=["energy", "avg_energy"])
    assert spec.derived_for(TASK, METHOD) == ("avg_energy",)
    report = run(spec, store=store, executor="serial", quiet=True)
    assert report.ok and report.computed == 8
    df = load(spec, store=store)
    assert set(df["metric"]) == {"energy", "avg_energy"} and (df["n"] == 32).all()
    again = simlab.sweep(spec, store=store, executor="serial", quiet=True)
    pd.testing.assert_frame_equal(df, again, check_exact=True)
    loops = Sweep.build(task=UniformSource(), method=SampleMean(), grid={"width": [1.0, 4.0]},
                        steps=200, replicas=16, blocks=2, checkpoints=[1, 50, 200])
    first = run(loops, store=store, executor="serial", quiet=True)
    assert first.ok and first.computed == 4
    assert run(loops, store=store, executor="serial", quiet=True).stored == 4
    frame = load(loops, store=store)
    assert set(frame["metric"]) == {"mean", "error"} and (frame["n"] == 16).all()
