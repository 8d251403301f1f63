"""Small models with access to their penultimate features: an MLP and a CNN.

Both split into ``features(x)`` (everything up to the last hidden layer) and a linear ``head``;
``model(x)`` returns the logits and ``model(x, return_features=True)`` returns
``(logits, features)``. The active-learning and reweighting comparisons read the features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "SmallCNN", "build_model", "MODELS", "count_parameters"]

MODELS = ("mlp", "cnn")
_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "softplus": nn.Softplus}


def _activation(name: str) -> type[nn.Module]:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]


class MLP(nn.Module):
    """Multi-layer perceptron on flattened inputs.

    Parameters
    ----------
    in_features : int
        Size of a flattened input (e.g. 64 for 8x8 digits).
    n_classes : int
    hidden : sequence of int
        Widths of the hidden layers (at least one); the last one is the feature dimension.
    activation : {"relu", "tanh", "gelu", "softplus"}
    """

    def __init__(self, in_features: int, n_classes: int, hidden: Sequence[int] = (64,),
                 activation: str = "relu"):
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1 or in_features < 1 or n_classes < 2:
            raise ValueError(f"MLP needs in_features >= 1, n_classes >= 2 and at least one "
                             f"hidden width >= 1; got {in_features}, {n_classes}, {hidden}")
        act = _activation(activation)
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(in_features)
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, int(n_classes))
        self.feature_dim = width

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, shape ``(n, hidden[-1])``."""
        return self.body(x)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """Logits (and the features when ``return_features``)."""
        z = self.features(x)
        out = self.head(z)
        return (out, z) if return_features else out


class SmallCNN(nn.Module):
    """Two 3x3 convolution blocks (ReLU, 2x2 max-pool), a hidden linear layer and a head.

    Parameters
    ----------
    in_channels : int
    n_classes : int
    image_size : (int, int)
        ``(H, W)`` of the inputs (each must be divisible by 4).
    channels : (int, int)
        Channels of the two convolutions.
    hidden : int
        Width of the hidden linear layer (the feature dimension).
    """

    def __init__(self, in_channels: int, n_classes: int, image_size: Sequence[int] = (28, 28),
                 channels: Sequence[int] = (16, 32), hidden: int = 64):
        super().__init__()
        h, w = (int(v) for v in image_size)
        if h % 4 or w % 4 or min(h, w) < 4:
            raise ValueError(f"SmallCNN: image height and width must be multiples of 4, got "
                             f"{(h, w)}")
        c1, c2 = (int(v) for v in channels)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (h // 4) * (w // 4), int(hidden)), nn.ReLU())
        self.head = nn.Linear(int(hidden), int(n_classes))
        self.feature_dim = int(hidden)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, shape ``(n, hidden)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """Logits (and the features when ``return_features``)."""
        z = self.features(x)
        out = self.head(z)
        return (out, z) if return_features else out


def build_model(name: str, input_shape: Sequence[int], n_classes: int, seed: int | None = None,
                dtype: torch.dtype = torch.float32, **kwargs) -> nn.Module:
    """Build ``"mlp"`` or ``"cnn"`` for inputs of ``input_shape`` (e.g. ``(1, 8, 8)``).

    Parameters
    ----------
    name : {"mlp", "cnn"}
    input_shape : sequence of int
        ``(C, H, W)`` of one input.
    n_classes : int
    seed : int, optional
        ``torch.manual_seed(seed)`` before the weights are drawn (the initialisation is then a
        function of the seed alone).
    dtype : torch.dtype
    **kwargs
        Passed to :class:`MLP` (``hidden``, ``activation``) or :class:`SmallCNN`
        (``channels``, ``hidden``).
    """
    if seed is not None:
        torch.manual_seed(int(seed))
    shape = tuple(int(s) for s in input_shape)
    if name == "mlp":
        n_in = 1
        for s in shape:
            n_in *= s
        model = MLP(n_in, n_classes, **kwargs)
    elif name == "cnn":
        if len(shape) != 3:
            raise ValueError(f"cnn needs inputs of shape (C, H, W), got {shape}")
        model = SmallCNN(shape[0], n_classes, shape[1:], **kwargs)
    else:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    return model.to(dtype)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
