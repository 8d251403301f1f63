"""Claims P1 to P8 of the collab spec (section 8.3): weighted gradient averaging.

Each claim is declarative (:mod:`simlab.claims`): a measurement ``measure(run) ->
Measurement`` that simulates and evaluates its prediction (a Bound of :mod:`theory.collab`),
and a check spec that judges it. ``run.planted`` runs the claim's planted error, a realistic
bug that must turn it ``violated``. Statistical settings are declared per claim: ``delta``
(false-failure budget of the check, Bonferroni over what it looks at) and ``tol`` (relative
tolerance on the bound).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from simlab.claims import (
    Agreement,
    Claim,
    Decide,
    LowerBound,
    Measurement,
    UpperBound,
    Within,
    registry,
)
from simlab.collab import measure, presets
from simlab.collab.interface import AVERAGE
from simlab.collab.methods import WGA
from simlab.collab.weights import beta_weights
from simlab.engine import stats
from simlab.engine.simulate import simulate
from theory import collab as th


def register(**kw) -> Claim:
    """Register a collab claim: ``name="P1"`` becomes the id ``"collab.P1"``."""
    return registry.register(Claim(id=f"collab.{kw.pop('name')}", **kw))


# --- P1 -----------------------------------------------------------------------------------

def p1_measure(r):
    """P1: ``(1/T) sum E||grad f_0||^2 <= 2F_0/(eta T) + L eta sigma_a^2 + zeta_bar_a^2`` [D],
    on families A and C (the spec names both), at every checkpoint.

    Planted error: WGA ignores its weights (runs uniform) while the bound uses the declared
    weights.
    """
    p, b = r.params, r.budget
    xs, fams, means, ses, bounds, words = [], [], [], [], [], []
    for fam in p["families"]:
        task = presets.make_task(dict(p, family=fam))
        weights = beta_weights(p["beta"], task.n_aux)
        c = task.constants(weights)
        eta = p["eta_L"] / c["L"]
        tr = simulate(task, WGA(weights="uniform" if r.planted else weights, step_size=eta),
                      steps=b["steps"], replicas=b["replicas"], seed=r.seed, backend=r.backend,
                      derived=[AVERAGE])
        ts = tr.checkpoints[1:]
        xs.append(ts)
        fams += [fam] * len(ts)
        means.append(tr.mean(AVERAGE)[1:])
        ses.append(tr.se(AVERAGE)[1:])
        bounds.append(th.wga_nc(T=ts, eta=eta, L=c["L"], F0=c["F0"],
                                sigma_a2=c["sigma_alpha_sq"], zeta2=c["zeta_bar"] ** 2))
        words.append(f"family {fam}: zeta_bar^2={c['zeta_bar'] ** 2:.3g}, "
                     f"sigma_a^2={c['sigma_alpha_sq']:.3g}, L={c['L']:g}")
    x = np.concatenate(xs)
    return Measurement(x=x, mean=np.concatenate(means), se=np.concatenate(ses),
                       z=r.z(len(x)), prediction=np.concatenate(bounds), axis="T",
                       details="avg ||grad f_0||^2 vs WGA-NC at every checkpoint; "
                               + "; ".join(words), series={"family": np.array(fams)})


register(
    name="P1", title="WGA-NC bound",
    statement="(1/T) sum E||grad f_0||^2 <= 2F_0/(eta T) + L eta sigma_a^2 + zeta_bar_a^2 "
              "(families A, C)",
    provenance="[D]", measure=p1_measure, check=UpperBound(delta=0.01, tol=0.02),
    bounds=(th.wga_nc,), methods=(WGA,), family="A, C",
    params=dict(families=("A", "C"), d=10, n_aux=7, mu=0.1, L=1.0, kappa=2.0, zeta=1.0,
                sigma=1.0, bias_directions="aligned", beta=0.1, eta_L=0.5),
    budgets={"quick": dict(replicas=256, steps=2000), "full": dict(replicas=1024, steps=20000)},
    planted_error="WGA ignores its weights (runs uniform); the bound keeps the declared ones",
    ranges=dict(d=("choice", (2, 10)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                beta=("float", 0.0, 1.0), eta_L=("float", 0.05, 1.0), mu=("logfloat", 1e-3, 1.0),
                kappa=("float", 0.0, 3.0),
                bias_directions=("choice", ("aligned", "random", "cancelling"))),
    spec_ranges=dict(d=("choice", (2, 10, 50)), n_aux=("choice", (0, 1, 3, 7, 15, 31, 63)),
                     sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                     L=("logfloat", 1.0, 100.0), mu=("logfloat", 1e-3, 1.0),
                     eta_L=("float", 0.01, 1.0), beta=("float", 0.0, 1.0)),
)


# --- P2 -----------------------------------------------------------------------------------

def p2_measure(r):
    """P2: ``E f_0(x_T) - f* <= (1 - mu eta)^T F_0 + zeta_bar^2/(2mu) + L eta sigma_a^2/(2mu)``.

    Planted error: the simulation runs twice the step size the bound assumes.
    """
    p, b = r.params, r.budget
    task = presets.make_task(p)
    weights = beta_weights(p["beta"], task.n_aux)
    c = task.constants(weights)
    eta = p["eta_L"] / c["L"]
    tr = simulate(task, WGA(weights=weights, step_size=eta * (2.0 if r.planted else 1.0)),
                  steps=b["steps"], replicas=b["replicas"], seed=r.seed, backend=r.backend)
    bound = th.wga_pl(T=tr.checkpoints, eta=eta, mu=c["mu"], L=c["L"], F0=c["F0"],
                      sigma_a2=c["sigma_alpha_sq"], zeta2=c["zeta_bar"] ** 2)
    return Measurement(x=tr.checkpoints, mean=tr.mean("subopt"), se=tr.se("subopt"),
                       z=r.z(len(tr.checkpoints)), prediction=bound, axis="T",
                       details="E f_0(x_T) - f* vs WGA-PL at every checkpoint")


register(
    name="P2", title="WGA-PL bound",
    statement="E f_0(x_T) - f* <= (1-mu eta)^T F_0 + zeta_bar^2/(2mu) + L eta sigma_a^2/(2mu)",
    provenance="[D]", measure=p2_measure, check=UpperBound(delta=0.01, tol=0.02),
    bounds=(th.wga_pl,), methods=(WGA,), family="A",
    params=dict(family="A", d=10, n_aux=7, mu=1.0, L=1.0, zeta=0.1, sigma=1.0,
                bias_directions="random", beta=0.5, eta_L=0.5),
    budgets={"quick": dict(replicas=512, steps=400), "full": dict(replicas=4096, steps=4000)},
    planted_error="the simulation runs twice the step size the bound assumes",
    ranges=dict(d=("choice", (2, 10)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                beta=("float", 0.0, 1.0), eta_L=("float", 0.05, 1.0), mu=("float", 0.05, 1.0)),
    spec_ranges=dict(d=("choice", (2, 10, 50)), n_aux=("choice", (0, 1, 3, 7, 15, 31, 63)),
                     sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                     L=("logfloat", 1.0, 100.0), mu=("logfloat", 1e-3, 1.0),
                     eta_L=("float", 0.01, 1.0)),
)


# --- P3 and P7: the WGA-QUAD closed form, coordinate by coordinate ------------------------

def wga_quad_terms(task, weights, eta: float, t):
    """``E[(x_t - x_0*)_j^2]`` by WGA-QUAD for every coordinate ``j`` (shape ``(d, K)``) and the
    eigenvalues: family A has a diagonal shared Hessian, so the law is per coordinate."""
    c = task.constants(weights)
    lam = task.eigenvalues[:, None]
    xs = task.optima()
    xbar = c["weights"] @ xs
    x0 = np.zeros(task.d)
    u, v = (x0 - xbar)[:, None], (xbar - xs[0])[:, None]
    s2c = c["sigma_alpha_sq"] / task.d
    return th.wga_quad(t=np.asarray(t, dtype=np.float64)[None, :], eta=eta, lam=lam, u=u, v=v,
                       s2c=s2c), lam


def p3_measure(r):
    """P3: the Monte Carlo mean of ``||x_t - x_0*||^2`` agrees with WGA-QUAD at every checkpoint.

    Planted error: the simulation's step size is 10% larger than the one the law uses.
    """
    p, b = r.params, r.budget
    task = presets.make_task(p)
    weights = beta_weights(p["beta"], task.n_aux)
    eta = p["eta_L"] / task.constants()["L"]
    tr = simulate(task, WGA(weights=weights, step_size=eta * (1.1 if r.planted else 1.0)),
                  steps=b["steps"], replicas=b["replicas"], seed=r.seed, backend=r.backend)
    terms, _ = wga_quad_terms(task, weights, eta, tr.checkpoints)
    return Measurement(x=tr.checkpoints, mean=tr.mean("dist_sq"), se=tr.se("dist_sq"),
                       z=r.z(len(tr.checkpoints), two_sided=True),
                       prediction=terms.sum(axis=0), axis="t",
                       details="MC mean of ||x_t - x_0*||^2 vs WGA-QUAD summed over "
                               "coordinates, at every checkpoint")


register(
    name="P3", title="WGA-QUAD exactness",
    statement="MC mean of ||x_t - x_0*||^2 matches the closed form within z SE for all t",
    provenance="[D]", measure=p3_measure, check=Agreement(delta=0.01, max_rel_se=0.02),
    bounds=(th.wga_quad,), methods=(WGA,), family="A",
    params=dict(family="A", d=10, n_aux=7, mu=0.1, L=1.0, zeta=0.5, sigma=1.0,
                bias_directions="random", beta=0.5, eta_L=0.5),
    budgets={"quick": dict(replicas=3000, steps=300), "full": dict(replicas=20000, steps=3000)},
    planted_error="the simulation's step size is 10% off the law's",
    ranges=dict(d=("choice", (10,)), n_aux=("choice", (0, 1, 3, 7)),
                sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                beta=("float", 0.0, 1.0), eta_L=("float", 0.05, 1.0), mu=("float", 0.1, 1.0)),
    spec_ranges=dict(d=("choice", (2, 10, 50)), n_aux=("choice", (0, 1, 3, 7, 15, 31, 63)),
                     sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                     mu=("float", 0.01, 1.0), eta_L=("float", 0.01, 1.0)),
)


def p7_measure(r):
    """P7: with cancelling biases, uniform WGA's error is the noise floor only (no zeta).

    The Monte Carlo at large zeta must agree, at every checkpoint, with WGA-QUAD's law of the
    same instance at zeta = 0. Planted error: the task builds aligned instead of cancelling
    shifts.
    """
    p, b = r.params, r.budget
    q = dict(p, bias_directions="aligned" if r.planted else "cancelling")
    task = presets.make_task(q)
    task0 = presets.make_task(dict(q, zeta=0.0))
    eta = p["eta_L"] / task.constants()["L"]
    tr = simulate(task, WGA(step_size=eta), steps=b["steps"], replicas=b["replicas"],
                  seed=r.seed, backend=r.backend)
    terms, lam = wga_quad_terms(task0, "uniform", eta, tr.checkpoints)
    return Measurement(x=tr.checkpoints, mean=tr.mean("subopt"), se=tr.se("subopt"),
                       z=r.z(len(tr.checkpoints), two_sided=True),
                       prediction=(0.5 * lam * terms).sum(axis=0), axis="t",
                       details=f"zeta={p['zeta']} cancelling vs WGA-QUAD's law at zeta=0")


register(
    name="P7", title="Cancelling biases: noise floor only",
    statement="family A, cancelling directions: uniform WGA error -> noise floor only; "
              "no zeta dependence",
    provenance="[D]", measure=p7_measure, check=Agreement(delta=0.01, max_rel_se=0.05),
    bounds=(th.wga_quad,), methods=(WGA,), family="A",
    params=dict(family="A", d=10, n_aux=4, mu=0.2, L=1.0, zeta=3.0, sigma=1.0, eta_L=0.5),
    budgets={"quick": dict(replicas=2000, steps=300), "full": dict(replicas=20000,
                                                                   steps=3000)},
    planted_error="the task builds aligned instead of cancelling shifts",
    ranges=dict(n_aux=("choice", (2, 3, 4, 7)), zeta=("logfloat", 1e-3, 10.0),
                sigma=("logfloat", 0.1, 10.0), eta_L=("float", 0.1, 1.0)),
    spec_ranges=dict(n_aux=("choice", (2, 3, 7, 15, 31, 63)), zeta=("logfloat", 1e-3, 10.0),
                     sigma=("logfloat", 0.1, 10.0), eta_L=("float", 0.05, 1.0),
                     d=("choice", (2, 10, 50))),
)


# --- P4 -----------------------------------------------------------------------------------

def stationary_steps(task, eta_L: float, steps: int, window: int, limit: int = 200_000) -> int:
    """A horizon at which WGA on family A (zeta = 0) is stationary over the last ``window``
    steps: WGA-QUAD's transient (the mean part) is below 1% of its noise part there.

    Doubles ``steps`` until it is (at most ``limit``): with a small curvature or step size the
    budget's horizon may still be in the transient, which does not scale as 1/(N+1).
    """
    eta = eta_L / task.constants()["L"]
    T = int(steps)
    while T < limit:
        terms, lam = wga_quad_terms(task, "uniform", eta, [T - window])
        mean, _ = wga_quad_terms(replace(task, sigma=0.0), "uniform", eta, [T - window])
        if float((lam * mean).sum()) <= 0.01 * float((lam * (terms - mean)).sum()):
            break
        T *= 2
    return T


def p4_measure(r):
    """P4: with zeta_bar = 0 and uniform weights, the stationary error scales as 1/(N+1).

    Measured: the log-log slope of the stationary ``E f_0 - f*`` against ``N + 1``; the
    prediction is WGA-VAR's rate in N (-1), the check allows +-0.1. Planted error: the tasks'
    noises are one shared draw (A2' broken), simulated as each task's noise scaled by
    ``sqrt(N+1)`` (the same law under uniform weights).
    """
    p, b = r.params, r.budget
    means, ses, ns = [], [], np.asarray(p["Ns"])
    steps = stationary_steps(presets.make_task(dict(p, n_aux=int(ns.max()), zeta=0.0)),
                             p["eta_L"], b["steps"], b["window"])
    for n in ns:
        q = dict(p, n_aux=int(n), zeta=0.0)
        if r.planted:
            q["sigma"] = p["sigma"] * np.sqrt(n + 1)
        task = presets.make_task(q)
        eta = p["eta_L"] / task.constants()["L"]
        m, s = measure.final_error(task, WGA(step_size=eta), steps, b["replicas"],
                                   r.seed, r.backend, "subopt", b["window"])
        means.append(m)
        ses.append(s)
    sl = stats.loglog_slope(ns + 1, means, ses)
    return Measurement(x=["slope in N+1"], mean=[sl.slope], se=[sl.se], z=r.z(1, True),
                       prediction=[float(th.wga_var.rate("N"))], axis="",
                       details=f"slope of stationary E f_0 - f* vs N+1 over N={ns.tolist()}, "
                               f"measured over the last {b['window']} of T={steps} steps",
                       series={"N": ns, "mean": np.array(means), "se": np.array(ses)})


register(
    name="P4", title="Variance scales as 1/(N+1)",
    statement="zeta_bar = 0, uniform alpha, fixed eta: stationary error vs N+1 has log-log "
              "slope in [-1.1, -0.9]",
    provenance="[D]", measure=p4_measure, check=Within(delta=0.01, kind="slope", lo=-0.1,
                                                       hi=0.1),
    bounds=(th.wga_var,), methods=(WGA,), family="A",
    params=dict(family="A", d=10, Ns=(0, 1, 3, 7, 15), mu=0.1, L=1.0, sigma=1.0, eta_L=0.5),
    budgets={"quick": dict(replicas=400, steps=400, window=20),
             "full": dict(replicas=4000, steps=2000, window=100)},
    planted_error="the tasks share one noise draw (independence A2' broken)",
    ranges=dict(sigma=("logfloat", 0.1, 10.0), eta_L=("float", 0.25, 1.0),
                mu=("float", 0.1, 1.0)),
    spec_ranges=dict(sigma=("logfloat", 0.1, 10.0), eta_L=("float", 0.1, 1.0),
                     mu=("float", 0.05, 1.0), d=("choice", (2, 10, 50))),
)


# --- P5 -----------------------------------------------------------------------------------

def p5_measure(r):
    """P5: zeta_bar^2 <= eps/4, eps <= 0.2 sigma^2/(N+1), eta tuned on a grid:
    ``(N+1) T_eps(N) / T_eps(0)`` lies in ``[0.5, 2]`` for every N (WGA-LS predicts 1).

    Cancelling biases give zeta_bar = 0 with large individual zeta. Planted error: the tasks
    share one noise draw (no variance reduction).
    """
    p, b = r.params, r.budget
    ns = list(p["Ns"])
    eps = p["eps_factor"] * p["sigma"] ** 2 / (max(ns) + 1)
    z = r.z(len(ns) * b["n_eta"], two_sided=True)
    res, preds = [], []
    for n in ns:
        q = dict(p, n_aux=n)
        if r.planted:
            q["sigma"] = p["sigma"] * np.sqrt(n + 1)
        task = presets.make_task(q)
        c = task.constants("uniform")
        r.require(c["zeta_bar"] ** 2 <= eps / 4,
                  f"zeta_bar^2 = {c['zeta_bar'] ** 2:.3g} > eps/4 = {eps / 4:.3g} at N={n}")
        res.append(measure.time_to_eps_tuned(
            task, lambda eta: WGA(step_size=eta), measure.eta_grid(c["L"], b["n_eta"]), eps,
            b["steps"], b["replicas"], r.seed, z, r.backend))
        preds.append(float(th.wga_ls_n(L=c["L"], F0=c["F0"], sigma2=p["sigma"] ** 2, N=n,
                                        eps=eps, zeta2=c["zeta_bar"] ** 2)))
    t0 = res[0]
    r.require(t0.reached, f"T_eps(N=0) not reached within {b['steps']} steps")
    ratio = [(n + 1) * x.value / t0.value for n, x in zip(ns[1:], res[1:])]
    lo = [(n + 1) * x.lo / t0.hi for n, x in zip(ns[1:], res[1:])]
    hi = [(n + 1) * x.hi / t0.lo for n, x in zip(ns[1:], res[1:])]
    pred = [(n + 1) * pn / preds[0] for n, pn in zip(ns[1:], preds[1:])]
    detail = ", ".join(f"N={m}: T={x.value:g} [{x.lo:g}, {x.hi:g}] (eta={x.eta:g})"
                       for m, x in zip(ns, res))
    return Measurement(x=ns[1:], mean=ratio, lo=lo, hi=hi, z=z, prediction=pred, axis="N",
                       details=f"eps={eps:.3g}; (N+1) T_eps(N)/T_eps(0); T_eps: {detail}",
                       series={"N": np.array(ns), "t_eps": np.array([x.value for x in res]),
                               "t_lo": np.array([x.lo for x in res]),
                               "t_hi": np.array([x.hi for x in res])})


register(
    name="P5", title="WGA time-to-eps linear speedup",
    statement="zeta_bar^2 <= eps/4 and eps <= 0.2 sigma^2/(N+1): with eta tuned by grid, "
              "(N+1) T_eps(N)/T_eps(0) in [0.5, 2]",
    provenance="[D], [V] qualitative", measure=p5_measure,
    check=Within(delta=0.01, kind="speedup", lo=-0.5, hi=1.0), bounds=(th.wga_ls_n,),
    methods=(WGA,), family="A",
    params=dict(family="A", d=10, Ns=(0, 1, 3, 7), mu=0.2, L=1.0, zeta=1.0, sigma=1.0,
                bias_directions="cancelling", x0_dist=3.0, eps_factor=0.2),
    budgets={"quick": dict(replicas=600, steps=400, n_eta=8),
             "full": dict(replicas=4000, steps=1000, n_eta=10)},
    planted_error="the tasks share one noise draw (no variance reduction)",
    ranges=dict(sigma=("logfloat", 0.3, 3.0), zeta=("logfloat", 1e-3, 10.0)),
    spec_ranges=dict(sigma=("logfloat", 0.1, 10.0), zeta=("logfloat", 1e-3, 10.0),
                     d=("choice", (2, 10, 50))),
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


def p6_measure(r):
    """P6: zeta_bar^2 >= 4 eps: uniform WGA's plateau of E||grad f_0||^2 is >= 0.9 zeta_bar^2
    (WGA-FLOOR) and it never reaches eps (family C, delta = 0; start at
    x_0* + 2 (xbar - x_0*)).

    Planted error: the simulated collaborators have no shift (v_i = 0) while the claim's
    zeta_bar is the declared task's.
    """
    p, b = r.params, r.budget
    q = dict(p, hess_delta=0.0)
    base = presets.make_task(q)
    c = base.constants("uniform")
    zb2 = c["zeta_bar"] ** 2
    eps = zb2 / 4
    xbar = _wga_fixed_point_c(base, c["weights"])
    inst = base.instance()
    x0 = tuple(inst["c"] + 2 * (xbar - inst["c"]))
    sim = replace(presets.make_task(dict(q, zeta=0.0 if r.planted else p["zeta"])), x0=x0)
    eta = p["eta_L"] / c["L"]
    tr = simulate(sim, WGA(step_size=eta), steps=b["steps"], replicas=b["replicas"],
                  seed=r.seed, backend=r.backend, checkpoints="all")
    g = tr.metric("grad_norm_sq")
    win = g[-b["window"]:].mean(axis=0)
    z = r.z(2)
    t_lo = measure.t_eps(tr.mean("grad_norm_sq") - z * tr.se("grad_norm_sq"), eps)
    t_hi = measure.t_eps(tr.mean("grad_norm_sq") + z * tr.se("grad_norm_sq"), eps)
    return Measurement(x=["plateau"], mean=[win.mean()], se=[win.std(ddof=1) / np.sqrt(win.size)],
                       z=z, prediction=[float(th.wga_floor(zeta2=zb2))], axis="",
                       details=f"family C (kappa={p['kappa']}), zeta_bar^2={zb2:.4g}, "
                               f"eps={eps:.4g}: plateau vs 0.9 zeta_bar^2; the lower curve "
                               f"reaches eps at t={t_lo:g}",
                       series={"t_lo": t_lo, "t_hi": t_hi, "steps": tr.checkpoints,
                               "curve": tr.mean("grad_norm_sq")})


def p6_rule(m, spec):
    """Holds when the plateau's lower end is above 0.9 zeta_bar^2 and the lower curve never
    reaches eps; violated when the plateau is below it or even the upper curve reaches eps."""
    plateau = LowerBound(delta=spec.delta, tol=spec.tol).judge(m)
    never, reached = np.isinf(m.series["t_lo"]), np.isfinite(m.series["t_hi"])
    if plateau.verdict == stats.VIOLATED:
        return plateau
    verdict = (stats.VIOLATED if reached else stats.HOLDS
               if plateau.verdict == stats.HOLDS and never else stats.INCONCLUSIVE)
    return stats.Check(verdict, plateau.measured, plateau.interval, plateau.theory,
                       plateau.margin)


register(
    name="P6", title="WGA bias floor",
    statement="zeta_bar_uniform^2 >= 4 eps: stationary plateau of E||grad f_0||^2 >= "
              "0.9 zeta_bar_alpha^2 (family C, delta = 0); T_eps = inf",
    provenance="[D]", measure=p6_measure,
    check=Decide(delta=0.01, tol=0.1, kind="lower_bound", rule=p6_rule),
    bounds=(th.wga_floor,), methods=(WGA,), family="C",
    params=dict(family="C", d=10, n_aux=7, kappa=2.0, zeta=1.0, sigma=0.3,
                bias_directions="aligned", eta_L=0.5),
    budgets={"quick": dict(replicas=200, steps=600, window=100),
             "full": dict(replicas=2000, steps=5000, window=1000)},
    planted_error="the simulated collaborators have no shift (v_i = 0)",
    ranges=dict(kappa=("float", 0.0, 3.0), zeta=("float", 0.5, 2.0), sigma=("float", 0.05, 0.5),
                n_aux=("choice", (1, 3, 7))),
    spec_ranges=dict(kappa=("float", 0.0, 3.0), zeta=("float", 0.5, 5.0),
                     sigma=("float", 0.05, 0.5), n_aux=("choice", (1, 3, 7, 15, 31, 63)),
                     d=("choice", (2, 10, 50))),
)


# --- P8 -----------------------------------------------------------------------------------

def _plausible_argmins(means, ses, z) -> np.ndarray:
    """Indices whose interval reaches below the smallest upper end (plausible argmins)."""
    means, ses = np.asarray(means), np.asarray(ses)
    return np.flatnonzero(means - z * ses <= np.min(means + z * ses))


def p8_measure(r):
    """P8: the argmin over alpha_0 of the final error is non-decreasing in T and in zeta.

    For each (T, zeta) and alpha_0 on a grid, eta is tuned by the WGA-NC rule
    ``min{1/L, sqrt(2F_0/(L T sigma_a^2))}`` and the error is ``(1/T) sum E||grad f_0||^2``.
    The prediction is the argmin of WGA-OPT's bound ``B(beta)`` in each case. Planted error:
    the weights are applied in reverse (alpha_0 <-> 1 - alpha_0).
    """
    p, b = r.params, r.budget
    betas = np.asarray(p["betas"])
    cases = [(b["T_small"], p["zeta_small"]), (b["T_large"], p["zeta_small"]),
             (b["T_large"], p["zeta_large"])]
    z = r.z(len(cases) * len(betas), two_sided=True)
    argsets, predicted, curves = [], [], []
    for T, zeta in cases:
        task = presets.make_task(dict(p, zeta=zeta))
        means, ses, bvals = [], [], []
        for beta in betas:
            declared = beta_weights(float(beta), task.n_aux)
            c = task.constants(declared)
            eta = min(1.0 / c["L"], np.sqrt(2 * c["F0"] / (c["L"] * T * c["sigma_alpha_sq"])))
            used = beta_weights(1.0 - float(beta), task.n_aux) if r.planted else declared
            tr = simulate(task, WGA(weights=used, step_size=eta), steps=T,
                          replicas=b["replicas"], seed=r.seed, backend=r.backend,
                          checkpoints=[T], derived=[AVERAGE])
            means.append(tr.mean(AVERAGE)[-1])
            ses.append(tr.se(AVERAGE)[-1])
            bvals.append(float(th.wga_opt_objective(
                L=c["L"], F0=c["F0"], sigma2=float(c["sigma"][0] ** 2), N=task.n_aux,
                beta=max(float(beta), 1e-9), T=T, zeta2=float(zeta) ** 2)))
        idx = _plausible_argmins(means, ses, z)
        argsets.append(sorted(float(round(1.0 - x, 4)) for x in betas[idx]))
        predicted.append(float(round(1.0 - betas[int(np.argmin(bvals))], 4)))
        curves.append((np.array(means), np.array(ses)))
    return Measurement(x=[f"{T}, {zeta}" for T, zeta in cases],
                       mean=[np.mean(a) for a in argsets], z=z,
                       lo=[min(a) for a in argsets], hi=[max(a) for a in argsets],
                       prediction=predicted, axis="(T, zeta)",
                       details="plausible argmin alpha_0 at (T, zeta) = "
                               + "; ".join(f"{cs}: {a}" for cs, a in zip(cases, argsets))
                               + f"; WGA-OPT's argmins {predicted}",
                       series={"alpha0": 1.0 - betas, "curves": curves})


def p8_rule(m, spec):
    """Holds when every plausible argmin at the larger T (zeta) is >= every one at the smaller;
    violated when every one at the larger is below every one at the smaller."""
    verdict, margin = stats.HOLDS, 1.0
    for k in (0, 1):
        small = (m.lo[k], m.hi[k])
        large = (m.lo[k + 1], m.hi[k + 1])
        if large[1] < small[0]:
            verdict = stats.VIOLATED
        elif large[0] < small[1] and verdict != stats.VIOLATED:
            verdict = stats.INCONCLUSIVE
        margin = min(margin, large[0] - small[1])
    return stats.Check(verdict, float(m.mean[1]), (float(m.lo[1]), float(m.hi[1])),
                       float(m.mean[0]), float(margin))


register(
    name="P8", title="alpha trade-off moves with T and zeta",
    statement="argmin over alpha_0 of the final error is non-decreasing in T and in zeta",
    provenance="[D]", measure=p8_measure, check=Decide(delta=0.01, rule=p8_rule),
    bounds=(th.wga_opt_objective,), methods=(WGA,), family="A",
    params=dict(family="A", d=10, n_aux=7, mu=0.1, L=1.0, sigma=1.0,
                bias_directions="aligned", zeta_small=0.2, zeta_large=1.0,
                betas=(0.875, 0.6, 0.3, 0.1, 0.0)),
    budgets={"quick": dict(replicas=300, T_small=30, T_large=3000),
             "full": dict(replicas=2000, T_small=30, T_large=30000)},
    planted_error="the weights are applied in reverse (alpha_0 <-> 1 - alpha_0)",
    ranges=dict(sigma=("float", 0.5, 2.0), zeta_large=("float", 1.0, 3.0)),
    spec_ranges=dict(sigma=("float", 0.2, 5.0), zeta_large=("float", 1.0, 10.0),
                     n_aux=("choice", (3, 7, 15, 31, 63))),
)
