"""``simlab sweep run | status | show SPEC.toml``: the command line of the sweep layer.

``run`` computes what the store lacks (exit 1 if a job failed or the dask scheduler was lost,
with the command that resumes), ``status`` counts stored, missing and corrupt records, ``show``
prints a summary table (each configuration's statistics at the last checkpoint, or at
``--step``), names what is missing or corrupt and exits 1 when something is. Bad specs, stores
and settings exit with status 2 and one line naming the parameter, before any work.
"""

from __future__ import annotations

import argparse
import sys

from simlab.sweep.errors import MissingRecords, SweepError


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="sweep spec (TOML file)")
    p.add_argument("--store", default=None,
                   help="store folder or fsspec URL (default: the spec's 'store', else "
                        "$SIMLAB_STORE, else ./.simlab/store)")


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``sweep run|status|show`` to the ``simlab`` command's subparsers."""
    sw = subparsers.add_parser("sweep", help="run a parameter sweep through the result store",
                               description=__doc__.splitlines()[0])
    sub = sw.add_subparsers(dest="sweep_command", required=True)
    r = sub.add_parser("run", help="compute the records the store lacks")
    _store_arg(r)
    r.add_argument("--executor", choices=("local", "serial", "dask", "processes"),
                   default=None, metavar="{local,serial,dask}",
                   help="local: worker processes on this machine (the default; 'processes' is "
                        "the same); serial: in this process; dask: a dask.distributed cluster "
                        "(the default with --scheduler/--dask-local)")
    r.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: cores / threads)")
    r.add_argument("--threads", type=int, default=None,
                   help="numba threads per local worker (default: cores / workers)")
    r.add_argument("--scheduler", metavar="ADDR", default=None,
                   help="run on the dask.distributed scheduler at ADDR (tcp://host:8786)")
    r.add_argument("--dask-local", metavar="N", type=int, default=None,
                   help="start a dask LocalCluster with N workers and run on it")
    r.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the dask scheduler (default 10)")
    r.add_argument("--recompute", action="store_true",
                   help="compute every record again, replacing what is stored")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("status", help="count stored, missing and corrupt records")
    _store_arg(s)
    s.set_defaults(func=cmd_status)
    w = sub.add_parser("show", help="print a summary table of what is stored")
    _store_arg(w)
    w.add_argument("--metric", action="append", default=None,
                   help="metric to show (repeatable; default: the spec's)")
    w.add_argument("--step", type=int, default=None,
                   help="checkpoint to show (default: the last)")
    w.set_defaults(func=cmd_show)
    return sw


def _guard(fn):
    def wrapped(args) -> int:
        try:
            return fn(args)
        except (SweepError, MissingRecords) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    wrapped.__doc__ = fn.__doc__
    return wrapped


@_guard
def cmd_run(args) -> int:
    """``simlab sweep run``: compute what is missing; exit 1 when a job failed."""
    from simlab.sweep.runner import as_spec, run

    spec = as_spec(args.spec)
    print(spec.describe())
    with _quiet_dask(args):
        report = run(spec, store=args.store, executor=args.executor, recompute=args.recompute,
                     quiet=True if args.quiet else None, workers=args.workers,
                     threads=args.threads, scheduler=args.scheduler,
                     dask_local=args.dask_local, timeout=args.timeout)
    print(report)
    if report.lost:
        print(f"error: {report.lost}; {report.records - report.missing} of {report.records} "
              f"records are stored; resume with: {_resume_command(args)}", file=sys.stderr)
    return 0 if report.ok else 1


def _resume_command(args) -> str:
    """The command that resumes a sweep: the same one, or locally."""
    parts = ["simlab sweep run", args.spec]
    if args.store:
        parts += ["--store", args.store]
    same = parts + (["--scheduler", args.scheduler] if args.scheduler else [])
    local = parts + ["--executor", "local"]
    return f"{' '.join(same)} (once the scheduler is back), or {' '.join(local)}"


class _quiet_dask:
    """Silence distributed's log lines while a dask sweep runs: the report says what failed."""

    def __init__(self, args):
        self.on = bool(args.scheduler or args.dask_local or args.executor == "dask")

    def __enter__(self):
        import logging

        if self.on:
            import distributed  # noqa: F401  (configures its loggers; silence them after)

            names = [n for n in logging.root.manager.loggerDict
                     if n.split(".")[0] in ("distributed", "tornado", "asyncio")]
            for name in {"distributed", "tornado", "asyncio", *names}:
                logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        return self

    def __exit__(self, *exc):
        """Leave them silent: a lost scheduler's client logs from its own thread until the
        process exits."""


@_guard
def cmd_status(args) -> int:
    """``simlab sweep status``: what the store holds for the spec."""
    from simlab.sweep.runner import as_spec, status

    spec = as_spec(args.spec)
    print(spec.describe())
    print(status(spec, store=args.store))
    return 0


@_guard
def cmd_show(args) -> int:
    """``simlab sweep show``: mean +- SE of each configuration at one checkpoint; names what
    is missing or corrupt (exit 1 then)."""
    from simlab.sweep.runner import as_spec, load, status

    spec = as_spec(args.spec)
    metrics = args.metric or list(spec.metrics)
    bad = [m for m in metrics if m not in spec.metrics]
    if bad:
        raise SweepError(f"--metric must be among the spec's metrics {list(spec.metrics)}, got "
                         f"{bad}")
    cps = spec.checkpoint_array
    step = int(cps[-1]) if args.step is None else args.step
    if step not in cps:
        raise SweepError(f"--step must be a checkpoint of the spec ({int(cps[0])}, ..., "
                         f"{int(cps[-1])}), got {step}")
    df = load(spec, store=args.store, partial=True)
    print(spec.describe())
    if df.empty:
        print("nothing stored yet; run `simlab sweep run` first")
    else:
        print(summary_table(df, metrics, step, spec.replicas).to_string(index=False))
    st = status(spec, store=args.store)
    if st.stored == st.records:
        return 0
    print(f"\nincomplete: {st.missing} of {st.records} records missing and {len(st.corrupt)} "
          f"corrupt; {st.complete} of {st.configurations} configurations complete:")
    for line in st.gaps[:20]:
        print(f"  {line}")
    if len(st.gaps) > 20:
        print(f"  ... and {len(st.gaps) - 20} more")
    print(f"run `simlab sweep run {args.spec}"
          + (f" --store {args.store}" if args.store else "") + "` to compute them")
    return 1


def summary_table(df, metrics, step: int, replicas: int | None = None):
    """One row per configuration and seed: ``mean +- se`` of each metric at ``step``.

    ``replicas`` reads ``n of N`` where fewer than the spec's ``N`` replicas are stored; a
    diverged configuration shows the step and replica of its first divergence.
    """
    sel = df[(df["step"] == step) & df["metric"].isin(metrics)]
    head = [c for c in df.columns if c not in ("metric", "step", "n", "mean", "std", "se",
                                                "ci_low", "ci_high", "status", "diverged_step",
                                                "diverged_replica", "blocks", "key")]
    rows = []
    for _, g in sel.groupby(head, sort=False, dropna=False):
        first = g.iloc[0]
        row = {c: first[c] for c in head}
        n = int(g["n"].max())
        row["replicas"] = (str(n) if replicas is None or n == replicas or first["status"] !=
                           "ok" else f"{n} of {replicas}")
        for _, r in g.iterrows():
            row[r["metric"]] = (f"{r['mean']:.4g} +- {r['se']:.2g}" if r["status"] == "ok"
                                else f"diverged at t={int(r['diverged_step'])} (replica "
                                     f"{int(r['diverged_replica'])})")
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows)
