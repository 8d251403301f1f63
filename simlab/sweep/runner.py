"""Run a sweep (computing only what the store lacks), report its status, load its results.

:func:`run` reads what the store holds for the spec, checks every record it finds (a
truncated or damaged one is reported and computed again), sends the missing records to the
executor and writes each result as it arrives, so a sweep killed at any point loses only the
records in flight. :func:`load` merges a configuration's blocks into one tidy table;
:func:`status` counts what is stored, missing and corrupt.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from simlab.sweep.errors import ExecutorLost, MissingRecords, SweepError
from simlab.sweep.executors import DaskExecutor, Executor, make_executor
from simlab.sweep.keys import describe
from simlab.sweep.spec import Config, Sweep
from simlab.sweep.stats import ReplicaStats
from simlab.sweep.store import LEASE_TTL, CorruptRecord, Record, Store
from simlab.sweep.worker import Job, RecordId, check_result, compute

#: Statistics columns of :func:`load`'s table.
STAT_COLUMNS = ("n", "mean", "std", "se", "ci_low", "ci_high")


def as_spec(spec) -> Sweep:
    """A :class:`Sweep` from a Sweep, a dict of its keys, or a TOML file path."""
    if isinstance(spec, Sweep):
        return spec
    if isinstance(spec, dict):
        return Sweep.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return Sweep.from_toml(spec)
    raise SweepError(f"spec must be a Sweep, a dict or a TOML path, got {type(spec).__name__}")


def as_store(store, spec: Sweep | None = None) -> Store:
    """A :class:`Store` from a Store, a URL, or the spec's / the default location."""
    if isinstance(store, Store):
        return store
    if store is None and spec is not None:
        store = spec.store
    return Store(store)


@dataclass
class RunReport:
    """What :func:`run` did.

    Attributes
    ----------
    name : str
    records : int
        Records of the spec.
    stored : int
        Found valid in the store when the run started (reused, not computed).
    computed : int
        Computed by this run and written to the store by it.
    by_others : int
        Written by another run while this one ran (it held the record's lease, or its write
        came first): not computed here, or computed and dropped (``dropped``).
    dropped : int
        Of ``by_others``, records this run computed too but another run's write came first.
    corrupt : list of str
        Records found damaged (then computed again).
    failed : list of (str, str)
        Records whose job raised, whose result did not match the job, or that could not be
        written, with the error.
    diverged : list of dict
        One entry per diverged record: ``config`` (the configuration's columns), ``seed``,
        ``block`` ``(start, stop)``, ``step`` and ``replica`` (the first divergence over the
        block's replicas).
    lost : str or None
        Why the run stopped early (the dask scheduler was lost); what finished is stored.
    startup_seconds : float
        Starting the executor and loading the kernels in every worker.
    seconds : float
        The whole run.
    executor : str
    task_seconds : float
        Sum of the computed jobs' simulation times (in the workers).
    worker_peak_rss_mb : float
        Largest peak resident memory a worker reported.
    """

    name: str
    records: int = 0
    stored: int = 0
    computed: int = 0
    by_others: int = 0
    dropped: int = 0
    corrupt: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    diverged: list = field(default_factory=list)
    lost: str | None = None
    startup_seconds: float = 0.0
    seconds: float = 0.0
    executor: str = ""
    task_seconds: float = 0.0
    worker_peak_rss_mb: float = 0.0

    @property
    def ok(self) -> bool:
        """No job failed and the run was not cut short."""
        return not self.failed and self.lost is None

    @property
    def missing(self) -> int:
        """Records neither stored, computed nor written by another run (failed, or lost)."""
        return self.records - self.stored - self.computed - self.by_others

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.records} records: {self.stored} already stored, "
                 f"{self.computed} computed ({len(self.diverged)} diverged), "
                 f"{self.by_others} written by another run"
                 + (f" ({self.dropped} of them computed here too)" if self.dropped else "")
                 + f", {len(self.corrupt)} corrupt (recomputed), {len(self.failed)} failed; "
                 f"{self.seconds:.1f} s ({self.startup_seconds:.1f} s starting "
                 f"{self.executor or 'no executor'})"]
        lines += [f"  corrupt: {c}" for c in self.corrupt[:10]]
        lines += [f"  FAILED {r}: {e}" for r, e in self.failed[:10]]
        if len(self.failed) > 10:
            lines.append(f"  ... and {len(self.failed) - 10} more failed")
        lines += [f"  diverged: {_config_words(d['config'])}, seed {d['seed']}, replicas "
                  f"[{d['block'][0]}, {d['block'][1]}): first non-finite at step {d['step']} "
                  f"in replica {d['replica']}" for d in self.diverged[:20]]
        if len(self.diverged) > 20:
            lines.append(f"  ... and {len(self.diverged) - 20} more diverged")
        if self.lost:
            lines.append(f"  STOPPED: {self.lost}; {self.missing} records not computed")
        return "\n".join(lines)


def _config_words(columns: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in columns.items() if v is not None)


def _read_all(spec: Sweep, store: Store, values: bool) -> dict:
    """``rid -> Record | CorruptRecord | None`` for every record of the spec."""
    store.check_readable()
    listing = {c.key: store.listing(c.key) for c in spec.configurations}
    out = {}
    for config, rid in spec.records():
        if rid.name not in listing[config.key]:
            out[rid] = None
            continue
        out[rid] = _read_one(spec, store, rid, values)
    return out


def _read_one(spec: Sweep, store: Store, rid: RecordId, values: bool):
    try:
        return store.read(rid, spec.checkpoint_array, spec.metrics, values=values)
    except CorruptRecord as e:
        return e
    except FileNotFoundError:  # removed since the listing
        return None


def _job(spec: Sweep, config: Config, rid: RecordId) -> Job:
    from simlab.sweep.keys import code_hash, record_metrics

    derived = spec.derived_for(config.task, config.method)
    return Job(rid, config.task, config.method, spec.steps, spec.checkpoint_array,
               record_metrics(config.task, config.method, derived), derived,
               spec.backend, spec.keep_replicas,
               code_hash(config.task.ops_class, config.method.ops_class, spec.backend))


def _meta(spec: Sweep, config: Config) -> dict:
    return {"sweep": spec.name, "config": {
        "task": describe(config.task), "method": describe(config.method),
        "steps": spec.steps, "checkpoints": int(len(spec.checkpoint_array)),
        "backend": spec.backend, "keep_replicas": spec.keep_replicas}}


def _progress(total: int, desc: str, quiet: bool | None):
    from tqdm import tqdm

    disable = bool(quiet) if quiet is not None else not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="task", disable=disable, dynamic_ncols=True)


class _Heartbeat:
    """Refresh this run's leases every ``every`` seconds in a background thread."""

    def __init__(self, every: float):
        import threading

        self.leases: dict = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(every,), daemon=True)
        self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                held = list(self.leases.values())
            for lease in held:
                lease.refresh()

    def add(self, rid, lease) -> None:
        with self._lock:
            self.leases[rid] = lease

    def release(self, rid) -> None:
        with self._lock:
            lease = self.leases.pop(rid, None)
        if lease is not None:
            lease.release()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            held = list(self.leases.values())
            self.leases.clear()
        for lease in held:
            lease.release()


#: Seconds between looks at records that another run holds.
POLL_SECONDS = 0.2


def _run(spec: Sweep, store: Store, executor: Executor, recompute: bool, quiet: bool | None,
         keep: bool, ttl: float = LEASE_TTL) -> tuple[RunReport, dict]:
    t0 = time.perf_counter()
    report = RunReport(spec.name, executor=executor.describe())
    records = spec.records()
    report.records = len(records)
    store.clean_temporary({c.key for c in spec.configurations})
    found = ({rid: None for _, rid in records} if recompute
             else _read_all(spec, store, values=spec.keep_replicas))
    todo, seen = [], set()
    for config, rid in records:
        got = found[rid]
        if isinstance(got, Record):
            report.stored += 1
            continue
        if isinstance(got, CorruptRecord):
            report.corrupt.append(str(got))
            print(f"warning: {got}; computing it again", file=sys.stderr)
        if rid not in seen:  # two spellings of one configuration share a record
            seen.add(rid)
            todo.append((config, rid, recompute or got is not None))
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report, found
    run_id = uuid.uuid4().hex
    by_rid = {rid: (config, replace) for config, rid, replace in todo}
    beat = _Heartbeat(ttl / 4)
    bar = _progress(len(todo), spec.name, quiet)
    bar.set_postfix_str(f"{report.stored} stored")
    waiting: list = []  # records another run holds: look again when ours are done

    def claim(items):
        """Jobs of the records this run can lease, in order; the others wait."""
        for config, rid, replace in items:
            try:
                lease = store.lease(rid, run_id, ttl)
            except OSError as e:
                report.failed.append((str(rid), f"cannot claim the record: {_oserror(e)}"))
                bar.update()
                continue
            if lease is None:
                waiting.append((config, rid, replace))
                continue
            if not recompute and _written(spec, store, rid, found, keep):
                lease.release()  # written by another run between our listing and now
                report.by_others += 1
                bar.update()
                continue
            beat.add(rid, lease)
            yield _job(spec, config, rid)

    def collect(job, result):
        bar.update()
        rid = job.rid
        config, replace = by_rid[rid]
        try:
            if isinstance(result, BaseException):
                report.failed.append((str(rid), f"{type(result).__name__}: {result}"))
                return
            why = check_result(job, result)
            if why is not None:
                report.failed.append((str(rid), f"the result does not match the job: {why}"))
                return
            try:
                wrote = store.write(result, _meta(spec, config), replace=replace)
            except OSError as e:
                report.failed.append((str(rid), f"cannot write the record: {_oserror(e)}"))
                return
            if not wrote:  # another run's write came first: theirs is the record
                report.by_others += 1
                report.dropped += 1
                if keep:
                    found[rid] = _read_one(spec, store, rid, spec.keep_replicas)
                return
            report.computed += 1
            report.task_seconds += result.info.get("seconds", 0.0)
            report.worker_peak_rss_mb = max(report.worker_peak_rss_mb,
                                            result.info.get("peak_rss_mb", 0.0))
            if result.status == "diverged":
                report.diverged.append({"config": dict(config.columns), "seed": rid.seed,
                                        "block": (rid.start, rid.stop),
                                        "step": int(result.diverged[0]),
                                        "replica": int(result.diverged[1])})
            if keep:
                found[rid] = Record.from_result(result, spec.metrics)
        finally:
            beat.release(rid)

    try:
        report.startup_seconds += executor.start(spec.kernels([c for c, _, _ in todo]))
        report.executor = executor.describe()
        pending = todo
        while pending:
            waiting.clear()
            for job, result in executor.map(compute, claim(pending)):
                collect(job, result)
            pending = []
            while waiting:  # records other runs hold: wait until written or given up
                time.sleep(POLL_SECONDS)
                still = []
                for config, rid, replace in waiting:
                    if _written(spec, store, rid, found, keep):
                        report.by_others += 1
                        bar.update()
                    elif store.lease_holder(rid, ttl) is None:
                        pending.append((config, rid, replace))  # given up: ours to compute
                    else:
                        still.append((config, rid, replace))
                waiting[:] = still
                if pending:
                    break
            if waiting:
                pending += waiting
    except ExecutorLost as e:
        report.lost = str(e)
    finally:
        bar.close()
        beat.close()
    report.seconds = time.perf_counter() - t0
    return report, found


def _written(spec: Sweep, store: Store, rid: RecordId, found: dict, keep: bool) -> bool:
    """Whether a valid record is stored at ``rid`` now (read into ``found`` when kept).

    A record that was corrupt when this run started counts only once a valid one replaced it.
    """
    if not store.exists(rid):
        return False
    got = _read_one(spec, store, rid, spec.keep_replicas)
    if isinstance(got, Record):
        if keep:
            found[rid] = got
        return True
    return False


def _oserror(e: OSError) -> str:
    """An OSError in words, naming what is in the way of a directory."""
    if isinstance(e, IsADirectoryError) or getattr(e, "errno", None) in (21, 39):
        return (f"a directory is in the way at {e.filename2 or e.filename} "
                f"({type(e).__name__}); remove it")
    return f"{type(e).__name__}: {e}"


def run(spec, store=None, executor: str | Executor | None = None, recompute: bool = False,
        quiet: bool | None = None, **executor_options) -> RunReport:
    """Compute the records of a sweep that the store lacks (all of them with ``recompute``).

    Parameters
    ----------
    spec : Sweep, dict or path
        The sweep (see :mod:`simlab.sweep.spec`).
    store : Store or str, optional
        Default: the spec's ``store``, else ``$SIMLAB_STORE``, else ``./.simlab/store``.
    executor : {"local", "serial", "dask"} or Executor, optional
        Default local processes (``"local"``, also called ``"processes"``; dask when a
        scheduler, LocalCluster size or client is given). An executor passed in is started if
        needed and left open.
    recompute : bool
        Compute every record again and replace what is stored.
    quiet : bool, optional
        ``True``: no progress bar; default: a bar when stderr is a terminal.
    **executor_options
        ``workers``, ``threads``, ``scheduler``, ``dask_local``, ``client``, ``timeout``
        (see :func:`simlab.sweep.executors.make_executor`).

    Returns
    -------
    RunReport

    Raises
    ------
    SweepError
        A bad spec, store, executor setting or unreachable scheduler, before any work.

    Notes
    -----
    Records are claimed one by one (a lease file beside each, see
    :meth:`simlab.sweep.store.Store.lease`) just before they are computed, so concurrent runs of
    one spec on one store split the work; records another run holds are waited for, and
    counted in :attr:`RunReport.by_others` once written. A lost dask scheduler stops the run
    with :attr:`RunReport.lost` set; what finished is stored, and running again resumes.
    """
    return _run_and_collect(spec, store, executor, recompute, quiet, False, executor_options)[0]


def _run_and_collect(spec, store, executor, recompute, quiet, keep, options):
    spec = as_spec(spec)
    store = as_store(store, spec)
    own = not isinstance(executor, Executor)
    ex = make_executor(executor, **options)
    try:
        connect = ex.connect() if isinstance(ex, DaskExecutor) else 0.0  # fails before work
        store.probe()  # a store that cannot be used fails here, in one line, before any work
        report, found = _run(spec, store, ex, recompute, quiet, keep)
        report.startup_seconds += connect
        report.seconds += connect
        return report, found
    finally:
        if own:
            ex.close()


@dataclass
class Status:
    """What the store holds for a sweep.

    Attributes
    ----------
    name : str
    records, stored, missing : int
    corrupt : list of str
    configurations : int
    complete : int
        Configurations with every record stored.
    gaps : list of str
        One line per configuration and seed with missing or corrupt records: which replica
        blocks, and why.
    """

    name: str
    records: int
    stored: int
    missing: int
    corrupt: list
    configurations: int
    complete: int
    gaps: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.records} records: {self.stored} stored, {self.missing} "
                 f"missing, {len(self.corrupt)} corrupt; {self.complete} of "
                 f"{self.configurations} configurations complete"]
        lines += [f"  {c}" for c in self.corrupt[:10]]
        return "\n".join(lines)


def status(spec, store=None) -> Status:
    """Count the records of a sweep that are stored, missing and corrupt (reads them all)."""
    spec = as_spec(spec)
    found = _read_all(spec, as_store(store, spec), values=spec.keep_replicas)
    done: dict = {}
    for config, rid in spec.records():
        done[config.index] = done.get(config.index, True) and isinstance(found[rid], Record)
    stored = sum(isinstance(v, Record) for v in found.values())
    corrupt = [str(v) for v in found.values() if isinstance(v, CorruptRecord)]
    return Status(spec.name, len(found), stored, len(found) - stored - len(corrupt), corrupt,
                  len(spec.configurations), sum(done.values()), _gaps(spec, found))


def _gaps(spec: Sweep, found: dict) -> list[str]:
    out = []
    for config in spec.configurations:
        for seed in spec.seeds:
            missing, corrupt = [], []
            for a, b in spec.block_ranges():
                got = found.get(RecordId(config.key, seed, a, b))
                if got is None:
                    missing.append(f"[{a}, {b})")
                elif isinstance(got, CorruptRecord):
                    corrupt.append(f"[{a}, {b}) ({got.reason})")
            if missing or corrupt:
                parts = ([f"missing replicas {', '.join(missing)}"] if missing else []) + \
                        ([f"corrupt {', '.join(corrupt)}"] if corrupt else [])
                out.append(f"{_config_words(config.columns)}, seed {seed}: {'; '.join(parts)}")
    return out


def load(spec, store=None, per_replica: bool = False, partial: bool = False):
    """The sweep's results as a tidy pandas DataFrame.

    Parameters
    ----------
    spec : Sweep, dict or path
    store : Store or str, optional
    per_replica : bool
        ``False``: one row per (configuration, seed, metric, step) with the statistics over
        all the replicas, merged across blocks (``n``, ``mean``, ``std``, ``se`` and the 95%
        normal ``ci_low``/``ci_high``), plus ``status`` (``ok`` or ``diverged``, with
        ``diverged_step`` and ``diverged_replica``), ``blocks`` and ``key``. ``True``: one
        row per (configuration, seed, step, replica) with a column per metric (needs
        ``keep_replicas``).
    partial : bool
        Merge the blocks that are stored and leave out configurations with none; otherwise a
        missing or corrupt record raises :class:`MissingRecords`.

    Returns
    -------
    pandas.DataFrame
        Configuration columns first (``task``, ``method``, the grid keys), then ``seed``.
    """
    spec = as_spec(spec)
    if per_replica and not spec.keep_replicas:
        raise SweepError("per_replica=True needs a sweep with keep_replicas = true")
    found = _read_all(spec, as_store(store, spec), values=per_replica)
    return _frame(spec, found, per_replica, partial)


def _frame(spec: Sweep, found: dict, per_replica: bool, partial: bool):
    import pandas as pd

    bad = [rid for rid, v in found.items() if not isinstance(v, Record)]
    if bad and not partial:
        raise MissingRecords(f"{len(bad)} of {len(found)} records of {spec.name!r} are missing "
                             f"or corrupt (first: {bad[0]}); run the sweep (simlab sweep run) "
                             f"first, or load with partial=True")
    frames = []
    for config in spec.configurations:
        for seed in spec.seeds:
            recs = [found.get(RecordId(config.key, seed, a, b)) for a, b in spec.block_ranges()]
            recs = [r for r in recs if isinstance(r, Record)]
            if not recs:
                continue
            head = {**config.columns, "seed": seed}
            part = (_replica_rows(spec, recs) if per_replica
                    else _stat_rows(spec, recs, config.key))
            for k, v in reversed(head.items()):
                part.insert(0, k, [v] * len(part))
            frames.append(part)
    if not frames:
        cols = ["task", "method", *[k for k, _ in spec.grid], "seed"]
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)


def _stat_rows(spec: Sweep, recs: list, key: str):
    import pandas as pd

    cps, metrics = spec.checkpoint_array, spec.metrics
    K, M = len(cps), len(metrics)
    div = [r.diverged for r in recs if r.status == "diverged"]
    ok = [r.stats for r in recs if r.status == "ok"]
    if div:
        step, replica = min(div)
        s = None
    else:
        step = replica = None
        s = ReplicaStats.merge_all(ok)
    nan = np.full(K, np.nan)
    cols: dict = {"metric": np.repeat(np.array(metrics, dtype=object), K),
                  "step": np.tile(cps, M)}
    stat = {c: [] for c in STAT_COLUMNS}
    for m in metrics:
        stat["n"].append(s.count[:, s.metrics.index(m)] if s else np.zeros(K, np.int64))
        stat["mean"].append(s.mean(m) if s else nan)
        stat["std"].append(s.std(m) if s else nan)
        stat["se"].append(s.se(m) if s else nan)
        ci = s.ci(m) if s else np.stack([nan, nan], axis=1)
        stat["ci_low"].append(ci[:, 0])
        stat["ci_high"].append(ci[:, 1])
    cols.update({c: np.concatenate(v) for c, v in stat.items()})
    cols.update(status="diverged" if div else "ok", diverged_step=step,
                diverged_replica=replica, blocks=len(recs), key=key)
    return pd.DataFrame(cols)


def _replica_rows(spec: Sweep, recs: list):
    import pandas as pd

    recs = [r for r in recs if r.status == "ok" and r.values is not None]
    if not recs:
        return pd.DataFrame({"step": [], "replica": []})
    values = np.concatenate([r.values for r in recs], axis=1)  # (K, R, M), blocks in order
    ids = np.concatenate([np.arange(r.rid.start, r.rid.stop) for r in recs])
    K, R, _ = values.shape
    df = pd.DataFrame({"step": np.repeat(spec.checkpoint_array, R), "replica": np.tile(ids, K)})
    for m, name in enumerate(spec.metrics):
        df[name] = values[:, :, m].ravel()
    return df


def sweep(spec=None, /, *, store=None, executor: str | Executor | None = None,
          recompute: bool = False, quiet: bool | None = None, per_replica: bool = False,
          workers: int | None = None, threads: int | None = None, scheduler: str | None = None,
          dask_local: int | None = None, client=None, timeout: float = 10.0, **fields):
    """Run a sweep (what the store lacks) and return its tidy DataFrame.

    ``simlab.sweep(...)`` calls this. Give a spec (a :class:`Sweep`, a dict of its keys or
    a TOML path), or its keys as keywords: ``task``, ``method``, ``grid``, ``steps``,
    ``replicas``, ``blocks`` or ``block_size``, ``seed`` or ``seeds``, ``metrics``,
    ``checkpoints``, ``backend``, ``keep_replicas``, ``name`` (see :mod:`simlab.sweep.spec`).

    Parameters
    ----------
    spec : Sweep, dict or path, optional
    store, executor, recompute, quiet
        As for :func:`run`.
    per_replica : bool
        Return per-replica rows instead of statistics (see :func:`load`).
    workers, threads, scheduler, dask_local, client, timeout
        Executor settings (see :func:`simlab.sweep.executors.make_executor`).
    **fields
        The spec's keys, when ``spec`` is not given.

    Returns
    -------
    pandas.DataFrame
        As :func:`load` returns it.

    Raises
    ------
    SweepError
        Bad spec or settings (before any work).
    RuntimeError
        Some jobs failed (the others are stored; the message lists the failures).

    Examples
    --------
    >>> import simlab
    >>> from simlab.tasks import SharedHessianQuadratics
    >>> from simlab.collab import WGA
    >>> df = simlab.sweep(task=SharedHessianQuadratics(d=8, n_aux=2), method=WGA(),
    ...                   grid={"zeta": [0.0, 0.5], "step_size": [0.1, 0.2]},
    ...                   steps=200, replicas=64, blocks=2)  # doctest: +SKIP
    """
    if spec is None:
        spec = Sweep.from_dict(fields)
    elif fields:
        raise SweepError(f"give a spec or its keys, not both (got {sorted(fields)})")
    spec = as_spec(spec)
    if per_replica and not spec.keep_replicas:
        raise SweepError("per_replica=True needs keep_replicas=True")
    options = dict(workers=workers, threads=threads, scheduler=scheduler,
                   dask_local=dask_local, client=client, timeout=timeout)
    report, found = _run_and_collect(spec, store, executor, recompute, quiet, True, options)
    if report.failed:
        raise RuntimeError(str(report))
    return _frame(spec, found, per_replica, partial=False)
