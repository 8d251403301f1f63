"""Large-batch active learning on a pool with near-duplicates: accuracy against labels.

Cluster-Margin spec 8.3 item 2 (the analogue of the paper's Open Images figure, section 5.1;
the property tested is redundancy). The pool (:class:`simlab.active.pools.DuplicatedPool`)
holds 50,000 base points of a 10-class Gaussian mixture in 16 dimensions, each repeated 20
times with small jitter: 10^6 points. Batches of ``k_t`` = 10^4 and 5*10^4 labels (1% and 5%
of the pool) after a random seed set of 10^4, softmax regression refit after every round.
Samplers: Random, Margin, Cluster-Margin (``k_m = 10 k_t``, the Open Images setting [S];
two-level HAC of the whole pool, computed once and cached), CoreSet and BADGE with the
paper's random pool partitioning (20 parts, ``k_t / 20`` each [P, Appendix A.1]); CoreSet's
parts start from their own labeled points (``coreset_centers="part"``: the distances from
10^6 points to all of up to 1.6*10^5 labeled points would take minutes per round). Curves:
mean and standard error over the seeds. The sidecar gives the spec 5.1 "% fewer labels" of
Cluster-Margin against the best other sampler per batch size. The default budget takes
about half an hour on 2 cores (``slow``); ``--quick`` runs a 4,000-point pool.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from _active import loop, mean_se, run
from _common import first_line, parse_args, progress, save

from simlab.active.pools import DuplicatedPool
from simlab.active.report import fewer_labels

NAME = "active_f2_large_batch"
#: (key, label, sampler, options, colour)
ARMS = (
    ("random", "Random", "random", {}, "#7f7f7f"),
    ("margin", "Margin", "margin", {}, "#1f77b4"),
    ("cm10", "Cluster-Margin k_m=10 k_t", "cluster_margin", {"km_ratio": 10.0}, "#d62728"),
    ("coreset", "CoreSet (20 parts)", "coreset", {"partitions": 20, "coreset_centers": "part"},
     "#2ca02c"),
    ("badge", "BADGE (20 parts)", "badge", {"partitions": 20}, "#9467bd"),
)
BUDGETS = {
    "default": dict(replicas=5, rounds=3, n_base=50_000, copies=20, batches=(10_000, 50_000),
                    n_seed=10_000),
    "quick": dict(replicas=2, rounds=2, n_base=400, copies=10, batches=(100, 400),
                  n_seed=100),
}


def task(b: dict) -> DuplicatedPool:
    """The near-duplicate pool of a budget."""
    return DuplicatedPool(d=16, n_classes=10, n_base=int(b["n_base"]), copies=int(b["copies"]),
                          n_test=5000, sep=4.0, jitter=0.05, seed=0)


def main(argv: list[str] | None = None) -> dict:
    """Run every sampler at both batch sizes, draw the figure, write the PNG and sidecar.

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
    R, rounds, n_seed = int(b["replicas"]), int(b["rounds"]), int(b["n_seed"])
    T = task(b)
    batches = tuple(int(k) for k in b["batches"])
    fig, axes = plt.subplots(1, len(batches), figsize=(11.0, 4.4), layout="constrained",
                             squeeze=False)
    curves, finals, savings = {}, {}, {}
    jobs = [(k, arm) for k in batches for arm in ARMS]
    for k, (key, label, sampler, opts, color) in progress(jobs, args, "F2 (k_t, sampler)"):
        ax = axes[0, batches.index(k)]
        tr = run(T, loop(sampler, k, n_seed, **opts), rounds, R, args.seed)
        x, m, se = mean_se(tr, "test_acc")
        ax.plot(x, m, "-o", ms=3, color=color, label=label, lw=1.5)
        ax.fill_between(x, m - se, m + se, color=color, alpha=0.15, lw=0)
        curves[f"k_t={k}/{key}"] = {"labels": x, "mean": m, "se": se}
        finals.setdefault(f"k_t={k}", {})[key] = {"mean": float(m[-1]), "se": float(se[-1])}
    for k in batches:
        ax = axes[0, batches.index(k)]
        f = finals[f"k_t={k}"]
        best = max((a[0] for a in ARMS if a[0] != "cm10"), key=lambda a: f[a]["mean"])
        cm, other = curves[f"k_t={k}/cm10"], curves[f"k_t={k}/{best}"]
        savings[f"k_t={k}"] = {"best other": best, "fewer labels": fewer_labels(
            cm["labels"], cm["mean"], other["labels"], other["mean"])}
        ax.set_title(f"k_t = {k} ({100 * k / (T.n_base * T.copies):.0f}% of the pool)",
                     fontsize=10)
        ax.set_xlabel("labels")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, -1].legend(fontsize=8, loc="lower right")
    summary = {"final test accuracy (mean, se)": finals,
               "Cluster-Margin fewer labels than the best other sampler (spec 5.1)": savings}
    save(fig, args, NAME, first_line(__doc__),
         params={"task": repr(T), "pool": T.n_base * T.copies, "n_seed": n_seed,
                 "batches": batches, "rounds": rounds,
                 "samplers": {a[0]: {"sampler": a[2], **a[3]} for a in ARMS}},
         seeds={"simulation": args.seed, "task": T.seed}, curves=curves, summary=summary,
         notes="Bands: one standard error of the mean over seeds. Near-duplicates: 20 "
               "jittered copies of each base point share its label.")
    return summary


if __name__ == "__main__":
    main()
