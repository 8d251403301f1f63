"""Shared stores and schedulers, bad stores, and what the sweep commands report (issue 7).

Each test is named after the numbered item of the issue it covers; each failed before the fix.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _sweep_helpers import SPEC, DaskCluster, simlab_cli, write_spec

import simlab
from simlab import DivergenceError, simulate
from simlab.collab import SGDAlone
from simlab.sweep import Store, Sweep, load, run, status
from simlab.sweep import store as store_mod
from simlab.sweep.executors import SerialExecutor
from simlab.tasks import SharedHessianQuadratics

LINUX = sys.platform.startswith("linux")


def _reference(spec, tmp_path, name="reference"):
    store = str(tmp_path / name)
    assert run(spec, store=store, executor="serial", quiet=True).ok
    return load(spec, store=store)


def _cli_env() -> dict:
    return dict(os.environ, NUMBA_NUM_THREADS="1")


def _popen_run(spec_file, store, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simlab.cli", "sweep", "run", str(spec_file),
                             "--store", str(store), "--quiet", *extra], env=_cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- 1. dask keys name exactly the work; results are checked against the job --------------

@pytest.mark.skipif(not LINUX, reason="starts dask scheduler and worker processes")
def test_1_two_sweeps_with_other_blocks_on_one_scheduler_and_store(tmp_path):
    slow = {**SPEC, "steps": 10000, "task": {"name": "SharedHessianQuadratics", "d": 16,
                                             "n_aux": 2}}
    b2 = {**slow, "name": "b2", "replicas": 64, "blocks": 2}
    b4 = {**slow, "name": "b4", "replicas": 64, "blocks": 4}
    f2, f4 = write_spec(tmp_path, b2, "b2.toml"), write_spec(tmp_path, b4, "b4.toml")
    store = tmp_path / "store"
    t0 = time.time()
    with DaskCluster(2) as cluster:
        procs = [_popen_run(f2, store, "--scheduler", cluster.address)]
        time.sleep(0.5)  # a moment apart: the second starts while the first computes
        procs.append(_popen_run(f4, store, "--scheduler", cluster.address))
        outs = [p.communicate(timeout=240) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        statuses = [status(Sweep.from_dict(d), store=str(store)) for d in (b2, b4)]
        # from Python, beside a CLI sweep on the same scheduler: the frame is what was asked
        other = _popen_run(f2, tmp_path / "store2", "--scheduler", cluster.address)
        time.sleep(0.5)
        df = simlab.sweep(Sweep.from_dict(b4), store=str(tmp_path / "store2"),
                          scheduler=cluster.address, quiet=True)
        assert other.wait(timeout=240) == 0
    assert time.time() - t0 < 240
    for spec_dict, st, out in zip((b2, b4), statuses, outs):
        assert (st.stored, st.missing, st.corrupt) == (st.records, 0, []), (st, out)
        spec = Sweep.from_dict(spec_dict)
        got = load(spec, store=str(store))
        assert (got["n"] == 64).all()
        pd.testing.assert_frame_equal(got, _reference(spec, tmp_path, spec.name),
                                      check_exact=True)
    assert (df["n"] == 64).all() and (df["blocks"] == 4).all()
    pd.testing.assert_frame_equal(df, load(Sweep.from_dict(b4), store=str(store)),
                                  check_exact=True)


def test_1_a_result_that_is_not_the_jobs_answer_is_neither_stored_nor_returned(tmp_path):
    """An executor that hands back another block's result (as colliding dask keys did)."""
    spec = Sweep.from_dict({**SPEC, "replicas": 32, "blocks": 2})

    class Crossed(SerialExecutor):
        def map(self, fn, jobs):
            jobs = list(jobs)
            for job in jobs:  # every job gets the first job's block
                yield job, fn(jobs[0]) if job.rid.start else fn(job)

    store = str(tmp_path / "s")
    report = run(spec, store=store, executor=Crossed(), quiet=True)
    assert report.computed == 8 and len(report.failed) == 8
    assert all("does not match the job" in e for _, e in report.failed)
    st = status(spec, store=store)
    assert (st.stored, st.missing, st.corrupt) == (8, 8, [])
    with pytest.raises(RuntimeError, match="does not match the job"):
        simlab.sweep(spec, store=str(tmp_path / "t"), executor=Crossed(), quiet=True)


# --- 2. metrics are not part of a record's shape --------------------------------------------

def test_2_specs_differing_only_in_metrics_share_records_and_never_call_them_corrupt(tmp_path):
    one = Sweep.from_dict({**SPEC, "metrics": ["grad_norm_sq"]})
    two = Sweep.from_dict({**SPEC, "metrics": ["grad_norm_sq", "subopt"]})
    store = str(tmp_path / "s")
    first = run(one, store=store, executor="serial", quiet=True)
    assert (first.computed, first.corrupt) == (16, [])
    second = run(two, store=store, executor="serial", quiet=True)
    assert (second.stored, second.computed, second.corrupt) == (16, 0, [])
    again = run(one, store=store, executor="serial", quiet=True)
    assert (again.stored, again.computed, again.corrupt) == (16, 0, [])
    for spec in (one, two):
        st = status(spec, store=store)
        assert (st.stored, st.corrupt) == (16, [])
        df = load(spec, store=store)
        assert sorted(df["metric"].unique()) == sorted(spec.metrics)
        pd.testing.assert_frame_equal(df, _reference(spec, tmp_path, f"ref{len(spec.metrics)}"),
                                      check_exact=True)


# --- 3. concurrent runs split the work and report it truthfully -----------------------------

def _counts(out: str) -> tuple[int, int, int]:
    m = re.search(r"(\d+) already stored, (\d+) computed .*?, (\d+) written by another run", out)
    assert m, out
    return int(m[1]), int(m[2]), int(m[3])


def test_3_two_runs_of_one_spec_on_one_store_split_the_work(tmp_path):
    # 32 records of about 0.3 s each: the two runs overlap whichever starts first, even when
    # one starts seconds after the other (with 0.1 s each, a CI run once saw the first
    # process compute all 32 before the second claimed any: (0, 32, 0) and (0, 0, 32))
    spec_dict = {**SPEC, "steps": 60000, "replicas": 256, "blocks": 4,
                 "task": {"name": "SharedHessianQuadratics", "d": 16, "n_aux": 2}}
    spec_file = write_spec(tmp_path, spec_dict)
    spec = Sweep.from_toml(spec_file)
    store = tmp_path / "store"
    procs = [_popen_run(spec_file, store, "--executor", "serial") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    counts = [_counts(o) for o, _ in outs]
    total = len(spec.records())
    assert sum(c[1] for c in counts) == total, counts  # each record computed once
    assert all(c[0] + c[1] + c[2] == total for c in counts), counts
    assert all(c[1] > 0 for c in counts), counts  # both did a share
    files = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
    assert files == sorted(str(rid) for _, rid in spec.records())  # no lease or tmp left
    pd.testing.assert_frame_equal(load(spec, store=str(store)), _reference(spec, tmp_path),
                                  check_exact=True)


def test_3_a_write_another_run_made_first_is_not_counted_as_computed(tmp_path):
    spec = Sweep.from_dict(SPEC)
    store = str(tmp_path / "s")
    other = str(tmp_path / "other")
    assert run(spec, store=other, executor="serial", quiet=True).computed == 16

    class Racing(SerialExecutor):
        """Another run (without leases, as on an object store) writes each record first."""

        def map(self, fn, jobs):
            for job in jobs:
                result = fn(job)
                src = Path(other) / job.rid.key / job.rid.name
                dst = Path(store) / job.rid.key / job.rid.name
                dst.write_bytes(src.read_bytes())
                yield job, result

    report = run(spec, store=store, executor=Racing(), quiet=True)
    assert (report.computed, report.by_others, report.dropped) == (0, 16, 16), report
    assert "0 computed" in str(report) and "16 written by another run" in str(report)


def test_3_a_stale_lease_is_taken_over_and_a_live_one_is_waited_for(tmp_path, monkeypatch):
    spec = Sweep.from_dict({**SPEC, "replicas": 16, "blocks": 1})
    store_url = str(tmp_path / "s")
    store = Store(store_url)
    rids = [rid for _, rid in spec.records()]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = {"host": store_mod._host(), "pid": int(dead.stdout), "run": "gone", "time": 0}
    os.makedirs(store.folder(rids[0].key), exist_ok=True)
    Path(store.lease_path(rids[0])).write_text(json.dumps(stale))
    # a live lease of another run on this host: that run writes the record a moment later
    os.makedirs(store.folder(rids[1].key), exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = {"host": store_mod._host(), "pid": holder.pid, "run": "other", "time": 0}
        Path(store.lease_path(rids[1])).write_text(json.dumps(live))
        reference = str(tmp_path / "ref")
        assert run(spec, store=reference, executor="serial", quiet=True).ok
        src = Path(reference) / rids[1].key / rids[1].name

        def other_run_finishes():
            time.sleep(1.0)
            Path(store.path(rids[1])).write_bytes(src.read_bytes())
            os.unlink(store.lease_path(rids[1]))

        import threading

        threading.Thread(target=other_run_finishes, daemon=True).start()
        report = run(spec, store=store_url, executor="serial", quiet=True)
    finally:
        holder.kill()
        holder.wait()
    assert (report.computed, report.by_others, report.failed) == (len(rids) - 1, 1, [])
    assert not list(Path(store_url).rglob("*.lease"))
    pd.testing.assert_frame_equal(load(spec, store=store_url), load(spec, store=reference),
                                  check_exact=True)


def test_3_a_lease_not_refreshed_for_its_ttl_is_stale_even_if_its_process_lives(tmp_path):
    store = Store(str(tmp_path / "s"))
    rid = next(r for _, r in Sweep.from_dict(SPEC).records())
    old = {"host": store_mod._host(), "pid": os.getpid(), "run": "stuck", "time": 0}
    os.makedirs(store.folder(rid.key), exist_ok=True)
    path = store.lease_path(rid)
    Path(path).write_text(json.dumps(old))
    assert store.lease(rid, "mine") is None  # alive and fresh
    os.utime(path, (time.time() - 1000, time.time() - 1000))
    lease = store.lease(rid, "mine", ttl=600)
    assert lease is not None and json.loads(Path(path).read_text())["run"] == "mine"
    assert store.lease(rid, "third") is None
    lease.release()
    assert not os.path.exists(path)


# --- 4. a bad store: exit 2 and one line, before any work -----------------------------------

def _bad_stores(tmp_path) -> dict:
    afile = tmp_path / "a-file"
    afile.write_text("not a folder")
    out = {"protocol": "foo://bar/baz", "regular file": str(afile),
           "under a regular file": str(afile / "store"), "proc": "/proc/simlab-store"}
    if os.geteuid() == 0:
        out["not writable"] = "/sys/kernel"  # root may write anywhere but here
    else:  # pragma: no cover - CI runs as root
        ro = tmp_path / "read-only"
        ro.mkdir()
        ro.chmod(0o500)
        out["not writable"] = str(ro)
    return out


@pytest.mark.skipif(not LINUX, reason="uses /proc and /sys")
def test_4_a_bad_store_exits_2_with_one_line_before_any_work(tmp_path):
    spec_file = write_spec(tmp_path, SPEC)
    for kind, url in _bad_stores(tmp_path).items():
        t0 = time.perf_counter()
        r = simlab_cli("sweep", "run", str(spec_file), "--store", url, "--workers", "1")
        took = time.perf_counter() - t0
        assert r.returncode == 2, (kind, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: store"), (kind, r.stderr)
        assert "Traceback" not in r.stderr and "computed" not in r.stdout, kind
        assert took < 30, (kind, took)
    for cmd in ("status", "show"):
        r = simlab_cli("sweep", cmd, str(spec_file), "--store", "foo://bar/baz")
        assert r.returncode == 2 and r.stderr.startswith("error: store"), r.stderr


# --- 5. one record that cannot be written does not take the sweep down ----------------------

def test_5_a_directory_where_a_record_belongs_fails_that_record_only(tmp_path):
    spec_file = write_spec(tmp_path, SPEC)
    spec = Sweep.from_toml(spec_file)
    store = tmp_path / "store"
    rid = spec.records()[5][1]
    (store / rid.key / rid.name).mkdir(parents=True)
    st = status(spec, store=str(store))
    assert len(st.corrupt) == 1 and rid.name in st.corrupt[0]
    r = simlab_cli("sweep", "run", str(spec_file), "--store", str(store), "--executor",
                   "serial", "--quiet")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "1 failed" in r.stdout and "a directory is in the way" in r.stdout, r.stdout
    assert status(spec, store=str(store)).stored == 15


# --- 6. a lost dask scheduler: one line, what is stored, the command that resumes -----------

SLOW = {**SPEC, "name": "slow", "steps": 3000, "replicas": 256, "blocks": 8,
        "task": {"name": "SharedHessianQuadratics", "d": 16, "n_aux": 2}}


def _stored(store: Path) -> int:
    return sum(1 for _ in store.rglob("*.parquet")) if store.exists() else 0


@pytest.mark.skipif(not LINUX, reason="starts dask scheduler and worker processes")
def test_6_scheduler_lost_mid_sweep_is_reported_in_one_line_and_resumes(tmp_path):
    spec_file = write_spec(tmp_path, SLOW)
    spec = Sweep.from_toml(spec_file)
    store = tmp_path / "store"
    with DaskCluster(2) as cluster:
        proc = _popen_run(spec_file, store, "--scheduler", cluster.address)
        deadline = time.time() + 120
        while _stored(store) < 2 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        cluster.stop_scheduler()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    stored = _stored(store)
    assert re.search(rf"scheduler at {re.escape(cluster.address)} was lost.*; {stored} of 64 "
                     rf"records are stored; resume with: simlab sweep run", lines[0]), lines[0]
    assert "--executor local" in lines[0]
    r = simlab_cli("sweep", "run", str(spec_file), "--store", str(store), "--executor",
                   "local", "--workers", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert _counts(r.stdout)[:2] == (stored, 64 - stored), r.stdout
    pd.testing.assert_frame_equal(load(spec, store=str(store)), _reference(spec, tmp_path),
                                  check_exact=True)


# --- 7. show says what is missing -----------------------------------------------------------

def test_7_show_names_missing_and_corrupt_records_and_exits_1(tmp_path):
    spec_file = write_spec(tmp_path, {**SPEC, "replicas": 32, "blocks": 2})
    spec = Sweep.from_toml(spec_file)
    store = tmp_path / "store"
    assert run(spec, store=str(store), executor="serial", quiet=True).ok
    ok = simlab_cli("sweep", "show", str(spec_file), "--store", str(store))
    assert ok.returncode == 0 and "missing" not in ok.stdout, ok.stdout
    recs = spec.records()
    gone = recs[0][1]  # configuration 0 loses one block: a partial configuration
    Path(store, gone.key, gone.name).unlink()
    for _, rid in recs[2:4]:  # configuration 1 loses both blocks: it is not in the table
        Path(store, rid.key, rid.name).unlink()
    bad = recs[5][1]
    Path(store, bad.key, bad.name).write_bytes(b"garbage")
    r = simlab_cli("sweep", "show", str(spec_file), "--store", str(store))
    assert r.returncode == 1, r.stdout
    assert "3 of 16 records missing and 1 corrupt" in r.stdout, r.stdout
    assert "16 of 32" in r.stdout  # the partial configurations' replicas
    assert "missing replicas [0, 16)" in r.stdout and "missing replicas [0, 16), [16, 32)" \
        in r.stdout and "corrupt [16, 32)" in r.stdout, r.stdout


# --- 8. diverged configurations are named with their first divergence -----------------------

def test_8_first_divergence_over_all_replicas_not_the_lowest_numbered_one():
    task = SharedHessianQuadratics(d=4, n_aux=2, sigma=1.0, x0_dist=1e-3)
    method = SGDAlone(step_size=2.2)
    with pytest.raises(DivergenceError) as all_at_once:
        simulate(task, method, 3000, replicas=16, seed=0)
    one_by_one = []
    for r in range(16):
        with pytest.raises(DivergenceError) as e:
            simulate(task, method, 3000, replica_ids=[r], seed=0)
        one_by_one.append((e.value.step, e.value.replica))
    assert min(one_by_one) != one_by_one[0]  # replica 0 is not the first to diverge here
    assert (all_at_once.value.step, all_at_once.value.replica) == min(one_by_one)


def test_8_run_and_show_name_each_diverged_configuration_with_step_and_replica(tmp_path):
    spec_dict = {"name": "div", "task": {"name": "SharedHessianQuadratics", "d": 4, "n_aux": 2,
                                         "x0_dist": 0.001},
                 "method": {"name": "SGDAlone"}, "grid": {"step_size": [0.1, 2.2, 2.5]},
                 "steps": 3000, "replicas": 32, "blocks": 2, "checkpoints": 5}
    spec_file = write_spec(tmp_path, spec_dict)
    spec = Sweep.from_toml(spec_file)
    store = tmp_path / "store"
    r = simlab_cli("sweep", "run", str(spec_file), "--store", str(store), "--executor",
                   "serial", "--quiet")
    assert r.returncode == 0, r.stderr
    task = spec.configurations[1].task
    for config in spec.configurations[1:]:
        eta = config.method.step_size
        with pytest.raises(DivergenceError) as e:
            simulate(task, SGDAlone(step_size=eta), 3000, replicas=32, seed=0)
        first = (e.value.step, e.value.replica)
        assert re.search(rf"diverged: .*step_size={eta}, seed 0, replicas \[\d+, \d+\): first "
                         rf"non-finite at step \d+ in replica \d+", r.stdout), r.stdout
        assert f"diverged at t={first[0]} (replica {first[1]})" in simlab_cli(
            "sweep", "show", str(spec_file), "--store", str(store)).stdout
        df = load(spec, store=str(store))
        row = df[df["step_size"] == eta].iloc[0]
        assert (row["diverged_step"], row["diverged_replica"]) == first
    assert "4 diverged" in r.stdout  # two configurations x two blocks


# --- 9. the executor names the README documents ---------------------------------------------

def test_9_readme_executor_names_are_accepted(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    m = re.search(r"--executor ([a-z|]+)", readme)
    assert m, "the README documents --executor"
    names = m[1].split("|")
    assert "local" in names
    spec_file = write_spec(tmp_path, {**SPEC, "replicas": 8, "blocks": 1})
    for name in names:
        extra = ["--dask-local", "1"] if name == "dask" else ["--workers", "1"]
        if name == "serial":
            extra = []
        r = simlab_cli("sweep", "run", str(spec_file), "--store", str(tmp_path / name),
                       "--executor", name, "--quiet", *extra)
        assert r.returncode == 0, (name, r.stderr)
        assert "8 records: 0 already stored, 8 computed" in r.stdout, (name, r.stdout)
