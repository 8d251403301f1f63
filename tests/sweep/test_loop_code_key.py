"""The code part of a loop method's record key covers every simlab module the loop uses."""

from __future__ import annotations

import inspect

from simlab.active.band_stream import StagewiseStream
from simlab.active.loop import ActiveLearning
from simlab.active.pools import LinearSeparatorPool
from simlab.sweep import keys


def test_loop_modules_follow_imports_lazy_imports_and_module_name_tables():
    mods = keys.loop_modules(StagewiseStream)
    # imported at the top (volume), inside functions or by name (cluster_margin, clustering)
    for m in ("simlab.active.band_stream", "simlab.active.volume",
              "simlab.active.cluster_margin", "simlab.active.clustering",
              "simlab.active.stagewise", "simlab.oracles"):
        assert m in mods, m
    # the sampler table names its modules as strings, which count as uses
    assert "simlab.active.diversity" in keys.loop_modules(ActiveLearning)
    assert {"simlab.active.diversity", "simlab.active.volume"} <= \
        keys._used_modules("simlab.active.samplers")
    assert not any(m.startswith(("simlab.engine", "simlab.sweep")) for m in mods)
    assert keys.loop_modules(LinearSeparatorPool)[0] == "simlab.active.pools"


def test_an_edit_to_a_used_module_changes_the_code_hash(monkeypatch):
    task = LinearSeparatorPool(d=3, n_pool=50, n_test=10).ops_class
    method = StagewiseStream(k=4).ops_class
    before = keys.code_hash.__wrapped__(task, method, "numba")
    real = inspect.getsource

    def edited(obj):
        src = real(obj)
        return src + "\n# a fix\n" if getattr(obj, "__name__", "") == "simlab.active.volume" \
            else src

    monkeypatch.setattr(keys.inspect, "getsource", edited)
    after = keys.code_hash.__wrapped__(task, method, "numba")
    assert after != before
    monkeypatch.setattr(keys.inspect, "getsource", real)
    assert keys.code_hash.__wrapped__(task, method, "numba") == before
