"""A pool of real images in a CNN's embedding space: the small-batch setting (spec 8.3 item 1).

:class:`EmbeddedPool` splits a data set of the neural layer (scikit-learn's bundled digits by
default; MNIST or CIFAR-10 from a local folder) into three disjoint parts: an *embedding*
split on which the neural layer's :class:`~simlab.neural.models.SmallCNN` is trained once,
a pool and a test set. The pool and test points are the CNN's penultimate-layer activations
``z(x)`` (spec 2.2): the active-learning loop runs on them with a softmax-regression learner,
so every sampler sees the same fixed embedding, as Cluster-Margin's HAC does (the embedding
is not refreshed in later rounds, spec 2.2 [S/M]).

Provenance: the paper embeds with the model trained on the *seed set* [S]; training the
embedding on a separate labeled split is simlab's choice, so that the embedding is the same
for every replica and sampler (the seed sets differ per replica) and the pool clustering is
computed once per pool (cached on disk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simlab.active.pools import PoolData, PoolTask
from simlab.tasks._validate import check_int

__all__ = ["EmbeddedPool"]


@dataclass(frozen=True)
class EmbeddedPool(PoolTask):
    """Images embedded by a small CNN trained on a held-out split (needs torch).

    Parameters
    ----------
    dataset : {"digits", "mnist", "cifar10"}
        :func:`simlab.neural.data.load_dataset` (``folder`` for the last two).
    folder : str, optional
        Local folder of the MNIST/CIFAR-10 files (simlab never downloads data).
    n_embed : int
        Images of the embedding split (training the CNN), ``>= 10``.
    n_test : int
        Test images, ``>= 1``; the pool is the rest (``limit`` caps the data set).
    limit : int, optional
        Use the first ``limit`` images of the data set.
    hidden : int
        Embedding dimension (the CNN's hidden layer), ``>= 2``.
    epochs : int
        Adam epochs of the CNN, ``>= 1``.
    noise, eta : str, float
        The oracle's noise (``"none"`` or ``"massart"``).
    seed : int
        Seeds the split and the CNN.
    """

    dataset: str = "digits"
    folder: str | None = None
    n_embed: int = 300
    n_test: int = 400
    limit: int | None = None
    hidden: int = 32
    epochs: int = 40
    noise: str = "none"
    eta: float = 0.0
    tau: float = 0.1
    kappa: float = 1.0
    seed: int = 0
    family: ClassVar[str] = "embedded image pool"

    def __post_init__(self):
        check_int("n_embed", self.n_embed, 10)
        check_int("n_test", self.n_test, 1)
        check_int("hidden", self.hidden, 2)
        check_int("epochs", self.epochs, 1)
        check_int("seed", self.seed, 0)
        if self.limit is not None:
            check_int("limit", self.limit, 1)
        if self.noise == "tsybakov":
            raise ValueError("EmbeddedPool supports noise 'none' or 'massart'")
        self._check_noise()

    def _build(self) -> PoolData:
        import torch

        from simlab.neural.data import load_dataset
        from simlab.neural.models import build_model
        from simlab.neural.trainer import TrainConfig, Trainer

        data = load_dataset(self.dataset, folder=self.folder, limit=self.limit)
        n = len(data)
        if self.n_embed + self.n_test >= n:
            raise ValueError(f"n_embed + n_test = {self.n_embed + self.n_test} leaves no pool "
                             f"out of {n} images")
        order = np.random.default_rng([int(self.seed), 8_3]).permutation(n)
        emb, test, pool = (order[:self.n_embed], order[self.n_embed:self.n_embed + self.n_test],
                           order[self.n_embed + self.n_test:])
        with torch.random.fork_rng(devices=[]):
            model = build_model("cnn", data.input_shape, data.n_classes, seed=self.seed,
                                hidden=self.hidden)
            cfg = TrainConfig(epochs=self.epochs, batch_size=32, lr=3e-3, optimizer="adam",
                              seed=self.seed, quiet=True, eval_every=self.epochs)
            Trainer(model, cfg).fit(data.subset(emb))
        model.eval()
        with torch.no_grad():
            Z = model.features(torch.tensor(data.X, dtype=torch.float32)).double().numpy()
        y = data.y.astype(np.int64)
        return PoolData(Z[pool].copy(), y[pool].copy(), Z[test].copy(), y[test].copy(),
                        int(data.n_classes))
