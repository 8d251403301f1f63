"""F2 budget sweep: final excess test loss against the backward fraction rho, at equal steps.

Subsample spec section 4, figure F2, on S1 (base rate 5%) and S2; settings in
:mod:`_subsample`. Every sampler runs the same number of steps ``T`` at each ``rho``
in {0.02, 0.05, 0.1, 0.2, 0.5, 1.0}, so a run at a small ``rho`` makes *fewer* backward
passes (``rho n T``). Staleness ``Delta = 10``, water-filling with ``epsilon = 0.1``.
Negative downsampling keeps every positive, so it runs only where the base rate (5%) is
below ``rho``. At ``rho = 1`` every Poisson sampler trains on the whole window (full
training); Katharopoulos-Fleuret draws ``n`` with replacement.

Drawn: the final excess test loss (mean over the last 10% of the steps, per replica): the mean
over replicas with its 95% CI band and the 10-90% band of the replicas. Summary: the final
excess per sampler and ``rho``, water-filling over uniform paired per replica at each
``rho``, and the ``rho`` at which uniform (interpolated log-log between grid points) matches
water-filling at ``rho = 0.1``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from _common import first_line, legend, parse_args, plot_curve, progress
from _subsample import (
    COLORS,
    DELTA,
    EPSILON,
    ETA,
    MAIN,
    MARKERS,
    S1,
    S2,
    Curve,
    excess,
    feasible,
    make,
    method_record,
    paired_ratio,
    run,
    save,
    summarize,
    tail_mean,
    task_name,
    task_params,
)

NAME = "subsample_f2_rho"
RHOS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
KEYS = tuple(k for k in MAIN if k != "full")
BUDGETS = {"default": dict(replicas=24, steps=2000),
           "quick": dict(replicas=4, steps=200)}


def final_point(task, key, rho, T, R, seed):
    """Per-replica final excess of sampler ``key`` at ``rho`` (``None`` when infeasible) and
    the divergence message (``None`` when none).

    Returns
    -------
    (ndarray or None, str or None, StreamSampler or None)
    """
    if not feasible(key, task, rho):
        return None, None, None
    m = make(key, task, rho=rho, epsilon=EPSILON) if key == "waterfill" else make(
        key, task, rho=rho)
    tr, err = run(task, m, T, R, seed, cps=final_checkpoints(T))
    return (None if tr is None else tail_mean(tr, excess(tr, task))), err, m


def final_checkpoints(steps: int) -> np.ndarray:
    """0 and 11 checkpoints evenly over the last 10% of the horizon."""
    return np.union1d([0], np.round(np.linspace(0.9 * steps, steps, 11)).astype(np.int64))


def match_rho(rhos, means, target) -> float | None:
    """The ``rho`` at which the decreasing curve ``means(rho)`` reaches ``target``,
    interpolated log-log between grid points (``None`` outside the grid)."""
    r = np.asarray(rhos, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    for j in range(1, r.size):
        a, b = m[j - 1], m[j]
        if (a - target) * (b - target) <= 0 and a != b and a > 0 and b > 0:
            f = (math.log(a) - math.log(target)) / (math.log(a) - math.log(b))
            return float(math.exp(math.log(r[j - 1]) + f * (math.log(r[j]) - math.log(r[j - 1]))))
    return None


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
    T, R = int(args.budget["steps"]), int(args.budget["replicas"])
    tasks = (S1, S2)
    jobs = [(t, k, r) for t in tasks for k in KEYS for r in RHOS]
    vals, methods, diverged = {}, {}, {}
    for task, key, rho in progress(jobs, args, "F2 (task, sampler, rho)", total=len(jobs)):
        v, err, m = final_point(task, key, rho, T, R, args.seed)
        name = f"{task_name(task)} / {key} / rho={rho:g}"
        if m is not None:
            methods[name] = method_record(m)
        if err is not None:
            diverged[name] = err
        if v is not None:
            vals[task_name(task), key, rho] = v
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 5.4), layout="constrained")
    curves, summary = {}, {}
    for ax, task in zip(axes, tasks):
        tn = task_name(task)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        s = {"final_excess": {}, "water-filling / uniform (paired per replica)": {}}
        for key in KEYS:
            rs = [r for r in RHOS if (tn, key, r) in vals]
            if not rs:
                continue
            cur = Curve.from_samples(rs, np.array([vals[tn, key, r] for r in rs]))
            lab = MAIN[key].label + (f" (eps = {EPSILON:g})" if key == "waterfill" else "")
            line = plot_curve(ax, cur, lab, COLORS[key], marker=MARKERS[key])
            if key == "fresh":  # on top of stale water-filling where the record is fresh
                line.set_linestyle((0, (4, 2)))
            curves[f"{tn} / {key}"] = cur.record()
            s["final_excess"][key] = {f"{r:g}": summarize(vals[tn, key, r]) for r in rs}
        for r in RHOS:
            if (tn, "waterfill", r) in vals and (tn, "uniform", r) in vals:
                s["water-filling / uniform (paired per replica)"][f"{r:g}"] = paired_ratio(
                    vals[tn, "waterfill", r], vals[tn, "uniform", r])
        if (tn, "waterfill", 0.1) in vals:
            us = [r for r in RHOS if (tn, "uniform", r) in vals]
            um = [float(vals[tn, "uniform", r].mean()) for r in us]
            target = float(vals[tn, "waterfill", 0.1].mean())
            rm = match_rho(us, um, target)
            s["rho at which uniform matches water-filling at rho = 0.1"] = rm
            s["uniform's backward passes / water-filling's, to match (equal steps)"] = (
                None if rm is None else rm / 0.1)
        summary[tn] = s
        ax.set_xlabel("backward fraction rho = k / n (equal steps: fewer backward passes "
                      "at small rho)", fontsize=8)
        ax.set_ylabel("final excess test loss (mean over last 10% of steps)")
        ax.set_title(f"{tn}: T = {T} steps, Delta = {DELTA}, eta = {ETA[task.family]:g}, "
                     f"{R} replicas", fontsize=9)
        ax.set_xticks(RHOS, [f"{r:g}" for r in RHOS])
    legend(axes[0], outside=True, ncol=4)
    if diverged:
        summary["diverged"] = diverged
    save(fig, args, NAME, first_line(__doc__),
         params=dict(tasks={task_name(t): task_params(t) for t in tasks}, rhos=RHOS,
                     delta=DELTA, epsilon=EPSILON, eta=ETA, steps=T, replicas=R,
                     equal="steps (so backward passes = rho * n * T)", methods=methods,
                     final_window="mean over the checkpoints in the last 10% of the steps"),
         seeds=dict(simulation=args.seed, task_seeds={task_name(t): t.seed for t in tasks},
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="Equal number of steps T at every rho: fewer backward passes at small rho. "
               "Line: mean over replicas of the final excess test loss; dark band: 95% CI "
               "of the mean; light band: 10-90% quantiles of the replicas. Negative "
               "downsampling only where its base rate is below rho. Samplers that do not "
               "read the serving record run with refresh = 0.")
    return summary


if __name__ == "__main__":
    main()
