"""Claims of the subsample spec: P1-P6 (section 3), T-approx and T-unbiased, the 6.3 pilot.

Every claim is declarative (:mod:`simlab.claims`): a measurement, Bound objects of
:mod:`theory.subsample` (provenance ``derived`` or ``reconstructed``: the paper's theorems are
UNVERIFIED) and a check spec. ``run.planted`` runs the claim's planted error, a realistic bug
in the method that must turn it ``violated``. The estimator claims (P1-P4, P6, T-approx, the
pilot) are pool-level Monte Carlo or exact computations over windows; T-unbiased runs the
streaming kernel's own step (the ops :func:`simlab.simulate` composes); the training claims
(P5, T-conv and the 6.4 criteria) are in :mod:`simlab.subsample.claims_stream`.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from simlab.claims import Agreement, Claim, Measurement, Within, registry
from simlab.subsample import designs, pilot
from simlab.subsample.methods import (
    GradNormOracle,
    LossProportional,
    Uniform,
    WaterFill,
    window_steps,
)
from simlab.subsample.probabilities import inclusion_probabilities, waterfill
from theory import subsample as th


def register(**kw) -> Claim:
    """Register a subsample claim: ``name="P1"`` becomes ``"subsample.P1"``."""
    return registry.register(Claim(id=f"subsample.{kw.pop('name')}", **kw))


def _instance(rng: np.random.Generator, n: int, d: int, k: float, p_min: float):
    """Heavy-tailed losses, gradients whose norms follow them, water-filled floored ``p``."""
    l = rng.lognormal(0.0, 1.0, n)
    g = rng.standard_normal((n, d)) * l[:, None]
    p = waterfill(l, k, p_min)
    return l, g, p


# --- P1 -----------------------------------------------------------------------------------

DESIGNS = ("poisson", "systematic", "conditional Poisson", "with replacement")


def _draws(design: str, p: np.ndarray, R: int, rng: np.random.Generator, weights_from=None):
    """``R`` samples of a design as (indices, weights) pairs; with replacement draws by
    ``q = p / k``. ``weights_from``: weights computed from other probabilities (a bug)."""
    if design == "conditional Poisson":
        cps = designs.ConditionalPoisson(p)
        out = [cps.draw(rng) for _ in range(R)]
    else:
        fn = {"poisson": designs.poisson, "systematic": designs.systematic,
              "with replacement": designs.with_replacement}[design]
        out = [fn(p, rng) for _ in range(R)]
    if weights_from is not None:  # every design's weight is 1/p_i (per draw: 1/(k q_i))
        return [(s.indices, 1.0 / weights_from[s.indices]) for s in out]
    return [(s.indices, s.weights) for s in out]


def p1_measure(r):
    """P1: E[L_hat] = L and E[G_hat] = G under each design of spec 2.5, for floored
    water-filled ``p`` (Monte Carlo over ``draws`` samples; L and two gradient coordinates per
    design, each against its exact value).

    Planted error: the weights are ``1/p`` of the *unfloored* water-filling while the draw
    uses the floored ``p`` (a weight table built before the floor was added)."""
    p_, b = r.params, r.budget
    rng = np.random.default_rng(r.seed)
    l, g, p = _instance(rng, p_["n"], 2, p_["k"], p_["p_min"])
    wrong = waterfill(l, p_["k"]) if r.planted else None
    xs, mean, se, exact = [], [], [], []
    for design in p_["designs"]:
        est = np.array([[np.sum(l[i] * w), *np.sum(g[i] * w[:, None], axis=0)]
                        for i, w in _draws(design, p, b["draws"], rng, wrong)])
        xs += [f"{design}: L", f"{design}: G_1", f"{design}: G_2"]
        mean += list(est.mean(0))
        se += list(est.std(0, ddof=1) / np.sqrt(est.shape[0]))
        exact += [l.sum(), *g.sum(0)]
    return Measurement(x=xs, mean=mean, se=se, z=r.z(len(xs), two_sided=True),
                       prediction=exact, axis="design: estimate",
                       details=f"n = {p_['n']}, k = {p_['k']}, p_min = {p_['p_min']}, "
                               f"{b['draws']} draws per design")


register(
    name="P1", title="Horvitz-Thompson unbiasedness over every design",
    statement="For any p with p_i > 0 wherever l_i != 0 (g_i != 0): E[L_hat] = L and "
              "E[G_hat] = G, for Poisson and the fixed-size designs with the same first-order "
              "inclusion probabilities",
    provenance="spec 3, P1 (standard; derived for this spec)", measure=p1_measure,
    check=Agreement(delta=0.01), bounds=(th.ht_unbiased,),
    methods=(WaterFill,), family="pool",
    params=dict(n=40, k=8.0, p_min=0.05, designs=DESIGNS),
    budgets={"quick": dict(draws=12_000), "full": dict(draws=100_000)},
    planted_error="weights 1/p of the unfloored water-filling, draws from the floored p",
    ranges=dict(n=("choice", (10, 40, 100)), k=("choice", (2.0, 8.0)),
                p_min=("float", 0.005, 0.05)))


# --- P2 -----------------------------------------------------------------------------------

def _poisson_matrix(p: np.ndarray, R: int, rng: np.random.Generator, shared: bool):
    """``R x n`` inclusion indicators of Poisson sampling; ``shared``: one uniform per draw for
    every instance (a vectorisation bug: ``rng.random(R)[:, None]`` for ``rng.random((R, n))``)."""
    u = rng.random((R, 1)) if shared else rng.random((R, p.size))
    return u < p


def p2_measure(r):
    """P2: Var(L_hat) = sum l^2 (1/p - 1) and tr Cov(G_hat) = sum ||g||^2 (1/p - 1) under
    Poisson sampling; the Monte Carlo variance against the formula, with the sample variance's
    standard error (from the fourth moment).

    Planted error: one uniform shared by all instances of a draw (inclusions comonotone)."""
    p_, b = r.params, r.budget
    rng = np.random.default_rng(r.seed)
    l, g, p = _instance(rng, p_["n"], p_["d"], p_["k"], p_["p_min"])
    S = _poisson_matrix(p, b["draws"], rng, r.planted)
    W = S / p
    Lh = W @ l
    Gh = W @ g
    xs, mean, se, exact = [], [], [], []
    for name, est, formula in (("Var(L_hat)", Lh[:, None], np.sum(l ** 2 * (1 / p - 1))),
                               ("tr Cov(G_hat)", Gh,
                                np.sum(np.sum(g ** 2, 1) * (1 / p - 1)))):
        dev = est - est.mean(0)
        sq = np.sum(dev ** 2, axis=1)
        R = sq.size
        xs.append(name)
        mean.append(sq.sum() / (R - 1))
        se.append(sq.std(ddof=1) / np.sqrt(R))
        exact.append(formula)
    return Measurement(x=xs, mean=mean, se=se, z=r.z(2, two_sided=True), prediction=exact,
                       axis="quantity",
                       details=f"n = {p_['n']}, k = {p_['k']}, {b['draws']} Poisson draws")


register(
    name="P2", title="Variance formula of the Poisson design",
    statement="Poisson design: Var(L_hat) = sum l_i^2 (1/p_i - 1) and tr Cov(G_hat) = "
              "sum ||g_i||^2 (1/p_i - 1)",
    provenance="spec 3, P2 (standard; derived for this spec)", measure=p2_measure,
    check=Agreement(delta=0.01, max_rel_se=0.05), bounds=(th.poisson_variance,),
    methods=(WaterFill,), family="pool",
    params=dict(n=200, d=5, k=20.0, p_min=0.01),
    budgets={"quick": dict(draws=40_000), "full": dict(draws=400_000)},
    planted_error="one uniform shared by every instance of a draw (a vectorisation bug)",
    ranges=dict(n=("choice", (50, 200, 1000)), k=("choice", (5.0, 20.0)),
                p_min=("float", 0.0, 0.02)))


# --- P3 -----------------------------------------------------------------------------------

def _slsqp(l: np.ndarray, k: float) -> float:
    """The objective ``sum l^2 / p`` at SLSQP's solution of (P-loss), from the uniform start,
    made feasible: SLSQP may stop with ``sum p != k`` (then a lower objective than any feasible
    point), so its solution is rescaled to ``sum p = k`` (the objective is homogeneous of
    degree -1); ``nan`` when that leaves ``(0, 1]``."""
    n = l.size
    res = optimize.minimize(lambda q: float(np.sum(l ** 2 / q)), np.full(n, k / n),
                            jac=lambda q: -(l ** 2) / q ** 2, method="SLSQP",
                            bounds=[(1e-9, 1.0)] * n,
                            constraints=[{"type": "eq", "fun": lambda q: q.sum() - k,
                                          "jac": lambda q: np.ones(n)}],
                            options=dict(maxiter=500, ftol=1e-14))
    q = res.x * (k / res.x.sum())
    if not (np.all(q > 0) and q.max() <= 1 + 1e-12):
        return float("nan")
    return float(np.sum(l ** 2 / np.minimum(q, 1.0)))


def p3_measure(r):
    """P3: water-filling's objective ``sum v_i^2 / p_i`` (v = l for P-loss, ||g|| for P-grad)
    over SLSQP's, minus 1, for ``instances`` random heavy-tailed windows with ``n <= 50``
    (exact computations: the interval is the point). Also: no random feasible perturbation of
    ``p*`` lowers the objective.

    Planted error: ``p = min(1, k l / sum l)`` (capped but not water-filled: the capped mass
    is not redistributed)."""
    p_, b = r.params, r.budget
    rng = np.random.default_rng(r.seed)
    gaps, pert, unusable = [], 0, 0
    for _ in range(b["instances"]):
        n = int(rng.integers(5, p_["n_max"] + 1))
        k = float(rng.integers(1, n))
        l, g, _ = _instance(rng, n, 3, k, 0.0)
        for v in (l, np.linalg.norm(g, axis=1)):
            p = np.minimum(1.0, k * v / v.sum()) if r.planted else waterfill(v, k)
            obj = float(np.sum(v ** 2 / p))
            ref = _slsqp(v, k)
            if np.isnan(ref):
                unusable += 1
            else:
                gaps.append(obj / ref - 1.0)
            for _ in range(5):  # feasible perturbations keep sum p = k, 0 < p <= 1
                m_ = np.minimum(p, 1 - p)
                e = rng.standard_normal(n) * m_
                if m_.sum() > 0:
                    e -= m_ * e.sum() / m_.sum()
                q = p + 1e-3 * e
                if np.all(q > 0) and np.all(q <= 1) and np.sum(v ** 2 / q) < obj * (1 - 1e-12):
                    pert += 1
    r.require(len(gaps) >= unusable, f"SLSQP's solution was unusable in {unusable} of "
                                     f"{unusable + len(gaps)} problems")
    worst = float(max(gaps))
    return Measurement(x=["max relative gap to SLSQP", "perturbations that lower it"],
                       mean=[worst, pert], lo=[worst, pert], hi=[worst, pert],
                       axis="quantity",
                       details=f"{b['instances']} windows (n <= {p_['n_max']}), P-loss and "
                               f"P-grad ({unusable} SLSQP solutions unusable); {pert} of "
                               f"{10 * b['instances']} feasible perturbations lowered the "
                               f"objective",
                       series={"gaps": np.array(gaps), "perturbations_lower": pert})


register(
    name="P3", title="Water-filling is the optimum of (P-loss) and (P-grad)",
    statement="p* = min(1, c l) is the unique minimiser of sum l_i^2/p_i s.t. sum p = k, "
              "0 < p <= 1; with ||g_i|| for l_i it minimises (P-grad)",
    provenance="spec 2.2 and 3, P3 (derived for this spec)", measure=p3_measure,
    check=Within(delta=0.01, hi=(1e-6, 0.0)), bounds=(th.waterfill_optimal,),
    methods=(WaterFill, GradNormOracle), family="pool", params=dict(n_max=50),
    budgets={"quick": dict(instances=6), "full": dict(instances=200)},
    planted_error="capped proportional p = min(1, k l / sum l) without redistributing the "
                  "capped mass",
    ranges=dict(n_max=("choice", (10, 50))))


# --- P4 -----------------------------------------------------------------------------------

def p4_measure(r):
    """P4: Var_LP / Var_U = (n_eff - k)/(n - k) without capping: the ratio of the Monte Carlo
    variances of the loss-proportional and the uniform HT estimates (Poisson, paired draws)
    against the closed form, on ``windows`` uncapped windows; its SE by the delta method.

    Planted error: the sampler's power knob left at ``alpha = 0.5`` (the square-root proxy
    of the squared loss) where the loss-proportional sampler needs ``alpha = 1``."""
    p_, b = r.params, r.budget
    rng = np.random.default_rng(r.seed)
    n, k = p_["n"], p_["k"]
    xs, mean, se, pred = [], [], [], []
    for w in range(b["windows"]):
        l = rng.gamma(2.0, 1.0, n)
        r.require(k * l.max() <= l.sum(), "the window is capped (P4 assumes no capping)")
        p = inclusion_probabilities(l, k, alpha=0.5 if r.planted else 1.0)
        U = rng.random((b["draws"], n))
        a = (U < p) @ (l / p)
        u = (U < k / n) @ (l * n / k)
        va, vu = a.var(ddof=1), u.var(ddof=1)
        # delta method for the ratio of two variances from the same draws
        da, du = (a - a.mean()) ** 2 - va, (u - u.mean()) ** 2 - vu
        cov = np.cov(np.vstack([da, du]))
        ratio = va / vu
        grad = np.array([1 / vu, -va / vu ** 2])
        xs.append(f"window {w}")
        mean.append(ratio)
        se.append(float(np.sqrt(grad @ cov @ grad / b["draws"])))
        neff = l.sum() ** 2 / np.sum(l ** 2)
        pred.append(float(th.variance_ratio(neff=neff, k=k, n=n)))
    return Measurement(x=xs, mean=mean, se=se, z=r.z(len(xs), two_sided=True),
                       prediction=pred, axis="window",
                       details=f"gamma(2, 1) losses, n = {n}, k = {k}, {b['draws']} paired "
                               f"Poisson draws per window; closed form {np.round(pred, 4)}")


register(
    name="P4", title="Variance ratio of loss-proportional sampling against uniform",
    statement="Var_LP / Var_U = (n_eff - k)/(n - k) <= 1 when no instance is capped",
    provenance="spec 2.6 and 3, P4 (derived for this spec)", measure=p4_measure,
    check=Agreement(delta=0.01, max_rel_se=0.05), bounds=(th.variance_ratio,),
    methods=(LossProportional, Uniform), family="pool", params=dict(n=1000, k=50.0),
    budgets={"quick": dict(windows=2, draws=20_000), "full": dict(windows=8, draws=200_000)},
    planted_error="the power knob left at alpha = 0.5 for the loss-proportional sampler",
    ranges=dict(k=("choice", (10.0, 50.0))))


# --- P6 and the 6.3 pilot -------------------------------------------------------------------

def _pilot(r, records=None, **kw):
    p_, b = r.params, r.budget
    return pilot.pilot_table(b["windows"], r.seed, n=p_["n"], d=p_["d"], k=p_["k"],
                             base_rate=p_["base_rate"], records=records, **kw)


def _ratio_stats(v: np.ndarray) -> tuple[float, float]:
    """Mean and SE of per-window ratios (``inf`` when any window's ratio is infinite)."""
    if not np.all(np.isfinite(v)):
        return float("inf"), 0.0
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def p6_measure(r):
    """P6: with a stale record (serving model = current + N(0, staleness^2) per coordinate,
    spec 6.3's setup) and no floor (epsilon = 0), the water-filled sampler's gradient variance
    exceeds uniform's: the geometric mean of the per-window ratio is above 1 (the ratios are
    heavy-tailed without a floor, so their log is averaged).

    Planted error: the join reads the training forward's fresh loss instead of the serving
    record (so the staleness never reaches the sampler)."""
    p_ = r.params
    out = _pilot(r, {"no floor": ("loss", p_["staleness"], 0.0)}, fresh_bug=r.planted)
    v = np.log(out["no floor"])
    m, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
    return Measurement(x=["log ratio, no floor"], mean=[m], se=[se], z=r.z(1),
                       prediction=[0.0], axis="record",
                       details=f"staleness {p_['staleness']}, eps = 0: geometric-mean variance "
                               f"ratio against uniform {np.exp(m):.3g} (median "
                               f"{np.median(out['no floor']):.3g}, {v.size} windows)")


register(
    name="P6", title="Staleness caveat: a stale record can make the variance exceed uniform's",
    statement="If l~ is a stale proxy, the gradient variance under p(l~) can exceed uniform's "
              "unless p is floored (here: without a floor)",
    provenance="spec 3, P6 (observed numerically in the spec's 6.3 pilot)", measure=p6_measure,
    check=Within(delta=0.01, lo=0.0), bounds=(th.staleness_caveat,),
    methods=(WaterFill, Uniform), family="pool",
    params=dict(n=2000, d=20, k=200.0, base_rate=0.27, staleness=1.0),
    budgets={"quick": dict(windows=30), "full": dict(windows=400)},
    planted_error="the record join reads the training forward's fresh loss",
    ranges=dict(staleness=("float", 0.7, 1.5)))


def p6_floor_measure(r):
    """P6's other half, as the pilot reads it (eps 0.3 at staleness 1: 0.84 < 1): a floor keeps
    the stale sampler's gradient variance at or below uniform's: the geometric mean of the
    per-window ratio is at most 1.

    Planted error: the mixing dropped in the join (scores from the raw record, eps = 0)."""
    p_ = r.params
    eps = 0.0 if r.planted else p_["epsilon"]
    out = _pilot(r, {"floored": ("loss", p_["staleness"], eps)})
    v = np.log(out["floored"])
    m, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
    return Measurement(x=["log ratio, floored"], mean=[m], se=[se], z=r.z(1), prediction=[0.0],
                       axis="record",
                       details=f"staleness {p_['staleness']}, eps = {eps}: geometric-mean "
                               f"variance ratio against uniform {np.exp(m):.3g} (arithmetic "
                               f"{_ratio_stats(out['floored'])[0]:.3g}; spec 6.3's pilot: "
                               f"{th.PILOT['stale 1.0, eps 0.3']}; floor bound on the ratio "
                               f"{_floor_bound(p_['n'], p_['k'], p_['epsilon']):.3g})")


def _floor_bound(n: float, k: float, eps: float) -> float:
    """Spec 6.2's floor safety as a variance ratio: weights <= n / (eps k), so the ratio to
    uniform is at most ``(n / (eps k) - 1) / (n / k - 1)``."""
    return (n / (eps * k) - 1) / (n / k - 1)


register(
    name="P6-floor", title="A floor keeps a stale record's variance at or below uniform's",
    statement="... unless p is floored: with eps = 0.3 at staleness N(0, 1) the variance ratio "
              "against uniform is <= 1 (the spec's pilot: 0.84)",
    provenance="spec 3, P6 and 6.3 (the pilot's reading)", measure=p6_floor_measure,
    check=Within(delta=0.01, hi=0.0), bounds=(th.staleness_caveat,),
    methods=(WaterFill, Uniform), family="pool",
    params=dict(n=2000, d=20, k=200.0, base_rate=0.27, staleness=1.0, epsilon=0.3),
    budgets={"quick": dict(windows=30), "full": dict(windows=400)},
    planted_error="the uniform mixing dropped in the join (scores from the raw record)",
    ranges=dict(staleness=("float", 0.7, 1.5)))


#: The staleness grid of the pilot-trend claim (the crossover is interpolated on it).
STALENESS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5)


def crossover(s: np.ndarray, ratio: np.ndarray) -> float:
    """The staleness where the ratio first reaches 1 (linear interpolation; ``inf`` if never,
    0 if at once)."""
    above = np.flatnonzero(ratio >= 1.0)
    if above.size == 0:
        return float("inf")
    j = int(above[0])
    if j == 0:
        return 0.0
    return float(s[j - 1] + (1.0 - ratio[j - 1]) * (s[j] - s[j - 1]) / (ratio[j] - ratio[j - 1]))


def pilot_measure(r):
    """Spec 6.3's table, reproduced: the variance ratio of every record of the table, and of
    the stale loss (epsilon 0.1) over a staleness grid, whose crossover (ratio = 1) is
    reported. The check is the table's trend, on paired per-window differences: oracle <=
    |p - y| <= fresh loss <= stale 0.3 <= stale 1.0, stale 1.0 above 1, and eps 0.3 below
    eps 0.1 at staleness 1.

    Planted error: the record join reads the training forward's fresh loss."""
    table = _pilot(r, fresh_bug=r.planted)
    recs = {f"s={s:g}": ("loss", s, 0.1) for s in STALENESS}
    grid = _pilot(r, recs, fresh_bug=r.planted)
    g = np.array([_ratio_stats(grid[k])[0] for k in recs])
    x = crossover(np.array(STALENESS), g)
    pairs = (("oracle", "|p - y|"), ("|p - y|", "loss, fresh"), ("loss, fresh", "stale 0.3"),
             ("stale 0.3", "stale 1.0"), ("stale 1.0, eps 0.3", "stale 1.0"))
    xs, mean, se = [], [], []
    for a_, b_ in pairs:
        d = np.log(table[b_]) - np.log(table[a_])
        xs.append(f"log {b_} - log {a_}")
        ok = np.all(np.isfinite(d))
        mean.append(float(d.mean()) if ok else -np.inf)
        se.append(float(d.std(ddof=1) / np.sqrt(d.size)) if ok else 0.0)
    lr = np.log(table["stale 1.0"])
    xs.append("log ratio, stale 1.0")
    mean.append(float(lr.mean()))
    se.append(float(lr.std(ddof=1) / np.sqrt(lr.size)))
    side = ", ".join(f"{k} {_ratio_stats(v)[0]:.3g} (spec {th.PILOT[k]:g})"
                     for k, v in table.items() if k in th.PILOT)
    return Measurement(x=xs, mean=mean, se=se, z=r.z(len(xs)), prediction=np.zeros(len(xs)),
                       axis="paired difference",
                       details=f"{side}; eps = 0 at staleness 1: "
                               f"{_ratio_stats(table['stale 1.0, eps 0'])[0]:.3g}; crossover "
                               f"(eps 0.1) at staleness {x:.3g}",
                       series={"staleness": np.array(STALENESS), "ratio": g, "crossover": x,
                               "table": {k: _ratio_stats(v)[0] for k, v in table.items()}})


register(
    name="pilot-6.3", title="Spec 6.3's pilot trend and the staleness crossover",
    statement="Recorded losses help when fresh or mildly stale; the gain disappears and turns "
              "negative as the serving model drifts (variance ratio against uniform: oracle "
              "0.12 < |p - y| 0.19 < fresh 0.24 < stale 0.31, 0.36 < stale N(0, 1) 1.79; "
              "eps 0.3 gives 0.84); report where the crossover falls",
    provenance="spec 6.3 (a numpy pilot for the spec, not the paper)", measure=pilot_measure,
    check=Within(delta=0.01, lo=0.0), bounds=(th.pilot_table,),
    methods=(GradNormOracle, WaterFill, Uniform), family="pool",
    params=dict(n=2000, d=20, k=200.0, base_rate=0.27),
    budgets={"quick": dict(windows=30), "full": dict(windows=400)},
    planted_error="the record join reads the training forward's fresh loss",
    ranges=dict(base_rate=("choice", (0.05, 0.27))))


# --- T-approx -----------------------------------------------------------------------------

def t_approx_measure(r):
    """T-approx [R]: with the stale record l~ in place of l, the loss objective of p ~ l~ over
    the optimum's is at most (a + b)^2 / (4ab), a and b the extremes of l~_i / l_i over the
    window (uncapped windows of spec 6.3's setup at a small budget). The measurement is the
    largest ratio/bound over windows and staleness levels (exact, per window).

    Planted error: a misaligned record join (the sampler reads i + 1's record; the bound's
    a, b describe the record of the instance itself)."""
    p_, b = r.params, r.budget
    rng = np.random.default_rng(r.seed)
    k = p_["k"]
    worst, used, skipped = 0.0, 0, 0
    for _ in range(b["windows"]):
        win = pilot.draw_window(rng, p_["n"], p_["d"], p_["base_rate"])
        l = win.loss
        for s in p_["staleness"]:
            lt = win.record("loss", s)
            seen = np.roll(lt, -1) if r.planted else lt
            if k * l.max() > l.sum() or k * seen.max() > seen.sum():
                skipped += 1
                continue
            used += 1
            ratio = float(np.sum(l ** 2 / seen) * seen.sum() / l.sum() ** 2)
            q = lt / l
            bound = float(th.kantorovich(a=q.min(), b=q.max()))
            worst = max(worst, ratio / bound)
    r.require(used >= max(1, skipped), f"{skipped} of {used + skipped} windows capped")
    return Measurement(x=["max ratio / bound"], mean=[worst], lo=[worst], hi=[worst],
                       axis="quantity",
                       details=f"{used} uncapped windows x staleness {p_['staleness']}, "
                               f"k = {k}: largest objective ratio / Kantorovich bound "
                               f"{worst:.4g}")


register(
    name="T-approx", title="[R] The record's approximation error bounds the objective's",
    statement="Using the record l~ (a <= l~_i / l_i <= b) for the unknown l costs at most a "
              "factor (a + b)^2 / (4ab) in the objective sum l_i^2 / p_i (no capping)",
    provenance="spec 3, T-approx (UNVERIFIED as the paper's; [R] this reconstruction's form)",
    measure=t_approx_measure, check=Within(delta=0.01, hi=1.0 + 1e-9),
    bounds=(th.kantorovich,), methods=(LossProportional,), family="pool",
    params=dict(n=2000, d=20, k=5.0, base_rate=0.27, staleness=(0.1, 0.3, 1.0)),
    budgets={"quick": dict(windows=20), "full": dict(windows=400)},
    planted_error="a misaligned record join (instance i scored by the record of i + 1)",
    ranges=dict(k=("choice", (2.0, 5.0))))


# --- T-unbiased ---------------------------------------------------------------------------

def t_unbiased_measure(r):
    """T-unbiased [R]: the streaming kernel's own step (the ops that :func:`simlab.simulate`
    runs) has mean the window-mean gradient, for stale records: windows of S1 and S2 with a
    serving model from ``staleness`` steps of drift (a perturbed copy), many Poisson draws of
    the step per window; every coordinate's Monte Carlo mean against the exact window mean.

    Planted error: the importance weights clipped at w_max = 2 (a "safety" clip)."""
    from simlab.tasks import LinearStream, LogisticStream

    p_, b = r.params, r.budget
    rng = np.random.default_rng(r.seed)
    method = WaterFill(rho=p_["rho"], refresh=5, w_max=2.0 if r.planted else np.inf)
    xs, mean, se, exact = [], [], [], []
    for task in (LogisticStream(d=4, window=p_["n"], warm=0.5, n_test=20, seed=r.seed % 1000),
                 LinearStream(d=4, window=p_["n"], seed=r.seed % 1000)):
        D = task.dims()["D"]
        for w in range(b["windows"]):
            offset = p_["staleness"] * rng.standard_normal(D)  # the serving copy's staleness
            data = rng.integers(1, 2 ** 62, (1, 2)).astype(np.uint64)
            draws = rng.integers(1, 2 ** 62, (1, 2)).astype(np.uint64)
            out = window_steps(task, method, offset, data, draws, b["draws"])
            steps, gbar = out["steps"], out["gbar"]
            xs += [f"{task.family} window {w} coord {c}" for c in range(D)]
            mean += list(steps.mean(0))
            se += list(steps.std(0, ddof=1) / np.sqrt(b["draws"]))
            exact += list(gbar)
    return Measurement(x=xs, mean=mean, se=se, z=r.z(len(xs), two_sided=True),
                       prediction=exact, axis="window coordinate",
                       details=f"{b['windows']} windows per task (S1, S2), n = {p_['n']}, "
                               f"rho = {p_['rho']}, serving copy perturbed by "
                               f"N(0, {p_['staleness']}^2), {b['draws']} draws each")


register(
    name="T-unbiased", title="[R] The sampled training step is unbiased, stale record or not",
    statement="E[L_hat] = L and E[G_hat] = G: the step sum_{i in S} g_i / (n p_i) has mean "
              "the window-mean gradient",
    provenance="spec 3, T-unbiased (UNVERIFIED as the paper's; true for the [R] "
               "reconstruction)", measure=t_unbiased_measure,
    check=Agreement(delta=0.01, tol=1e-9), bounds=(th.t_unbiased,), methods=(WaterFill,),
    family="S1, S2", params=dict(n=50, rho=0.1, staleness=0.5),
    budgets={"quick": dict(windows=2, draws=20_000), "full": dict(windows=10, draws=200_000)},
    planted_error="importance weights clipped at w_max = 2",
    ranges=dict(rho=("choice", (0.05, 0.1, 0.3)), staleness=("float", 0.0, 2.0)))


from simlab.subsample import claims_stream, findings  # noqa: E402, F401  (P5, T-conv, C1, C2)
