"""F4 staleness: final excess loss relative to uniform and mean mse_ratio against Delta.

Subsample spec section 4, figure F4, and the staleness risk of spec 6.3 (P6): the recorded
losses come from a serving copy refreshed every ``Delta`` steps, so they are up to
``Delta - 1`` steps stale (``Delta = 1`` refreshes before every window: the same as fresh,
``Delta = 0``). On S1 (base rate 5%), S1 at the spec 6.3 pilot's base rate 27%, and S2
(settings in :mod:`_subsample`, ``rho = 0.1``), water-filling with ``epsilon`` in {0,
0.1, 0.3} and loss-proportional sampling (floor ``p_min = 0.01``) run ``T`` steps at each
``Delta`` in {0, 1, 10, 100, 1000}.

Top row: the final excess test loss (mean over the last 10% of the steps) over uniform's,
paired per replica (the same streams): the ratio of the means with its 95% delta-method
interval. Above 1, stale-loss sampling is worse than uniform: the staleness crossover, marked
with a red ring. Bottom row: ``mse_ratio`` (the step direction's error over uniform's on the
same window, exact given the window) averaged over the run (41 evenly spaced checkpoints and
the last 10%) and the replicas, with its 95% CI over replicas; it is heavy-tailed at
``epsilon = 0`` (the sidecar also gives the median).

How stale a record is depends on how far the model moves in ``Delta`` steps, i.e. on the step
size; dashed lines repeat water-filling with ``epsilon`` in {0, 0.1} at 10x the step size
(against uniform at 10x): a sensitivity check, not the main setting.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from _common import first_line, parse_args, progress
from _subsample import (
    COLORS,
    ETA,
    RHO,
    S1,
    S1_27,
    S2,
    excess,
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

NAME = "subsample_f4_staleness"
DELTAS = (0, 1, 10, 100, 1000)
#: (key, sampler key, knobs, step-size multiplier, colour, line style)
ARMS = (
    ("water-filling eps=0", "waterfill", {"epsilon": 0.0}, 1.0, "#ff9896", "-"),
    ("water-filling eps=0.1", "waterfill", {"epsilon": 0.1}, 1.0, COLORS["waterfill"], "-"),
    ("water-filling eps=0.3", "waterfill", {"epsilon": 0.3}, 1.0, "#7f0000", "-"),
    ("loss-proportional p_min=0.01", "lossprop", {}, 1.0, COLORS["lossprop"], "-"),
    ("water-filling eps=0, 10x eta", "waterfill", {"epsilon": 0.0}, 10.0, "#ff9896", "--"),
    ("water-filling eps=0.1, 10x eta", "waterfill", {"epsilon": 0.1}, 10.0,
     COLORS["waterfill"], "--"),
)
BUDGETS = {"default": dict(replicas=20, steps=2000),
           "quick": dict(replicas=4, steps=200)}


def checkpoints(steps: int) -> np.ndarray:
    """41 evenly spaced checkpoints and 11 over the last 10% (the final window)."""
    return np.union1d(np.round(np.linspace(0, steps, 41)),
                      np.round(np.linspace(0.9 * steps, steps, 11))).astype(np.int64)


def crossover(ratios: list[dict | None]) -> dict:
    """The first ``Delta`` of the grid at which the paired ratio exceeds 1 (or the run
    diverged), with the last ``Delta`` below it.

    Parameters
    ----------
    ratios : list of dict or None
        :func:`_subsample.paired_ratio` per ``Delta`` of :data:`DELTAS` (``None``:
        diverged).

    Returns
    -------
    dict
        ``text`` ("none in the grid" or "between Delta = a and Delta = b"), ``delta`` (the
        first worse ``Delta`` or ``None``), ``significant`` (its CI lies above 1, or it
        diverged).
    """
    for j, r in enumerate(ratios):
        if r is None or r["ratio"] > 1:
            sig = r is None or r["ci95_lo"] > 1
            what = "diverged" if r is None else f"ratio {r['ratio']:.3g}"
            text = (f"between Delta = {DELTAS[j - 1]} and Delta = {DELTAS[j]} ({what} at "
                    f"{DELTAS[j]})" if j else f"already at Delta = {DELTAS[0]} ({what})")
            return {"text": text, "delta": DELTAS[j], "significant": bool(sig)}
    return {"text": "none in the grid", "delta": None, "significant": False}


def main(argv: list[str] | None = None) -> dict:
    """Run the staleness sweep, draw the figure, write the PNG and its sidecar.

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
    cps = checkpoints(T)
    tasks = (S1, S1_27, S2)
    jobs = [(t, None, 1.0) for t in tasks] + [(t, None, 10.0) for t in tasks]
    jobs += [(t, arm, d) for t in tasks for arm in ARMS for d in DELTAS]
    res, methods, diverged = {}, {}, {}
    for task, arm, d in progress(jobs, args, "F4 (task, arm, Delta)", total=len(jobs)):
        tn = task_name(task)
        if arm is None:  # uniform at this step-size multiplier (reads no record)
            m, key = make("uniform", task, eta_scale=d), (tn, "uniform", d)
        else:
            m = make(arm[1], task, delta=d, eta_scale=arm[3], **arm[2])
            key = (tn, arm[0], d)
        methods[" / ".join(map(str, key))] = method_record(m)
        tr, err = run(task, m, T, R, args.seed, cps=cps)
        if tr is None:
            diverged[" / ".join(map(str, key))] = err
            res[key] = None
            continue
        keep = tr.checkpoints >= 1
        res[key] = {"final": tail_mean(tr, excess(tr, task)),
                    "mse_ratio": tr.metric("mse_ratio")[keep].mean(axis=0)}
    fig, axes = plt.subplots(2, 3, figsize=(12.0, 7.6), layout="constrained", sharex=True)
    pos = np.arange(len(DELTAS))
    curves, summary = {}, {"staleness crossover (first Delta where the arm is worse than "
                           "uniform; final excess, paired)": {}}
    cross_all = summary["staleness crossover (first Delta where the arm is worse than "
                        "uniform; final excess, paired)"]
    for col, task in enumerate(tasks):
        tn = task_name(task)
        ax_l, ax_v = axes[0, col], axes[1, col]
        s = {}
        for i, (name, _, _, scale, color, ls) in enumerate(ARMS):
            uni = res.get((tn, "uniform", scale))
            ratios, mse = [], []
            for d in DELTAS:
                r = res.get((tn, name, d))
                ratios.append(None if r is None or uni is None
                              else paired_ratio(r["final"], uni["final"]))
                mse.append(None if r is None else r["mse_ratio"])
            cx = crossover(ratios)
            cross_all.setdefault(tn, {})[name] = cx["text"] + (
                " (CI above 1)" if cx["delta"] is not None and cx["significant"] else "")
            off = (i - (len(ARMS) - 1) / 2) * 0.06
            ok = [j for j, r in enumerate(ratios) if r is not None]
            y = np.array([ratios[j]["ratio"] for j in ok])
            lo = np.array([ratios[j]["ci95_lo"] for j in ok])
            hi = np.array([ratios[j]["ci95_hi"] for j in ok])
            lab = name.replace("eta", "step")
            ax_l.errorbar(pos[ok] + off, y, yerr=[y - np.maximum(lo, y * 0.05), hi - y],
                          color=color, ls=ls,
                          marker="o", ms=4, lw=1.3, capsize=2, label=lab)
            bad = [j for j in ok if ratios[j]["ratio"] > 1]
            if bad:
                ax_l.plot(pos[bad] + off, [ratios[j]["ratio"] for j in bad], "o", ms=11,
                          mfc="none", mec="red", mew=1.6)
            for j, r in enumerate(ratios):
                if r is None:
                    ax_l.annotate("diverged", (pos[j] + off, 1.0), color=color, fontsize=7,
                                  rotation=90, ha="center", va="bottom")
            vm = [j for j, v in enumerate(mse) if v is not None]
            vs = [summarize(mse[j]) for j in vm]
            ym = np.array([v["mean"] for v in vs])
            ax_v.errorbar(pos[vm] + off, ym,
                          yerr=[ym - np.maximum([v["ci95_lo"] for v in vs], ym * 0.05),
                                np.array([v["ci95_hi"] for v in vs]) - ym],
                          color=color, ls=ls, marker="o", ms=4, lw=1.3, capsize=2, label=lab)
            curves[f"{tn} / {name} / final excess over uniform"] = {
                "delta": DELTAS, "ratio": [None if r is None else r["ratio"] for r in ratios],
                "ci95_lo": [None if r is None else r["ci95_lo"] for r in ratios],
                "ci95_hi": [None if r is None else r["ci95_hi"] for r in ratios],
                "replicas": R}
            curves[f"{tn} / {name} / mean mse_ratio"] = {
                "delta": [DELTAS[j] for j in vm], "mean": ym,
                "ci95_lo": [v["ci95_lo"] for v in vs], "ci95_hi": [v["ci95_hi"] for v in vs],
                "median": [float(np.median(mse[j])) for j in vm], "replicas": R}
            s[name] = {"final excess / uniform's (paired)": dict(zip(map(str, DELTAS),
                                                                     ratios)),
                       "mean mse_ratio": {str(DELTAS[j]): v for j, v in zip(vm, vs)},
                       "crossover": cx}
        for scale in (1.0, 10.0):
            uni = res.get((tn, "uniform", scale))
            if uni is not None:
                s[f"uniform final excess (eta x {scale:g})"] = summarize(uni["final"])
        summary[tn] = s
        ax_l.axhline(1.0, color="k", lw=0.9, ls="--")
        ax_v.axhline(1.0, color="k", lw=0.9, ls="--")
        ax_v.set_yscale("log")
        ax_l.set_yscale("log")
        for ax in (ax_l, ax_v):
            ax.grid(True, which="major", alpha=0.3)
            ax.set_xticks(pos, [str(d) for d in DELTAS])
        ax_l.set_title(f"{tn}: rho = {RHO:g}, eta = {ETA[task.family]:g}, T = {T}, {R} "
                       f"replicas", fontsize=9)
        ax_v.set_xlabel("staleness Delta: serving copy refreshed every Delta steps",
                        fontsize=8)
        ax_l.set_ylabel("final excess / uniform's (paired)", fontsize=8)
        ax_v.set_ylabel("mean mse_ratio (over steps, replicas)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], ls="none", marker="o", ms=11, mfc="none", mec="red",
                          mew=1.6, label="worse than uniform (ratio > 1)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=7,
               title="bars: 95% CI (paired ratio: delta method; mse_ratio: over replicas)",
               title_fontsize=7)
    if diverged:
        summary["diverged"] = diverged
    save(fig, args, NAME, first_line(__doc__),
         params=dict(tasks={task_name(t): task_params(t) for t in tasks}, rho=RHO,
                     deltas=DELTAS, eta=ETA, steps=T, replicas=R,
                     arms={a[0]: dict(sampler=a[1], knobs=a[2], eta_scale=a[3]) for a in ARMS},
                     methods=methods,
                     final_window="mean over the checkpoints in the last 10% of the steps",
                     mse_ratio_average="41 evenly spaced checkpoints and the last 10%"),
         seeds=dict(simulation=args.seed, task_seeds={task_name(t): t.seed for t in tasks},
                    common_random_numbers=True),
         curves=curves, summary=summary,
         notes="Top: ratio of the mean final excess test loss to uniform's over paired "
               "replicas (same seed, same streams), 95% delta-method interval; red ring: "
               "worse than uniform. Bottom: mse_ratio averaged over the run, 95% CI over "
               "replicas (lower bars clipped at 5% of the value on the log axes). Delta = 1 "
               "equals Delta = 0 (the serving copy is refreshed before every window). "
               "Dashed: 10x the step size, against uniform at 10x.")
    return summary


if __name__ == "__main__":
    main()
