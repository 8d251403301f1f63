"""Spec 6.3's sanity simulation: gradient-estimator variance of recorded-information samplers.

A pool-level computation (no training): one logistic-regression window of ``n`` instances, a
*current* model ``theta = theta* + N(0, model_noise^2)``, and a *serving* model that is the
current one plus ``N(0, staleness^2)`` per coordinate (the recorded loss is its loss: stale by
a controlled amount). For each record the water-filled probabilities ``p`` (spec 2.2-2.4) give
the exact conditional variance of the Horvitz-Thompson gradient under Poisson sampling,
``sum ||g_i||^2 (1/p_i - 1)`` (P2), which is divided by uniform's, ``sum ||g_i||^2 (n/k - 1)``.

The spec does not give the pilot's truth, its feature law or its stale-noise convention; the
choices here (Gaussian features, ``||w*|| = w_norm``, intercept set for the base rate, the
stale perturbation added to the current model's parameters) are simlab's, so the table is
compared for its trend, not its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from simlab.subsample.probabilities import inclusion_probabilities, waterfill
from simlab.tasks._streams import sigmoid

#: The records of spec 6.3's table: name -> (kind, staleness, epsilon).
RECORDS = {
    "oracle": ("gnorm", 0.0, 0.0),
    "|p - y|": ("residual", 0.0, 0.0),
    "sqrt loss": ("sqrt", 0.0, 0.0),
    "loss, fresh": ("loss", 0.0, 0.1),
    "stale 0.1": ("loss", 0.1, 0.1),
    "stale 0.3": ("loss", 0.3, 0.1),
    "stale 1.0": ("loss", 1.0, 0.1),
    "stale 1.0, eps 0.3": ("loss", 1.0, 0.3),
    "stale 1.0, eps 0": ("loss", 1.0, 0.0),
}


@dataclass(frozen=True)
class PilotWindow:
    """One window of the pilot: features with a bias column, labels, per-instance gradient
    norms, the current losses and the model perturbation that staleness scales."""

    Xb: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    gnorm: np.ndarray
    loss: np.ndarray
    direction: np.ndarray

    def record(self, kind: str, staleness: float = 0.0, fresh_bug: bool = False) -> np.ndarray:
        """The record a sampler sees: ``kind`` in {"gnorm", "residual", "sqrt", "loss"} of the
        current model, or for ``"loss"`` with ``staleness > 0`` the serving model's loss.
        ``fresh_bug``: the join reads the current loss instead of the serving one (a bug)."""
        if kind == "gnorm":
            return self.gnorm
        z = self.Xb @ self.theta
        if kind == "residual":
            return np.abs(sigmoid(z) - self.y)
        if kind == "sqrt":
            return np.sqrt(self.loss)
        if kind != "loss":
            raise ValueError(f"unknown record kind {kind!r}")
        if staleness == 0.0 or fresh_bug:
            return self.loss
        zs = self.Xb @ (self.theta + staleness * self.direction)
        return log_loss(zs, self.y)


def log_loss(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log(1 + e^z) - y z`` for 0/1 labels, without cancellation (``softplus(-z)`` when
    ``y = 1``), so a confident instance's loss is tiny but never a spurious 0."""
    return np.logaddexp(0.0, np.where(y > 0.5, -z, z))


def draw_window(rng: np.random.Generator, n: int = 2000, d: int = 20, base_rate: float = 0.27,
                w_norm: float = 2.0, model_noise: float = 1.0) -> PilotWindow:
    """A window of spec 6.3's setup (``n = 2000, d = 20``, base rate 27%, model noise 1)."""
    w = rng.standard_normal(d)
    w *= w_norm / np.linalg.norm(w)
    X = rng.standard_normal((n, d))
    zt = X @ w
    b = optimize.brentq(lambda c: float(np.mean(sigmoid(zt + c))) - base_rate, -50.0, 50.0)
    y = (rng.random(n) < sigmoid(zt + b)).astype(np.float64)
    Xb = np.hstack([X, np.ones((n, 1))])
    theta = np.append(w, b) + model_noise * rng.standard_normal(d + 1)
    z = Xb @ theta
    r = sigmoid(z) - y
    gnorm = np.abs(r) * np.linalg.norm(Xb, axis=1)
    loss = log_loss(z, y)
    return PilotWindow(Xb, y, theta, gnorm, loss, rng.standard_normal(d + 1))


def variance_ratio_of(window: PilotWindow, record: np.ndarray, k: float,
                      epsilon: float = 0.0) -> float:
    """``sum ||g||^2 (1/p - 1) / sum ||g||^2 (n/k - 1)`` for ``p`` water-filled from the record
    (``inf`` when some ``p_i = 0`` has ``g_i != 0``)."""
    n = record.size
    if epsilon == 0.0 and np.count_nonzero(record) < k:
        p = waterfill(record, k, p_min=0.0) if np.any(record > 0) else np.full(n, k / n)
    else:
        p = inclusion_probabilities(record, k, epsilon=epsilon)
    g2 = window.gnorm ** 2
    if np.any((p <= 0) & (g2 > 0)):
        return float("inf")
    with np.errstate(divide="ignore", invalid="ignore"):
        v = float(np.sum(np.where(p > 0, g2 * (1.0 / p - 1.0), 0.0)))
    return v / float(np.sum(g2) * (n / k - 1.0))


def pilot_table(windows: int, seed: int, n: int = 2000, d: int = 20, k: float = 200.0,
                base_rate: float = 0.27, records=None, fresh_bug: bool = False,
                shift: int = 0) -> dict[str, np.ndarray]:
    """The variance ratio of each record over ``windows`` independent windows.

    Parameters
    ----------
    windows : int
        Independent windows (each its own truth, model and stale perturbation).
    seed : int
    n, d, k, base_rate : spec 6.3's setup.
    records : dict, optional
        ``name -> (kind, staleness, epsilon)``; default :data:`RECORDS`.
    fresh_bug : bool
        Planted bug: the stale rows read the current loss.
    shift : int
        Planted bug: instance ``i`` is scored by the record of ``i + shift`` (a misaligned join).

    Returns
    -------
    dict
        ``name -> array of ratios, one per window``.
    """
    recs = RECORDS if records is None else records
    rng = np.random.default_rng(seed)
    out = {name: np.empty(windows) for name in recs}
    for w in range(windows):
        win = draw_window(rng, n, d, base_rate)
        for name, (kind, stale, eps) in recs.items():
            rec = np.roll(win.record(kind, stale, fresh_bug), -shift)
            out[name][w] = variance_ratio_of(win, rec, k, eps)
    return out
