"""Sweeps: parameter grids -> executor (local processes | dask.distributed) -> result store.

``simlab.sweep`` is this package *and* a function: ``simlab.sweep(...)`` runs a sweep (only
what the store lacks) and returns its tidy DataFrame (:func:`simlab.sweep.runner.sweep`)::

    import simlab
    from simlab.collab import WGA
    from simlab.tasks import SharedHessianQuadratics

    df = simlab.sweep(task=SharedHessianQuadratics(d=16, n_aux=4), method=WGA(),
                      grid={"zeta": [0.0, 0.1, 1.0], "step_size": [0.05, 0.1]},
                      steps=1000, replicas=256, blocks=4)
    simlab.sweep.status(spec), simlab.sweep.load(spec)     # the other entry points

Parts: :mod:`~simlab.sweep.spec` (:class:`Sweep`, the grid and its TOML form),
:mod:`~simlab.sweep.store` (one Parquet record per configuration and block of replicas, keyed
by :mod:`~simlab.sweep.keys`), :mod:`~simlab.sweep.executors` (serial, local processes, dask),
:mod:`~simlab.sweep.runner` (:func:`run`, :func:`status`, :func:`load`),
:mod:`~simlab.sweep.cache` (:func:`cached_simulate` for figures and notebooks) and the
``simlab sweep run|status|show`` command (:mod:`~simlab.sweep.cli`).

Names are imported on first use, so ``import simlab`` stays fast and works without the
``dist`` extra (pyarrow, fsspec, dask); the store and the dask executor need it.
"""

from __future__ import annotations

import importlib
import sys
import types

_EXPORTS = {
    "Sweep": "spec", "Component": "spec", "Config": "spec",
    "run": "runner", "status": "runner", "load": "runner", "sweep": "runner",
    "RunReport": "runner", "Status": "runner",
    "Store": "store", "CorruptRecord": "store",
    "SweepError": "errors", "MissingRecords": "errors", "ExecutorLost": "errors",
    "Lease": "store",
    "make_executor": "executors", "SerialExecutor": "executors",
    "ProcessExecutor": "executors", "DaskExecutor": "executors",
    "cached_simulate": "cache", "cached_stats": "cache", "cached_simulate_many": "cache",
    "SimRun": "cache",
    "ReplicaStats": "stats", "record_key": "keys", "code_hash": "keys",
    "add_sweep_parser": "cli",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _CallableModule(types.ModuleType):
    """This package's type: calling ``simlab.sweep(...)`` runs :func:`runner.sweep`."""

    def __call__(self, *args, **kwargs):
        return self.sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
