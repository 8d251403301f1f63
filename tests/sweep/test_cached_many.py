"""cached_simulate_many: a grid of runs with different horizons, through the store and the
executors; the Traces equal simulate's bit for bit, and a second call computes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from simlab.active.band_stream import StagewiseStream
from simlab.active.pools import LinearSeparatorPool
from simlab.collab import WGA, SGDAlone
from simlab.engine.simulate import DivergenceError, simulate
from simlab.sweep import SimRun, Store, cached_simulate, cached_simulate_many
from simlab.sweep import cache as cache_mod
from simlab.tasks import SharedHessianQuadratics

TASK = SharedHessianQuadratics(d=4, n_aux=2, zeta=0.3)


def grid():
    """Runs that one Sweep cannot hold: other horizons, checkpoints and seeds per run; a
    loop method (runner protocol) beside compiled kernels."""
    pool = LinearSeparatorPool(d=3, n_pool=50, n_test=10, seed=1)
    return [SimRun(TASK, WGA(step_size=0.2), 300, replicas=6, seed=3, checkpoints=9),
            SimRun(TASK, SGDAlone(step_size=0.1), 120, replicas=5, seed=4, checkpoints=4),
            dict(task=pool, method=StagewiseStream(k=4, km_ratio=2.0), steps=24, replicas=3,
                 seed=0, checkpoints=np.arange(0, 25, 4))]


def reference(runs):
    out = []
    for r in runs:
        r = r if isinstance(r, SimRun) else SimRun(**r)
        out.append(simulate(r.task, r.method, r.steps, r.replicas, r.seed,
                            checkpoints=r.checkpoints))
    return out


def same(a, b):
    assert np.array_equal(a.values, b.values, equal_nan=True)
    assert np.array_equal(a.checkpoints, b.checkpoints)
    assert np.array_equal(a.replica_ids, b.replica_ids) and a.seed == b.seed
    assert a.metrics == b.metrics and a.axis == b.axis


def test_runs_are_computed_once_and_read_back_bit_for_bit(tmp_path, monkeypatch):
    store = Store(str(tmp_path / "s"))
    ref = reference(grid())
    first = cached_simulate_many(grid(), store=store, quiet=True)
    assert [t.info["cached"] for t in first] == [False] * 3
    for a, b in zip(first, ref):
        same(a, b)

    def boom(job):
        raise AssertionError("computed again")

    monkeypatch.setattr(cache_mod, "compute", boom)
    again = cached_simulate_many(grid(), store=store, quiet=True)
    assert [t.info["cached"] for t in again] == [True] * 3
    for a, b in zip(again, ref):
        same(a, b)
    # the records are cached_simulate's own: it reads them too
    r = grid()[0]
    one = cached_simulate(r.task, r.method, r.steps, r.replicas, r.seed,
                          checkpoints=r.checkpoints, store=store)
    assert one.info["cached"]
    same(one, ref[0])


def test_local_processes_give_the_same_traces_and_store_what_is_missing(tmp_path):
    store = Store(str(tmp_path / "s"))
    ref = reference(grid())
    r = grid()[1]  # one run already stored: only the other two are jobs
    cached_simulate(r.task, r.method, r.steps, r.replicas, r.seed, checkpoints=r.checkpoints,
                    store=store)
    got = cached_simulate_many(grid(), store=store, executor="local", workers=2, quiet=True)
    assert [t.info["cached"] for t in got] == [False, True, False]
    for a, b in zip(got, ref):
        same(a, b)


def test_caching_off_still_computes_every_run(tmp_path):
    got = cached_simulate_many(grid()[:2], store="off", quiet=True)
    for a, b in zip(got, reference(grid()[:2])):
        same(a, b)
    assert not (tmp_path / "s").exists()


def test_bad_runs_failures_and_divergence(tmp_path):
    store = Store(str(tmp_path / "s"))
    with pytest.raises(ValueError, match="SimRun"):
        cached_simulate_many([(TASK, WGA(), 10)], store=store)
    with pytest.raises(ValueError, match="SimRun's keys"):
        cached_simulate_many([dict(task=TASK, method=WGA(), steps=10, reps=3)], store=store)
    with pytest.raises(ValueError, match="steps must be an integer"):
        cached_simulate_many([SimRun(TASK, WGA(), True)], store=store)
    with pytest.raises(ValueError, match="CUDA"):
        cached_simulate_many([SimRun(TASK, WGA(), 10, backend="cuda")], store=store)
    with pytest.raises(DivergenceError):
        cached_simulate_many([SimRun(TASK, SGDAlone(step_size=50.0), 400, replicas=4)],
                             store=store, quiet=True)
    assert cached_simulate_many([], store=store) == []


def test_a_failed_run_is_reported_and_the_others_are_stored(tmp_path, monkeypatch):
    store = Store(str(tmp_path / "s"))
    real = cache_mod.compute

    def flaky(job):
        if job.steps == 120:
            raise OSError("worker lost its disk")
        return real(job)

    monkeypatch.setattr(cache_mod, "compute", flaky)
    with pytest.raises(RuntimeError,
                       match=r"1 of 3 runs failed \(the others are stored\).*lost its disk"):
        cached_simulate_many(grid(), store=store, quiet=True)
    monkeypatch.setattr(cache_mod, "compute", real)
    again = cached_simulate_many(grid(), store=store, quiet=True)
    assert [t.info["cached"] for t in again] == [True, False, True]
