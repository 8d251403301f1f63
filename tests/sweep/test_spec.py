"""Sweep specs: the grid expands as documented, and bad specs fail before any work."""

from __future__ import annotations

import time

import pytest
from _sweep_helpers import SPEC, write_spec

from simlab.cli import main
from simlab.collab import BCEMA, WGA
from simlab.sweep import Sweep, SweepError, run
from simlab.tasks import SharedHessianQuadratics


def test_toml_and_python_forms_give_the_same_configurations(tmp_path):
    a = Sweep.from_toml(write_spec(tmp_path))
    b = Sweep.build(task=SharedHessianQuadratics(d=4, n_aux=2), method=[WGA(), "SGDAlone"],
                    grid={"zeta": [0.0, 0.5], "step_size": [0.1, 0.2]}, steps=200,
                    replicas=32, blocks=2, checkpoints=6, metrics=["subopt", "grad_norm_sq"])
    assert a.name == "tiny" and len(a.configurations) == 8 and len(a.records()) == 16
    assert [c.key for c in a.configurations] == [c.key for c in b.configurations]
    c0 = a.configurations[0]
    assert a.metrics == ("grad_norm_sq", "subopt") and a.derived_for(c0.task, c0.method) == ()
    assert a.block_ranges() == [(0, 16), (16, 32)]
    first = a.configurations[0]
    assert first.columns == {"task": "SharedHessianQuadratics", "method": "WGA", "zeta": 0.0,
                             "step_size": 0.1}
    assert first.task.zeta == 0.0 and first.method.step_size == 0.1


def test_grid_key_multiplies_only_the_methods_that_take_it():
    s = Sweep.build(task="A", method=[{"name": "WGA", "step_size": 0.1}, "BCEMA"],
                    grid={"momentum": [0.1, 0.5], "task.n_aux": [1, 3]}, steps=10, replicas=2,
                    checkpoints=3)
    wga = [c for c in s.configurations if c.columns["method"] == "WGA"]
    bc = [c for c in s.configurations if c.columns["method"] == "BCEMA"]
    assert len(wga) == 2 and len(bc) == 4  # momentum does not apply to WGA
    assert all(c.columns["momentum"] is None for c in wga)
    assert sorted((c.task.n_aux, c.method.momentum) for c in bc) == [(1, 0.1), (1, 0.5),
                                                                      (3, 0.1), (3, 0.5)]
    assert isinstance(bc[0].method, BCEMA)


def test_equal_configurations_share_their_key():
    a = Sweep.build(task="A", method="WGA", grid={"zeta": [0]}, steps=10, replicas=2)
    b = Sweep.build(task="A", method="WGA", grid={"zeta": [0.0]}, steps=10, replicas=2)
    c = Sweep.build(task="A", method="WGA", grid={"zeta": [0.1]}, steps=10, replicas=2)
    assert a.configurations[0].key == b.configurations[0].key != c.configurations[0].key


@pytest.mark.parametrize("change, match", [
    ({"grid": {"zetaa": [0.1]}}, r"unknown grid parameter 'zetaa'.*they take"),
    ({"task": {"name": "SharedHessianQuadratics", "dd": 4}},
     r"unknown task parameter\(s\) \['dd'\] for SharedHessianQuadratics; it takes"),
    ({"method": {"name": "WGA", "eta": 0.1}}, r"unknown method parameter\(s\) \['eta'\]"),
    ({"method": "Adam"}, r"unknown method 'Adam'; choose from"),
    ({"grid": {"zeta": []}}, r"grid 'zeta' is empty"),
    ({"grid": {"zeta": [0.1, 0.1]}}, r"grid 'zeta' repeats a value"),
    ({"replicas": 30, "blocks": 4}, r"replicas = 30 is not divisible into blocks = 4"),
    ({"replicas": 30, "blocks": None, "block_size": 7}, r"not divisible into blocks of"),
    ({"metrics": ["loss"]}, r"metrics must be a non-empty subset"),
    ({"steps": 0}, r"steps must be an integer >= 1"),
    ({"seeds": [1, 1]}, r"seeds must be distinct"),
    ({"checkpoints": [500]}, r"checkpoints: checkpoints must lie in \[0, steps=200\]"),
    ({"grid": {"zeta": [-1.0]}}, r"configuration .*zeta must be finite and >= 0"),
    ({"grid": {"step_size": [0.0]}}, r"configuration .*step_size must be > 0"),
    ({"bogus": 1}, r"unknown sweep key\(s\) \['bogus'\]"),
    ({"grid": {"seed": [0, 1], "task.seed": [2]}}, None),
])
def test_bad_specs_are_rejected_naming_the_parameter(change, match):
    spec = {k: v for k, v in {**SPEC, **change}.items() if v is not None}
    if match is None:
        Sweep.from_dict(spec)  # 'seed' is a task parameter only: not ambiguous
        return
    with pytest.raises(SweepError, match=match):
        Sweep.from_dict(spec)


def test_ambiguous_grid_key_asks_for_a_prefix():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class SeededWGA(WGA):
        seed: int = 0

    with pytest.raises(SweepError, match=r"write 'task.seed' or 'method.seed'"):
        Sweep.build(task="A", method=SeededWGA(), grid={"seed": [0, 1]}, steps=10, replicas=2)


def test_bad_spec_file_and_cli_exit_status(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = \n")
    with pytest.raises(SweepError, match="not valid TOML"):
        Sweep.from_toml(bad)
    spec = write_spec(tmp_path, {**SPEC, "replicas": 33})
    store = tmp_path / "store"
    assert main(["sweep", "run", str(spec), "--store", str(store), "--quiet"]) == 2
    assert "replicas = 33 is not divisible into blocks = 2" in capsys.readouterr().err
    assert not store.exists()  # nothing was computed or written
    assert main(["sweep", "status", str(tmp_path / "missing.toml")]) == 2
    assert "no such spec file" in capsys.readouterr().err


def test_unreachable_scheduler_fails_fast_before_any_work(tmp_path):
    store = tmp_path / "store"
    t0 = time.perf_counter()
    with pytest.raises(SweepError, match=r"cannot reach the dask scheduler at tcp://127.0.0.1:9 "
                                         r"within 1 s"):
        run(SPEC, store=str(store), scheduler="tcp://127.0.0.1:9", timeout=1)
    assert time.perf_counter() - t0 < 20
    assert not store.exists()
    with pytest.raises(SweepError, match="scheduler address must look like"):
        run(SPEC, store=str(store), scheduler="not an address")
    with pytest.raises(SweepError, match="need the dask executor"):
        run(SPEC, store=str(store), executor="serial", dask_local=2)
