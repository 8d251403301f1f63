"""The stage-wise margin learner of spec 8.1 in stream mode: fresh points drawn in the band.

A finite pool limits the accuracy the stage-wise learner can reach: to fit ``w`` within
angle ``pi eps`` it needs band points with ``|w.x|`` of order ``eps``, a fraction ``~eps`` of
the pool, so ``eps = 10^-4`` with 100 candidates per round needs a pool of about 10^6. Spec
8.1 allows the alternative: "otherwise draw fresh points (stream mode) and record it". Here
the band ``B_s = {x : |w_{s-1}.x| <= b_s}`` is sampled **exactly**: for ``x ~ N(0, I_d)``,
``x = t w + (I - w w^T) g`` with ``t`` a standard normal truncated to ``[-b_s, b_s]`` and ``g
~ N(0, I_d)``; for ``x`` uniform on the sphere ``S^{d-1}``, ``t`` has density ``~ (1 -
t^2)^{(d-3)/2}`` on ``[-b_s, b_s]`` (drawn by rejection from the uniform) and the orthogonal
part is a uniform direction of ``w^perp`` of norm ``sqrt(1 - t^2)``.

Per round (stage ``s >= 1``, one batch per stage): the candidates are ``k_m = ceil(km_ratio
k)`` fresh draws from ``B_s`` (simlab's choice: the "all band points" reading of spec 8.1,
subsampled; the "k_m smallest |w.x|" reading is the pool mode's,
:mod:`simlab.active.stagewise`), ordered by ``|w.x|``; the selector (the pool mode's
:data:`~simlab.active.stagewise.SELECTORS`, with the same code) picks ``k``; their labels
``1[w*.x > 0]`` (flipped at rate ``eta`` for Massart noise) are counted; ``w_s`` is the
logistic fit on all labels (:func:`~simlab.active.stagewise.fit_logistic`). ``passive``
draws ``k`` fresh points from the input distribution. ``cluster_margin`` clusters each
round's candidates by exact average-linkage HAC (the per-stage variant of spec 8.1; the
threshold is :func:`~simlab.active.clustering.default_threshold` of the candidates unless
``eps_hac`` is given); ``kcenter`` uses every labeled point as an initial centre.

:class:`StagewiseStream` runs it through the runner protocol on a
:class:`~simlab.active.pools.LinearSeparatorPool` (whose ``w*``, ``d``, ``inputs``, ``noise``
and ``eta`` it uses; its pool is not used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from simlab.active.learners import one_blas_thread
from simlab.active.loop import angle_to
from simlab.active.pools import LinearSeparatorPool
from simlab.active.stagewise import SELECTORS, _select, _unit, band_width, fit_logistic
from simlab.engine.model import LoopMethod, Task
from simlab.tasks._validate import check_int

__all__ = ["StagewiseStream", "draw_band", "draw_inputs", "run_band_stream"]

#: Streams of a replica.
SEED_STREAM, SELECT_STREAM, DRAW_STREAM, NOISE_STREAM = 0, 1, 2, 3


def draw_inputs(n: int, d: int, inputs: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of ``N(0, I_d)`` or uniform on ``S^{d-1}``."""
    X = rng.standard_normal((n, d))
    if inputs == "sphere":
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def _truncnorm(n: int, b: float, rng: np.random.Generator) -> np.ndarray:
    lo = ndtr(-b)
    u = lo + rng.random(n) * (ndtr(b) - lo)
    t = ndtri(u)
    # for tiny bands the inverse CDF loses digits; the band is then nearly uniform
    return np.clip(np.where(np.isfinite(t), t, 0.0), -b, b)


def draw_band(n: int, w: np.ndarray, b: float, inputs: str,
              rng: np.random.Generator) -> np.ndarray:
    """``n`` exact draws of the input distribution conditioned on ``|w.x| <= b``.

    Parameters
    ----------
    n : int
    w : ndarray, shape (d,)
        Unit normal of the band.
    b : float
        Half-width, ``> 0``.
    inputs : {"gaussian", "sphere"}
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n, d)
    """
    d = w.size
    if inputs == "gaussian":
        t = _truncnorm(n, b, rng)
        G = rng.standard_normal((n, d))
        G -= np.outer(G @ w, w)
        return G + np.outer(t, w)
    bb = min(float(b), 1.0)
    t = np.empty(0)
    while t.size < n:  # rejection from the uniform on [-b, b]
        c = rng.uniform(-bb, bb, 2 * (n - t.size) + 8)
        acc = rng.random(c.size) < (1.0 - c * c) ** ((d - 3) / 2.0) if d != 3 else \
            np.ones(c.size, bool)
        t = np.concatenate([t, c[acc]])
    t = t[:n]
    G = rng.standard_normal((n, d))
    G -= np.outer(G @ w, w)
    G /= np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
    return G * np.sqrt(np.maximum(1.0 - t * t, 0.0))[:, None] + np.outer(t, w)


def run_band_stream(*args, **kwargs) -> dict:
    """Run the stream-mode stage-wise learner (module notes) with BLAS on one thread (its
    matrices are small; see :func:`simlab.active.learners.one_blas_thread`); the arguments
    are :func:`_run_band_stream`'s."""
    with one_blas_thread():
        return _run_band_stream(*args, **kwargs)


def _run_band_stream(d: int, w_star, selector: str, k: int, km_ratio: float, rounds: int,
                    c_b: float, rng: np.random.Generator, *, inputs: str = "gaussian",
                    eta: float = 0.0, l2: float = 1e-9, lam: float = 1e-3,
                    eps_hac: float | None = None, seed_rng=None, draw_rng=None,
                    noise_rng=None, band_shrink: bool = True, volume_bypass: bool = False,
                    reverse_candidates: bool = False) -> dict:
    """Run the stream-mode stage-wise learner (module notes).

    Parameters
    ----------
    d : int
        Dimension, ``>= 2``.
    w_star : array_like, shape (d,)
        The true unit separator.
    selector : str
        One of :data:`simlab.active.stagewise.SELECTORS`.
    k : int
        Labels per round, ``>= 1``.
    km_ratio : float
        ``k_m / k``, finite and ``>= 1``.
    rounds : int
        Rounds after stage 0, ``>= 0``.
    c_b : float
        Band constant: ``b_s = c_b 2^{-s}`` (``/ sqrt(d)`` on the sphere).
    rng : numpy.random.Generator
        The selector's randomness (and the other streams' unless given).
    inputs : {"gaussian", "sphere"}
    eta : float
        Massart flip rate of the labels, ``[0, 1/2)``.
    l2, lam : float
        The logistic fit's ridge and V-det's. The default ridge ``1e-9`` is smaller than the
        pool mode's: with ``1e-6`` the ridge dominated the fit once the labeled points sat
        within ``~1e-4`` of the boundary and the error stalled near ``1e-4`` for every
        selector and batch size (simlab's measurement, d in {2, 20}, k = 100).
    eps_hac : float, optional
        ``cluster_margin``'s threshold (default: data-derived per round).
    seed_rng, draw_rng, noise_rng : numpy.random.Generator, optional
        Stage 0's draw, the candidates' draws, the label noise.
    band_shrink, volume_bypass, reverse_candidates : bool
        Planted errors: the band keeps its stage-1 width; the cmv selectors fall back to
        uniform; the candidates are the ``k_m`` of *largest* margin among ``10 k_m`` draws
        (a descending sort).

    Returns
    -------
    dict
        ``labels`` (int array), ``err`` (``angle / pi`` after each round, stage 0 first),
        ``band`` (``b_s``; NaN for stage 0 and passive), ``w`` (the final direction).
    """
    d = check_int("d", d, 2)
    k = check_int("k", k, 1)
    rounds = check_int("rounds", rounds, 0)
    if selector not in SELECTORS:
        raise ValueError(f"selector must be one of {SELECTORS}, got {selector!r}")
    if not (np.isfinite(km_ratio) and km_ratio >= 1):
        raise ValueError(f"stream mode needs a finite km_ratio >= 1, got {km_ratio!r}")
    if inputs not in ("gaussian", "sphere"):
        raise ValueError(f"inputs must be 'gaussian' or 'sphere', got {inputs!r}")
    if not 0 <= eta < 0.5:
        raise ValueError(f"eta must lie in [0, 1/2), got {eta!r}")
    w_star = np.asarray(w_star, dtype=np.float64)
    if w_star.shape != (d,):
        raise ValueError(f"w_star must have shape ({d},), got {w_star.shape}")
    seed_rng = rng if seed_rng is None else seed_rng
    draw_rng = rng if draw_rng is None else draw_rng
    noise_rng = rng if noise_rng is None else noise_rng
    k_m = int(math.ceil(km_ratio * k - 1e-9))

    def label(Xb):
        y = np.where(Xb @ w_star > 0, 1.0, -1.0)
        if eta > 0:
            y = np.where(noise_rng.random(y.size) < eta, -y, y)
        return y

    e1 = np.zeros(d)
    e1[0] = 1.0
    XL = draw_inputs(k, d, inputs, seed_rng)
    yL = label(XL)
    w_raw = fit_logistic(XL, yL, None, l2)
    w = _unit(w_raw, _unit(yL @ XL, e1))
    labels, errs, bands = [k], [angle_to(w, w_star) / np.pi], [np.nan]
    for s in range(1, rounds + 1):
        if selector == "passive":
            Xb = draw_inputs(k, d, inputs, draw_rng)
            b = np.nan
        else:
            b = band_width(s, c_b, d, inputs, band_shrink)
            m = 10 * k_m if reverse_candidates else k_m
            C = draw_band(m, w, b, inputs, draw_rng)
            a = np.abs(C @ w)
            order = np.lexsort((np.arange(m), a))
            if reverse_candidates:
                order = order[::-1][:k_m]
            C, a = C[order], a[order]
            Xall = np.concatenate([XL, C])
            cand = np.arange(XL.shape[0], Xall.shape[0])
            clusters = None
            if selector == "cluster_margin":
                from simlab.active.clustering import default_threshold, exact_hac

                e = eps_hac if eps_hac is not None else default_threshold(C, seed=s)
                cl = exact_hac(C, e)
                clusters = np.concatenate([np.full(XL.shape[0], -1), cl])
            pos = np.asarray(_select(selector, Xall, cand, a, k, w, np.arange(XL.shape[0]),
                                     rng, clusters, lam, volume_bypass, None), np.int64)
            Xb = C[pos]
        XL = np.concatenate([XL, Xb])
        yL = np.concatenate([yL, label(Xb)])
        w_raw = fit_logistic(XL, yL, w_raw, l2)
        w = _unit(w_raw, w)
        labels.append(XL.shape[0])
        errs.append(angle_to(w, w_star) / np.pi)
        bands.append(b)
    return {"labels": np.asarray(labels, np.int64), "err": np.asarray(errs),
            "band": np.asarray(bands), "w": w}


@dataclass(frozen=True)
class StagewiseStream(LoopMethod):
    """The stream-mode stage-wise learner on a linear-separator task (runner protocol).

    Metrics ``labels`` and ``err`` (``angle(w, w*) / pi``) on the axis ``"labels
    queried"``; below ``k`` labels ``(0, 1/2)``. Parameters as :func:`run_band_stream`.
    """

    selector: str = "margin_uniform"
    k: int = 10
    km_ratio: float = 10.0
    c_b: float = 2.0
    l2: float = 1e-9
    lam: float = 1e-3
    eps_hac: float | None = None
    band_shrink: bool = True
    volume_bypass: bool = False
    reverse_candidates: bool = False
    axis = "labels queried"
    metrics = ("labels", "err")
    label = "stage-wise margin (stream mode)"
    provenance = "UNVERIFIED"

    def __post_init__(self):
        if self.selector not in SELECTORS:
            raise ValueError(f"selector must be one of {SELECTORS}, got {self.selector!r}")
        check_int("k", self.k, 1)
        if not (np.isfinite(self.km_ratio) and self.km_ratio >= 1):
            raise ValueError(f"km_ratio must be finite and >= 1, got {self.km_ratio!r}")
        for name in ("c_b", "l2", "lam"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be finite and > 0, got {v!r}")

    @classmethod
    def examples(cls) -> list:
        """Small instances for the engine's conformance checks."""
        return [cls(selector="margin_uniform", k=3, km_ratio=2.0),
                cls(selector="cmv_det", k=3, km_ratio=3.0)]

    @property
    def name(self) -> str:
        return f"{self.selector} (stream, k={self.k}, k_m/k={self.km_ratio:g})"

    def horizon(self, rounds: int) -> int:
        """The label horizon of stage 0 and ``rounds`` rounds: ``(rounds + 1) k``."""
        return (int(rounds) + 1) * self.k

    def validate(self, task: Task) -> None:
        """A :class:`~simlab.active.pools.LinearSeparatorPool` without Tsybakov noise."""
        if not isinstance(task, LinearSeparatorPool):
            raise ValueError(f"StagewiseStream runs on a LinearSeparatorPool, got "
                             f"{type(task).__name__}")
        if task.noise == "tsybakov":
            raise ValueError("StagewiseStream supports noise 'none' or 'massart'")

    def run_replica(self, task: Task, streams, checkpoints: np.ndarray) -> np.ndarray:
        """One replica over the label horizon ``checkpoints[-1]`` (runner protocol)."""
        cps = np.asarray(checkpoints, dtype=np.int64)
        out = np.empty((cps.size, 2))
        out[:] = (0.0, 0.5)
        H = int(cps[-1])
        if H < self.k:
            return out
        D = task.data()
        res = run_band_stream(
            task.d, D.w_star, self.selector, self.k, self.km_ratio, H // self.k - 1,
            self.c_b, streams.generator(SELECT_STREAM), inputs=task.inputs,
            eta=task.eta if task.noise == "massart" else 0.0, l2=self.l2, lam=self.lam,
            eps_hac=self.eps_hac, seed_rng=streams.generator(SEED_STREAM),
            draw_rng=streams.generator(DRAW_STREAM), noise_rng=streams.generator(NOISE_STREAM),
            band_shrink=self.band_shrink, volume_bypass=self.volume_bypass,
            reverse_candidates=self.reverse_candidates)
        j = np.searchsorted(res["labels"], cps, side="right") - 1
        ok = j >= 0
        out[ok, 0] = res["labels"][j[ok]]
        out[ok, 1] = res["err"][j[ok]]
        return out
