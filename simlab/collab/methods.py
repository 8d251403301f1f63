"""Methods of the collab spec (section 3) as ``(init, step)`` over an explicit work row.

Every method is a frozen dataclass of hyperparameters; :meth:`build_ops` builds its jitted
``init`` and ``step`` from the task's ops (see :mod:`simlab.engine.model`). Provenance:

* :class:`SGDAlone`, :class:`WGA`: the recursions are standard ([V] concepts, spec 3.0 and 3.1).
* :class:`BCEMA` (primary reconstruction of the paper's bias correction), :class:`BCMVR`,
  :class:`BCSNAP`: [UNVERIFIED] reconstructions, spec 3.2. The paper's exact estimator is
  not known; these are the families the spec asks for.
* :class:`AuxMOM`, :class:`AuxMVR`: names [V-3P], recursions [UNVERIFIED] (spec 3.3): BC-EMA and
  BC-MVR with ``alpha_0 = 0``, i.e. the pseudo-gradient is the auxiliary ``h = avg_i f_i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simlab.engine.model import Method, Task, prepare, resolve_weights, sample_grad, sample_split
from simlab.tasks._validate import check_float, check_int


@dataclass(frozen=True)
class SGDAlone(Method):
    """SGD on task 0 alone: ``x_{t+1} = x_t - eta g_0(x_t)`` (spec 3.0)."""

    step_size: float = 0.1
    label: ClassVar[str] = "Alone"
    provenance: ClassVar[str] = "V"

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta]``."""
        return np.array([self.step_size])

    def state_size(self, task: Task) -> int:
        """One gradient buffer."""
        return self._d(task)



class _Weighted(Method):
    """Mixin: a weight vector ``alpha`` resolved against the task's ``N + 1``."""

    def alpha(self, task: Task) -> np.ndarray:
        """The validated weights for ``task``."""
        return resolve_weights(self.weights, task.n_tasks)

    def validate(self, task: Task) -> None:
        """Check the step size and the weights."""
        Method.validate(self, task)
        self.alpha(task)


@dataclass(frozen=True)
class WGA(_Weighted):
    """Weighted gradient averaging: ``x_{t+1} = x_t - eta sum_i alpha_i g_i(x_t)`` (spec 3.1).

    Parameters
    ----------
    weights : {"uniform", "alone"} or sequence of N+1 floats
        Non-negative, summing to 1.
    step_size : float
        ``eta > 0``.
    """

    weights: object = "uniform"
    step_size: float = 0.1
    label: ClassVar[str] = "WGA"
    provenance: ClassVar[str] = "V"

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, alpha_0..alpha_N]``."""
        return np.concatenate([[self.step_size], self.alpha(task)])

    def state_size(self, task: Task) -> int:
        """``g0`` and ``aux`` buffers."""
        return 2 * self._d(task)


    @property
    def name(self) -> str:
        """``WGA(uniform)`` or ``WGA(alpha_0=...)``."""
        if isinstance(self.weights, str):
            return f"WGA({self.weights})"
        return f"WGA(a0={float(np.asarray(self.weights).ravel()[0]):.3g})"


def _momentum_value(momentum) -> float:
    """Encode a momentum spec: a float in [0, 1], or ``"running"`` (``a_t = 1/(t+1)``) as -1."""
    if isinstance(momentum, str):
        if momentum == "running":
            return -1.0
        raise ValueError(f"momentum must be a float in [0, 1] or 'running', got {momentum!r}")
    return check_float("momentum", momentum, 0.0, 1.0)


@dataclass(frozen=True)
class BCEMA(_Weighted):
    """Bias correction with an exponential moving average (BC-EMA, spec 3.2) [UNVERIFIED].

    ``G_t = sum alpha_i g_i``; ``b_t = g_0 - G_t``; ``m_t = (1-a) m_{t-1} + a b_t``;
    ``x_{t+1} = x_t - eta (G_t + m_t)``.

    Parameters
    ----------
    weights : {"uniform", "alone"} or sequence of N+1 floats
    step_size : float
    momentum : float in [0, 1] or "running"
        ``a``; ``"running"`` is ``a_t = 1/(t+1)`` (the running average, right for delta = 0).
    coupled : bool
        ``True``: ``b_t`` uses the samples of ``G_t``; ``False``: fresh independent samples.
    init_batch : int
        ``0``: ``m_{-1} = 0``; ``B > 0``: ``m_{-1}`` is the mean of ``B`` independent ``b(x_0)``
        samples.
    """

    weights: object = "uniform"
    step_size: float = 0.1
    momentum: object = 0.1
    coupled: bool = True
    init_batch: int = 0
    label: ClassVar[str] = "BC-EMA"
    provenance: ClassVar[str] = "UNVERIFIED"

    def validate(self, task: Task) -> None:
        """Check step size, weights, momentum and ``init_batch``."""
        _Weighted.validate(self, task)
        _momentum_value(self.momentum)
        check_int("init_batch", self.init_batch, 0)

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, a (-1 = running), coupled, init_batch, alpha...]``."""
        head = [self.step_size, _momentum_value(self.momentum), float(bool(self.coupled)),
                float(self.init_batch)]
        return np.concatenate([head, self.alpha(task)])

    def state_size(self, task: Task) -> int:
        """``m`` and four gradient buffers."""
        return 5 * self._d(task)



@dataclass(frozen=True)
class BCMVR(_Weighted):
    """Bias correction with momentum-based variance reduction (BC-MVR, spec 3.2) [UNVERIFIED].

    ``m_t = (1-a)(m_{t-1} + b(x_t; xi_t) - b(x_{t-1}; xi_t)) + a b(x_t; xi_t)`` with the same
    sample at both points (the engine replays the step's random streams at ``x_{t-1}``);
    ``x_{-1} = x_0`` and ``m_{-1} = 0``; ``x_{t+1} = x_t - eta (G_t + m_t)``.

    Parameters
    ----------
    weights, step_size
        As for :class:`WGA`.
    momentum : float in [0, 1]
        ``a``.
    coupled : bool
        ``True``: the pseudo-gradient ``G_t`` uses the sample of ``b(x_t; xi_t)``; ``False``: an
        independent sample (as AuxMVR's cheap gradient ``g_h``).
    """

    weights: object = "uniform"
    step_size: float = 0.1
    momentum: float = 0.1
    coupled: bool = True
    label: ClassVar[str] = "BC-MVR"
    provenance: ClassVar[str] = "UNVERIFIED"

    def validate(self, task: Task) -> None:
        """Check step size, weights and momentum in [0, 1]."""
        _Weighted.validate(self, task)
        check_float("momentum", self.momentum, 0.0, 1.0)

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, a, coupled, alpha...]``."""
        return np.concatenate([[self.step_size, float(self.momentum), float(bool(self.coupled))],
                               self.alpha(task)])

    def state_size(self, task: Task) -> int:
        """``m``, ``x_{t-1}`` and six gradient buffers."""
        return 8 * self._d(task)


@dataclass(frozen=True)
class BCSNAP(_Weighted):
    """Bias correction by periodic snapshots (BC-SNAP, spec 3.2; an ablation) [UNVERIFIED].

    Every ``period`` steps, ``c = mean of batch independent samples of b(x_t)``; in between,
    ``x_{t+1} = x_t - eta (G_t + c)``.
    """

    weights: object = "uniform"
    step_size: float = 0.1
    period: int = 10
    batch: int = 10
    label: ClassVar[str] = "BC-SNAP"
    provenance: ClassVar[str] = "UNVERIFIED"

    def validate(self, task: Task) -> None:
        """Check step size, weights, ``period >= 1`` and ``batch >= 1``."""
        _Weighted.validate(self, task)
        check_int("period", self.period, 1)
        check_int("batch", self.batch, 1)

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, period, batch, alpha...]``."""
        return np.concatenate([[self.step_size, float(self.period), float(self.batch)],
                               self.alpha(task)])

    def state_size(self, task: Task) -> int:
        """``c`` and four gradient buffers."""
        return 5 * self._d(task)



def _aux_weights(task: Task) -> np.ndarray:
    n = task.n_aux
    if n < 1:
        raise ValueError("AuxMOM/AuxMVR need at least one auxiliary task (N >= 1), got N = 0")
    return np.concatenate([[0.0], np.full(n, 1.0 / n)])


@dataclass(frozen=True)
class AuxMOM(BCEMA):
    """AuxMOM (TMLR follow-up, spec 3.3): BC-EMA whose pseudo-gradient is ``h = avg f_i``.

    ``alpha_0 = 0`` and ``alpha_i = 1/N``, so ``d_t = g_h(x_t) + m_t`` with
    ``m_t = (1-a) m_{t-1} + a (g_f(x_t; xi) - g_h(x_t; xi))``: the bias estimate uses one sample
    ``xi`` for both f and h (so correlated noise cancels in it), and the pseudo-gradient
    ``g_h(x_t)`` is an independent draw (spec 3.3: "cheap gradient, possibly a large batch"),
    hence ``coupled=False`` by default. Names [V-3P]; recursion [UNVERIFIED].
    """

    weights: object = "aux"
    coupled: bool = False
    label: ClassVar[str] = "AuxMOM"

    def alpha(self, task: Task) -> np.ndarray:
        """``(0, 1/N, ..., 1/N)``."""
        return _aux_weights(task)

    @property
    def ops_class(self) -> type:
        """Compiled as BC-EMA."""
        return BCEMA


@dataclass(frozen=True)
class AuxMVR(BCMVR):
    """AuxMVR (spec 3.3): BC-MVR with ``alpha_0 = 0``, ``alpha_i = 1/N`` [UNVERIFIED].

    As :class:`AuxMOM`: the bias estimate's sample is shared by f and h (at ``x_t`` and
    ``x_{t-1}``) and the pseudo-gradient ``g_h(x_t)`` is an independent draw (``coupled=False``).
    """

    weights: object = "aux"
    coupled: bool = False
    label: ClassVar[str] = "AuxMVR"

    def alpha(self, task: Task) -> np.ndarray:
        """``(0, 1/N, ..., 1/N)``."""
        return _aux_weights(task)

    @property
    def ops_class(self) -> type:
        """Compiled as BC-MVR."""
        return BCMVR


def bias_batch_mean(tdata, tmeta, alpha, x, s, prep, nb, g0b, auxb, out):
    """Add the mean of ``nb`` independent (bank 1) samples of ``b(x) = g_0 - G`` to ``out``."""
    d = tmeta[0]
    a0 = alpha[0]
    for _ in range(nb):
        sample_split(tdata, tmeta, alpha, x, s, 1, prep, g0b, auxb)
        for k in range(d):
            out[k] += ((1.0 - a0) * g0b[k] - auxb[k]) / nb


def sgd_init(tdata, tmeta, hyper, w, s):
    pass

def sgd_step(tdata, tmeta, hyper, w, s, t):
    d = tmeta[0]
    off = d + tmeta[2]
    g = w[off:off + d]
    sample_grad(tdata, tmeta, 0, w, s, 0, g)
    eta = hyper[0]
    for k in range(d):
        w[k] -= eta * g[k]


SGDAlone.ops_functions = (sgd_init, sgd_step)


def wga_init(tdata, tmeta, hyper, w, s):
    d = tmeta[0]
    prepare(tdata, tmeta, hyper[1:], w[d:d + tmeta[2]])

def wga_step(tdata, tmeta, hyper, w, s, t):
    d = tmeta[0]
    p = tmeta[2]
    off = d + p
    alpha = hyper[1:]
    g0 = w[off:off + d]
    aux = w[off + d:off + 2 * d]
    sample_split(tdata, tmeta, alpha, w, s, 0, w[d:d + p], g0, aux)
    eta = hyper[0]
    a0 = alpha[0]
    for k in range(d):
        w[k] -= eta * (a0 * g0[k] + aux[k])


WGA.ops_functions = (wga_init, wga_step)


def bcema_init(tdata, tmeta, hyper, w, s):
    d = tmeta[0]
    p = tmeta[2]
    alpha = hyper[4:]
    prep = w[d:d + p]
    prepare(tdata, tmeta, alpha, prep)
    off = d + p
    m = w[off:off + d]
    for k in range(d):
        m[k] = 0.0
    nb = int(hyper[3])
    if nb > 0:
        bias_batch_mean(tdata, tmeta, alpha, w, s, prep, nb, w[off + 3 * d:off + 4 * d],
                        w[off + 4 * d:off + 5 * d], m)

def bcema_step(tdata, tmeta, hyper, w, s, t):
    d = tmeta[0]
    p = tmeta[2]
    off = d + p
    alpha = hyper[4:]
    prep = w[d:d + p]
    m = w[off:off + d]
    g0 = w[off + d:off + 2 * d]
    aux = w[off + 2 * d:off + 3 * d]
    sample_split(tdata, tmeta, alpha, w, s, 0, prep, g0, aux)
    a = hyper[1]
    if a < 0.0:
        a = 1.0 / (t + 1.0)
    eta = hyper[0]
    a0 = alpha[0]
    if hyper[2] != 0.0:
        for k in range(d):
            G = a0 * g0[k] + aux[k]
            m[k] = (1.0 - a) * m[k] + a * (g0[k] - G)
            w[k] -= eta * (G + m[k])
    else:
        g0b = w[off + 3 * d:off + 4 * d]
        auxb = w[off + 4 * d:off + 5 * d]
        sample_split(tdata, tmeta, alpha, w, s, 1, prep, g0b, auxb)
        for k in range(d):
            G = a0 * g0[k] + aux[k]
            m[k] = (1.0 - a) * m[k] + a * (g0b[k] - (a0 * g0b[k] + auxb[k]))
            w[k] -= eta * (G + m[k])


BCEMA.ops_functions = (bcema_init, bcema_step)
BCEMA.ops_helpers = (bias_batch_mean,)


def bcmvr_init(tdata, tmeta, hyper, w, s):
    d = tmeta[0]
    p = tmeta[2]
    prepare(tdata, tmeta, hyper[3:], w[d:d + p])
    off = d + p
    for k in range(d):
        w[off + k] = 0.0
        w[off + d + k] = w[k]


def bcmvr_step(tdata, tmeta, hyper, w, s, t):
    d = tmeta[0]
    n = tmeta[1]
    p = tmeta[2]
    off = d + p
    alpha = hyper[3:]
    prep = w[d:d + p]
    m = w[off:off + d]
    xp = w[off + d:off + 2 * d]
    g0 = w[off + 2 * d:off + 3 * d]
    aux = w[off + 3 * d:off + 4 * d]
    g0p = w[off + 4 * d:off + 5 * d]
    auxp = w[off + 5 * d:off + 6 * d]
    # replay bank 0 in bank 1: same sample at x_t and x_{t-1}
    for r in range(n + 2):
        s[n + 2 + r, 0] = s[r, 0]
        s[n + 2 + r, 1] = s[r, 1]
    sample_split(tdata, tmeta, alpha, w, s, 0, prep, g0, aux)
    sample_split(tdata, tmeta, alpha, xp, s, 1, prep, g0p, auxp)
    a = hyper[1]
    eta = hyper[0]
    a0 = alpha[0]
    if hyper[2] != 0.0:
        for k in range(d):
            G = a0 * g0[k] + aux[k]
            b = g0[k] - G
            bp = (1.0 - a0) * g0p[k] - auxp[k]
            m[k] = (1.0 - a) * (m[k] + b - bp) + a * b
            xp[k] = w[k]
            w[k] -= eta * (G + m[k])
    else:
        g0g = w[off + 6 * d:off + 7 * d]
        auxg = w[off + 7 * d:off + 8 * d]
        sample_split(tdata, tmeta, alpha, w, s, 2, prep, g0g, auxg)
        for k in range(d):
            b = (1.0 - a0) * g0[k] - aux[k]
            bp = (1.0 - a0) * g0p[k] - auxp[k]
            m[k] = (1.0 - a) * (m[k] + b - bp) + a * b
            xp[k] = w[k]
            w[k] -= eta * (a0 * g0g[k] + auxg[k] + m[k])


BCMVR.ops_functions = (bcmvr_init, bcmvr_step)


def bcsnap_init(tdata, tmeta, hyper, w, s):
    d = tmeta[0]
    prepare(tdata, tmeta, hyper[3:], w[d:d + tmeta[2]])

def bcsnap_step(tdata, tmeta, hyper, w, s, t):
    d = tmeta[0]
    p = tmeta[2]
    off = d + p
    alpha = hyper[3:]
    prep = w[d:d + p]
    c = w[off:off + d]
    g0 = w[off + d:off + 2 * d]
    aux = w[off + 2 * d:off + 3 * d]
    a0 = alpha[0]
    if t % int(hyper[1]) == 0:
        for k in range(d):
            c[k] = 0.0
        bias_batch_mean(tdata, tmeta, alpha, w, s, prep, int(hyper[2]),
                        w[off + 3 * d:off + 4 * d], w[off + 4 * d:off + 5 * d], c)
    sample_split(tdata, tmeta, alpha, w, s, 0, prep, g0, aux)
    eta = hyper[0]
    for k in range(d):
        w[k] -= eta * (a0 * g0[k] + aux[k] + c[k])


BCSNAP.ops_functions = (bcsnap_init, bcsnap_step)
BCSNAP.ops_helpers = (bias_batch_mean,)
