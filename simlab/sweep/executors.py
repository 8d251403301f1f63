"""Where jobs run: in this process, in local worker processes, or on a dask.distributed cluster.

Every executor has the same small interface: :meth:`Executor.start` (start the workers and
load the kernels in each, returning the seconds it took), :meth:`Executor.map` (yield
``(job, result or exception)`` as jobs finish, in any order) and :meth:`Executor.close`. ``map``
takes the jobs lazily: it keeps at most :attr:`Executor.window` of them in flight and asks the
iterable for the next one only when a slot frees up, so the caller can claim each record (its
lease in the store) just before it is computed, and two sweeps on one store split the work.
Results are the same bit for bit whichever runs them: a job's replicas draw from streams keyed
by ``(seed, replica)``, and the number of threads does not change a replica's trace.

Names: ``local`` (local worker processes; ``processes`` is the same), ``serial`` (this process)
and ``dask``. A dask task's key names exactly its work: the full record key and the replica
block ``[start, stop)`` (:func:`dask_key`), so two sweeps on one scheduler never receive each
other's results; jobs that are not sweep jobs carry their own ``dask_key`` str. A lost
scheduler raises :class:`ExecutorLost`.

Threads: numba reads ``NUMBA_NUM_THREADS`` when it is imported, so the local executors set it
in the environment their worker processes are started with (``threads`` per worker; by default
the cores divided by the workers). Workers of an external dask cluster keep their own setting.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence

from simlab.sweep import worker as _worker
from simlab.sweep.errors import ExecutorLost, SweepError

#: Executor names; ``processes`` is accepted as another name of ``local``.
EXECUTORS = ("local", "serial", "dask")
ALIASES = {"processes": "local"}


def dask_key(job) -> str:
    """The dask key of a job: the full record key, the seed and the replica block.

    Jobs other than sweep jobs name their work themselves: a job with a ``dask_key``
    attribute (a str, or a property computing one) is submitted under that key, which must
    name exactly its work (e.g. a digest of its inputs), as the sweep's keys do.
    """
    own = getattr(job, "dask_key", None)
    if own is not None:
        if not isinstance(own, str) or not own:
            raise SweepError(f"a job's dask_key must be a non-empty str, got {own!r}")
        return own
    r = getattr(job, "rid", None)
    if r is None:
        raise SweepError(f"the dask executor needs jobs with a record id (.rid) or a "
                         f"dask_key str naming their work; got a {type(job).__name__}")
    return f"simlab-{r.key}-seed{r.seed}-r{r.start}-{r.stop}"


class Executor:
    """Base class: runs jobs, yields results as they finish."""

    name = "executor"
    workers = 1
    threads: int | None = None
    #: Jobs in flight at once (default twice the workers).
    window: int | None = None

    def _window(self) -> int:
        return int(self.window or 2 * max(1, self.workers))

    def start(self, kernels: Sequence = ()) -> float:
        """Start the workers and load the kernels of ``(task, method, backend)`` examples.

        Returns
        -------
        float
            Seconds taken (0 when already started).
        """
        return 0.0

    def map(self, fn, jobs: Iterable) -> Iterator[tuple]:  # pragma: no cover - abstract
        """Yield ``(job, fn(job))``, or ``(job, exception)`` when it raised, as jobs finish.

        ``jobs`` is consumed lazily: at most :attr:`window` jobs are in flight.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Stop the workers this executor started."""

    def describe(self) -> str:
        """One line for reports."""
        t = f", {self.threads} numba thread(s) each" if self.threads else ""
        return f"{self.name}: {self.workers} worker(s){t}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialExecutor(Executor):
    """Run jobs one after the other in this process (numba uses this process's threads)."""

    name = "serial"

    def start(self, kernels: Sequence = ()) -> float:
        """Load the kernels in this process."""
        t0 = time.perf_counter()
        self.threads = _worker.load_kernels(kernels)
        return time.perf_counter() - t0

    def map(self, fn, jobs):
        """Run the jobs in order."""
        for job in jobs:
            try:
                yield job, fn(job)
            except Exception as e:  # reported per job by the runner
                yield job, e


@contextlib.contextmanager
def _environ(**env):
    """Set environment variables for child processes started inside the block."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _split_cores(workers: int | None, threads: int | None) -> tuple[int, int]:
    cores = os.cpu_count() or 1
    if workers is None:
        workers = max(1, cores // (threads or 1))
    if workers < 1:
        raise SweepError(f"workers must be >= 1, got {workers}")
    if threads is None:
        threads = max(1, cores // workers)
    if threads < 1:
        raise SweepError(f"threads must be >= 1, got {threads}")
    return int(workers), int(threads)


class ProcessExecutor(Executor):
    """Local worker processes (``spawn``), each with ``threads`` numba threads.

    Parameters
    ----------
    workers : int, optional
        Number of processes; default the number of cores divided by ``threads``.
    threads : int, optional
        numba threads per process; default the cores divided by ``workers``.
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        self.workers, self.threads = _split_cores(workers, threads)
        self._pool = None

    def start(self, kernels: Sequence = ()) -> float:
        """Spawn the processes and wait until each has loaded the kernels."""
        if self._pool is not None:
            return 0.0
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, wait

        t0 = time.perf_counter()
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(self.workers)
        with _environ(NUMBA_NUM_THREADS=self.threads):
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_worker.init_process,
                initargs=(tuple(kernels), barrier, os.getpid()))
            # one job per worker: with spawn the pool starts a process per pending job, and
            # the barrier in the initializer makes every job wait until all are ready
            done, _ = wait([self._pool.submit(_worker.ready) for _ in range(self.workers)])
        for f in done:
            f.result()
        return time.perf_counter() - t0

    def map(self, fn, jobs):
        """Submit jobs as slots free up (at most :attr:`window` in flight); yield results."""
        from concurrent.futures import FIRST_COMPLETED, wait

        self.start()
        it = iter(jobs)
        pending: dict = {}

        def fill():
            while len(pending) < self._window():
                job = next(it, None)
                if job is None:
                    return
                pending[self._pool.submit(fn, job)] = job

        fill()
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    exc = fut.exception()
                    yield job, (exc if exc is not None else fut.result())
                fill()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        """Shut the pool down (pending jobs are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_ADDRESS = re.compile(r"^(?:(?:tcp|tls|inproc|ucx|ws|wss)://)?[^\s:/]+(?::\d+)?$")


class DaskExecutor(Executor):
    """A dask.distributed cluster: an existing scheduler, a Client, or a new LocalCluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://host:8786``.
    local : int, optional
        Start a LocalCluster with this many worker processes (one numba thread each unless
        ``threads`` says otherwise).
    client : distributed.Client, optional
        Use this client as it is.
    threads : int, optional
        numba threads per LocalCluster worker.
    timeout : float
        Seconds to wait for the scheduler before giving up (a :class:`SweepError`).
    """

    name = "dask"

    def _window(self) -> int:
        # a scheduler round trip per submission: keep more in flight than local processes do
        return int(self.window or 8 * max(1, self.workers))

    def __init__(self, scheduler: str | None = None, local: int | None = None, client=None,
                 threads: int | None = None, timeout: float = 10.0):
        given = sum(x is not None for x in (scheduler, local, client))
        if given != 1:
            raise SweepError("the dask executor needs exactly one of a scheduler address "
                             "(--scheduler), a LocalCluster size (--dask-local) or a Client")
        if scheduler is not None and not _ADDRESS.match(str(scheduler)):
            raise SweepError(f"scheduler address must look like tcp://host:8786, got "
                             f"{scheduler!r}")
        if local is not None:
            self.workers, self.threads = _split_cores(local, threads)
        if timeout <= 0:
            raise SweepError(f"timeout must be > 0 seconds, got {timeout}")
        self.scheduler, self.local, self.timeout = scheduler, local, float(timeout)
        self.client, self._own_client, self._cluster = client, False, None

    def connect(self) -> float:
        """Connect to the scheduler (or start the LocalCluster); seconds taken.

        Raises
        ------
        SweepError
            The scheduler did not answer within ``timeout`` seconds.
        """
        if self.client is not None:
            return 0.0
        import logging

        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        if self.local is not None:
            env = {"NUMBA_NUM_THREADS": str(self.threads)}
            with _environ(**env):
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR, env=env)
                self.client = Client(self._cluster, timeout=self.timeout)
        else:
            try:
                self.client = Client(self.scheduler, timeout=self.timeout)
            except (OSError, TimeoutError) as e:
                raise SweepError(f"cannot reach the dask scheduler at {self.scheduler} within "
                                 f"{self.timeout:g} s ({type(e).__name__}: {e}); start one "
                                 f"(dask scheduler) or check the address") from None
        self._own_client = True
        return time.perf_counter() - t0

    def start(self, kernels: Sequence = ()) -> float:
        """Connect, then load the kernels on every worker."""
        t0 = time.perf_counter()
        self.connect()
        threads = self.client.run(_worker.load_kernels, tuple(kernels))
        if not threads:
            raise SweepError(f"the dask cluster at {self.client.scheduler.address} has no "
                             f"workers")
        self.workers = len(threads)
        self.threads = max(threads.values())
        return time.perf_counter() - t0

    def _lost(self, e: BaseException | None = None) -> ExecutorLost:
        addr = self.scheduler or getattr(getattr(self.client, "scheduler", None), "address",
                                         "the LocalCluster")
        why = "" if e is None else f" ({type(e).__name__})"
        return ExecutorLost(f"the dask scheduler at {addr} was lost{why}")

    def _connected(self) -> bool:
        return self.client is not None and getattr(self.client, "status", "") == "running"

    def map(self, fn, jobs):
        """Submit jobs as slots free up (at most :attr:`window` in flight); yield results.

        Raises
        ------
        ExecutorLost
            The connection to the scheduler was lost (what finished before was yielded).
        """
        from distributed import as_completed

        it = iter(jobs)
        index: dict = {}
        ac = as_completed()

        def fill():
            while len(index) < self._window():
                job = next(it, None)
                if job is None:
                    return
                fut = self.client.submit(fn, job, key=dask_key(job), pure=False)
                index[fut.key] = (fut, job)
                ac.add(fut)

        try:
            fill()
            for fut in ac:
                fut_job = index.pop(fut.key, None)
                if fut_job is None:  # pragma: no cover - a key we no longer track
                    continue
                job = fut_job[1]
                try:
                    exc = fut.exception()
                    result = exc if exc is not None else fut.result()
                except Exception as e:  # noqa: BLE001 - cancelled: lost scheduler or not
                    if not self._connected():
                        raise self._lost(e) from None
                    result = e
                if isinstance(result, BaseException) and not self._connected():
                    raise self._lost(result)
                yield job, result
                fill()
        except ExecutorLost:
            raise
        except (OSError, TimeoutError) as e:
            if not self._connected():
                raise self._lost(e) from None
            raise
        finally:
            if self._connected():
                try:
                    self.client.cancel([f for f, _ in index.values()])
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass

    def close(self) -> None:
        """Close the client and the LocalCluster this executor started."""
        if self._own_client and self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(executor: str | Executor | None = None, workers: int | None = None,
                  threads: int | None = None, scheduler: str | None = None,
                  dask_local: int | None = None, client=None, timeout: float = 10.0
                  ) -> Executor:
    """Build an executor from command-line style settings.

    Parameters
    ----------
    executor : {"local", "serial", "dask"} or Executor, optional
        Default ``"dask"`` when ``scheduler``, ``dask_local`` or ``client`` is given, else
        ``"local"`` (local processes; ``"processes"`` is another name for it).
    workers, threads : int, optional
        Local processes and numba threads per process.
    scheduler : str, optional
        Dask scheduler address.
    dask_local : int, optional
        Workers of a new dask LocalCluster.
    client : distributed.Client, optional
    timeout : float
        Seconds to wait for a dask scheduler.

    Returns
    -------
    Executor
    """
    if isinstance(executor, Executor):
        return executor
    dask_given = any(x is not None for x in (scheduler, dask_local, client))
    if executor is None:
        executor = "dask" if dask_given else "local"
    executor = ALIASES.get(executor, executor)
    if executor not in EXECUTORS:
        raise SweepError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if executor == "dask":
        return DaskExecutor(scheduler=scheduler, local=dask_local, client=client,
                            threads=threads, timeout=timeout)
    if dask_given:
        raise SweepError(f"--scheduler/--dask-local need the dask executor, not {executor!r}")
    if executor == "serial":
        return SerialExecutor()
    return ProcessExecutor(workers, threads)
