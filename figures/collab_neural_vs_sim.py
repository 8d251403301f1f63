"""Neural vs simulator: task-0 loss of Alone, WGA (uniform, tuned) and BC-EMA on digits.

Collab spec sections 5.1(b) and 6, on real data: task 0 is scikit-learn's digits (a balanced
test set of 30 images per class held out), and each of the N auxiliary tasks relabels a
fraction ``strength`` of every class by its own random derangement of the labels
(:func:`simlab.neural.collab.label_shift_problem`). An MLP (64-64-10, ReLU) is trained with
one minibatch gradient per task per step, for every method at the same step size:
SGD alone, uniform WGA, WGA with ``alpha_0`` from WGA-OPT (MSE, derived) at the measured noise
and bias, and BC-EMA with a constant momentum (coupled samples).

The spec's constants are *measured on the neural runs* (:class:`simlab.neural.collab.
CollabStudy`): the minibatch noise ``sigma^2`` and the aggregate bias ``zeta^2 =
||mean_i (grad f_i - grad f_0)||^2`` at checkpoints (exact, from per-example gradients over the
whole training set), the smoothness ``L`` as the largest ``||Delta grad f_0|| / ||Delta x||``
over one-step pairs along the trajectories, the curvature ``mu`` along the direction of
progress and the Hessian dissimilarity ``delta``; ``F0 = f_0(x_0)`` with ``f_0* = 0``. The
bias is not constant along training (``delta > 0``), so each method's simulator curve uses the
constants measured on that method's own runs: the simulator runs family A (shared-Hessian
quadratics, aligned biases, ``delta = 0``) built from them
(:func:`simlab.neural.collab.surrogate_task`) with the same method object and step size. The
caption prints the constants pooled over methods and each method's ``zeta_bar^2``.

Panels: (a) task-0 test loss against steps (neural); (b) ``||grad f_0(x_t)||^2`` of task 0's
training objective, neural (solid) beside the simulator's prediction (dashed), with the
uniform-WGA bias floor ``zeta_bar^2`` measured on the uniform-WGA runs; (c) test loss against
N (neural): final (mean over the last 10% of the steps) and at ``t = 0.1 T``; (d) final
``||grad f_0||^2`` against N, neural (markers) and simulator (dashed), each N with its own
measured constants. Bands: 95% CI of the mean over seeds (dark) and the 10-90% range of the
seeds (light). Default budget: about 80 s on 2 cores; ``--quick``: a few seconds.
"""

from __future__ import annotations

import numpy as np
from _common import COLORS, Curve, first_line, parse_args, plot_curve, progress, save, summarize

NAME = "collab_neural_vs_sim"
BUDGETS = {
    "default": dict(replicas=5, steps=1500, n_aux=8, n_sweep=(0, 2, 4, 8, 16),
                    sim_replicas=256, n_measure=6, sweep_measure=3),
    "quick": dict(replicas=3, steps=60, n_aux=2, n_sweep=(0, 1, 2), sim_replicas=16,
                  n_measure=3, sweep_measure=2),
}
#: The problem and the training settings (the same at every budget).
SETUP = dict(strength=0.2, kind="permutation", batch_size=8, test_per_class=30, split_seed=0,
             eta=0.3, momentum=0.2, model="mlp", hidden=(64,), threads=1, sim_d=20,
             sim_task_seed=0)
LABELS = {"alone": "Alone", "wga": "WGA uniform", "wga-opt": "WGA opt", "bc": "BC-EMA"}
TAIL = 0.1  # "final": mean over the checkpoints in the last 10% of the steps
EARLY = 0.1  # "early": the checkpoint nearest 0.1 T


def neural(n_aux: int, b: dict, seeds: list, n_measure: int, alone=None):
    """Train the four methods at ``N = n_aux`` (reusing ``alone``, which does not depend on N).

    Returns ``(study, {label: CollabResult}, measured constants)``; the tuned WGA's
    ``alpha_0`` comes from WGA-OPT (MSE) at the constants measured on the runs before it.
    """
    from simlab.neural import collab as nc

    problem = nc.label_shift_problem(n_aux, SETUP["strength"], kind=SETUP["kind"],
                                     batch_size=SETUP["batch_size"],
                                     test_per_class=SETUP["test_per_class"],
                                     seed=SETUP["split_seed"])
    study = nc.CollabStudy(problem, steps=int(b["steps"]), seeds=seeds, eta=SETUP["eta"],
                           momentum=SETUP["momentum"], model=SETUP["model"],
                           model_kwargs={"hidden": SETUP["hidden"]}, n_measure=n_measure,
                           threads=SETUP["threads"], quiet=True)
    results = {} if alone is None else {"Alone": alone}
    for key in LABELS:
        if LABELS[key] in results:
            continue
        a0 = study.alpha0_opt(results) if key == "wga-opt" else None
        results.update(study.run([key], alpha0=a0))
    return study, results, study.constants(results)


def simulator(consts: dict, n_aux: int, alpha0: dict, steps: int, replicas: int, seed: int,
              checkpoints) -> tuple:
    """The four methods (same objects, same step size) on surrogate family-A tasks.

    ``consts[label]``: the constants measured on that method's own runs; each method runs on
    the surrogate built from them (:func:`simlab.neural.collab.surrogate_task`).
    """
    from simlab.engine.simulate import simulate
    from simlab.neural.collab import make_method, surrogate_task

    tasks, traces = {}, {}
    for key, label in LABELS.items():
        tasks[label] = surrogate_task(consts[label], n_aux, d=SETUP["sim_d"],
                                      seed=SETUP["sim_task_seed"])
        m = make_method(key, SETUP["eta"], n_aux, SETUP["momentum"], alpha0.get(label))
        traces[label] = simulate(tasks[label], m, steps=steps, replicas=replicas, seed=seed,
                                 checkpoints=checkpoints)
    return tasks, traces


def per_method(study, results: dict) -> dict:
    """The constants measured on each method's own runs, ``{label: dict}``."""
    return {k: study.constants({k: r}) for k, r in results.items()}


def final(r, T: int, metric: str = "test_loss") -> np.ndarray:
    """Per-seed ``metric`` averaged over the checkpoints in the last ``TAIL`` of the steps."""
    k = r.checkpoints >= (1 - TAIL) * T
    return r.metrics[metric][k].mean(axis=0)


def early(r, T: int) -> np.ndarray:
    """Per-seed test loss at the checkpoint nearest ``EARLY * T``."""
    k = int(np.argmin(np.abs(r.checkpoints - EARLY * T)))
    return r.metrics["test_loss"][k]


def _axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title, fontsize=8.5)


def main(argv: list[str] | None = None) -> dict:
    """Run the neural study and the simulator, draw the four panels, write PNG and sidecar.

    Parameters
    ----------
    argv : list of str, optional
        ``--quick``, ``--out DIR``, ``--replicas R`` (neural seeds), ``--seed S`` (first
        neural seed and the simulation seed), ``--quiet``.

    Returns
    -------
    dict
        The sidecar's ``summary``.
    """
    import matplotlib.pyplot as plt
    import torch

    from simlab.engine.simulate import log_checkpoints

    args = parse_args(argv, __doc__, BUDGETS)
    b = args.budget
    T, R, N0 = int(b["steps"]), int(b["replicas"]), int(b["n_aux"])
    SR = int(b["sim_replicas"])
    seeds = list(range(args.seed, args.seed + R))
    torch.set_num_threads(SETUP["threads"])
    tail_cps = np.unique(np.round(np.linspace((1 - TAIL) * T, T, 11)).astype(np.int64))

    # main N: four methods, measured constants, surrogate simulations
    study, results, consts = neural(N0, b, seeds, int(b["n_measure"]))
    own = per_method(study, results)
    alpha0 = {k: r.info["alpha0"] for k, r in results.items()}
    tasks, traces = simulator(own, N0, alpha0, T, SR, args.seed,
                              np.union1d(log_checkpoints(T, 40), tail_cps))

    # N sweep (N = 0: every method is SGD alone; Alone itself does not depend on N)
    sweep = {}
    for n in progress([int(n) for n in b["n_sweep"]], args, "N sweep"):
        if n == N0:
            res, c, tr = results, own, traces
        elif n == 0:
            res, c, tr = {k: results["Alone"] for k in LABELS.values()}, None, None
        else:
            st, res, _ = neural(n, b, seeds, int(b["sweep_measure"]), alone=results["Alone"])
            c = per_method(st, res)
            c["Alone"] = own["Alone"]
            a0 = {k: r.info["alpha0"] for k, r in res.items()}
            _, tr = simulator(c, n, a0, T, SR, args.seed, tail_cps)
        row = {"alpha0": {k: r.info.get("alpha0", 1.0) for k, r in res.items()},
               "zeta_bar_sq_uniform": None if c is None else
               c["WGA uniform"]["zeta_bar_sq_uniform"],
               "neural test loss": {k: summarize(final(r, T)) for k, r in res.items()},
               "neural early test loss": {k: summarize(early(r, T)) for k, r in res.items()},
               "neural grad_norm_sq": {k: summarize(final(r, T, "grad_norm_sq"))
                                       for k, r in res.items()}}
        if tr is not None:
            row["simulator grad_norm_sq"] = {
                k: summarize(v.metric("grad_norm_sq")[v.checkpoints >= (1 - TAIL) * T]
                             .mean(axis=0)) for k, v in tr.items()}
        sweep[n] = row

    # drawing
    fig, axs = plt.subplots(2, 2, figsize=(9.5, 9.0), layout="constrained")
    (ax_a, ax_b), (ax_c, ax_d) = axs
    curves: dict = {}
    shown = np.union1d(log_checkpoints(T, 30), [T])  # the dense tail is for averaging only
    for label, r in results.items():
        col = COLORS[label]
        k = np.isin(r.checkpoints, shown) & (r.checkpoints > 0)
        tl = Curve.from_samples(r.checkpoints[k], r.metrics["test_loss"][k])
        plot_curve(ax_a, tl, f"{label} (alpha_0 = {alpha0[label]:.2f})", col)
        gn = Curve.from_samples(r.checkpoints[k], r.metrics["grad_norm_sq"][k])
        plot_curve(ax_b, gn, f"{label}, neural", col, quantiles=False)
        ks = np.isin(traces[label].checkpoints, shown) & (traces[label].checkpoints > 0)
        sim = Curve.from_samples(traces[label].checkpoints[ks],
                                 traces[label].metric("grad_norm_sq")[ks])
        line = plot_curve(ax_b, sim, f"{label}, simulator", col, quantiles=False, lw=1.1)
        line.set_linestyle("--")
        curves[label] = {
            "neural test loss": tl.record(), "neural grad_norm_sq": gn.record(),
            "neural train loss": Curve.from_samples(r.checkpoints[k],
                                                    r.metrics["train_loss"][k]).record(),
            "simulator grad_norm_sq": sim.record(),
            "simulator f0 - f0*": Curve.from_trace(traces[label], "subopt").record()}
    zb2 = own["WGA uniform"]["zeta_bar_sq_uniform"]
    ax_b.axhline(zb2, color=COLORS["theory"], ls=":", lw=1.4,
                 label=f"zeta_bar^2 on the uniform-WGA runs = {zb2:.3g}")
    _axes(ax_a, "step t", "task-0 test loss (cross-entropy)",
          f"(a) neural, N = {N0}: mean of {R} seeds (95% CI, 10-90% bands)")
    _axes(ax_b, "step t", r"$\|\nabla f_0(x_t)\|^2$ (task-0 training objective)",
          "(b) neural (solid) vs simulator with the measured constants (dashed)")
    ax_a.legend(fontsize=7, framealpha=0.85)
    lo_b, hi_b = ax_b.get_ylim()
    ax_b.set_ylim(lo_b / 4, hi_b)  # room for the legend below the curves
    ax_b.legend(fontsize=6, framealpha=0.7, ncol=2, loc="lower left")
    ns = sorted(sweep)
    x = np.array(ns, dtype=float) + 1.0
    xs = np.array([n for n in ns if n > 0], dtype=float) + 1.0
    for label in LABELS.values():
        col = COLORS[label]
        for ax, key, ls in ((ax_c, "neural test loss", "-"), (ax_c, "neural early test loss",
                                                              ":"),
                            (ax_d, "neural grad_norm_sq", "-")):
            m = np.array([sweep[n][key][label]["mean"] for n in ns])
            lo = np.array([sweep[n][key][label]["ci95_lo"] for n in ns])
            hi = np.array([sweep[n][key][label]["ci95_hi"] for n in ns])
            lab = (f"{label}, neural" if ax is ax_d else label if ls == "-" else None)
            ax.errorbar(x, m, yerr=[m - np.minimum(lo, m), np.maximum(hi, m) - m], color=col,
                        marker="o" if ls == "-" else "s", ms=4, capsize=3, lw=1.3, ls=ls,
                        label=lab)
            curves[label][f"final {key} vs N" if "early" not in key else f"{key} vs N"] = {
                "n_plus_1": x, "mean": m, "ci95_lo": lo, "ci95_hi": hi}
        sim = np.array([sweep[n]["simulator grad_norm_sq"][label]["mean"] for n in ns if n > 0])
        ax_d.plot(xs, sim, color=col, ls="--", lw=1.1, label=f"{label}, simulator")
        curves[label]["final simulator grad_norm_sq vs N"] = {"n_plus_1": xs, "mean": sim}
    _axes(ax_c, "number of tasks N + 1", "task-0 test loss",
          f"(c) neural: final (solid) and at t = {EARLY:g} T (dotted)")
    _axes(ax_d, "number of tasks N + 1", r"final $\|\nabla f_0\|^2$",
          "(d) final, neural (markers) vs simulator (dashed)")
    ax_c.legend(fontsize=7)
    lo_d, hi_d = ax_d.get_ylim()
    ax_d.set_ylim(lo_d, hi_d * 2.5)  # room for the legend above the markers
    ax_d.legend(fontsize=6.5, ncol=2, loc="upper left")
    summary = _summary(results, consts, own, traces, sweep, T, N0)
    import textwrap

    fig.suptitle("\n".join(textwrap.fill(line, 135) for line in summary["caption"].split("\n")),
                 fontsize=7)
    save(fig, args, NAME, first_line(__doc__),
         params=dict(setup=SETUP, steps=T, seeds=seeds, n_aux=N0, n_sweep=list(b["n_sweep"]),
                     sim_replicas=SR, surrogate_tasks={k: repr(v) for k, v in tasks.items()},
                     alpha0=alpha0, torch=torch.__version__, problem=study.problem.info,
                     early=EARLY, tail=TAIL,
                     sweep={str(n): {"alpha0": v["alpha0"],
                                     "zeta_bar_sq_uniform": v["zeta_bar_sq_uniform"]}
                            for n, v in sweep.items()}),
         seeds=dict(simulation=args.seed, neural=seeds, split=SETUP["split_seed"],
                    task_seed=SETUP["sim_task_seed"]),
         curves=curves, summary=summary,
         notes="Neural: mean over seeds, dark band 95% CI of the mean, light band 10-90% of "
               "the seeds. Simulator (dashed): family A (delta = 0, aligned biases), one "
               "instance per method, built from sigma^2, zeta^2, L, mu measured on that "
               "method's own neural runs at the same N and F0 = f_0(x_0) (f_0* = 0), with the "
               "same method object and step size; 'final' = mean over the checkpoints in the "
               "last 10% of the steps. N = 0: every method is SGD alone (the Alone run, which "
               "does not depend on N: common random numbers).")
    return summary


def _summary(results, pooled, own, traces, sweep, T, N0) -> dict:
    """The numbers the caption and the README state."""
    fin = {}
    for label, r in results.items():
        tr = traces[label]
        sim = float(tr.metric("grad_norm_sq")[tr.checkpoints >= (1 - TAIL) * T].mean())
        nn_gn = float(final(r, T, "grad_norm_sq").mean())
        c = own[label]
        fin[label] = {"test_loss": float(final(r, T).mean()),
                      "test_loss_early": float(early(r, T).mean()),
                      "test_acc": float(final(r, T, "test_acc").mean()),
                      "grad_norm_sq": nn_gn, "simulator_grad_norm_sq": sim,
                      "neural_over_simulator": nn_gn / sim,
                      "measured": {k: c[k] for k in ("sigma0_sq", "zeta_sq",
                                                     "zeta_bar_sq_uniform", "L", "mu",
                                                     "delta")}}
    a, w, o, bc = (fin[k] for k in ("Alone", "WGA uniform", "WGA opt", "BC-EMA"))
    zb2 = own["WGA uniform"]["zeta_bar_sq_uniform"]
    n_max = max(sweep)
    vs_n = {k: {f"N={n}": {"final": sweep[n]["neural test loss"][k]["mean"],
                           "early": sweep[n]["neural early test loss"][k]["mean"]}
                for n in sorted(sweep)} for k in results}
    p = pooled
    row = sweep[N0]["neural test loss"]

    def above(x: str, y: str) -> bool:  # x's final test loss is above y's (95% CIs apart)
        return row[x]["ci95_lo"] > row[y]["ci95_hi"]

    floor = above("WGA uniform", "Alone") and w["grad_norm_sq"] >= 0.5 * zb2
    verdicts = {
        "wga_bias_floor_appears": bool(floor),
        "bc_removes_floor": bool(above("WGA uniform", "BC-EMA")),
        "bc_below_alone": bool(above("Alone", "BC-EMA")),
        "bc_above_alone": bool(above("BC-EMA", "Alone")),
    }
    bc_vs_alone = ("below Alone" if verdicts["bc_below_alone"] else "above Alone"
                   if verdicts["bc_above_alone"] else "level with Alone")
    lines = [
        f"Measured on the MLP (N = {N0}, T = {T}; pooled over methods): sigma_0^2 = "
        f"{p['sigma0_sq']:.3g} (batch {SETUP['batch_size']}), zeta^2 = ||mean_i b_i||^2 = "
        f"{p['zeta_sq']:.3g}, L = {p['L']:.3g}, mu = {p['mu']:.3g}, delta (median) = "
        f"{p['delta']:.3g}, F0 = {p['F0']:.3g}; eta = {SETUP['eta']}, BC a = "
        f"{SETUP['momentum']}, shift strength {SETUP['strength']}. Own runs: zeta_bar^2 = "
        + ", ".join(f"{k} {own[k]['zeta_bar_sq_uniform']:.3g}" for k in own) + ".",
        f"WGA uniform: final ||grad f0||^2 = {w['grad_norm_sq']:.3g} = "
        f"{w['grad_norm_sq'] / zb2:.2f} x its zeta_bar^2 (simulator "
        f"{w['simulator_grad_norm_sq']:.3g}); test loss {w['test_loss']:.3f} vs Alone "
        f"{a['test_loss']:.3f}: the bias floor "
        f"{'appears' if floor else 'does not appear'} (N = {n_max}: "
        f"{vs_n['WGA uniform'][f'N={n_max}']['final']:.3f}). WGA opt: {o['test_loss']:.3f}.",
        f"BC-EMA: ||grad f0||^2 = {bc['grad_norm_sq']:.3g} (simulator "
        f"{bc['simulator_grad_norm_sq']:.3g}), test loss {bc['test_loss']:.3f}: floor "
        f"{'removed' if verdicts['bc_removes_floor'] else 'not removed'}, {bc_vs_alone} "
        f"({a['grad_norm_sq']:.3g}, simulator {a['simulator_grad_norm_sq']:.3g}); at t = "
        f"{EARLY:g} T: BC {bc['test_loss_early']:.3f} vs Alone {a['test_loss_early']:.3f}.",
    ]
    return {"constants (pooled)": pooled, "final (N = main)": fin, "verdicts": verdicts,
            "zeta_bar_sq_uniform (uniform-WGA runs)": zb2,
            "wga_uniform_floor_over_zeta_bar_sq": w["grad_norm_sq"] / zb2,
            "bc_over_wga_uniform_grad_norm_sq": bc["grad_norm_sq"] / w["grad_norm_sq"],
            "test loss vs N": vs_n, "caption": "\n".join(lines)}


if __name__ == "__main__":
    main()
