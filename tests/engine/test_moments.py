"""Monte Carlo against the exact moment recursions (collab spec 8.2)."""

import numpy as np
import pytest

from simlab import simulate
from simlab.collab import BCEMA, WGA, SGDAlone
from simlab.collab.moments import exact_metrics
from simlab.engine import stats
from simlab.tasks import SharedHessianQuadratics

DELTA = 0.01      # false-failure budget of each agreement test (Bonferroni over checkpoints)
MAX_REL_SE = 0.02  # the Monte Carlo must be this sharp for the test to mean anything
METRICS = ("grad_norm_sq", "subopt", "dist_sq")

TASK = SharedHessianQuadratics(d=8, n_aux=4, eig=(0.2, 1.0), zeta=0.6, sigma=1.0, seed=3)
METHODS = [
    SGDAlone(step_size=0.6),
    WGA(weights="uniform", step_size=0.6),
    WGA(weights=(0.6, 0.1, 0.1, 0.1, 0.1), step_size=0.6),
    BCEMA(step_size=0.6, momentum=0.1),
    BCEMA(step_size=0.6, momentum="running"),
]


def agreement(task, sim_method, exact_method, metric, replicas=4000, steps=200, seed=5):
    tr = simulate(task, sim_method, steps=steps, replicas=replicas, seed=seed)
    exact = exact_metrics(task, exact_method, steps, tr.checkpoints)
    col = tr.metrics.index(metric)
    z = stats.z_value(DELTA, len(tr.checkpoints) * len(METRICS), two_sided=True)
    return stats.agreement(tr.mean(metric), tr.se(metric), exact[:, col], z,
                           max_rel_se=MAX_REL_SE)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize("metric", METRICS)
def test_monte_carlo_matches_exact_recursion(method, metric):
    chk = agreement(TASK, method, method, metric)
    assert chk.verdict == stats.HOLDS, chk


@pytest.mark.parametrize("method", [WGA(step_size=0.6), BCEMA(step_size=0.6, momentum=0.1)],
                         ids=lambda m: m.name)
def test_same_test_rejects_step_size_off_by_ten_percent(method):
    from dataclasses import replace

    wrong = replace(method, step_size=method.step_size * 1.1)
    verdicts = [agreement(TASK, wrong, method, m).verdict for m in METRICS]
    assert stats.VIOLATED in verdicts


def test_exact_law_of_uniform_wga_is_the_stationary_closed_form():
    # isotropic shared Hessian: E[f_0 - f*] -> zeta_bar^2/(2 lam) + eta sigma_a^2/(2(2 - eta lam))
    from theory.collab import wga_quad_stationary

    lam, eta = 0.5, 0.8
    task = SharedHessianQuadratics(d=5, n_aux=3, eig=(lam,) * 5, zeta=0.7, sigma=2.0, seed=1)
    c = task.constants("uniform")
    ex = exact_metrics(task, WGA(step_size=eta), 400)[-1, 1]
    pred = wga_quad_stationary(zeta2=c["zeta_bar"] ** 2, lam=lam, eta=eta,
                               sigma_a2=c["sigma_alpha_sq"])
    assert ex == pytest.approx(float(pred), rel=1e-9)
    assert np.isfinite(ex)
