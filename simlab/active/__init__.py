"""Batch active learning at scale (spec ``papers/cluster_margin.md``).

Step 1 of issue 10: the pool tasks (:mod:`~simlab.active.pools`), the learners
(:mod:`~simlab.active.learners`; the torch MLP of :mod:`~simlab.active.neural_learner`
imports torch only when it fits), the samplers Random and Margin
(:mod:`~simlab.active.samplers`) and the pool-based loop (:mod:`~simlab.active.loop`), which
runs through the engine's runner protocol. The label oracles live in :mod:`simlab.oracles`.
"""

from simlab.active.learners import MissingClassError, SoftmaxRegression
from simlab.active.loop import ActiveLearning, ActiveRun, angle_to, run_active
from simlab.active.neural_learner import MLPLearner
from simlab.active.pools import GaussianMixturePool, LinearSeparatorPool, PoolData, PoolTask
from simlab.active.samplers import MarginSampler, RandomSampler, Sampler, margin_scores

__all__ = ["ActiveLearning", "ActiveRun", "GaussianMixturePool", "LinearSeparatorPool",
           "MLPLearner", "MarginSampler", "MissingClassError", "PoolData", "PoolTask",
           "RandomSampler", "Sampler", "SoftmaxRegression", "angle_to", "margin_scores",
           "run_active"]
