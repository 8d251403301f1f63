"""Methods of the collab spec (section 3) as ``(init, step)`` over an explicit work row.

Every method is a frozen dataclass of hyperparameters with a
:class:`~simlab.engine.declare.MethodOps` declaration: its ``init`` and ``step`` (plain functions
that the kernel factory compiles with the task family's ops), its slots (state and scratch,
sized in the family's dims), the three stream banks of :mod:`simlab.collab.interface`, and
the task ops it calls. Hooks receive their slots and banks by parameter name. Provenance:

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

from simlab.collab.interface import BANKS, prepare, sample_grad, sample_split
from simlab.collab.weights import resolve_weights
from simlab.engine.declare import MethodOps, Slot
from simlab.engine.model import Method, Task
from simlab.engine.rng import copy_streams
from simlab.tasks._validate import check_float, check_int


@dataclass(frozen=True)
class BCForm:
    """A collab method written as the bias-correction recursion (spec 3.2; P13's identities).

    ``G_t = sum alpha_i g_i``, ``m_t = (1 - a_t) m_{t-1} + a_t (g_0 - G_t)`` (from the same
    samples when ``coupled``), ``x_{t+1} = x_t - eta_t (G_t + m_t)``: SGD alone is
    ``alpha = e_0`` with no correction, WGA is ``a = 0``. Other implementations of the methods
    (the neural layer) run this one form.

    Attributes
    ----------
    alpha : ndarray
        The weights over the N + 1 tasks.
    momentum : float
        ``a``; 0: no correction; -1: the running average ``a_t = 1/(t+1)``.
    coupled : bool
    init_batch : int
    eta : float
    decay : float
        ``eta_t = eta / (1 + decay t)``.
    """

    alpha: np.ndarray
    momentum: float
    coupled: bool
    init_batch: int
    eta: float
    decay: float = 0.0

    @property
    def corrects(self) -> bool:
        """Whether the correction ``m`` is ever nonzero."""
        return self.momentum != 0.0 or self.init_batch > 0


@dataclass(frozen=True)
class CollabMethod(Method):
    """Base of the collab methods: a step size ``eta > 0``."""

    step_size: float = 0.1

    def validate(self, task: Task) -> None:
        """Raise ``ValueError`` naming the parameter when a hyperparameter is out of range."""
        if not np.isfinite(self.step_size) or self.step_size <= 0:
            raise ValueError(f"step_size must be > 0 and finite, got {self.step_size}")

    def bc_form(self, task) -> BCForm:
        """This method as the bias-correction recursion :class:`BCForm`.

        ``task`` needs ``n_aux`` and ``n_tasks`` only (a task or a stand-in).

        Raises
        ------
        NotImplementedError
            For methods that are not of that form (BC-MVR, BC-SNAP, AuxMVR).
        """
        raise NotImplementedError(f"{type(self).__name__} is not a bias-correction EMA "
                                  f"(SGD alone, WGA, BC-EMA, AuxMOM are)")


@dataclass(frozen=True)
class SGDAlone(CollabMethod):
    """SGD on task 0 alone: ``x_{t+1} = x_t - eta_t g_0(x_t)`` (spec 3.0).

    Parameters
    ----------
    step_size : float
        ``eta > 0``.
    decay : float
        ``eta_t = eta / (1 + decay t)``; 0 (the default) keeps it constant.
    """

    step_size: float = 0.1
    decay: float = 0.0
    label: ClassVar[str] = "Alone"
    provenance: ClassVar[str] = "V"

    @classmethod
    def examples(cls) -> list:
        """Instances for the conformance checks."""
        return [cls(step_size=0.2)]

    def validate(self, task: Task) -> None:
        """Check the step size and ``decay >= 0``."""
        CollabMethod.validate(self, task)
        check_float("decay", self.decay, 0.0)

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, decay]``."""
        return np.array([self.step_size, float(self.decay)])

    def bc_form(self, task) -> BCForm:
        """``alpha = e_0``, no correction."""
        self.validate(task)
        alpha = np.zeros(task.n_aux + 1)
        alpha[0] = 1.0
        return BCForm(alpha, 0.0, True, 0, float(self.step_size), float(self.decay))



class _Weighted(CollabMethod):
    """Mixin: a weight vector ``alpha`` resolved against the task's ``N + 1``."""

    def alpha(self, task: Task) -> np.ndarray:
        """The validated weights for ``task``."""
        return resolve_weights(self.weights, task.n_tasks)

    def validate(self, task: Task) -> None:
        """Check the step size and the weights."""
        CollabMethod.validate(self, task)
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

    @classmethod
    def examples(cls) -> list:
        """Instances for the conformance checks (the examples' tasks have N = 2)."""
        return [cls(step_size=0.2), cls(weights=(0.5, 0.3, 0.2), step_size=0.2)]

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, alpha_0..alpha_N]``."""
        return np.concatenate([[self.step_size], self.alpha(task)])

    def bc_form(self, task) -> BCForm:
        """``a = 0``: no correction."""
        self.validate(task)
        return BCForm(self.alpha(task), 0.0, True, 0, float(self.step_size))



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
    decay : float
        ``eta_t = eta / (1 + decay t)``; 0 (the default) keeps it constant.
    """

    weights: object = "uniform"
    step_size: float = 0.1
    momentum: object = 0.1
    coupled: bool = True
    init_batch: int = 0
    decay: float = 0.0
    label: ClassVar[str] = "BC-EMA"
    provenance: ClassVar[str] = "UNVERIFIED"
    #: The sign with which the correction enters the step (-1 only in a planted error).
    correction_sign: ClassVar[float] = 1.0

    @classmethod
    def examples(cls) -> list:
        """Instances for the conformance checks: coupled; running, uncoupled, initial batch."""
        return [cls(step_size=0.2, momentum=0.3),
                cls(step_size=0.2, momentum="running", coupled=False, init_batch=3)]

    def validate(self, task: Task) -> None:
        """Check step size, weights, momentum, ``init_batch`` and ``decay``."""
        _Weighted.validate(self, task)
        _momentum_value(self.momentum)
        check_int("init_batch", self.init_batch, 0)
        check_float("decay", self.decay, 0.0)

    def bc_form(self, task) -> BCForm:
        """The recursion itself."""
        self.validate(task)
        return BCForm(self.alpha(task), _momentum_value(self.momentum), bool(self.coupled),
                      int(self.init_batch), float(self.step_size), float(self.decay))

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, a (-1 = running), coupled, init_batch, decay, correction sign, alpha...]``."""
        head = [self.step_size, _momentum_value(self.momentum), float(bool(self.coupled)),
                float(self.init_batch), float(self.decay), float(self.correction_sign)]
        return np.concatenate([head, self.alpha(task)])




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

    @classmethod
    def examples(cls) -> list:
        """Instances for the conformance checks: coupled and uncoupled."""
        return [cls(step_size=0.2, momentum=0.3),
                cls(step_size=0.2, momentum=0.3, coupled=False)]

    def validate(self, task: Task) -> None:
        """Check step size, weights and momentum in [0, 1]."""
        _Weighted.validate(self, task)
        check_float("momentum", self.momentum, 0.0, 1.0)

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, a, coupled, alpha...]``."""
        return np.concatenate([[self.step_size, float(self.momentum), float(bool(self.coupled))],
                               self.alpha(task)])



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

    @classmethod
    def examples(cls) -> list:
        """Instances for the conformance checks."""
        return [cls(step_size=0.2, period=3, batch=2)]

    def validate(self, task: Task) -> None:
        """Check step size, weights, ``period >= 1`` and ``batch >= 1``."""
        _Weighted.validate(self, task)
        check_int("period", self.period, 1)
        check_int("batch", self.batch, 1)

    def hyper(self, task: Task) -> np.ndarray:
        """``[eta, period, batch, alpha...]``."""
        return np.concatenate([[self.step_size, float(self.period), float(self.batch)],
                               self.alpha(task)])




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

    @classmethod
    def examples(cls) -> list:
        """Instances for the conformance checks."""
        return [cls(step_size=0.2, momentum=0.3)]

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

    @classmethod
    def examples(cls) -> list:
        """Instances for the conformance checks."""
        return [cls(step_size=0.2, momentum=0.3)]

    def alpha(self, task: Task) -> np.ndarray:
        """``(0, 1/N, ..., 1/N)``."""
        return _aux_weights(task)

    @property
    def ops_class(self) -> type:
        """Compiled as BC-MVR."""
        return BCMVR


def bias_batch_mean(tdata, tmeta, alpha, x, extra, prep, nb, g0b, auxb, out):
    """Add the mean of ``nb`` independent (bank ``extra``) samples of ``b(x) = g_0 - G`` to
    ``out``."""
    a0 = alpha[0]
    for _ in range(nb):
        sample_split(tdata, tmeta, alpha, x, extra, prep, g0b, auxb)
        for k in range(x.shape[0]):
            out[k] += ((1.0 - a0) * g0b[k] - auxb[k]) / nb


def sgd_init(tdata, tmeta, hyper):
    pass

def sgd_step(tdata, tmeta, hyper, t, x, g, sample):
    sample_grad(tdata, tmeta, 0, x, sample, g)
    eta = hyper[0]
    if hyper[1] != 0.0:
        eta = hyper[0] / (1.0 + hyper[1] * t)
    for k in range(x.shape[0]):
        x[k] -= eta * g[k]


SGDAlone.ops = MethodOps(init=sgd_init, step=sgd_step, slots=(Slot("g", "d"),), streams=BANKS,
                         requires=("sample_grad",))


def wga_init(tdata, tmeta, hyper, prep):
    prepare(tdata, tmeta, hyper[1:], prep)

def wga_step(tdata, tmeta, hyper, x, prep, g0, aux, sample):
    alpha = hyper[1:]
    sample_split(tdata, tmeta, alpha, x, sample, prep, g0, aux)
    eta = hyper[0]
    a0 = alpha[0]
    for k in range(x.shape[0]):
        x[k] -= eta * (a0 * g0[k] + aux[k])


WGA.ops = MethodOps(init=wga_init, step=wga_step, slots=(Slot("g0", "d"), Slot("aux", "d")),
                    streams=BANKS, requires=("prepare", "sample_split"))


def bcema_init(tdata, tmeta, hyper, x, prep, m, g0b, auxb, extra):
    alpha = hyper[6:]
    prepare(tdata, tmeta, alpha, prep)
    for k in range(m.shape[0]):
        m[k] = 0.0
    nb = int(hyper[3])
    if nb > 0:
        bias_batch_mean(tdata, tmeta, alpha, x, extra, prep, nb, g0b, auxb, m)

def bcema_step(tdata, tmeta, hyper, t, x, prep, m, g0, aux, g0b, auxb, sample, extra):
    alpha = hyper[6:]
    sample_split(tdata, tmeta, alpha, x, sample, prep, g0, aux)
    a = hyper[1]
    if a < 0.0:
        a = 1.0 / (t + 1.0)
    eta = hyper[0]
    if hyper[4] != 0.0:
        eta = hyper[0] / (1.0 + hyper[4] * t)
    a0 = alpha[0]
    sg = hyper[5]
    if hyper[2] != 0.0:
        for k in range(x.shape[0]):
            G = a0 * g0[k] + aux[k]
            m[k] = (1.0 - a) * m[k] + a * (g0[k] - G)
            x[k] -= eta * (G + sg * m[k])
    else:
        sample_split(tdata, tmeta, alpha, x, extra, prep, g0b, auxb)
        for k in range(x.shape[0]):
            G = a0 * g0[k] + aux[k]
            m[k] = (1.0 - a) * m[k] + a * (g0b[k] - (a0 * g0b[k] + auxb[k]))
            x[k] -= eta * (G + sg * m[k])


BCEMA.ops = MethodOps(init=bcema_init, step=bcema_step, helpers=(bias_batch_mean,),
                      slots=(Slot("m", "d"), Slot("g0", "d"), Slot("aux", "d"),
                             Slot("g0b", "d"), Slot("auxb", "d")),
                      streams=BANKS, requires=("prepare", "sample_split"))


def bcmvr_init(tdata, tmeta, hyper, x, prep, m, xp):
    prepare(tdata, tmeta, hyper[3:], prep)
    for k in range(x.shape[0]):
        m[k] = 0.0
        xp[k] = x[k]


def bcmvr_step(tdata, tmeta, hyper, x, prep, m, xp, g0, aux, g0p, auxp, g0g, auxg, sample,
               extra, pseudo):
    alpha = hyper[3:]
    copy_streams(sample, extra)  # replay: the same sample at x_t and x_{t-1}
    sample_split(tdata, tmeta, alpha, x, sample, prep, g0, aux)
    sample_split(tdata, tmeta, alpha, xp, extra, prep, g0p, auxp)
    a = hyper[1]
    eta = hyper[0]
    a0 = alpha[0]
    if hyper[2] != 0.0:
        for k in range(x.shape[0]):
            G = a0 * g0[k] + aux[k]
            b = g0[k] - G
            bp = (1.0 - a0) * g0p[k] - auxp[k]
            m[k] = (1.0 - a) * (m[k] + b - bp) + a * b
            xp[k] = x[k]
            x[k] -= eta * (G + m[k])
    else:
        sample_split(tdata, tmeta, alpha, x, pseudo, prep, g0g, auxg)
        for k in range(x.shape[0]):
            b = (1.0 - a0) * g0[k] - aux[k]
            bp = (1.0 - a0) * g0p[k] - auxp[k]
            m[k] = (1.0 - a) * (m[k] + b - bp) + a * b
            xp[k] = x[k]
            x[k] -= eta * (a0 * g0g[k] + auxg[k] + m[k])


BCMVR.ops = MethodOps(init=bcmvr_init, step=bcmvr_step,
                      slots=(Slot("m", "d"), Slot("xp", "d"), Slot("g0", "d"), Slot("aux", "d"),
                             Slot("g0p", "d"), Slot("auxp", "d"), Slot("g0g", "d"),
                             Slot("auxg", "d")),
                      streams=BANKS, requires=("prepare", "sample_split"))


def bcsnap_init(tdata, tmeta, hyper, prep):
    prepare(tdata, tmeta, hyper[3:], prep)

def bcsnap_step(tdata, tmeta, hyper, t, x, prep, c, g0, aux, g0b, auxb, sample, extra):
    alpha = hyper[3:]
    a0 = alpha[0]
    if t % int(hyper[1]) == 0:
        for k in range(c.shape[0]):
            c[k] = 0.0
        bias_batch_mean(tdata, tmeta, alpha, x, extra, prep, int(hyper[2]), g0b, auxb, c)
    sample_split(tdata, tmeta, alpha, x, sample, prep, g0, aux)
    eta = hyper[0]
    for k in range(x.shape[0]):
        x[k] -= eta * (a0 * g0[k] + aux[k] + c[k])


BCSNAP.ops = MethodOps(init=bcsnap_init, step=bcsnap_step, helpers=(bias_batch_mean,),
                       slots=(Slot("c", "d"), Slot("g0", "d"), Slot("aux", "d"),
                              Slot("g0b", "d"), Slot("auxb", "d")),
                       streams=BANKS, requires=("prepare", "sample_split"))
