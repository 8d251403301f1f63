"""F1 bias-variance: E||grad f_0(x_t)||^2 of Alone, WGA (uniform, MSE-optimal) and BC-EMA.

Collab spec section 6, figure F1, on family A (shared-Hessian quadratics, delta = 0) with
*aligned* biases, so the aggregate bias of uniform WGA is ``zeta_bar = N/(N+1) zeta``. Expected
shape: uniform WGA plateaus at about ``zeta_bar^2``; Alone has no bias but the full noise
(its floor is ``~ eta sigma^2``, N+1 times that of an unbiased average); WGA with the
MSE-optimal ``alpha_0`` (``theory.collab.wga_opt_mse``) trades part of the bias for variance;
BC-EMA with the running-average momentum ``a_t = 1/(t+1)`` removes the bias and keeps the
averaged noise, so it ends lowest.

Drawn: the Monte Carlo mean with its 95% CI band and the 10-90% band of the replicas; the exact
moment recursion (:func:`simlab.collab.moments.exact_metrics`, no Monte Carlo error) as thin
dashed lines; the ``zeta_bar^2`` floor and the WGA-NC bound (derived) with the running average
``(1/t) sum_{s<t} E||grad f_0(x_s)||^2`` of uniform WGA, which is what WGA-NC bounds.
"""

from __future__ import annotations

import numpy as np
from _common import (
    COLORS,
    Curve,
    first_line,
    legend,
    new_axes,
    parse_args,
    plot_curve,
    progress,
    save,
    summarize,
)
from matplotlib.lines import Line2D

from simlab.collab import presets
from simlab.collab.methods import BCEMA, WGA, SGDAlone
from simlab.collab.moments import exact_metrics
from simlab.collab.weights import beta_weights
from simlab.engine.simulate import log_checkpoints
from simlab.sweep.cache import cached_simulate
from theory.collab import wga_nc, wga_opt_mse

NAME = "collab_f1_bias_variance"
BUDGETS = {"default": dict(replicas=256, steps=10_000, exact=True),
           "quick": dict(replicas=16, steps=1_000, exact=True)}
TASK = dict(family="A", d=10, n_aux=15, mu=0.01, L=1.0, zeta=0.5, sigma=1.0,
            bias_directions="aligned", x0_dist=5.0, task_seed=0)
ETA_L = 0.1  # eta = 0.1 / L for every method


def main(argv: list[str] | None = None) -> dict:
    """Run the simulations, draw the figure, write the PNG and its sidecar.

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
    task = presets.make_task(TASK)
    N = task.n_aux
    c = task.constants("uniform")
    L, eta = c["L"], ETA_L / c["L"]
    sigma2 = float(c["sigma"][0]) ** 2
    a0 = float(wga_opt_mse(sigma2=sigma2, N=N, zeta2=TASK["zeta"] ** 2))
    methods = {
        "Alone": SGDAlone(step_size=eta),
        "WGA uniform": WGA(weights="uniform", step_size=eta),
        "WGA opt": WGA(weights=beta_weights(1.0 - a0, N), step_size=eta),
        "BC-EMA": BCEMA(weights="uniform", step_size=eta, momentum="running"),
    }
    labels = {
        "Alone": "Alone (SGD on f_0)",
        "WGA uniform": f"WGA uniform (alpha_0 = 1/{N + 1})",
        "WGA opt": f"WGA alpha_0* = {a0:.2f}: {wga_opt_mse.label()}",
        "BC-EMA": "BC-EMA, a_t = 1/(t+1), uniform",
    }
    cps = np.union1d(log_checkpoints(T, 60),
                     np.round(np.linspace(0.9 * T, T, 11)).astype(np.int64))
    tail = cps >= 0.9 * T
    fig, ax = new_axes("iteration t", r"$E\,\|\nabla f_0(x_t)\|^2$", height=5.4)
    curves, summary = {}, {"plateau (mean over t in [0.9T, T])": {}}
    zb2 = c["zeta_bar"] ** 2
    for key in progress(methods, args, "F1 methods"):
        m = methods[key]
        tr = cached_simulate(task, m, steps=T, replicas=R, seed=args.seed, checkpoints=cps,
                             derived=key == "WGA uniform")
        cur = Curve.from_trace(tr, "grad_norm_sq")
        plot_curve(ax, cur, labels[key], COLORS[key])
        curves[key] = cur.record()
        plateau = summarize(tr.metric("grad_norm_sq")[tail].mean(axis=0))
        summary["plateau (mean over t in [0.9T, T])"][key] = plateau
        if b["exact"]:
            ex = exact_metrics(task, m, T, cur.x.astype(np.int64))[:, 0]
            ax.plot(cur.x, ex, color=COLORS[key], lw=0.8, ls="--")
            curves[key]["exact_mean"] = ex[np.searchsorted(cur.x, curves[key]["x"])]
            z = np.abs(cur.mean - ex) / np.maximum(cur.se, 1e-300)
            summary.setdefault("max |MC - exact| / SE", {})[key] = float(z.max())
        if key == "WGA uniform":
            avg = Curve.from_trace(tr, "avg_grad_norm_sq")
            ax.plot(avg.x, avg.mean, color=COLORS[key], lw=1.0, ls=":",
                    label="WGA uniform, running average (1/t) sum_{s<t}")
            curves["WGA uniform running average"] = avg.record()
            bound = wga_nc(T=avg.x, eta=eta, L=L, F0=c["F0"], sigma_a2=c["sigma_alpha_sq"],
                           zeta2=zb2)
            ax.plot(avg.x, bound, color=COLORS["theory"], lw=1.4, ls="-.",
                    label=f"{wga_nc.label()}: bound on that running average")
            curves["WGA-NC bound"] = {"x": avg.x, "value": bound}
    ax.axhline(zb2, color=COLORS["theory"], lw=1.2, ls="--",
               label=f"zeta_bar^2 = {zb2:.3f}: bias floor of {wga_nc.label()}")
    extra = [Line2D([], [], color="0.3", lw=0.8, ls="--",
                    label="exact moment recursion (thin dashed)")] if b["exact"] else []
    legend(ax, extra, outside=True)
    ax.set_title(f"F1 bias-variance: family A, aligned biases, N = {N}, eta = {eta:g}",
                 fontsize=9)
    wga_pl = summary["plateau (mean over t in [0.9T, T])"]["WGA uniform"]["mean"]
    summary.update({"zeta_bar_sq": zb2, "wga_uniform_plateau_over_zeta_bar_sq": wga_pl / zb2,
                    "alpha0_mse_opt": a0, "sigma_alpha_sq_uniform": c["sigma_alpha_sq"],
                    "F0": c["F0"]})
    save(fig, args, NAME, first_line(__doc__),
         params=dict(task=TASK, eta=eta, steps=T, replicas=R, alpha0_opt=a0,
                     methods={k: repr(v) for k, v in methods.items()}),
         seeds=dict(simulation=args.seed, task_seed=TASK["task_seed"],
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="line: Monte Carlo mean over replicas; dark band: 95% CI of the mean; light "
               "band: 10-90% quantiles of the replicas; thin dashed: exact moments; the "
               "WGA-NC bound applies to the running average (dotted), not the last iterate.")
    return summary


if __name__ == "__main__":
    main()
