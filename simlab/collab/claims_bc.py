"""Claims P9 to P16 of the collab spec (section 8.3): bias correction, identities, floors.

Declarative as in :mod:`simlab.collab.claims_wga`: each claim is a measurement (a function of a
:class:`simlab.claims.Run` returning a :class:`~simlab.claims.Measurement` with its
prediction), Bound objects of :mod:`theory.collab`, and a check spec. ``run.planted`` runs the
claim's planted error, a realistic bug of the method that must turn it ``violated``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from simlab.claims import Decide, LowerBound, Measurement, Within
from simlab.collab import measure, presets
from simlab.collab.claims_wga import register
from simlab.collab.interface import AVERAGE
from simlab.collab.methods import BCEMA, BCMVR, WGA, AuxMOM, AuxMVR, SGDAlone
from simlab.collab.moments import exact_metrics_blocks, pooled_blocks
from simlab.engine import stats
from simlab.engine.simulate import simulate
from theory import collab as th

# --- P13 ----------------------------------------------------------------------------------


def p13_measure(r):
    """P13: reduction identities.

    Path by path (same streams): BC-EMA(a=1, coupled) == SGD alone; BC-EMA(a=0, m=0) == WGA;
    WGA(alpha=e_0) == SGD alone (REDUCTIONS: the differences are 0). In law: uniform WGA == SGD
    on the pooled gradient (the Monte Carlo of WGA against the exact law of pooled SGD).
    Planted error: BC without coupled samples.
    """
    p, b = r.params, r.budget
    task = presets.make_task(p)
    eta = p["eta_L"] / task.constants()["L"]
    run = dict(steps=b["steps"], replicas=b["replicas"], seed=r.seed, backend=r.backend)
    alone = simulate(task, SGDAlone(step_size=eta), **run).values
    pairs = [
        ("BC(a=1, coupled) vs Alone",
         simulate(task, BCEMA(step_size=eta, momentum=1.0, coupled=not r.planted),
                  **run).values, alone),
        ("BC(a=0) vs WGA", simulate(task, BCEMA(step_size=eta, momentum=0.0), **run).values,
         simulate(task, WGA(step_size=eta), **run).values),
        ("WGA(e_0) vs Alone", simulate(task, WGA(weights="alone", step_size=eta), **run).values,
         alone),
    ]
    worst, name = 0.0, ""
    for label, x, y in pairs:
        computed = ~np.isnan(y)  # the derived metric was not asked for (NaN in both)
        if not np.array_equal(computed, ~np.isnan(x)):
            worst, name = np.inf, f"{label} (NaN in one path only)"
            break
        rel = float(np.max(np.abs(x[computed] - y[computed])
                           / np.maximum(np.abs(y[computed]), 1e-300)))
        if rel >= worst:
            worst, name = rel, label
    tr = simulate(task, WGA(step_size=eta), steps=b["steps"], replicas=b["law_replicas"],
                  seed=r.seed, backend=r.backend)
    H, X, x0, C, Href, Xref = pooled_blocks(task, "uniform")
    exact = exact_metrics_blocks(H, X, x0, C, [1.0], lambda t: 0.0, eta, b["steps"],
                                 tr.checkpoints, H_ref=Href, X_ref=Xref)[:, 0]
    return Measurement(x=tr.checkpoints, mean=tr.mean("grad_norm_sq"), se=tr.se("grad_norm_sq"),
                       z=r.z(len(tr.checkpoints), two_sided=True), prediction=exact, axis="t",
                       details=f"path-wise: worst {name} (max relative difference {worst:.2g}, "
                               f"REDUCTIONS = {float(th.reductions()):g}); uniform WGA vs the "
                               f"pooled-SGD law at every checkpoint",
                       series={"path_difference": worst, "path_pair": name})


def p13_rule(m, spec):
    """Violated when a path-wise identity is off by more than ``tol``; otherwise the in-law
    agreement decides (inconclusive when the Monte Carlo is not sharp enough)."""
    worst = m.series["path_difference"]
    if worst > spec.tol:
        return stats.Check(stats.VIOLATED, worst, (worst, worst), spec.tol,
                           (spec.tol - worst) / spec.tol)
    return stats.agreement(m.mean, m.se, m.prediction, m.z, max_rel_se=0.05)


register(
    name="P13", title="Reduction identities",
    statement="BC(a=1, coupled) == Alone path-wise; BC(a=0, m=0) == WGA path-wise; "
              "WGA(e_0) == Alone; uniform WGA == SGD on the pooled gradient (in law)",
    provenance="[D]", measure=p13_measure,
    check=Decide(delta=0.01, tol=1e-9, kind="identity", rule=p13_rule),
    bounds=(th.reductions,), methods=(SGDAlone, WGA, BCEMA), family="A",
    params=dict(family="A", d=10, n_aux=3, mu=0.1, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="random", eta_L=0.5),
    budgets={"quick": dict(replicas=64, steps=500, law_replicas=2000),
             "full": dict(replicas=512, steps=5000, law_replicas=20000)},
    planted_error="BC-EMA without coupled samples (fresh samples for the bias estimate)",
    ranges=dict(d=("choice", (2, 10)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                eta_L=("float", 0.05, 1.0),
                bias_directions=("choice", ("aligned", "random", "cancelling"))),
    spec_ranges=dict(d=("choice", (2, 10, 50)), n_aux=("choice", (0, 1, 3, 7, 15, 31, 63)),
                     sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                     eta_L=("float", 0.01, 1.0), L=("logfloat", 1.0, 100.0)),
)


# --- P9 -----------------------------------------------------------------------------------

def p9_measure(r):
    """P9: zeta_bar^2 >> eps, delta = 0: BC-EMA (a_t = 1/(t+1)) reaches eps; uniform WGA does
    not (BC-NC has no zeta floor; WGA-FLOOR puts WGA's at zeta_bar^2). Both ``T_eps`` are
    spec 8.3's, minimised over the step-size grid.

    Planted error: BC's momentum is 0, so its correction never updates (BC = WGA).
    """
    p, b = r.params, r.budget
    task = presets.make_task(p)
    c = task.constants("uniform")
    eps = p["eps"]
    r.require(c["zeta_bar"] ** 2 >= 4 * eps,
              f"P9 needs zeta_bar^2 >> eps: zeta_bar^2 = {c['zeta_bar'] ** 2:.3g}, eps = {eps}")
    etas = measure.eta_grid(c["L"], b["n_eta"])
    crossing = _wga_crosses_eps(task, etas, eps, b["steps"])
    if crossing is not None:
        r.require(False, f"WGA's exact law dips below eps on its way to the floor (eta="
                         f"{crossing:g}): the start lies beyond x_0* from the floor, so 'WGA "
                         f"does not reach eps' is not about the floor here")
    z = r.z(2 * len(etas), two_sided=True)
    mom = 0.0 if r.planted else "running"
    run = (etas, eps, b["steps"], b["replicas"], r.seed, z, r.backend)
    t_bc = measure.time_to_eps_tuned(task, lambda e: BCEMA(step_size=e, momentum=mom), *run)
    t_wga = measure.time_to_eps_tuned(task, lambda e: WGA(step_size=e), *run)
    floor = float(th.wga_floor(zeta2=c["zeta_bar"] ** 2))
    return Measurement(x=["BC-EMA", "WGA"], mean=[t_bc.value, t_wga.value],
                       lo=[t_bc.lo, t_wga.lo], hi=[t_bc.hi, t_wga.hi], z=z,
                       prediction=[float(b["steps"]), np.inf], axis="method",
                       details=f"eps={eps:g}, WGA-FLOOR zeta_bar^2={floor:.3g}: BC T_eps="
                               f"{t_bc.value:g} [{t_bc.lo:g}, {t_bc.hi:g}] (eta={t_bc.eta:g}); "
                               f"WGA T_eps={t_wga.value:g} [{t_wga.lo:g}, {t_wga.hi:g}] within "
                               f"T={b['steps']}, eta tuned over {len(etas)} step sizes")


def _wga_crosses_eps(task, etas, eps: float, steps: int) -> float | None:
    """The first step size of the grid at which uniform WGA's exact E||grad f_0(x_t)||^2
    (WGA-QUAD, family A), smoothed as spec 8.3 says, reaches ``eps`` (``None``: none does)."""
    from simlab.collab.claims_wga import wga_quad_terms

    if not hasattr(task, "eigenvalues") or task.family != "A":
        return None
    ts = np.arange(steps + 1)
    for eta in etas:
        terms, lam = wga_quad_terms(task, "uniform", float(eta), ts)
        if np.isfinite(measure.t_eps((lam ** 2 * terms).sum(axis=0), eps)):
            return float(eta)
    return None


def p9_rule(m, spec):
    """Holds when BC's upper curve reaches eps and WGA's lower curve never does; violated when
    BC's lower curve never reaches eps or WGA's upper curve does."""
    (bc_lo, wga_lo), (bc_hi, wga_hi) = m.lo, m.hi
    if np.isinf(bc_lo) or np.isfinite(wga_hi):
        verdict = stats.VIOLATED
    elif np.isfinite(bc_hi) and np.isinf(wga_lo):
        verdict = stats.HOLDS
    else:
        verdict = stats.INCONCLUSIVE
    horizon = float(m.prediction[0])
    return stats.Check(verdict, float(m.mean[0]), (float(bc_lo), float(bc_hi)), horizon,
                       (horizon - bc_hi) / horizon if np.isfinite(bc_hi) else -1.0)


register(
    name="P9", title="BC removes the bias floor",
    statement="zeta_bar^2 >> eps, delta = 0: BC-EMA (a_t = 1/(t+1)) reaches eps; uniform WGA "
              "does not (where WGA's exact law does not pass through eps on its way to the "
              "floor)",
    provenance="[V] qualitative", measure=p9_measure, check=Decide(delta=0.01, rule=p9_rule),
    bounds=(th.bc_nc, th.wga_floor), methods=(BCEMA, WGA), family="A",
    params=dict(family="A", d=10, n_aux=7, mu=0.2, L=1.0, zeta=1.0, sigma=1.0,
                bias_directions="aligned", eps=0.05),
    budgets={"quick": dict(replicas=300, steps=1500, n_eta=6),
             "full": dict(replicas=3000, steps=10000, n_eta=8)},
    planted_error="BC's momentum is 0: the correction never updates (BC = WGA)",
    ranges=dict(zeta=("float", 0.6, 3.0), sigma=("float", 0.5, 2.0)),
    spec_ranges=dict(zeta=("float", 0.6, 10.0), sigma=("float", 0.1, 3.0),
                     n_aux=("choice", (1, 3, 7, 15, 31, 63)), d=("choice", (2, 10, 50))),
)


# --- P12 ----------------------------------------------------------------------------------

def p12_measure(r):
    """P12: BC ~ never much worse than Alone: with a tuned over {0.3, 0.1, 0.03} (all below 1:
    a = 1 with coupled samples *is* SGD alone, P13), ``T_eps(BC) <= 1.2 T_eps(Alone)``.

    Both tuned over the same step-size grid with common random numbers; the measurement also
    says which a wins and by how much. Planted error: the correction enters the step with the
    wrong sign (:class:`~simlab.collab.planted.BCEMAFlippedCorrection`).
    """
    from simlab.collab.planted import BCEMAFlippedCorrection

    p, b = r.params, r.budget
    task = presets.make_task(p)
    c = task.constants("uniform")
    etas = measure.eta_grid(c["L"], b["n_eta"])
    moms = list(p["momenta"])
    z = r.z(len(etas) * (len(moms) + 1), two_sided=True)
    run = (p["eps"], b["steps"], b["replicas"], r.seed, z, r.backend)
    alone = measure.time_to_eps_tuned(task, lambda e: SGDAlone(step_size=e), etas, *run)
    r.require(alone.reached, f"Alone does not reach eps={p['eps']} within {b['steps']} steps")
    per_a = {}
    for a in moms:
        cls = BCEMAFlippedCorrection if r.planted else BCEMA
        per_a[a] = measure.time_to_eps_tuned(
            task, lambda e, a=a, cls=cls: cls(step_size=e, momentum=a), etas, *run)
    a_best = min(moms, key=lambda a: (per_a[a].value, per_a[a].hi))
    bc = per_a[a_best]
    ratio = bc.value / alone.value
    lo, hi = min(x.lo for x in per_a.values()) / alone.hi, bc.hi / alone.lo
    words = ", ".join(f"a={a}: {x.value:g}" for a, x in per_a.items())
    return Measurement(x=["T_eps(BC)/T_eps(Alone)"], mean=[ratio], lo=[lo], hi=[hi], z=z,
                       prediction=[float(th.bc_alone())], axis="",
                       details=f"eps={p['eps']:g}: best a={a_best} (T_eps {bc.value:g}, "
                               f"{100 * (1 - ratio):+.0f}% vs Alone's {alone.value:g}); "
                               f"T_eps per a: {words}",
                       series={"a": np.array(moms),
                               "t_eps": np.array([per_a[a].value for a in moms]),
                               "alone": alone.value})


_P12 = dict(
    provenance="[D]", measure=p12_measure,
    check=Within(delta=0.01, kind="upper_bound", hi=0.2), bounds=(th.bc_alone,),
    methods=(BCEMA, SGDAlone), family="A",
    budgets={"quick": dict(replicas=300, steps=600, n_eta=6),
             "full": dict(replicas=3000, steps=3000, n_eta=10)},
    planted_error="BC's correction enters the step with the wrong sign (x -= eta (G - m))",
)
_P12_PARAMS = dict(family="A", d=10, n_aux=7, mu=0.2, L=1.0, zeta=1.0, sigma=1.0,
                   bias_directions="aligned", x0_dist=3.0, eps=0.05, momenta=(0.3, 0.1, 0.03))

register(
    name="P12", title="BC never much worse than Alone",
    statement="for a tuned over {0.3, 0.1, 0.03} (below 1): T_eps(BC) <= 1.2 T_eps(Alone)",
    params=_P12_PARAMS,
    ranges=dict(zeta=("float", 0.0, 2.0), sigma=("float", 0.5, 2.0)),
    spec_ranges=dict(zeta=("float", 0.0, 2.0), sigma=("float", 0.5, 5.0),
                     n_aux=("choice", (1, 3, 7, 15, 31, 63))),
    **_P12,
)

register(
    name="P12-low-noise", title="BC never much worse than Alone (little noise, large bias)",
    statement="as P12 at sigma = 0.125, zeta = 2 (the spec's ranges reach there: sigma in "
              "[0.1, 10])",
    params=dict(_P12_PARAMS, sigma=0.125, zeta=2.0),
    **_P12,
)


# --- P14 ----------------------------------------------------------------------------------

def p14_measure(r):
    """P14: BC and Alone, large t: ``E f_0(x_t) - f* >= tr(Sigma_0 A^{-1})/(2t)`` (LB-stat).

    Family A with an isotropic Hessian (mu = L) and a decreasing step size
    ``eta_t = 1/(mu (1 + t))``, where the floor is tight: SGD alone then averages the noisy
    targets and meets it exactly. WGA is exempt (it can beat the floor on cancelling
    instances). Planted error: the simulation's noise variance is half what the floor assumes
    (a 2x noise-scale error).
    """
    p, b = r.params, r.budget
    task = presets.make_task(p)
    c = task.constants()
    sim = presets.make_task(dict(p, sigma=p["sigma"] / np.sqrt(2.0))) if r.planted else task
    trinv = (c["sigma"][0] ** 2 / c["d"]) * float(np.sum(1.0 / task.eigenvalues))
    eta = 1.0 / c["mu"]
    methods = [SGDAlone(step_size=eta, decay=1.0),
               BCEMA(step_size=eta, momentum="running", decay=1.0)]
    xs, means, ses, floors, who = [], [], [], [], []
    for m in methods:
        tr = simulate(sim, m, steps=b["steps"], replicas=b["replicas"], seed=r.seed,
                      backend=r.backend)
        keep = tr.checkpoints >= p["t_min"]
        ts = tr.checkpoints[keep]
        xs.append(ts)
        means.append(tr.mean("subopt")[keep])
        ses.append(tr.se("subopt")[keep])
        floors.append(th.lb_stat(trinv=trinv, t=ts))
        who += [m.name] * len(ts)
    x = np.concatenate(xs)
    return Measurement(x=x, mean=np.concatenate(means), se=np.concatenate(ses),
                       z=r.z(len(x)), prediction=np.concatenate(floors), axis="t",
                       details="E f_0 - f* of Alone and BC-EMA (eta_t = 1/(mu (1+t))) vs "
                               "tr(Sigma_0 A^-1)/(2t) at every checkpoint t >= "
                               f"{p['t_min']}", series={"method": np.array(who)})


register(
    name="P14", title="Cramer-Rao floor (BC and Alone)",
    statement="family A, BC and Alone only, large t: E f_0(x_t) - f* >= tr(Sigma_0 A^-1)/(2t)"
              " - 3 SE",
    provenance="[D]", measure=p14_measure, check=LowerBound(delta=0.01, tol=0.1),
    bounds=(th.lb_stat,), methods=(BCEMA, SGDAlone), family="A",
    params=dict(family="A", d=10, n_aux=3, mu=1.0, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="random", t_min=10),
    budgets={"quick": dict(replicas=1000, steps=1000), "full": dict(replicas=8000,
                                                                    steps=20000)},
    planted_error="the simulation's noise variance is half what the floor assumes",
    ranges=dict(n_aux=("choice", (1, 3, 7)), sigma=("logfloat", 0.1, 10.0),
                zeta=("logfloat", 1e-3, 3.0)),
    spec_ranges=dict(n_aux=("choice", (1, 3, 7, 15, 31, 63)), sigma=("logfloat", 0.1, 10.0),
                     zeta=("logfloat", 1e-3, 10.0), d=("choice", (2, 10, 50))),
)


# --- P15 ----------------------------------------------------------------------------------

def _slope_over_T(task, make_method, Ts, metric, b, seed, backend):
    means, ses = [], []
    for T in Ts:
        tr = simulate(task, make_method(T), steps=int(T), replicas=b["replicas"], seed=seed,
                      backend=backend, checkpoints=[int(T)], derived=metric == AVERAGE)
        means.append(tr.mean(metric)[-1])
        ses.append(tr.se(metric)[-1])
    return stats.loglog_slope(Ts, means, ses)


def p15_measure(r):
    """P15: rate slopes of SGD alone (zeta = 0).

    Non-convex metric, ``eta = min{1/L, sqrt(2F_0/(L T sigma^2))}``: slope of
    ``(1/T) sum E||grad f_0||^2`` in T within 0.1 of WGA-NC (tuned)'s slope over the same T
    (rate -1/2). PL, ``eta = ln T/(mu T)``: slope of ``E f_0(x_T) - f*`` within 0.15 of
    SGD-PL's slope over the same T (rate -1; ``ln T / T`` has local slope ``-1 + 1/ln T``,
    about -0.88 here, which the spec's fixed window [-1.15, -0.85] sits at the edge of).
    Planted error: the step size ignores T (fixed at the value for the smallest T).
    """
    p, b = r.params, r.budget
    task = presets.make_task(dict(p, zeta=0.0))
    c = task.constants()
    Ts = np.asarray(b["Ts"], dtype=float)
    s2 = float(c["sigma"][0] ** 2)

    def nc_eta(T):
        return min(1.0 / c["L"], np.sqrt(2 * c["F0"] / (c["L"] * T * s2)))

    def pl_eta(T):
        return min(1.0 / c["L"], np.log(T) / (c["mu"] * T))

    def pick(f):
        return (lambda T: f(Ts[0])) if r.planted else f

    nc = _slope_over_T(task, lambda T: SGDAlone(step_size=pick(nc_eta)(T)), Ts, AVERAGE, b,
                       r.seed, r.backend)
    pl = _slope_over_T(task, lambda T: SGDAlone(step_size=pick(pl_eta)(T)), Ts, "subopt", b,
                       r.seed, r.backend)
    z = r.z(2, two_sided=True)
    # the prediction: each Bound's own log-log slope over the measured T (its asymptotic rate,
    # -1/2 and -1, is reached only slowly: ln T / T has local slope -1 + 1/ln T)
    nc_bound = th.wga_nc_tuned(T=Ts, L=c["L"], F0=c["F0"], sigma_a2=s2, zeta2=0.0)
    pl_bound = th.sgd_pl_log(T=Ts, L=c["L"], F0=c["F0"], sigma2=s2, mu=c["mu"])
    pred = [float(np.polyfit(np.log(Ts), np.log(y), 1)[0]) for y in (nc_bound, pl_bound)]
    if p["window"] == "spec":  # the spec's fixed windows: around the asymptotic rates
        pred = [float(th.wga_nc_tuned.rate("T")), float(th.sgd_pl_log.rate("T"))]
    return Measurement(x=["NC", "PL"], mean=[nc.slope, pl.slope], se=[nc.se, pl.se], z=z,
                       prediction=pred, axis="",
                       details=f"T in {Ts.astype(int).tolist()}: NC slope {nc.slope:.3f} +- "
                               f"{z * nc.se:.3f} vs {pred[0]:.3f} +- 0.1 (the Bound's slope "
                               f"there; rate -1/2); PL slope {pl.slope:.3f} +- "
                               f"{z * pl.se:.3f} vs {pred[1]:.3f} +- 0.15 (rate -1)")


_P15 = dict(
    provenance="[D]", measure=p15_measure,
    check=Within(delta=0.01, kind="slope", lo=(-0.1, -0.15), hi=(0.1, 0.15)),
    bounds=(th.wga_nc_tuned, th.sgd_pl_log), methods=(SGDAlone,), family="A",
    budgets={"quick": dict(replicas=1000, Ts=(1000, 2000, 4000, 8000, 16000)),
             "full": dict(replicas=4000, Ts=(1000, 2000, 4000, 8000, 16000, 32000, 64000))},
    planted_error="the step size ignores T (fixed at its value for the smallest T)",
)
_P15_PARAMS = dict(family="A", d=10, n_aux=0, mu=0.5, L=1.0, sigma=1.0, x0_dist=3.0)

register(
    name="P15", title="Rate slopes in T",
    statement="NC, eta ~ T^-1/2 tuned: slope of (1/T) sum E||grad f_0||^2 within 0.1 of "
              "WGA-NC's slope over the same T (rate -1/2); PL, eta = ln T/(mu T): slope of "
              "E f - f* within 0.15 of SGD-PL's (rate -1)",
    params=dict(_P15_PARAMS, window="bound"),
    ranges=dict(mu=("float", 0.3, 1.0), sigma=("float", 0.5, 2.0)),
    spec_ranges=dict(mu=("float", 0.1, 1.0), sigma=("float", 0.1, 10.0),
                     d=("choice", (2, 10, 50))),
    **_P15,
)

register(
    name="P15-spec", title="Rate slopes in T (the spec's fixed windows)",
    statement="NC: slope in [-0.6, -0.4]; PL, eta = ln T/(mu T): slope of E f - f* in "
              "[-1.15, -0.85] (spec 8.3 as written; ln T / T's local slope, about -0.87 at "
              "these T, sits at the window's edge, so this is decisive only at its own setting "
              "and has no property-test ranges)",
    params=dict(_P15_PARAMS, window="spec"),
    **_P15,
)


# --- P10 and P10-A ------------------------------------------------------------------------

def fit_speedup(ns, T, lo, hi, z: float) -> dict:
    """Fit ``T_eps(N) = A/(N+1) + B`` (BC-TIME) by weighted least squares, errors from the
    intervals, inflated by the lack of fit.

    Each ``T_eps`` gets the standard error ``(hi - lo) / (2 z)`` (at least 0.5 step). When the
    model does not fit (``chi^2 / dof > 1``) the covariance is inflated by that factor, and the
    lack-of-fit p-value is reported: a curve that is not ``A/(N+1) + B`` (a speedup that stops
    at 2x, say) is then told apart from linear speedup.

    Returns
    -------
    dict
        ``A, B, se_A, se_B, chi2, dof, p_fit, fitted``.
    """
    ns, T = np.asarray(ns, dtype=np.float64), np.asarray(T, dtype=np.float64)
    se = np.maximum((np.asarray(hi) - np.asarray(lo)) / (2 * z), 0.5)
    X = np.stack([1.0 / (ns + 1), np.ones(len(ns))], axis=1)
    W = 1.0 / se ** 2
    cov = np.linalg.inv((X.T * W) @ X)
    A, B = cov @ ((X.T * W) @ T)
    fitted = X @ np.array([A, B])
    dof = max(len(ns) - 2, 1)
    chi2 = float(np.sum(W * (T - fitted) ** 2))
    cov = cov * max(1.0, chi2 / dof)
    return dict(A=float(A), B=float(B), se_A=float(np.sqrt(cov[0, 0])),
                se_B=float(np.sqrt(cov[1, 1])), chi2=chi2, dof=dof,
                p_fit=float(sps.chi2.sf(chi2, dof)), fitted=fitted)


def p10_measure(r):
    """P10: BC-EMA (a_t = 1/(t+1), delta = 0): ``T_eps(N)``, tuned over eta, follows BC-TIME,
    ``A/(N+1) + B``, with a speedup at ``N_max`` of at least half of linear.

    The spec's criterion (``A > 0`` and ``B <= 0.5 T_eps(0)``) accepts a speedup that stops at
    2x (``B = 0.43 T_eps(0)`` gives ``T_eps(7) = T_eps(0)/2``), so the claim asks for
    ``B <= A/(N_max + 1)``: at ``N_max`` the N-independent part is at most the ``1/(N+1)`` part;
    the fit must also fit (lack-of-fit test, errors inflated by the lack of fit). The spec's
    ratio ``B / T_eps(0)`` is reported beside. The eta grid is finer than the spec's factor 2
    (factor sqrt 2): on a factor-2 grid ``T_eps`` moves by up to 20% between neighbouring
    configurations, which would drown the fit. Planted error: the tasks share one noise draw
    (no variance reduction).
    """
    p, b = r.params, r.budget
    ns = np.asarray(p["Ns"])
    z = r.z(len(ns) * b["n_eta"], two_sided=True)
    res = []
    for n in ns:
        q = dict(p, n_aux=int(n), hess_delta=0.0)
        if r.planted:
            q["sigma"] = p["sigma"] * np.sqrt(n + 1)
        task = presets.make_task(q)
        c = task.constants("uniform")
        if p["family"] == "A":
            r.require(c["L"] / c["mu"] >= 10 * (max(ns) + 1),
                      f"family A needs kappa = L/mu >= 10 (N_max + 1) = {10 * (max(ns) + 1)}")
        res.append(measure.time_to_eps_tuned(
            task, lambda e: BCEMA(step_size=e, momentum="running"),
            measure.eta_grid(c["L"], b["n_eta"], np.sqrt(2.0)), p["eps"], b["steps"],
            b["replicas"], r.seed, z, r.backend))
    T = np.array([x.value for x in res])
    r.require(bool(np.all(np.isfinite(T))),
              f"T_eps not reached for some N within {b['steps']} steps: {T.tolist()}")
    fit = fit_speedup(ns, T, [x.lo for x in res], [x.hi for x in res], z)
    z1 = r.z(2)
    n_max = int(max(ns))
    detail = ", ".join(f"N={n}: {x.value:g} [{x.lo:g}, {x.hi:g}]" for n, x in zip(ns, res))
    lin = fit["A"] / (n_max + 1)
    return Measurement(
        x=["B"], mean=[fit["B"]], lo=[fit["B"] - z1 * fit["se_B"]],
        hi=[fit["B"] + z1 * fit["se_B"]], z=z1, prediction=[lin], axis="",
        details=(f"family {p['family']}, eps={p['eps']:g}; BC-TIME fit T = A/(N+1) + B: "
                 f"A={fit['A']:.1f} +- {z1 * fit['se_A']:.1f}, B={fit['B']:.1f} +- "
                 f"{z1 * fit['se_B']:.1f} vs A/(N_max+1)={lin:.1f} (lack of fit "
                 f"chi2={fit['chi2']:.2f} on {fit['dof']} dof, p={fit['p_fit']:.3g}); speedup "
                 f"T_eps(0)/T_eps({n_max}) = {T[0] / T[-1]:.2f} (linear: {n_max + 1}); the "
                 f"spec's B/T_eps(0) = {fit['B'] / T[0]:.2f} (<= 0.5); T_eps: {detail}"),
        series=dict(fit, N=ns, t_eps=T, t_lo=np.array([x.lo for x in res]),
                    t_hi=np.array([x.hi for x in res]), z1=z1, n_max=n_max))


def p10_rule(m, spec):
    """Holds when the model fits, ``A - z se_A > 0`` and ``B + z se_B <= (A - z se_A) /
    (N_max + 1)``; violated when the model is rejected (lack-of-fit p < delta),
    ``A + z se_A <= 0`` or ``B - z se_B > (A + z se_A) / (N_max + 1)``."""
    s = m.series
    z1, k = s["z1"], s["n_max"] + 1
    A, B, sa, sb = s["A"], s["B"], s["se_A"], s["se_B"]
    if s["p_fit"] < spec.delta or A + z1 * sa <= 0 or B - z1 * sb > (A + z1 * sa) / k:
        verdict = stats.VIOLATED
    elif A - z1 * sa > 0 and B + z1 * sb <= (A - z1 * sa) / k:
        verdict = stats.HOLDS
    else:
        verdict = stats.INCONCLUSIVE
    return stats.Check(verdict, float(B), (float(m.lo[0]), float(m.hi[0])), float(A / k),
                       float((A / k - m.hi[0]) / max(abs(A / k), 1e-300)))


_P10 = dict(
    title="BC linear speedup (delta = 0)", provenance="[D-heuristic], [V] claim",
    measure=p10_measure, check=Decide(delta=0.01, kind="speedup", rule=p10_rule),
    bounds=(th.bc_time,), methods=(BCEMA,),
    planted_error="the tasks share one noise draw (no variance reduction)",
)

register(
    name="P10",
    statement="family C (non-convex), delta = 0, eps << L F_0/(N+1): T_eps(N) = A/(N+1) + B "
              "fits, A > 0 and B <= A/(N_max+1) (speedup at N_max at least half of linear)",
    family="C",
    params=dict(family="C", d=10, Ns=(0, 1, 3, 7), kappa=2.0, zeta=1.0, sigma=1.0,
                bias_directions="aligned", x0_dist=3.0, eps=0.05),
    budgets={"quick": dict(replicas=400, steps=400, n_eta=13),
             "full": dict(replicas=4000, steps=1000, n_eta=17)},
    ranges=dict(kappa=("float", 1.0, 3.0), sigma=("float", 0.7, 1.5)),
    spec_ranges=dict(kappa=("float", 0.0, 4.0), sigma=("float", 0.3, 3.0),
                     Ns=("choice", ((0, 1, 3, 7), (0, 3, 15, 63))), d=("choice", (2, 10, 50))),
    **_P10,
)

register(
    name="P10-A",
    statement="family A with kappa = L/mu >= 10 (N_max + 1), delta = 0: T_eps(N) = A/(N+1) + "
              "B fits, A > 0 and B <= A/(N_max+1)", family="A",
    params=dict(family="A", d=10, Ns=(0, 1, 3, 7), mu=0.01, L=1.0, zeta=1.0, sigma=1.0,
                bias_directions="aligned", x0_dist=3.0, eps=0.05),
    budgets={"quick": dict(replicas=400, steps=1500, n_eta=13),
             "full": dict(replicas=4000, steps=4000, n_eta=17)},
    ranges=dict(sigma=("float", 0.7, 1.5)),
    spec_ranges=dict(sigma=("float", 0.3, 3.0), d=("choice", (2, 10, 50))),
    **_P10,
)


# --- P11 / P16: orderings -------------------------------------------------------------------

def monotone(values, los, his, increasing: bool, tol: float) -> stats.Check:
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


def p11_measure(r):
    """P11: fixed N and eps: ``T_eps(BC)`` is non-decreasing in delta (within ``tol``), and at
    delta = L the ratio ``T_eps(BC)/T_eps(Alone) >= 0.5``, judged where both reach eps. Family B
    with positive Hessian perturbations (``A_i = A_0 + delta Q_i Q_i^T``, PD for every delta).

    A delta at which BC never reaches eps (or diverges at every step size) is its own outcome:
    it is larger than any finite ``T_eps`` in the ordering, and at delta = L it makes the ratio
    inconclusive (with the reason), not infinite. Planted error: every BC run sees collaborators
    identical to task 0 (zeta = delta = 0) and its correction frozen at 0, i.e. it is WGA
    without heterogeneity and keeps WGA's full speedup at delta = L, which the claim says BC
    cannot.
    """
    p, b = r.params, r.budget
    deltas = list(p["deltas"])
    z = r.z((len(deltas) + 1) * b["n_eta"], two_sided=True)
    res = []
    for dl in deltas:
        task = presets.make_task(dict(p, hess_delta=0.0, zeta=0.0) if r.planted else
                                 dict(p, hess_delta=dl))
        L_max = float(np.max(task.constants("uniform")["L_tasks"]))
        mom = 0.0 if r.planted else p["momentum"]
        res.append(measure.time_to_eps_tuned(
            task, lambda e, mom=mom: BCEMA(step_size=e, momentum=mom),
            measure.eta_grid(L_max, b["n_eta"]), p["eps"], b["steps"], b["replicas"], r.seed,
            z, r.backend))
    task = presets.make_task(dict(p, hess_delta=deltas[-1]))
    alone = measure.time_to_eps_tuned(task, lambda e: SGDAlone(step_size=e),
                                      measure.eta_grid(task.constants()["L"], b["n_eta"]),
                                      p["eps"], b["steps"], b["replicas"], r.seed, z, r.backend)
    L0 = task.constants()["L"]
    r.require(deltas[-1] >= L0, f"the ratio is judged at delta >= L = {L0}, the grid ends at "
                                f"{deltas[-1]}")
    last = res[-1]
    r.require(alone.reached and last.reached,
              f"at delta = {deltas[-1]:g} {'Alone' if not alone.reached else 'BC'} does not "
              f"reach eps = {p['eps']} within {b['steps']} steps (never reached is its own "
              f"outcome, not an infinite ratio)")
    ratio = last.value / alone.value
    detail = ", ".join(f"delta={dl:g}: {x.value:g} [{x.lo:g}, {x.hi:g}]"
                       for dl, x in zip(deltas, res))
    return Measurement(
        x=deltas + ["ratio at delta = L"], mean=[x.value for x in res] + [ratio],
        lo=[x.lo for x in res] + [last.lo / alone.hi],
        hi=[x.hi for x in res] + [last.hi / alone.lo], z=z, prediction=[np.nan] * len(res)
        + [0.5], axis="delta",
        details=f"T_eps(BC): {detail}; Alone at delta={deltas[-1]:g}: {alone.value:g}; ratio "
                f"{ratio:.3g} [{last.lo / alone.hi:.3g}, {last.hi / alone.lo:.3g}] (>= 0.5)",
        series={"deltas": np.array(deltas), "alone": alone.value})


def p11_rule(m, spec):
    """The worse of: ``T_eps(BC)`` non-decreasing in delta (``tol``), and the ratio at
    delta = L at least its prediction 0.5."""
    n = len(m.mean) - 1
    mono = monotone(m.mean[:n], m.lo[:n], m.hi[:n], True, spec.tol)
    ratio = stats.interval_check(m.mean[n], m.lo[n], m.hi[n], lo=m.prediction[n])
    return stats.worst([mono, ratio])


register(
    name="P11", title="BC degrades with delta",
    statement="fixed N, eps: T_eps(BC) is non-decreasing in delta; at delta >= L the ratio "
              "T_eps(BC)/T_eps(Alone) >= 0.5",
    provenance="[V-TMLR] qualitative", measure=p11_measure,
    check=Decide(delta=0.01, tol=0.15, rule=p11_rule), bounds=(th.bc_nc,),
    methods=(BCEMA, SGDAlone), family="B",
    params=dict(family="B", d=10, n_aux=7, mu=0.2, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="aligned", hessian_signs="positive", x0_dist=2.0,
                deltas=(0.0, 0.3, 1.0), momentum="running", eps=0.05),
    budgets={"quick": dict(replicas=300, steps=600, n_eta=7),
             "full": dict(replicas=3000, steps=3000, n_eta=9)},
    planted_error="BC runs see identical collaborators and a frozen correction (WGA, no "
                  "heterogeneity)",
    ranges=dict(zeta=("float", 0.3, 1.0), sigma=("float", 0.7, 1.5)),
    spec_ranges=dict(zeta=("float", 0.0, 3.0), sigma=("float", 0.3, 3.0),
                     n_aux=("choice", (1, 3, 7, 15)), d=("choice", (2, 10, 50))),
)


def p16_measure(r):
    """P16 (TMLR): AuxMOM and AuxMVR final error is non-increasing in rho in [0, 1) at fixed
    delta (family E), and falls: the error at the largest rho is at least ``drop`` below the
    error at rho = 0 (a flat curve is not "correlated noise helps"). AUX-CORR: the bias
    estimate's variance falls with rho.

    ``coupled`` selects the reading of spec 3.3: ``False``, the pseudo-gradient ``g_h(x_t)`` is
    an independent draw ("cheap gradient, possibly a large batch"); ``True``, it reuses the
    bias estimate's sample (spec 3.3 read literally). Planted error: the correction never
    updates (momentum 0) and f and h are averaged (alpha_0 = 1/2): then the direction's noise
    grows with rho.
    """
    p, b = r.params, r.budget
    rhos = list(p["rhos"])
    z = r.z(2 * len(rhos), two_sided=True)
    found = {}
    for label in ("AuxMOM", "AuxMVR"):
        means, ses = [], []
        for rho in rhos:
            task = presets.make_task(dict(p, rho=rho))
            eta = p["eta_L"] / task.constants()["L"]
            if r.planted:
                w = (0.5,) + (0.5 / task.n_aux,) * task.n_aux
                m = BCEMA(weights=w, step_size=eta, momentum=0.0) if label == "AuxMOM" else \
                    BCMVR(weights=w, step_size=eta, momentum=0.0)
            else:
                cls = AuxMOM if label == "AuxMOM" else AuxMVR
                m = cls(step_size=eta, momentum=p["momentum"], coupled=p["coupled"])
            mm, se = measure.final_error(task, m, b["steps"], b["replicas"], r.seed, r.backend,
                                         "subopt", b["window"])
            means.append(mm)
            ses.append(se)
        found[label] = (np.array(means), np.array(ses))
    s = float(p["sigma"]) ** 2
    pred = [float(th.aux_corr(sigma_f2=s, sigma_h2=s, rho=rho)) for rho in rhos]
    x, mean, se = [], [], []
    for label, (mm, ss) in found.items():
        x += [f"{label} rho={rho}" for rho in rhos]
        mean += list(mm)
        se += list(ss)
    return Measurement(
        x=x, mean=mean, se=se, z=z, prediction=pred * 2, axis="method, rho",
        details="; ".join(f"{label}: final E f_0 - f* at rho={rhos}: "
                          + ", ".join(f"{v:.4g}" for v in mm) for label, (mm, _) in
                          found.items())
        + f" (AUX-CORR: {', '.join(f'{v:.3g}' for v in pred)})",
        series={"rhos": np.array(rhos), **{k: v for k, v in found.items()}})


def p16_rule(m, spec):
    """Per method: non-increasing in rho (within ``tol``) and a drop of at least ``drop``
    between the first and the last rho (judged on the ratio's interval); the worst decides."""
    lo, hi = m.intervals()
    k = len(m.series["rhos"])
    checks = []
    for j in range(len(m.mean) // k):
        sl = slice(j * k, (j + 1) * k)
        mono = monotone(m.mean[sl], lo[sl], hi[sl], False, spec.tol)
        first, last = j * k, (j + 1) * k - 1
        ratio = m.mean[last] / m.mean[first]
        r_lo = max(lo[last], 0.0) / hi[first]
        r_hi = hi[last] / max(lo[first], 1e-300)
        checks += [mono, stats.interval_check(ratio, r_lo, r_hi, hi=1.0 - P16_DROP)]
    return stats.worst(checks)


#: The least relative fall of the error from rho = 0 to the largest rho that "helps" means.
P16_DROP = 0.1

_P16 = dict(
    provenance="[V] qualitative (TMLR)", measure=p16_measure,
    check=Decide(delta=0.01, tol=0.05, rule=p16_rule), bounds=(th.aux_corr,),
    methods=(AuxMOM, AuxMVR), family="E",
    budgets={"quick": dict(replicas=400, steps=600, window=100),
             "full": dict(replicas=4000, steps=3000, window=500)},
    planted_error="the correction never updates and f and h are averaged (alpha_0 = 1/2)",
    ranges=dict(sigma=("float", 0.5, 2.0), momentum=("float", 0.05, 0.5)),
    spec_ranges=dict(sigma=("float", 0.1, 5.0), momentum=("float", 0.01, 0.9),
                     hess_delta=("float", 0.0, 0.2)),
)

_P16_PARAMS = dict(family="E", d=10, n_aux=1, mu=0.2, L=1.0, zeta=0.5, sigma=1.0,
                   bias_directions="aligned", hess_delta=0.1, rhos=(0.0, 0.5, 0.9),
                   momentum=0.1, eta_L=0.3)

register(
    name="P16", title="Correlated noise helps AuxMOM/AuxMVR",
    statement="AuxMOM/AuxMVR final error is non-increasing in rho in [0, 1) at fixed delta "
              "(independent pseudo-gradient draw), and falls by at least 10% to rho = 0.9",
    params=dict(_P16_PARAMS, coupled=False), **_P16,
)

register(
    name="P16-coupled", title="Correlated noise helps AuxMOM/AuxMVR (coupled reading)",
    statement="as P16, with the pseudo-gradient drawn from the bias estimate's own sample "
              "(spec 3.3 read literally)",
    params=dict(_P16_PARAMS, coupled=True), **_P16,
)
