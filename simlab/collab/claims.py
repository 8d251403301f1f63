"""Claims P1 to P16 of the collab spec (section 8.3), registered in :data:`simlab.claims.registry`.

Each claim function takes ``(params, budget, seed, planted, backend)`` and returns
``(Check, details)``. ``planted=True`` runs the claim's planted error, which must turn it
``violated``. Statistical settings are declared per claim: ``delta`` (false-failure budget,
Bonferroni over the checkpoints looked at) and ``tol`` (relative tolerance on the bound).
"""

from __future__ import annotations

import numpy as np

from simlab.claims import Claim, registry
from simlab.collab import presets
from simlab.collab.methods import BCEMA, WGA, SGDAlone
from simlab.collab.moments import exact_metrics, exact_metrics_blocks, pooled_blocks
from simlab.engine import stats
from simlab.engine.model import beta_weights
from simlab.engine.simulate import simulate
from theory import collab as th


def _register(**kw) -> Claim:
    return registry.register(Claim(id=f"collab.{kw.pop('name')}", **kw))


# --- P1 -----------------------------------------------------------------------------------

def p1_wga_nc(p, b, seed, planted, backend):
    """P1: ``(1/T) sum E||grad f_0||^2 <= 2F_0/(eta T) + L eta sigma_a^2 + zeta_bar_a^2`` [D].

    Planted error: WGA ignores its weights (runs uniform) while the bound uses the declared
    weights.
    """
    task = presets.make_task(p)
    weights = beta_weights(p["beta"], task.n_aux)
    c = task.constants(weights)
    eta = p["eta_L"] / c["L"]
    sim_weights = "uniform" if planted else weights
    tr = simulate(task, WGA(weights=sim_weights, step_size=eta), steps=b["steps"],
                  replicas=b["replicas"], seed=seed, backend=backend)
    ts = tr.checkpoints[1:]
    bound = th.wga_nc(T=ts, eta=eta, L=c["L"], F0=c["F0"], sigma_a2=c["sigma_alpha_sq"],
                      zeta2=c["zeta_bar"] ** 2)
    z = stats.z_value(p["delta"], len(ts))
    chk = stats.upper_bound(tr.mean("avg_grad_norm_sq")[1:], tr.se("avg_grad_norm_sq")[1:],
                            bound, z, p["tol"])
    return chk, (f"family {task.family}, T={ts[chk.index]}: avg ||grad f_0||^2 vs WGA-NC "
                 f"(zeta_bar^2={c['zeta_bar'] ** 2:.3g}, sigma_a^2={c['sigma_alpha_sq']:.3g})")


_register(
    name="P1", title="WGA-NC bound",
    statement="(1/T) sum E||grad f_0||^2 <= 2F_0/(eta T) + L eta sigma_a^2 + zeta_bar_a^2",
    provenance="[D]", check="upper_bound", fn=p1_wga_nc, bound="WGA-NC", family="A, C",
    methods=("WGA",),
    params=dict(family="A", d=10, n_aux=7, mu=0.1, L=1.0, zeta=1.0, sigma=1.0,
                bias_directions="aligned", beta=0.1, eta_L=0.5, delta=0.01, tol=0.02),
    budgets={"quick": dict(replicas=256, steps=2000), "full": dict(replicas=1024, steps=20000)},
    planted_error="WGA ignores its weights (runs uniform); the bound keeps the declared ones",
)


# --- P3 -----------------------------------------------------------------------------------

def p3_wga_quad(p, b, seed, planted, backend):
    """P3: the MC mean of ``||x_t - x_0*||^2`` matches the exact recursion at every checkpoint.

    Planted error: the simulation's step size is 10% larger than the one the recursion uses.
    """
    task = presets.make_task(p)
    weights = beta_weights(p["beta"], task.n_aux)
    eta = p["eta_L"] / task.constants()["L"]
    tr = simulate(task, WGA(weights=weights, step_size=eta * (1.1 if planted else 1.0)),
                  steps=b["steps"], replicas=b["replicas"], seed=seed, backend=backend,
                  track_average=False)
    exact = exact_metrics(task, WGA(weights=weights, step_size=eta), b["steps"],
                          tr.checkpoints)[:, 2]
    z = stats.z_value(p["delta"], len(tr.checkpoints), two_sided=True)
    chk = stats.agreement(tr.mean("dist_sq"), tr.se("dist_sq"), exact, z,
                          max_rel_se=p["max_rel_se"])
    return chk, (f"t={tr.checkpoints[chk.index]}: MC mean of ||x_t - x_0*||^2 vs the exact "
                 f"WGA-QUAD recursion (Bonferroni z={z:.2f})")


_register(
    name="P3", title="WGA-QUAD exactness",
    statement="MC mean of ||x_t - x_0*||^2 matches the closed form within z SE for all t",
    provenance="[D]", check="agreement", fn=p3_wga_quad, bound="WGA-QUAD", family="A",
    methods=("WGA",),
    params=dict(family="A", d=10, n_aux=7, mu=0.1, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="random", beta=0.5, eta_L=0.5, delta=0.01, max_rel_se=0.02),
    budgets={"quick": dict(replicas=3000, steps=300), "full": dict(replicas=20000, steps=3000)},
    planted_error="the simulation's step size is 10% off the recursion's",
)


# --- P13 ----------------------------------------------------------------------------------

def p13_identities(p, b, seed, planted, backend):
    """P13: reduction identities.

    Path by path (same streams): BC-EMA(a=1, coupled) == SGD alone; BC-EMA(a=0, m=0) == WGA;
    WGA(alpha=e_0) == SGD alone. In law: uniform WGA == SGD on the pooled gradient (MC of WGA
    against the exact law of pooled SGD). Planted error: BC without coupled samples.
    """
    task = presets.make_task(p)
    eta = p["eta_L"] / task.constants()["L"]
    run = dict(steps=b["steps"], replicas=b["replicas"], seed=seed, backend=backend)
    alone = simulate(task, SGDAlone(step_size=eta), **run).values
    pairs = [
        ("BC(a=1, coupled) vs Alone",
         simulate(task, BCEMA(step_size=eta, momentum=1.0, coupled=not planted), **run).values,
         alone),
        ("BC(a=0) vs WGA",
         simulate(task, BCEMA(step_size=eta, momentum=0.0), **run).values,
         simulate(task, WGA(step_size=eta), **run).values),
        ("WGA(e_0) vs Alone",
         simulate(task, WGA(weights="alone", step_size=eta), **run).values, alone),
    ]
    worst, name = 0.0, ""
    for label, x, y in pairs:
        rel = float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300)))
        if rel >= worst:
            worst, name = rel, label
    tol = p["path_rtol"]
    if worst > tol:
        return (stats.Check(stats.VIOLATED, worst, (worst, worst), tol, (tol - worst) / tol),
                f"path-wise identity broken: {name} (max relative difference {worst:.3g})")
    # (iv) in law: WGA uniform against the exact law of SGD on the pooled objective
    tr = simulate(task, WGA(step_size=eta), steps=b["steps"], replicas=b["law_replicas"],
                  seed=seed, backend=backend, track_average=False)
    H, X, x0, C, Href, Xref = pooled_blocks(task, "uniform")
    exact = exact_metrics_blocks(H, X, x0, C, [1.0], lambda t: 0.0, eta, b["steps"],
                                 tr.checkpoints, H_ref=Href, X_ref=Xref)[:, 0]
    z = stats.z_value(p["delta"], len(tr.checkpoints), two_sided=True)
    chk = stats.agreement(tr.mean("grad_norm_sq"), tr.se("grad_norm_sq"), exact, z,
                          max_rel_se=0.05)
    return chk, (f"path-wise identities exact to {worst:.2g} (tol {tol:g}); uniform WGA vs "
                 f"pooled-SGD law at t={tr.checkpoints[chk.index]}")


_register(
    name="P13", title="Reduction identities",
    statement="BC(a=1, coupled) == Alone path-wise; BC(a=0, m=0) == WGA path-wise; "
              "WGA(e_0) == Alone; uniform WGA == SGD on the pooled gradient (in law)",
    provenance="[D]", check="identity", fn=p13_identities, family="A",
    methods=("SGD alone", "WGA", "BC-EMA"),
    params=dict(family="A", d=10, n_aux=3, mu=0.1, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="random", eta_L=0.5, path_rtol=1e-9, delta=0.01),
    budgets={"quick": dict(replicas=64, steps=500, law_replicas=2000),
             "full": dict(replicas=512, steps=5000, law_replicas=20000)},
    planted_error="BC-EMA without coupled samples (fresh samples for the bias estimate)",
)
