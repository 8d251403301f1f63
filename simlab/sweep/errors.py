"""Errors of the sweep layer."""

from __future__ import annotations


class SweepError(ValueError):
    """A sweep cannot start: a bad spec, store or executor setting (raised before any work)."""


class MissingRecords(LookupError):
    """:func:`simlab.sweep.load` found records missing or corrupt (run the sweep first)."""


class ExecutorLost(RuntimeError):
    """The executor went away mid-sweep (a dask scheduler stopped): stop, report, resume later."""
