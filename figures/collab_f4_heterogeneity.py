"""F4 heterogeneity sweep: final error of WGA uniform and BC-EMA against the bias zeta.

Collab spec section 6, figure F4. Family A (shared Hessian, delta = 0) with aligned biases of
size ``zeta`` each, so uniform WGA's aggregate bias is ``zeta_bar = N/(N+1) zeta``. Every method
runs ``T`` steps at the same step size; the error is ``E||grad f_0(x_t)||^2`` averaged over the
last 10% of the steps. Expected shape: WGA follows its noise floor for small ``zeta`` and the
``zeta_bar^2`` floor (the bias term of WGA-NC, derived) for large ``zeta``; BC-EMA with
``a_t = 1/(t+1)`` is flat in ``zeta`` (with delta = 0 its first step sets ``m_0`` to an
unbiased estimate, so no forgetting transient remains); Alone is flat by construction and is
drawn as the reference.

Drawn: the Monte Carlo mean with its 95% CI band and the 10-90% band of the replicas, and the
``zeta_bar^2`` line.
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
)

from simlab.collab import presets
from simlab.collab.methods import BCEMA, WGA, SGDAlone
from simlab.engine.stats import loglog_slope
from theory.collab import wga_nc

NAME = "collab_f4_heterogeneity"
BUDGETS = {"default": dict(replicas=128, steps=3_000, n_zeta=10),
           "quick": dict(replicas=8, steps=500, n_zeta=4)}
TASK = dict(family="A", d=10, n_aux=15, mu=0.1, L=1.0, sigma=1.0, bias_directions="aligned",
            x0_dist=5.0, task_seed=0)
ZETA_RANGE = (0.01, 3.0)
ETA_L = 0.1


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
    zetas = np.geomspace(*ZETA_RANGE, int(b["n_zeta"]))
    L = presets.make_task({**TASK, "zeta": 0.0}).constants()["L"]
    eta = ETA_L / L
    methods = {"WGA uniform": WGA(weights="uniform", step_size=eta),
               "BC-EMA": BCEMA(weights="uniform", step_size=eta, momentum="running"),
               "Alone": SGDAlone(step_size=eta)}
    labels = {"WGA uniform": "WGA uniform", "BC-EMA": "BC-EMA, a_t = 1/(t+1), uniform",
              "Alone": "Alone (reference)"}
    vals: dict[str, list] = {k: [] for k in methods}
    zb2 = []
    jobs = [(z, k) for z in zetas for k in methods]
    for z, k in progress(jobs, args, "F4 (zeta, method)", total=len(jobs)):
        task = presets.make_task({**TASK, "zeta": float(z)})
        if k == "WGA uniform":
            zb2.append(task.constants("uniform")["zeta_bar"] ** 2)
        vals[k].append(final_values(task, methods[k], T, R, args.seed))
    fig, ax = new_axes(r"individual bias $\zeta$ (aligned)",
                       r"$E\,\|\nabla f_0(x_t)\|^2$, mean over $t \in [0.9T, T]$", height=4.8)
    curves, summary = {}, {}
    for k in methods:
        cur = Curve.from_samples(zetas, np.array(vals[k]))
        plot_curve(ax, cur, labels[k], COLORS[k], marker="o")
        curves[k] = cur.record()
        summary[f"{k}: error range over zeta (max/min of means)"] = float(
            cur.mean.max() / cur.mean.min())
        if k == "WGA uniform":
            big = zetas >= 0.3
            s = loglog_slope(zetas[big], cur.mean[big], cur.se[big])
            summary["WGA uniform: log-log slope for zeta >= 0.3"] = {"slope": s.slope,
                                                                    "se": s.se}
            summary["WGA uniform: error / zeta_bar^2 at the largest zeta"] = float(
                cur.mean[-1] / zb2[-1])
    zf = np.geomspace(*ZETA_RANGE, 200)
    n = TASK["n_aux"]
    ax.plot(zf, (n / (n + 1) * zf) ** 2, color=COLORS["theory"], lw=1.3, ls="--",
            label=f"zeta_bar^2 = (N/(N+1) zeta)^2: bias floor of {wga_nc.label()}")
    curves["zeta_bar^2"] = {"x": zetas, "value": zb2}
    ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-4))
    legend(ax, outside=True)
    ax.set_title(f"F4 heterogeneity: family A, N = {n}, eta = {eta:g}, T = {T}", fontsize=9)
    save(fig, args, NAME, first_line(__doc__),
         params=dict(task=TASK, zetas=zetas, eta=eta, steps=T, replicas=R,
                     metric="grad_norm_sq averaged over the last 10% of steps",
                     methods={k: repr(v) for k, v in methods.items()}),
         seeds=dict(simulation=args.seed, task_seed=TASK["task_seed"],
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="line: mean over replicas; dark band: 95% CI of the mean; light band: 10-90% "
               "quantiles of the replicas; dashed: zeta_bar^2, the bias term of WGA-NC.")
    return summary


if __name__ == "__main__":
    main()
