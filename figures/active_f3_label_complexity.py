"""Label complexity: labels to reach error eps against 1/eps and against d, with the B0 shapes.

Cluster-Margin spec 8.1 (the setting of claims B0, B0-passive, T1): a hidden separator
``w*``, ``x ~ N(0, I_d)``, a pool of 2*10^4 points, the exact error ``angle(w, w*) / pi``,
``N(eps)`` the labels until the error first stays below ``eps``. The stage-wise margin learner
(:class:`simlab.active.stagewise.StagewiseMargin`, k = 10 labels per stage, logistic fit on
all labels) with the theory's Margin (uniform in the band) and Cluster-MarginV in both
readings (V-det, V-cells; k_m = 10 k), against passive learning (uniform from the pool).
Left: N(eps) against 1/eps (log x) at d = 5 and 20, with B0's shapes fitted: ``a + b
log(1/eps)`` for Margin and ``c / eps`` for passive (B0 recalled [M]; constants unknown, so
fitted). Right: N(0.01) against d for Margin and passive, with lines through the origin
(B0: both linear in d). Mean and standard error over the replicas.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from _common import first_line, parse_args, progress, save

from simlab.active.pools import LinearSeparatorPool
from simlab.active.stagewise import StagewiseMargin, labels_to_reach
from simlab.sweep.cache import cached_simulate

NAME = "active_f3_label_complexity"
EPS = (0.1, 0.05, 0.02, 0.01, 0.005)
ARMS = (("margin_uniform", "Margin (uniform in band)", "#1f77b4"),
        ("cmv_det", "Cluster-MarginV (V-det)", "#8c564b"),
        ("cmv_cells", "Cluster-MarginV (V-cells)", "#e377c2"),
        ("passive", "passive", "#7f7f7f"))
BUDGETS = {"default": dict(replicas=20, dims=(2, 5, 10, 20, 50), rounds=60, passive_rounds=800),
           "quick": dict(replicas=3, dims=(5, 20), rounds=20, passive_rounds=60)}
K = 10


def n_eps(d: int, selector: str, rounds: int, R: int, seed: int) -> np.ndarray:
    """N(eps) per replica, shape (len(EPS), R), through the result store."""
    task = LinearSeparatorPool(d=d, n_pool=20_000, n_test=10, seed=1)
    m = StagewiseMargin(selector=selector, k=K)
    H = (rounds + 1) * K
    if selector == "passive":  # log-spaced records (passive fits only where recorded)
        cps = np.unique(np.r_[0, np.round(np.geomspace(K, H, 80) / K) * K]).astype(np.int64)
    else:
        cps = np.arange(0, H + 1, K)
    tr = cached_simulate(task, m, steps=H, replicas=R, seed=seed, checkpoints=cps)
    E = tr.metric("err").T
    return np.stack([np.atleast_1d(labels_to_reach(tr.checkpoints, E, e)) for e in EPS])


def main(argv: list[str] | None = None) -> dict:
    """Run the grid, draw the figure, write the PNG and its sidecar.

    Parameters
    ----------
    argv : list of str, optional
        ``--quick``, ``--out DIR``, ``--replicas R``, ``--seed S``.

    Returns
    -------
    dict
        The sidecar's ``summary``.
    """
    args = parse_args(argv, __doc__, BUDGETS)
    b = args.budget
    R, dims = int(b["replicas"]), tuple(b["dims"])
    show = tuple(d for d in (5, 20) if d in dims)
    jobs = [(d, a) for d in dims for a in ARMS if d in show or a[0] in ("margin_uniform",
                                                                          "passive")]
    res = {}
    for d, (sel, _, _) in progress(jobs, args, "F3 (d, selector)"):
        rounds = b["passive_rounds"] if sel == "passive" else b["rounds"]
        res[(d, sel)] = n_eps(d, sel, rounds, R, args.seed)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.5), layout="constrained")
    inv = 1.0 / np.asarray(EPS)
    curves, summary = {}, {"B0 fits": {}, "N(0.01) against d": {}}
    for d, ls in zip(show, ("-", "--")):
        for sel, label, color in ARMS:
            N = res[(d, sel)]
            m = N.mean(axis=1)
            ok = np.isfinite(m)
            with np.errstate(invalid="ignore"):
                se = N.std(axis=1, ddof=1) / np.sqrt(R) if R > 1 else np.zeros_like(m)
            ax.errorbar(inv[ok], m[ok], yerr=se[ok], fmt="o" + ls, ms=3.5, color=color, lw=1.3,
                        capsize=2, label=f"{label}, d={d}")
            curves[f"d={d}/{sel}"] = {"inv_eps": inv, "mean": m, "se": se}
            if ok.sum() >= 2 and sel in ("margin_uniform", "passive"):
                if sel == "passive":
                    c = float(np.sum(m[ok] * inv[ok]) / np.sum(inv[ok] ** 2))
                    fit = c * inv
                    summary["B0 fits"][f"passive d={d}"] = {"c (N = c / eps)": c}
                else:
                    A = np.vstack([np.ones(ok.sum()), np.log(inv[ok])]).T
                    coef = np.linalg.lstsq(A, m[ok], rcond=None)[0]
                    fit = coef[0] + coef[1] * np.log(inv)
                    summary["B0 fits"][f"margin d={d}"] = {"a": float(coef[0]),
                                                           "b (per log(1/eps))": float(coef[1])}
                ax.plot(inv, fit, ":", color=color, lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("1 / eps")
    ax.set_ylabel("labels to reach eps, N(eps)")
    ax.set_title("N(eps): Margin ~ log(1/eps), passive ~ 1/eps (dotted: B0 shapes)",
                 fontsize=9.5)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6.5, ncol=2)
    j = EPS.index(0.01)
    for sel, label, color in (ARMS[0], ARMS[3]):
        ds = np.array([d for d in dims if (d, sel) in res])
        m = np.array([res[(d, sel)][j].mean() for d in ds])
        with np.errstate(invalid="ignore"):
            se = np.array([res[(d, sel)][j].std(ddof=1) / np.sqrt(R) if R > 1 else 0.0
                           for d in ds])
        ok = np.isfinite(m)
        bx.errorbar(ds[ok], m[ok], yerr=se[ok], fmt="o-", color=color, capsize=2, label=label)
        if ok.sum() >= 1:
            slope = float(np.sum(m[ok] * ds[ok]) / np.sum(ds[ok] ** 2))
            bx.plot(ds, slope * ds, ":", color=color, lw=1)
            summary["N(0.01) against d"][sel] = {"slope (labels per dimension)": slope,
                                                 "d": ds, "mean": m}
    bx.set_xlabel("d")
    bx.set_ylabel("N(0.01)")
    bx.set_title("N(0.01) against d (dotted: through the origin)", fontsize=9.5)
    bx.grid(alpha=0.3)
    bx.legend(fontsize=8)
    save(fig, args, NAME, first_line(__doc__),
         params={"pool": 20_000, "k": K, "k_m": "10 k", "eps": EPS, "dims": dims,
                 "fit": "logistic (l2 = 1e-6) on all labels", "c_b": 2.0},
         seeds={"simulation": args.seed, "pool": 1}, curves=curves, summary=summary,
         notes="Error bars: one standard error of the mean over replicas. A point missing "
               "means some replica did not reach eps within the horizon.")
    return summary


if __name__ == "__main__":
    main()
