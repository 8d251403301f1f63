"""Data readers: digits, MNIST idx and CIFAR-10 batches on fixture files written here.

No binary data is committed: every fixture is written into ``tmp_path`` in the real format by
:func:`simlab.neural.data.write_idx` / :func:`~simlab.neural.data.write_cifar_batch` (and, for
the idx header, by hand, so that the writer is not only checked against itself).
"""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from simlab.neural import data as D


def _mnist_folder(tmp, n_train=12, n_test=5, gz=False, size=28):
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        img = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n, dtype=np.uint8)
        im_name, lab_name = D.MNIST_FILES[split]
        D.write_idx(tmp / (im_name + sfx), img)
        D.write_idx(tmp / (lab_name + sfx), lab)
        arrays[split] = (img, lab)
    return arrays


def test_digits_is_real_data_scaled_to_unit_interval():
    d = D.load_digits()
    assert len(d) == 1797 and d.input_shape == (1, 8, 8) and d.n_classes == 10
    assert d.X.dtype == np.float32 and 0.0 <= d.X.min() and d.X.max() == 1.0
    assert np.all(d.class_counts() >= 170)
    assert D.load_dataset("digits", limit=10).X.shape == (10, 1, 8, 8)


def test_idx_header_written_by_hand_is_read():
    raw = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3) + bytes(range(6))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as t:
        p = Path(t) / "x-idx2-ubyte"
        p.write_bytes(raw)
        a = D.read_idx(p)
    assert a.dtype == np.uint8 and a.tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
def test_idx_round_trip(tmp_path, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        b = D.read_idx(D.write_idx(tmp_path / name, a))
        assert b.dtype == a.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loads_fixture_folder(tmp_path, gz):
    arrays = _mnist_folder(tmp_path, gz=gz)
    tr = D.load_mnist(tmp_path, "train")
    te = D.load_dataset("mnist", tmp_path, split="test", limit=3)
    img, lab = arrays["train"]
    assert tr.X.shape == (12, 1, 28, 28) and tr.name == "mnist-train"
    assert np.allclose(tr.X[:, 0], img / 255.0) and np.array_equal(tr.y, lab)
    assert len(te) == 3 and np.array_equal(te.y, arrays["test"][1][:3])


def test_mnist_truncated_file_names_file_and_expected_size(tmp_path):
    _mnist_folder(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(D.DataFormatError) as e:
        D.load_mnist(tmp_path)
    msg = str(e.value)
    assert str(p) in msg and "truncated" in msg and "(12, 28, 28)" in msg


def test_mnist_truncated_gzip_and_header(tmp_path):
    _mnist_folder(tmp_path, gz=True)
    p = tmp_path / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(D.DataFormatError, match="t10k-labels-idx1-ubyte.gz"):
        D.load_mnist(tmp_path, "test")
    short = tmp_path / "h.idx"
    short.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(D.DataFormatError, match="header needs 16 bytes"):
        D.read_idx(short)


def test_mnist_malformed_files(tmp_path):
    _mnist_folder(tmp_path)
    bad = tmp_path / "train-labels-idx1-ubyte"
    bad.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(D.DataFormatError, match="not an idx file"):
        D.load_mnist(tmp_path)
    D.write_idx(bad, np.zeros((12, 2), dtype=np.uint8))
    with pytest.raises(D.DataFormatError, match="2 dimensions, expected 1"):
        D.load_mnist(tmp_path)
    D.write_idx(bad, np.zeros(11, dtype=np.uint8))
    with pytest.raises(D.DataFormatError, match="12 images but .* 11 labels"):
        D.load_mnist(tmp_path)
    D.write_idx(bad, np.full(12, 10, dtype=np.uint8))
    with pytest.raises(D.DataFormatError, match="labels must lie in 0..9"):
        D.load_mnist(tmp_path)
    extra = tmp_path / "e.idx"
    extra.write_bytes((tmp_path / "train-images-idx3-ubyte").read_bytes() + b"\0")
    with pytest.raises(D.DataFormatError, match="oversized"):
        D.read_idx(extra)


def test_missing_folder_and_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads") as e:
        D.load_mnist(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        D.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        D.load_cifar10(tmp_path)
    with pytest.raises(ValueError, match="needs a local folder"):
        D.load_dataset("mnist")
    with pytest.raises(ValueError, match="dataset must be one of"):
        D.load_dataset("imagenet", tmp_path)


def _cifar_folder(tmp, per_batch=3):
    rng = np.random.default_rng(1)
    folder = tmp / "cifar-10-batches-py"
    folder.mkdir()
    out = {}
    for name in D.CIFAR_TRAIN + D.CIFAR_TEST:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        D.write_cifar_batch(folder / name, data, labels)
        out[name] = (data, labels)
    return folder, out


def test_cifar_loads_fixture_batches(tmp_path):
    folder, arrays = _cifar_folder(tmp_path)
    tr = D.load_cifar10(tmp_path)  # the parent folder works too
    te = D.load_cifar10(folder, split="test")
    assert tr.X.shape == (15, 3, 32, 32) and len(te) == 3
    d0, l0 = arrays["data_batch_1"]
    assert np.allclose(tr.X[0], d0[0].reshape(3, 32, 32) / 255.0)
    assert tr.y[:3].tolist() == l0
    assert np.array_equal(te.y, arrays["test_batch"][1])
    # a batch written the Python-2 way (bytes keys, protocol 2) reads the same
    legacy = folder / "legacy"
    with legacy.open("wb") as f:
        pickle.dump({b"data": d0, b"labels": l0}, f, protocol=2)
    data, labels = D.read_cifar_batch(legacy)
    assert np.array_equal(data, d0) and labels.tolist() == l0


def test_cifar_truncated_batch_is_rejected_with_file_name(tmp_path):
    folder, _ = _cifar_folder(tmp_path)
    p = folder / "data_batch_3"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(D.DataFormatError) as e:
        D.load_cifar10(folder)
    msg = str(e.value)
    assert str(p) in msg and "truncated" in msg and "(n, 3072)" in msg


def test_cifar_malformed_batches(tmp_path):
    folder, _ = _cifar_folder(tmp_path)
    p = folder / "test_batch"
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(D.DataFormatError, match="holds a list"):
        D.read_cifar_batch(p)
    p.write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}))
    with pytest.raises(D.DataFormatError, match=r"shape \(2, 100\)"):
        D.read_cifar_batch(p)
    p.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}))
    with pytest.raises(D.DataFormatError, match="'labels' has shape"):
        D.read_cifar_batch(p)
    p.write_bytes(gzip.compress(b"x"))
    with pytest.raises(D.DataFormatError, match="unreadable"):
        D.read_cifar_batch(p)


def test_cifar_reader_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(D.DataFormatError, match="not allowed"):
        D.read_cifar_batch(p)


def test_array_dataset_validates_and_helpers():
    with pytest.raises(ValueError, match="labels must lie in"):
        D.ArrayDataset(np.zeros((2, 1, 2, 2)), np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="n = len"):
        D.ArrayDataset(np.zeros((3, 4)), np.array([0, 1]), 2)
    d = D.ArrayDataset(np.arange(8.0).reshape(4, 1, 1, 2), np.array([0, 1, 1, 0]), 2, "t")
    assert d.flat().shape == (4, 2) and d.subset([3, 0]).y.tolist() == [0, 0]
    assert d.with_labels([1, 1, 1, 1]).class_counts().tolist() == [0, 4]
    assert "n=4" in repr(d)
