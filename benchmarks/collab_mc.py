"""Benchmark: WGA on family A with the numba engine against plain NumPy; one JSON line.

Workload (collab spec, family A): ``d = 64``, ``N = 16`` auxiliary tasks (17 in all),
eigenvalues log-spaced in ``[0.1, 1]``, ``zeta_i = 0.1``, ``sigma_i = 1``, uniform weights,
step size 0.5, ``x_0 = 0``, ``T = 2000`` steps, ``R = 1024`` replicas, float64, and
``||grad f_0(x_t)||^2`` recorded at 50 log-spaced checkpoints (44 distinct integers).

Implementations, run one after the other in this process:

* ``numba_aggregated`` (a): :func:`simlab.simulate` as users get it (``aggregate_noise=True``:
  two normals per coordinate and step, task 0's and the auxiliary tasks' summed noise).
* ``numba_aggregated_1thread``: (a) with ``numba.set_num_threads(1)`` (thread scaling).
* ``numba_separate`` (b): the engine with every task's noise drawn separately
  (``aggregate_noise=False``: 17 normals per coordinate and step).
* ``numpy`` (c): plain NumPy vectorized over replicas: ``x`` is ``(R, d)``; each step draws the
  ``(R, N+1, d)`` noise from ``numpy.random.default_rng``.
* ``numpy_draws_only`` (d): NumPy drawing only those ``(N+1) d T R`` normals, in per-step chunks
  into one reused buffer (memory stays small).

The numba implementations get a warm-up call first (compilation, or loading numba's on-disk
cache), reported apart as ``warmup_seconds``; ``seconds`` is the best of ``--repeat`` timed calls
for (a) on all threads and on one (alternating, so that a change of load on a shared machine
affects both alike) and one call for the others. ``peak_rss_mb`` is the process's peak resident
memory while that implementation ran (Linux: VmHWM after resetting it through
``/proc/self/clear_refs``; elsewhere the process peak so far), so it includes the interpreter,
numpy and numba (about 150-250 MB). The final mean of ``||grad f_0||^2`` of (a), (b) and (c) is
shown beside its exact value at ``T`` (:func:`simlab.collab.moments.exact_metrics`; at
``T = 2000`` it equals the stationary value to many digits).

Usage::

    python benchmarks/collab_mc.py                 # full workload (about 1.5 minutes)
    python benchmarks/collab_mc.py --quick         # smoke test (R = 128, T = 200)
    python benchmarks/collab_mc.py --out benchmarks/results.jsonl
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib import metadata

import numba
import numpy as np

import simlab
from simlab import simulate
from simlab.collab import WGA
from simlab.collab.moments import exact_metrics
from simlab.engine.simulate import log_checkpoints
from simlab.meta import dumps, peak_rss_mb, reset_peak_rss
from simlab.tasks import SharedHessianQuadratics

NAME = "collab_mc"


# --- memory --------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"[{NAME}] {msg}", file=sys.stderr, flush=True)


# --- the workload ---------------------------------------------------------------------------

def make_task(aggregate_noise: bool) -> SharedHessianQuadratics:
    """Family A as specified above (``x_0 = 0``, ``||x_0 - x_0*|| = 1``)."""
    return SharedHessianQuadratics(d=64, n_aux=16, eig=(0.1, 1.0), zeta=0.1, sigma=1.0,
                                   bias_directions="random", x0_dist=1.0, seed=0,
                                   aggregate_noise=aggregate_noise)


METHOD = WGA(weights="uniform", step_size=0.5)


def numpy_wga(task: SharedHessianQuadratics, eta: float, steps: int, replicas: int,
              checkpoints: np.ndarray, seed: int) -> np.ndarray:
    """WGA in plain NumPy, vectorized over replicas; ``||grad f_0||^2`` at ``checkpoints``.

    Parameters
    ----------
    task : SharedHessianQuadratics
        The instance (its eigenvalues, optima and noise levels).
    eta : float
        Step size.
    steps, replicas : int
        ``T`` and ``R``.
    checkpoints : ndarray of int
        Sorted steps in ``[0, T]``.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray, shape (len(checkpoints), R)
    """
    rng = np.random.default_rng(seed)
    lam = task.eigenvalues
    xs = task.optima()
    alpha = METHOD.alpha(task)
    d, n1 = task.d, task.n_tasks
    coef = alpha * task.sigmas / np.sqrt(d)  # weight of each task's standard normal noise
    shift = lam * (alpha @ xs)  # sum_i alpha_i A x_i*
    asum = alpha.sum()
    x = np.zeros((replicas, d))
    z = np.empty((replicas, n1, d))
    out = np.empty((checkpoints.size, replicas))
    k = 0
    for t in range(steps + 1):
        while k < checkpoints.size and checkpoints[k] == t:
            g0 = lam * (x - xs[0])
            out[k] = np.einsum("rd,rd->r", g0, g0)
            k += 1
        if t == steps:
            break
        rng.standard_normal(out=z)
        noise = np.einsum("rid,i->rd", z, coef)
        x -= eta * (lam * (asum * x) - shift + noise)
    return out


def numpy_draws_only(n_tasks: int, d: int, steps: int, replicas: int, seed: int) -> float:
    """Draw ``n_tasks * d * steps * replicas`` normals in per-step chunks; returns a checksum."""
    rng = np.random.default_rng(seed)
    z = np.empty((replicas, n_tasks, d))
    acc = 0.0
    for _ in range(steps):
        rng.standard_normal(out=z)
        acc += z[0, 0, 0]
    return acc


# --- timing -----------------------------------------------------------------------------------

def _run(label: str, fn) -> tuple[dict, object]:
    """Time one call of ``fn()`` and record the peak RSS while it ran."""
    reset_peak_rss()
    t0 = time.perf_counter()
    value = fn()
    rec = {"seconds": round(time.perf_counter() - t0, 4), "peak_rss_mb": round(peak_rss_mb(), 1)}
    _log(f"{label}: {rec['seconds']:.3f} s")
    return rec, value


def _warmup(task, seed: int) -> float:
    t0 = time.perf_counter()
    simulate(task, METHOD, steps=5, replicas=2, seed=seed)
    return round(time.perf_counter() - t0, 4)


def run(steps: int, replicas: int, repeat: int, seed: int = 1) -> dict:
    """Run every implementation and return the benchmark record (see the module docstring)."""
    threads = numba.get_num_threads()
    cps = log_checkpoints(steps, 50)
    agg, sep = make_task(True), make_task(False)
    exact = float(exact_metrics(agg, METHOD, steps, cps)[-1, 0])
    d, n1 = agg.d, agg.n_tasks
    results: dict = {}
    finals: dict = {}

    def engine(task):
        return lambda: simulate(task, METHOD, steps=steps, replicas=replicas, seed=seed,
                                checkpoints=cps)

    # (a) as users get it, on all threads, and on one: the timed calls alternate (all, one,
    # all, one, ...) so that a change of load on the machine hits both alike
    warm = _warmup(agg, seed)
    times: dict = {threads: [], 1: []}
    peaks: dict = {threads: 0.0, 1: 0.0}
    tr = None
    for _ in range(repeat):
        for nt in dict.fromkeys((threads, 1)):
            numba.set_num_threads(nt)
            try:
                reset_peak_rss()
                t0 = time.perf_counter()
                tr = engine(agg)()
                times[nt].append(time.perf_counter() - t0)
                peaks[nt] = max(peaks[nt], peak_rss_mb())
            finally:
                numba.set_num_threads(threads)
    for nt, name in ((threads, "numba_aggregated"), (1, "numba_aggregated_1thread")):
        if nt == 1 and threads == 1:
            continue
        rec = {"seconds": round(min(times[nt]), 4), "peak_rss_mb": round(peaks[nt], 1),
               "all_seconds": [round(x, 4) for x in times[nt]], "threads": nt}
        if nt == threads:
            rec["warmup_seconds"] = warm
        results[name] = rec
        _log(f"{name}: {rec['seconds']:.3f} s")
    finals["numba_aggregated"] = tr

    # (b) every task's noise drawn separately
    warm = _warmup(sep, seed)
    rec, tr = _run("numba_separate", engine(sep))
    rec["warmup_seconds"] = warm
    rec["threads"] = threads
    finals["numba_separate"] = tr
    results["numba_separate"] = rec

    # (c) plain NumPy, (d) NumPy's draws alone
    rec, gn = _run("numpy", lambda: numpy_wga(agg, METHOD.step_size, steps, replicas, cps, seed))
    finals["numpy"] = gn
    results["numpy"] = rec
    rec, _ = _run("numpy_draws_only", lambda: numpy_draws_only(n1, d, steps, replicas, seed))
    rec["normals"] = n1 * d * steps * replicas
    results["numpy_draws_only"] = rec

    for name, value in finals.items():
        if isinstance(value, np.ndarray):
            final = value[-1]
        else:
            final = value.values[-1, :, 0]
        mean = float(final.mean())
        results[name]["final_grad_norm_sq"] = mean
        results[name]["final_grad_norm_sq_se"] = float(final.std(ddof=1) / np.sqrt(final.size))
        results[name]["rel_error_vs_exact"] = round(abs(mean - exact) / exact, 5)

    a, b = results["numba_aggregated"], results["numba_separate"]
    targets = {
        "numpy_over_numba_aggregated": _target(results["numpy"]["seconds"] / a["seconds"],
                                               ">=", 45.0),
        "numpy_draws_over_numba_separate": _target(
            results["numpy_draws_only"]["seconds"] / b["seconds"], ">=", 2.0),
    }
    if "numba_aggregated_1thread" in results:
        targets["numba_aggregated_1_over_2_threads"] = _target(
            results["numba_aggregated_1thread"]["seconds"] / a["seconds"], ">=", 1.6)
    targets["numba_aggregated_rel_error"] = _target(a["rel_error_vs_exact"], "<=", 0.02)
    targets["numba_separate_rel_error"] = _target(b["rel_error_vs_exact"], "<=", 0.02)

    return {
        "benchmark": NAME,
        "threads": threads,
        "versions": {
            "simlab": simlab.__version__,
            "numba": numba.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "llvmlite": metadata.version("llvmlite"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.system()}",
        },
        "params": {
            "family": "A (SharedHessianQuadratics)", "method": "WGA(uniform)", "d": d,
            "N": n1 - 1, "eig": [0.1, 1.0], "zeta": 0.1, "sigma": 1.0, "step_size": 0.5,
            "x0": "0", "T": steps, "R": replicas, "dtype": "float64",
            "checkpoints": int(cps.size), "seed": seed, "repeat": repeat,
            "exact_final_grad_norm_sq": exact,
        },
        "results": results,
        "targets": targets,
    }


def _target(value: float, op: str, goal: float) -> dict:
    ok = value >= goal if op == ">=" else value <= goal
    return {"value": round(float(value), 4), "goal": f"{op} {goal:g}", "pass": bool(ok)}


def main(argv: list[str] | None = None) -> int:
    """Command line: print the JSON line; ``--out FILE`` also appends it to FILE."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="R = 128, T = 200 (smoke test)")
    p.add_argument("--steps", type=int, default=None, help="override T")
    p.add_argument("--replicas", type=int, default=None, help="override R")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed calls of (a) on all threads and on one, alternating; the best of "
                        "each is reported (default 5)")
    p.add_argument("--out", default=None, help="append the JSON line to this file")
    args = p.parse_args(argv)
    steps = args.steps or (200 if args.quick else 2000)
    replicas = args.replicas or (128 if args.quick else 1024)
    record = run(steps, replicas, max(1, args.repeat))
    record["params"]["quick"] = bool(args.quick)
    line = dumps(record)
    print(line)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
