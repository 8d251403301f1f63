"""A paper that is not collab, in a few dozen lines: the engine's proof of generality.

It lives only in the tests and uses nothing of ``simlab/engine/`` beyond the contract:

* :class:`OUProcess`, a task family: ``n`` independent Ornstein-Uhlenbeck coordinates
  ``dx = -theta x dt + s dW`` from ``x_0``, with its own metrics (``position``, the mean
  coordinate, and ``energy``, ``||x||^2 / 2``), a derived ``avg_energy``, and an exact law;
* :class:`EulerMaruyama`, a method: ``x <- x - theta dt x + s sqrt(dt) z`` with its own stream
  group, requiring the task's ``ou_drift`` op;
* :class:`SampleMean` / :class:`UniformSource`, a plain numpy loop (runner protocol) whose
  x-axis is the number of samples drawn.

The README's "Adding a paper" section shows the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simlab.engine.declare import MethodOps, RunningMean, Slot, StreamGroup, TaskOps
from simlab.engine.model import LoopMethod, Method, Task
from simlab.engine.rng import normal


@dataclass(frozen=True)
class OUProcess(Task):
    """``n`` independent OU coordinates: ``x_{t+1} = (1 - theta dt) x_t + s sqrt(dt) z``."""

    n: int = 3
    theta: float = 1.0
    s: float = 0.5
    x0: float = 2.0
    family: ClassVar[str] = "OU"

    def dims(self) -> dict:
        return {"n": self.n}

    def _pack(self):
        return np.array([self.theta, self.s, self.x0]), np.array([self.n], dtype=np.int64)

    def exact_moments(self, method, steps, checkpoints) -> dict:
        """``E position`` and ``E energy`` of the Euler-Maruyama chain (a linear recursion)."""
        r = 1 - self.theta * method.dt
        t = np.asarray(checkpoints, dtype=float)
        mean = self.x0 * r ** t
        var = self.s ** 2 * method.dt * (1 - r ** (2 * t)) / (1 - r ** 2)
        return {"position": mean, "energy": 0.5 * self.n * (mean ** 2 + var)}


def ou_init(tdata, tmeta, x):
    for k in range(x.shape[0]):
        x[k] = tdata[2]


def ou_energy(tdata, tmeta, x):
    e = 0.0
    for k in range(x.shape[0]):
        e += 0.5 * x[k] * x[k]
    return e


def ou_record(tdata, tmeta, x, row):
    p = 0.0
    for k in range(x.shape[0]):
        p += x[k]
    row[0] = p / x.shape[0]
    row[1] = ou_energy(tdata, tmeta, x)


def ou_drift(tdata, tmeta, x, k):
    return -tdata[0] * x[k]


OUProcess.ops = TaskOps(functions=(ou_init, ou_energy, ou_record, ou_drift), init=ou_init,
                        record=ou_record, metrics=("position", "energy"),
                        derived=(RunningMean("avg_energy", ou_energy),),
                        slots=(Slot("x", "n"),), finite=("x",))


@dataclass(frozen=True)
class EulerMaruyama(Method):
    """The Euler-Maruyama step of size ``dt``."""

    dt: float = 0.1
    label: ClassVar[str] = "EM"
    provenance: ClassVar[str] = "test"

    def validate(self, task):
        if not 0 < self.dt < 1:
            raise ValueError(f"dt must be in (0, 1), got {self.dt}")

    def hyper(self, task):
        return np.array([self.dt, task.s * math.sqrt(self.dt)])


def em_init(tdata, tmeta, hyper):
    pass


def em_step(tdata, tmeta, hyper, x, noise):
    for k in range(x.shape[0]):
        x[k] += hyper[0] * ou_drift(tdata, tmeta, x, k) + hyper[1] * normal(noise[k])


EulerMaruyama.ops = MethodOps(init=em_init, step=em_step, streams=(StreamGroup("noise", "n"),),
                              requires=("ou_drift",))


# --- a plain numpy loop through the runner protocol ------------------------------------------

@dataclass(frozen=True)
class UniformSource(Task):
    """Uniform samples on ``[0, width]`` (a task with no kernel: loops only)."""

    width: float = 2.0


@dataclass(frozen=True)
class SampleMean(LoopMethod):
    """The running mean of the samples drawn so far; axis: samples."""

    metrics: ClassVar[tuple] = ("mean", "error")
    axis: ClassVar[str] = "samples"
    label: ClassVar[str] = "running mean"

    def run_replica(self, task, streams, checkpoints):
        x = streams.generator(0).uniform(0.0, task.width, int(checkpoints[-1]) + 1)
        csum = np.cumsum(x)
        n = np.maximum(checkpoints, 1)
        mean = csum[n - 1] / n
        return np.stack([mean, np.abs(mean - task.width / 2)], axis=1)
