"""The result store: merged statistics, cached simulate, corruption, invalidation, recompute."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
from _sweep_helpers import SPEC, write_spec

from simlab import DivergenceError, simulate
from simlab.cli import main
from simlab.collab import WGA, SGDAlone
from simlab.engine import kernel as kernel_mod
from simlab.sweep import (
    MissingRecords,
    ReplicaStats,
    Store,
    Sweep,
    cached_simulate,
    cached_stats,
    code_hash,
    load,
    run,
    status,
)
from simlab.sweep import keys as keys_mod
from simlab.sweep.worker import Job, RecordId, compute
from simlab.tasks import SharedHessianQuadratics


def _files(store: str) -> dict:
    """``relative path -> (inode, mtime_ns)`` of every file under the store."""
    out = {}
    for root, _, names in os.walk(store):
        for n in names:
            st = os.stat(os.path.join(root, n))
            out[os.path.relpath(os.path.join(root, n), store)] = (st.st_ino, st.st_mtime_ns)
    return out


def test_blocks_merge_to_the_statistics_of_all_replicas(tmp_path):
    spec = Sweep.from_dict({**SPEC, "replicas": 48, "blocks": 3})
    df = run_and_load(spec, str(tmp_path / "s"))
    c = spec.configurations[5]
    tr = simulate(c.task, c.method, spec.steps, replicas=48, seed=0,
                  checkpoints=spec.checkpoint_array)
    rows = df[(df["key"] == c.key) & (df["metric"] == "grad_norm_sq")]
    assert (rows["n"] == 48).all() and (rows["blocks"] == 3).all()
    np.testing.assert_allclose(rows["mean"], tr.mean("grad_norm_sq"), rtol=1e-12)
    np.testing.assert_allclose(rows["se"], tr.se("grad_norm_sq"), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rows[["ci_low", "ci_high"]], tr.ci("grad_norm_sq"), rtol=1e-10)
    # unequal blocks (5 + 43): an average of their means would be wrong, the merge is not
    v = tr.metric("subopt")[:, :, None]
    a = ReplicaStats.from_values(tr.checkpoints, v[:, :5], ("subopt",))
    b = ReplicaStats.from_values(tr.checkpoints, v[:, 5:], ("subopt",))
    m = a.merge(b)
    np.testing.assert_allclose(m.mean("subopt"), tr.mean("subopt"), rtol=1e-12)
    np.testing.assert_allclose(m.se("subopt"), tr.se("subopt"), rtol=1e-10, atol=1e-12)


def run_and_load(spec, store, **kw) -> pd.DataFrame:
    report = run(spec, store=store, executor="serial", quiet=True, **kw)
    assert report.ok, report
    return load(spec, store=store)


def test_cached_simulate_returns_the_trace_bit_for_bit(tmp_path):
    store = Store(str(tmp_path / "s"))
    task = SharedHessianQuadratics(d=4, n_aux=2, zeta=0.3)
    m = WGA(step_size=0.2)
    ref = simulate(task, m, 300, replicas=12, seed=3, checkpoints=9)
    first = cached_simulate(task, m, 300, replicas=12, seed=3, checkpoints=9, store=store)
    again = cached_simulate(task, m, 300, replicas=12, seed=3, checkpoints=9, store=store)
    assert not first.info["cached"] and again.info["cached"]
    for tr in (first, again):
        assert np.array_equal(tr.values, ref.values, equal_nan=True)
        assert np.array_equal(tr.checkpoints, ref.checkpoints)
        assert np.array_equal(tr.replica_ids, ref.replica_ids) and tr.seed == 3
    s = cached_stats(task, m, 300, replicas=12, seed=3, checkpoints="all",
                     metrics=["avg_grad_norm_sq"], derived=True, store=store)
    full = simulate(task, m, 300, replicas=12, seed=3, checkpoints="all", derived=True)
    assert s.metrics == ("avg_grad_norm_sq",)
    assert np.array_equal(s.mean("avg_grad_norm_sq"), full.mean("avg_grad_norm_sq"))
    assert np.array_equal(s.se("avg_grad_norm_sq"), full.se("avg_grad_norm_sq"))
    off = cached_simulate(task, m, 300, replicas=12, seed=3, checkpoints=9, store="off")
    assert "cached" not in off.info and np.array_equal(off.values, ref.values, equal_nan=True)


def test_divergence_is_stored_and_raised_again(tmp_path):
    store = Store(str(tmp_path / "s"))
    task = SharedHessianQuadratics(d=4, n_aux=2)
    with pytest.raises(DivergenceError) as first:
        cached_simulate(task, SGDAlone(step_size=50.0), 400, replicas=4, store=store)
    assert len(_files(store.root)) == 1
    with pytest.raises(DivergenceError) as again:
        cached_simulate(task, SGDAlone(step_size=50.0), 400, replicas=4, store=store)
    assert (again.value.step, again.value.replica) == (first.value.step, first.value.replica)
    spec = Sweep.build(task=task, method="SGDAlone", grid={"step_size": [0.1, 50.0]}, steps=400,
                       replicas=4, checkpoints=4)
    df = run_and_load(spec, store)
    bad = df[df["step_size"] == 50.0]
    assert (bad["status"] == "diverged").all() and bad["mean"].isna().all()
    assert (bad["diverged_step"] == first.value.step).all()
    assert (df[df["step_size"] == 0.1]["status"] == "ok").all()


def test_truncated_or_damaged_record_is_reported_and_recomputed(tmp_path, capsys):
    store = str(tmp_path / "s")
    spec = Sweep.from_dict(SPEC)
    ref = run_and_load(spec, store)
    paths = sorted(p for p in _files(store))
    victim, damaged = os.path.join(store, paths[3]), os.path.join(store, paths[7])
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        f.truncate(size // 2)
    with open(damaged, "r+b") as f:  # overwrite bytes inside the first data pages
        f.seek(40)
        f.write(b"\x00" * 64)
    st = status(spec, store=store)
    assert (st.stored, st.missing, len(st.corrupt)) == (14, 0, 2)
    assert any(paths[3] in c for c in st.corrupt) and any(paths[7] in c for c in st.corrupt)
    with pytest.raises(MissingRecords, match="missing or corrupt"):
        load(spec, store=store)
    before = _files(store)
    report = run(spec, store=store, executor="serial", quiet=True)
    assert (report.stored, report.computed, len(report.corrupt)) == (14, 2, 2)
    assert "corrupt record" in capsys.readouterr().err
    after = _files(store)
    assert set(after) == set(before)
    changed = {p for p in after if after[p] != before[p]}
    assert changed == {paths[3], paths[7]}
    pd.testing.assert_frame_equal(load(spec, store=store), ref)


def test_changing_a_method_source_changes_the_key_and_recompute_forces(tmp_path, monkeypatch,
                                                                       capsys):
    @dataclasses.dataclass(frozen=True)
    class MySGD(SGDAlone):
        pass

    MySGD.ops = SGDAlone.ops
    spec_kw = dict(task=SharedHessianQuadratics(d=3, n_aux=1), method=MySGD(step_size=0.1),
                   steps=20, replicas=4, blocks=2, checkpoints=3, backend="numpy")
    store = str(tmp_path / "s")
    monkeypatch.setattr(kernel_mod, "_CACHE", {})
    old = Sweep.build(**spec_kw)
    assert run(old, store=store, executor="serial", quiet=True).computed == 2

    def sgd_step_fixed(tdata, tmeta, hyper, x, g, sample):  # same maths, new source
        sample_grad(tdata, tmeta, 0, x, sample, g)  # noqa: F821
        for k in range(x.shape[0]):
            x[k] = x[k] - hyper[0] * g[k]

    monkeypatch.setattr(MySGD, "ops", dataclasses.replace(SGDAlone.ops, step=sgd_step_fixed))
    keys_mod.code_hash.cache_clear()
    kernel_mod._CACHE.clear()
    new = Sweep.build(**spec_kw)
    assert new.configurations[0].key != old.configurations[0].key
    assert code_hash(SharedHessianQuadratics, MySGD, "numpy") != code_hash(
        SharedHessianQuadratics, SGDAlone, "numpy")
    report = run(new, store=store, executor="serial", quiet=True)
    assert (report.stored, report.computed) == (0, 2)
    assert run(new, store=store, executor="serial", quiet=True).computed == 0
    before = _files(store)
    report = run(new, store=store, executor="serial", quiet=True, recompute=True)
    assert (report.stored, report.computed) == (0, 2)
    after = _files(store)
    new_key = new.configurations[0].key
    assert set(after) == set(before) and len(after) == 4  # two keys x two blocks
    assert all((after[p] != before[p]) == p.startswith(new_key) for p in after)
    keys_mod.code_hash.cache_clear()


def test_cli_recompute_status_and_show(tmp_path, capsys):
    spec, store = write_spec(tmp_path), str(tmp_path / "s")
    args = ["--store", store]
    assert main(["sweep", "status", str(spec), *args]) == 0
    assert "16 records: 0 stored, 16 missing, 0 corrupt" in capsys.readouterr().out
    assert main(["sweep", "run", str(spec), *args, "--executor", "serial", "--quiet"]) == 0
    assert "16 computed" in capsys.readouterr().out
    assert main(["sweep", "run", str(spec), *args, "--executor", "serial", "--quiet"]) == 0
    assert "16 already stored, 0 computed" in capsys.readouterr().out
    assert main(["sweep", "run", str(spec), *args, "--executor", "serial", "--quiet",
                 "--recompute"]) == 0
    assert "0 already stored, 16 computed" in capsys.readouterr().out
    assert main(["sweep", "show", str(spec), *args, "--metric", "subopt"]) == 0
    out = capsys.readouterr().out
    assert "subopt" in out and "+-" in out and out.count("SharedHessianQuadratics") == 8
    assert main(["sweep", "show", str(spec), *args, "--step", "7"]) == 2
    assert "--step must be a checkpoint" in capsys.readouterr().err


def test_two_writers_of_one_record_never_clobber(tmp_path):
    store = Store(str(tmp_path / "s"))
    task, m = SharedHessianQuadratics(d=3, n_aux=1), WGA()
    cps = np.array([0, 5, 10])
    key = keys_mod.record_key(task, m, 10, cps, False, "numba", False)
    job = Job(RecordId(key, 0, 0, 4), task, m, 10, cps, ("grad_norm_sq",), False, "numba", False)
    a, b = compute(job), compute(job)
    assert store.write(a, {}) is True
    first = _files(store.root)
    assert store.write(b, {}) is False  # the record is there: the second write is dropped
    assert _files(store.root) == first
    assert store.write(b, {}, replace=True) is True  # a recompute replaces it atomically
    assert list(_files(store.root)) == list(first)  # and no temporary file is left
    rec = store.read(job.rid, cps, ("grad_norm_sq",))
    assert np.array_equal(rec.stats.means, a.stats.means)


def test_fsspec_url_store_holds_the_same_records(tmp_path):
    url = f"memory://simlab-test-{os.getpid()}-{tmp_path.name}"
    spec = Sweep.from_dict(SPEC)
    remote = run_and_load(spec, url)
    assert status(spec, store=url).stored == 16
    pd.testing.assert_frame_equal(remote, run_and_load(spec, str(tmp_path / "local")),
                                  check_exact=True)
