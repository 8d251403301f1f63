"""The subsample figure scripts (F1-F5) at their ``--quick`` budget.

Each script's ``main(argv)`` runs in-process into a temporary folder (the result store is the
test session's temporary one, :mod:`tests.conftest`); the test checks the PNG and the sidecar
and recomputes at least one plotted number independently: a plain :func:`simlab.simulate`
of the sampler, built here from its class and explicit parameters (not through the figures'
helpers or the store), reduced with numpy. Seeds are fixed; the recomputation must agree to
rounding (the same seed gives the same streams, the checkpoints do not change a run).
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from simlab import simulate
from simlab.meta import jsonable
from simlab.subsample import SelectiveBackprop, TopK, Uniform, WaterFill
from simlab.tasks import LinearStream, LogisticStream

FIGURES = Path(__file__).resolve().parents[2] / "figures"
SCRIPTS = ("subsample_f1_backward", "subsample_f2_rho", "subsample_f3_variance",
           "subsample_f4_staleness", "subsample_f5_calibration")
SIDECAR_KEYS = {"figure", "title", "command", "argv", "budget_name", "budget", "seeds", "params",
                "git_commit", "created", "seconds", "versions", "notes", "summary", "curves"}
SEED = 3
S1 = LogisticStream(d=20, window=100, base_rate=0.05, row_sigma=0.5, warm=0.5, seed=0)
S2 = LinearStream(d=20, window=100, warm=0.5, seed=0)


def _load(name: str):
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    return importlib.import_module(name)


def _reject_constant(token: str):
    raise ValueError(f"sidecar contains {token}")


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def _quick(name: str, out: Path) -> tuple[dict, dict]:
    """Run a script at ``--quick``; check its files; return (summary, sidecar)."""
    mod = _load(name)
    argv = ["--quick", "--out", str(out), "--seed", str(SEED), "--quiet"]
    summary = mod.main(argv)
    data = (out / f"{name}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < len(data) < 300_000
    meta = json.loads((out / f"{name}.json").read_text(), parse_constant=_reject_constant)
    assert SIDECAR_KEYS <= meta.keys()
    assert meta["figure"] == name and meta["title"] == mod.__doc__.strip().splitlines()[0]
    assert meta["budget_name"] == "quick" and meta["seeds"]["simulation"] == SEED
    assert meta["summary"] == jsonable(summary)
    nums = list(_numbers(meta["curves"])) + list(_numbers(meta["summary"]))
    assert len(nums) > 10 and all(math.isfinite(x) for x in nums)
    return summary, meta


def _tail(steps: int) -> np.ndarray:
    """The final window of every figure: 11 checkpoints over the last 10% of the steps."""
    return np.round(np.linspace(0.9 * steps, steps, 11)).astype(np.int64)


def _final_excess(task, method, steps, replicas, cps=None) -> np.ndarray:
    """Per-replica excess test loss averaged over the checkpoints ``cps`` (default: the final
    window) at or after ``0.9 steps``."""
    cps = _tail(steps) if cps is None else cps
    tr = simulate(task, method, steps=steps, replicas=replicas, seed=SEED, checkpoints=cps)
    keep = tr.checkpoints >= 0.9 * steps
    return (tr.metric("test_loss")[keep] - task.constants()["loss_floor"]).mean(axis=0)


def test_f1_end_point_and_paired_ratio(tmp_path):
    summary, meta = _quick("subsample_f1_backward", tmp_path)
    T, R = meta["budget"]["steps"], meta["budget"]["replicas"]
    wf = WaterFill(rho=0.1, step_size=0.1, refresh=10, epsilon=0.1)
    assert meta["params"]["methods"]["S1 (5%) / waterfill"] == repr(wf)
    tr = simulate(S1, wf, steps=T, replicas=R, seed=SEED, checkpoints=[0, T])
    c = meta["curves"]["S1 (5%) / waterfill"]
    ex = tr.metric("test_loss")[-1] - S1.constants()["loss_floor"]
    assert c["x"][-1] == pytest.approx(tr.metric("backward")[-1].mean(), rel=1e-12)
    assert c["mean"][-1] == pytest.approx(ex.mean(), rel=1e-9)
    assert c["cost"][-1] == pytest.approx(tr.metric("cost")[-1].mean(), rel=1e-12)
    a = _final_excess(S1, wf, T, R)
    b = _final_excess(S1, Uniform(rho=0.1, step_size=0.1, refresh=0), T, R)
    got = summary["S1 (5%)"]["final excess / uniform's, paired per replica (equal steps and "
                             "backward)"]["waterfill"]["ratio"]
    assert got == pytest.approx(a.mean() / b.mean(), rel=1e-9)


def test_f2_small_rho_point(tmp_path):
    summary, meta = _quick("subsample_f2_rho", tmp_path)
    T, R = meta["budget"]["steps"], meta["budget"]["replicas"]
    v = _final_excess(S2, Uniform(rho=0.02, step_size=0.002, refresh=0), T, R)
    c = meta["curves"]["S2 / uniform"]
    assert c["x"][0] == 0.02
    assert c["mean"][0] == pytest.approx(v.mean(), rel=1e-9)
    # at rho = 1 every Poisson sampler trains on the whole window: the same run
    r1 = summary["S1 (5%)"]["water-filling / uniform (paired per replica)"]["1"]
    assert r1["ratio"] == pytest.approx(1.0, rel=1e-12)
    # negative downsampling is drawn only where the base rate fits below rho (with a margin)
    assert meta["curves"]["S1 (5%) / negdown"]["x"][0] == 0.1


def test_f3_stale_top_k_mse_ratio(tmp_path):
    _, meta = _quick("subsample_f3_variance", tmp_path)
    T, R = meta["budget"]["steps"], meta["budget"]["replicas"]
    tr = simulate(S1, TopK(rho=0.1, step_size=0.1, refresh=100), steps=T, replicas=R,
                  seed=SEED, checkpoints=[0, T])
    c = meta["curves"]["S1 (5%) / Delta=100 / topk / mse_ratio"]
    assert c["x"][-1] == T
    assert c["mean"][-1] == pytest.approx(tr.metric("mse_ratio")[-1].mean(), rel=1e-9)
    u = meta["curves"]["S1 (5%) / Delta=0 / uniform / mse_ratio"]
    np.testing.assert_allclose(u["mean"], 1.0, rtol=1e-9)  # uniform over itself


def test_f4_stale_unsmoothed_ratio_and_crossover(tmp_path):
    summary, meta = _quick("subsample_f4_staleness", tmp_path)
    T, R = meta["budget"]["steps"], meta["budget"]["replicas"]
    # F4 also averages mse_ratio over the run: 41 evenly spaced checkpoints join the final
    # window (those in the last 10% count towards the final excess too)
    cps = np.union1d(np.round(np.linspace(0, T, 41)), _tail(T)).astype(np.int64)
    a = _final_excess(S2, WaterFill(rho=0.1, step_size=0.02, refresh=100, epsilon=0.0), T, R,
                      cps)
    b = _final_excess(S2, Uniform(rho=0.1, step_size=0.02, refresh=0), T, R, cps)
    c = meta["curves"]["S2 / water-filling eps=0, 10x eta / final excess over uniform"]
    j = c["delta"].index(100)
    assert c["ratio"][j] == pytest.approx(a.mean() / b.mean(), rel=1e-9)
    # Delta = 1 refreshes the serving copy before every window: the same as fresh
    c1 = meta["curves"]["S1 (5%) / water-filling eps=0.1 / final excess over uniform"]
    assert c1["ratio"][0] == c1["ratio"][1]
    cross = summary["staleness crossover (first Delta where the arm is worse than uniform; "
                    "final excess, paired)"]
    assert set(cross) == {"S1 (5%)", "S1 (27%)", "S2"}
    assert all(isinstance(t, str) and t for arms in cross.values() for t in arms.values())


def test_f5_selective_backprop_calibration(tmp_path):
    summary, meta = _quick("subsample_f5_calibration", tmp_path)
    T, R = meta["budget"]["steps"], meta["budget"]["replicas"]
    task = LogisticStream(d=20, window=100, base_rate=0.01, row_sigma=0.5, warm=0.5, seed=0)
    tr = simulate(task, SelectiveBackprop(rho=0.1, step_size=0.1, refresh=10), steps=T,
                  replicas=R, seed=SEED, checkpoints=_tail(T))
    v = tr.metric("calibration").mean(axis=0)
    assert meta["curves"]["S1 (1%) / sb"]["mean"] == pytest.approx(v.mean(), rel=1e-9)
    assert summary["S1 (1%)"]["final calibration ratio"]["sb"]["mean"] == pytest.approx(
        v.mean(), rel=1e-9)
    assert "S1 (27%) / negdown" not in meta["curves"]  # base rate above rho: not run


def test_helpers_crossover_reach_and_paired_ratio():
    f4 = _load("subsample_f4_staleness")
    common = _load("_subsample")
    ok = {"ratio": 0.5, "ci95_lo": 0.4, "ci95_hi": 0.6}
    bad = {"ratio": 1.5, "ci95_lo": 1.2, "ci95_hi": 1.8}
    assert f4.crossover([ok] * 5)["text"] == "none in the grid"
    cx = f4.crossover([ok, ok, ok, bad, bad])
    assert cx["delta"] == 100 and cx["significant"] and "Delta = 10 and Delta = 100" in cx["text"]
    assert f4.crossover([ok, None, ok, ok, ok])["delta"] == 1  # a diverged run counts as worse
    x, m = np.array([1.0, 10.0, 100.0]), np.array([1.0, 0.1, 0.01])
    assert common.reach(x, m, 0.1) == pytest.approx(10.0)
    assert common.reach(x, m, 10 ** -1.5) == pytest.approx(10 ** 1.5)
    assert common.reach(x, m, 1e-3) is None
    r = common.paired_ratio([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert r["ratio"] == 2.0 and r["se"] == 0.0
    s1 = common.S1
    assert not common.feasible("negdown", s1, 0.05)  # base rate 5% = rho up to rounding
    assert common.feasible("negdown", s1, 0.1) and not common.feasible("negdown", common.S2)


def test_neural_figure_reads_its_runs_back_from_the_store(tmp_path, monkeypatch):
    """The neural F1/F2 at --quick: every run goes through the result store, so a second run
    of the figure computes nothing and plots the same numbers; its final accuracy of
    water-filling at rho = 0.1 equals a direct run_subsample of seed SEED."""
    pytest.importorskip("torch")
    from simlab.neural.subsample import MixtureStream, NeuralSubsample, run_subsample

    monkeypatch.setenv("SIMLAB_STORE", str(tmp_path / "store"))
    first, _ = _quick("subsample_neural", tmp_path / "a")
    mod = _load("subsample_neural")
    b = mod.BUDGETS["quick"]
    base = {k: mod.SETUP[k] for k in ("window", "hidden", "optimizer", "lr", "refresh",
                                      "epsilon", "threads")}
    again = mod.runs(b, [SEED], None)
    assert all(r.info["cached"] for rs in again.values() for r in rs)
    second, _ = _quick("subsample_neural", tmp_path / "b")
    assert second["final test_acc (rho = 0.1)"] == first["final test_acc (rho = 0.1)"]
    m = NeuralSubsample(sampler="waterfill", rho=0.1, test_size=int(b["test_size"]), **base)
    direct = run_subsample(MixtureStream(), m, instances=int(b["instances"]), seed=SEED,
                           checkpoints=int(b["checkpoints"]))
    stored = again[("waterfill", 0.1)][0]
    np.testing.assert_array_equal(stored.test_acc, direct.test_acc)
    np.testing.assert_array_equal(stored.backward, direct.backward)
