"""``figures/collab_neural_vs_sim.py`` runs at its ``--quick`` budget (as tests/test_figures.py)."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

FIGURES = Path(__file__).resolve().parents[2] / "figures"
NAME = "collab_neural_vs_sim"
SIDECAR_KEYS = {"figure", "title", "command", "argv", "budget_name", "budget", "seeds", "params",
                "git_commit", "created", "seconds", "versions", "notes", "summary", "curves"}


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def test_quick_run_writes_png_and_sidecar(tmp_path):
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    mod = importlib.import_module(NAME)
    argv = ["--quick", "--out", str(tmp_path), "--seed", "2", "--quiet"]
    summary = mod.main(argv)
    data = (tmp_path / f"{NAME}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 300_000
    meta = json.loads((tmp_path / f"{NAME}.json").read_text())
    assert SIDECAR_KEYS <= meta.keys() and meta["figure"] == NAME
    assert meta["title"] == mod.__doc__.strip().splitlines()[0]
    assert meta["seeds"]["simulation"] == 2 and meta["seeds"]["neural"] == [2, 3, 4]
    assert f"figures/{NAME}.py --quick" in meta["command"]
    nums = list(_numbers(meta["curves"]))
    assert len(nums) > 100 and all(math.isfinite(x) for x in nums)
    consts = summary["constants (pooled)"]
    for k in ("sigma0_sq", "zeta_sq", "L", "mu", "F0"):
        assert f"{consts[k]:.3g}" in summary["caption"]
    assert set(summary["final (N = main)"]) == {"Alone", "WGA uniform", "WGA opt", "BC-EMA"}
