"""Smoke test of ``benchmarks/sweep_scaling.py``: ``--quick`` prints one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARMS = {"a_engine_loop", "b_local_1proc", "b_local_2proc", "c_dask_local_2", "d_from_store"}


def test_sweep_scaling_quick_prints_one_json_line():
    r = subprocess.run([sys.executable, "benchmarks/sweep_scaling.py", "--quick"], cwd=ROOT,
                       env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert {"benchmark", "threads", "versions", "params", "results", "targets"} <= set(rec)
    assert rec["threads"] == 1 and ARMS == set(rec["results"])
    for arm in ARMS:
        assert rec["results"][arm]["seconds"] > 0 and rec["results"][arm]["peak_rss_mb"] > 0
    for arm in ("b_local_1proc", "b_local_2proc", "c_dask_local_2"):
        assert rec["results"][arm]["threads_per_worker"] == 1
    assert rec["targets"]["identical_results"]["pass"] is True
    for target in rec["targets"].values():
        assert {"value", "goal", "pass"} <= set(target)
