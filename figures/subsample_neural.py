"""Neural streaming subsampling: test accuracy per backward pass (F1) and against rho (F2).

Subsample spec 6.4 (F1, F2) on a neural network, [R] reconstruction of the training loop
(spec 2.3; :mod:`simlab.neural.subsample`): an MLP 64-512-512-10 (Adam, lr 1e-3) trains on
a Gaussian-mixture stream (:class:`~simlab.neural.subsample.MixtureStream`: 10 classes of 4
clusters in 64 dimensions, a lognormal per-instance noise scale, so a heavy tail of hard
instances) in windows of n = 256. The serving copy (refreshed every 10 windows) runs a forward
pass on every instance and records its loss; the sampler picks the instances that get a
training forward and backward pass (only those rows go through the model in training):

* full: every instance (rho = 1);
* uniform: Poisson with p = rho, weights 1/rho;
* water-filling [R]: ``inclusion_probabilities(recorded, rho n, epsilon=0.1)``, Poisson, HT
  weights (unbiased for the window-mean loss);
* Selective Backprop (keep ``CDF^beta``, beta = 1/rho - 1) and top-k, unweighted (biased).

Panels: (a) F1, test accuracy on a fixed held-out set against the backward passes so far, at
rho = 0.1; (b) the same runs against the wall seconds of the training system *without* the
serving forwards (the real savings of the skipped backward passes; one torch thread); (c) F2,
final test accuracy (mean over the checkpoints in the last 10% of the stream) against rho for
uniform and water-filling, full training at rho = 1. Every sampler sees the same stream from the
same initial weights per seed (paired). Bands: 95% CI of the mean over seeds (dark) and the
10-90% range of the seeds (light); error bars: 95% CI. Default budget: the benchmark's stream
(200,192 instances), 5 seeds, about 8 minutes on 2 cores; ``--quick``: 10,240 instances, 2
seeds, about 15 s.
"""

from __future__ import annotations

import numpy as np
from _common import Curve, first_line, parse_args, plot_curve, progress, save, summarize

NAME = "subsample_neural"
BUDGETS = {
    "default": dict(replicas=5, instances=200_000, checkpoints=40, test_size=10_000),
    "quick": dict(replicas=2, instances=10_240, checkpoints=8, test_size=2_000),
}
#: The stream and the training settings (the same at every budget).
SETUP = dict(window=256, hidden=(512, 512), optimizer="adam", lr=1e-3, refresh=10,
             epsilon=0.1, threads=1, rho=0.1, rhos=(0.05, 0.1, 0.2, 0.5, 1.0))
SAMPLERS = ("full", "uniform", "waterfill", "selective_backprop", "top_k")
LABELS = {"full": "full (rho = 1)", "uniform": "uniform", "waterfill": "water-filling [R]",
          "selective_backprop": "Selective Backprop (unweighted)", "top_k": "top-k (unweighted)"}
COLORS = {"full": "#4d4d4d", "uniform": "#d62728", "waterfill": "#1f77b4",
          "selective_backprop": "#9467bd", "top_k": "#ff7f0e"}
TAIL = 0.1


def stored_run(task, method, instances: int, seed: int, checkpoints: int):
    """One run as :func:`~simlab.neural.subsample.run_subsample` gives it (replica 0 of
    ``seed``), through the runner protocol and the result store: a second run of the figure
    reads it back (its wall seconds are those measured when it ran)."""
    from simlab.neural.subsample import SubsampleResult, checkpoint_windows
    from simlab.sweep.cache import cached_simulate

    windows = -(-int(instances) // method.window)
    cps = checkpoint_windows(windows, checkpoints)
    tr = cached_simulate(task, method, steps=windows, replicas=1, seed=seed, checkpoints=cps)
    arrays = {m: tr.values[:, 0, tr.metrics.index(m)] for m in tr.metrics}
    for m in ("instances", "backward"):
        arrays[m] = arrays[m].astype(np.int64)
    X, y = task.test_set(method.test_size)
    info = dict(task=repr(task), method=repr(method), seed=seed, windows=windows,
                cached=tr.info.get("cached", False),
                nearest_mean_test_acc=task.nearest_mean_accuracy(X, y))
    nan = np.full(cps.size, np.nan)
    return SubsampleResult(sampler=method.sampler, rho=method.effective_rho, seed=seed,
                           windows=tr.checkpoints.astype(np.int64), stream_loss=nan,
                           max_coef=nan, info=info, **arrays)


def runs(b: dict, seeds: list, args) -> dict:
    """``{(sampler, rho): [SubsampleResult per seed]}`` for panel (a)/(b) and the rho sweep."""
    from simlab.neural.subsample import MixtureStream, NeuralSubsample

    task = MixtureStream()
    base = {k: SETUP[k] for k in ("window", "hidden", "optimizer", "lr", "refresh", "epsilon",
                                  "threads")}
    base["test_size"] = int(b["test_size"])
    configs = [(s, SETUP["rho"]) for s in SAMPLERS if s != "full"] + [("full", 1.0)]
    configs += [(s, r) for r in SETUP["rhos"] if r not in (SETUP["rho"], 1.0)
                for s in ("uniform", "waterfill")]
    jobs = [(seed, s, r) for seed in seeds for s, r in configs]
    out: dict = {c: [] for c in configs}
    for seed, s, r in progress(jobs, args, "neural runs"):
        m = NeuralSubsample(sampler=s, rho=r, **base)
        out[(s, r)].append(stored_run(task, m, int(b["instances"]), seed,
                                      int(b["checkpoints"])))
    return out


def main(argv: list[str] | None = None) -> dict:
    """Run the neural comparison, draw the three panels, write PNG and sidecar.

    Parameters
    ----------
    argv : list of str, optional
        ``--quick``, ``--out DIR``, ``--replicas R`` (seeds), ``--seed S`` (first seed),
        ``--quiet``.

    Returns
    -------
    dict
        The sidecar's ``summary``.
    """
    import matplotlib.pyplot as plt
    import torch

    args = parse_args(argv, __doc__, BUDGETS)
    b = args.budget
    seeds = list(range(args.seed, args.seed + int(b["replicas"])))
    res = runs(b, seeds, args)
    rho = SETUP["rho"]

    fig, (ax_a, ax_b, ax_c) = plt.subplots(1, 3, figsize=(13.5, 4.6), layout="constrained")
    curves: dict = {}
    final: dict = {}
    for s in SAMPLERS:
        rs = res[(s, 1.0 if s == "full" else rho)]
        keep = rs[0].windows > 0
        acc = np.stack([r.test_acc[keep] for r in rs], axis=1)
        back = np.mean([r.backward[keep] for r in rs], axis=0)
        secs = np.mean([r.seconds_train[keep] for r in rs], axis=0)
        c_back = Curve.from_samples(back, acc)
        c_secs = Curve.from_samples(secs, acc)
        plot_curve(ax_a, c_back, LABELS[s], COLORS[s])
        plot_curve(ax_b, c_secs, LABELS[s], COLORS[s])
        final[s] = summarize([r.final("test_acc", TAIL) for r in rs])
        curves[s] = {"test_acc vs backward": c_back.record(),
                     "test_acc vs seconds_train": c_secs.record(),
                     "test_loss vs backward": Curve.from_samples(
                         back, np.stack([r.test_loss[keep] for r in rs], axis=1)).record(),
                     "seconds_serving": [float(r.seconds_serving[-1]) for r in rs],
                     "seconds_train": [float(r.seconds_train[-1]) for r in rs]}
    full_final = np.array([r.final("test_acc", TAIL) for r in res[("full", 1.0)]])
    nm = res[("full", 1.0)][0].info["nearest_mean_test_acc"]
    from matplotlib.ticker import NullFormatter

    for ax in (ax_a, ax_b):
        ax.axhline(nm, color="0.5", ls=":", lw=1.0,
                   label=f"nearest cluster mean (near Bayes) = {nm:.3f}")
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax_a.set_xlabel("backward passes (training rows) so far")
    ax_b.set_xlabel("wall seconds of training, serving forwards excluded")
    ax_a.set_title(f"(a) F1: accuracy per backward pass, rho = {rho:g}", fontsize=9)
    ax_b.set_title("(b) the same runs against training wall time", fontsize=9)
    ax_a.legend(fontsize=6.5, framealpha=0.85, loc="lower right")

    vs_rho: dict = {}
    diffs: dict = {}
    rhos = list(SETUP["rhos"])
    for s in ("uniform", "waterfill"):
        per = []
        for r in rhos:
            rs = res[("full", 1.0)] if r == 1.0 else res[(s, r)]
            per.append(np.array([x.final("test_acc", TAIL) for x in rs]))
        vs_rho[s] = {f"{r:g}": summarize(v) for r, v in zip(rhos, per)}
        m = np.array([v.mean() for v in per])
        lo = np.array([vs_rho[s][f"{r:g}"]["ci95_lo"] for r in rhos])
        hi = np.array([vs_rho[s][f"{r:g}"]["ci95_hi"] for r in rhos])
        ax_c.errorbar(rhos, m, yerr=[m - lo, hi - m], color=COLORS[s], marker="o", ms=4,
                      capsize=3, lw=1.4, label=LABELS[s])
        curves[s]["final test_acc vs rho"] = {"rho": rhos, "mean": m, "ci95_lo": lo,
                                              "ci95_hi": hi}
    for r in rhos:
        if r < 1.0:
            d = (np.array([x.final("test_acc", TAIL) for x in res[("waterfill", r)]])
                 - np.array([x.final("test_acc", TAIL) for x in res[("uniform", r)]]))
            diffs[f"{r:g}"] = summarize(d)
    ax_c.axhline(float(full_final.mean()), color=COLORS["full"], ls="--", lw=1.0,
                 label=f"full training, final = {full_final.mean():.3f}")
    ax_c.set_xscale("log")
    ax_c.set_xticks(rhos, [f"{r:g}" for r in rhos])
    ax_c.xaxis.set_minor_formatter(NullFormatter())
    ax_c.set_xlabel("rho = backward passes per forward")
    ax_c.set_ylabel(f"final test accuracy (last {TAIL:.0%} of the stream)")
    ax_c.set_title("(c) F2: final accuracy against the budget", fontsize=9)
    ax_c.grid(True, which="both", alpha=0.3)
    ax_c.legend(fontsize=7, framealpha=0.85, loc="lower right")

    d01 = diffs[f"{rho:g}"]
    caption = (f"Final test accuracy at rho = {rho:g} over {len(seeds)} seeds: full "
               f"{final['full']['mean']:.4f}, uniform {final['uniform']['mean']:.4f}, "
               f"water-filling {final['waterfill']['mean']:.4f} (water-filling - uniform "
               f"{d01['mean']:+.4f}, 95% CI [{d01['ci95_lo']:+.4f}, {d01['ci95_hi']:+.4f}]), "
               f"Selective Backprop {final['selective_backprop']['mean']:.4f}, top-k "
               f"{final['top_k']['mean']:.4f}; stream of {res[('full', 1.0)][0].instances[-1]}"
               f" instances, windows of {SETUP['window']}.")
    fig.suptitle(caption, fontsize=7.5)
    summary = {"final test_acc (rho = 0.1)": final, "final test_acc vs rho": vs_rho,
               "waterfill minus uniform (final test_acc, paired)": diffs,
               "nearest_mean_test_acc": nm, "caption": caption}
    save(fig, args, NAME, first_line(__doc__),
         params=dict(setup=SETUP, task=res[("full", 1.0)][0].info["task"],
                     instances=int(res[("full", 1.0)][0].instances[-1]),
                     checkpoints=int(b["checkpoints"]) + 1, test_size=int(b["test_size"]),
                     tail=TAIL, torch=torch.__version__),
         seeds=dict(simulation=args.seed, neural=seeds),
         curves=curves, summary=summary,
         notes="Mean over seeds; dark band: 95% CI of the mean, light band: 10-90% of the "
               "seeds; error bars: 95% CI. x of (a) and (b): mean over seeds of the backward "
               "count and of the training seconds at each checkpoint (the Poisson samplers' "
               "counts vary a little by seed). 'final' = mean test accuracy over the "
               "checkpoints in the last 10% of the stream. Wall seconds exclude the serving "
               "forwards, the making of the stream and the test evaluations.")
    return summary


if __name__ == "__main__":
    main()
