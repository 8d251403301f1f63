"""Batch active learning at scale (spec ``papers/cluster_margin.md``).

- Pool tasks (:mod:`~simlab.active.pools`, :mod:`~simlab.active.embedded`), learners
  (:mod:`~simlab.active.learners`; the torch MLP of :mod:`~simlab.active.neural_learner`
  imports torch only when it fits), the label oracles (:mod:`simlab.oracles`) and the
  pool-based loop (:mod:`~simlab.active.loop`) through the engine's runner protocol.
- Samplers: Random and Margin (:mod:`~simlab.active.samplers`), Cluster-Margin
  (:mod:`~simlab.active.cluster_margin`, on the clustering of
  :mod:`~simlab.active.clustering` and :mod:`~simlab.active.two_level`), CoreSet and BADGE
  (:mod:`~simlab.active.diversity`), Cluster-MarginV (:mod:`~simlab.active.volume`).
- The label-complexity setting of spec 8.1: the stage-wise margin learner on a pool
  (:mod:`~simlab.active.stagewise`) and in stream mode (:mod:`~simlab.active.band_stream`).
"""

from simlab.active.band_stream import StagewiseStream, run_band_stream
from simlab.active.cluster_margin import ClusterMarginSampler, cluster_margin_batch
from simlab.active.clustering import Clustering, cluster_pool, default_threshold, exact_hac
from simlab.active.diversity import BadgeSampler, CoreSetSampler, k_center_greedy
from simlab.active.learners import MissingClassError, SoftmaxRegression
from simlab.active.loop import ActiveLearning, ActiveRun, angle_to, run_active
from simlab.active.neural_learner import MLPLearner
from simlab.active.pools import (
    DuplicatedPool,
    GaussianMixturePool,
    LinearSeparatorPool,
    PoolData,
    PoolTask,
)
from simlab.active.samplers import MarginSampler, RandomSampler, Sampler, margin_scores
from simlab.active.stagewise import StagewiseMargin, labels_to_reach, run_stagewise
from simlab.active.volume import ClusterMarginVSampler

__all__ = ["ActiveLearning", "ActiveRun", "BadgeSampler", "ClusterMarginSampler",
           "ClusterMarginVSampler", "Clustering", "CoreSetSampler", "DuplicatedPool",
           "GaussianMixturePool", "LinearSeparatorPool", "MLPLearner", "MarginSampler",
           "MissingClassError", "PoolData", "PoolTask", "RandomSampler", "Sampler",
           "SoftmaxRegression", "StagewiseMargin", "StagewiseStream", "angle_to",
           "cluster_margin_batch", "cluster_pool", "default_threshold", "exact_hac",
           "k_center_greedy", "labels_to_reach", "margin_scores", "run_active",
           "run_band_stream", "run_stagewise"]
