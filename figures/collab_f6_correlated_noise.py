"""F6 correlated noise: final error of AuxMOM and AuxMVR against the noise correlation rho.

Collab spec section 6, figure F6 (TMLR follow-up, claim P16). Family E (Hessian-perturbed
quadratics with a fixed ``delta``, random signs) with one auxiliary task ``h`` (N = 1, the
follow-up's setting) whose noise on a step is ``xi_h = sigma_h (rho z_0 + sqrt(1 - rho^2) z_1)
/ sqrt(d)``: correlated with the target's ``xi_0 = sigma_0 z_0 / sqrt(d)``. AuxMOM and AuxMVR
(:mod:`simlab.collab.methods`; recursions [UNVERIFIED]) estimate the bias from ``g_f - g_h`` on
one shared sample, whose variance ``sigma_0^2 + sigma_h^2 - 2 rho sigma_0 sigma_h`` falls as rho
grows, and step along an independent draw of ``g_h`` (``coupled=False``, spec 3.3). Two
auxiliaries are drawn: ``sigma_h = sigma_0`` (the same sample through ``h``; solid) and
``sigma_h = sigma_0 / 4`` (a cheaper, less noisy ``h``, e.g. a larger batch; dashed, open
markers). The error is ``E||grad f_0(x_t)||^2`` averaged over the last 10% of ``T`` steps, all
methods at the same step size and momentum ``a``. Spec's expected shape: the error decreases
as rho -> 1. SGD alone is the flat reference.

Drawn: the Monte Carlo mean with its 95% CI band and the 10-90% band of the replicas. No
theory curve: the follow-up's rates are not available (spec 4.8).
"""

from __future__ import annotations

import numpy as np
from _common import (
    COLORS,
    Curve,
    final_values,
    first_line,
    legend,
    new_axes,
    parse_args,
    plot_curve,
    progress,
    save,
    summarize,
)

from simlab.collab import presets
from simlab.collab.methods import AuxMOM, AuxMVR, SGDAlone

NAME = "collab_f6_correlated_noise"
BUDGETS = {
    "default": dict(replicas=128, steps=3_000, rhos=(0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)),
    "quick": dict(replicas=8, steps=300, rhos=(0.0, 0.5, 0.9)),
}
TASK = dict(family="E", d=10, n_aux=1, mu=0.1, L=1.0, zeta=1.0, bias_directions="aligned",
            hess_delta=0.05, hessian_signs="random", x0_dist=2.0, task_seed=0)
SIGMA_0 = 1.0
SIGMA_H = {"sigma_h = sigma_0": 1.0, "sigma_h = sigma_0 / 4": 0.25}
ETA_L, MOMENTUM = 0.1, 0.1


def main(argv: list[str] | None = None) -> dict:
    """Run the sweep, draw the figure, write the PNG and its sidecar.

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
    T, R = int(b["steps"]), int(b["replicas"])
    rhos = np.asarray(b["rhos"], dtype=np.float64)
    eta = ETA_L / TASK["L"]
    methods = {"AuxMOM": AuxMOM(step_size=eta, momentum=MOMENTUM),
               "AuxMVR": AuxMVR(step_size=eta, momentum=MOMENTUM)}
    jobs = [(h, m, float(r)) for h in SIGMA_H for m in methods for r in rhos]
    vals: dict[tuple, list] = {}
    for h, m, r in progress(jobs, args, "F6 (sigma_h, method, rho)", total=len(jobs)):
        task = presets.make_task({**TASK, "rho": r, "sigma": (SIGMA_0, SIGMA_H[h])})
        vals.setdefault((h, m), []).append(final_values(task, methods[m], T, R, args.seed))
    task0 = presets.make_task({**TASK, "rho": 0.0, "sigma": (SIGMA_0, SIGMA_0)})
    alone = final_values(task0, SGDAlone(step_size=eta), T, R, args.seed)
    fig, ax = new_axes(r"noise correlation $\rho$ = corr($\xi_f$, $\xi_h$)",
                       r"$E\,\|\nabla f_0(x_t)\|^2$, mean over $t \in [0.9T, T]$", logx=False,
                       height=4.8)
    curves, summary = {}, {}
    for (h, m), v in vals.items():
        cur = Curve.from_samples(rhos, np.array(v))
        line = plot_curve(ax, cur, f"{m}, {h}", COLORS[m], marker="o" if m == "AuxMOM" else "s")
        if h != next(iter(SIGMA_H)):
            line.set_linestyle("--")
            line.set_markerfacecolor("white")
        curves[f"{m}, {h}"] = cur.record(log=False)
        summary[f"{m}, {h}: error at rho={rhos[-1]:g} / at rho=0"] = float(
            cur.mean[-1] / cur.mean[0])
        summary[f"{m}, {h}: non-increasing in rho (means)"] = bool(
            np.all(np.diff(cur.mean) <= 0))
    a = summarize(alone)
    ax.axhline(a["mean"], color=COLORS["Alone"], lw=1.3, label="Alone (SGD on f_0; no rho)")
    ax.axhspan(a["ci95_lo"], a["ci95_hi"], color=COLORS["Alone"], alpha=0.3, lw=0)
    curves["Alone"] = a
    summary["Alone"] = a
    legend(ax, outside=True)
    ax.set_title(f"F6 correlated noise: family E, N = 1, delta = {TASK['hess_delta']}, "
                 f"eta = {eta:g}, a = {MOMENTUM}, T = {T}", fontsize=9)
    save(fig, args, NAME, first_line(__doc__),
         params=dict(task=TASK, sigma_0=SIGMA_0, sigma_h=SIGMA_H, rhos=rhos, eta=eta,
                     momentum=MOMENTUM, steps=T, replicas=R,
                     metric="grad_norm_sq averaged over the last 10% of steps",
                     methods={k: repr(v) for k, v in methods.items()}),
         seeds=dict(simulation=args.seed, task_seed=TASK["task_seed"],
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="line: mean over replicas; dark band: 95% CI of the mean; light band: 10-90% "
               "quantiles of the replicas; solid: sigma_h = sigma_0, dashed: sigma_h = "
               "sigma_0/4; grey: SGD alone with its 95% CI.")
    return summary


if __name__ == "__main__":
    main()
