"""The runner protocol: a plain Python loop returns the same :class:`Trace` as a kernel.

Not every simulation is a per-replica compiled kernel. A pool-based active-learning round
sorts, clusters and allocates over a whole pool; a neural run is a torch loop. Such a method
subclasses :class:`~simlab.engine.model.LoopMethod` and implements ``run_replica(task,
streams, checkpoints) -> (K, M) array``; :func:`run_loop` (which :func:`simlab.simulate` calls
for it) runs the replicas, each with its own :class:`ReplicaStreams` keyed by
``(seed, replica, stream)`` exactly as the kernels key theirs, checks the shapes and the
finiteness, and assembles the Trace (with the method's own axis name, e.g. labels queried).
So replica ``r``'s values do not depend on how many replicas run beside it, and the
statistics, the sweep store and the claims serve the loop unchanged.
"""

from __future__ import annotations

import time

import numpy as np

from simlab.engine import rng as _rng
from simlab.engine.trace import Trace


class ReplicaStreams:
    """The random streams of one replica of a loop method.

    Stream ``source`` of replica ``replica`` under ``seed`` has the same 64-bit key as a
    kernel's stream ``(seed, replica, source)`` (:func:`simlab.engine.rng.stream_key`).

    Parameters
    ----------
    seed, replica : int
    """

    def __init__(self, seed: int, replica: int):
        self.seed, self.replica = int(seed), int(replica)

    def key(self, source: int = 0) -> int:
        """The 64-bit key of stream ``source``."""
        with np.errstate(over="ignore"):
            return int(_rng.stream_key(np.uint64(self.seed), np.uint64(self.replica),
                                       np.uint64(source)))

    def generator(self, source: int = 0) -> np.random.Generator:
        """A numpy Generator (PCG64) seeded by stream ``source``'s key: for numpy, scipy and
        scikit-learn code (``random_state=streams.generator(1)``)."""
        return np.random.Generator(np.random.PCG64(self.key(source)))

    def normals(self, n: int, source: int = 0) -> np.ndarray:
        """``n`` standard normals: exactly the draws a kernel makes from stream ``source``."""
        from simlab.engine.draws import draw_normals

        return draw_normals(self.seed, self.replica, n, source)


def run_loop(task, method, steps: int, ids: np.ndarray, seed: int, cps: np.ndarray,
             backend: str) -> Trace:
    """Run a :class:`~simlab.engine.model.LoopMethod` over the replica ids (the protocol).

    Raises
    ------
    ValueError
        A loop that returns the wrong shape (names the method and the shape).
    simlab.engine.simulate.DivergenceError
        A non-finite value (the first checkpoint and replica where one appears).
    """
    from simlab.engine.simulate import DivergenceError

    names = tuple(method.metrics)
    if not names:
        raise ValueError(f"{type(method).__name__} declares no metrics (class attribute "
                         f"'metrics')")
    t0 = time.perf_counter()
    out = np.empty((cps.shape[0], ids.shape[0], len(names)))
    first = None
    for r, rid in enumerate(ids):
        v = np.asarray(method.run_replica(task, ReplicaStreams(seed, int(rid)), cps.copy()),
                       dtype=np.float64)
        if v.shape != (cps.shape[0], len(names)):
            raise ValueError(f"{type(method).__name__}.run_replica returned shape {v.shape}; "
                             f"it must be (checkpoints, metrics) = {(cps.shape[0], len(names))}")
        bad = np.flatnonzero(~np.isfinite(v).all(axis=1))
        if bad.size and (first is None or cps[bad[0]] < first[0]):
            first = (int(cps[bad[0]]), int(rid))
        out[:, r] = v
    if first is not None:
        raise DivergenceError(*first, detail=f" ({method.axis} {first[0]}: a metric of "
                                             f"{type(method).__name__} is not finite)")
    seconds = time.perf_counter() - t0
    return Trace(checkpoints=cps, values=out, replica_ids=ids, seed=int(seed), metrics=names,
                 axis=method.axis, info=dict(task=repr(task), method=repr(method),
                                             backend=backend, steps=int(steps),
                                             seconds=seconds, setup_seconds=0.0))
