# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.0
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Subsampling a stream: "One backward from ten forward"
#
# Dong et al., *One Backward from Ten Forward, Subsampling for Large-Scale Deep Learning*
# (arXiv 2104.13114). Spec: `../shared/papers/subsample.md`. The deployed model already runs
# a forward pass on every streamed instance; the paper keeps a constant amount of information
# per instance from it and uses it to choose the few instances (`k` of a window of `n`) that
# get a training backward pass. Only the abstract could be read, so the algorithm here is the
# spec's **[R] reconstruction**: inclusion probabilities `p_i = min(1, c l_i)` of the
# recorded losses ("water-filling"), Horvitz-Thompson weights `1/p_i`.
#
# A short tour: (1) water-filling on one window of losses; (2) one `simulate()` comparison of
# uniform subsampling and water-filling on the regression stream S2; (3) what stale records
# do. The figures F1-F5 (`figures/subsample_f*.py`) do the same at a larger budget. About
# 30 s once the numba kernels are cached.

# %%
# %matplotlib inline
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

ROOT = Path.cwd().resolve()
while not (ROOT / "figures").is_dir() and ROOT != ROOT.parent:
    ROOT = ROOT.parent
sys.path.insert(0, str(ROOT / "figures"))  # figure helpers: bands, legends, the F1-F5 settings

from _common import Curve, legend, plot_curve  # noqa: E402
from _subsample import S2, excess, make, paired_ratio, tail_mean  # noqa: E402

from simlab import simulate  # noqa: E402
from simlab.subsample import (  # noqa: E402
    inclusion_probabilities,
    poisson_variance,
    variance_ratio,
    waterfill,
)

BLUE, RED, PINK = "#1f77b4", "#d62728", "#ff9896"

# %% [markdown]
# ## 1. Water-filling on a window of losses
#
# A window of `n = 100` heavy-tailed losses, a budget of `k = 10` backward passes (`rho =
# 0.1`). Water-filling minimises the variance of the unbiased estimate of the window loss
# subject to `sum p = k`; the largest losses are capped at `p = 1`. The spec's smoothing mixes
# `epsilon` of uniform in, which floors every probability at `epsilon k / n`.

# %%
rng = np.random.default_rng(0)
n, k = 100, 10
losses = rng.lognormal(0.0, 2.5, n)
p = waterfill(losses, k)
p_eps = inclusion_probabilities(losses, k, epsilon=0.1)
p_uni = np.full(n, k / n)
print(f"sum p = {p.sum():.12g}, capped at 1: {int((p == 1).sum())}, "
      f"smallest p (eps = 0.1): {p_eps.min():.4f} (floor eps k / n = {0.1 * k / n:.4f})")
var = {name: poisson_variance(losses, q) for name, q in
       [("uniform", p_uni), ("water-filling", p), ("water-filling, eps = 0.1", p_eps)]}
print({name: round(v / var["uniform"], 4) for name, v in var.items()},
      "(variance of the window-loss estimate over uniform's)")
uncapped = rng.gamma(2.0, 1.0, n)
computed = (poisson_variance(uncapped, waterfill(uncapped, k))
            / poisson_variance(uncapped, p_uni))
print(f"no capping: closed form (n_eff - k)/(n - k) = {variance_ratio(uncapped, k):.5f}, "
      f"computed = {computed:.5f}")

fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
order = np.argsort(losses)
ax.loglog(losses[order], p[order], color=RED, label="water-filling  min(1, c l)")
ax.loglog(losses[order], p_eps[order], color=PINK, ls="--", label="with eps = 0.1 mixing")
ax.axhline(k / n, color=BLUE, label="uniform  k / n")
ax.set_xlabel("recorded loss l")
ax.set_ylabel("inclusion probability p")
ax.legend(fontsize=8)
ax.grid(True, alpha=0.3)
plt.show()

# %% [markdown]
# ## 2. Uniform against water-filling on S2, one `simulate()` each
#
# S2 is linear regression on heavy-tailed rows with outlier noise (`N(0, 1)` / `N(0, 100)`),
# started from half the truth. Both samplers spend about 10 backward passes per window of
# 100 and train by SGD at the same step; the serving copy that records the losses is
# refreshed every `Delta = 10` steps. The same `seed` gives both samplers the same stream, so
# the comparison is paired per replica.

# %%
T, R = 1500, 16
runs = {name: simulate(S2, make(key, S2, **kw), steps=T, replicas=R, seed=0, checkpoints=40)
        for name, key, kw in [("uniform", "uniform", {}),
                              ("water-filling, eps = 0.1", "waterfill", {"epsilon": 0.1})]}
fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
for (name, tr), color in zip(runs.items(), (BLUE, RED)):
    keep = tr.checkpoints >= 1
    plot_curve(ax, Curve.from_samples(tr.checkpoints[keep], excess(tr, S2)[keep]), name, color)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("step t (about 10 backward passes each)")
ax.set_ylabel("excess test loss")
legend(ax)
plt.show()
final = {name: tail_mean(tr, excess(tr, S2)) for name, tr in runs.items()}
r = paired_ratio(final["water-filling, eps = 0.1"], final["uniform"])
print(f"final excess, water-filling / uniform (paired): {r['ratio']:.3f} "
      f"[{r['ci95_lo']:.3f}, {r['ci95_hi']:.3f}]")

# %% [markdown]
# ## 3. Stale records
#
# The recorded losses come from a serving copy that is up to `Delta - 1` steps old. How much
# that matters depends on how far the model moves in `Delta` steps, so this uses 10x the
# step size above. Without smoothing (`epsilon = 0`) a stale record can give an instance a
# tiny probability while its current gradient is large: the step's error over uniform's
# (`mse_ratio`, exact given each window) blows up, and the final loss can turn worse than
# uniform's. Mixing in `epsilon = 0.1` of uniform bounds the weights by `n / (epsilon k)`.

# %%
T3, R3 = 800, 8
cps = np.unique(np.r_[np.linspace(0, T3, 21), np.linspace(0.9 * T3, T3, 11)].round()).astype(int)
base = simulate(S2, make("uniform", S2, eta_scale=10), steps=T3, replicas=R3, seed=1,
                checkpoints=cps)
base_final = tail_mean(base, excess(base, S2))
rows = []
for eps in (0.0, 0.1):
    for delta in (0, 10, 100, 400):
        tr = simulate(S2, make("waterfill", S2, delta=delta, eta_scale=10, epsilon=eps),
                      steps=T3, replicas=R3, seed=1, checkpoints=cps)
        rows.append({"epsilon": eps, "Delta": delta,
                     "mean mse_ratio": tr.metric("mse_ratio")[1:].mean(),
                     "median mse_ratio": np.median(tr.metric("mse_ratio")[1:]),
                     "final excess / uniform's": paired_ratio(
                         tail_mean(tr, excess(tr, S2)), base_final)["ratio"]})
table = pd.DataFrame(rows)
display(table.round(3))

fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
for eps, color in ((0.0, PINK), (0.1, RED)):
    sub = table[table.epsilon == eps]
    ax.plot(range(len(sub)), sub["mean mse_ratio"], "o-", color=color,
            label=f"water-filling eps = {eps:g}")
ax.axhline(1.0, color=BLUE, ls="--", label="uniform")
ax.set_xticks(range(4), ["0", "10", "100", "400"])
ax.set_yscale("log")
ax.set_xlabel("staleness Delta (steps between serving refreshes)")
ax.set_ylabel("mean mse_ratio (error over uniform's)")
ax.legend(fontsize=8)
ax.grid(True, alpha=0.3)
plt.show()
