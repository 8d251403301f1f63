"""One trainer for every neural comparison: seeded, with per-example losses and checkpoints.

* Seeds control everything: ``torch.manual_seed`` keyed by ``(seed, epoch)`` at the start of
  every epoch (dropout and other global draws) and a ``torch.Generator`` seeded with ``seed``
  for the data order; build the model with :func:`simlab.neural.models.build_model`
  (``seed=...``). The generator's state is part of a checkpoint, so a resumed run continues
  the same stream.
* Per-example losses: the loss of a batch is a reduction of the per-example losses
  (``reduction="none"``); a ``reduce(losses, indices)`` callback replaces the mean (example
  reweighting, subsampling), and :attr:`Trainer.example_losses` keeps each example's loss at its
  latest visit. :meth:`Trainer.per_example_losses` evaluates them for any data set.
* A tqdm progress bar over epochs, silent with ``quiet=True`` or when stderr is not a terminal.
* Metrics per epoch (train loss and accuracy, the eval sets', seconds) in a pandas DataFrame.
* :meth:`Trainer.save` / :meth:`Trainer.load`: model, optimizer, generator, epoch, history.
* CPU by default; ``device="cuda"`` where torch sees a GPU (a clear error otherwise).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from simlab.neural.data import ArrayDataset

__all__ = ["TrainConfig", "Trainer", "resolve_device", "set_threads", "to_tensors"]


def resolve_device(device: str = "cpu") -> torch.device:
    """``"cpu"``, ``"cuda"`` (``"cuda:k"``) or ``"auto"`` (cuda when available) as a device.

    Raises
    ------
    RuntimeError
        If CUDA is asked for and torch cannot use it (e.g. a CPU build of torch).
    ValueError
        For any other string.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={device!r} asked for, but torch {torch.__version__} "
                               f"sees no CUDA GPU (torch.cuda.is_available() is False); use "
                               f"device='cpu'")
        return torch.device(device)
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:<k>' or 'auto', got {device!r}")


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given (results on the CPU may depend on it)."""
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))


def to_tensors(data: ArrayDataset, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)`` of a data set as tensors on ``device``."""
    return (torch.as_tensor(data.X, dtype=dtype, device=device),
            torch.as_tensor(data.y, dtype=torch.long, device=device))


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :class:`Trainer` (all constructor arguments, hashable).

    Parameters
    ----------
    epochs : int
        Epochs of :meth:`Trainer.fit` (the total, counting epochs already done).
    batch_size : int
    lr : float
    momentum : float
        SGD momentum (ignored by Adam).
    weight_decay : float
    optimizer : {"sgd", "adam"}
    seed : int
        Seeds the data order and the global torch generator.
    device : str
        ``"cpu"`` (default), ``"cuda"`` or ``"auto"``.
    threads : int or None
        ``torch.set_num_threads`` (``None``: leave it).
    eval_every : int
        Evaluate the eval sets every this many epochs (and after the last).
    checkpoint_dir : str or None
        Save ``epoch_<k>.pt`` there every ``checkpoint_every`` epochs.
    checkpoint_every : int
    quiet : bool
        No progress bar.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = 1
    eval_every: int = 1
    checkpoint_dir: str | None = None
    checkpoint_every: int = 1
    quiet: bool = False

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_every", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < (0 if name == "epochs" else 1):
                raise ValueError(f"{name} must be an integer >= "
                                 f"{0 if name == 'epochs' else 1}, got {v!r}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


Reduce = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class _State:
    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)


class Trainer:
    """Mini-batch training of a classifier with cross-entropy.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits; moved to ``config.device``.
    config : TrainConfig
    reduce : callable, optional
        ``reduce(losses, indices) -> scalar``: turns the per-example losses of a batch (and the
        examples' indices in the training set) into the loss that is differentiated. Default:
        the mean.

    Attributes
    ----------
    example_losses : ndarray or None
        After :meth:`fit`: each training example's loss at its latest visit (``nan`` if never
        visited).
    """

    def __init__(self, model: nn.Module, config: TrainConfig | None = None,
                 reduce: Reduce | None = None):
        self.config = config or TrainConfig()
        set_threads(self.config.threads)
        self.device = resolve_device(self.config.device)
        self.model = model.to(self.device)
        self.dtype = next(model.parameters()).dtype
        self.reduce = reduce
        c = self.config
        if c.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=c.lr,
                                             momentum=c.momentum, weight_decay=c.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.lr,
                                              weight_decay=c.weight_decay)
        self.generator = torch.Generator().manual_seed(int(c.seed))
        self.state = _State()
        self.example_losses: np.ndarray | None = None

    # -- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def per_example_losses(self, data: ArrayDataset, batch_size: int = 4096) -> np.ndarray:
        """Cross-entropy of every example of ``data`` (model in eval mode), shape ``(n,)``."""
        return self._evaluate(data, batch_size)[0]

    @torch.no_grad()
    def _evaluate(self, data: ArrayDataset, batch_size: int = 4096):
        was = self.model.training
        self.model.eval()
        X, y = to_tensors(data, self.device, self.dtype)
        losses, correct = [], []
        for k in range(0, len(data), batch_size):
            out = self.model(X[k:k + batch_size])
            losses.append(F.cross_entropy(out, y[k:k + batch_size], reduction="none"))
            correct.append(out.argmax(1) == y[k:k + batch_size])
        self.model.train(was)
        return (torch.cat(losses).double().cpu().numpy(),
                torch.cat(correct).double().cpu().numpy())

    def evaluate(self, data: ArrayDataset) -> dict:
        """``{"loss": mean cross-entropy, "acc": accuracy}`` on ``data``."""
        loss, correct = self._evaluate(data)
        return {"loss": float(loss.mean()), "acc": float(correct.mean())}

    # -- training -----------------------------------------------------------------------------
    def fit(self, train: ArrayDataset, eval_sets: dict[str, ArrayDataset] | None = None,
            epochs: int | None = None):
        """Train until ``epochs`` (default ``config.epochs``) epochs are done in all.

        Parameters
        ----------
        train : ArrayDataset
        eval_sets : dict of str to ArrayDataset, optional
            Evaluated every ``config.eval_every`` epochs (columns ``<name>_loss``,
            ``<name>_acc``).
        epochs : int, optional

        Returns
        -------
        pandas.DataFrame
            One row per epoch: ``epoch``, ``step``, ``train_loss``, ``train_acc`` (running
            means over the epoch's batches), the eval sets' columns, ``seconds``.
        """
        from tqdm import tqdm

        c = self.config
        total = c.epochs if epochs is None else int(epochs)
        eval_sets = eval_sets or {}
        X, y = to_tensors(train, self.device, self.dtype)
        n = len(train)
        if self.example_losses is None or self.example_losses.shape != (n,):
            self.example_losses = np.full(n, np.nan)
        bar = tqdm(range(self.state.epoch, total), desc="train", unit="epoch", leave=False,
                   disable=c.quiet or not sys.stderr.isatty())
        self.model.train()
        for epoch in bar:
            t0 = time.perf_counter()
            torch.manual_seed(int(c.seed) * 1_000_003 + epoch)  # dropout etc.: per epoch
            order = torch.randperm(n, generator=self.generator).to(self.device)
            tot_loss, tot_correct = 0.0, 0.0
            for k in range(0, n, c.batch_size):
                idx = order[k:k + c.batch_size]
                out = self.model(X[idx])
                losses = F.cross_entropy(out, y[idx], reduction="none")
                loss = losses.mean() if self.reduce is None else self.reduce(losses, idx)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.state.step += 1
                with torch.no_grad():
                    lv = losses.detach()
                    self.example_losses[idx.cpu().numpy()] = lv.double().cpu().numpy()
                    tot_loss += float(lv.sum())
                    tot_correct += float((out.argmax(1) == y[idx]).sum())
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training diverged: loss {float(loss.detach())} "
                                             f"at epoch {epoch + 1}, step {self.state.step}; "
                                             f"lower lr")
            self.state.epoch = epoch + 1
            row = {"epoch": self.state.epoch, "step": self.state.step,
                   "train_loss": tot_loss / n, "train_acc": tot_correct / n}
            if self.state.epoch % c.eval_every == 0 or self.state.epoch == total:
                for name, data in eval_sets.items():
                    for key, v in self.evaluate(data).items():
                        row[f"{name}_{key}"] = v
            row["seconds"] = time.perf_counter() - t0
            self.state.history.append(row)
            bar.set_postfix(loss=f"{row['train_loss']:.3g}")
            if c.checkpoint_dir and self.state.epoch % c.checkpoint_every == 0:
                self.save(Path(c.checkpoint_dir) / f"epoch_{self.state.epoch}.pt")
        return self.history()

    def history(self):
        """The metrics so far as a pandas DataFrame (one row per epoch)."""
        import pandas as pd

        return pd.DataFrame(self.state.history)

    # -- checkpoints --------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write model, optimizer, data-order generator, epoch, step and history to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "generator": self.generator.get_state(),
                    "epoch": self.state.epoch, "step": self.state.step,
                    "history": self.state.history, "config": asdict(self.config),
                    "example_losses": (None if self.example_losses is None
                                       else torch.from_numpy(self.example_losses))}, path)
        return path

    def load(self, path) -> Trainer:
        """Restore a checkpoint written by :meth:`save` (the model must have the same shape)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        ck = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.generator.set_state(ck["generator"].cpu())
        self.state = _State(int(ck["epoch"]), int(ck["step"]), list(ck["history"]))
        el = ck.get("example_losses")
        self.example_losses = None if el is None else el.numpy().copy()
        return self
