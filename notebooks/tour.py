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
# # A tour of simlab
#
# simlab checks by simulation what papers on data-efficient learning claim. This notebook
# shows its three ideas on the first paper, *Linear Speedup in Personalized Collaborative
# Learning* (Chayti et al., arXiv 2111.05968):
#
# 1. a **claim** from the registry, run at its quick budget, and its verdict;
# 2. a **Bound**: a sympy expression with its provenance (`paper`, `derived` or
#    `reconstructed`), its LaTeX and its rate;
# 3. the **engine**: `simulate(...)` returns a `Trace` (metrics per checkpoint and replica)
#    with means, confidence intervals and a pandas view;
#
# and ends with a figure drawn inline, the measurement beside its bound.
#
# Execute it with `jupytext --to notebook --execute notebooks/tour.py` (about 20 s once the
# numba kernels are cached; set `NUMBA_CACHE_DIR` to keep them between runs).

# %%
# %matplotlib inline
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Math, display

ROOT = Path.cwd().resolve()
while not (ROOT / "figures").is_dir() and ROOT != ROOT.parent:
    ROOT = ROOT.parent
sys.path.insert(0, str(ROOT / "figures"))  # the figure helpers (bands, legends)

# %% [markdown]
# ## 1. A claim and its verdict
#
# `collab.P1` checks the derived bound WGA-NC: for weighted gradient averaging with any
# weights, `(1/T) sum_t E||grad f_0(x_t)||^2 <= 2 F_0/(eta T) + L eta sigma_a^2 + zeta_bar_a^2`.
# Running it simulates the claim's task at its quick budget and compares the Monte Carlo mean
# (plus `z` standard errors, Bonferroni-corrected over the checkpoints) with the bound.

# %%
from simlab.claims import registry

claim = registry["collab.P1"]
print(claim.title, "|", claim.provenance, "|", claim.statement)
verdict = claim.run(budget="quick")
pd.Series({"verdict": verdict.verdict, "measured": verdict.measured,
           "interval": verdict.interval, "theory (bound)": verdict.theory,
           "margin": verdict.margin, "seed": verdict.seed,
           "seconds": round(verdict.seconds, 2), "details": verdict.details})

# %% [markdown]
# Every claim also has a *planted error* that must turn it `violated`; that is how the tests
# know a claim can fail.

# %%
print("planted error:", claim.planted_error)
print("with the planted error:", claim.run(budget="quick", planted=True).verdict)

# %% [markdown]
# ## 2. A Bound: provenance, LaTeX, rate
#
# Nothing in `theory.collab` is the paper's own statement (its full text was not available);
# every explicit bound is **derived** for simlab, and says so.

# %%
from theory.collab import wga_nc

print(repr(wga_nc))
print("provenance:", wga_nc.provenance, "| kind:", wga_nc.kind)
print("source:", wga_nc.source)
print("assumptions:", wga_nc.assumptions)
display(Math(r"\frac{1}{T}\sum_{t<T} E\|\nabla f_0(x_t)\|^2 \le " + wga_nc.latex()))
print("rate in T (before the zeta floor):", wga_nc.rate("T"))

# %% [markdown]
# A bound evaluates itself with numpy from a task's exact constants, and solves for the
# horizon that reaches a target (``inf`` below the bias floor).

# %%
from simlab.tasks import SharedHessianQuadratics

task = SharedHessianQuadratics(d=10, n_aux=15, eig=(0.1, 1.0), zeta=0.3, sigma=1.0,
                               bias_directions="aligned", x0_dist=3.0, seed=0)
c = task.constants("uniform")
eta = 0.2 / c["L"]
values = dict(eta=eta, L=c["L"], F0=c["F0"], sigma_a2=c["sigma_alpha_sq"],
              zeta2=c["zeta_bar"] ** 2)
print({k: round(float(v), 4) for k, v in values.items()})
print("WGA-NC at T = 2000:", float(wga_nc(T=2000, **values)))
for target in (0.2, 0.05):
    print(f"T needed for the bound to reach {target}:",
          wga_nc.solve_for("T", target, **values))

# %% [markdown]
# ## 3. The engine: `simulate` -> `Trace`
#
# Replicas run in parallel, each from its own random stream keyed by `(seed, replica)`;
# metrics are recorded at about 50 log-spaced checkpoints.

# %%
from simlab import simulate
from simlab.collab import BCEMA, WGA

trace = simulate(task, WGA(weights="uniform", step_size=eta), steps=2000, replicas=256, seed=1,
                 derived=["avg_grad_norm_sq"])  # derived metrics are computed only when asked
print(trace)
print("final mean and 95% CI of ||grad f_0||^2:", trace.mean("grad_norm_sq")[-1],
      trace.ci("grad_norm_sq")[-1])
trace.summary("avg_grad_norm_sq").tail()

# %%
trace.to_pandas().groupby("step")[["grad_norm_sq", "subopt"]].describe().tail(3)

# %% [markdown]
# ## 4. A figure: the measurement beside its bound
#
# The bands are the spread over replicas (95% CI of the mean, and the 10-90% quantiles of the
# replicas); the legend carries the bound's provenance. Uniform WGA's running average stays
# below WGA-NC and levels off near the bias floor `zeta_bar^2`; bias correction (BC-EMA with
# the running-average momentum) does not.

# %%
from _common import Curve, legend, plot_curve

bc = simulate(task, BCEMA(weights="uniform", step_size=eta, momentum="running"), steps=2000,
              replicas=256, seed=1, derived=True)
fig, ax = plt.subplots(figsize=(6.4, 4.2))
ax.set(xscale="log", yscale="log", xlabel="iteration t",
       ylabel=r"$(1/t)\sum_{s<t} E\|\nabla f_0(x_s)\|^2$")
for tr, label, color in ((trace, "WGA uniform", "#d62728"),
                         (bc, "BC-EMA, a_t = 1/(t+1)", "#1f77b4")):
    plot_curve(ax, Curve.from_trace(tr, "avg_grad_norm_sq"), label, color)
ts = trace.checkpoints[1:]
ax.plot(ts, wga_nc(T=ts, **values), color="#2ca02c", ls="-.",
        label=f"{wga_nc.label()}, WGA uniform")
ax.axhline(values["zeta2"], color="#2ca02c", ls="--", lw=1,
           label=f"zeta_bar^2: bias floor of {wga_nc.label()}")
legend(ax, loc="lower left")
plt.show()
