"""F5 Hessian dissimilarity: time-to-eps of BC-EMA over that of Alone, against delta/L.

Collab spec section 6, figure F5 (claims P11, P12; BC-LS). Family B (Hessian-perturbed
quadratics ``A_i = A_0 + delta Q_i diag(s_i) Q_i^T`` with random signs ``s_i`` and Haar ``Q_i``,
so ``||A_i - A_0|| = delta`` exactly; aligned biases ``zeta_i``) for several N. Every ``A_i``
must stay positive definite, which with random signs needs ``delta < mu``; to reach
``delta`` close to ``L`` the instance has ``A_0 = I`` (``mu = L = 1``). The error is the
non-convex metric ``(1/t) sum_{s<t} E||grad f_0(x_s)||^2`` and ``T_eps`` is spec 8.3's, minimised
over the step sizes ``1/L, 1/(2L), ...``; for BC-EMA also over the momentum ``a``, whose grid
includes ``a = 1`` (BC-EMA with ``a = 1`` is SGD alone path by path, so the ratio never exceeds
1). SGD alone uses only task 0, which is the same instance for every delta and N, so its
``T_eps`` is measured once. Expected shape: the ratio is about ``1/(N+1)`` at small delta
(linear speedup) and rises to 1 as delta approaches L.

Error bars: the ratio of the ``T_eps`` intervals (``mean -+ 1.96 SE`` curves at the best step
size). Dotted lines: the linear-speedup level ``1/(N+1)`` of each N.
"""

from __future__ import annotations

import numpy as np
from _common import (
    CYCLE,
    eta_grid,
    first_line,
    legend,
    new_axes,
    parse_args,
    progress,
    save,
    start_eta,
    tuned_time_to_eps,
)
from matplotlib.lines import Line2D

from simlab.collab import presets
from simlab.collab.methods import BCEMA, SGDAlone

NAME = "collab_f5_hessian_dissimilarity"
BUDGETS = {
    "default": dict(replicas=12, eps=0.02, steps=40_000, n_aux=(1, 3, 7),
                    delta_L=(0.01, 0.1, 0.3, 0.6, 0.95), n_eta=8, momenta=("running", 0.03)),
    "quick": dict(replicas=6, eps=0.1, steps=3_000, n_aux=(1, 3), delta_L=(0.01, 0.3),
                  n_eta=5, momenta=(0.03,)),
}
TASK = dict(family="B", d=10, mu=1.0, L=1.0, sigma=1.0, zeta=1.0, bias_directions="aligned",
            hessian_signs="random", x0_dist=2.0, task_seed=0)
METRIC = "avg_grad_norm_sq"


def main(argv: list[str] | None = None) -> dict:
    """Measure the ratios, draw the figure, write the PNG and its sidecar.

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
    L = TASK["L"]
    etas = eta_grid(L, int(b["n_eta"]))
    deltas = np.asarray(b["delta_L"], dtype=np.float64) * L
    task0 = presets.make_task({**TASK, "n_aux": 0, "hess_delta": 0.0})
    alone = tuned_time_to_eps(task0, lambda eta: SGDAlone(step_size=eta), etas, eps, T, R,
                              args.seed, METRIC, start_eta(task0.constants(), eps, 1))
    if not alone.reached:
        raise RuntimeError(f"SGD alone did not reach eps = {eps} within {T} steps; raise the "
                           f"budget's 'steps'")
    horizon = int(alone.value) + 1  # BC slower than Alone loses to a = 1 anyway
    jobs = [(int(n), float(dl)) for n in b["n_aux"] for dl in deltas]
    rows: dict[int, list] = {int(n): [] for n in b["n_aux"]}
    for n, dl in progress(jobs, args, "F5 (N, delta)", total=len(jobs)):
        task = presets.make_task({**TASK, "n_aux": n, "hess_delta": dl})
        start = start_eta(task.constants(), eps, n + 1)
        best = (alone, 1.0)
        for a in b["momenta"]:
            r = tuned_time_to_eps(
                task, lambda eta, a=a: BCEMA(weights="uniform", step_size=eta, momentum=a),
                etas, eps, horizon, R, args.seed, METRIC, start)
            if r.value < best[0].value:
                best = (r, a)
        rows[n].append(best)
    fig, ax = new_axes(r"Hessian dissimilarity $\delta / L$, $\|A_i - A_0\| = \delta$",
                       r"$T_\varepsilon$(BC-EMA) / $T_\varepsilon$(Alone)", height=4.8)
    curves, summary = {}, {"T_eps alone": alone.value, "eps": eps,
                           "ratio at smallest delta": {}, "ratio at largest delta": {},
                           "ratio * (N+1) at smallest delta": {}}
    x = deltas / L
    for j, n in enumerate(rows):
        color = CYCLE[j % len(CYCLE)]
        val = np.array([r.value for r, _ in rows[n]])
        lo = np.array([r.lo for r, _ in rows[n]])
        hi = np.array([min(r.hi, horizon) for r, _ in rows[n]])
        ratio = val / alone.value
        rlo = lo / (alone.hi if np.isfinite(alone.hi) else alone.value)
        rhi = hi / alone.lo
        ax.errorbar(x, ratio, yerr=np.vstack([ratio - rlo, np.maximum(rhi - ratio, 0)]),
                    color=color, marker="o", ms=5, lw=1.5, capsize=3,
                    label=f"N = {n} (N+1 = {n + 1})")
        ax.axhline(1.0 / (n + 1), color=color, ls=":", lw=1.1)
        curves[f"N={n}"] = {"delta_over_L": x, "ratio": ratio, "ratio_lo": rlo,
                            "ratio_hi": rhi, "T_eps_bc": val,
                            "best_eta": [r.eta for r, _ in rows[n]],
                            "best_momentum": [a for _, a in rows[n]]}
        summary["ratio at smallest delta"][str(n)] = float(ratio[0])
        summary["ratio at largest delta"][str(n)] = float(ratio[-1])
        summary["ratio * (N+1) at smallest delta"][str(n)] = float(ratio[0] * (n + 1))
    ax.axhline(1.0, color="0.3", lw=1.2, ls="--", label="1: no gain over Alone")
    ax.set_ylim(top=1.6)
    extra = [Line2D([], [], color="0.4", ls=":", lw=1.1,
                    label="1/(N+1): linear speedup (same colour as its N)")]
    legend(ax, extra, outside=True, bands="none")
    ax.set_title(f"F5 Hessian dissimilarity: family B (A_0 = I, random signs), "
                 f"zeta_i = {TASK['zeta']}\neps = {eps:g}, T_eps(Alone) = {alone.value:.0f} "
                 f"steps", fontsize=9)
    save(fig, args, NAME, first_line(__doc__),
         params=dict(task=TASK, n_aux=list(b["n_aux"]), delta_over_L=x, eps=eps,
                     max_horizon=T, bc_horizon=horizon, replicas=R, eta_grid=etas,
                     momenta=list(b["momenta"]) + [1.0], metric=METRIC),
         seeds=dict(simulation=args.seed, task_seed=TASK["task_seed"],
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="markers: T_eps(BC-EMA) / T_eps(Alone), each minimised over the eta grid (BC "
               "also over the momentum, a = 1 being Alone exactly: best_momentum 1.0); error "
               "bars: ratio of the T_eps intervals of the mean -+ 1.96 SE curves; dotted: "
               "1/(N+1).")
    return summary


if __name__ == "__main__":
    main()
