"""Executors give the same results; a killed sweep resumes; concurrent sweeps do not clobber."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from _sweep_helpers import SPEC, simlab_cli, write_spec

import simlab
from simlab.sweep import DaskExecutor, ProcessExecutor, Sweep, load, run

KEEP = {**SPEC, "keep_replicas": True}


def test_local_processes_and_dask_local_cluster_give_identical_frames(tmp_path):
    spec = Sweep.from_dict(KEEP)
    serial = simlab.sweep(spec, store=str(tmp_path / "serial"), executor="serial", quiet=True)
    with ProcessExecutor(workers=2, threads=1) as ex:
        local = simlab.sweep(spec, store=str(tmp_path / "local"), executor=ex, quiet=True)
    with DaskExecutor(local=2, threads=1) as ex:
        report = run(spec, store=str(tmp_path / "dask"), executor=ex, quiet=True)
        assert (report.computed, ex.workers, ex.threads) == (16, 2, 1)
    dask = load(spec, store=str(tmp_path / "dask"))
    assert len(local) == 8 * 2 * 6 and (local["n"] == 32).all()
    pd.testing.assert_frame_equal(local, dask, check_exact=True)
    pd.testing.assert_frame_equal(local, serial, check_exact=True)
    per_local = load(spec, store=str(tmp_path / "local"), per_replica=True)
    per_dask = load(spec, store=str(tmp_path / "dask"), per_replica=True)
    assert len(per_local) == 8 * 6 * 32
    pd.testing.assert_frame_equal(per_local, per_dask, check_exact=True)


def _records(store: str) -> dict:
    out = {}
    for root, _, names in os.walk(store):
        for n in names:
            p = os.path.join(root, n)
            st = os.stat(p)
            out[os.path.relpath(p, store)] = (st.st_ino, st.st_mtime_ns)
    return out


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


# Each record runs about 0.1-0.3 s on one thread, so the kill lands mid-run.
SLOW = {**SPEC, "name": "slow", "steps": 3000, "replicas": 256, "blocks": 4,
        "task": {"name": "SharedHessianQuadratics", "d": 16, "n_aux": 2}}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL")
def test_killed_sweep_resumes_without_recomputing_what_was_written(tmp_path):
    spec_file = write_spec(tmp_path, SLOW)
    spec = Sweep.from_toml(spec_file)
    total = len(spec.records())
    store = str(tmp_path / "store")
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "simlab.cli", "sweep", "run", str(spec_file),
                             "--store", store, "--workers", "1", "--threads", "1", "--quiet"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and proc.poll() is None:
        workers = _children(proc.pid) or workers
        if sum(n.endswith(".parquet") for n in _records(store)) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)  # the sweep's process only, at an arbitrary moment
    proc.wait()
    written = {p: s for p, s in _records(store).items() if p.endswith(".parquet")}
    assert 3 <= len(written) < total
    for pid in workers:  # orphaned workers notice and exit
        end = time.time() + 10
        while _alive(pid) and time.time() < end:
            time.sleep(0.1)
        assert not _alive(pid), f"worker {pid} outlived the killed sweep"
    r = simlab_cli("sweep", "run", str(spec_file), "--store", store, "--workers", "1",
                   "--quiet")
    assert r.returncode == 0, r.stderr
    m = re.search(r"(\d+) already stored, (\d+) computed", r.stdout)
    assert m and (int(m[1]), int(m[2])) == (len(written), total - len(written)), r.stdout
    after = _records(store)
    assert all(after[p] == s for p, s in written.items())  # nothing written was recomputed
    assert sorted(after) == sorted(f"{k}/{n}" for k, n in
                                   ((rid.key, rid.name) for _, rid in spec.records()))
    reference = str(tmp_path / "reference")
    assert run(spec, store=reference, executor="serial", quiet=True).computed == total
    pd.testing.assert_frame_equal(load(spec, store=store), load(spec, store=reference),
                                  check_exact=True)


def test_two_concurrent_sweeps_on_one_store_do_not_clobber(tmp_path):
    spec_file = write_spec(tmp_path, SPEC)
    spec = Sweep.from_toml(spec_file)
    store = str(tmp_path / "store")
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "simlab.cli", "sweep", "run", str(spec_file), "--store", store,
           "--executor", "serial", "--quiet"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    files = _records(store)
    assert sorted(files) == sorted(str(rid) for _, rid in spec.records())  # once each, no tmp
    reference = str(tmp_path / "reference")
    run(spec, store=reference, executor="serial", quiet=True)
    pd.testing.assert_frame_equal(load(spec, store=store), load(spec, store=reference),
                                  check_exact=True)
