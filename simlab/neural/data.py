"""Real data sets from local files (numpy only; nothing is ever downloaded).

* :func:`load_digits`: scikit-learn's 8x8 digits (1797 images, shipped with scikit-learn), the
  default data set of every neural comparison.
* :func:`load_mnist`: MNIST (or any data set in the same idx format, e.g. Fashion-MNIST) from a
  folder the user names, holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``).
* :func:`load_cifar10`: CIFAR-10 "python version" batches (``data_batch_1`` ..
  ``data_batch_5``, ``test_batch``) from a folder the user names (``cifar-10-batches-py`` or
  its parent). The pickles are read with a restricted unpickler that only rebuilds numpy
  arrays, so a hostile file cannot run code.

:func:`write_idx` and :func:`write_cifar_batch` write the same formats; the tests use them to
build small fixture files. A missing folder or file raises :class:`FileNotFoundError`, a
malformed or truncated file raises :class:`DataFormatError`; both name the file and what was
expected.
"""

from __future__ import annotations

import gzip
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ArrayDataset", "DataFormatError", "load_digits", "load_mnist", "load_cifar10",
           "load_dataset", "read_idx", "write_idx", "read_cifar_batch", "write_cifar_batch",
           "DATASETS"]

DATASETS = ("digits", "mnist", "cifar10")


class DataFormatError(ValueError):
    """A data file exists but does not hold what its format promises (names file and format)."""


@dataclass(frozen=True, eq=False)
class ArrayDataset:
    """Inputs and integer labels in memory.

    Attributes
    ----------
    X : ndarray of float32, shape (n, C, H, W)
        Images scaled to ``[0, 1]``.
    y : ndarray of int64, shape (n,)
        Labels in ``0 .. n_classes - 1``.
    n_classes : int
    name : str
    """

    X: np.ndarray
    y: np.ndarray
    n_classes: int
    name: str = "data"

    def __post_init__(self):
        X = np.ascontiguousarray(self.X, dtype=np.float32)
        y = np.ascontiguousarray(self.y, dtype=np.int64).ravel()
        if X.ndim < 2 or X.shape[0] != y.shape[0]:
            raise ValueError(f"ArrayDataset: X must have shape (n, ...) with n = len(y) = "
                             f"{y.shape[0]}, got {X.shape}")
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"ArrayDataset: labels must lie in [0, {self.n_classes - 1}], got "
                             f"range [{y.min()}, {y.max()}]")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(1, 8, 8)``."""
        return tuple(int(s) for s in self.X.shape[1:])

    def flat(self) -> np.ndarray:
        """The inputs as ``(n, features)``."""
        return self.X.reshape(len(self), -1)

    def subset(self, idx) -> ArrayDataset:
        """The examples ``idx`` (an index array or boolean mask), in that order."""
        idx = np.asarray(idx)
        return ArrayDataset(self.X[idx], self.y[idx], self.n_classes, self.name)

    def with_labels(self, y, name: str | None = None) -> ArrayDataset:
        """The same inputs with other labels (e.g. shifted or noisy ones)."""
        return ArrayDataset(self.X, y, self.n_classes, name or self.name)

    def with_inputs(self, X, name: str | None = None) -> ArrayDataset:
        """The same labels with other inputs (e.g. rotated images)."""
        return ArrayDataset(X, self.y, self.n_classes, name or self.name)

    def class_counts(self) -> np.ndarray:
        """Number of examples of each class, shape ``(n_classes,)``."""
        return np.bincount(self.y, minlength=self.n_classes)

    def __repr__(self) -> str:
        return (f"ArrayDataset(name={self.name!r}, n={len(self)}, input_shape="
                f"{self.input_shape}, n_classes={self.n_classes})")


# --- digits -------------------------------------------------------------------------------

def load_digits() -> ArrayDataset:
    """scikit-learn's handwritten digits: 1797 images of 8x8 pixels, 10 classes.

    Returns
    -------
    ArrayDataset
        ``X`` of shape ``(1797, 1, 8, 8)`` scaled to ``[0, 1]`` (the raw values are 0..16).
    """
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    X = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    return ArrayDataset(X, d.target.astype(np.int64), 10, "digits")


# --- MNIST idx ----------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {np.dtype(v).newbyteorder(">").str if v.itemsize > 1 else v.str: k
              for k, v in _IDX_DTYPES.items()}


def _open_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError) as e:
            raise DataFormatError(f"{path}: not a readable gzip file ({e}); expected a "
                                  f"gzip-compressed idx file") from e
    return path.read_bytes()


def read_idx(path, expect_ndim: int | None = None) -> np.ndarray:
    """Read one idx file (the MNIST format), optionally gzip-compressed.

    The header is two zero bytes, a type code (``0x08`` = uint8, ...), the number of
    dimensions, and each dimension as a big-endian uint32; the data follow in C order.

    Parameters
    ----------
    path : str or Path
    expect_ndim : int, optional
        Required number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    ndarray
        In native byte order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    DataFormatError
        If the header is malformed, the dimensions are not the expected ones, or the file is
        shorter or longer than its header announces.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"idx file {path} does not exist")
    raw = _open_bytes(path)
    if len(raw) < 4:
        raise DataFormatError(f"{path}: truncated idx file: {len(raw)} bytes, expected at least "
                              f"a 4-byte header (0x00 0x00 type ndim)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataFormatError(f"{path}: not an idx file: magic bytes {raw[:4].hex()}, expected "
                              f"0000 followed by a type code in "
                              f"{sorted(hex(k) for k in _IDX_DTYPES)} and the number of "
                              f"dimensions")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    if expect_ndim is not None and ndim != expect_ndim:
        raise DataFormatError(f"{path}: idx file has {ndim} dimensions, expected {expect_ndim}")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataFormatError(f"{path}: truncated idx file: the header needs {head} bytes for "
                              f"{ndim} dimensions, the file has {len(raw)}")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - head
    if have != need:
        what = "truncated" if have < need else "oversized"
        raise DataFormatError(f"{path}: {what} idx file: the header announces shape {shape} of "
                              f"{dtype} ({need} bytes of data), but {have} bytes follow")
    arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=head)
    return arr.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> Path:
    """Write ``array`` as an idx file (gzip-compressed when ``path`` ends in ``.gz``).

    Parameters
    ----------
    path : str or Path
    array : array_like
        Of dtype uint8, int8, int16, int32, float32 or float64.

    Returns
    -------
    Path
    """
    path = Path(path)
    a = np.asarray(array)
    key = a.dtype.newbyteorder(">").str if a.dtype.itemsize > 1 else a.dtype.str
    if key not in _IDX_CODES:
        raise ValueError(f"write_idx: dtype {a.dtype} has no idx type code")
    code = _IDX_CODES[key]
    head = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(a, dtype=_IDX_DTYPES[code]).tobytes()
    data = head + body
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _find(folder: Path, stem: str, what: str) -> Path:
    cands = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
    for c in cands:
        if (folder / c).is_file():
            return folder / c
    raise FileNotFoundError(f"{what}: {folder} has no file {stem!r} (also tried {cands[1:]}); "
                            f"simlab never downloads data: put the files there")


def _check_folder(folder, what: str, expected: str) -> Path:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist or is not a folder; "
                                f"expected a folder with {expected} (simlab never downloads)")
    return folder


def load_mnist(folder, split: str = "train", limit: int | None = None) -> ArrayDataset:
    """MNIST (or Fashion-MNIST, same format) from idx files in ``folder``.

    Parameters
    ----------
    folder : str or Path
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (``.gz`` allowed).
    split : {"train", "test"}
    limit : int, optional
        Keep the first ``limit`` examples.

    Returns
    -------
    ArrayDataset
        ``X`` of shape ``(n, 1, H, W)`` scaled to ``[0, 1]``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = _check_folder(folder, "MNIST", "the idx files " + ", ".join(
        sum(MNIST_FILES.values(), ())))
    img_path = _find(folder, MNIST_FILES[split][0], "MNIST")
    lab_path = _find(folder, MNIST_FILES[split][1], "MNIST")
    images = read_idx(img_path, expect_ndim=3)
    labels = read_idx(lab_path, expect_ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataFormatError(f"{img_path} / {lab_path}: expected uint8 (type code 0x08), got "
                              f"{images.dtype} and {labels.dtype}")
    if images.shape[0] != labels.shape[0]:
        raise DataFormatError(f"{img_path} holds {images.shape[0]} images but {lab_path} holds "
                              f"{labels.shape[0]} labels; expected the same number")
    if labels.size and labels.max() > 9:
        raise DataFormatError(f"{lab_path}: labels must lie in 0..9, found {labels.max()}")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    X = (images.astype(np.float32) / 255.0)[:, None, :, :]
    return ArrayDataset(X, labels.astype(np.int64), 10, f"mnist-{split}")


# --- CIFAR-10 python batches ---------------------------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, numbers and numpy arrays; refuses any other global."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data batch")


CIFAR_TRAIN = tuple(f"data_batch_{k}" for k in range(1, 6))
CIFAR_TEST = ("test_batch",)


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    data : ndarray of uint8, shape (n, 3072)
        Rows are 1024 red, 1024 green, 1024 blue values (32x32, row-major).
    labels : ndarray of int64, shape (n,)

    Raises
    ------
    FileNotFoundError
    DataFormatError
        If the file is not a pickled dict with ``data`` (uint8, ``(n, 3072)``) and ``labels``
        (``n`` integers in 0..9), e.g. when it is truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch {path} does not exist")
    expected = ("expected a pickled dict with 'data' (uint8 array of shape (n, 3072)) and "
                "'labels' (n integers in 0..9), as in the CIFAR-10 python version")
    try:
        with path.open("rb") as f:
            obj = _ArrayUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as e:
        raise DataFormatError(f"{path}: unreadable or truncated CIFAR-10 batch ({e}); "
                              f"{expected}") from e
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: holds a {type(obj).__name__}; {expected}")
    obj = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in obj or "labels" not in obj:
        raise DataFormatError(f"{path}: keys {sorted(map(str, obj))}; {expected}")
    data, labels = obj["data"], np.asarray(obj["labels"])
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise DataFormatError(f"{path}: 'data' has shape {shape} and dtype {dtype}; {expected}")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"{path}: 'labels' has shape {labels.shape}, expected "
                              f"({data.shape[0]},) integers; {expected}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFormatError(f"{path}: labels must lie in 0..9, found range "
                              f"[{labels.min()}, {labels.max()}]")
    return data, labels.astype(np.int64)


def write_cifar_batch(path, data, labels) -> Path:
    """Write a CIFAR-10 python batch (a pickled dict with ``data`` and ``labels``).

    Parameters
    ----------
    path : str or Path
    data : array_like of uint8, shape (n, 3072) or (n, 3, 32, 32)
    labels : sequence of n integers in 0..9

    Returns
    -------
    Path
    """
    path = Path(path)
    d = np.asarray(data, dtype=np.uint8).reshape(len(labels), -1)
    if d.shape[1] != 3072:
        raise ValueError(f"write_cifar_batch: each image must have 3072 values, got {d.shape}")
    obj = {b"batch_label": path.name.encode(), b"data": d,
           b"labels": [int(v) for v in labels],
           b"filenames": [f"img_{k}.png".encode() for k in range(d.shape[0])]}
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


def load_cifar10(folder, split: str = "train", limit: int | None = None) -> ArrayDataset:
    """CIFAR-10 from its python batches in ``folder``.

    Parameters
    ----------
    folder : str or Path
        ``cifar-10-batches-py`` or a folder that contains it; it holds ``data_batch_1`` ..
        ``data_batch_5`` (train) and ``test_batch`` (test).
    split : {"train", "test"}
    limit : int, optional
        Keep the first ``limit`` examples.

    Returns
    -------
    ArrayDataset
        ``X`` of shape ``(n, 3, 32, 32)`` scaled to ``[0, 1]``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = _check_folder(folder, "CIFAR-10", "the python batches data_batch_1..5 and "
                           "test_batch")
    if not (folder / "test_batch").is_file() and (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    names = CIFAR_TRAIN if split == "train" else CIFAR_TEST
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10: {folder} lacks {missing}; expected the python "
                                f"batches {list(names)} (simlab never downloads data)")
    parts = [read_cifar_batch(folder / n) for n in names]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if limit is not None:
        data, labels = data[:limit], labels[:limit]
    X = data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return ArrayDataset(X, labels, 10, f"cifar10-{split}")


def load_dataset(name: str = "digits", folder=None, split: str = "train",
                 limit: int | None = None) -> ArrayDataset:
    """Load a data set by name.

    Parameters
    ----------
    name : {"digits", "mnist", "cifar10"}
    folder : str or Path, optional
        Required for ``mnist`` and ``cifar10`` (see :func:`load_mnist`, :func:`load_cifar10`).
    split : {"train", "test"}
        Ignored for ``digits``, which has no official split (use
        :func:`simlab.neural.splits.balanced_split`).
    limit : int, optional
    """
    if name == "digits":
        d = load_digits()
        return d.subset(np.arange(min(limit, len(d)))) if limit is not None else d
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    if folder is None:
        raise ValueError(f"dataset {name!r} needs a local folder (--data-dir); simlab never "
                         f"downloads data")
    loader = load_mnist if name == "mnist" else load_cifar10
    return loader(folder, split=split, limit=limit)
