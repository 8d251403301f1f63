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
# # Batch active learning at scale: Cluster-Margin
#
# Citovsky et al., *Batch Active Learning at Scale* (NeurIPS 2021). Spec:
# `../shared/papers/cluster_margin.md`. Only the abstract and the opening of the paper could
# be read; the algorithm is pinned down by secondary sources **[S]**, the theory (Cluster-MarginV,
# the factor beta, the log k ceiling) is the spec's **UNVERIFIED reconstruction**.
#
# Cluster-Margin clusters the embedded pool **once** (average-linkage HAC at a threshold eps),
# then in every round takes the `k_m` lowest-margin points and fills the batch of `k_t` by a
# random round-robin over their clusters, smallest first. A short tour: (1) one batch on a pool
# with near-duplicates, Margin against Cluster-Margin; (2) the loop through `simulate()`;
# (3) label complexity in the spec 8.1 setting; (4) beta against the batch size. About 40 s.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

from simlab import simulate
from simlab.active import (
    ActiveLearning,
    DuplicatedPool,
    LinearSeparatorPool,
    StagewiseMargin,
    cluster_margin_batch,
    cluster_pool,
    labels_to_reach,
)
from simlab.claims import load_all

# %% [markdown]
# ## 1. One batch on a pool with near-duplicates
#
# 60 base points, 15 jittered copies each. Margin (here: distance to a vertical boundary) takes
# the `k_t` points nearest the boundary, which are copies of a few base points; Cluster-Margin
# takes the `k_m = 10 k_t` nearest and one point per cluster, smallest clusters first.

# %%
rng = np.random.default_rng(0)
base = rng.uniform(-3, 3, size=(60, 2))
X = np.repeat(base, 15, axis=0) + 0.03 * rng.standard_normal((900, 2))
margin = np.abs(X[:, 0])                     # small = uncertain
clusters = cluster_pool(X, cache=False)      # exact HAC, data-derived eps
print(clusters.describe())
k_t = 12
m_batch = np.argsort(margin)[:k_t]
cm_batch = cluster_margin_batch(margin, clusters.labels, k_t, 10 * k_t, np.random.default_rng(1))
print("distinct base points: Margin", np.unique(m_batch // 15).size,
      "Cluster-Margin", np.unique(cm_batch // 15).size)

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
for ax, batch, title in ((axes[0], m_batch, "Margin (top-k)"), (axes[1], cm_batch,
                                                                 "Cluster-Margin")):
    ax.scatter(X[:, 0], X[:, 1], s=4, c="#bbbbbb")
    ax.scatter(X[batch, 0], X[batch, 1], s=40, facecolors="none", edgecolors="#d62728")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_title(title)
plt.show()

# %% [markdown]
# ## 2. The loop through `simulate()`
#
# A pool of 5,000 points (500 base points x 10 copies, 10 classes), softmax regression, batches
# of 2% of the pool: the setting of claim `active.LB-dup`. The seed sets are paired (one seed
# gives every sampler the same one).

# %%
task = DuplicatedPool(d=10, n_classes=10, n_base=500, copies=10, n_test=2000, sep=4.0)
curves = {}
for sampler in ("random", "margin", "cluster_margin"):
    m = ActiveLearning(sampler=sampler, k=100, n_seed=50, km_ratio=10.0,
                       require_all_classes=False)
    cps = np.array([0] + [m.horizon(r) for r in range(5)])
    tr = simulate(task, m, steps=int(cps[-1]), replicas=4, seed=1, checkpoints=cps)
    curves[sampler] = (tr.checkpoints[1:], tr.mean("test_acc")[1:])
for s, (x, y) in curves.items():
    plt.plot(x, y, "o-", label=s)
plt.xlabel("labels")
plt.ylabel("test accuracy")
plt.legend()
plt.show()

# %% [markdown]
# ## 3. Label complexity (spec 8.1)
#
# The stage-wise margin learner: a band `|w.x| <= c_b 2^-s` around the current separator, `k`
# labels per stage from the band, refit. B0 (recalled from Balcan and Long): the labels to
# reach error eps grow like `log(1/eps)`, passive learning's like `1/eps`.

# %%
lin = LinearSeparatorPool(d=5, n_pool=20_000, n_test=10, seed=1)
eps = (0.1, 0.05, 0.02, 0.01, 0.005)
for sel, rounds in (("margin_uniform", 30), ("passive", 150)):
    m = StagewiseMargin(selector=sel, k=10)
    H = m.horizon(rounds)
    tr = simulate(lin, m, steps=H, replicas=8, seed=2, checkpoints=np.arange(0, H + 1, 10))
    N = [np.mean(labels_to_reach(tr.checkpoints, tr.metric("err").T, e)) for e in eps]
    plt.plot(1 / np.asarray(eps), N, "o-", label=sel)
plt.xscale("log")
plt.yscale("log")
plt.xlabel("1 / eps")
plt.ylabel("labels to reach eps")
plt.legend()
plt.show()

# %% [markdown]
# ## 4. beta against the batch size
#
# Claim T2-k: at `d = 2`, Cluster-MarginV (V-cells: one point per k-means cell of the
# candidates) needs fewer rounds than uniform sampling in the band, and its gain `beta =
# R_uniform / R_CMV` should grow with `k` (spec 8.1 check 3). Stream mode: every round draws
# fresh band points. A small budget here; `simlab verify --claim active.T2-k --full` runs
# 10, 30, 100, 300 with 1,920 replicas.

# %%
t2k = load_all()["active.T2-k"]
run = t2k.context(budget={"replicas": 20, "ks": (10, 30, 100), "rounds": (20, 20, 15)})
m = t2k.measure(run)
beta = m.series["beta"]
ks = [int(key.split("=")[1]) for key in beta]
b, lo, hi = (np.array([v[i] for v in beta.values()]) for i in range(3))
plt.errorbar(ks, b, yerr=[b - lo, hi - b], fmt="o-", capsize=3)
plt.axhline(1.0, color="grey", lw=0.8)
plt.xscale("log")
plt.xlabel("batch size k")
plt.ylabel("beta = R_uniform / R_CMV (d = 2)")
plt.show()
print(m.details)
