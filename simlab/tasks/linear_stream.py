"""S2: linear regression on a heavy-tailed stream with heavy-tailed noise (subsample spec 6.1).

``y = w* . x + xi`` with ``x = r g`` (``g ~ N(0, I_d)``, lognormal row scale ``r``) and ``xi``
a mixture of ``N(0, 1)`` and ``N(0, s_out^2)`` (probability ``p_out``; the spec's mixture of
``N(0, 1)`` and ``N(0, 100)`` is ``s_out = 10``). Squared loss ``(y_hat - y)^2 / 2``, so the
gradient norm is ``sqrt(2 l) ||(x, 1)||``: loss-proportional and gradient-proportional sampling
differ here (spec 6.1). The metrics are exact population values: with ``m2 = E r^2 =
exp(2 row_sigma^2)`` the Hessian is ``H = diag(m2 I_d, 1)``, the excess loss is
``(m2 ||w - w*||^2 + c^2) / 2``, the test loss adds the noise floor ``Var(xi) / 2``, and
``||grad f||^2 = m2^2 ||w - w*||^2 + c^2``. The ops follow :mod:`simlab.tasks._streams`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simlab.engine.declare import Slot, StreamGroup, TaskOps
from simlab.engine.model import Task
from simlab.engine.rng import normal_state, uniform_state
from simlab.tasks._streams import draw_windows, unit_pair, window_gradients
from simlab.tasks._validate import check_float, check_int


@dataclass(frozen=True)
class LinearStream(Task):
    """S2: linear regression on heavy-tailed rows with mixture (heavy-tailed) noise.

    Parameters
    ----------
    d : int
        Features, ``>= 1``.
    window : int
        Instances per window, ``n >= 2``.
    w_norm : float
        ``||w*|| >= 0``.
    row_sigma : float
        Log-standard deviation of the row scale ``r``, ``>= 0``.
    p_out : float
        Probability of an outlier noise draw, in ``[0, 1)``.
    s_out : float
        Standard deviation of the outliers (the inliers have 1), ``>= 0``.
    warm : float
        The starting model is ``warm theta*``, in ``[0, 1]``.
    seed : int
        Seed of ``w*``, ``>= 0``.
    """

    d: int = 10
    window: int = 100
    w_norm: float = 1.0
    row_sigma: float = 0.5
    p_out: float = 0.1
    s_out: float = 10.0
    warm: float = 0.0
    seed: int = 0
    family: ClassVar[str] = "S2"
    binary: ClassVar[bool] = False

    def __post_init__(self):
        check_int("d", self.d, 1)
        check_int("window", self.window, 2)
        check_float("w_norm", self.w_norm, 0.0)
        check_float("row_sigma", self.row_sigma, 0.0)
        check_float("p_out", self.p_out, 0.0, 1.0)
        if not self.p_out < 1:
            raise ValueError(f"p_out must be in [0, 1), got {self.p_out!r}")
        check_float("s_out", self.s_out, 0.0)
        check_float("warm", self.warm, 0.0, 1.0)
        check_int("seed", self.seed, 0)

    @classmethod
    def examples(cls) -> list:
        """Small instances for the conformance checks."""
        return [cls(d=4, window=16, seed=1), cls(d=2, window=8, warm=0.5, seed=2)]

    def dims(self) -> dict[str, int]:
        """``d``, ``n`` (the window) and ``D = d + 1``."""
        return {"d": self.d, "n": self.window, "D": self.d + 1}

    def optimum(self, t: int = 0) -> np.ndarray:
        """``theta* = (w*, 0)``."""
        rng = np.random.default_rng([self.seed, 0x52])
        w, _ = unit_pair(self.d, rng)
        return np.concatenate([self.w_norm * w, [0.0]])

    @property
    def m2(self) -> float:
        """``E r^2 = exp(2 row_sigma^2)``: the Hessian's weight block is ``m2 I_d``."""
        return float(math.exp(2 * self.row_sigma ** 2))

    @property
    def noise_var(self) -> float:
        """``Var(xi) = (1 - p_out) + p_out s_out^2``."""
        return float((1 - self.p_out) + self.p_out * self.s_out ** 2)

    def constants(self) -> dict:
        """``d``, ``n``, ``noise_var``, ``loss_floor = noise_var / 2``, the smoothness ``L =
        max(m2, 1)``, the PL constant ``mu = min(m2, 1)`` and ``F0`` (the excess loss of
        ``theta_0``)."""
        theta0 = self.warm * self.optimum()
        dw = theta0[:-1] - self.optimum()[:-1]
        return dict(d=self.d, n=self.window, noise_var=self.noise_var,
                    loss_floor=self.noise_var / 2, L=max(self.m2, 1.0), mu=min(self.m2, 1.0),
                    m2=self.m2, F0=0.5 * self.m2 * float(dw @ dw))

    def noise_law(self, n: int, seed: int) -> list:
        """The stream's law (the conformance hook), per window of draws from ``stream_window``:
        ``E x = 0``, ``E x_j^2 = m2``, ``E xi = 0``, ``E xi^2 = noise_var`` and the window-mean
        gradient at a probe point ``theta = theta* + u`` equal to ``H u``, ``H = diag(m2 I,
        1)`` (through ``stream_grad``)."""
        from simlab.engine.conformance import LawCheck

        W = max(n // self.window, 200)
        X, y = draw_windows(self, W, seed)
        star = self.optimum()
        xi = y - X @ star[:-1]
        u = np.random.default_rng(seed).standard_normal(self.d + 1) * 0.3
        g = window_gradients(self, star + u, X, y)
        H = np.append(np.full(self.d, self.m2), 1.0)
        return [LawCheck("E x", X.mean(1), np.zeros(self.d)),
                LawCheck("E x_j^2", (X ** 2).mean((1, 2))[:, None], np.array([self.m2])),
                LawCheck("E xi", xi.mean(1)[:, None], np.zeros(1)),
                LawCheck("E xi^2", (xi ** 2).mean(1)[:, None], np.array([self.noise_var])),
                LawCheck("E grad(theta* + u)", g, H * u)]

    def _pack(self):
        params = [self.row_sigma, self.p_out, self.s_out, self.noise_var, self.m2, self.warm]
        tdata = np.concatenate([self.optimum()[:-1], params]).astype(np.float64)
        tmeta = np.array([self.d, self.window, 0, 0, self.d], dtype=np.int64)
        return tdata, tmeta


# -- ops ---------------------------------------------------------------------------------------
# tdata = [w* (d) | row_sigma, p_out, s_out, noise_var, m2, warm]
# tmeta = [d, n, 0, 0, offset of the parameters]

def s2_residual(tdata, tmeta, theta, X, y, i):
    """``theta_w . x_i + theta_c - y_i``."""
    d = tmeta[0]
    z = theta[d] - y[i]
    for j in range(d):
        z += theta[j] * X[i * d + j]
    return z


def stream_init(tdata, tmeta, theta):
    """``theta_0 = warm theta*``."""
    d = tmeta[0]
    warm = tdata[tmeta[4] + 5]
    for j in range(d):
        theta[j] = warm * tdata[j]
    theta[d] = 0.0


def stream_window(tdata, tmeta, t, data, X, y):
    """Draw the window: rows ``r g``, ``y = w* . x + xi``."""
    d = tmeta[0]
    n = tmeta[1]
    op = tmeta[4]
    r0 = data[0, 0]
    r1 = data[0, 1]
    for i in range(n):
        z, r0, r1 = normal_state(r0, r1)
        r = math.exp(tdata[op] * z)
        lin = 0.0
        for j in range(d):
            z, r0, r1 = normal_state(r0, r1)
            v = r * z
            X[i * d + j] = v
            lin += tdata[j] * v
        u, r0, r1 = uniform_state(r0, r1)
        sd = tdata[op + 2] if u <= tdata[op + 1] else 1.0
        z, r0, r1 = normal_state(r0, r1)
        y[i] = lin + sd * z
    data[0, 0] = r0
    data[0, 1] = r1


def stream_loss(tdata, tmeta, theta, X, y, i):
    """Squared loss ``(y_hat - y)^2 / 2`` of instance ``i``."""
    e = s2_residual(tdata, tmeta, theta, X, y, i)
    return 0.5 * e * e


def stream_dloss(tdata, tmeta, theta, X, y, i):
    """``|y_hat - y|``: the loss's gradient norm at the output."""
    return abs(s2_residual(tdata, tmeta, theta, X, y, i))


def stream_grad(tdata, tmeta, theta, X, y, i, scale, out):
    """``out += scale * grad`` of instance ``i``'s squared loss; returns ``||grad||``."""
    d = tmeta[0]
    e = s2_residual(tdata, tmeta, theta, X, y, i)
    a = scale * e
    sq = 1.0
    for j in range(d):
        out[j] += a * X[i * d + j]
        sq += X[i * d + j] * X[i * d + j]
    out[d] += a
    return abs(e) * math.sqrt(sq)


def s2_dist_w(tdata, tmeta, theta):
    """``||w - w*||^2``."""
    s = 0.0
    for j in range(tmeta[0]):
        e = theta[j] - tdata[j]
        s += e * e  # not ** 2: numpy's scalar power is not always x * x
    return s


def stream_record(tdata, tmeta, t, theta, row):
    """Exact test loss, excess loss and squared gradient norm of the population loss."""
    d = tmeta[0]
    op = tmeta[4]
    m2 = tdata[op + 4]
    dw = s2_dist_w(tdata, tmeta, theta)
    c2 = theta[d] * theta[d]
    excess = 0.5 * (m2 * dw + c2)
    row[0] = excess + 0.5 * tdata[op + 3]
    row[1] = excess
    row[2] = m2 * m2 * dw + c2


LinearStream.ops = TaskOps(
    functions=(s2_residual, stream_init, stream_window, stream_loss, stream_dloss, stream_grad,
               s2_dist_w, stream_record),
    init=stream_init, record=stream_record, metrics=("test_loss", "excess", "grad_sq"),
    slots=(Slot("theta", "D"),), streams=(StreamGroup("data", 1),), finite=("theta",))
