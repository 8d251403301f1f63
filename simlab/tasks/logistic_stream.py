"""S1: imbalanced logistic regression on a heavy-tailed stream (subsample spec 6.1).

``x = r g`` with ``g ~ N(0, I_d)`` and a lognormal row scale ``r`` (heavy-tailed gradient
norms); ``y ~ Bernoulli(sigma(w*_t . x + b))``, the intercept ``b`` set so that the base rate
over the family's test rows is ``base_rate`` (the spec's 1%, 5%, 27%); ``w*_t`` turns at
``drift`` radians per step in the plane of ``w*_0`` and a random orthogonal direction (slow
non-stationarity). Log-loss. Metrics: the expected test log-loss against the current truth
(over a fixed set of test rows, with the true probabilities: no label noise in the metric) and
the calibration ratio (mean predicted probability over the mean true one; 1 when calibrated).
The ops follow the contract of :mod:`simlab.tasks._streams`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import optimize

from simlab.engine.declare import Slot, StreamGroup, TaskOps
from simlab.engine.model import Task
from simlab.engine.rng import normal_state, uniform_state
from simlab.tasks._streams import draw_windows, heavy_rows, sigmoid, unit_pair, window_gradients
from simlab.tasks._validate import check_float, check_int


@dataclass(frozen=True)
class LogisticStream(Task):
    """S1: imbalanced logistic regression on heavy-tailed rows, optionally drifting.

    Parameters
    ----------
    d : int
        Features, ``>= 1``.
    window : int
        Instances per window, ``n >= 2`` (the candidates of one step).
    base_rate : float
        Positive rate in ``(0, 1)`` over the test rows.
    w_norm : float
        ``||w*|| > 0``, the signal strength.
    row_sigma : float
        Log-standard deviation of the row scale ``r`` (0: Gaussian rows).
    drift : float
        Rotation of ``w*`` per step, radians, ``>= 0`` (0: stationary).
    warm : float
        The starting model is ``warm theta*_0`` (0: from zero; 1: the truth), in ``[0, 1]``.
    n_test : int
        Test rows the metrics average over, ``>= 10``.
    seed : int
        Seed of the instance (``w*``, the drift plane, the test rows), ``>= 0``.
    """

    d: int = 10
    window: int = 100
    base_rate: float = 0.27
    w_norm: float = 2.0
    row_sigma: float = 0.5
    drift: float = 0.0
    warm: float = 0.0
    n_test: int = 2000
    seed: int = 0
    family: ClassVar[str] = "S1"
    #: Labels are 0/1 (negative downsampling applies).
    binary: ClassVar[bool] = True

    def __post_init__(self):
        check_int("d", self.d, 1)
        check_int("window", self.window, 2)
        check_float("base_rate", self.base_rate, 0.0, 1.0, lo_open=True)
        if not self.base_rate < 1:
            raise ValueError(f"base_rate must be in (0, 1), got {self.base_rate!r}")
        check_float("w_norm", self.w_norm, 0.0, lo_open=True)
        check_float("row_sigma", self.row_sigma, 0.0)
        check_float("drift", self.drift, 0.0)
        check_float("warm", self.warm, 0.0, 1.0)
        check_int("n_test", self.n_test, 10)
        check_int("seed", self.seed, 0)

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(d=4, window=16, base_rate=0.27, n_test=50, seed=1, warm=0.5),
                cls(d=3, window=8, base_rate=0.05, drift=0.01, n_test=40, seed=2)]

    def dims(self) -> dict[str, int]:
        """``d``, ``n`` (the window) and ``D = d + 1`` (the parameters)."""
        return {"d": self.d, "n": self.window, "D": self.d + 1}

    def instance(self) -> dict:
        """``w`` (``w*_0``), ``u`` (the drift direction, scaled), ``b`` and ``X`` (test rows)."""
        cached = self.__dict__.get("_instance")
        if cached is None:
            rng = np.random.default_rng([self.seed, 0x51])
            w, u = unit_pair(self.d, rng)
            w, u = self.w_norm * w, self.w_norm * u
            X = heavy_rows(self.n_test, self.d, self.row_sigma, rng)
            z = X @ w
            b = optimize.brentq(lambda c: float(np.mean(sigmoid(z + c))) - self.base_rate,
                                -80.0, 80.0, xtol=1e-13)
            cached = dict(w=w, u=u, b=float(b), X=X)
            object.__setattr__(self, "_instance", cached)
        return cached

    def optimum(self, t: int = 0) -> np.ndarray:
        """``theta*_t = (w*_t, b)``, the model that generates the labels at step ``t``."""
        inst = self.instance()
        a = self.drift * t
        return np.concatenate([inst["w"] * math.cos(a) + inst["u"] * math.sin(a), [inst["b"]]])

    def constants(self) -> dict:
        """``d``, ``n``, ``b``, ``w_norm``, ``base_rate`` (over the test rows) and
        ``loss_floor`` (the test log-loss of the truth, at ``t = 0``)."""
        inst = self.instance()
        p = sigmoid(inst["X"] @ inst["w"] + inst["b"])
        floor = float(np.mean(-(p * np.log(p) + (1 - p) * np.log1p(-p))))
        return dict(d=self.d, n=self.window, base_rate=float(p.mean()), b=inst["b"],
                    w_norm=float(self.w_norm), loss_floor=floor)

    def noise_law(self, n: int, seed: int) -> list:
        """The stream's law (the conformance hook), per window of draws from ``stream_window``
        at ``t = 0``: ``E x = 0``, ``E x_j^2 = exp(2 row_sigma^2)``, ``E[y - sigma(theta*_0 .
        x)] = 0`` and the window-mean gradient at the truth equal to 0 (well-specified
        labels, through ``stream_grad``)."""
        from simlab.engine.conformance import LawCheck

        W = max(n // self.window, 200)
        X, y = draw_windows(self, W, seed)
        star = self.optimum(0)
        p = sigmoid(X @ star[:-1] + star[-1])
        g = window_gradients(self, star, X, y)
        return [LawCheck("E x", X.mean(1), np.zeros(self.d)),
                LawCheck("E x_j^2", (X ** 2).mean((1, 2))[:, None],
                         np.array([math.exp(2 * self.row_sigma ** 2)])),
                LawCheck("E[y - p*]", (y - p).mean(1)[:, None], np.zeros(1)),
                LawCheck("E grad(theta*)", g, np.zeros(self.d + 1))]

    def _pack(self):
        inst = self.instance()
        parts = [inst["w"], inst["u"], [inst["b"], self.drift, self.row_sigma, self.warm],
                 inst["X"].ravel()]
        offs = np.cumsum([0] + [len(np.ravel(q)) for q in parts])
        tdata = np.concatenate([np.ravel(q) for q in parts]).astype(np.float64)
        tmeta = np.array([self.d, self.window, self.n_test, 0, *offs[1:4]], dtype=np.int64)
        return tdata, tmeta


# -- ops (plain Python in numba's CPU/CUDA subset; composed by simlab.engine.kernel) ----------
# tdata = [w*_0 (d) | u (d) | b, drift, row_sigma, warm | test rows (n_test * d)]
# tmeta = [d, n, n_test, 0, offset of u, offset of (b, drift, row_sigma, warm), offset of rows]

def s1_truth(tdata, tmeta, t, x, base):
    """``w*_t . x[base:base + d] + b``."""
    d = tmeta[0]
    ou = tmeta[4]
    ob = tmeta[5]
    a = tdata[ob + 1] * t
    ca = math.cos(a)
    sa = math.sin(a)
    z = tdata[ob]
    for j in range(d):
        z += (tdata[j] * ca + tdata[ou + j] * sa) * x[base + j]
    return z


def s1_margin(tdata, tmeta, theta, x, base):
    """``theta_w . x[base:base + d] + theta_c``."""
    d = tmeta[0]
    z = theta[d]
    for j in range(d):
        z += theta[j] * x[base + j]
    return z


def s1_sigmoid(z):
    """The logistic function."""
    return 0.5 * (1.0 + math.tanh(0.5 * z))


def s1_log1pexp(z):
    """``log(1 + e^z)``, stable."""
    if z > 0.0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


def stream_init(tdata, tmeta, theta):
    """``theta_0 = warm theta*_0``."""
    d = tmeta[0]
    ob = tmeta[5]
    warm = tdata[ob + 3]
    for j in range(d):
        theta[j] = warm * tdata[j]
    theta[d] = warm * tdata[ob]


def stream_window(tdata, tmeta, t, data, X, y):
    """Draw the window of step ``t``: rows ``r g``, labels from the truth at ``t``."""
    d = tmeta[0]
    n = tmeta[1]
    rs = tdata[tmeta[5] + 2]
    r0 = data[0, 0]
    r1 = data[0, 1]
    for i in range(n):
        z, r0, r1 = normal_state(r0, r1)
        r = math.exp(rs * z)
        for j in range(d):
            z, r0, r1 = normal_state(r0, r1)
            X[i * d + j] = r * z
        u, r0, r1 = uniform_state(r0, r1)
        y[i] = 1.0 if u <= s1_sigmoid(s1_truth(tdata, tmeta, t, X, i * d)) else 0.0
    data[0, 0] = r0
    data[0, 1] = r1


def stream_loss(tdata, tmeta, theta, X, y, i):
    """Log-loss of instance ``i`` at ``theta``."""
    z = s1_margin(tdata, tmeta, theta, X, i * tmeta[0])
    return s1_log1pexp(z) - y[i] * z


def stream_dloss(tdata, tmeta, theta, X, y, i):
    """``|sigma(z_i) - y_i|``: the loss's gradient norm at the output logit."""
    return abs(s1_sigmoid(s1_margin(tdata, tmeta, theta, X, i * tmeta[0])) - y[i])


def stream_grad(tdata, tmeta, theta, X, y, i, scale, out):
    """``out += scale * grad`` of instance ``i``'s log-loss; returns ``||grad||``."""
    d = tmeta[0]
    base = i * d
    r = s1_sigmoid(s1_margin(tdata, tmeta, theta, X, base)) - y[i]
    sq = 1.0
    a = scale * r
    for j in range(d):
        out[j] += a * X[base + j]
        sq += X[base + j] * X[base + j]
    out[d] += a
    return abs(r) * math.sqrt(sq)


def stream_record(tdata, tmeta, t, theta, row):
    """Expected test log-loss against the truth at ``t``; calibration ratio."""
    m = tmeta[2]
    ox = tmeta[6]
    d = tmeta[0]
    loss = 0.0
    pred = 0.0
    true = 0.0
    for q in range(m):
        base = ox + q * d
        pt = s1_sigmoid(s1_truth(tdata, tmeta, t, tdata, base))
        z = s1_margin(tdata, tmeta, theta, tdata, base)
        loss += s1_log1pexp(z) - pt * z
        pred += s1_sigmoid(z)
        true += pt
    row[0] = loss / m
    row[1] = pred / true


LogisticStream.ops = TaskOps(
    functions=(s1_truth, s1_margin, s1_sigmoid, s1_log1pexp, stream_init, stream_window,
               stream_loss, stream_dloss, stream_grad, stream_record),
    init=stream_init, record=stream_record, metrics=("test_loss", "calibration"),
    slots=(Slot("theta", "D"),), streams=(StreamGroup("data", 1),), finite=("theta",))
