"""Benchmark: one backward from ten forward on an MLP: full, uniform, water-filling; one JSON line.

Workload (subsample spec 2.3 and 6.1, [R] reconstruction; :mod:`simlab.neural.subsample`):

* stream: :class:`~simlab.neural.subsample.MixtureStream` with its defaults, ``dim = 64``,
  10 classes of 4 Gaussian clusters each (``separation = 4``), per-instance noise scale
  lognormal(0, 0.5) (a heavy tail of hard instances), made on the fly from the seed:
  782 windows of ``n = 256`` = 200,192 instances; a fixed held-out test set of 10,000;
* model: MLP 64-512-512-10 (ReLU), Adam (lr 1e-3), one optimiser step per window; the
  serving copy is refreshed every 10 windows;
* arms, all on the same stream and from the same initial weights per seed: (1) ``full``,
  every instance (``rho = 1``); (2) ``uniform``, Poisson with ``p = 0.1``, weights 10;
  (3) ``waterfill`` [R], ``inclusion_probabilities(l~, 25.6, epsilon=0.1)`` then Poisson, HT
  weights: (2) and (3) have 1 backward per 10 forwards;
* seeds 0..9, each running the three arms one after the other (so a change of load on the
  machine hits them alike); seed 0 is the main run, the ten together give the paired
  comparison of final accuracies. Every seed uses the full stream;
* torch on ONE thread (``threads=1``): on this shared 2-core machine two torch threads
  measured 4-10x slower than one at a load of 5 (they spin-wait on each other), which would
  make the timings a measure of the neighbours.

Measured per arm: wall seconds of the training system without the serving forwards
(``seconds_train``: sampler, training forward and backward, optimiser step, serving-copy
refresh), of the serving forwards (``seconds_serving``) and both (``seconds_total``; making the
stream and the test evaluations are timed apart and excluded). *Final accuracy* is the mean
test accuracy over the checkpoints in the last 10% of the stream (41 checkpoints, every ~4,900
instances). *Time to target*: wall seconds at the first checkpoint whose test accuracy is
within 0.01 of full training's final accuracy of the same seed (``"never"`` if none), without
and with the serving forwards; full training needs no serving forward, so its own time to
target is its ``seconds_train`` in both comparisons (the conservative reading).

Sampler alone: :func:`simlab.subsample.waterfill` on ``n = 10^6`` lognormal(0, 1) losses with
``k = 10^5``, beside ``numpy.argpartition`` of the same array at ``n - k``: 15 timed pairs of
calls, back to back, after one warm-up call each. ``seconds`` is the median of each; the ratio
the target judges is the median of the 15 per-pair ratios (both calls of a pair run within a
few milliseconds, so a burst of load from a neighbour on the shared machine hits both; the
ratio of the two medians, also reported, is not protected that way).

Also reported, without a target: each subsampled arm's speedup at its *own* final accuracy
(full training's training seconds to reach that accuracy over the arm's), and water-filling's
backward passes to reach uniform's final accuracy as a fraction of uniform's (spec 6.4's
suggested pass criterion is 0.5-0.7).

Targets: (a) water-filling reaches the target at least 3x sooner than full training without the
serving forwards (main run, seed 0; the median over seeds is reported beside it); (b) over the
10 paired seeds, water-filling's final accuracy minus uniform's has a 95% paired t interval
above 0; (c) the sampler alone at most 3x ``argpartition`` and (d) under 30 ms. A target not met
is a finding (``"pass": false``, also written ``"met"``), not a bug.

Why this setting. It was fixed before any subsampled run was looked at, from the issue's
floors (stream >= 2*10^5, dim >= 64, width >= 512, window >= 256, rho = 0.1) and the library's
defaults: Adam at its default learning rate, epsilon = 0.1 (the spec's smoothing; it bounds
the HT weights by n/(epsilon k) = 100), refresh every 10 windows (a moderately stale serving
model, spec 6.1), two hidden layers so that the backward pass is the dominant cost, as it is
in the deployments the paper targets. The one check made beforehand was on full training
alone: that the budget binds, i.e. full training is still gaining accuracy in the second half
of the stream (0.79 -> 0.815 test accuracy; the nearest-cluster-mean rule, close to the Bayes
rule, scores 0.84), so that the comparison is not decided by every arm saturating.

Usage::

    python benchmarks/subsample_neural.py          # full workload (about 5-6 minutes, 2 cores)
    python benchmarks/subsample_neural.py --quick  # smoke test (about 10 s)
    python benchmarks/subsample_neural.py --out benchmarks/results.jsonl
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
import torch
from scipy import stats as sps

import simlab
from simlab.meta import dumps, git_commit, peak_rss_mb, reset_peak_rss
from simlab.neural.subsample import MixtureStream, NeuralSubsample, run_subsample
from simlab.subsample import waterfill

NAME = "subsample_neural"
ARMS = ("full", "uniform", "waterfill")
TAIL = 0.1  # final accuracy: mean over the checkpoints in the last 10% of the stream
WITHIN = 0.01  # time to target: within 1 point of full training's final accuracy


# --- measurement helpers ---------------------------------------------------------------------

def _numba_version() -> str:
    """numba's version (the README's benchmark header names it; the sampler is numpy)."""
    import numba

    return numba.__version__


def _load() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def _log(msg: str) -> None:
    print(f"[{NAME}] {msg}", file=sys.stderr, flush=True)


def _never(x: float) -> float | str:
    return "never" if math.isinf(x) else round(float(x), 4)


def _target(value, op: str, goal: float) -> dict:
    v = float(value)
    ok = v >= goal if op == ">=" else v <= goal if op == "<=" else v > goal
    return {"value": round(v, 4), "goal": f"{op} {goal:g}", "pass": bool(ok), "met": bool(ok)}


# --- the workload ---------------------------------------------------------------------------

def make_setting(quick: bool, threads: int) -> tuple[MixtureStream, dict[str, NeuralSubsample]]:
    """The stream and the three arms (see the module docstring)."""
    task = MixtureStream()
    base = dict(window=256, hidden=(512, 512), optimizer="adam", lr=1e-3, refresh=10,
                epsilon=0.1, test_size=2000 if quick else 10_000, threads=threads)
    arms = {"full": NeuralSubsample(sampler="full", **base),
            "uniform": NeuralSubsample(sampler="uniform", rho=0.1, **base),
            "waterfill": NeuralSubsample(sampler="waterfill", rho=0.1, **base)}
    return task, arms


def time_sampler(n: int, k: int, repeat: int, seed: int = 0) -> dict:
    """Median seconds of ``waterfill`` and of ``argpartition`` on the same lognormal losses."""
    losses = np.random.default_rng(seed).lognormal(0.0, 1.0, n)
    p = waterfill(losses, k)  # warm-up
    np.argpartition(losses, n - k)
    wf, ap = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = waterfill(losses, k)
        wf.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        np.argpartition(losses, n - k)
        ap.append(time.perf_counter() - t0)
    ratios = np.array(wf) / np.array(ap)  # each pair ran back to back: same load on both
    return {"sampler_waterfill": {"seconds": round(float(np.median(wf)), 5),
                                  "all_seconds": [round(x, 5) for x in wf], "n": n, "k": k,
                                  "sum_p": float(p.sum()), "capped": int((p >= 1).sum()),
                                  "over_argpartition_paired_median": round(
                                      float(np.median(ratios)), 4),
                                  "over_argpartition_ratio_of_medians": round(
                                      float(np.median(wf) / np.median(ap)), 4)},
            "sampler_argpartition": {"seconds": round(float(np.median(ap)), 5),
                                     "all_seconds": [round(x, 5) for x in ap], "n": n,
                                     "kth": n - k}}


def run(quick: bool, seeds: int, instances: int | None, threads: int, repeat: int) -> dict:
    """Run every arm on every seed and the sampler timing; return the benchmark record."""
    task, arms = make_setting(quick, threads)
    instances = instances or (10_240 if quick else 200_000)
    n_cp = 10 if quick else 40
    load_before = _load()
    res: dict = {a: [] for a in ARMS}
    peaks: dict = {a: 0.0 for a in ARMS}
    t_all = time.perf_counter()
    for s in range(seeds):
        for a in ARMS:
            reset_peak_rss()
            r = run_subsample(task, arms[a], instances=instances, seed=s, checkpoints=n_cp)
            peaks[a] = max(peaks[a], peak_rss_mb())
            res[a].append(r)
            _log(f"seed {s} {a}: train {r.seconds_train[-1]:.2f} s, serving "
                 f"{r.seconds_serving[-1]:.2f} s, final acc {r.final('test_acc', TAIL):.4f}, "
                 f"backward {r.backward[-1]}")
    bench_seconds = time.perf_counter() - t_all

    # per seed: the target (full training's final accuracy - 0.01) and each arm's time to it
    per: dict = {a: {"final_acc": [], "tt_train": [], "tt_total": [], "tt_backward": [],
                     "tt_instances": []} for a in ARMS}
    targets_acc = []
    for s in range(seeds):
        tgt = res["full"][s].final("test_acc", TAIL) - WITHIN
        targets_acc.append(tgt)
        for a in ARMS:
            r = res[a][s]
            per[a]["final_acc"].append(r.final("test_acc", TAIL))
            per[a]["tt_train"].append(r.time_to(tgt))
            per[a]["tt_total"].append(r.time_to(tgt, serving=True))
            per[a]["tt_backward"].append(r.time_to(tgt, axis="backward"))
            per[a]["tt_instances"].append(r.time_to(tgt, axis="instances"))

    results: dict = {}
    for a in ARMS:
        r = res[a][0]
        fa = np.array(per[a]["final_acc"])
        results[a] = {
            "seconds": round(float(r.seconds_total[-1]), 4),
            "seconds_train": round(float(r.seconds_train[-1]), 4),
            "seconds_serving": round(float(r.seconds_serving[-1]), 4),
            "seconds_total": round(float(r.seconds_total[-1]), 4),
            "seconds_stream": round(r.info["seconds_stream"], 4),
            "seconds_eval": round(r.info["seconds_eval"], 4),
            "peak_rss_mb": round(peaks[a], 1),
            "instances": int(r.instances[-1]), "backward": int(r.backward[-1]),
            "final_test_acc": round(r.final("test_acc", TAIL), 5),
            "final_test_loss": round(r.final("test_loss", TAIL), 5),
            "last_test_acc": round(float(r.test_acc[-1]), 5),
            "max_coef": round(float(r.max_coef.max()), 5),
            "time_to_target_seconds_train": _never(per[a]["tt_train"][0]),
            "time_to_target_seconds_total": _never(per[a]["tt_total"][0]),
            "time_to_target_backward": _never(per[a]["tt_backward"][0]),
            "time_to_target_instances": _never(per[a]["tt_instances"][0]),
            "seeds": {
                "final_test_acc": [round(x, 5) for x in fa],
                "final_test_acc_mean": round(float(fa.mean()), 5),
                "final_test_acc_se": round(float(fa.std(ddof=1) / math.sqrt(fa.size)), 5)
                if fa.size > 1 else 0.0,
                "time_to_target_seconds_train": [_never(x) for x in per[a]["tt_train"]],
                "time_to_target_seconds_total": [_never(x) for x in per[a]["tt_total"]],
                "reached_target": int(np.isfinite(per[a]["tt_train"]).sum()),
                "seconds_train": [round(float(x.seconds_train[-1]), 3) for x in res[a]],
                "seconds_serving": [round(float(x.seconds_serving[-1]), 3) for x in res[a]],
            },
        }
    # speedups (full's time to target over the arm's; 0 when the arm never gets there)
    for a in ("uniform", "waterfill"):
        full_tt = np.array(per["full"]["tt_train"])
        sp_tr = full_tt / np.array(per[a]["tt_train"])
        sp_to = full_tt / np.array(per[a]["tt_total"])
        results[a]["speedup_to_target_excluding_serving"] = round(float(sp_tr[0]), 4)
        results[a]["speedup_to_target_including_serving"] = round(float(sp_to[0]), 4)
        results[a]["seeds"]["speedup_to_target_excluding_serving"] = [round(float(x), 4)
                                                                      for x in sp_tr]
        results[a]["seeds"]["speedup_to_target_excluding_serving_median"] = round(
            float(np.median(sp_tr)), 4)
        results[a]["seeds"]["speedup_to_target_including_serving_median"] = round(
            float(np.median(sp_to)), 4)
    # informative, no target: the speedup at the arm's own final accuracy (full training's
    # seconds to reach it over the arm's), and water-filling's backward passes to reach
    # uniform's final accuracy as a fraction of uniform's (spec 6.4 suggests <= 0.5-0.7)
    for a in ("uniform", "waterfill"):
        sp_tr, sp_to = [], []
        for s in range(seeds):
            af = per[a]["final_acc"][s]
            full_t = res["full"][s].time_to(af)
            sp_tr.append(full_t / res[a][s].time_to(af))
            sp_to.append(full_t / res[a][s].time_to(af, serving=True))
        results[a]["speedup_at_own_final_acc_excluding_serving"] = round(float(sp_tr[0]), 4)
        results[a]["speedup_at_own_final_acc_including_serving"] = round(float(sp_to[0]), 4)
        results[a]["seeds"]["speedup_at_own_final_acc_excluding_serving_median"] = round(
            float(np.median(sp_tr)), 4)
        results[a]["seeds"]["speedup_at_own_final_acc_including_serving_median"] = round(
            float(np.median(sp_to)), 4)
    frac = [res["waterfill"][s].time_to(per["uniform"]["final_acc"][s], axis="backward")
            / res["uniform"][s].backward[-1] for s in range(seeds)]
    results["waterfill"]["backward_fraction_to_uniform_final_acc"] = _never(frac[0])
    results["waterfill"]["seeds"]["backward_fraction_to_uniform_final_acc"] = [
        _never(x) for x in frac]
    results.update(time_sampler(10**6, 10**5, repeat))

    d = np.array(per["waterfill"]["final_acc"]) - np.array(per["uniform"]["final_acc"])
    if d.size > 1:
        se = float(d.std(ddof=1) / math.sqrt(d.size))
        half = float(sps.t.ppf(0.975, d.size - 1)) * se
    else:
        se, half = float("nan"), float("nan")
    paired = {"seeds": int(d.size), "differences": [round(float(x), 5) for x in d],
              "mean": round(float(d.mean()), 5), "se": round(se, 5),
              "ci95_lo": round(float(d.mean()) - half, 5),
              "ci95_hi": round(float(d.mean()) + half, 5),
              "interval": "paired t, 95%", "waterfill_wins": int((d > 0).sum())}
    results["waterfill_minus_uniform_final_acc"] = paired

    wf = results["sampler_waterfill"]["seconds"]
    targets = {
        "waterfill_speedup_to_target_excluding_serving": _target(
            results["waterfill"]["speedup_to_target_excluding_serving"], ">=", 3.0),
        "waterfill_minus_uniform_final_acc_ci95_lo": _target(paired["ci95_lo"], ">", 0.0),
        "sampler_waterfill_over_argpartition": _target(
            results["sampler_waterfill"]["over_argpartition_paired_median"], "<=", 3.0),
        "sampler_waterfill_seconds": _target(wf, "<=", 0.030),
    }
    m = arms["waterfill"]
    return {
        "benchmark": NAME,
        "threads": int(threads),
        "versions": {
            "simlab": simlab.__version__, "torch": torch.__version__,
            "numba": _numba_version(),
            "numpy": np.__version__, "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.system()}",
        },
        "git_commit": git_commit(),
        "params": {
            "task": repr(task), "dim": task.dim, "classes": task.n_classes,
            "clusters_per_class": task.clusters_per_class, "separation": task.separation,
            "scale_sigma": task.scale_sigma,
            "nearest_mean_test_acc": round(res["full"][0].info["nearest_mean_test_acc"], 5),
            "model": f"MLP {task.dim}-" + "-".join(map(str, m.hidden)) + f"-{task.n_classes}",
            "optimizer": m.optimizer, "lr": m.lr, "window": m.window, "rho": m.rho,
            "k": m.rho * m.window, "refresh": m.refresh, "epsilon": m.epsilon,
            "design": m.design, "uniform_design": m.uniform_design,
            "instances": int(res["full"][0].instances[-1]),
            "windows": int(res["full"][0].windows[-1]), "checkpoints": n_cp + 1,
            "test_size": m.test_size, "seeds": list(range(seeds)),
            "seeds_stream": "full stream for every seed", "main_seed": 0,
            "final": f"mean test accuracy over the checkpoints in the last {TAIL:g} of the "
                     f"stream", "target": f"full training's final accuracy - {WITHIN:g}, "
                                         f"per seed",
            "target_acc": [round(x, 5) for x in targets_acc],
            "sampler_timing": {"n": 10**6, "k": 10**5, "losses": "lognormal(0, 1)",
                               "repeat": repeat,
                               "statistic": "median; ratio: median of paired ratios"},
            "bench_seconds": round(bench_seconds, 2), "load_before": load_before,
            "load_after": _load(), "quick": bool(quick),
        },
        "results": results,
        "targets": targets,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: print the JSON line; ``--out FILE`` also appends it to FILE."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 10,240 instances, 2 seeds, test set of 2,000")
    p.add_argument("--seeds", type=int, default=None, help="paired seeds (default 10; quick 2)")
    p.add_argument("--instances", type=int, default=None, help="override the stream length")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--repeat", type=int, default=15,
                   help="timed pairs of sampler calls (default 15)")
    p.add_argument("--out", default=None, help="append the JSON line to this file")
    args = p.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 10)
    if seeds < 1 or args.threads < 1 or args.repeat < 1:
        p.error("--seeds, --threads and --repeat must be integers >= 1")
    record = run(args.quick, seeds, args.instances, args.threads, args.repeat)
    line = dumps(record)
    print(line)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
