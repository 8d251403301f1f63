"""The active-learning figure scripts at their ``--quick`` budget: a PNG, a full sidecar, and
one plotted number recomputed independently (a plain :func:`simlab.simulate` of the loop,
built here from explicit parameters, not through the figures' helpers or the store)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from simlab import simulate
from simlab.active import ActiveLearning

FIGURES = Path(__file__).resolve().parents[2] / "figures"
SIDECAR_KEYS = {"figure", "title", "command", "argv", "budget_name", "budget", "seeds", "params",
                "git_commit", "created", "seconds", "versions", "notes", "summary", "curves"}


def _load(name: str):
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    return importlib.import_module(name)


def _check_outputs(tmp_path, name):
    png, side = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000
    meta = json.loads(side.read_text())
    assert SIDECAR_KEYS <= set(meta)
    return meta


def test_small_batch_quick(tmp_path):
    pytest.importorskip("torch")
    mod = _load("active_f1_small_batch")
    summary = mod.main(["--quick", "--out", str(tmp_path), "--seed", "3", "--quiet"])
    meta = _check_outputs(tmp_path, "active_f1_small_batch")
    assert set(meta["curves"]) == {a[0] for a in mod.ARMS}
    # Margin's final accuracy, recomputed with a plain simulate of the same loop
    m = ActiveLearning(sampler="margin", k=20, n_seed=20, require_all_classes=False)
    cps = np.array([0] + [m.horizon(r) for r in range(3)])
    tr = simulate(mod.TASK, m, steps=int(cps[-1]), replicas=2, seed=3, checkpoints=cps)
    want = float(tr.metric("test_acc")[-1].mean())
    assert summary["final test accuracy (mean, se)"]["margin"]["mean"] == pytest.approx(want)
    assert all(0 < v["mean"] <= 1 for v in summary["final test accuracy (mean, se)"].values())


def test_large_batch_quick(tmp_path, monkeypatch):
    from simlab.sweep import cache

    monkeypatch.setenv("SIMLAB_STORE", str(tmp_path / "store"))
    mod = _load("active_f2_large_batch")
    summary = mod.main(["--quick", "--out", str(tmp_path), "--seed", "2", "--quiet"])
    meta = _check_outputs(tmp_path, "active_f2_large_batch")

    def boom(job):
        raise AssertionError(f"computed again: {job.method!r}")

    # a second `simlab figures active` computes nothing: every loop run is in the store
    with monkeypatch.context() as mp:
        mp.setattr(cache, "compute", boom)
        again = mod.main(["--quick", "--out", str(tmp_path / "again"), "--seed", "2",
                          "--quiet"])
    assert again == summary
    b = mod.BUDGETS["quick"]
    m = ActiveLearning(sampler="random", k=b["batches"][0], n_seed=b["n_seed"],
                       require_all_classes=False)
    cps = np.array([0] + [m.horizon(r) for r in range(b["rounds"] + 1)])
    tr = simulate(mod.task(b), m, steps=int(cps[-1]), replicas=2, seed=2, checkpoints=cps)
    got = meta["curves"][f"k_t={b['batches'][0]}/random"]["mean"]
    np.testing.assert_allclose(got, tr.metric("test_acc")[1:].mean(axis=1))
    assert set(summary["Cluster-Margin fewer labels than the best other sampler (spec 5.1)"]) \
        == {f"k_t={k}" for k in b["batches"]}


def test_label_complexity_quick(tmp_path):
    mod = _load("active_f3_label_complexity")
    mod.main(["--quick", "--out", str(tmp_path), "--seed", "4", "--quiet"])
    meta = _check_outputs(tmp_path, "active_f3_label_complexity")
    # Margin's mean N(eps) at d = 5, recomputed with a plain simulate
    from simlab.active import LinearSeparatorPool, StagewiseMargin, labels_to_reach

    m = StagewiseMargin(selector="margin_uniform", k=10)
    H = 21 * 10
    tr = simulate(LinearSeparatorPool(d=5, n_pool=20_000, n_test=10, seed=1), m, steps=H,
                  replicas=3, seed=4, checkpoints=np.arange(0, H + 1, 10))
    want = [np.mean(labels_to_reach(tr.checkpoints, tr.metric("err").T, e)) for e in mod.EPS]
    got = meta["curves"]["d=5/margin_uniform"]["mean"]
    np.testing.assert_allclose([float(g) if not isinstance(g, str) else np.inf for g in got],
                               want)
