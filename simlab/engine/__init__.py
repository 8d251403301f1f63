"""The Monte Carlo engine: nothing paper-specific, a contract that task families and methods meet.

Parts: :mod:`~simlab.engine.rng` (per-replica streams keyed by ``(seed, replica, source)``),
:mod:`~simlab.engine.declare` (what a family and a method declare),
:mod:`~simlab.engine.kernel` (one kernel factory for numpy, numba and CUDA),
:mod:`~simlab.engine.simulate` (``simulate(...) -> Trace``), :mod:`~simlab.engine.runner`
(the runner protocol for loops that are not kernels), :mod:`~simlab.engine.trace`,
:mod:`~simlab.engine.stats` (statistics and verdict rules) and
:mod:`~simlab.engine.conformance` (the checks every family and method passes).

Adding a paper: a task family declares its ops, slots, stream groups and metrics; a method its
``init`` and ``step``, its slots and streams, and the task ops it requires. Hooks take their
arrays by parameter name. An Ornstein-Uhlenbeck process and its Euler-Maruyama scheme
(``tests/engine/toy.py``)::

    from dataclasses import dataclass
    import math
    import numpy as np
    from simlab.engine.declare import MethodOps, RunningMean, Slot, StreamGroup, TaskOps
    from simlab.engine.model import Method, Task
    from simlab.engine.rng import normal

    @dataclass(frozen=True)
    class OUProcess(Task):
        n: int = 3
        theta: float = 1.0
        s: float = 0.5
        x0: float = 2.0

        def dims(self):
            return {"n": self.n}

        def _pack(self):
            return np.array([self.theta, self.s, self.x0]), np.array([self.n])

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

    OUProcess.ops = TaskOps(functions=(ou_init, ou_energy, ou_record, ou_drift),
                            init=ou_init, record=ou_record, metrics=("position", "energy"),
                            derived=(RunningMean("avg_energy", ou_energy),),
                            slots=(Slot("x", "n"),), finite=("x",))

    @dataclass(frozen=True)
    class EulerMaruyama(Method):
        dt: float = 0.1

        def hyper(self, task):
            return np.array([self.dt, task.s * math.sqrt(self.dt)])

    def em_init(tdata, tmeta, hyper):
        pass

    def em_step(tdata, tmeta, hyper, x, noise):
        for k in range(x.shape[0]):
            x[k] += hyper[0] * ou_drift(tdata, tmeta, x, k) + hyper[1] * normal(noise[k])

    EulerMaruyama.ops = MethodOps(init=em_init, step=em_step,
                                  streams=(StreamGroup("noise", "n"),), requires=("ou_drift",))

    trace = simlab.simulate(OUProcess(), EulerMaruyama(), steps=100, replicas=1000,
                            derived=["avg_energy"])          # numpy, numba or cuda
    trace.mean("energy"), trace.ci("avg_energy")

A loop that is not a kernel (pool-based active learning, a torch run) subclasses
:class:`~simlab.engine.model.LoopMethod` and returns ``(checkpoints, metrics)`` per replica
from ``run_replica(task, streams, checkpoints)``; ``simulate`` gives the same Trace. A claim
(:mod:`simlab.claims`) is then a measurement of such traces, a Bound of ``theory/<paper>.py``
and a check spec.
"""
