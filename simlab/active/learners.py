"""Learners of the active-learning loop: ``fit(X, y)`` and ``predict_proba(X)``.

A learner is any object with ``fit(X, y) -> self`` and ``predict_proba(X) -> (n, C)``; the
loop calls ``fit`` on the labeled set after every round. :class:`SoftmaxRegression` is the
simulator-side learner (the spec's "simpler ablation: logistic regression on all labels",
section 8.1), in numpy/scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

__all__ = ["MissingClassError", "SoftmaxRegression", "check_features", "check_labels",
           "one_blas_thread"]


def one_blas_thread():
    """A context that limits BLAS to one thread (threadpoolctl, when installed).

    The loop's matrices are small: on a loaded 2-core machine multi-threaded BLAS made the
    L-BFGS fits 2-3x slower in simlab's measurements (and k-means 4-7x).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class MissingClassError(ValueError):
    """A labeled set that lacks a class the learner needs (names the missing classes)."""


def check_features(X, name: str = "X") -> np.ndarray:
    """``X`` as a 2-D finite float64 array, or a ``ValueError`` naming the problem.

    Raises
    ------
    ValueError
        Not 2-D, or NaN/inf entries (names the first bad row).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (examples x features), got shape "
                         f"{X.shape}")
    ok = np.isfinite(X).all(axis=1)
    if not ok.all():
        raise ValueError(f"{name} has NaN or infinite entries (first in row "
                         f"{int(np.flatnonzero(~ok)[0])})")
    return X


def check_labels(X, y, n_classes: int, require_all_classes: bool = True,
                 learner: str = "softmax") -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` checked for a fit: finite 2-D ``X``, integer ``y`` of shape ``(n,)`` in
    ``0..C-1``, ``n >= 1`` and (when ``require_all_classes``) every class present.

    Raises
    ------
    ValueError
        Bad shapes, NaN features, labels out of range, an empty set.
    MissingClassError
        A class absent from ``y`` while ``require_all_classes`` (names ``learner``).
    """
    X = check_features(X)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("cannot fit on an empty labeled set")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be integer class labels, got dtype {y.dtype}")
    C = int(n_classes)
    if y.min() < 0 or y.max() >= C:
        raise ValueError(f"labels must lie in [0, {C}), got range [{y.min()}, {y.max()}]")
    if require_all_classes:
        missing = np.setdiff1d(np.arange(C), y)
        if missing.size:
            raise MissingClassError(f"the labeled set ({y.size} examples) has no example "
                                    f"of class(es) {missing.tolist()}; the {learner} "
                                    f"learner needs every one of the {C} classes")
    return X, y


class SoftmaxRegression:
    """Multinomial logistic regression, fitted by L-BFGS on the L2-regularised log-loss.

    Minimises ``mean_i -log p(y_i | x_i) + l2/2 * ||W||_F^2`` (the intercepts are not
    penalised), with ``p(.|x) = softmax(W x + b)``, from zero weights (so fits are
    deterministic). Before the first ``fit`` the model predicts the uniform distribution.

    Parameters
    ----------
    n_classes : int
        ``C >= 2``.
    l2 : float
        Ridge strength, ``> 0`` (keeps separable data bounded).
    max_iter : int
        L-BFGS iterations, ``>= 1``.
    require_all_classes : bool
        If true (default), ``fit`` refuses labels that miss a class (:class:`MissingClassError`).

    Attributes
    ----------
    coef_ : ndarray, shape (C, d)
    intercept_ : ndarray, shape (C,)
    """

    def __init__(self, n_classes: int, l2: float = 1e-3, max_iter: int = 200,
                 require_all_classes: bool = True):
        if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        if not (np.isfinite(l2) and l2 > 0):
            raise ValueError(f"l2 must be > 0, got {l2!r}")
        if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        self.n_classes, self.l2, self.max_iter = int(n_classes), float(l2), int(max_iter)
        self.require_all_classes = bool(require_all_classes)
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None

    def fit(self, X, y) -> SoftmaxRegression:
        """Fit on ``X`` (n, d) and labels ``y`` (n,) in ``0..C-1``; returns ``self``.

        Raises
        ------
        ValueError
            Bad shapes, NaN features, labels out of range, an empty set.
        MissingClassError
            A class absent from ``y`` while ``require_all_classes``.
        """
        X, y = check_labels(X, y, self.n_classes, self.require_all_classes, "softmax")
        C = self.n_classes
        n, d = X.shape
        Y = np.zeros((n, C))
        Y[np.arange(n), y] = 1.0
        Xb = np.hstack([X, np.ones((n, 1))])
        mask = np.ones((d + 1, C))
        mask[d] = 0.0  # no penalty on the intercepts

        def f(theta):
            Wb = theta.reshape(d + 1, C)
            Z = Xb @ Wb
            lse = logsumexp(Z, axis=1)
            loss = np.mean(lse - np.sum(Z * Y, axis=1)) + 0.5 * self.l2 * np.sum(
                (Wb * mask) ** 2)
            P = np.exp(Z - lse[:, None])
            grad = Xb.T @ (P - Y) / n + self.l2 * Wb * mask
            return loss, grad.ravel()

        with one_blas_thread():
            res = minimize(f, np.zeros((d + 1) * C), jac=True, method="L-BFGS-B",
                           options=dict(maxiter=self.max_iter))
        Wb = res.x.reshape(d + 1, C)
        self.coef_ = np.ascontiguousarray(Wb[:d].T)
        self.intercept_ = Wb[d].copy()
        return self

    def decision_function(self, X) -> np.ndarray:
        """The logits ``W x + b``, shape ``(n, C)`` (zeros before the first fit)."""
        X = check_features(X)
        if self.coef_ is None:
            return np.zeros((X.shape[0], self.n_classes))
        if X.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted on "
                             f"{self.coef_.shape[1]}")
        return X @ self.coef_.T + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape ``(n, C)`` (uniform before the first fit)."""
        return softmax(self.decision_function(X), axis=1)

    def predict(self, X) -> np.ndarray:
        """The most probable class (ties: the smallest class index)."""
        return np.argmax(self.decision_function(X), axis=1)

    def direction(self) -> np.ndarray | None:
        """For two classes, the separator's normal ``w_1 - w_0`` (``None`` before a fit)."""
        if self.coef_ is None:
            return None
        if self.n_classes != 2:
            raise ValueError("direction() is defined for two classes only")
        return self.coef_[1] - self.coef_[0]
