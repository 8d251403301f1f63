"""Argument checks shared by task families and methods: errors name the parameter and range."""

from __future__ import annotations

import numpy as np


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """Return ``int(value)`` or raise ``ValueError`` naming ``name`` and the allowed range."""
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {rng}, got {v}")
    return v


def check_float(name: str, value, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> float:
    """Return ``float(value)`` or raise ``ValueError`` naming ``name`` and the allowed range."""
    v = float(value)
    bad = not np.isfinite(v)
    if lo is not None:
        bad |= v <= lo if lo_open else v < lo
    if hi is not None:
        bad |= v > hi
    if bad:
        left = "(" if lo_open else "["
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf)" if hi is None else f"{hi:g}]"
        raise ValueError(f"{name} must be finite and in {left}{lo_s}, {hi_s}, got {value!r}")
    return v


def per_task(name: str, value, n: int, lo: float = 0.0) -> np.ndarray:
    """Broadcast a scalar or a length-``n`` sequence to an array, each entry ``>= lo``."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or a sequence of length {n}, got shape "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < lo):
        raise ValueError(f"{name} must be finite and >= {lo:g}, got {arr.tolist()}")
    return arr


def eigenvalues_from(eig, d: int) -> np.ndarray:
    """``eig = (mu, L)``: ``d`` eigenvalues log-spaced in ``[mu, L]``; or ``d`` explicit ones.

    The one parser of the families' ``eig`` argument (A, B, D, E).

    Parameters
    ----------
    eig : (float, float) or sequence of d floats
        ``(mu, L)`` (read as the two eigenvalues when ``d == 2``, which is the same) or all
        eigenvalues.
    d : int
        Dimension.

    Returns
    -------
    ndarray of float64, shape (d,)

    Raises
    ------
    ValueError
        If ``mu <= 0``, ``mu > L`` or an explicit eigenvalue is not ``> 0`` (naming ``eig``).
    """
    e = np.asarray(eig, dtype=np.float64).ravel()
    if e.shape == (2,) and d != 2:
        mu, L = float(e[0]), float(e[1])
        if not (np.isfinite(mu) and mu > 0):
            raise ValueError(f"mu = eig[0] must be > 0, got {mu}")
        if not np.isfinite(L) or mu > L:
            raise ValueError(f"mu must be <= L (finite), got mu = {mu} > L = {L}")
        return np.geomspace(mu, L, d) if d > 1 else np.array([L])
    if e.shape != (d,):
        raise ValueError(f"eig must be (mu, L) or {d} eigenvalues, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError(f"eigenvalues must be > 0, got {e.tolist()}")
    return e
