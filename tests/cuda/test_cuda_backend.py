"""The CUDA backend reproduces the CPU (numba) trace for the same ``(seed, replica)`` streams.

These tests run in their own process (``tests/test_cuda_sim.py`` starts it with
``NUMBA_ENABLE_CUDASIM=1``, which must be set before numba is imported); the default ``pytest``
run does not collect this folder. By hand::

    NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda -q     # the CUDA simulator, on the CPU
    pytest tests/cuda -m gpu -q                     # a real GPU (the ``gpu`` tests)

Tolerance. Each replica runs the same ``run_replica`` loop on both backends and draws from the
same streams, so the traces agree up to floating-point rounding. The simulator executes the
device code as Python on numpy float64 scalars, operation by operation as the CPU kernel does,
and reproduces it bit for bit (asserted below). A real GPU may not: NVVM contracts ``a * b + c``
into fused multiply-adds by default, and libdevice's ``exp``/``log`` may differ from the CPU's
libm in the last place. Each such difference is about 1e-16 relative; the recursions here are
contractions (``eta * lambda <= 1``), so they do not grow along the run and stay below ~1e-13
relative after thousands of steps. We allow ``rtol = 1e-9`` (``atol = 1e-12`` for values near
0): four orders of magnitude above that, and still far below any Monte Carlo effect (a different
stream would change the metrics by O(1) relative). A ziggurat accept/reject decision flipped by
one ulp would change a path entirely; its probability is ~1e-16 per draw, negligible here.
"""

from __future__ import annotations

import numpy as np
import pytest

from simlab import DivergenceError, simulate
from simlab.collab import BCEMA, BCMVR, WGA, SGDAlone
from simlab.engine import conformance as cf
from simlab.engine import cuda as adapter
from simlab.tasks import SharedHessianQuadratics

RTOL = 1e-9
ATOL = 1e-12

SIM = adapter.is_simulator()
GPU = adapter.is_available() and not SIM

needs_cuda = pytest.mark.skipif(
    not adapter.is_available(),
    reason="no CUDA backend: set NUMBA_ENABLE_CUDASIM=1 before numba is imported, or use a GPU")
needs_gpu = pytest.mark.skipif(not GPU, reason="needs a real CUDA GPU (not the simulator)")

METHODS = [
    pytest.param(WGA(step_size=0.5), id="WGA"),
    pytest.param(BCEMA(step_size=0.5, momentum=0.2), id="BCEMA-coupled"),
    pytest.param(BCEMA(step_size=0.5, momentum="running", coupled=False, init_batch=2),
                 id="BCEMA-uncoupled"),
    pytest.param(BCMVR(step_size=0.3, momentum=0.2), id="BCMVR"),
    pytest.param(SGDAlone(step_size=0.5), id="SGDAlone"),
]

# family A, tiny (the simulator runs the device code as Python: ~1 ms per replica-step)
SMALL = SharedHessianQuadratics(d=4, n_aux=2, zeta=0.5, sigma=1.0, seed=3)
SMALL_SPLIT = SharedHessianQuadratics(d=4, n_aux=2, zeta=0.5, sigma=1.0, seed=3,
                                      aggregate_noise=False)


def assert_same_trace(gpu, cpu, exact: bool) -> None:
    """The CUDA trace equals the CPU one: bit for bit when ``exact``, else within RTOL/ATOL.

    Both are finite where a metric was computed (NaN, on both, where a derived one was not).
    """
    assert gpu.values.shape == cpu.values.shape and gpu.metrics == cpu.metrics
    np.testing.assert_array_equal(gpu.replica_ids, cpu.replica_ids)
    assert np.array_equal(np.isnan(gpu.values), np.isnan(cpu.values))
    computed = ~np.isnan(cpu.values)
    assert np.all(np.isfinite(gpu.values[computed]))
    if exact:
        np.testing.assert_array_equal(gpu.values, cpu.values)
    else:
        np.testing.assert_allclose(gpu.values, cpu.values, rtol=RTOL, atol=ATOL)


@needs_cuda
@cf.parametrize((cf.check_cuda_agrees,))
def test_conformance_cuda_on_every_registered_pair(task, method, check):
    check(task, method)


@needs_cuda
@pytest.mark.skipif(not SIM, reason="fingerprints are bit for bit: the simulator only")
def test_cuda_fingerprints_unchanged():
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    from fingerprint import FILE, run_all

    recorded = json.loads(FILE.read_text())
    now = run_all(("cuda",))
    assert len(now) == 60 and {k: v for k, v in now.items() if v != recorded[k]} == {}


@needs_cuda
@pytest.mark.parametrize("method", METHODS)
def test_cuda_equals_numba_on_family_a(method):
    kw = dict(steps=20, replicas=8, seed=5, checkpoints="all")
    gpu = simulate(SMALL, method, backend="cuda", **kw)
    cpu = simulate(SMALL, method, backend="numba", **kw)
    assert gpu.info["backend"] == "cuda"
    assert_same_trace(gpu, cpu, exact=SIM)


@needs_cuda
def test_cuda_equals_numba_with_separate_task_noise():
    kw = dict(steps=20, replicas=8, seed=6, checkpoints="all")
    m = WGA(step_size=0.5)
    assert_same_trace(simulate(SMALL_SPLIT, m, backend="cuda", **kw),
                      simulate(SMALL_SPLIT, m, backend="numba", **kw), exact=SIM)


@needs_cuda
def test_cuda_streams_keyed_by_replica_id():
    """Replica ids, not thread positions, key the streams (ids in any order, with gaps)."""
    ids = [9, 0, 4]
    m = BCEMA(step_size=0.5, momentum=0.2, coupled=False)
    gpu = simulate(SMALL, m, steps=10, seed=2, backend="cuda", replica_ids=ids)
    cpu = simulate(SMALL, m, steps=10, seed=2, backend="numba", replicas=10)
    np.testing.assert_allclose(gpu.values, cpu.values[:, ids], rtol=RTOL, atol=ATOL)


@needs_cuda
def test_cuda_divergence_names_the_same_step_and_replica():
    m = SGDAlone(step_size=100.0)  # |1 - 100 lambda| >= 9: overflows within ~330 steps
    errors = []
    for backend in ("cuda", "numba"):
        with pytest.raises(DivergenceError) as e:
            simulate(SMALL, m, steps=400, replicas=2, seed=1, backend=backend)
        errors.append((e.value.step, e.value.replica))
    assert errors[0] == errors[1]


# --- real GPU, larger ---------------------------------------------------------------------

BIG = dict(d=64, n_aux=16, eig=(0.1, 1.0), zeta=0.1, sigma=1.0, seed=0)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("aggregate", [True, False], ids=["aggregated", "separate"])
@pytest.mark.parametrize("method", METHODS)
def test_gpu_equals_numba_at_scale(method, aggregate):
    task = SharedHessianQuadratics(**BIG, aggregate_noise=aggregate)
    kw = dict(steps=500, replicas=2048, seed=7)
    gpu = simulate(task, method, backend="cuda", **kw)
    cpu = simulate(task, method, backend="numba", **kw)
    assert_same_trace(gpu, cpu, exact=False)


# --- a paper that is not collab (tests/engine/toy.py) ---------------------------------------

def _toy():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    import toy

    return toy


@needs_cuda
def test_cuda_runs_the_toy_paper():
    toy = _toy()
    task, method = toy.OUProcess(n=3), toy.EulerMaruyama(dt=0.1)
    cf.check_cuda_agrees(task, method)
    gpu = simulate(task, method, steps=30, replicas=8, seed=2, backend="cuda",
                   derived=["avg_energy"])
    assert gpu.metrics == ("position", "energy", "avg_energy")
    assert np.isfinite(gpu.values).all()
