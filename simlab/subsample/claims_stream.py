"""Training claims of the subsample spec on the streaming tasks: P5, T-conv and the 6.4
criteria (C1: fewer backward passes to uniform's loss; C2: never worse than uniform).

Every sampler runs through :func:`simlab.simulate` on the numba backend, paired: one seed
gives every sampler the same windows. Staleness is the serving copy's refresh period
``Delta`` (spec 6.1). The step schedule of C1/C2 decays (``eta_t = eta / (1 + t / 100)``) so
that the final loss keeps falling with the variance of the steps; a constant step would make
uniform plateau early and the criterion trivially easy (see the claims' details).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from simlab.claims import Decide, Measurement, UpperBound, Within
from simlab.engine import stats
from simlab.engine.simulate import DivergenceError, simulate
from simlab.subsample.claims import register
from simlab.subsample.methods import GradNormOracle, LossProportional, Uniform, WaterFill
from simlab.tasks import LinearStream, LogisticStream
from theory import subsample as th


def stream_task(name: str, **kw):
    """The claims' streaming tasks by name: ``"S2"``, ``"S1"`` (27%), ``"S1-5%"``, ``"S1-1%"``
    (spec 6.1's base rates), with simlab's defaults (d = 10, n = 100)."""
    if name == "S2":
        return LinearStream(d=10, window=100, **kw)
    rates = {"S1": 0.27, "S1-5%": 0.05, "S1-1%": 0.01}
    if name not in rates:
        raise ValueError(f"unknown stream task {name!r}; known: S2, {', '.join(rates)}")
    return LogisticStream(d=10, window=100, base_rate=rates[name], **kw)


#: Step sizes of the streaming claims (constant for P5/T-conv; the initial one for C1/C2),
#: chosen once per task family (S2 below 1/L; S1 the same for every base rate), never per
#: sampler.
ETA = {"S2": 0.1, "S1": 0.5, "S1-5%": 0.5, "S1-1%": 0.5}

SAMPLERS = {"uniform": Uniform, "water-filling": WaterFill, "loss-proportional": LossProportional,
            "gradient-norm oracle": GradNormOracle}


def _run(task, method, r, steps, replicas, checkpoints=40):
    return simulate(task, method, steps=steps, replicas=replicas, seed=r.seed,
                    backend=r.backend, checkpoints=checkpoints)


# --- P5 -----------------------------------------------------------------------------------

def p5_measure(r):
    """P5 on S2: ``min_t E||grad f(theta_t)||^2 <= 2 F0 / (eta T) + eta L M`` for each unbiased
    sampler at constant ``eta <= 1/L``. ``M`` is the design's second moment: the largest
    ``E||d||^2`` of the sampler as specified (exact given the window, averaged over replicas),
    measured on the reference run; the minimum runs over the checkpoints only (at least the
    minimum over all steps: conservative).

    Planted error: the implementation divides the weighted sum by the number drawn instead of
    ``n`` (``normaliser="drawn"``): steps about ``1/rho`` times too long, judged against the
    design's ``M`` (a divergence is measured as an infinite gradient)."""
    p_, b = r.params, r.budget
    task = stream_task("S2", warm=0.0)
    c = task.constants()
    eta = p_["eta_L"] / c["L"]
    xs, mean, se, bound, words = [], [], [], [], []
    for name in p_["samplers"]:
        design = SAMPLERS[name](rho=p_["rho"], step_size=eta, refresh=p_["refresh"])
        ref = _run(task, design, r, b["steps"], b["replicas"])
        M = float(np.max(ref.mean("step_sq")[1:]))
        bd = float(th.ghadimi_lan(F0=c["F0"], eta=eta, T=b["steps"], L=c["L"], M=M))
        tr = ref
        if r.planted and name != "uniform":
            try:
                tr = _run(task, replace(design, normaliser="drawn"), r, b["steps"],
                          b["replicas"])
            except DivergenceError as e:
                xs.append(name)
                mean.append(np.inf)
                se.append(0.0)
                bound.append(bd)
                words.append(f"{name}: {e}")
                continue
        g = tr.mean("grad_sq")
        i = int(np.argmin(g))
        xs.append(name)
        mean.append(g[i])
        se.append(tr.se("grad_sq")[i])
        bound.append(bd)
        words.append(f"{name}: {g[i]:.3g} <= {bd:.3g} (M = {M:.3g})")
    return Measurement(x=xs, mean=mean, se=se, z=r.z(len(xs)), prediction=bound,
                       axis="sampler", details=f"S2, eta = {eta:.3g} (eta L = {p_['eta_L']}), "
                                               f"T = {b['steps']}: " + "; ".join(words))


register(
    name="P5", title="Ghadimi-Lan bound with the sampled estimator's second moment",
    statement="For L-smooth f and unbiased steps with E||d||^2 <= M, SGD with eta <= 1/L gives "
              "min_t E||grad f(theta_t)||^2 <= 2 (f(theta_0) - f*)/(eta T) + eta L M",
    provenance="spec 3, P5 (standard, Ghadimi-Lan style)", measure=p5_measure,
    check=UpperBound(delta=0.01), bounds=(th.ghadimi_lan,),
    methods=(Uniform, WaterFill, LossProportional, GradNormOracle), family="S2",
    params=dict(rho=0.1, eta_L=0.1, refresh=10,
                samplers=("uniform", "water-filling", "loss-proportional",
                          "gradient-norm oracle")),
    budgets={"quick": dict(steps=1000, replicas=32), "full": dict(steps=10_000, replicas=256)},
    planted_error="the weighted sum divided by the number drawn instead of n",
    ranges=dict(rho=("choice", (0.05, 0.1, 0.3)), eta_L=("float", 0.02, 0.5),
                refresh=("choice", (0, 10, 100))))


# --- T-conv ---------------------------------------------------------------------------------

def t_conv_measure(r):
    """T-conv (derived two-sided form) on S2 at constant ``eta``: the stationary excess loss
    lies in ``[eta C / 4, eta C / (4 (1 - eta L / 2))]`` with ``C`` the mean total noise of the
    step, ``window_var + grad_mse`` (the window's own noise plus the sampling error), both
    averaged over the last half of the run's checkpoints and the replicas. With Gaussian rows
    (``row_sigma = 0``, the default) the Hessian is the identity and the upper end is exact:
    the check is then an agreement within 3% (the band would be too narrow to decide).

    Planted error: the importance weights clipped at ``w_max = 2`` (a "safety" clip that
    biases the steps)."""
    p_, b = r.params, r.budget
    task = stream_task("S2", warm=1.0, row_sigma=p_["row_sigma"])
    c = task.constants()
    eta = p_["eta_L"] / c["L"]
    xs, mean, se, lower, upper = [], [], [], [], []
    for name in p_["samplers"]:
        m = SAMPLERS[name](rho=p_["rho"], step_size=eta, refresh=p_["refresh"])
        if r.planted and name != "uniform":
            m = replace(m, w_max=2.0)
        tr = _run(task, m, r, b["steps"], b["replicas"], checkpoints=b["checkpoints"])
        late = tr.checkpoints >= b["steps"] // 2
        v = tr.values[late]
        ex = v[..., tr.metrics.index("excess")].mean(0)
        noise = (v[..., tr.metrics.index("window_var")]
                 + v[..., tr.metrics.index("grad_mse")]).mean(0)
        C = float(noise.mean())
        xs.append(name)
        mean.append(float(ex.mean()))
        se.append(float(ex.std(ddof=1) / np.sqrt(ex.size)))
        lower.append(float(th.t_conv_lower(eta=eta, C=C)))
        upper.append(float(th.t_conv_upper(eta=eta, C=C, L=c["L"])))
    exact = c["L"] == c["mu"]  # isotropic H: tr(H^2 Sigma) = L tr(H Sigma), upper is exact
    return Measurement(x=xs, mean=mean, se=se, z=r.z(len(xs), two_sided=True),
                       prediction=np.array(upper if exact else lower), axis="sampler",
                       details=f"S2 from the optimum, eta = {eta:.3g}, T = {b['steps']}: "
                               + "; ".join(f"{n}: {m_:.4g} in [{a:.4g}, {u:.4g}]"
                                           for n, m_, a, u in zip(xs, mean, lower, upper)),
                       series={"upper": np.array(upper), "lower": np.array(lower),
                               "exact": exact})


def t_conv_rule(m, spec):
    """Isotropic Hessian: agreement with the upper end, which is then exact (relative
    tolerance ``tol``); otherwise within ``[lower, upper]`` at every sampler."""
    if m.series["exact"]:
        return stats.agreement(m.mean, m.se, m.prediction, m.z, spec.tol)
    lo_ci, hi_ci = m.intervals()
    up = m.series["upper"]
    checks = []
    for i in range(m.mean.size):
        c = stats.interval_check(m.mean[i], lo_ci[i], hi_ci[i], m.prediction[i], up[i])
        checks.append(stats.Check(c.verdict, c.measured, c.interval, c.theory, c.margin, i))
    return stats.worst(checks)


register(
    name="T-conv", title="[R] SGD's noise floor with the sampled estimator's variance",
    statement="A standard SGD rate with sigma^2 replaced by the sampled estimator's variance; "
              "on a quadratic, at stationarity: eta C / 4 <= E[f - f*] <= "
              "eta C / (4 (1 - eta L / 2)), C = E tr Cov(step | theta)",
    provenance="spec 3, T-conv (UNVERIFIED as the paper's; the two-sided form derived for "
               "simlab)", measure=t_conv_measure,
    check=Decide(delta=0.01, tol=0.03, kind="interval", rule=t_conv_rule),
    bounds=(th.t_conv_lower, th.t_conv_upper),
    methods=(Uniform, WaterFill, LossProportional), family="S2",
    params=dict(rho=0.1, eta_L=0.2, refresh=10, row_sigma=0.0,
                samplers=("uniform", "water-filling", "loss-proportional")),
    budgets={"quick": dict(steps=3000, replicas=32, checkpoints=300),
             "full": dict(steps=20_000, replicas=256, checkpoints=400)},
    planted_error="importance weights clipped at w_max = 2: biased steps",
    ranges=dict(rho=("choice", (0.05, 0.1, 0.3)), eta_L=("float", 0.05, 0.3),
                refresh=("choice", (0, 10, 100)), row_sigma=("choice", (0.0, 0.5))))


# --- C1 and C2: spec 6.4's pass criteria ----------------------------------------------------

def _excess(tr, task):
    """Per checkpoint and replica: test loss minus the task's floor."""
    return tr.values[..., tr.metrics.index("test_loss")] - task.constants()["loss_floor"]


def backward_fraction(ex_u, ex_w, bw_u, bw_w) -> float:
    """Backward passes water-filling needs to reach uniform's final mean excess loss, over
    uniform's final backward count (linear interpolation between checkpoints; ``inf`` if it
    never does)."""
    mu, mw = ex_u.mean(1), ex_w.mean(1)
    bu, bwm = bw_u.mean(1), bw_w.mean(1)
    target = mu[-1]
    hit = np.flatnonzero(mw <= target)
    if hit.size == 0:
        return float("inf")
    j = int(hit[0])
    if j == 0:
        return float(bwm[0] / bu[-1])
    f = (mw[j - 1] - target) / (mw[j - 1] - mw[j])
    return float((bwm[j - 1] + f * (bwm[j] - bwm[j - 1])) / bu[-1])


def _paired_runs(r, name, method, steps, replicas, refresh, cache=None):
    """Uniform and ``method`` on task ``name`` with the same seed (same windows); uniform does
    not read the record, so one run serves every ``refresh`` (kept in ``cache``)."""
    task = stream_task(name)
    eta = dict(r.params.get("etas", ())).get(name, ETA[name])
    decay = r.params.get("decay", 100.0)
    cache = {} if cache is None else cache
    if name not in cache:
        cache[name] = _run(task, Uniform(rho=r.params["rho"], step_size=eta, decay=decay), r,
                           steps, replicas, checkpoints=r.budget["checkpoints"])
    u = cache[name]
    w = _run(task, replace(method, step_size=eta, decay=decay, refresh=refresh), r, steps,
             replicas, checkpoints=r.budget["checkpoints"])
    return task, u, w


def _wf(r) -> WaterFill:
    m = WaterFill(rho=r.params["rho"], epsilon=r.params["epsilon"])
    return replace(m, weighting="none") if r.planted else m


def c1_measure(r):
    """C1 (spec 6.4): at rho = 0.1 and moderate staleness (Delta in {10, 100}), water-filling
    (eps 0.1) reaches uniform's final test loss with at most 70% of uniform's backward passes;
    per task and Delta, the fraction with a paired bootstrap interval over replicas.

    Planted error: the importance weights dropped (``weighting="none"``)."""
    p_, b = r.params, r.budget
    rng = np.random.default_rng(r.seed)
    xs, mean, lo, hi, words, cache = [], [], [], [], [], {}
    nconf = len(p_["tasks"]) * len(p_["refresh"])
    zq = r.z(nconf, two_sided=True)
    for name in p_["tasks"]:
        for delta in p_["refresh"]:
            task, u, w = _paired_runs(r, name, _wf(r), b["steps"], b["replicas"], delta, cache)
            eu, ew = _excess(u, task), _excess(w, task)
            bu = u.values[..., u.metrics.index("backward")]
            bw = w.values[..., w.metrics.index("backward")]
            f = backward_fraction(eu, ew, bu, bw)
            boots = []
            R = eu.shape[1]
            for _ in range(b["bootstrap"]):
                idx = rng.integers(0, R, R)
                boots.append(backward_fraction(eu[:, idx], ew[:, idx], bu[:, idx], bw[:, idx]))
            boots = np.array(boots)
            alpha = r.delta / nconf
            a_lo, a_hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2], method="higher")
            xs.append(f"{name}, Delta={delta}")
            mean.append(f)
            lo.append(float(a_lo))
            hi.append(float(a_hi))
            words.append(f"{name} Delta {delta}: {f:.3g} [{a_lo:.3g}, {a_hi:.3g}] (excess "
                         f"U {eu[-1].mean():.3g}, WF {ew[-1].mean():.3g}; mse ratio "
                         f"{w.mean('mse_ratio')[-1]:.3g})")
    return Measurement(x=xs, mean=mean, lo=lo, hi=hi, z=zq,
                       prediction=float(th.backward_fraction()), axis="task, Delta",
                       details=f"rho = {p_['rho']}, eps = {p_['epsilon']}, eta_t = eta / "
                               f"(1 + t/100), T = {b['steps']}, {b['replicas']} paired "
                               f"replicas, bootstrap {b['bootstrap']}: " + "; ".join(words))


def c1_rule(m, spec):
    """Holds when every interval is below 0.7; violated when one lies above it."""
    checks = []
    for i in range(m.mean.size):
        c = stats.interval_check(m.mean[i], m.lo[i], m.hi[i], hi=m.prediction[i])
        checks.append(stats.Check(c.verdict, c.measured, c.interval, c.theory, c.margin, i))
    return stats.worst(checks)


C1_BUDGETS = {"quick": dict(steps=2000, replicas=32, checkpoints=60, bootstrap=200),
              "full": dict(steps=5000, replicas=256, checkpoints=100, bootstrap=1000)}

for _cid, _tasks, _title in (
        ("C1", ("S2", "S1"), "S2 and S1 at base rate 27%"),
        ("C1-rare", ("S1-5%", "S1-1%"), "S1 at base rates 5% and 1%")):
    register(
        name=_cid, title=f"Water-filling reaches uniform's loss with <= 70% of the backward "
                         f"passes ({_title})",
        statement="At rho = 0.1 and moderate staleness, the stale-loss water-filling sampler "
                  "reaches the uniform sampler's final test loss with <= 50-70% of the "
                  "backward passes",
        provenance="spec 6.4 (this spec's pass criterion; the paper's effect size UNVERIFIED)",
        measure=c1_measure, check=Decide(delta=0.01, kind="upper_bound", rule=c1_rule),
        bounds=(th.backward_fraction,), methods=(WaterFill, Uniform), family=", ".join(_tasks),
        params=dict(tasks=_tasks, rho=0.1, epsilon=0.1, refresh=(10, 100)),
        budgets=C1_BUDGETS, planted_error="importance weights dropped (weighting='none')",
        ranges=dict(refresh=("choice", ((10,), (100,)))))


def c2_measure(r):
    """C2 (spec 6.4): water-filling with eps >= 0.1 is never worse than uniform: the paired
    relative difference of the final excess test loss, (WF - U) / U, over tasks x Delta x eps,
    with the delta method's interval; the staleness where it first turns positive (the
    crossover) is reported per task and eps.

    Planted error: a misaligned record join (instance i scored by the record of i + 1)."""
    p_, b = r.params, r.budget
    xs, mean, se, words, cross, cache = [], [], [], [], {}, {}
    for name in p_["tasks"]:
        for eps in p_["epsilon"]:
            first = None
            for delta in p_["refresh"]:
                m = WaterFill(rho=p_["rho"], epsilon=eps, record_shift=1 if r.planted else 0)
                task, u, w = _paired_runs(r, name, m, b["steps"], b["replicas"], delta, cache)
                eu, ew = _excess(u, task)[-1], _excess(w, task)[-1]
                rel = ew.mean() / eu.mean() - 1.0
                # delta method for mean(ew)/mean(eu) over paired replicas
                R = eu.size
                cov = np.cov(np.vstack([ew, eu])) / R
                g = np.array([1 / eu.mean(), -ew.mean() / eu.mean() ** 2])
                xs.append(f"{name}, eps={eps}, Delta={delta}")
                mean.append(rel)
                se.append(float(np.sqrt(max(float(g @ cov @ g), 0.0))))
                if first is None and rel > 1e-9:  # not a tie (identical paths give ~1e-15)
                    first = delta
            cross[f"{name}, eps={eps}"] = first
    words = [f"{k}: {'none in the grid' if v is None else f'Delta = {v}'}"
             for k, v in cross.items()]
    etas = {n: dict(p_.get("etas", ())).get(n, ETA[n]) for n in p_["tasks"]}
    sched = "constant" if p_.get("decay", 100.0) == 0 else f"/ (1 + t/{p_.get('decay', 100.0):g})"
    return Measurement(x=xs, mean=mean, se=se, z=r.z(len(xs)), axis="task, eps, Delta",
                       details=f"rho = {p_['rho']}, eta {etas} {sched}, Delta in "
                               f"{p_['refresh']}, T = "
                               f"{b['steps']}, {b['replicas']} paired replicas; worst "
                               f"{xs[int(np.argmax(mean))]}: {max(mean):+.3g}; first Delta "
                               f"where WF is worse (point estimate): " + "; ".join(words),
                       series={"crossover": cross})


C2_BUDGETS = {"quick": dict(steps=800, replicas=24, checkpoints=4),
              "full": dict(steps=5000, replicas=256, checkpoints=10)}

register(
    name="C2", title="Water-filling is never worse than uniform once eps >= 0.1",
    statement="The stale-loss water-filling sampler never does worse than uniform once "
              "eps >= 0.1 (final excess test loss, relative tolerance 5%)",
    provenance="spec 6.4 (this spec's pass criterion; UNVERIFIED as the paper's)",
    measure=c2_measure, check=Within(delta=0.01, hi=0.05), bounds=(th.never_worse,),
    methods=(WaterFill, Uniform), family="S1, S2",
    params=dict(tasks=("S2", "S1", "S1-5%"), rho=0.1, epsilon=(0.1, 0.3),
                refresh=(0, 10, 100, 1000), decay=100.0),
    budgets=C2_BUDGETS,
    planted_error="a misaligned record join (instance i scored by the record of i + 1)",
    ranges=dict(rho=("choice", (0.05, 0.1, 0.2))))

register(
    name="C2-const-step",
    title="Water-filling is never worse than uniform once eps >= 0.1 (constant, larger step)",
    statement="The stale-loss water-filling sampler never does worse than uniform once "
              "eps >= 0.1; here at a constant step 3-4x C2's initial one, so that the model "
              "moves more between refreshes of the serving copy",
    provenance="spec 6.4 (this spec's pass criterion; UNVERIFIED as the paper's)",
    measure=c2_measure, check=Within(delta=0.01, hi=0.05), bounds=(th.never_worse,),
    methods=(WaterFill, Uniform), family="S1, S2",
    params=dict(tasks=("S2", "S1"), rho=0.1, epsilon=(0.1, 0.3), refresh=(0, 10, 100),
                decay=0.0, etas=(("S2", 0.3), ("S1", 2.0))),
    budgets=C2_BUDGETS,
    planted_error="a misaligned record join (instance i scored by the record of i + 1)",
    ranges=dict(rho=("choice", (0.05, 0.1, 0.2))))
