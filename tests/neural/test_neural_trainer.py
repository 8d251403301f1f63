"""Models expose their features; the trainer is deterministic, resumable and exposes losses."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simlab.neural.data import ArrayDataset, load_digits  # noqa: E402
from simlab.neural.models import MLP, SmallCNN, build_model, count_parameters  # noqa: E402
from simlab.neural.trainer import TrainConfig, Trainer, resolve_device  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.subset(np.arange(300)), d.subset(np.arange(300, 400))


@pytest.mark.parametrize("name, shape", [("mlp", (1, 8, 8)), ("cnn", (1, 8, 8)),
                                         ("cnn", (3, 32, 32))])
def test_models_return_logits_and_penultimate_features(name, shape):
    m = build_model(name, shape, 10, seed=0, hidden=16) if name == "cnn" else \
        build_model(name, shape, 10, seed=0, hidden=(32, 16))
    x = torch.rand(5, *shape)
    out, feats = m(x, return_features=True)
    assert out.shape == (5, 10) and feats.shape == (5, 16) and m.feature_dim == 16
    assert torch.allclose(m.head(m.features(x)), m(x))
    assert isinstance(m, MLP if name == "mlp" else SmallCNN)
    assert count_parameters(m) > 0


def test_build_model_is_a_function_of_the_seed():
    a, b, c = (build_model("mlp", (1, 8, 8), 10, seed=s) for s in (3, 3, 4))
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("resnet", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="multiples of 4"):
        build_model("cnn", (1, 7, 7), 10)
    with pytest.raises(ValueError, match="activation"):
        MLP(4, 2, activation="swish")


def _fit(digits, seed=0, epochs=3, **kw):
    train, test = digits
    model = build_model("mlp", train.input_shape, 10, seed=seed, hidden=(16,))
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=0.2, seed=seed, quiet=True, **kw)
    tr = Trainer(model, cfg)
    return tr, tr.fit(train, {"test": test})


def test_trainer_is_deterministic_for_a_seed(digits):
    t1, h1 = _fit(digits, seed=5)
    t2, h2 = _fit(digits, seed=5)
    t3, h3 = _fit(digits, seed=6)
    cols = ["epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc"]
    assert list(h1.columns[:len(cols)]) == cols and len(h1) == 3
    assert h1[cols].equals(h2[cols])
    for p, q in zip(t1.model.parameters(), t2.model.parameters()):
        assert torch.equal(p, q)
    assert not np.allclose(h1.train_loss, h3.train_loss)
    assert h1.train_loss.iloc[-1] < h1.train_loss.iloc[0]


def test_checkpoint_resume_equals_uninterrupted(digits, tmp_path):
    full, h_full = _fit(digits, seed=1, epochs=4)
    part, _ = _fit(digits, seed=1, epochs=2, checkpoint_dir=str(tmp_path))
    assert (tmp_path / "epoch_2.pt").is_file()
    model = build_model("mlp", (1, 8, 8), 10, seed=99, hidden=(16,))  # other init: overwritten
    res = Trainer(model, TrainConfig(epochs=4, batch_size=32, lr=0.2, seed=1, quiet=True))
    res.load(tmp_path / "epoch_2.pt")
    h_res = res.fit(digits[0], {"test": digits[1]})
    cols = ["epoch", "step", "train_loss", "test_loss"]
    assert h_res[cols].equals(h_full[cols])
    for p, q in zip(full.model.parameters(), res.model.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        res.load(tmp_path / "missing.pt")


def test_per_example_losses_and_reduce_callback(digits):
    train, _ = digits
    tr, _ = _fit(digits, epochs=1)
    losses = tr.per_example_losses(train)
    with torch.no_grad():
        ref = torch.nn.functional.cross_entropy(tr.model(torch.as_tensor(train.X)),
                                                torch.as_tensor(train.y), reduction="none")
    assert losses.shape == (len(train),) and np.allclose(losses, ref.numpy(), atol=1e-6)
    assert np.all(np.isfinite(tr.example_losses))  # every example visited in an epoch
    seen = []

    def zero(losses, idx):  # reweighting hook: weight 0 -> no update at all
        seen.append(idx.numel())
        return (losses * 0.0).sum()

    model = build_model("mlp", (1, 8, 8), 10, seed=0, hidden=(16,))
    before = [p.detach().clone() for p in model.parameters()]
    Trainer(model, TrainConfig(epochs=1, batch_size=64, seed=0, quiet=True),
            reduce=zero).fit(train)
    assert sum(seen) == len(train)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_config_and_device_errors():
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="sees no CUDA GPU"):
            resolve_device("cuda")


def test_divergence_is_reported(digits):
    X = digits[0].X.copy()
    X[7, 0, 3, 3] = np.inf  # a non-finite loss stops the run with its epoch and step
    bad = ArrayDataset(X, digits[0].y, 10)
    model = build_model("mlp", (1, 8, 8), 10, seed=0, hidden=(16,))
    with pytest.raises(FloatingPointError, match="diverged: loss nan at epoch 1"):
        Trainer(model, TrainConfig(epochs=2, seed=0, quiet=True)).fit(bad)
