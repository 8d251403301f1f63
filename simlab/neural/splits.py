"""Seeded splitting tools that every paper's neural comparison needs (numpy only).

Each function takes labels (and inputs where it must), a ``seed``, and returns indices or new
labels; it promises exact counts, stated in its docstring and checked in
``tests/neural/test_splits.py``:

* class imbalance: :func:`long_tail_counts`, :func:`step_counts`, :func:`imbalanced_subset`,
  :func:`long_tail`, :func:`step_imbalance`;
* task families: :func:`label_shift_tasks` (label permutation or swap, tunable strength),
  :func:`rotation_tasks` (covariate shift), :func:`dirichlet_label_skew` (label skew with
  concentration ``alpha``);
* label noise: :func:`symmetric_noise`, :func:`flip_noise`;
* a held-out balanced validation set: :func:`balanced_split`.

Random numbers come from ``numpy.random.default_rng([seed, ...])`` keyed by what they serve
(e.g. the task index), so the labels of auxiliary task ``i`` do not depend on how many tasks
are built beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["class_counts", "long_tail_counts", "step_counts", "imbalanced_subset", "long_tail",
           "step_imbalance", "label_map", "LabelShift", "label_shift_tasks", "rotate_images",
           "rotation_tasks", "dirichlet_label_skew", "symmetric_noise", "flip_noise",
           "balanced_split"]


def _labels(y, n_classes: int | None) -> tuple[np.ndarray, int]:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-d integer array, got shape {y.shape} and dtype "
                         f"{y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"labels must be >= 0, got {y.min()}")
    c = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if y.size and y.max() >= c:
        raise ValueError(f"labels must be < n_classes = {c}, got {y.max()}")
    return y.astype(np.int64), c


def _rate(name: str, v: float) -> float:
    v = float(v)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {v}")
    return v


def _rng(seed, *key) -> np.random.Generator:
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng([int(seed), *key])


def class_counts(y, n_classes: int | None = None) -> np.ndarray:
    """Number of examples per class, shape ``(n_classes,)``."""
    y, c = _labels(y, n_classes)
    return np.bincount(y, minlength=c)


# --- class imbalance ------------------------------------------------------------------------

def long_tail_counts(n_max: int, n_classes: int, rho: float) -> np.ndarray:
    """Exponential long-tail profile: ``n_c = floor(n_max * rho ** (-c / (C - 1)))``.

    Class 0 keeps ``n_max``, class ``C - 1`` keeps ``floor(n_max / rho)`` (at least 1), so
    ``rho = n_max / n_min`` is the imbalance ratio (``rho = 1``: balanced).
    """
    if rho < 1:
        raise ValueError(f"rho (imbalance ratio n_max / n_min) must be >= 1, got {rho}")
    if n_classes < 1 or n_max < 1:
        raise ValueError(f"n_classes and n_max must be >= 1, got {n_classes} and {n_max}")
    c = np.arange(n_classes)
    expo = c / (n_classes - 1) if n_classes > 1 else np.zeros(1)
    return np.maximum(1, np.floor(n_max * rho ** (-expo) + 1e-9)).astype(np.int64)


def step_counts(n_max: int, n_classes: int, rho: float, n_minority: int | None = None
                ) -> np.ndarray:
    """Step imbalance: the last ``n_minority`` classes (default ``C // 2``) keep
    ``max(1, floor(n_max / rho))`` examples, the others ``n_max``."""
    if rho < 1:
        raise ValueError(f"rho (imbalance ratio n_max / n_min) must be >= 1, got {rho}")
    k = n_classes // 2 if n_minority is None else int(n_minority)
    if not 0 <= k <= n_classes:
        raise ValueError(f"n_minority must lie in [0, {n_classes}], got {k}")
    out = np.full(n_classes, int(n_max), dtype=np.int64)
    out[n_classes - k:] = max(1, int(np.floor(n_max / rho + 1e-9)))
    return out


def imbalanced_subset(y, counts, seed: int, n_classes: int | None = None) -> np.ndarray:
    """Indices of a subset with exactly ``counts[c]`` examples of class ``c``.

    The examples of each class are drawn uniformly without replacement; the result is sorted.

    Raises
    ------
    ValueError
        If a class has fewer than ``counts[c]`` examples.
    """
    y, c = _labels(y, n_classes)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape != (c,) or np.any(counts < 0):
        raise ValueError(f"counts must be {c} non-negative integers, got {counts.tolist()}")
    have = np.bincount(y, minlength=c)
    short = np.flatnonzero(have < counts)
    if short.size:
        k = int(short[0])
        raise ValueError(f"class {k} has {have[k]} examples, fewer than the {counts[k]} asked")
    rng = _rng(seed, 0x1B)
    parts = [rng.choice(np.flatnonzero(y == k), size=int(counts[k]), replace=False)
             for k in range(c)]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def long_tail(y, rho: float, seed: int, n_max: int | None = None,
              n_classes: int | None = None) -> np.ndarray:
    """A long-tailed subset (see :func:`long_tail_counts`); ``n_max`` defaults to the size of
    the smallest class, so that every class can supply its count."""
    y, c = _labels(y, n_classes)
    n_max = int(np.bincount(y, minlength=c).min()) if n_max is None else int(n_max)
    return imbalanced_subset(y, long_tail_counts(n_max, c, rho), seed, c)


def step_imbalance(y, rho: float, seed: int, n_minority: int | None = None,
                   n_max: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """A step-imbalanced subset (see :func:`step_counts`)."""
    y, c = _labels(y, n_classes)
    n_max = int(np.bincount(y, minlength=c).min()) if n_max is None else int(n_max)
    return imbalanced_subset(y, step_counts(n_max, c, rho, n_minority), seed, c)


# --- label-shifted task families ------------------------------------------------------------

def label_map(kind: str, n_classes: int, rng: np.random.Generator, n_pairs: int = 1
              ) -> np.ndarray:
    """A relabelling ``c -> map[c]``.

    ``"permutation"``: a uniformly random derangement (no class keeps its label);
    ``"swap"``: ``n_pairs`` disjoint random pairs of classes exchange their labels.
    """
    if kind == "permutation":
        if n_classes < 2:
            raise ValueError("a derangement needs at least 2 classes")
        while True:
            p = rng.permutation(n_classes)
            if np.all(p != np.arange(n_classes)):
                return p.astype(np.int64)
    if kind == "swap":
        if not 1 <= n_pairs <= n_classes // 2:
            raise ValueError(f"n_pairs must lie in [1, {n_classes // 2}], got {n_pairs}")
        m = np.arange(n_classes)
        sel = rng.choice(n_classes, size=2 * n_pairs, replace=False)
        for a, b in sel.reshape(-1, 2):
            m[a], m[b] = b, a
        return m.astype(np.int64)
    raise ValueError(f"kind must be 'permutation' or 'swap', got {kind!r}")


@dataclass(frozen=True)
class LabelShift:
    """Labels of ``N`` label-shifted auxiliary tasks.

    Attributes
    ----------
    labels : list of ndarray
        ``labels[i]``: the labels of auxiliary task ``i + 1``.
    maps : ndarray, shape (N, C)
        Task ``i + 1`` relabels class ``c`` as ``maps[i, c]``.
    changed : list of ndarray of bool
        Which examples task ``i + 1`` relabelled.
    """

    labels: list
    maps: np.ndarray
    changed: list


def label_shift_tasks(y, n_aux: int, strength: float, seed: int, kind: str = "permutation",
                      n_pairs: int = 1, n_classes: int | None = None) -> LabelShift:
    """``N`` auxiliary tasks whose labels are shifted from ``y`` with tunable strength.

    Task ``i`` draws a relabelling ``map_i`` (:func:`label_map`) and, in every class ``c`` that
    ``map_i`` moves, relabels exactly ``round(strength * n_c)`` examples (chosen uniformly) as
    ``map_i[c]``; all other labels stay. ``strength = 0`` gives ``N`` copies of task 0,
    ``strength = 1`` applies the map to every example. Task ``i``'s randomness is keyed by
    ``(seed, i)``: its labels do not depend on ``n_aux``.
    """
    y, c = _labels(y, n_classes)
    s = _rate("strength", strength)
    if int(n_aux) != n_aux or n_aux < 0:
        raise ValueError(f"n_aux must be an integer >= 0, got {n_aux!r}")
    labels, maps, changed = [], [], []
    for i in range(1, int(n_aux) + 1):
        rng = _rng(seed, 0x15, i)
        m = label_map(kind, c, rng, n_pairs)
        new = y.copy()
        mask = np.zeros(y.shape, dtype=bool)
        for k in range(c):
            if m[k] == k:
                continue
            idx = np.flatnonzero(y == k)
            pick = rng.choice(idx, size=int(round(s * idx.size)), replace=False)
            new[pick] = m[k]
            mask[pick] = True
        labels.append(new)
        maps.append(m)
        changed.append(mask)
    maps_arr = np.array(maps, dtype=np.int64).reshape(len(maps), c)
    return LabelShift(labels, maps_arr, changed)


def rotate_images(X, degrees: float) -> np.ndarray:
    """Rotate images ``(n, C, H, W)`` by ``degrees`` (counter-clockwise, bilinear, zero fill)."""
    from scipy import ndimage

    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W), got {X.shape}")
    if degrees == 0:
        return X.copy()
    return ndimage.rotate(X, float(degrees), axes=(2, 3), reshape=False, order=1,
                          mode="constant", cval=0.0).astype(np.float32)


def rotation_tasks(X, n_aux: int, max_degrees: float, angles=None) -> tuple[list, np.ndarray]:
    """Covariate-shifted tasks: task ``i`` sees the images rotated by ``angles[i - 1]``.

    Parameters
    ----------
    X : ndarray, shape (n, C, H, W)
    n_aux : int
    max_degrees : float
        The strength: default angles ``max_degrees * i / N`` for ``i = 1..N`` (task ``N`` turns
        by ``max_degrees``).
    angles : sequence of N floats, optional
        Explicit angles (override ``max_degrees``).

    Returns
    -------
    (list of ndarray, ndarray)
        The rotated inputs of each auxiliary task, and the angles.
    """
    if angles is None:
        angles = max_degrees * np.arange(1, n_aux + 1) / max(n_aux, 1)
    angles = np.asarray(angles, dtype=np.float64).ravel()
    if angles.shape != (n_aux,):
        raise ValueError(f"angles must have length n_aux = {n_aux}, got {angles.shape}")
    return [rotate_images(X, a) for a in angles], angles


def _largest_remainder(total: int, p: np.ndarray) -> np.ndarray:
    raw = total * p
    base = np.floor(raw).astype(np.int64)
    rest = total - base.sum()
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rest]] += 1
    return base


def dirichlet_label_skew(y, n_tasks: int, alpha: float, seed: int,
                         n_classes: int | None = None) -> tuple[list, np.ndarray]:
    """Partition the examples among ``n_tasks`` tasks with Dirichlet label skew.

    For every class ``c``, proportions ``p_c ~ Dirichlet(alpha * 1)`` over the tasks are drawn
    and the class's examples (shuffled) are cut into parts of sizes given by largest-remainder
    rounding of ``n_c p_c``. Small ``alpha`` concentrates each class on few tasks; large
    ``alpha`` approaches an even split.

    Returns
    -------
    (list of ndarray, ndarray)
        The sorted indices of each task (a partition of ``range(n)``) and the proportions
        ``p`` of shape ``(n_classes, n_tasks)``. Exactly: task ``j`` holds
        ``round_lr(n_c p[c])[j]`` examples of class ``c``.
    """
    y, c = _labels(y, n_classes)
    if not alpha > 0:
        raise ValueError(f"alpha (Dirichlet concentration) must be > 0, got {alpha}")
    if int(n_tasks) != n_tasks or n_tasks < 1:
        raise ValueError(f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    rng = _rng(seed, 0xD1)
    props = rng.dirichlet(np.full(int(n_tasks), float(alpha)), size=c)
    parts: list[list] = [[] for _ in range(int(n_tasks))]
    for k in range(c):
        idx = rng.permutation(np.flatnonzero(y == k))
        sizes = _largest_remainder(idx.size, props[k])
        for j, chunk in enumerate(np.split(idx, np.cumsum(sizes)[:-1])):
            parts[j].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts], props


# --- label noise ----------------------------------------------------------------------------

def symmetric_noise(y, rate: float, seed: int, n_classes: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric label noise: exactly ``round(rate * n)`` examples, chosen uniformly, get a
    label drawn uniformly among the *other* ``C - 1`` classes.

    Returns
    -------
    (ndarray, ndarray of bool)
        The noisy labels and the mask of corrupted examples.
    """
    y, c = _labels(y, n_classes)
    r = _rate("rate", rate)
    if c < 2:
        raise ValueError("label noise needs at least 2 classes")
    rng = _rng(seed, 0x5E)
    pick = rng.choice(y.size, size=int(round(r * y.size)), replace=False)
    shift = rng.integers(1, c, size=pick.size)
    new = y.copy()
    new[pick] = (y[pick] + shift) % c
    mask = np.zeros(y.shape, dtype=bool)
    mask[pick] = True
    return new, mask


def flip_noise(y, rate: float, seed: int, n_classes: int | None = None, mapping=None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Flip (pair) label noise: in every class ``c``, exactly ``round(rate * n_c)`` examples
    are relabelled ``mapping[c]`` (default ``(c + 1) mod C``).

    Returns
    -------
    (ndarray, ndarray of bool)
        The noisy labels and the mask of corrupted examples.
    """
    y, c = _labels(y, n_classes)
    r = _rate("rate", rate)
    m = (np.arange(c) + 1) % c if mapping is None else np.asarray(mapping, dtype=np.int64)
    if m.shape != (c,) or np.any(m == np.arange(c)) or m.min() < 0 or m.max() >= c:
        raise ValueError(f"mapping must send each of the {c} classes to another class, got "
                         f"{m.tolist()}")
    rng = _rng(seed, 0xF1)
    new, mask = y.copy(), np.zeros(y.shape, dtype=bool)
    for k in range(c):
        idx = np.flatnonzero(y == k)
        pick = rng.choice(idx, size=int(round(r * idx.size)), replace=False)
        new[pick] = m[k]
        mask[pick] = True
    return new, mask


# --- held-out balanced validation ------------------------------------------------------------

def balanced_split(y, per_class: int, seed: int, n_classes: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Hold out exactly ``per_class`` examples of every class.

    Returns
    -------
    (ndarray, ndarray)
        ``(rest, held_out)``: sorted, disjoint indices covering ``range(n)``; ``held_out`` has
        ``per_class`` examples of each class.

    Raises
    ------
    ValueError
        If some class has ``per_class`` examples or fewer (nothing would be left to train on).
    """
    y, c = _labels(y, n_classes)
    if int(per_class) != per_class or per_class < 1:
        raise ValueError(f"per_class must be an integer >= 1, got {per_class!r}")
    have = np.bincount(y, minlength=c)
    if np.any(have <= per_class):
        k = int(np.argmin(have))
        raise ValueError(f"class {k} has {have[k]} examples; per_class = {per_class} needs "
                         f"more (at least one must be left for training)")
    held = imbalanced_subset(y, np.full(c, int(per_class)), seed=seed, n_classes=c)
    rest = np.setdiff1d(np.arange(y.size), held)
    return rest, held
