"""Claims P9 to P16 of the collab spec (section 8.3): bias correction, identities, floors.

Each claim function takes ``(params, budget, seed, planted, backend)`` and returns
``(Check, details)``. ``planted=True`` runs the claim's planted error, which must turn it
``violated``. Statistical settings are declared per claim: ``delta`` (false-failure budget,
Bonferroni over the checkpoints looked at) and ``tol`` (relative tolerance on the bound).
"""

from __future__ import annotations

import numpy as np

from simlab.collab import measure, presets
from simlab.collab.claims_wga import register as _register
from simlab.collab.methods import BCEMA, WGA, SGDAlone
from simlab.collab.moments import exact_metrics_blocks, pooled_blocks
from simlab.engine import stats
from simlab.engine.simulate import simulate
from theory import collab as th

# --- P13 ----------------------------------------------------------------------------------

def p13_identities(p, b, seed, planted, backend):
    """P13: reduction identities.

    Path by path (same streams): BC-EMA(a=1, coupled) == SGD alone; BC-EMA(a=0, m=0) == WGA;
    WGA(alpha=e_0) == SGD alone. In law: uniform WGA == SGD on the pooled gradient (MC of WGA
    against the exact law of pooled SGD). Planted error: BC without coupled samples.
    """
    task = presets.make_task(p)
    eta = p["eta_L"] / task.constants()["L"]
    run = dict(steps=b["steps"], replicas=b["replicas"], seed=seed, backend=backend,
               derived=True)
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
                  seed=seed, backend=backend)
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
    ranges=dict(d=("choice", (2, 10)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                eta_L=("float", 0.05, 1.0),
                bias_directions=("choice", ("aligned", "random", "cancelling"))),
)


# --- P9 -----------------------------------------------------------------------------------

def p9_bc_removes_floor(p, b, seed, planted, backend):
    """P9: zeta_bar^2 >> eps, delta = 0: BC-EMA (a_t = 1/(t+1)) reaches eps; uniform WGA does not.

    Holds when BC's upper curve (mean + z SE) reaches eps and WGA's lower curve never does;
    violated when BC's lower curve never reaches eps or WGA's upper curve does. Planted error:
    BC's momentum is 0, so its correction never updates (BC = WGA).
    """
    task = presets.make_task(p)
    c = task.constants("uniform")
    eps = p["eps"]
    assert c["zeta_bar"] ** 2 >= 4 * eps, "P9 needs zeta_bar^2 >> eps"
    eta = p["eta_L"] / c["L"]
    z = stats.z_value(p["delta"], 2, two_sided=True)
    bc = BCEMA(step_size=eta, momentum=0.0 if planted else "running")
    run = (eps, b["steps"], b["replicas"], seed, z, backend)
    t_bc = measure.time_to_eps(task, bc, *run)
    t_wga = measure.time_to_eps(task, WGA(step_size=eta), *run)
    if np.isinf(t_bc.lo) or np.isfinite(t_wga.hi):
        verdict = stats.VIOLATED
    elif np.isfinite(t_bc.hi) and np.isinf(t_wga.lo):
        verdict = stats.HOLDS
    else:
        verdict = stats.INCONCLUSIVE
    horizon = float(b["steps"])
    chk = stats.Check(verdict, t_bc.value, (t_bc.lo, t_bc.hi), horizon,
                      (horizon - t_bc.hi) / horizon if np.isfinite(t_bc.hi) else -1.0)
    return chk, (f"eps={eps:g}, zeta_bar^2={c['zeta_bar'] ** 2:.3g}: BC T_eps={t_bc.value:g} "
                 f"[{t_bc.lo:g}, {t_bc.hi:g}]; WGA T_eps={t_wga.value:g} "
                 f"[{t_wga.lo:g}, {t_wga.hi:g}] within T={b['steps']}")


_register(
    name="P9", title="BC removes the bias floor",
    statement="zeta_bar^2 >> eps, delta = 0: BC-EMA (a_t = 1/(t+1)) reaches eps; uniform WGA "
              "does not",
    provenance="[V] qualitative", check="ordering", fn=p9_bc_removes_floor, family="A",
    methods=("BC-EMA", "WGA"),
    params=dict(family="A", d=10, n_aux=7, mu=0.2, L=1.0, zeta=1.0, sigma=1.0,
                bias_directions="aligned", eta_L=0.5, eps=0.05, delta=0.01),
    budgets={"quick": dict(replicas=300, steps=1500), "full": dict(replicas=3000,
                                                                   steps=10000)},
    planted_error="BC's momentum is 0: the correction never updates (BC = WGA)",
    ranges=dict(zeta=("float", 0.6, 3.0), sigma=("float", 0.5, 2.0)),
)


# --- P12 ----------------------------------------------------------------------------------

def p12_bc_not_worse(p, b, seed, planted, backend):
    """P12: with a tuned over {1, 0.3, 0.1, ...}: ``T_eps(BC) <= 1.2 T_eps(Alone)``.

    Both tuned over the same step-size grid with common random numbers (a = 1 with coupled
    samples is SGD alone path by path, P13). Planted error: BC's momentum is stuck at 0.
    """
    task = presets.make_task(p)
    c = task.constants("uniform")
    etas = measure.eta_grid(c["L"], b["n_eta"])
    moms = [0.0] if planted else list(p["momenta"])
    z = stats.z_value(p["delta"], len(etas) * (len(moms) + 1), two_sided=True)
    run = (p["eps"], b["steps"], b["replicas"], seed, z, backend)
    alone = measure.time_to_eps_tuned(task, lambda e: SGDAlone(step_size=e), etas, *run)
    best = None
    for a in moms:
        r = measure.time_to_eps_tuned(task, lambda e, a=a: BCEMA(step_size=e, momentum=a),
                                      etas, *run)
        if best is None or r.value < best[1].value or (r.value == best[1].value
                                                       and r.hi < best[1].hi):
            best = (a, r)
    a, bc = best
    ratio = bc.value / alone.value
    chk = stats.interval_check(ratio, bc.lo / alone.hi, bc.hi / alone.lo, hi=1.2)
    return chk, (f"eps={p['eps']:g}: T_eps(BC, a={a}, eta={bc.eta:g}) = {bc.value:g} "
                 f"[{bc.lo:g}, {bc.hi:g}], T_eps(Alone, eta={alone.eta:g}) = {alone.value:g} "
                 f"[{alone.lo:g}, {alone.hi:g}]")


_register(
    name="P12", title="BC never much worse than Alone",
    statement="for a tuned over {1, 0.3, 0.1, ...}: T_eps(BC) <= 1.2 T_eps(Alone) "
              "(a = 1 with coupled samples is exactly Alone)",
    provenance="[D]", check="upper_bound", fn=p12_bc_not_worse, family="A",
    methods=("BC-EMA", "SGD alone"),
    params=dict(family="A", d=10, n_aux=7, mu=0.2, L=1.0, zeta=1.0, sigma=1.0,
                bias_directions="aligned", x0_dist=3.0, eps=0.05,
                momenta=(1.0, 0.3, 0.1, 0.03), delta=0.01),
    budgets={"quick": dict(replicas=300, steps=600, n_eta=6),
             "full": dict(replicas=3000, steps=3000, n_eta=10)},
    planted_error="BC's momentum is stuck at 0 (the correction never updates)",
    ranges=dict(zeta=("float", 0.0, 2.0), sigma=("float", 0.5, 2.0)),
)


# --- P14 ----------------------------------------------------------------------------------

def p14_cramer_rao(p, b, seed, planted, backend):
    """P14: BC and Alone, large t: ``E f_0(x_t) - f* >= tr(Sigma_0 A^{-1})/(2t)`` (- z SE).

    Family A (delta = 0): ``Sigma_0 = (sigma_0^2/d) I``. WGA is exempt (it can beat the floor
    on cancelling instances). Planted error: the simulation's noise is 10x smaller than the
    floor assumes (100x in variance).
    """
    task = presets.make_task(p)
    c = task.constants()
    sim_task = presets.make_task(dict(p, sigma=p["sigma"] / 10)) if planted else task
    trinv = (c["sigma"][0] ** 2 / c["d"]) * float(np.sum(1.0 / task.eigenvalues))
    eta = p["eta_L"] / c["L"]
    checks = []
    methods = [SGDAlone(step_size=eta), BCEMA(step_size=eta, momentum="running")]
    for m in methods:
        tr = simulate(sim_task, m, steps=b["steps"], replicas=b["replicas"], seed=seed,
                      backend=backend)
        keep = tr.checkpoints >= p["t_min"]
        ts = tr.checkpoints[keep]
        floor = th.lb_stat(trinv=trinv, t=ts)
        z = stats.z_value(p["delta"], len(methods) * len(ts))
        chk = stats.lower_bound(tr.mean("subopt")[keep], tr.se("subopt")[keep], floor, z)
        chk = stats.Check(chk.verdict, chk.measured, chk.interval, chk.theory, chk.margin,
                          int(ts[chk.index]))
        checks.append((m.name, chk))
    chk = stats.worst([c for _, c in checks])
    name = next(n for n, c in checks if c is chk)
    return chk, f"{name} at t={chk.index}: E f_0 - f* vs tr(Sigma_0 A^-1)/(2t)"


_register(
    name="P14", title="Cramer-Rao floor (BC and Alone)",
    statement="family A, BC and Alone only, large t: E f_0(x_t) - f* >= tr(Sigma_0 A^-1)/(2t)"
              " - 3 SE",
    provenance="[D]", check="lower_bound", fn=p14_cramer_rao, bound="LB-stat (Cramer-Rao)",
    family="A", methods=("BC-EMA", "SGD alone"),
    params=dict(family="A", d=10, n_aux=3, mu=0.2, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="random", eta_L=0.5, t_min=50, delta=0.01),
    budgets={"quick": dict(replicas=300, steps=1000), "full": dict(replicas=3000,
                                                                   steps=20000)},
    planted_error="the simulation's noise is 10x smaller than the floor assumes",
    ranges=dict(n_aux=("choice", (1, 3, 7)), sigma=("logfloat", 0.1, 10.0),
                eta_L=("float", 0.1, 1.0)),
)


# --- P15 ----------------------------------------------------------------------------------

def _slope_over_T(task, make_method, Ts, metric, b, seed, backend):
    means, ses = [], []
    for T in Ts:
        tr = simulate(task, make_method(T), steps=int(T), replicas=b["replicas"], seed=seed,
                      backend=backend, checkpoints=[int(T)], derived=True)
        means.append(tr.mean(metric)[-1])
        ses.append(tr.se(metric)[-1])
    return stats.loglog_slope(Ts, means, ses)


def p15_rate_slopes(p, b, seed, planted, backend):
    """P15: rate slopes of SGD alone (zeta = 0).

    Non-convex metric, ``eta = min{1/L, sqrt(2F_0/(L T sigma^2))}``: slope of
    ``(1/T) sum E||grad f_0||^2`` in T within [-0.6, -0.4]. PL, ``eta = ln T/(mu T)``: slope of
    ``E f_0(x_T) - f*`` within [-1.15, -0.85]. Planted error: the step size ignores T (fixed
    at the value for the smallest T).
    """
    task = presets.make_task(dict(p, zeta=0.0))
    c = task.constants()
    Ts = np.asarray(b["Ts"], dtype=float)
    T0 = Ts[0]
    s2 = float(c["sigma"][0] ** 2)

    def nc_eta(T):
        return min(1.0 / c["L"], np.sqrt(2 * c["F0"] / (c["L"] * T * s2)))

    def pl_eta(T):
        return min(1.0 / c["L"], np.log(T) / (c["mu"] * T))

    def pick(f):
        return (lambda T: f(T0)) if planted else f

    z = stats.z_value(p["delta"], 2, two_sided=True)
    nc = _slope_over_T(task, lambda T: SGDAlone(step_size=pick(nc_eta)(T)), Ts,
                       "avg_grad_norm_sq", b, seed, backend)
    pl = _slope_over_T(task, lambda T: SGDAlone(step_size=pick(pl_eta)(T)), Ts, "subopt", b,
                       seed, backend)
    checks = {"NC": stats.interval_check(nc.slope, *nc.interval(z), -0.6, -0.4),
              "PL": stats.interval_check(pl.slope, *pl.interval(z), -1.15, -0.85)}
    chk = stats.worst(checks.values())
    name = next(k for k, c in checks.items() if c is chk)
    return chk, (f"T in {Ts.astype(int).tolist()}: NC slope {nc.slope:.3f} +- {z * nc.se:.3f} "
                 f"(allowed [-0.6, -0.4]); PL slope {pl.slope:.3f} +- {z * pl.se:.3f} "
                 f"(allowed [-1.15, -0.85]); decisive: {name}")


_register(
    name="P15", title="Rate slopes in T",
    statement="NC, eta ~ T^-1/2 tuned: slope of (1/T) sum E||grad f_0||^2 in [-0.6, -0.4]; "
              "PL, eta = ln T/(mu T): slope of E f - f* in [-1.15, -0.85]",
    provenance="[D]", check="slope", fn=p15_rate_slopes, family="A", methods=("SGD alone",),
    params=dict(family="A", d=10, n_aux=0, mu=0.5, L=1.0, sigma=1.0, x0_dist=3.0,
                delta=0.01),
    budgets={"quick": dict(replicas=1000, Ts=(1000, 2000, 4000, 8000, 16000)),
             "full": dict(replicas=4000, Ts=(1000, 2000, 4000, 8000, 16000, 32000, 64000))},
    planted_error="the step size ignores T (fixed at its value for the smallest T)",
    ranges=dict(mu=("float", 0.3, 1.0), sigma=("float", 0.5, 2.0)),
)


# --- P10 ----------------------------------------------------------------------------------

def p10_bc_speedup(p, b, seed, planted, backend):
    """P10: BC-EMA (a_t = 1/(t+1), delta = 0) on family C: fit ``T_eps(N) = A/(N+1) + B``;
    requires ``A > 0`` and ``B <= 0.5 T_eps(0)`` (eps << L F_0/(N+1)).

    The fit is weighted least squares with each ``T_eps``'s variance taken from its interval;
    holds when ``A - z se_A > 0`` and ``B + z se_B <= 0.5 lo(T_eps(0))``; violated when
    ``A + z se_A <= 0`` or ``B - z se_B > 0.5 hi(T_eps(0))``. Planted error: the tasks share
    one noise draw (no variance reduction).
    """
    ns = np.asarray(p["Ns"])
    z = stats.z_value(p["delta"], len(ns) * b["n_eta"], two_sided=True)
    res = []
    for n in ns:
        q = dict(p, n_aux=int(n), hess_delta=0.0)
        if planted:
            q["sigma"] = p["sigma"] * np.sqrt(n + 1)
        task = presets.make_task(q)
        c = task.constants("uniform")
        res.append(measure.time_to_eps_tuned(
            task, lambda e: BCEMA(step_size=e, momentum="running"),
            measure.eta_grid(c["L"], b["n_eta"]), p["eps"], b["steps"], b["replicas"], seed, z,
            backend))
    T = np.array([r.value for r in res])
    if not np.all(np.isfinite(T)):
        chk = stats.Check(stats.INCONCLUSIVE, float("nan"), (0.0, 0.0), 0.0, -1.0)
        return chk, f"T_eps not reached for some N within {b['steps']} steps: {T.tolist()}"
    half = np.array([max(r.hi - r.lo, 1.0) / 2 for r in res]) / z
    X = np.stack([1.0 / (ns + 1), np.ones(len(ns))], axis=1)
    W = 1.0 / half ** 2
    cov = np.linalg.inv((X.T * W) @ X)
    A, B = cov @ ((X.T * W) @ T)
    se_a, se_b = np.sqrt(np.diag(cov))
    z1 = stats.z_value(p["delta"], 2)
    if A + z1 * se_a <= 0 or B - z1 * se_b > 0.5 * res[0].hi:
        verdict = stats.VIOLATED
    elif A - z1 * se_a > 0 and B + z1 * se_b <= 0.5 * res[0].lo:
        verdict = stats.HOLDS
    else:
        verdict = stats.INCONCLUSIVE
    chk = stats.Check(verdict, float(B / T[0]), (float((B - z1 * se_b) / T[0]),
                                                 float((B + z1 * se_b) / T[0])), 0.5,
                      float(0.5 - (B + z1 * se_b) / T[0]))
    detail = ", ".join(f"N={n}: {r.value:g} [{r.lo:g}, {r.hi:g}]" for n, r in zip(ns, res))
    return chk, (f"eps={p['eps']:g}; fit T = A/(N+1) + B: A={A:.1f} +- {z1 * se_a:.1f}, "
                 f"B={B:.1f} +- {z1 * se_b:.1f} (measured = B/T_eps(0)); T_eps: {detail}")


_register(
    name="P10", title="BC linear speedup (delta = 0)",
    statement="family C (non-convex), delta = 0: fit T_eps(N) = A/(N+1) + B; A > 0 and "
              "B <= 0.5 T_eps(0) in the regime eps << L F_0/(N+1)",
    provenance="[D-heuristic], [V] claim", check="speedup", fn=p10_bc_speedup, family="C",
    methods=("BC-EMA",),
    params=dict(family="C", d=10, Ns=(0, 1, 3, 7), kappa=2.0, zeta=1.0, sigma=1.0,
                bias_directions="aligned", x0_dist=3.0, eps=0.05, delta=0.01),
    budgets={"quick": dict(replicas=400, steps=400, n_eta=7),
             "full": dict(replicas=4000, steps=1000, n_eta=9)},
    planted_error="the tasks share one noise draw (no variance reduction)",
)


# --- P11 / P16: monotone orderings ---------------------------------------------------------

def _monotone(values, los, his, increasing: bool, tol: float) -> stats.Check:
    """Ordering check with a relative tolerance: non-decreasing (or non-increasing) sequence.

    Holds when every consecutive pair satisfies the order even at the ends of their intervals
    (within ``tol``); violated when some pair contradicts it even so; else inconclusive.
    """
    verdict, worst, idx = stats.HOLDS, np.inf, 0
    for k in range(len(values) - 1):
        if increasing:
            ok = los[k + 1] * (1 + tol) >= his[k]
            bad = his[k + 1] * (1 + tol) < los[k]
            slack = (los[k + 1] * (1 + tol) - his[k]) / max(abs(his[k]), 1e-300)
        else:
            ok = his[k + 1] <= los[k] * (1 + tol)
            bad = los[k + 1] > his[k] * (1 + tol)
            slack = (los[k] * (1 + tol) - his[k + 1]) / max(abs(los[k]), 1e-300)
        if bad:
            verdict = stats.VIOLATED
        elif not ok and verdict == stats.HOLDS:
            verdict = stats.INCONCLUSIVE
        if slack < worst:
            worst, idx = slack, k + 1
    return stats.Check(verdict, float(values[idx]), (float(los[idx]), float(his[idx])),
                       float(values[idx - 1]), float(worst), idx)


def p11_bc_degrades_with_delta(p, b, seed, planted, backend):
    """P11: fixed N and eps: ``T_eps(BC)`` is non-decreasing in delta (within ``tol``), and at
    ``delta >= L``: ``T_eps(BC)/T_eps(Alone) >= 0.5``. Family B with positive Hessian
    perturbations (``A_i = A_0 + delta Q_i Q_i^T``, PD for every delta).

    Planted error: every BC run sees collaborators identical to task 0 (zeta = delta = 0) and
    its correction frozen at 0, i.e. it is WGA without heterogeneity and keeps WGA's full
    speedup at ``delta >= L``, which the claim says BC cannot.
    """
    deltas = list(p["deltas"])
    z = stats.z_value(p["delta"], (len(deltas) + 1) * b["n_eta"], two_sided=True)
    res = []
    for dl in deltas:
        task = presets.make_task(dict(p, hess_delta=0.0, zeta=0.0) if planted else
                                 dict(p, hess_delta=dl))
        L_max = float(np.max(task.constants("uniform")["L_tasks"]))
        mom = 0.0 if planted else p["momentum"]
        res.append(measure.time_to_eps_tuned(
            task, lambda e, mom=mom: BCEMA(step_size=e, momentum=mom),
            measure.eta_grid(L_max, b["n_eta"]), p["eps"], b["steps"], b["replicas"], seed, z,
            backend))
    task = presets.make_task(dict(p, hess_delta=deltas[-1]))
    alone = measure.time_to_eps_tuned(task, lambda e: SGDAlone(step_size=e),
                                      measure.eta_grid(task.constants()["L"], b["n_eta"]),
                                      p["eps"], b["steps"], b["replicas"], seed, z, backend)
    mono = _monotone([r.value for r in res], [r.lo for r in res], [r.hi for r in res], True,
                     p["tol"])
    ratio = res[-1].value / alone.value
    r_lo, r_hi = res[-1].lo / alone.hi, res[-1].hi / alone.lo
    chk = stats.worst([mono, stats.interval_check(ratio, r_lo, r_hi, lo=0.5)])
    detail = ", ".join(f"delta={dl:g}: {r.value:g} [{r.lo:g}, {r.hi:g}]"
                       for dl, r in zip(deltas, res))
    return chk, (f"T_eps(BC): {detail}; Alone at delta={deltas[-1]:g}: {alone.value:g}; "
                 f"ratio {ratio:.3g} [{r_lo:.3g}, {r_hi:.3g}] (>= 0.5)")


_register(
    name="P11", title="BC degrades with delta",
    statement="fixed N, eps: T_eps(BC) is non-decreasing in delta; at delta >= L the ratio "
              "T_eps(BC)/T_eps(Alone) >= 0.5",
    provenance="[V-TMLR] qualitative", check="ordering", fn=p11_bc_degrades_with_delta,
    family="B", methods=("BC-EMA", "SGD alone"),
    params=dict(family="B", d=10, n_aux=7, mu=0.2, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="aligned", hessian_signs="positive", x0_dist=2.0,
                deltas=(0.0, 0.3, 1.0, 3.0), momentum="running", eps=0.05, tol=0.15,
                delta=0.01),
    budgets={"quick": dict(replicas=300, steps=600, n_eta=7),
             "full": dict(replicas=3000, steps=3000, n_eta=9)},
    planted_error="BC runs see identical collaborators and a frozen correction (WGA, no "
                  "heterogeneity)",
)


def p16_correlated_noise(p, b, seed, planted, backend):
    """P16 (TMLR): AuxMOM and AuxMVR final error is non-increasing in rho in [0, 1) at fixed
    delta (family E), within ``tol``.

    Planted error: the correction never updates (momentum 0) and f and h are averaged
    (alpha_0 = 1/2): then the direction's noise grows with rho.
    """
    from simlab.collab.methods import BCMVR, AuxMOM, AuxMVR

    rhos = list(p["rhos"])
    z = stats.z_value(p["delta"], 2 * len(rhos), two_sided=True)
    found = []
    for label in ("AuxMOM", "AuxMVR"):
        means, ses = [], []
        for rho in rhos:
            task = presets.make_task(dict(p, rho=rho))
            eta = p["eta_L"] / task.constants()["L"]
            if planted:
                w = (0.5,) + (0.5 / task.n_aux,) * task.n_aux
                m = BCEMA(weights=w, step_size=eta, momentum=0.0) if label == "AuxMOM" else \
                    BCMVR(weights=w, step_size=eta, momentum=0.0)
            else:
                cls = AuxMOM if label == "AuxMOM" else AuxMVR
                m = cls(step_size=eta, momentum=p["momentum"])
            mm, se = measure.final_error(task, m, b["steps"], b["replicas"], seed, backend,
                                         "subopt", b["window"])
            means.append(mm)
            ses.append(se)
        means, ses = np.array(means), np.array(ses)
        found.append((label, _monotone(means, means - z * ses, means + z * ses, False, p["tol"]),
                      means))
    chk = stats.worst([c for _, c, _ in found])
    label, _, means = next(f for f in found if f[1] is chk)
    return chk, (f"{label}: final E f_0 - f* at rho={rhos}: "
                 + ", ".join(f"{m:.4g}" for m in means))


_register(
    name="P16", title="Correlated noise helps AuxMOM/AuxMVR",
    statement="AuxMOM/AuxMVR final error is non-increasing in rho in [0, 1) at fixed delta",
    provenance="[V] qualitative (TMLR)", check="ordering", fn=p16_correlated_noise,
    family="E", methods=("AuxMOM", "AuxMVR"),
    params=dict(family="E", d=10, n_aux=1, mu=0.2, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="aligned", hess_delta=0.1, rhos=(0.0, 0.5, 0.9),
                momentum=0.1, eta_L=0.3, tol=0.05, delta=0.01),
    budgets={"quick": dict(replicas=400, steps=600, window=100),
             "full": dict(replicas=4000, steps=3000, window=500)},
    planted_error="the correction never updates and f and h are averaged (alpha_0 = 1/2)",
    ranges=dict(sigma=("float", 0.5, 2.0), momentum=("float", 0.05, 0.5)),
)
