"""Claims P1 to P8 of the collab spec (section 8.3): weighted gradient averaging.

Each claim function takes ``(params, budget, seed, planted, backend)`` and returns
``(Check, details)``. ``planted=True`` runs the claim's planted error, which must turn it
``violated``. Statistical settings are declared per claim: ``delta`` (false-failure budget,
Bonferroni over the checkpoints looked at) and ``tol`` (relative tolerance on the bound).
"""

from __future__ import annotations

import numpy as np

from simlab.claims import Claim, registry
from simlab.collab import measure, presets
from simlab.collab.methods import WGA
from simlab.collab.moments import exact_metrics
from simlab.engine import stats
from simlab.collab.weights import beta_weights
from simlab.engine.simulate import simulate
from theory import collab as th


def register(**kw) -> Claim:
    """Register a collab claim: ``name="P1"`` becomes the id ``"collab.P1"``."""
    return registry.register(Claim(id=f"collab.{kw.pop('name')}", **kw))


_register = register


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
                  replicas=b["replicas"], seed=seed, backend=backend, derived=True)
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
    ranges=dict(d=("choice", (2, 10)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                beta=("float", 0.0, 1.0), eta_L=("float", 0.05, 1.0), mu=("logfloat", 1e-3, 1.0),
                bias_directions=("choice", ("aligned", "random", "cancelling"))),
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
                  steps=b["steps"], replicas=b["replicas"], seed=seed, backend=backend)
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
    ranges=dict(d=("choice", (2, 10)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                beta=("float", 0.0, 1.0), eta_L=("float", 0.05, 1.0), mu=("float", 0.1, 1.0)),
)


# --- P2 -----------------------------------------------------------------------------------

def p2_wga_pl(p, b, seed, planted, backend):
    """P2: ``E f_0(x_T) - f* <= (1 - mu eta)^T F_0 + zeta_bar^2/(2mu) + L eta sigma_a^2/(2mu)``.

    Planted error: the simulation runs twice the step size the bound assumes.
    """
    task = presets.make_task(p)
    weights = beta_weights(p["beta"], task.n_aux)
    c = task.constants(weights)
    eta = p["eta_L"] / c["L"]
    tr = simulate(task, WGA(weights=weights, step_size=eta * (2.0 if planted else 1.0)),
                  steps=b["steps"], replicas=b["replicas"], seed=seed, backend=backend)
    bound = th.wga_pl(T=tr.checkpoints, eta=eta, mu=c["mu"], L=c["L"], F0=c["F0"],
                      sigma_a2=c["sigma_alpha_sq"], zeta2=c["zeta_bar"] ** 2)
    z = stats.z_value(p["delta"], len(tr.checkpoints))
    chk = stats.upper_bound(tr.mean("subopt"), tr.se("subopt"), bound, z, p["tol"])
    return chk, f"T={tr.checkpoints[chk.index]}: E f_0(x_T) - f* vs WGA-PL"


_register(
    name="P2", title="WGA-PL bound",
    statement="E f_0(x_T) - f* <= (1-mu eta)^T F_0 + zeta_bar^2/(2mu) + L eta sigma_a^2/(2mu)",
    provenance="[D]", check="upper_bound", fn=p2_wga_pl, bound="WGA-PL", family="A",
    methods=("WGA",),
    params=dict(family="A", d=10, n_aux=7, mu=1.0, L=1.0, zeta=0.1, sigma=1.0,
                bias_directions="random", beta=0.5, eta_L=0.5, delta=0.01, tol=0.02),
    budgets={"quick": dict(replicas=512, steps=400), "full": dict(replicas=4096, steps=4000)},
    planted_error="the simulation runs twice the step size the bound assumes",
    ranges=dict(d=("choice", (2, 10)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                beta=("float", 0.0, 1.0), eta_L=("float", 0.05, 1.0), mu=("float", 0.05, 1.0)),
)


# --- P4 -----------------------------------------------------------------------------------

def p4_variance_speedup(p, b, seed, planted, backend):
    """P4: with zeta_bar = 0 and uniform weights, the stationary error scales as 1/(N+1).

    Measured: log-log slope of the stationary ``E f_0 - f*`` against ``N + 1``; must lie in
    ``[-1.1, -0.9]``. Planted error: the tasks' noises are one shared draw (A2' broken),
    simulated as each task's noise scaled by ``sqrt(N+1)`` (the same law under uniform weights).
    """
    means, ses, ns = [], [], np.asarray(p["Ns"])
    for n in ns:
        q = dict(p, n_aux=int(n), zeta=0.0)
        if planted:
            q["sigma"] = p["sigma"] * np.sqrt(n + 1)
        task = presets.make_task(q)
        eta = p["eta_L"] / task.constants()["L"]
        m, s = measure.final_error(task, WGA(step_size=eta), b["steps"], b["replicas"], seed,
                                   backend, "subopt", b["window"])
        means.append(m)
        ses.append(s)
    sl = stats.loglog_slope(ns + 1, means, ses)
    z = stats.z_value(p["delta"], 1, two_sided=True)
    lo, hi = sl.interval(z)
    chk = stats.interval_check(sl.slope, lo, hi, -1.1, -0.9)
    return chk, (f"slope of stationary E f_0 - f* vs N+1 over N={ns.tolist()}: {sl.slope:.3f} "
                 f"+- {z * sl.se:.3f}; allowed [-1.1, -0.9]")


_register(
    name="P4", title="Variance scales as 1/(N+1)",
    statement="zeta_bar = 0, uniform alpha, fixed eta: stationary error vs N+1 has log-log "
              "slope in [-1.1, -0.9]",
    provenance="[D]", check="slope", fn=p4_variance_speedup, family="A", methods=("WGA",),
    params=dict(family="A", d=10, Ns=(0, 1, 3, 7, 15), mu=0.1, L=1.0, sigma=1.0,
                eta_L=0.5, delta=0.01),
    budgets={"quick": dict(replicas=400, steps=400, window=20),
             "full": dict(replicas=4000, steps=2000, window=100)},
    planted_error="the tasks share one noise draw (independence A2' broken)",
    ranges=dict(sigma=("logfloat", 0.1, 10.0), eta_L=("float", 0.25, 1.0), mu=("float", 0.1, 1.0)),
)


# --- P5 -----------------------------------------------------------------------------------

def p5_wga_time_speedup(p, b, seed, planted, backend):
    """P5: zeta_bar^2 <= eps/4, eps <= 0.2 sigma^2/(N+1), eta tuned on a grid:
    ``(N+1) T_eps(N) / T_eps(0)`` lies in ``[0.5, 2]`` for every N.

    Cancelling biases give zeta_bar = 0 with large individual zeta. Planted error: the tasks
    share one noise draw (no variance reduction).
    """
    ns = list(p["Ns"])
    eps = p["eps_factor"] * p["sigma"] ** 2 / (max(ns) + 1)
    n_grid = b["n_eta"]
    z = stats.z_value(p["delta"], len(ns) * n_grid, two_sided=True)
    res = []
    for n in ns:
        q = dict(p, n_aux=n)
        if planted:
            q["sigma"] = p["sigma"] * np.sqrt(n + 1)
        task = presets.make_task(q)
        c = task.constants("uniform")
        assert c["zeta_bar"] ** 2 <= eps / 4
        res.append(measure.time_to_eps_tuned(
            task, lambda eta: WGA(step_size=eta), measure.eta_grid(c["L"], n_grid), eps,
            b["steps"], b["replicas"], seed, z, backend))
    t0 = res[0]
    checks = [stats.interval_check((n + 1) * r.value / t0.value, (n + 1) * r.lo / t0.hi,
                                   (n + 1) * r.hi / t0.lo, 0.5, 2.0)
              for n, r in zip(ns[1:], res[1:])]
    chk = stats.worst(checks)
    n = ns[1 + checks.index(chk)]
    detail = ", ".join(f"N={m}: T={r.value:g} [{r.lo:g}, {r.hi:g}] (eta={r.eta:g})"
                       for m, r in zip(ns, res))
    return chk, f"eps={eps:.3g}; worst ratio at N={n}; T_eps: {detail}"


_register(
    name="P5", title="WGA time-to-eps linear speedup",
    statement="zeta_bar^2 <= eps/4 and eps <= 0.2 sigma^2/(N+1): with eta tuned by grid, "
              "(N+1) T_eps(N)/T_eps(0) in [0.5, 2]",
    provenance="[D], [V] qualitative", check="speedup", fn=p5_wga_time_speedup, family="A",
    methods=("WGA",),
    params=dict(family="A", d=10, Ns=(0, 1, 3, 7), mu=0.2, L=1.0, zeta=1.0, sigma=1.0,
                bias_directions="cancelling", x0_dist=3.0, eps_factor=0.2, delta=0.01),
    budgets={"quick": dict(replicas=600, steps=400, n_eta=8),
             "full": dict(replicas=4000, steps=1000, n_eta=10)},
    planted_error="the tasks share one noise draw (no variance reduction)",
    ranges=dict(sigma=("logfloat", 0.3, 3.0), zeta=("logfloat", 1e-3, 10.0)),
)


# --- P7 -----------------------------------------------------------------------------------

def p7_cancelling(p, b, seed, planted, backend):
    """P7: with cancelling biases, uniform WGA's error is the noise floor only (no zeta).

    The Monte Carlo at large zeta must agree, at every checkpoint, with the exact law of the
    same instance at zeta = 0. Planted error: the task builds aligned instead of cancelling
    shifts.
    """
    q = dict(p, bias_directions="aligned" if planted else "cancelling")
    task = presets.make_task(q)
    task0 = presets.make_task(dict(q, zeta=0.0))
    eta = p["eta_L"] / task.constants()["L"]
    tr = simulate(task, WGA(step_size=eta), steps=b["steps"], replicas=b["replicas"],
                  seed=seed, backend=backend)
    exact = exact_metrics(task0, WGA(step_size=eta), b["steps"], tr.checkpoints)[:, 1]
    z = stats.z_value(p["delta"], len(tr.checkpoints), two_sided=True)
    chk = stats.agreement(tr.mean("subopt"), tr.se("subopt"), exact, z, max_rel_se=0.05)
    return chk, (f"zeta={p['zeta']} cancelling vs exact law at zeta=0, "
                 f"t={tr.checkpoints[chk.index]}")


_register(
    name="P7", title="Cancelling biases: noise floor only",
    statement="family A, cancelling directions: uniform WGA error -> noise floor only; "
              "no zeta dependence",
    provenance="[D]", check="agreement", fn=p7_cancelling, family="A", methods=("WGA",),
    params=dict(family="A", d=10, n_aux=4, mu=0.2, L=1.0, zeta=3.0, sigma=1.0,
                eta_L=0.5, delta=0.01),
    budgets={"quick": dict(replicas=2000, steps=300), "full": dict(replicas=20000,
                                                                   steps=3000)},
    planted_error="the task builds aligned instead of cancelling shifts",
    ranges=dict(n_aux=("choice", (2, 3, 4, 7)), zeta=("logfloat", 1e-3, 10.0),
                sigma=("logfloat", 0.1, 10.0), eta_L=("float", 0.1, 1.0)),
)


# --- P8 -----------------------------------------------------------------------------------

def _plausible_argmins(means, ses, z) -> np.ndarray:
    """Indices whose interval reaches below the smallest upper end (plausible argmins)."""
    means, ses = np.asarray(means), np.asarray(ses)
    return np.flatnonzero(means - z * ses <= np.min(means + z * ses))


def p8_alpha_tradeoff(p, b, seed, planted, backend):
    """P8: the argmin over alpha_0 of the final error is non-decreasing in T and in zeta.

    For each (T, zeta) and alpha_0 on a grid, eta is tuned by the WGA-NC rule
    ``min{1/L, sqrt(2F_0/(L T sigma_a^2))}`` and the error is ``(1/T) sum E||grad f_0||^2``.
    Holds when every plausible argmin at the larger T (zeta) is >= every plausible argmin at the
    smaller; violated when every plausible argmin at the larger is below every one at the
    smaller. Planted error: the weights are applied in reverse (alpha_0 <-> 1 - alpha_0).
    """
    betas = np.asarray(p["betas"])
    cases = [(b["T_small"], p["zeta_small"]), (b["T_large"], p["zeta_small"]),
             (b["T_large"], p["zeta_large"])]
    z = stats.z_value(p["delta"], len(cases) * len(betas), two_sided=True)
    argsets = []
    for T, zeta in cases:
        task = presets.make_task(dict(p, zeta=zeta))
        means, ses = [], []
        for beta in betas:
            declared = beta_weights(float(beta), task.n_aux)
            c = task.constants(declared)
            eta = min(1.0 / c["L"], np.sqrt(2 * c["F0"] / (c["L"] * T * c["sigma_alpha_sq"])))
            used = beta_weights(1.0 - float(beta), task.n_aux) if planted else declared
            tr = simulate(task, WGA(weights=used, step_size=eta), steps=T,
                          replicas=b["replicas"], seed=seed, backend=backend,
                          checkpoints=[T], derived=True)
            means.append(tr.mean("avg_grad_norm_sq")[-1])
            ses.append(tr.se("avg_grad_norm_sq")[-1])
        # alpha_0 = 1 - beta: larger index of alpha_0 <-> smaller beta
        a0_idx = _plausible_argmins(means, ses, z)
        argsets.append(sorted(float(round(1.0 - x, 4)) for x in betas[a0_idx]))
    pairs = [(argsets[0], argsets[1], "T"), (argsets[1], argsets[2], "zeta")]
    verdict, margin = stats.HOLDS, 1.0
    for small, large, _ in pairs:
        if max(large) < min(small):
            verdict = stats.VIOLATED
        elif min(large) < max(small) and verdict != stats.VIOLATED:
            verdict = stats.INCONCLUSIVE
        margin = min(margin, min(large) - max(small))
    chk = stats.Check(verdict, float(np.mean(argsets[1])), (min(argsets[1]), max(argsets[1])),
                      float(np.mean(argsets[0])), float(margin))
    return chk, ("plausible argmin alpha_0 at (T, zeta) = "
                 + "; ".join(f"{cs}: {a}" for cs, a in zip(cases, argsets)))


_register(
    name="P8", title="alpha trade-off moves with T and zeta",
    statement="argmin over alpha_0 of the final error is non-decreasing in T and in zeta",
    provenance="[D]", check="ordering", fn=p8_alpha_tradeoff, family="A", methods=("WGA",),
    params=dict(family="A", d=10, n_aux=7, mu=0.1, L=1.0, sigma=1.0,
                bias_directions="aligned", zeta_small=0.2, zeta_large=1.0,
                betas=(0.875, 0.6, 0.3, 0.1, 0.0), delta=0.01),
    budgets={"quick": dict(replicas=300, T_small=30, T_large=3000),
             "full": dict(replicas=2000, T_small=30, T_large=30000)},
    planted_error="the weights are applied in reverse (alpha_0 <-> 1 - alpha_0)",
    ranges=dict(sigma=("float", 0.5, 2.0), zeta_large=("float", 1.0, 3.0)),
)


# --- P6 -----------------------------------------------------------------------------------

def _wga_fixed_point_c(task, weights) -> np.ndarray:
    """The sigma -> 0 fixed point of WGA on family C with delta = 0: ``psi'(x - c) = -vbar``.

    Per coordinate, the root of ``u + kappa sin u + vbar_j = 0`` nearest 0 (unique on the
    branch through 0 when ``|vbar_j|`` is below the first local maximum of ``psi'``).
    """
    from scipy import optimize

    inst = task.instance()
    vbar = np.asarray(weights) @ inst["V"]
    kappa = float(task.kappa)
    u_max = np.arccos(-1.0 / kappa) if kappa > 1 else np.inf
    lim = min(u_max, 50.0)
    u = np.array([optimize.brentq(lambda s, v=v: s + kappa * np.sin(s) + v, -lim, lim)
                  for v in vbar])
    return inst["c"] + u


def p6_wga_bias_floor(p, b, seed, planted, backend):
    """P6: zeta_bar^2 >= 4 eps: uniform WGA's plateau of E||grad f_0||^2 is >= 0.9 zeta_bar^2
    and it never reaches eps (family C, delta = 0; start at x_0* + 2 (xbar - x_0*)).

    Planted error: the simulated collaborators have no shift (v_i = 0) while the claim's
    zeta_bar is the declared task's.
    """
    q = dict(p, hess_delta=0.0)
    base = presets.make_task(q)
    c = base.constants("uniform")
    zb2 = c["zeta_bar"] ** 2
    eps = zb2 / 4
    xbar = _wga_fixed_point_c(base, c["weights"] if "weights" in c else
                              np.full(base.n_tasks, 1.0 / base.n_tasks))
    inst = base.instance()
    x0 = tuple(inst["c"] + 2 * (xbar - inst["c"]))
    sim = presets.make_task(dict(q, zeta=0.0 if planted else p["zeta"]))
    from dataclasses import replace

    sim = replace(sim, x0=x0)
    eta = p["eta_L"] / c["L"]
    tr = simulate(sim, WGA(step_size=eta), steps=b["steps"], replicas=b["replicas"],
                  seed=seed, backend=backend, checkpoints="all")
    g = tr.metric("grad_norm_sq")
    win = g[-b["window"]:].mean(axis=0)
    z = stats.z_value(p["delta"], 2)
    plateau = stats.lower_bound(win.mean(), win.std(ddof=1) / np.sqrt(win.size), 0.9 * zb2, z)
    t_lo = measure.t_eps(tr.mean("grad_norm_sq") - z * tr.se("grad_norm_sq"), eps)
    never = np.isinf(t_lo)
    if plateau.verdict == stats.VIOLATED:
        chk = plateau
    elif not never and measure.t_eps(tr.mean("grad_norm_sq") + z * tr.se("grad_norm_sq"),
                                         eps) < np.inf:
        chk = stats.Check(stats.VIOLATED, plateau.measured, plateau.interval, plateau.theory,
                          plateau.margin)
    elif plateau.verdict == stats.HOLDS and never:
        chk = plateau
    else:
        chk = stats.Check(stats.INCONCLUSIVE, plateau.measured, plateau.interval,
                          plateau.theory, plateau.margin)
    return chk, (f"family C (kappa={p['kappa']}), zeta_bar^2={zb2:.4g}, eps={eps:.4g}: plateau "
                 f"{plateau.measured:.4g} vs 0.9 zeta_bar^2; lower curve reaches eps at "
                 f"t={t_lo:g}")


_register(
    name="P6", title="WGA bias floor",
    statement="zeta_bar_uniform^2 >= 4 eps: stationary plateau of E||grad f_0||^2 >= "
              "0.9 zeta_bar_alpha^2 (family C, delta = 0); T_eps = inf",
    provenance="[D]", check="lower_bound", fn=p6_wga_bias_floor, bound="LB-WGA", family="C",
    methods=("WGA",),
    params=dict(family="C", d=10, n_aux=7, kappa=2.0, zeta=1.0, sigma=0.3,
                bias_directions="aligned", eta_L=0.5, delta=0.01),
    budgets={"quick": dict(replicas=200, steps=600, window=100),
             "full": dict(replicas=2000, steps=5000, window=1000)},
    planted_error="the simulated collaborators have no shift (v_i = 0)",
    ranges=dict(kappa=("float", 0.0, 3.0), zeta=("float", 0.5, 2.0), sigma=("float", 0.05, 0.5),
                n_aux=("choice", (1, 3, 7))),
)
