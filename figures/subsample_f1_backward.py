"""F1 backward passes: excess test loss against backward passes (and cost) at rho = 0.1.

Subsample spec section 4, figure F1, on S1 (imbalanced logistic regression, base rate 5%)
and S2 (linear regression, heavy-tailed noise); settings in :mod:`_subsample`. Every
sampler but ``full`` picks about ``k = rho n = 10`` of each window of ``n = 100`` for the
backward pass and runs ``T`` steps; ``full`` trains on the whole window and runs ``rho T``
steps, so every curve ends at the same number of backward passes. The serving copy that
records the losses is refreshed every ``Delta = 10`` steps; water-filling mixes
``epsilon = 0.1`` of uniform in (spec 2.4).

Top row: the excess test loss (``test_loss - loss_floor``) against the backward passes
measured by the run (the mean over replicas). Bottom row: the same against spec 6.1's cost
(forward 1, backward 2, serving forwards free: a fresh score costs a training forward per
instance, so fresh water-filling, the oracle-free Katharopoulos-Fleuret and full pay more).

Drawn: the mean over replicas with its 95% CI band and (top row) the 10-90% band of the
replicas.
Summary: the final excess (mean over the last 10% of the steps) per sampler, water-filling
over uniform paired per replica (same streams), and the fraction of uniform's backward passes
(and cost) each sampler needs to reach uniform's final excess loss, read off the mean curves
(spec 6.4's pass criterion: at most 50-70% for water-filling). Uniform's own fraction is
given as the reference: its curve is on a plateau, so it reaches its own final mean early;
the summary also divides each fraction by uniform's own. Fresh water-filling is dashed (at
``Delta = 10`` it lies on top of the stale one).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from _common import downsample, first_line, legend, parse_args, plot_curve, progress
from _subsample import (
    COLORS,
    DELTA,
    EPSILON,
    ETA,
    MAIN,
    RHO,
    S1,
    S2,
    Curve,
    excess,
    feasible,
    make,
    method_record,
    paired_ratio,
    reach,
    run,
    save,
    summarize,
    tail_mean,
    task_name,
    task_params,
)

NAME = "subsample_f1_backward"
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
    fig, axes = plt.subplots(2, 2, figsize=(9.6, 7.6), layout="constrained")
    curves, summary, methods, diverged = {}, {}, {}, {}
    jobs = [(task, key) for task in tasks for key in MAIN if feasible(key, task)]
    traces = {}
    for task, key in progress(jobs, args, "F1 (task, sampler)", total=len(jobs)):
        m = make(key, task, epsilon=EPSILON) if key == "waterfill" else make(key, task)
        steps = max(1, round(RHO * T)) if key == "full" else T
        tr, err = run(task, m, steps, R, args.seed)
        methods[f"{task_name(task)} / {key}"] = method_record(m)
        if tr is None:
            diverged[f"{task_name(task)} / {key}"] = err
            continue
        traces[task_name(task), key] = tr
    for col, task in enumerate(tasks):
        tn = task_name(task)
        ax_b, ax_c = axes[0, col], axes[1, col]
        for ax in (ax_b, ax_c):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
        per, final = {}, {}
        for key in MAIN:
            tr = traces.get((tn, key))
            if tr is None:
                continue
            ex = excess(tr, task)
            keep = tr.checkpoints >= 1
            xb = tr.metric("backward")[keep].mean(axis=1)
            xc = tr.metric("cost")[keep].mean(axis=1)
            lab = MAIN[key].label + (f" (eps = {EPSILON:g})" if key == "waterfill" else "")
            cb = Curve.from_samples(xb, ex[keep])
            cc = Curve.from_samples(xc, ex[keep])
            lines = [plot_curve(ax_b, cb, lab, COLORS[key]),
                     plot_curve(ax_c, cc, lab, COLORS[key], quantiles=False)]
            if key == "fresh":  # on top of stale water-filling where the record is fresh
                for line in lines:
                    line.set_linestyle((0, (4, 2)))
            rec = cb.record()
            idx = downsample(len(cb.x))
            rec["cost"] = cc.x[idx]
            rec["step"] = tr.checkpoints[keep][idx]
            curves[f"{tn} / {key}"] = rec
            final[key] = tail_mean(tr, ex)
            per[key] = {"final_excess": summarize(final[key]),
                        "backward_at_end": float(xb[-1]), "cost_at_end": float(xc[-1]),
                        "steps": int(tr.checkpoints[-1]), "curve": (cb, cc)}
        s = {"loss_floor": task.constants()["loss_floor"], "eta": ETA[task.family],
             "final_excess (mean over the last 10% of steps)": {
                 k: v["final_excess"] for k, v in per.items()}}
        if "uniform" in per:
            target = per["uniform"]["final_excess"]["mean"]
            ub, uc = per["uniform"]["backward_at_end"], per["uniform"]["cost_at_end"]
            fb, fc = {}, {}
            for key, v in per.items():
                cb, cc = v["curve"]
                xb_hit, xc_hit = reach(cb.x, cb.mean, target), reach(cc.x, cc.mean, target)
                fb[key] = None if xb_hit is None else xb_hit / ub
                fc[key] = None if xc_hit is None else xc_hit / uc
            s["uniform final excess (the target)"] = target
            s["backward passes to reach it, relative to uniform's own (None: never)"] = {
                k: None if v is None or not fb["uniform"] else v / fb["uniform"]
                for k, v in fb.items()}
            s["backward fraction to reach uniform's final excess (None: never)"] = fb
            s["cost fraction to reach uniform's final excess (None: never)"] = fc
            for ax in (ax_b, ax_c):
                ax.axhline(target, color=COLORS["uniform"], lw=0.8, ls=":")
            ratios = {k: paired_ratio(final[k], final["uniform"]) for k in final
                      if k != "uniform" and k != "full"}
            s["final excess / uniform's, paired per replica (equal steps and backward)"] = (
                ratios)
            if "waterfill" in per:
                wf = ratios["waterfill"]
                rel = s["backward passes to reach it, relative to uniform's own (None: "
                        "never)"]["waterfill"]
                s["water-filling vs uniform at equal backward passes"] = {
                    "final excess ratio": wf["ratio"], "ci95": [wf["ci95_lo"], wf["ci95_hi"]],
                    "backward fraction to reach uniform's final": fb["waterfill"],
                    "the same, relative to uniform's own fraction": rel,
                    "meets spec 6.4 (<= 0.7 of uniform's backward passes, either reading)": (
                        fb["waterfill"] is not None and max(fb["waterfill"], rel) <= 0.7),
                    "worse than uniform (ratio CI above 1)": wf["ci95_lo"] > 1}
            if "full" in per:
                s["full at equal backward passes: final excess / uniform's"] = (
                    per["full"]["final_excess"]["mean"] / target)
        summary[tn] = s
        ax_b.set_title(f"{tn}: rho = {RHO:g}, Delta = {DELTA}, eta = {ETA[task.family]:g}, "
                       f"T = {T}, {R} replicas", fontsize=8)
        ax_b.set_xlabel("backward passes (mean over replicas)")
        ax_c.set_xlabel("cost: forward 1 + backward 2 (serving forwards free)")
        for ax in (ax_b, ax_c):
            ax.set_ylabel("excess test loss (test loss - loss floor)")
    legend(axes[0, 0], outside=True, ncol=4)
    if diverged:
        summary["diverged"] = diverged
    save(fig, args, NAME, first_line(__doc__),
         params=dict(tasks={task_name(t): task_params(t) for t in tasks}, rho=RHO,
                     delta=DELTA, epsilon=EPSILON, eta=ETA, steps=T, full_steps=round(RHO * T),
                     replicas=R, methods=methods,
                     final_window="mean over the checkpoints in the last 10% of the steps"),
         seeds=dict(simulation=args.seed, task_seeds={task_name(t): t.seed for t in tasks},
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="x: backward passes (top) or cost (bottom), the mean over replicas of the "
               "run's own counters; line: mean excess test loss over replicas; dark band: "
               "95% CI of the mean; light band (top row): 10-90% quantiles of the replicas; "
               "dotted: uniform's final excess. Full runs rho*T steps (equal backward passes). "
               "Samplers that do not read the serving record run with refresh = 0 (Delta "
               "has no effect on them).")
    return summary


if __name__ == "__main__":
    main()
