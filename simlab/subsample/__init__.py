"""Subsampling for large-scale training: "One Backward from Ten Forward" and its baselines.

Dong, Jin, Gao, Wang, Zhang, Wu, Yang & Liu, "One Backward from Ten Forward, Subsampling for
Large-Scale Deep Learning", arXiv:2104.13114 (2021). The deployed model already runs a forward
pass on every streamed instance at serving time; the paper stores a constant amount of
information per instance from it and uses that to choose the few instances (``k`` of a window
of ``n``, "one backward from ten forward": ``k/n = 1/10``) that get a training forward and
backward pass. The spec is ``shared/papers/subsample.md``.

Provenance. Only the abstract and third-party characterisations of the paper could be read
([V] in the spec): the method samples in proportion to the *loss* and minimises the L2 error
of the sampled loss. The algorithm here is the spec's **[R] reconstruction** (spec 2.1-2.2),
not the paper's equations: inclusion probabilities ``p_i = min(1, c l_i)`` ("water-filling")
minimise the variance of the unbiased Horvitz-Thompson estimate of the window loss under the
budget ``sum p = k``. Its knobs (smoothing, temperature, floor, clipping; spec 2.4) are
UNVERIFIED as the paper's choices; every [R] function says so in its docstring.

Modules
-------
:mod:`~simlab.subsample.probabilities`
    [R] :func:`waterfill` (expected O(n)), :func:`waterfill_level`, the knobs :func:`scores`,
    ``p_min`` and :func:`clip_weights`, and :func:`inclusion_probabilities`.
:mod:`~simlab.subsample.designs`
    Poisson, systematic, conditional Poisson and with-replacement designs (spec 2.5), each
    returning a :class:`Sample` of indices and weights.
:mod:`~simlab.subsample.estimators`
    Horvitz-Thompson and self-normalised estimates, the Poisson variance (P2), the closed-form
    variance ratio (P4) and a Monte Carlo bias measurement.
:mod:`~simlab.subsample.baselines`
    Uniform, negative downsampling, Katharopoulos-Fleuret, Selective Backprop,
    Mineiro-Karampatziakis, Loshchilov-Hutter, top-k hard mining and the gradient-norm oracle
    (spec 5).
:mod:`~simlab.subsample.methods`
    The streaming samplers as engine methods (:class:`WaterFill` [R], :class:`Uniform`,
    :class:`NegativeDownsampling`, ...), run by :func:`simlab.simulate` on the streaming tasks
    :class:`simlab.tasks.LogisticStream` (S1) and :class:`simlab.tasks.LinearStream` (S2) with
    a serving copy refreshed every ``refresh`` steps (spec 6.1).


Example
-------
>>> import numpy as np
>>> from simlab.subsample import inclusion_probabilities, poisson, ht_mean
>>> rng = np.random.default_rng(0)
>>> recorded = rng.lognormal(0.0, 1.0, 1000)          # serving-time losses of a window
>>> p = inclusion_probabilities(recorded, 100, epsilon=0.1)
>>> idx, w = poisson(p, rng)                          # ~100 instances go to backward
>>> estimate = ht_mean(recorded, idx, w)              # unbiased for recorded.mean()
"""

from simlab.subsample.baselines import (
    KFSwitch,
    LossHistory,
    calibrate_logit,
    calibrate_probability,
    gradient_norm_oracle,
    katharopoulos_fleuret,
    kf_tau,
    kf_threshold,
    loss_proportional,
    negative_downsampling,
    rank_based_probabilities,
    rank_based_selection,
    selection_pressure,
    selective_backprop,
    selective_backprop_probability,
    top_k,
    uniform_probabilities,
)
from simlab.subsample.designs import (
    ConditionalPoisson,
    Sample,
    conditional_poisson,
    conditional_poisson_inclusion,
    poisson,
    systematic,
    with_replacement,
)
from simlab.subsample.estimators import (
    BiasEstimate,
    effective_sample_size,
    ht_mean,
    ht_total,
    poisson_variance,
    self_normalised_bias,
    self_normalised_mean,
    variance_ratio,
)
from simlab.subsample.methods import (
    FreshWaterFill,
    Full,
    GradNormOracle,
    KatharopoulosFleuret,
    LossProportional,
    NegativeDownsampling,
    SelectiveBackprop,
    StreamSampler,
    TopK,
    Uniform,
    WaterFill,
)
from simlab.subsample.probabilities import (
    ClippedWeights,
    clip_weights,
    inclusion_probabilities,
    scores,
    waterfill,
    waterfill_level,
)

__all__ = [
    # waterfill
    "ClippedWeights", "clip_weights", "inclusion_probabilities", "scores", "waterfill",
    "waterfill_level",
    # designs
    "ConditionalPoisson", "Sample", "conditional_poisson", "conditional_poisson_inclusion",
    "poisson", "systematic", "with_replacement",
    # estimators
    "BiasEstimate", "effective_sample_size", "ht_mean", "ht_total", "poisson_variance",
    "self_normalised_bias", "self_normalised_mean", "variance_ratio",
    # baselines
    "KFSwitch", "LossHistory", "calibrate_logit", "calibrate_probability",
    "gradient_norm_oracle", "katharopoulos_fleuret", "kf_tau", "kf_threshold",
    "loss_proportional", "negative_downsampling", "rank_based_probabilities",
    "rank_based_selection", "selection_pressure", "selective_backprop",
    "selective_backprop_probability", "top_k", "uniform_probabilities",
    # streaming samplers (engine methods)
    "Full", "FreshWaterFill", "GradNormOracle", "KatharopoulosFleuret", "LossProportional",
    "NegativeDownsampling", "SelectiveBackprop", "StreamSampler", "TopK", "Uniform",
    "WaterFill",
]
