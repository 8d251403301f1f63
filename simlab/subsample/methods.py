"""The streaming samplers as engine methods (spec 2.3 and 6.1's method list).

Each sampler trains the streaming task's model by SGD on windows of ``n`` instances, choosing
about ``k = rho n`` of them for the training forward and backward pass. The serving copy of the
model is refreshed from the training one every ``refresh`` steps (spec 6.1's ``Delta``; 0: the
serving model is the training model), and the recorded information is the serving-time loss of
each instance (free: the deployed model computed it anyway). All samplers compile into one
kernel per task family (:mod:`simlab.subsample.stream_ops`); each step records

``backward``, ``cost``
    Backward passes so far and the cost under spec 6.1's model (forward 1, backward 2; the
    serving forwards are free, a fresh score costs one forward per instance).
``grad_mse``
    The last step direction's mean-squared error around the window-mean gradient, exact given
    the window (bias^2 + variance, Poisson design; KF: with replacement).
``mse_ratio``
    ``grad_mse`` over the uniform Horvitz-Thompson sampler's variance at the same budget and
    window: the variance ratio of spec 6.3's pilot table.
``window_var``
    An unbiased estimate of ``tr Cov`` of the window-mean gradient (the part no sampler
    removes).
``step_sq``
    ``E[||direction||^2 | window]``.
``max_weight``
    The largest importance weight of the last window (spec 2.3: log it).

At checkpoint ``t`` the diagnostics are those of step ``t - 1`` (0 at ``t = 0``).

Katharopoulos-Fleuret's switch ``tau > (B + 3b)/(3b)`` (4.33 at ``n = 100, rho = 0.1``) needs
scores concentrated on about 5% of the window; on S1/S2 it never fires, so the rule samples
uniformly with replacement while paying its scoring forwards (as the original code would).

Provenance: :class:`WaterFill` is the spec's [R] reconstruction of the paper's method (its
knobs UNVERIFIED as the paper's); the baselines carry the tags of spec section 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simlab.engine.declare import MethodOps, Slot, StreamGroup
from simlab.engine.model import Method, Task
from simlab.subsample import stream_ops as so

RULES = {"full": 0, "uniform": 1, "waterfill": 2, "oracle": 3, "negdown": 4,
         "selective_backprop": 5, "top_k": 6, "kf": 7}
WEIGHTINGS = ("ht", "none")
NORMALISERS = ("n", "drawn")
#: The metrics every sampler records after the task's.
METRICS = ("backward", "cost", "grad_mse", "mse_ratio", "window_var", "step_sq",
           "max_weight")
#: The task ops the samplers call (see :mod:`simlab.tasks._streams`).
REQUIRES = ("stream_window", "stream_loss", "stream_dloss", "stream_grad")


def _check(name: str, ok: bool, allowed: str, value) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class StreamSampler(Method):
    """Base of the streaming samplers: budget, step size, staleness and the estimator's form.

    Parameters
    ----------
    rho : float
        Backward fraction ``k / n`` in ``(0, 1]``; ``k = rho n`` must be at least 1.
    step_size : float
        SGD step ``eta > 0``.
    decay : float
        ``eta_t = eta / (1 + t / decay)``; 0 keeps it constant.
    refresh : int
        The serving copy is refreshed every ``refresh`` steps (spec 6.1's Delta), before that
        step's window, so a record is at most ``refresh - 1`` steps old; 0 (and 1): the
        recorded losses are fresh.
    weighting : {"ht", "none"}
        ``"ht"``: Horvitz-Thompson weights ``1/p_i`` (unbiased); ``"none"``: unweighted (the
        mean over the expected number drawn).
    normaliser : {"n", "drawn"}
        Divide the weighted sum by the window size ``n`` (spec 2.3) or by the number drawn
        (a bug when the weights are ``1/p``: it scales the step by about ``1/rho``).
    record_shift : int
        Instance ``i`` is scored by the record of instance ``i + shift`` (mod ``n``): a
        misaligned record join (a bug; 0 normally).
    """

    rho: float = 0.1
    step_size: float = 0.05
    decay: float = 0.0
    refresh: int = 10
    weighting: str = "ht"
    normaliser: str = "n"
    record_shift: int = 0
    rule: ClassVar[str] = "uniform"
    label: ClassVar[str] = "?"

    @property
    def ops_class(self) -> type:
        """All samplers share one kernel (the rule is a hyperparameter)."""
        return StreamSampler

    def budget(self, task: Task) -> float:
        """The expected backward passes per window, ``k = rho n``."""
        return float(self.rho) * task.dims()["n"]

    def validate(self, task: Task) -> None:
        """Raise ``ValueError`` naming the parameter when one is out of range."""
        if type(task).ops is None or "stream_window" not in type(task).ops.provides:
            raise ValueError(f"{type(self).__name__} runs on a streaming task family "
                             f"(simlab.tasks.LogisticStream, LinearStream), got "
                             f"{type(task).__name__}")
        n = task.dims()["n"]
        r = float(self.rho)
        _check("rho", math.isfinite(r) and 0 < r <= 1, "in (0, 1]", self.rho)
        _check("rho", r * n >= 1, f"at least 1/n = {1 / n:g} (a budget k = rho n in (0, n])",
               self.rho)
        _check("step_size", math.isfinite(self.step_size) and self.step_size > 0, "> 0",
               self.step_size)
        _check("decay", math.isfinite(self.decay) and self.decay >= 0, ">= 0", self.decay)
        _check("refresh", isinstance(self.refresh, (int, np.integer)) and self.refresh >= 0,
               "an integer >= 0", self.refresh)
        _check("weighting", self.weighting in WEIGHTINGS, f"one of {WEIGHTINGS}",
               self.weighting)
        _check("normaliser", self.normaliser in NORMALISERS, f"one of {NORMALISERS}",
               self.normaliser)
        _check("record_shift", isinstance(self.record_shift, (int, np.integer))
               and self.record_shift >= 0, "an integer >= 0", self.record_shift)

    def _knobs(self, task: Task) -> dict:
        """Rule-specific entries of ``hyper`` (subclasses)."""
        return {}

    def hyper(self, task: Task) -> np.ndarray:
        """The kernel's hyperparameters (layout in :mod:`simlab.subsample.stream_ops`)."""
        self.validate(task)
        h = np.zeros(16)
        h[0] = RULES[self.rule]
        h[1] = self.budget(task)
        h[2] = self.step_size
        h[3] = self.decay
        h[4] = self.refresh
        h[5], h[6], h[8] = 0.0, 1.0, np.inf
        h[13] = self.record_shift % task.dims()["n"]
        h[14] = WEIGHTINGS.index(self.weighting)
        h[15] = NORMALISERS.index(self.normaliser)
        for i, value in self._knobs(task).items():
            h[i] = value
        return h


@dataclass(frozen=True)
class Full(StreamSampler):
    """Every instance to backward (``rho = 1``): the reference of full training."""

    rho: float = 1.0
    rule: ClassVar[str] = "full"
    label: ClassVar[str] = "full"
    provenance: ClassVar[str] = "spec 6.1"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(step_size=0.05, refresh=0)]


@dataclass(frozen=True)
class Uniform(StreamSampler):
    """Uniform subsampling: each instance with probability ``rho``, weight ``1/rho`` (spec
    5.1, the industry baseline)."""

    rule: ClassVar[str] = "uniform"
    label: ClassVar[str] = "uniform"
    provenance: ClassVar[str] = "spec 5.1"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, refresh=3)]


@dataclass(frozen=True)
class WaterFill(StreamSampler):
    """[R] The paper's method as the spec reconstructs it: water-filled inclusion
    probabilities of the smoothed recorded losses (spec 2.2-2.4), Horvitz-Thompson weights.

    Parameters
    ----------
    epsilon : float
        Uniform mixing in ``[0, 1]`` (spec 2.4).
    alpha : float
        Power (temperature) in ``[0, 1]``.
    p_min : float
        Floor in ``[0, rho]``.
    w_max : float
        Weight clipping, ``>= 1`` (``inf``: none; clipping biases the step).
    """

    epsilon: float = 0.1
    alpha: float = 1.0
    p_min: float = 0.0
    w_max: float = math.inf
    rule: ClassVar[str] = "waterfill"
    label: ClassVar[str] = "water-filling"
    provenance: ClassVar[str] = "R"
    #: Score by the current loss instead of the record (:class:`FreshWaterFill`).
    fresh: ClassVar[bool] = False

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, refresh=3, epsilon=0.1, alpha=0.5, p_min=0.01,
                    w_max=20.0)]

    def validate(self, task: Task) -> None:
        """As :class:`StreamSampler`, and the knobs' ranges; a floor above ``rho`` makes the
        budget infeasible."""
        super().validate(task)
        for name in ("epsilon", "alpha"):
            v = getattr(self, name)
            _check(name, math.isfinite(v) and 0 <= v <= 1, "in [0, 1]", v)
        _check("p_min", math.isfinite(self.p_min) and 0 <= self.p_min <= self.rho,
               f"in [0, rho = {self.rho:g}] (a larger floor cannot fit the budget)",
               self.p_min)
        _check("w_max", self.w_max >= 1, ">= 1 (a weight 1/p is never below 1)", self.w_max)

    def _knobs(self, task):
        return {5: self.epsilon, 6: self.alpha, 7: self.p_min, 8: self.w_max,
                9: float(self.fresh)}


@dataclass(frozen=True)
class FreshWaterFill(WaterFill):
    """[R] Water-filling of the *current* losses: one extra training forward per instance
    (counted in ``cost``), the ceiling of what the recorded information can buy (spec 6.1,
    method 5)."""

    label: ClassVar[str] = "water-filling (fresh)"
    fresh: ClassVar[bool] = True

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, refresh=3)]


@dataclass(frozen=True)
class LossProportional(WaterFill):
    """Mineiro and Karampatziakis's loss-proportional subsampling with a floor (spec 5.4):
    ``p_i = min(1, max(p_min, lambda l_i))`` on the recorded (pilot) losses, ``lambda`` set by
    the budget; the reconstruction with ``epsilon = 0``, ``alpha = 1``."""

    epsilon: float = 0.0
    p_min: float = 0.01
    label: ClassVar[str] = "loss-proportional"
    provenance: ClassVar[str] = "spec 5.4"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, refresh=2)]


@dataclass(frozen=True)
class GradNormOracle(WaterFill):
    """The gradient-norm oracle (spec 2.1's P-grad optimum): water-filling of the *current*
    per-instance gradient norms (a training forward and a per-instance gradient, counted as one
    forward each); the upper bound on any record."""

    epsilon: float = 0.0
    rule: ClassVar[str] = "oracle"
    label: ClassVar[str] = "gradient-norm oracle"
    provenance: ClassVar[str] = "spec 2.1"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, p_min=0.01)]


@dataclass(frozen=True)
class NegativeDownsampling(StreamSampler):
    """Negative downsampling (spec 5.1): every positive, negatives at the rate ``r =
    (rho - pi) / (1 - pi)`` that spends the budget on average (``pi`` the base rate),
    Horvitz-Thompson weights ``1/r`` on the negatives (calibrated by construction). Needs
    binary labels and ``pi < rho``."""

    rule: ClassVar[str] = "negdown"
    label: ClassVar[str] = "negative downsampling"
    provenance: ClassVar[str] = "spec 5.1"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.5, step_size=0.05, refresh=3)]

    def rate(self, task: Task) -> float:
        """The negative keep rate ``r``."""
        pi = float(task.constants()["base_rate"])
        return (self.rho - pi) / (1 - pi)

    def validate(self, task: Task) -> None:
        """As :class:`StreamSampler`; the task must have 0/1 labels and a base rate below
        ``rho``."""
        super().validate(task)
        if not getattr(task, "binary", False):
            raise ValueError(f"negative downsampling needs 0/1 labels; {type(task).__name__} "
                             f"has none")
        pi = float(task.constants()["base_rate"])
        n = task.dims()["n"]
        if not (self.rho - pi) / (1 - pi) * n >= 1:
            raise ValueError(f"negative downsampling keeps every positive: the base rate "
                             f"{pi:.3g} must be below rho = {self.rho:g} by enough to keep at "
                             f"least one negative per window of {n} (rate r = (rho - pi)/(1 - "
                             f"pi) >= 1/n)")

    def _knobs(self, task):
        return {11: self.rate(task)}


@dataclass(frozen=True)
class SelectiveBackprop(StreamSampler):
    """Selective Backprop (Jiang et al. 2019, spec 5.3): keep instance ``i`` with probability
    ``P = CDF(l~_i)^beta``, ``CDF`` the percentile ``(rank + 0.5)/n`` of its recorded loss in
    the window (Composer's within-batch variant), unweighted. ``beta = 1/rho - 1`` by default,
    so the expected keep rate ``sum P / n = 1/(beta + 1)`` is ``rho``."""

    beta: float | None = None
    weighting: str = "none"
    rule: ClassVar[str] = "selective_backprop"
    label: ClassVar[str] = "Selective Backprop"
    provenance: ClassVar[str] = "spec 5.3"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, refresh=3)]

    @property
    def selectivity(self) -> float:
        """``beta``."""
        return 1.0 / self.rho - 1.0 if self.beta is None else float(self.beta)

    def validate(self, task: Task) -> None:
        """As :class:`StreamSampler`; ``beta >= 0``."""
        super().validate(task)
        b = self.selectivity
        _check("beta", math.isfinite(b) and b >= 0, ">= 0", self.beta)

    def budget(self, task: Task) -> float:
        """``n / (beta + 1)``."""
        return task.dims()["n"] / (self.selectivity + 1.0)

    def _knobs(self, task):
        return {10: self.selectivity}


@dataclass(frozen=True)
class TopK(StreamSampler):
    """Top-k hard-example mining (OHEM-style, spec 5.6): the ``round(rho n)`` largest recorded
    losses, unweighted (maximally biased)."""

    weighting: str = "none"
    rule: ClassVar[str] = "top_k"
    label: ClassVar[str] = "top-k"
    provenance: ClassVar[str] = "spec 5.6"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, refresh=3)]


@dataclass(frozen=True)
class KatharopoulosFleuret(StreamSampler):
    """Katharopoulos and Fleuret (2018, spec 5.2): score the window (``B = n`` presampled,
    one training forward each) by the last-layer gradient norm, draw ``b = round(rho n)``
    with replacement by ``q = s / sum s`` with weights ``1 / (n q_i)`` once the EMA ``tau``
    of ``sqrt(n sum q^2)`` exceeds ``tau_th = (B + 3b) / (3b)``, uniformly before.

    Parameters
    ----------
    epsilon : float
        Uniform mixing of the scores (the code's additive smoothing), in ``[0, 1]``.
    tau_th : float, optional
        The switch-on threshold (default: the code's ``(B + 3b)/(3b)``).
    """

    epsilon: float = 0.0
    tau_th: float | None = None
    rule: ClassVar[str] = "kf"
    label: ClassVar[str] = "Katharopoulos-Fleuret"
    provenance: ClassVar[str] = "spec 5.2"

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(rho=0.25, step_size=0.05, tau_th=1.0),
                cls(rho=0.25, step_size=0.05, epsilon=0.2)]

    def validate(self, task: Task) -> None:
        """As :class:`StreamSampler`; ``epsilon`` in ``[0, 1]``, ``tau_th >= 1``, HT weights."""
        super().validate(task)
        _check("epsilon", math.isfinite(self.epsilon) and 0 <= self.epsilon <= 1, "in [0, 1]",
               self.epsilon)
        if self.tau_th is not None:
            _check("tau_th", self.tau_th >= 1, ">= 1", self.tau_th)
        _check("weighting", self.weighting == "ht", "'ht' (its weights are 1/(n q))",
               self.weighting)

    def threshold(self, task: Task) -> float:
        """``tau_th``."""
        if self.tau_th is not None:
            return float(self.tau_th)
        n = task.dims()["n"]
        b = max(1, int(self.budget(task) + 0.5))
        return (n + 3 * b) / (3 * b)

    def _knobs(self, task):
        return {5: self.epsilon, 12: self.threshold(task)}


StreamSampler.ops = MethodOps(
    init=so.ss_init, step=so.ss_step, record=so.ss_record, metrics=METRICS,
    helpers=(so.ss_fsum, so.ss_level, so.ss_waterfill, so.ss_smooth, so.ss_sift,
             so.ss_argsort, so.ss_scores, so.ss_probabilities, so.ss_diagnose,
             so.ss_poisson_step, so.ss_kf_step),
    slots=(Slot("serve", "D"), Slot("step", "D"), Slot("gbar", "D"), Slot("gbias", "D"),
           Slot("X", "n * d"), Slot("y", "n"), Slot("rec", "n"), Slot("p", "n"),
           Slot("v", "n"), Slot("aux", "n"), Slot("g2", "n"), Slot("state", 8)),
    streams=(StreamGroup("draws", 1),), requires=REQUIRES)

def composed_ops(task: Task):
    """The composed numba module of ``task``'s family with the samplers: the very ops that
    :func:`simlab.simulate` runs (``ss_scores``, ``ss_probabilities``, ``ss_diagnose``,
    ``ss_poisson_step``, the task's ``stream_*``), callable one at a time on numpy arrays."""
    import sys

    from simlab.engine import kernel

    return sys.modules[kernel.get_kernel(type(task), StreamSampler, "numba").__module__]


def window_steps(task: Task, method: StreamSampler, serve_offset: np.ndarray | None,
                 data: np.ndarray, draws: np.ndarray, repeats: int) -> dict:
    """One window of ``task`` at its starting model, scored, probabilities and exact
    diagnostics (the kernel's own ops, :func:`composed_ops`), then ``repeats`` independent
    Poisson draws of the step direction (for the Poisson rules).

    Parameters
    ----------
    serve_offset : ndarray, optional
        The serving copy is the starting model plus this (stale record); ``None``: fresh.
    data, draws : ndarray of uint64, shape (1, 2)
        States of the window's and the draws' streams (advanced in place).
    repeats : int
        Draws of the step.

    Returns
    -------
    dict
        ``p`` (inclusion probabilities), ``gbar`` (window-mean gradient), ``gbias`` (the
        step's exact mean), ``state`` (the diagnostics, see :mod:`stream_ops`), ``steps``
        (``repeats x D``) and ``counts`` (instances drawn per repeat).
    """
    mod = composed_ops(task)
    tdata, tmeta = task.packed()
    hyper = method.hyper(task)
    dims = task.dims()
    n, d, D = dims["n"], dims["d"], dims["D"]
    theta = np.zeros(D)
    mod.stream_init(tdata, tmeta, theta)
    serve = theta if serve_offset is None else theta + serve_offset
    X, y = np.zeros(n * d), np.zeros(n)
    mod.stream_window(tdata, tmeta, 0, data, X, y)
    rec, p, v, aux, g2 = (np.zeros(n) for _ in range(5))
    gbar, gbias, state = np.zeros(D), np.zeros(D), np.zeros(8)
    mod.ss_scores(tdata, tmeta, hyper, theta, serve, X, y, rec, gbias, n)
    sp = mod.ss_probabilities(hyper, y, rec, p, v, aux, n)
    mod.ss_diagnose(tdata, tmeta, hyper, theta, X, y, p, v, g2, gbar, gbias, state, n, sp)
    steps = np.zeros((repeats, D))
    counts = np.zeros(repeats)
    for r in range(repeats):
        counts[r] = mod.ss_poisson_step(tdata, tmeta, hyper, theta, X, y, p.copy(), v, steps[r],
                                        draws, n, sp)
    return dict(p=p, gbar=gbar, gbias=gbias, state=state, steps=steps, counts=counts)


#: The main samplers of the figures, by label.
MAIN = (Full, Uniform, WaterFill, FreshWaterFill, NegativeDownsampling, SelectiveBackprop, TopK,
        KatharopoulosFleuret)
