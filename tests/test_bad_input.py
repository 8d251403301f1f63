"""Bad input gets a clear error naming the parameter and the allowed range, before any work."""

import numpy as np
import pytest

from simlab import DivergenceError, simulate
from simlab.collab import BCEMA, BCMVR, WGA, SGDAlone
from simlab.tasks import SharedHessianQuadratics

TASK = SharedHessianQuadratics(d=4, n_aux=2, zeta=0.3, sigma=1.0)


@pytest.mark.parametrize("weights, match", [
    ((0.5, 0.7, -0.2), "weights must be >= 0"),
    ((0.5, 0.2, 0.2), "weights must sum to 1"),
    ((0.5, 0.5), "length N\\+1 = 3"),
    ("bogus", "weights must be 'uniform'"),
])
def test_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        simulate(TASK, WGA(weights=weights, step_size=0.1), steps=10)


@pytest.mark.parametrize("eta", [0.0, -1.0, float("nan")])
def test_step_size(eta):
    with pytest.raises(ValueError, match="step_size must be > 0"):
        simulate(TASK, SGDAlone(step_size=eta), steps=10)


@pytest.mark.parametrize("kw, match", [
    (dict(d=0), "d must be >= 1"),
    (dict(n_aux=-1), "n_aux \\(N\\) must be >= 0"),
    (dict(sigma=-0.5), "sigma must be finite and >= 0"),
    (dict(zeta=-1.0), "zeta must be finite and >= 0"),
    (dict(eig=(2.0, 1.0)), "mu must be <= L"),
    (dict(eig=(0.0, 1.0)), "mu = eig\\[0\\] must be > 0"),
    (dict(bias_directions="sideways"), "bias_directions must be one of"),
])
def test_task_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        SharedHessianQuadratics(**{**dict(d=4, n_aux=2), **kw})


@pytest.mark.parametrize("momentum", [-0.1, 1.5, "fast"])
def test_momentum(momentum):
    with pytest.raises(ValueError, match="momentum must be"):
        simulate(TASK, BCEMA(step_size=0.1, momentum=momentum), steps=10)
    if not isinstance(momentum, str):
        with pytest.raises(ValueError, match="momentum must be"):
            simulate(TASK, BCMVR(step_size=0.1, momentum=momentum), steps=10)


def test_backend_steps_replicas_seed_checkpoints():
    m = SGDAlone(step_size=0.1)
    with pytest.raises(ValueError, match="backend must be one of"):
        simulate(TASK, m, steps=10, backend="tpu")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        simulate(TASK, m, steps=0)
    with pytest.raises(ValueError, match="replicas must be an integer >= 1"):
        simulate(TASK, m, steps=10, replicas=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        simulate(TASK, m, steps=10, seed=-3)
    with pytest.raises(ValueError, match="checkpoints must lie in \\[0, steps=10\\]"):
        simulate(TASK, m, steps=10, checkpoints=[0, 5, 11])
    with pytest.raises(TypeError, match="task must be a simlab Task"):
        simulate("task", m, steps=10)


def test_divergence_names_step_and_replica():
    # eta = 3/L on a quadratic: |1 - eta lam| = 2, so x_t doubles each step and
    # ||grad f_0(x_t)||^2 overflows once |x_t| passes about 2^512.
    task = SharedHessianQuadratics(d=3, n_aux=1, eig=(1.0, 1.0, 1.0), sigma=1.0)
    with pytest.raises(DivergenceError) as err:
        simulate(task, SGDAlone(step_size=3.0), steps=3000, replicas=4, seed=1)
    e = err.value
    assert e.replica in range(4)
    assert 500 < e.step < 560
    assert f"step t={e.step}" in str(e) and f"replica {e.replica}" in str(e)
    # the step named is exact: the replica is still finite one step before
    tr = simulate(task, SGDAlone(step_size=3.0), steps=e.step - 1, seed=1,
                  replica_ids=[e.replica], checkpoints=[e.step - 1])
    assert np.all(np.isfinite(tr.values[..., :3]))
    assert f"step t={e.step}" in str(e)
