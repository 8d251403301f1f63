"""Benchmark: a 64-configuration collab sweep through the engine, the executors and the store.

Workload: family A (``d = 32``, ``eig = (0.1, 1)``, ``sigma = 1``), WGA with uniform weights,
a grid of ``N`` in {1, 2, 4, 8} x ``zeta`` in {0, 0.1, 0.3, 1} x step size in {0.05, 0.1,
0.2, 0.4}: 64 configurations, each ``T = 2000`` steps x ``R = 1024`` replicas (one block, one
task of about 0.5 s on one thread), metrics ``grad_norm_sq``, ``subopt``, ``dist_sq`` at the
default log-spaced checkpoints (44 distinct steps). Every arm runs numba on one thread per process
(``NUMBA_NUM_THREADS=1``), so that processes, not threads, give the parallelism.

Arms, one after the other in this process:

* ``a_engine_loop``: :func:`simlab.simulate` on every configuration in a loop (no store).
* ``b_local_1proc`` and ``b_local_2proc``: :func:`simlab.sweep.run` with the local executor
  (1 and 2 worker processes) into an empty store.
* ``c_dask_local_2``: the same with a 2-worker dask LocalCluster into an empty store.
* ``d_from_store``: :func:`simlab.sweep` again on the store ``b_local_2proc`` filled: every
  record read back, checked and merged into the DataFrame, nothing computed.

Kernels are compiled (or loaded from numba's disk cache) before timing: in this process by a
warm-up call, in the workers when the executor starts; starting the workers and loading the
kernels is reported apart (``startup_seconds``), and ``seconds`` is the timed sweep after it
(``seconds_with_startup`` includes it). ``peak_rss_mb`` is this process's peak resident memory
during the arm (Linux: VmHWM after a reset through ``/proc/self/clear_refs``);
``worker_peak_rss_mb`` the largest a worker reported. ``load_before``/``load_after`` are the
machine's 1-minute load averages: the timings are only as quiet as the machine was.

Targets (issue 3): overhead per task of the local executor,
``(seconds(b_local_1proc) - seconds(a)) / 64``, under 5% of the mean task time of (a);
(b, 2 processes) and (c) each at least 1.7x faster than (a); (d) at least 50x faster than (a).
All four arms must give identical statistics (``identical``).

Usage::

    python benchmarks/sweep_scaling.py            # full workload (about 2.5 minutes on 2 cores)
    python benchmarks/sweep_scaling.py --quick    # smoke test (8 small configurations)
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported, here and in the workers

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import simlab  # noqa: E402
from simlab.meta import dumps  # noqa: E402
from simlab.sweep import DaskExecutor, ProcessExecutor, Sweep, load, run  # noqa: E402

NAME = "sweep_scaling"
METRICS = ["grad_norm_sq", "subopt", "dist_sq"]


def make_spec(quick: bool) -> Sweep:
    """The benchmark's sweep (64 configurations; 8 small ones with ``quick``)."""
    grid = {"n_aux": [1, 2, 4, 8], "zeta": [0.0, 0.1, 0.3, 1.0],
            "step_size": [0.05, 0.1, 0.2, 0.4]}
    if quick:
        grid = {"n_aux": [1, 4], "zeta": [0.0, 1.0], "step_size": [0.1, 0.2]}
    return Sweep.build(
        name=NAME, task={"name": "SharedHessianQuadratics", "d": 8 if quick else 32,
                         "eig": (0.1, 1.0), "sigma": 1.0},
        method={"name": "WGA", "weights": "uniform"}, grid=grid,
        steps=200 if quick else 2000, replicas=64 if quick else 1024, blocks=1, seed=1,
        metrics=METRICS)


# --- measurement helpers --------------------------------------------------------------------

def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _arm(fn) -> tuple[dict, object]:
    """Run ``fn() -> (result dict, value)`` with the load and peak memory recorded."""
    _reset_peak()
    load_before = os.getloadavg()[0]
    res, value = fn()
    res.update(peak_rss_mb=round(_peak_mb(), 1), load_before=round(load_before, 2),
               load_after=round(os.getloadavg()[0], 2))
    return res, value


def engine_loop(spec: Sweep) -> tuple[dict, pd.DataFrame]:
    """Arm (a): the engine in a loop; returns the final means as a frame for comparison."""
    times, means = [], []
    t0 = time.perf_counter()
    for c in spec.configurations:
        t = time.perf_counter()
        tr = simlab.simulate(c.task, c.method, spec.steps, replicas=spec.replicas,
                             seed=spec.seeds[0], checkpoints=spec.checkpoint_array,
                             derived=spec.derived_for(c.task, c.method))
        times.append(time.perf_counter() - t)
        means.append([tr.mean(m) for m in spec.metrics])
    seconds = time.perf_counter() - t0
    return ({"seconds": round(seconds, 3), "mean_task_seconds": round(float(np.mean(times)), 4),
             "tasks": len(times)}, np.array(means))


def executor_arm(spec: Sweep, store: str, executor) -> tuple[dict, pd.DataFrame]:
    """Arms (b) and (c): an executor into an empty store; start-up reported apart."""
    with executor as ex:
        rep = run(spec, store=store, executor=ex, quiet=True)
    if not rep.ok or rep.computed != len(spec.records()):
        raise RuntimeError(str(rep))
    timed = rep.seconds - rep.startup_seconds
    return ({"seconds": round(timed, 3), "startup_seconds": round(rep.startup_seconds, 3),
             "seconds_with_startup": round(rep.seconds, 3), "workers": ex.workers,
             "threads_per_worker": ex.threads, "task_seconds_sum": round(rep.task_seconds, 3),
             "worker_peak_rss_mb": round(rep.worker_peak_rss_mb, 1)},
            load(spec, store=store))


def from_store(spec: Sweep, store: str) -> tuple[dict, pd.DataFrame]:
    """Arm (d): the whole sweep again, every record served from the store."""
    t0 = time.perf_counter()
    df = simlab.sweep(spec, store=store, quiet=True)
    return {"seconds": round(time.perf_counter() - t0, 4)}, df


def _final_means(spec: Sweep, df: pd.DataFrame) -> np.ndarray:
    """``[config, metric, checkpoint]`` means from a sweep frame, in the spec's order."""
    out = []
    for c in spec.configurations:
        rows = df[df["key"] == c.key]
        out.append([rows[rows["metric"] == m]["mean"].to_numpy() for m in spec.metrics])
    return np.array(out)


def _target(value: float, op: str, goal: float) -> dict:
    ok = value >= goal if op == ">=" else value <= goal
    return {"value": round(float(value), 4), "goal": f"{op} {goal:g}", "pass": bool(ok)}


def run_benchmark(quick: bool) -> dict:
    """All arms, the comparison and the targets, as the JSON record."""
    spec = make_spec(quick)
    n = len(spec.records())
    t = time.perf_counter()
    c0 = spec.configurations[0]
    simlab.simulate(c0.task, c0.method, 10, replicas=2, checkpoints=3)  # compile / load
    warmup = time.perf_counter() - t
    results: dict = {}
    results["a_engine_loop"], means_a = _arm(lambda: engine_loop(spec))
    results["a_engine_loop"]["warmup_seconds"] = round(warmup, 3)
    frames = {}
    with tempfile.TemporaryDirectory(prefix="simlab-bench-") as tmp:
        arms = {"b_local_1proc": lambda: ProcessExecutor(workers=1, threads=1),
                "b_local_2proc": lambda: ProcessExecutor(workers=2, threads=1),
                "c_dask_local_2": lambda: DaskExecutor(local=2, threads=1)}
        for name, make in arms.items():
            results[name], frames[name] = _arm(
                lambda name=name, make=make: executor_arm(spec, f"{tmp}/{name}", make()))
        results["d_from_store"], frames["d_from_store"] = _arm(
            lambda: from_store(spec, f"{tmp}/b_local_2proc"))
    ref = frames["b_local_1proc"]
    identical = all(ref.equals(f) for f in frames.values())
    identical &= bool(np.array_equal(_final_means(spec, ref), means_a))
    a = results["a_engine_loop"]
    overhead = ((results["b_local_1proc"]["seconds"] - a["seconds"]) / n
                / a["mean_task_seconds"])
    overhead_startup = ((results["b_local_1proc"]["seconds_with_startup"] - a["seconds"]) / n
                        / a["mean_task_seconds"])
    results["b_local_1proc"]["overhead_per_task_fraction"] = round(overhead, 4)
    results["b_local_1proc"]["overhead_with_startup_fraction"] = round(overhead_startup, 4)
    targets = {
        "overhead_per_task_fraction": _target(overhead, "<=", 0.05),
        "speedup_local_2proc": _target(a["seconds"] / results["b_local_2proc"]["seconds"],
                                       ">=", 1.7),
        "speedup_dask_local_2": _target(a["seconds"] / results["c_dask_local_2"]["seconds"],
                                        ">=", 1.7),
        "speedup_from_store": _target(a["seconds"] / results["d_from_store"]["seconds"],
                                      ">=", 50.0),
        "identical_results": {"value": identical, "goal": "== true", "pass": identical},
    }
    import dask
    import distributed
    import pyarrow

    return {
        "benchmark": NAME,
        "threads": int(numba.get_num_threads()),
        "versions": {
            "simlab": simlab.__version__, "numba": numba.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "pyarrow": pyarrow.__version__, "dask": dask.__version__,
            "distributed": distributed.__version__, "python": platform.python_version(),
            "llvmlite": metadata.version("llvmlite"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.system()}",
        },
        "params": {
            "family": "A (SharedHessianQuadratics)", "method": "WGA(uniform)",
            "d": spec.tasks[0].cls(**dict(spec.tasks[0].params)).d,
            "grid": {k: list(v) for k, v in spec.grid}, "configurations": n,
            "T": spec.steps, "R": spec.replicas, "blocks": spec.blocks,
            "checkpoints": int(len(spec.checkpoint_array)), "metrics": METRICS,
            "numba_threads_per_process": 1, "quick": quick,
        },
        "results": results,
        "targets": targets,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: print the JSON line; ``--out FILE`` also appends it to FILE."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="8 small configurations (smoke test)")
    p.add_argument("--out", default=None, help="append the JSON line to this file")
    args = p.parse_args(argv)
    line = dumps(run_benchmark(args.quick))
    print(line)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
