"""The engine binds ``recorded`` to a step: True exactly for the steps whose state is recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from simlab import simulate
from simlab.engine.declare import MethodOps, Slot, TaskOps
from simlab.engine.model import Method, Task


@dataclass(frozen=True)
class Counter(Task):
    """No dynamics: a slot ``c`` of two counters (steps taken, steps flagged ``recorded``)."""

    family: ClassVar[str] = "counter"

    def dims(self) -> dict:
        return {"n": 2}

    def _pack(self):
        return np.zeros(1), np.zeros(1, dtype=np.int64)


def cnt_init(tdata, tmeta, c):
    c[0] = 0.0
    c[1] = 0.0


def cnt_record(tdata, tmeta, c, row):
    row[0] = c[0]
    row[1] = c[1]


Counter.ops = TaskOps(functions=(cnt_init, cnt_record), init=cnt_init, record=cnt_record,
                      metrics=("steps", "flagged"), slots=(Slot("c", "n"),))


@dataclass(frozen=True)
class Count(Method):
    label: ClassVar[str] = "count"
    provenance: ClassVar[str] = "test"

    def hyper(self, task):
        return np.zeros(1)


def count_init(tdata, tmeta, hyper):
    pass


def count_step(tdata, tmeta, hyper, t, recorded, c):
    c[0] += 1.0
    if recorded:
        c[1] += 1.0


Count.ops = MethodOps(init=count_init, step=count_step)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_recorded_is_true_exactly_before_each_checkpoint(backend):
    cps = [0, 1, 3, 4, 9, 10]
    tr = simulate(Counter(), Count(), steps=10, replicas=2, seed=0, backend=backend,
                  checkpoints=cps)
    np.testing.assert_array_equal(tr.metric("steps")[:, 0], cps)
    # flagged steps: t = 0, 2, 3, 8, 9 (those producing the states at 1, 3, 4, 9, 10)
    np.testing.assert_array_equal(tr.metric("flagged")[:, 0], [0, 1, 2, 3, 4, 5])
