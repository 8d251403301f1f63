"""The engine's exact random draws, compiled: for tests, and for users who want them."""

from __future__ import annotations

import numpy as np

from simlab.engine.kernel import generator_module

_DRAW = (
    "@numba.njit(cache=True)\n"
    "def draw(seed, replica, source, n):\n"
    "    s = np.zeros(2, dtype=np.uint64)\n"
    "    seed_stream(seed, replica, source, s)\n"
    "    out = np.empty(n)\n"
    "    for i in range(n):\n"
    "        out[i] = normal(s)\n"
    "    return out\n"
)


def draw_normals(seed: int, replica: int, n: int, source: int = 0) -> np.ndarray:
    """Draw ``n`` standard normals from the stream ``(seed, replica, source)``.

    The same numbers a kernel's ``normal(s)`` gives on that stream, compiled with numba.

    Parameters
    ----------
    seed, replica, source : int
        The stream key; all must be non-negative.
    n : int
        Number of draws.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    for name, v in (("seed", seed), ("replica", replica), ("source", source), ("n", n)):
        if int(v) < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    return generator_module("numba", _DRAW, "draw").draw(int(seed), int(replica), int(source),
                                                         int(n))
