"""PyTorch implementations for comparison with the simulator (extra ``neural``).

Importing this package does not import torch; the submodules that need it do:

* :mod:`simlab.neural.data`: digits (default), MNIST idx and CIFAR-10 python batches from a
  local folder, with clear errors (numpy only);
* :mod:`simlab.neural.splits`: seeded class imbalance, label- and covariate-shifted task
  families, Dirichlet label skew, label noise, a balanced held-out set (numpy only);
* :mod:`simlab.neural.models`: an MLP and a small CNN with penultimate features (torch);
* :mod:`simlab.neural.trainer`: one seeded trainer with per-example losses, a progress bar,
  metrics per epoch in a DataFrame and checkpoints (torch);
* :mod:`simlab.neural.collab`: SGD alone, WGA and BC-EMA of the collab paper on real data, with
  the spec's constants measured along the run (torch);
* :mod:`simlab.neural.subsample`: the subsample paper's streaming training with real savings
  (a serving forward without gradients on every instance, forward and backward on the
  selected ones only) on a Gaussian-mixture stream (torch);
* :mod:`simlab.neural.cli`: ``simlab neural collab ...`` (imports torch only when it runs).
"""

__all__: list[str] = []
