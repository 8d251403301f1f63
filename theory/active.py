"""Bounds and predictions of the Cluster-Margin spec (section 4) as sympy expressions.

Provenance: the paper's theorems were **not available verbatim** (spec section 0): their
qualitative content is [S] (a NeurIPS reviewer's summary), their forms are UNVERIFIED.
Nothing here is tagged ``paper``:

* B0 (``B0-active``, ``B0-passive``) is background (Balcan and Long, COLT 2013), recalled
  [M] and not re-verified: tagged ``reconstructed``, and only the *shape* is checked
  (``kind="scaling"``: constants unknown).
* T1-T4 are the spec's testable reconstruction of the reviewer's summary (section 4.3):
  ``reconstructed``; the log2(k + 1) ceiling's reading is the spec's own.

Symbols: ``eps`` the target error ``angle(w, w*) / pi``, ``d`` the dimension, ``k`` the batch
size, ``delta`` the failure probability, ``beta`` the label-complexity improvement of a
sampler over Margin (uniform in the band), ``c`` the ceiling's constant, ``c1, c2`` unknown
constants.
"""

from __future__ import annotations

import sympy as sp

from theory.bound import Bound

eps, d, k, delta = sp.symbols("eps d k delta", positive=True)
c, c1, c2, beta = sp.symbols("c c1 c2 beta", positive=True)

b0_active = Bound(
    "B0-active", c1 * (d + sp.log(1 / delta) + sp.log(sp.log(1 / eps))) * sp.log(1 / eps),
    "reconstructed",
    "Cluster-Margin spec 4.3 B0 (Balcan and Long 2013, recalled [M], not re-verified): the "
    "stage-wise margin-based learner under an isotropic log-concave distribution, realizable "
    "case, reaches error <= eps with probability 1 - delta after O((d + log(1/delta) + "
    "log log(1/eps)) log(1/eps)) labels. Checked as a shape: N(eps) affine in log(1/eps) "
    "(spec 8.1 check 1)",
    assumptions=(sp.Lt(eps, sp.Rational(1, 2)),),
    statement="labels to error eps, margin-based (stage-wise) =", kind="scaling")

b0_passive = Bound(
    "B0-passive", c2 * (d + sp.log(1 / delta)) / eps, "reconstructed",
    "Cluster-Margin spec 4.3 B0 (recalled [M]): passive learning needs Theta~((d + "
    "log(1/delta)) / eps) labels; checked as a shape: N(eps/2) / N(eps) near 2",
    statement="labels to error eps, passive =", kind="scaling")

t1 = Bound(
    "T1", sp.Symbol("N_Margin", positive=True) / beta, "reconstructed",
    "Cluster-Margin spec 4.3 T1 (UNVERIFIED form; [S] a reviewer: Cluster-MarginV's label "
    "complexity improves on Margin's by a factor beta): N_CMV(eps, d, k) ~ N_Margin(eps, d, k) "
    "/ beta(d, k), beta >= 1; beta is estimated as the median ratio of rounds to reach eps "
    "(spec 4.4)",
    assumptions=(sp.Ge(beta, 1),),
    statement="labels to error eps, Cluster-MarginV =", kind="scaling")

t2 = Bound(
    "T2", sp.Integer(1), "reconstructed",
    "Cluster-Margin spec 4.3 T2 (UNVERIFIED regime; [S] the improvement is real when the "
    "embedding dimension is small or the batch size large): beta(d, k) noticeably above 1 for "
    "small d / large k, shrinking toward 1 as d grows at fixed k, growing with k at fixed d",
    statement="beta(d, k) at small d, large k: >")

t3 = Bound(
    "T3", c * sp.log(k + 1, 2), "reconstructed",
    "Cluster-Margin spec 4.3 T3 ([S] a reviewer: log k bounds the improvement of any "
    "sampler; the information-theoretic reading is the spec's: k non-adaptive labels in one "
    "stage cut the uncertainty region by at most about k + 1, i.e. log2(k + 1) bits): "
    "beta(d, k) <= c log2(k + 1) for every in-band sampler, c fitted once on the smallest "
    "batch sizes and held fixed (spec 8.1 check 4)",
    statement="beta(d, k) of any in-band sampler <=")

t4 = Bound(
    "T4", sp.Integer(1), "reconstructed",
    "Cluster-Margin spec 4.3 T4 ([S] the optimal volume-based sampler is approximately "
    "equivalent to Cluster-Margin; the argument is the spec's reconstruction): in the T2 "
    "regime beta_CM / beta_CMV lies in [0.8, 1.25] (spec 8.1 check 5)",
    statement="beta(Cluster-Margin) / beta(Cluster-MarginV) ~")

lb_dup = Bound(
    "LB-dup", sp.Rational(1, 200), "reconstructed",
    "Cluster-Margin spec 5.1 ([S] reviewer: Cluster-Margin clearly outperforms Margin, "
    "BADGE, CoreSet and Random on Open Images, 29% / 60% fewer labels at 100K / 1M batches) "
    "and 8.3 item 2 (the spec's synthetic analogue: near-duplicates are where top-k Margin "
    "wastes labels): a positive accuracy gain over Margin at equal labels (declared "
    "effect size: 0.5 points)",
    statement="mean test-accuracy gain of Cluster-Margin over Margin at equal labels >=")

BOUNDS = {x.name: x for x in (b0_active, b0_passive, t1, t2, t3, t4, lb_dup)}
