"""F2 speedup vs N: time-to-eps of WGA and BC against the number of tasks N+1.

Collab spec section 6, figure F2 (claims P5, P9, P10, P11; WGA-LS [D], BC-LS). The error is the
non-convex metric ``(1/t) sum_{s<t} E||grad f_0(x_s)||^2``; ``T_eps`` is spec 8.3's first step
at which its Monte Carlo mean, smoothed over the last ``max(10, t/10)`` steps, is ``<= eps``,
minimised over the step sizes ``1/L, 1/(2L), ...`` (and over the momentum for BC). Curves:

* WGA uniform with ``zeta_bar^2 << eps``: family A whose biases cancel (each ``zeta_i`` is
  large, the uniform aggregate is 0). Expected: slope -1 (linear speedup) until ``eta`` hits
  ``1/L``; the WGA-LS bound (derived) is drawn beside it.
* WGA uniform with ``zeta_bar^2 > eps``: aligned biases; never reaches ``eps`` for ``N >= 1``
  (arrows at the top; ``N = 0`` is Alone).
* BC-EMA on the same aligned task (delta = 0): reaches ``eps`` although ``zeta_bar^2 > eps``,
  with a speedup in N.
* BC-EMA on family B (Hessian-perturbed quadratics, ``delta`` = half of L): the speedup
  flattens. Its momentum grid includes ``a = 1``, which is exactly Alone.

Error bars: ``T_eps`` of the curves ``mean -+ 1.96 SE`` at the best step size. A dotted line of
slope -1 is the reference. The sidecar records the fitted log-log slopes.
"""

from __future__ import annotations

import numpy as np
from _common import (
    COLORS,
    Z95,
    eta_grid,
    first_line,
    legend,
    mark_unreached,
    new_axes,
    parse_args,
    progress,
    save,
    start_eta,
    tuned_time_to_eps,
)

from simlab.collab import presets
from simlab.collab.methods import BCEMA, WGA, SGDAlone
from simlab.engine.stats import loglog_slope
from theory.collab import wga_ls_time

NAME = "collab_f2_speedup"
BUDGETS = {
    "default": dict(replicas=16, eps=0.01, steps=60_000, n_aux=(0, 1, 3, 7, 15, 31),
                    n_eta=8, momenta_b=(0.1, 0.01)),
    "quick": dict(replicas=6, eps=0.1, steps=3_000, n_aux=(0, 3, 15), n_eta=5,
                  momenta_b=(0.1,)),
}
BASE = dict(d=10, mu=0.1, L=1.0, sigma=1.0, zeta=1.0, x0_dist=5.0, task_seed=0)
HESS_DELTA = 0.5  # delta / L of the family-B curve (positive perturbations keep A_i > 0)
WGA_CANCEL, WGA_ALIGNED = "WGA, zeta_bar^2 << eps", "WGA, zeta_bar^2 > eps"
BC_A, BC_B = "BC-EMA, delta = 0 (family A)", f"BC-EMA, delta = {HESS_DELTA} L (family B)"
#: Curves in the order they are measured (the aligned WGA curve uses the cancelling one).
CURVES = {
    WGA_CANCEL: dict(task=dict(family="A", bias_directions="cancelling"), method="WGA",
                     color="#d62728", marker="o", label="WGA uniform, cancelling biases"),
    BC_A: dict(task=dict(family="A", bias_directions="aligned"), method="BC",
               color=COLORS["BC-EMA"], marker="D", label="BC-EMA, aligned, delta = 0 (A)"),
    BC_B: dict(task=dict(family="B", bias_directions="aligned", hess_delta=HESS_DELTA,
                         hessian_signs="positive"), method="BC", color="#9467bd", marker="v",
               label=f"BC-EMA, aligned, delta = {HESS_DELTA} L (B)"),
    WGA_ALIGNED: dict(task=dict(family="A", bias_directions="aligned"), method="WGA",
                      color="#ff7f0e", marker="s", label="WGA uniform, aligned biases"),
}
METRIC = "avg_grad_norm_sq"


def _makers(curve: str, momenta_b) -> dict:
    """Method factories ``eta -> Method`` for one curve, by label (several momenta for BC)."""
    spec = CURVES[curve]
    if spec["method"] == "WGA":
        return {"WGA uniform": lambda eta: WGA(weights="uniform", step_size=eta)}
    momenta = ("running",) if spec["task"]["family"] == "A" else tuple(momenta_b)
    return {f"BC-EMA a={a}": (lambda eta, a=a: BCEMA(weights="uniform", step_size=eta,
                                                     momentum=a)) for a in momenta}


def measure(b: dict, seed: int, args) -> dict:
    """``T_eps`` of every curve at every N: ``{curve: [(TimeToEps, method label, horizon)]}``.

    ``N = 0`` is SGD alone on the curve's family (WGA and BC reduce to it exactly). The
    step-size search starts at :func:`start_eta`; for ``N >= 1`` the first run's
    horizon is ``1.5`` times the previous ``T_eps`` (the full horizon if no method reaches
    ``eps`` then). BC on
    family B also counts ``a = 1``, which is SGD alone path by path. The aligned WGA curve
    tries every step size ``>= eta_c / 4`` with horizon ``2 T_c``, where ``T_c, eta_c`` belong
    to the cancelling curve at the same N.
    """
    eps, T, R = float(b["eps"]), int(b["steps"]), int(b["replicas"])
    etas = eta_grid(BASE["L"], int(b["n_eta"]))
    alone = {}
    for fam in sorted({spec["task"]["family"] for spec in CURVES.values()}):
        task = presets.make_task({**BASE, **CURVES[BC_B if fam == "B" else BC_A]["task"],
                                  "n_aux": 0})
        c = task.constants()
        alone[fam] = tuned_time_to_eps(task, lambda eta: SGDAlone(step_size=eta), etas, eps, T,
                                       R, seed, METRIC, start_eta=start_eta(c, eps, 1))
    out: dict[str, list] = {}
    jobs = [(c, int(n)) for c in CURVES for n in b["n_aux"]]
    for curve, n in progress(jobs, args, "F2 (curve, N)", total=len(jobs)):
        spec = CURVES[curve]
        fam = spec["task"]["family"]
        res = out.setdefault(curve, [])
        if n == 0:
            res.append((alone[fam], "Alone", T))
            continue
        task = presets.make_task({**BASE, **spec["task"], "n_aux": n})
        if curve == WGA_ALIGNED:
            ref = out[WGA_CANCEL][len(res)][0]
            horizon = int(min(T, 2 * ref.value)) if ref.reached else T
            sub = etas[etas >= (ref.eta / 4 if ref.reached else 0)]
            make = _makers(curve, b["momenta_b"])["WGA uniform"]
            res.append((tuned_time_to_eps(task, make, sub, eps, horizon, R, seed, METRIC),
                        "WGA uniform", horizon))
            continue
        prev = res[-1][0]
        start = start_eta(task.constants(), eps, n + 1)
        horizon = int(min(T, 1.5 * prev.value + 100)) if prev.reached else T
        cands = []
        for h in ([horizon, T] if horizon < T else [T]):
            cands = [(tuned_time_to_eps(task, make, etas, eps, h, R, seed, METRIC, start),
                      label, h) for label, make in _makers(curve, b["momenta_b"]).items()]
            if any(r.reached for r, _, _ in cands):
                break
        if fam == "B":
            cands.append((alone[fam], "BC-EMA a=1 (= Alone)", T))
        res.append(min(cands, key=lambda c: c[0].value))
    return out


def main(argv: list[str] | None = None) -> dict:
    """Measure ``T_eps`` for every curve and N, draw the figure, write PNG and sidecar.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (``--quick``, ``--out DIR``, ``--replicas R``, ``--seed S``).

    Returns
    -------
    dict
        The sidecar's ``summary``.
    """
    args = parse_args(argv, __doc__, BUDGETS)
    b = args.budget
    eps, T, R = float(b["eps"]), int(b["steps"]), int(b["replicas"])
    ns = np.asarray(b["n_aux"], dtype=np.int64)
    results = measure(b, args.seed, args)
    fig, ax = new_axes("number of tasks N + 1",
                       rf"$T_\varepsilon$ of $(1/t)\sum_{{s<t}} E\|\nabla f_0(x_s)\|^2$, "
                       rf"$\varepsilon$ = {eps:g}", height=5.0)
    curves, summary = {}, {"eps": eps, "slopes (log T_eps vs log (N+1))": {}}
    x = ns + 1.0
    for name, spec in CURVES.items():
        rows = results[name]
        val = np.array([r.value for r, _, _ in rows])
        lo = np.array([r.lo for r, _, _ in rows])
        hi = np.array([r.hi for r, _, _ in rows])
        ok = np.isfinite(val)
        hi_c = np.where(np.isfinite(hi), hi, val)
        label, slope = spec["label"], None
        if ok.sum() >= 3:
            se = np.where(np.isfinite(hi) & np.isfinite(lo), (hi - lo) / (2 * Z95), val)
            s = loglog_slope(x[ok], val[ok], np.maximum(se[ok], 0.5))
            slope = {"slope": s.slope, "se": s.se, "points": int(ok.sum())}
            label += f": slope {s.slope:+.2f}"
        if ok.any():
            yerr = np.vstack([val[ok] - lo[ok], hi_c[ok] - val[ok]])
            ax.errorbar(x[ok], val[ok], yerr=yerr, color=spec["color"], marker=spec["marker"],
                        ms=5, lw=1.5, capsize=3, label=label)
        if (~ok).any():
            mark_unreached(ax, x[~ok], spec["color"], "not reached (arrow), any eta")
        summary["slopes (log T_eps vs log (N+1))"][name] = slope
        curves[name] = {
            "n_plus_1": x, "T_eps": val, "T_eps_lo": lo, "T_eps_hi": hi,
            "best_eta": [r.eta for r, _, _ in rows],
            "best_method": [m if r.reached else None for r, m, _ in rows],
            "horizon": [h for _, _, h in rows],
            "eta_tried": [{f"{k:g}": v for k, v in r.tried.items()} for r, _, _ in rows],
        }
    first = curves[WGA_CANCEL]["T_eps"][0]
    if np.isfinite(first):
        ax.plot(x[[0, -1]], first / x[[0, -1]], color="0.3", ls=":", lw=1.2,
                label="reference slope -1")
    # WGA-LS (derived): an upper bound on T_eps of uniform WGA with zeta_bar = 0
    c0 = presets.make_task({**BASE, "family": "A", "n_aux": 0}).constants("uniform")
    nf = np.arange(0, ns[-1] + 1)
    ls = wga_ls_time(L=c0["L"], F0=c0["F0"], sigma_a2=c0["sigma"][0] ** 2 / (nf + 1),
                     eps=eps, zeta2=0.0)
    ax.plot(nf + 1.0, ls, color=COLORS["theory"], ls="--", lw=1.2,
            label=f"{wga_ls_time.label()}: bound, zeta_bar = 0")
    curves["WGA-LS bound"] = {"n_plus_1": nf + 1.0, "value": ls}
    lo_y, hi_y = ax.get_ylim()
    ax.set_ylim(lo_y, hi_y * 3)
    legend(ax, outside=True, bands="none")
    ax.set_title(f"F2 speedup: sigma = {BASE['sigma']}, zeta_i = {BASE['zeta']}, "
                 f"F0 = {c0['F0']:.3g}, eta grid 1/L * 2^-k, k < {b['n_eta']}", fontsize=9)
    ratio = {name: curves[name]["T_eps"][0] / curves[name]["T_eps"][-1] for name in CURVES}
    summary["speedup T_eps(N=0) / T_eps(N_max)"] = ratio
    summary["N_max + 1"] = float(x[-1])
    save(fig, args, NAME, first_line(__doc__),
         params=dict(base_task=BASE,
                     curves={k: {"task": v["task"], "method": v["method"]}
                             for k, v in CURVES.items()},
                     eps=eps, max_horizon=T, replicas=R,
                     eta_grid=eta_grid(BASE["L"], int(b["n_eta"])), metric=METRIC,
                     momenta_family_a=("running",), momenta_family_b=b["momenta_b"],
                     n_aux=ns),
         seeds=dict(simulation=args.seed, task_seed=BASE["task_seed"],
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="markers: T_eps of the smoothed Monte Carlo mean, minimised over the eta grid "
               "(and the momentum for BC on family B, a = 1 being Alone); error bars: T_eps of "
               "mean -+ 1.96 SE at the best eta; arrows at the top: not reached; null T_eps "
               "means not reached within 'horizon' steps (aligned WGA: twice the cancelling "
               "curve's T_eps at the same N). N = 0 is SGD alone on the curve's own instance "
               "(families A and B draw different instances, so their N = 0 points differ).")
    return summary


if __name__ == "__main__":
    main()
