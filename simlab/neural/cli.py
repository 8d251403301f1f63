"""``simlab neural ...``: neural comparisons from the command line.

``simlab neural collab`` trains task 0 of a label-shifted family (digits by default) with SGD
alone, WGA (uniform and tuned weights) and BC-EMA over several seeds, measures the collab
spec's constants along the runs, prints a table and writes ``collab-neural.csv`` (metrics per
checkpoint and seed), ``collab-neural-constants.csv`` (the measured constants) and
``collab-neural.json`` (the configuration and the summary) to ``--out``.

This module imports neither torch nor scikit-learn at import time: ``simlab verify`` and the
rest of the command line work without the ``neural`` extra.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

METHODS = ("alone", "wga", "wga-opt", "bc")


def _positive_int(name: str):
    def parse(v: str) -> int:
        try:
            k = int(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {v!r}"
                                             ) from None
        if k < 1:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {v!r}")
        return k
    return parse


def _methods(v: str) -> list[str]:
    out = [m.strip() for m in v.split(",") if m.strip()]
    bad = [m for m in out if m not in METHODS]
    if not out or bad:
        raise argparse.ArgumentTypeError(f"--methods must be a comma-separated subset of "
                                         f"{METHODS}, got {v!r}")
    return out


def _momentum(v: str):
    if v == "running":
        return v
    try:
        a = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--momentum must be a float in (0, 1] or 'running', "
                                         f"got {v!r}") from None
    if not 0 < a <= 1:
        raise argparse.ArgumentTypeError(f"--momentum must lie in (0, 1], got {v}")
    return a


def add_neural_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``simlab neural`` and its sub-commands on ``subparsers``.

    Parameters
    ----------
    subparsers
        The object returned by :meth:`argparse.ArgumentParser.add_subparsers`.

    Returns
    -------
    argparse.ArgumentParser
        The ``neural`` parser.
    """
    p = subparsers.add_parser("neural", help="neural comparisons (extra 'neural': PyTorch)",
                              description="Neural comparisons with the simulated models.")
    sub = p.add_subparsers(dest="neural_command", required=True)
    c = sub.add_parser("collab", help="collaborative learning on real data (label shift)",
                       description="Train task 0 of a label-shifted family with SGD alone, "
                       "WGA (uniform and tuned) and BC-EMA over several seeds; measure the "
                       "collab spec's constants along the runs; write CSV and JSON to --out.")
    c.add_argument("--dataset", default="digits", choices=("digits", "mnist", "cifar10"),
                   help="data set (digits ships with scikit-learn; the others need --data-dir)")
    c.add_argument("--data-dir", default=None,
                   help="local folder with the MNIST idx files or the CIFAR-10 python batches")
    c.add_argument("--limit", type=_positive_int("--limit"), default=None,
                   help="use only the first LIMIT examples of the data set")
    c.add_argument("--model", default="mlp", choices=("mlp", "cnn"))
    c.add_argument("--hidden", type=_positive_int("--hidden"), default=64,
                   help="hidden width of the MLP (the CNN's hidden layer)")
    c.add_argument("--n-aux", type=int, default=8, help="number N of auxiliary tasks (>= 0)")
    c.add_argument("--strength", type=float, default=0.2,
                   help="label-shift strength in [0, 1]: fraction of each class relabelled")
    c.add_argument("--shift", default="permutation", choices=("permutation", "swap"),
                   help="each auxiliary task's relabelling")
    c.add_argument("--methods", type=_methods, default=list(METHODS),
                   help=f"comma-separated subset of {','.join(METHODS)}")
    c.add_argument("--alpha0", type=float, default=None,
                   help="task-0 weight of 'wga-opt' (default: WGA-OPT (MSE) with the noise "
                        "and bias measured on the alone and uniform-WGA runs)")
    c.add_argument("--momentum", type=_momentum, default=0.2,
                   help="BC-EMA momentum a in (0, 1], or 'running' (a_t = 1/(t+1))")
    c.add_argument("--eta", type=float, default=0.3, help="step size (> 0)")
    c.add_argument("--batch-size", type=_positive_int("--batch-size"), default=8,
                   help="examples per stochastic gradient, per task")
    c.add_argument("--steps", type=_positive_int("--steps"), default=1500)
    c.add_argument("--seeds", type=_positive_int("--seeds"), default=5,
                   help="number of seeds (replicas), seed, seed+1, ...")
    c.add_argument("--seed", type=int, default=0, help="first training seed (>= 0)")
    c.add_argument("--split-seed", type=int, default=0,
                   help="seed of the test split and the label shifts (>= 0)")
    c.add_argument("--test-per-class", type=_positive_int("--test-per-class"), default=30)
    c.add_argument("--measure", type=int, default=4,
                   help="number of checkpoints at which the constants are measured (>= 0)")
    c.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    c.add_argument("--threads", type=_positive_int("--threads"), default=1,
                   help="torch threads")
    c.add_argument("--out", default=".", help="folder for the CSV and JSON outputs")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_collab)
    return p


def _check(args) -> str | None:
    if args.n_aux < 0:
        return f"--n-aux must be an integer >= 0, got {args.n_aux}"
    if not 0 <= args.strength <= 1:
        return f"--strength must lie in [0, 1], got {args.strength}"
    if not args.eta > 0:
        return f"--eta must be > 0, got {args.eta}"
    if args.seed < 0 or args.split_seed < 0:
        return "--seed and --split-seed must be integers >= 0"
    if args.measure < 0:
        return f"--measure must be >= 0, got {args.measure}"
    if args.alpha0 is not None and not 0 <= args.alpha0 <= 1:
        return f"--alpha0 must lie in [0, 1], got {args.alpha0}"
    if args.dataset != "digits" and args.data_dir is None:
        return f"--dataset {args.dataset} needs --data-dir (simlab never downloads data)"
    return None


def cmd_collab(args) -> int:
    """Run ``simlab neural collab``; return the exit status."""
    err = _check(args)
    if err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print("error: simlab neural needs PyTorch: pip install 'simlab[neural]'",
              file=sys.stderr)
        return 2
    from simlab.neural import collab as nc
    from simlab.neural.data import load_dataset

    t0 = time.perf_counter()
    try:
        data = load_dataset(args.dataset, args.data_dir, "train", args.limit)
        problem = nc.label_shift_problem(args.n_aux, args.strength, kind=args.shift,
                                         batch_size=args.batch_size,
                                         test_per_class=args.test_per_class,
                                         seed=args.split_seed, device=args.device, data=data)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    seeds = list(range(args.seed, args.seed + args.seeds))
    model_kwargs = {"hidden": (args.hidden,)} if args.model == "mlp" else {"hidden": args.hidden}
    study = nc.CollabStudy(problem, steps=args.steps, seeds=seeds, eta=args.eta,
                           momentum=args.momentum, model=args.model, model_kwargs=model_kwargs,
                           n_measure=args.measure, threads=args.threads, quiet=args.quiet)
    results = study.run(args.methods, alpha0=args.alpha0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    frames = [r.to_pandas().assign(label=k) for k, r in results.items()]
    pd.concat(frames, ignore_index=True).to_csv(out / "collab-neural.csv", index=False)
    consts = [r.measured.assign(label=k) for k, r in results.items() if len(r.measured)]
    if consts:
        pd.concat(consts, ignore_index=True).to_csv(out / "collab-neural-constants.csv",
                                                    index=False)
    summary = study.summary(results)
    header = (f"{'method':<22}{'alpha_0':>8}{'test loss':>18}{'test acc':>10}"
              f"{'||grad f0||^2':>16}{'s':>7}")
    print(f"{problem!r}\n{header}\n{'-' * len(header)}")
    for k, row in summary["final"].items():
        print(f"{k:<22}{row['alpha0']:>8.3f}{row['test_loss']:>10.4f} +- "
              f"{row['test_loss_se']:<6.4f}"
              f"{row['test_acc']:>10.3f}{row['grad_norm_sq']:>16.4g}{row['seconds']:>7.1f}")
    c = summary["constants"]
    if c:
        print("measured: " + ", ".join(f"{k} = {v:.4g}" for k, v in c.items()
                                       if isinstance(v, float)))
    meta = {"args": {k: v for k, v in vars(args).items() if k != "func"},
            "problem": problem.info, "seeds": seeds, "summary": summary,
            "seconds": time.perf_counter() - t0}
    from simlab.meta import dumps

    (out / "collab-neural.json").write_text(dumps(meta, indent=1) + "\n")
    print(f"wrote {out / 'collab-neural.csv'}, collab-neural-constants.csv and "
          f"collab-neural.json in {meta['seconds']:.1f} s")
    return 0
