"""F3 alpha sweep: WGA's error at T against its own weight alpha_0, one line per horizon T.

Collab spec section 6, figure F3 (claim P8, WGA-OPT [D]). Family A with aligned biases; WGA
weights ``alpha_0 = 1 - beta``, ``alpha_i = beta / N`` (:func:`simlab.collab.weights.beta_weights`)
for ``alpha_0`` from ``1/(N+1)`` (uniform) to 1 (Alone). Each run uses the step size that
minimises the WGA-NC bound at its horizon, ``eta = min{1/L, sqrt(2 F_0 / (L T sigma_alpha^2))}``,
and the error is the non-convex metric that WGA-NC bounds, ``(1/T) sum_{t<T}
E||grad f_0(x_t)||^2``. Expected shape: a U in ``alpha_0`` whose argmin moves toward 1 as T
grows (the collaborators help early and are switched off late).

Drawn: the Monte Carlo mean with its 95% CI band and the 10-90% band of the replicas; a star at
the measured argmin; a triangle at the argmin over ``beta`` of the tuned WGA-NC bound
``WGA-OPT (bound)`` (derived) at the same T.
"""

from __future__ import annotations

import numpy as np
from _common import (
    CYCLE,
    Curve,
    final_values,
    first_line,
    legend,
    new_axes,
    parse_args,
    plot_curve,
    progress,
    save,
)
from matplotlib.lines import Line2D

from simlab.collab import presets
from simlab.collab.methods import WGA
from simlab.collab.weights import beta_weights
from theory.collab import wga_opt_objective

NAME = "collab_f3_alpha_sweep"
BUDGETS = {"default": dict(replicas=128, horizons=(100, 1_000, 10_000), n_alpha=12),
           "quick": dict(replicas=8, horizons=(100, 1_000), n_alpha=6)}
TASK = dict(family="A", d=10, n_aux=15, mu=0.1, L=1.0, zeta=0.2, sigma=1.0,
            bias_directions="aligned", x0_dist=5.0, task_seed=0)


def tuned_eta(c: dict, T: int) -> float:
    """The step size that minimises WGA-NC at horizon ``T`` (spec 4.1), capped at ``1/L``."""
    return float(min(1.0 / c["L"], np.sqrt(2 * c["F0"] / (c["L"] * T * c["sigma_alpha_sq"]))))


def bound_argmin_alpha0(c: dict, T: int, N: int, zeta: float, sigma2: float) -> float:
    """``1 - beta*`` where ``beta*`` minimises ``WGA-OPT (bound)`` over ``[0, N/(N+1)]``."""
    betas = np.linspace(0.0, N / (N + 1), 4001)
    B = wga_opt_objective(beta=betas, T=T, L=c["L"], F0=c["F0"], sigma2=sigma2, N=N,
                          zeta2=zeta ** 2)
    return float(1.0 - betas[int(np.argmin(B))])


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
    R = int(b["replicas"])
    task = presets.make_task(TASK)
    N = task.n_aux
    sigma2 = float(task.constants()["sigma"][0]) ** 2
    alpha0 = np.geomspace(1.0 / (N + 1), 1.0, int(b["n_alpha"]))
    fig, ax = new_axes(r"WGA weight of task 0, $\alpha_0$ (others $(1-\alpha_0)/N$)",
                       r"$(1/T)\sum_{t<T} E\,\|\nabla f_0(x_t)\|^2$ at $T$", height=4.8)
    curves, summary = {}, {"measured argmin alpha_0": {}, "bound argmin alpha_0": {},
                           "error at argmin": {}}
    jobs = [(T, a) for T in b["horizons"] for a in alpha0]
    samples: dict[int, list] = {T: [] for T in b["horizons"]}
    etas: dict[int, list] = {T: [] for T in b["horizons"]}
    for T, a in progress(jobs, args, "F3 (T, alpha_0)", total=len(jobs)):
        w = beta_weights(1.0 - float(a), N)
        eta = tuned_eta(task.constants(w), T)
        etas[T].append(eta)
        samples[T].append(final_values(task, WGA(weights=w, step_size=eta), T, R, args.seed,
                                       metric="avg_grad_norm_sq", window=0))
    for j, T in enumerate(b["horizons"]):
        color = CYCLE[j % len(CYCLE)]
        cur = Curve.from_samples(alpha0, np.array(samples[T]))
        plot_curve(ax, cur, f"T = {T}", color, marker="o")
        k = int(np.argmin(cur.mean))
        ax.plot(alpha0[k], cur.mean[k], marker="*", ms=13, color=color, mec="k", mew=0.6,
                ls="none")
        a_b = bound_argmin_alpha0(task.constants("uniform"), T, N, TASK["zeta"], sigma2)
        ax.plot([a_b], [0.0], marker="^", ms=9, color=color, mec="k", mew=0.5, ls="none",
                transform=ax.get_xaxis_transform(), clip_on=False)
        curves[f"T={T}"] = {**cur.record(), "eta": etas[T]}
        summary["measured argmin alpha_0"][str(T)] = float(alpha0[k])
        summary["bound argmin alpha_0"][str(T)] = a_b
        summary["error at argmin"][str(T)] = float(cur.mean[k])
    arg = [summary["measured argmin alpha_0"][str(T)] for T in b["horizons"]]
    summary["argmin non-decreasing in T"] = bool(np.all(np.diff(arg) >= 0))
    extra = [Line2D([], [], marker="*", ms=11, color="0.5", mec="k", ls="none",
                    label="measured argmin"),
             Line2D([], [], marker="^", ms=8, color="0.5", mec="k", ls="none",
                    label=f"argmin of {wga_opt_objective.label()} (on the x-axis)")]
    legend(ax, extra, outside=True)
    ax.set_title(f"F3 alpha sweep: family A, aligned zeta = {TASK['zeta']}, N = {N}, "
                 f"eta tuned per T (WGA-NC)", fontsize=9)
    save(fig, args, NAME, first_line(__doc__),
         params=dict(task=TASK, horizons=list(b["horizons"]), alpha0=alpha0, replicas=R,
                     eta_rule="min(1/L, sqrt(2 F0 / (L T sigma_alpha^2)))",
                     metric="avg_grad_norm_sq at T"),
         seeds=dict(simulation=args.seed, task_seed=TASK["task_seed"],
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="line: mean over replicas; dark band: 95% CI of the mean; light band: 10-90% "
               "quantiles of the replicas; star: measured argmin; triangle: argmin of the "
               "tuned WGA-NC bound (derived).")
    return summary


if __name__ == "__main__":
    main()
