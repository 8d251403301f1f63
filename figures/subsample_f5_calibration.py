"""F5 calibration: mean prediction over mean true probability on S1 at base rates 1%, 5%, 27%.

Subsample spec section 4, figure F5: importance weighting should keep a CTR-style model
calibrated, unweighted hard-example methods should not. S1 (imbalanced logistic regression;
settings in :mod:`_subsample`) at base rates 1%, 5% and 27%, ``rho = 0.1``, staleness
``Delta = 10``; every sampler runs the same ``T`` steps, full training included (the
reference: the warm start's intercept, half the truth's, overpredicts a rare class, and at
1% it is still being corrected at the horizon, for every sampler; the summary also gives
each sampler's ratio over full's, paired per replica). The calibration ratio is the mean
predicted probability over the mean true probability on the test rows (1: calibrated).
Negative downsampling runs where it fits the budget (base rate below ``rho``): with
Horvitz-Thompson weights on the negatives, and unweighted without the spec 5.1 correction
``q = p / (p + (1 - p) / r)`` (the raw model of the unweighted recipe, for contrast).

Left: the final calibration ratio (mean over the last 10% of the steps, per replica), bars of
the mean over replicas with its 95% CI. Right: the ratio against the step at the 1% base rate,
the mean with its 95% CI band (darker) and the 10-90% band of the replicas (lighter).
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
from _common import band_legend, first_line, legend, parse_args, plot_curve, progress
from _subsample import (
    COLORS,
    DELTA,
    EPSILON,
    ETA,
    RHO,
    S1,
    SAMPLERS,
    Curve,
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
    thin,
)

NAME = "subsample_f5_calibration"
BASE_RATES = (0.01, 0.05, 0.27)
#: (key, sampler key, knobs, label)
ARMS = (
    ("full", "full", {}, SAMPLERS["full"].label),
    ("uniform", "uniform", {}, SAMPLERS["uniform"].label),
    ("waterfill", "waterfill", {"epsilon": EPSILON},
     f"{SAMPLERS['waterfill'].label} (eps = {EPSILON:g})"),
    ("fresh", "fresh", {}, SAMPLERS["fresh"].label),
    ("lossprop", "lossprop", {}, SAMPLERS["lossprop"].label),
    ("negdown", "negdown", {}, SAMPLERS["negdown"].label + " (HT weights)"),
    ("negdown_unweighted", "negdown", {"weighting": "none"},
     SAMPLERS["negdown"].label + ", unweighted, uncorrected"),
    ("sb", "sb", {}, SAMPLERS["sb"].label),
    ("topk", "topk", {}, SAMPLERS["topk"].label),
    ("kf", "kf", {}, SAMPLERS["kf"].label),
)
COLOR = {**COLORS, "negdown_unweighted": "#98df8a"}
BUDGETS = {"default": dict(replicas=16, steps=6000),
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
    tasks = [replace(S1, base_rate=b) for b in BASE_RATES]
    jobs = [(t, arm) for t in tasks for arm in ARMS if feasible(arm[1], t)]
    traces, methods, diverged = {}, {}, {}
    for task, arm in progress(jobs, args, "F5 (base rate, sampler)", total=len(jobs)):
        m = make(arm[1], task, **arm[2])
        name = f"{task_name(task)} / {arm[0]}"
        methods[name] = method_record(m)
        tr, err = run(task, m, T, R, args.seed)
        if tr is None:
            diverged[name] = err
        else:
            traces[task_name(task), arm[0]] = tr
    fig, (ax_b, ax_t) = plt.subplots(1, 2, figsize=(11.0, 5.6), layout="constrained",
                                     gridspec_kw={"width_ratios": [1.25, 1]})
    width = 0.8 / len(ARMS)
    curves, summary, seen = {}, {}, set()
    for g, task in enumerate(tasks):
        tn = task_name(task)
        s = {"final calibration ratio": {}, "versus full (ratio of means, paired)": {}}
        finals = {}
        for i, (key, _, _, lab) in enumerate(ARMS):
            x = g + (i - (len(ARMS) - 1) / 2) * width
            tr = traces.get((tn, key))
            if tr is None:
                ax_b.text(x, 1.0, "n/a", rotation=90, fontsize=6, ha="center", va="bottom",
                          color="0.4")
                continue
            v = tail_mean(tr, tr.metric("calibration"))
            finals[key] = v
            first = key not in seen
            seen.add(key)
            sm = summarize(v)
            s["final calibration ratio"][key] = sm
            ax_b.bar(x, sm["mean"], width=width * 0.9, color=COLOR[key],
                     label=lab if first else None,
                     yerr=[[sm["mean"] - sm["ci95_lo"]], [sm["ci95_hi"] - sm["mean"]]],
                     capsize=1.5, error_kw={"lw": 0.8})
            curves[f"{tn} / {key}"] = {"base_rate": task.base_rate, "position": x, **sm,
                                       "replicas": R}
            if g == 0:
                cur = Curve.from_trace(tr, "calibration")
                plot_curve(ax_t, thin(cur, 40), lab, COLOR[key])
                curves[f"{tn} / {key} / over steps"] = cur.record()
        for key, v in finals.items():
            if key != "full" and "full" in finals:
                s["versus full (ratio of means, paired)"][key] = paired_ratio(v,
                                                                              finals["full"])
        s["within 5% of 1 (mean)"] = {k: bool(abs(v["mean"] - 1) <= 0.05)
                                      for k, v in s["final calibration ratio"].items()}
        s["95% CI excludes 1"] = {k: bool(v["ci95_lo"] > 1 or v["ci95_hi"] < 1)
                                  for k, v in s["final calibration ratio"].items()}
        summary[tn] = s
    ax_b.axhline(1.0, color="k", lw=0.9, ls="--")
    ax_b.set_yscale("log")
    ax_b.set_xticks(range(len(tasks)), [f"base rate {100 * b:g}%" for b in BASE_RATES])
    ax_b.set_ylabel("calibration ratio: mean prediction / mean true probability")
    ax_b.set_title(f"S1, final ratio (last 10% of T = {T} steps), rho = {RHO:g}, Delta = "
                   f"{DELTA}, eta = {ETA['S1']:g}, {R} replicas; bars: 95% CI", fontsize=8)
    ax_b.grid(True, axis="y", which="both", alpha=0.3)
    ax_t.axhline(1.0, color="k", lw=0.9, ls="--")
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    ax_t.grid(True, which="major", alpha=0.3)
    ax_t.set_xlabel("step t")
    ax_t.set_ylabel("calibration ratio", fontsize=8)
    ax_t.set_title("base rate 1%: the ratio over the steps", fontsize=8)
    ax_t.legend(handles=band_legend(), fontsize=7, loc="upper right")
    legend(ax_b, outside=True, ncol=4, bands="none")
    if diverged:
        summary["diverged"] = diverged
    save(fig, args, NAME, first_line(__doc__),
         params=dict(tasks={task_name(t): task_params(t) for t in tasks}, rho=RHO,
                     delta=DELTA, epsilon=EPSILON, eta=ETA["S1"], steps=T, replicas=R,
                     methods=methods,
                     final_window="mean over the checkpoints in the last 10% of the steps"),
         seeds=dict(simulation=args.seed, task_seeds={task_name(t): t.seed for t in tasks},
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="Bars: mean over replicas of the final calibration ratio, 95% CI (error "
               "bars); n/a: "
               "negative downsampling does not fit the budget (base rate >= rho). Right: "
               "mean with 95% CI band and 10-90% band of the replicas at base rate 1%. "
               "Full runs the same T steps (the reference for the warm start's residual "
               "miscalibration). The unweighted negative downsampling is drawn without the "
               "spec 5.1 probability correction.")
    return summary


if __name__ == "__main__":
    main()
