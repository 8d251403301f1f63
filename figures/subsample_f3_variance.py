"""F3 gradient-estimator error: grad_mse and its ratio to uniform's against the step, Delta 0 / 100.

Subsample spec section 4, figure F3 (the mechanism check of spec 6.4), on S1 (base rate 5%)
and S2; settings in :mod:`_subsample`, ``rho = 0.1``. ``grad_mse`` is the exact
conditional mean-squared error of the step direction around the window-mean gradient, given
the window (bias^2 + variance; Poisson design, Katharopoulos-Fleuret: with replacement), and
``mse_ratio`` divides it by the uniform Horvitz-Thompson sampler's variance at the same budget
on the same window (spec 6.3's variance ratio). Both are recorded by every sampler at every
step along its own trajectory; the value at checkpoint ``t`` is that of step ``t - 1``.

Columns: the serving copy is fresh (``Delta = 0``) or refreshed every 100 steps. Only
water-filling (recorded losses), loss-proportional, Selective Backprop and top-k read the
record, so only they change between the columns; fresh water-filling, the gradient-norm oracle
(the P-grad optimum, spec 2.1), negative downsampling and Katharopoulos-Fleuret score by the
current model. Full training has ``grad_mse = 0`` and is not drawn; the dotted grey line is
``window_var``, the variance of the window-mean gradient itself, the part no sampler removes.

Drawn: the mean over replicas with its 95% CI band at about 30 of the run's log-spaced
checkpoints (no 10-90% band, for legibility; the sidecar's curves, at the plotted checkpoints,
hold the quantiles).
Summary: the time-averaged ``mse_ratio`` (over all steps and replicas) and ``grad_mse`` over
the last 10% of the steps, per sampler and ``Delta``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from _common import first_line, legend, parse_args, plot_curve, progress
from _subsample import (
    COLORS,
    EPSILON,
    ETA,
    RHO,
    S1,
    S2,
    SAMPLERS,
    Curve,
    feasible,
    make,
    method_record,
    reads_record,
    run,
    save,
    summarize,
    tail_mean,
    task_name,
    task_params,
    thin,
)

NAME = "subsample_f3_variance"
DELTAS = (0, 100)
KEYS = ("uniform", "waterfill", "fresh", "lossprop", "oracle", "negdown", "sb", "topk", "kf")
BUDGETS = {"default": dict(replicas=32, steps=3000),
           "quick": dict(replicas=4, steps=300)}


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
    T, R = int(args.budget["steps"]), int(args.budget["replicas"])
    tasks = (S1, S2)
    jobs = [(t, k, d) for t in tasks for k in KEYS for d in DELTAS if feasible(k, t)]
    traces, methods, diverged = {}, {}, {}
    for task, key, delta in progress(jobs, args, "F3 (task, sampler, Delta)", total=len(jobs)):
        m = make(key, task, delta=delta, epsilon=EPSILON) if key == "waterfill" else make(
            key, task, delta=delta)
        name = f"{task_name(task)} / {key} / Delta={delta}"
        methods[name] = method_record(m)
        tr, err = run(task, m, T, R, args.seed)
        if tr is None:
            diverged[name] = err
        else:
            traces[task_name(task), key, delta] = tr
    fig, axes = plt.subplots(4, 2, figsize=(9.6, 11.6), layout="constrained", sharex=True)
    curves, summary = {}, {}
    for i, task in enumerate(tasks):
        tn = task_name(task)
        summary[tn] = {}
        for j, delta in enumerate(DELTAS):
            ax_m, ax_r = axes[2 * i, j], axes[2 * i + 1, j]
            s = {"mse_ratio, time average (all steps and replicas)": {},
                 "grad_mse, last 10% of steps": {}}
            for key in KEYS:
                tr = traces.get((tn, key, delta))
                if tr is None:
                    continue
                keep = tr.checkpoints >= 1
                lab = SAMPLERS[key].label + (f" (eps = {EPSILON:g})" if key == "waterfill"
                                             else "")
                lab += "" if reads_record(SAMPLERS[key]) else " [current model]"
                cm = Curve.from_trace(tr, "grad_mse")
                cr = Curve.from_trace(tr, "mse_ratio")
                plot_curve(ax_m, thin(cm), lab, COLORS[key], quantiles=False)
                plot_curve(ax_r, thin(cr), lab, COLORS[key], quantiles=False)
                curves[f"{tn} / Delta={delta} / {key} / grad_mse"] = thin(cm).record()
                curves[f"{tn} / Delta={delta} / {key} / mse_ratio"] = thin(cr).record()
                s["mse_ratio, time average (all steps and replicas)"][key] = summarize(
                    tr.metric("mse_ratio")[keep].mean(axis=0))
                s["grad_mse, last 10% of steps"][key] = summarize(
                    tail_mean(tr, tr.metric("grad_mse")))
                if key == "uniform":
                    wv = Curve.from_trace(tr, "window_var")
                    wt = thin(wv)
                    ax_m.plot(wt.x, wt.mean, color="0.45", lw=1.1, ls=":",
                              label="window_var: tr Cov of the window-mean gradient")
                    curves[f"{tn} / Delta={delta} / window_var"] = wt.record()
            summary[tn][f"Delta={delta}"] = s
            for ax in (ax_m, ax_r):
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.grid(True, which="major", alpha=0.3)
            ax_r.axhline(1.0, color="k", lw=0.8, ls="--")
            ax_m.set_title(f"{tn}, Delta = {delta}: rho = {RHO:g}, eta = "
                           f"{ETA[task.family]:g}, {R} replicas", fontsize=9)
            ax_m.set_ylabel("grad_mse (direction error)^2", fontsize=8)
            ax_r.set_ylabel("mse_ratio = grad_mse / uniform's", fontsize=8)
        for key in ("waterfill", "lossprop", "sb", "topk"):
            a = summary[tn]["Delta=0"]["mse_ratio, time average (all steps and replicas)"]
            b = summary[tn]["Delta=100"]["mse_ratio, time average (all steps and replicas)"]
            if key in a and key in b:
                summary[tn].setdefault("mse_ratio time average, Delta=100 / Delta=0", {})[
                    key] = b[key]["mean"] / a[key]["mean"]
    for ax in axes[-1]:
        ax.set_xlabel("step t")
    legend(axes[0, 0], bands="ci", outside=True, ncol=3)
    if diverged:
        summary["diverged"] = diverged
    save(fig, args, NAME, first_line(__doc__),
         params=dict(tasks={task_name(t): task_params(t) for t in tasks}, rho=RHO,
                     deltas=DELTAS, epsilon=EPSILON, eta=ETA, steps=T, replicas=R,
                     methods=methods),
         seeds=dict(simulation=args.seed, task_seeds={task_name(t): t.seed for t in tasks},
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="grad_mse: exact conditional MSE of the step direction around the window-mean "
               "gradient given the window (bias^2 + variance); mse_ratio: over the uniform "
               "HT sampler's variance on the same window. Line: mean over replicas; dark "
               "band: 95% CI of the mean (drawn at about 30 checkpoints); the sidecar's "
               "curves also hold the 10-90% quantiles; dotted grey: window_var. Samplers "
               "marked [current model] do not read the serving record (refresh = 0, the "
               "same run in both columns).")
    return summary


if __name__ == "__main__":
    main()
