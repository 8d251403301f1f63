"""Every figure script runs at its ``--quick`` budget and writes a small PNG and a full sidecar.

The scripts are imported from ``figures/`` and their ``main(argv)`` is called in-process (the
CLI ``simlab figures collab`` runs the same scripts as subprocesses).
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parents[1] / "figures"
SCRIPTS = sorted(p.stem for p in FIGURES.glob("collab_f*.py"))
SIDECAR_KEYS = {"figure", "title", "command", "argv", "budget_name", "budget", "seeds", "params",
                "git_commit", "created", "seconds", "versions", "notes", "summary", "curves"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load(name: str):
    if str(FIGURES) not in sys.path:
        sys.path.insert(0, str(FIGURES))
    return importlib.import_module(name)


def _numbers(obj):
    """Every number in a parsed JSON document (``"inf"``/``"nan"`` strings are skipped)."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def _reject_constant(token: str):
    raise ValueError(f"sidecar contains {token}; non-finite numbers must be written as strings")


def test_one_script_per_figure_f1_to_f7():
    assert [s.split("_")[1] for s in SCRIPTS] == ["f1", "f2", "f3", "f4", "f5", "f6", "f7"]
    for name in SCRIPTS:
        text = (FIGURES / f"{name}.py").read_text()
        assert "def main(argv" in text and '__name__ == "__main__"' in text


@pytest.mark.parametrize("name", SCRIPTS)
def test_quick_run_writes_png_and_sidecar(name, tmp_path):
    mod = _load(name)
    argv = ["--quick", "--out", str(tmp_path), "--seed", "3", "--quiet"]
    summary = mod.main(argv)
    png, side = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 10_000 < len(data) < 300_000
    meta = json.loads(side.read_text(), parse_constant=_reject_constant)
    assert SIDECAR_KEYS <= meta.keys()
    assert meta["figure"] == name
    assert meta["title"] == mod.__doc__.strip().splitlines()[0]
    assert meta["argv"] == argv and f"figures/{name}.py --quick" in meta["command"]
    assert meta["budget_name"] == "quick" and meta["seeds"]["simulation"] == 3
    assert isinstance(meta["git_commit"], str) and meta["git_commit"]
    assert meta["curves"] and meta["summary"] and meta["params"]
    nums = list(_numbers(meta["curves"])) + list(_numbers(meta["summary"]))
    assert len(nums) > 10 and all(math.isfinite(x) for x in nums)
    from simlab.meta import jsonable

    assert meta["summary"] == jsonable(summary)  # main() returns what the sidecar records


def test_replicas_override_and_bad_arguments(tmp_path, capsys):
    mod = _load("collab_f4_heterogeneity")
    with pytest.raises(SystemExit):
        mod.main(["--quick", "--replicas", "1", "--out", str(tmp_path)])
    assert "--replicas must be an integer >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mod.main(["--quick", "--seed", "-1", "--out", str(tmp_path)])
    assert "--seed must be an integer >= 0" in capsys.readouterr().err
    mod.main(["--quick", "--replicas", "3", "--out", str(tmp_path), "--quiet"])
    meta = json.loads((tmp_path / "collab_f4_heterogeneity.json").read_text())
    assert meta["budget"]["replicas"] == 3
    assert all(c["replicas"] == 3 for k, c in meta["curves"].items() if "replicas" in c)


def test_sidecar_writes_non_finite_numbers_by_the_one_policy():
    common = _load("_common")
    out = common.jsonable({"a": float("inf"), "b": [1.0, float("nan")], "c": 2, "d": -math.inf})
    assert out == {"a": "inf", "b": [1.0, "nan"], "c": 2, "d": "-inf"}
    assert json.loads(json.dumps(out), parse_constant=_reject_constant) == out
