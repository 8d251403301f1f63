"""A neural learner for the active-learning loop: a small MLP trained by Adam (torch, CPU).

:class:`MLPLearner` has the interface of :class:`~simlab.active.learners.SoftmaxRegression`
(``fit(X, y) -> self``, ``predict_proba(X)``, ``predict(X)``, ``n_classes``; before the first
fit it predicts the uniform distribution) but no ``direction()``: it is not linear. Torch is
imported by the first fit, so importing :mod:`simlab.active` and building the learner does
not need it.

Every ``fit`` starts again from the initialisation drawn from ``seed`` and shuffles the
mini-batches with a generator seeded from ``seed`` (the global torch RNG is neither used nor
moved), on one CPU thread (the caller's thread count is restored), so a refit on the same
labeled set replays the same model exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simlab.active.learners import check_features, check_labels
from simlab.tasks._validate import check_int

__all__ = ["MLPLearner"]


class MLPLearner:
    """A multi-layer perceptron (:class:`simlab.neural.models.MLP`) fitted by mini-batch Adam
    on the cross-entropy of the labeled set, in float64 on the CPU.

    Parameters
    ----------
    n_classes : int
        ``C >= 2``.
    hidden : int or sequence of int
        Hidden widths (at least one, each ``>= 1``).
    epochs : int
        Passes over the labeled set per fit, ``>= 1``.
    lr : float
        Adam's learning rate, ``> 0``.
    batch_size : int
        Mini-batch size, ``>= 1`` (the whole set when it is smaller).
    weight_decay : float
        Adam's L2 penalty, ``>= 0``.
    activation : {"relu", "tanh", "gelu", "softplus"}
    seed : int
        Seeds the initial weights and the mini-batch order, ``>= 0``.
    require_all_classes : bool
        If true (default), ``fit`` refuses labels that miss a class
        (:class:`~simlab.active.learners.MissingClassError`), as the softmax learner does.
    """

    def __init__(self, n_classes: int, hidden: int | Sequence[int] = 32, epochs: int = 30,
                 lr: float = 1e-2, batch_size: int = 32, weight_decay: float = 0.0,
                 activation: str = "relu", seed: int = 0, require_all_classes: bool = True):
        self.n_classes = check_int("n_classes", n_classes, 2)
        widths = (hidden,) if np.isscalar(hidden) else tuple(hidden)
        if not widths:
            raise ValueError("hidden must name at least one hidden width")
        self.hidden = tuple(check_int("hidden width", h, 1) for h in widths)
        self.epochs = check_int("epochs", epochs, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not (np.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        if activation not in ("relu", "tanh", "gelu", "softplus"):
            raise ValueError(f"activation must be one of ('relu', 'tanh', 'gelu', 'softplus'), "
                             f"got {activation!r}")
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.activation = activation
        self.require_all_classes = bool(require_all_classes)
        self.model_ = None
        self.n_features_: int | None = None

    def __repr__(self) -> str:
        return (f"MLPLearner(n_classes={self.n_classes}, hidden={self.hidden}, "
                f"epochs={self.epochs}, lr={self.lr}, batch_size={self.batch_size}, "
                f"seed={self.seed})")

    def fit(self, X, y) -> MLPLearner:
        """Fit from the seeded initialisation on ``X`` (n, d) and labels ``y`` in
        ``0..C-1``; returns ``self``.

        Raises
        ------
        ValueError
            Bad shapes, NaN features, labels out of range, an empty set.
        MissingClassError
            A class absent from ``y`` while ``require_all_classes``.
        """
        X, y = check_labels(X, y, self.n_classes, self.require_all_classes, "MLP")
        import torch

        from simlab.neural.models import MLP

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = MLP(X.shape[1], self.n_classes, hidden=self.hidden,
                            activation=self.activation).to(torch.float64)
            gen = torch.Generator().manual_seed(self.seed + 1)
            opt = torch.optim.Adam(model.parameters(), lr=self.lr,
                                   weight_decay=self.weight_decay)
            Xt = torch.tensor(X, dtype=torch.float64)
            yt = torch.tensor(y, dtype=torch.int64)
            n = Xt.shape[0]
            loss_fn = torch.nn.CrossEntropyLoss()
            model.train()
            for _ in range(self.epochs):
                order = torch.randperm(n, generator=gen)
                for s in range(0, n, self.batch_size):
                    b = order[s:s + self.batch_size]
                    opt.zero_grad()
                    loss_fn(model(Xt[b]), yt[b]).backward()
                    opt.step()
            model.eval()
        finally:
            torch.set_num_threads(threads)
        self.model_, self.n_features_ = model, int(X.shape[1])
        return self

    def decision_function(self, X) -> np.ndarray:
        """The logits, shape ``(n, C)`` (zeros before the first fit)."""
        X = check_features(X)
        if self.model_ is None:
            return np.zeros((X.shape[0], self.n_classes))
        if X.shape[1] != self.n_features_:
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted on "
                             f"{self.n_features_}")
        return self._forward(X, self.model_)

    @staticmethod
    def _forward(X: np.ndarray, fn) -> np.ndarray:
        """``fn`` on ``X`` in float64 without gradients, on one torch thread (restored)."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                return fn(torch.tensor(X, dtype=torch.float64)).numpy().copy()
        finally:
            torch.set_num_threads(threads)

    def embed(self, X) -> np.ndarray:
        """The penultimate-layer activations ``z(x)``, shape ``(n, hidden[-1])``: the
        embedding Cluster-Margin, CoreSet and BADGE use (spec 2.2).

        Raises
        ------
        RuntimeError
            Before the first fit (there is no trained embedding yet).
        """
        X = check_features(X)
        if self.model_ is None:
            raise RuntimeError("MLPLearner.embed needs a fitted model (fit it on the seed set)")
        if X.shape[1] != self.n_features_:
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted on "
                             f"{self.n_features_}")
        return self._forward(X, self.model_.features)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape ``(n, C)`` (uniform before the first fit)."""
        from scipy.special import softmax

        return softmax(self.decision_function(X), axis=1)

    def predict(self, X) -> np.ndarray:
        """The most probable class (ties: the smallest class index)."""
        return np.argmax(self.decision_function(X), axis=1)
