"""The sweep executors run jobs that are not sweep jobs: a job may name its own dask key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from simlab.sweep import worker
from simlab.sweep.errors import SweepError
from simlab.sweep.executors import DaskExecutor, ProcessExecutor, SerialExecutor, dask_key


@dataclass(frozen=True)
class SquareJob:
    """A generic job: no record id, its own key."""

    x: int
    tag: str = "t"

    @property
    def dask_key(self) -> str:
        return f"generic-square-{self.tag}-{self.x}"


def square(job: SquareJob) -> int:
    if job.x < 0:
        raise ValueError(f"negative {job.x}")
    return job.x * job.x


def test_dask_key_prefers_the_jobs_own_key_and_keeps_the_sweep_key():
    assert dask_key(SquareJob(3)) == "generic-square-t-3"
    rid = worker.RecordId(key="abc", seed=2, start=0, stop=8)

    @dataclass(frozen=True)
    class SweepLike:
        rid: worker.RecordId

    assert dask_key(SweepLike(rid)) == "simlab-abc-seed2-r0-8"


def test_dask_key_refuses_a_job_without_a_name():
    @dataclass(frozen=True)
    class Anonymous:
        x: int

    with pytest.raises(SweepError, match="rid.*dask_key"):
        dask_key(Anonymous(1))

    @dataclass(frozen=True)
    class BadKey:
        dask_key: int = 5

    with pytest.raises(SweepError, match="non-empty str"):
        dask_key(BadKey())


def _run(ex, jobs):
    return sorted((job.x, res if not isinstance(res, BaseException) else type(res).__name__)
                  for job, res in ex.map(square, jobs))


def test_generic_jobs_through_serial_and_dask_give_the_same_results():
    distributed = pytest.importorskip("distributed")
    jobs = [SquareJob(x) for x in (4, -1, 0, 7)]
    expected = [(-1, "ValueError"), (0, 0), (4, 16), (7, 49)]
    assert _run(SerialExecutor(), jobs) == expected
    # an in-process cluster: the executor's key and submission path without process start-up
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        keys = []
        submit = client.submit

        def recording_submit(fn, *args, key=None, **kw):
            keys.append(key)
            return submit(fn, *args, key=key, **kw)

        client.submit = recording_submit
        ex = DaskExecutor(client=client)
        ex.start()
        assert _run(ex, iter(jobs)) == expected
        assert sorted(keys) == sorted(job.dask_key for job in jobs)  # the jobs' own keys
    finally:
        client.close()
        cluster.close()


def test_generic_jobs_through_local_processes():
    jobs = [SquareJob(x, tag="p") for x in range(5)]
    with ProcessExecutor(workers=1, threads=1) as ex:
        assert _run(ex, jobs) == [(x, x * x) for x in range(5)]
