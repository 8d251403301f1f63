"""Smoke test of the benchmark scripts: ``--quick`` runs and prints one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_collab_mc_quick_prints_one_json_line(tmp_path):
    out = tmp_path / "results.jsonl"
    r = subprocess.run([sys.executable, "benchmarks/collab_mc.py", "--quick", "--repeat", "1",
                        "--steps", "50", "--replicas", "32", "--out", str(out)],
                       cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert out.read_text().strip() == lines[0]
    assert {"benchmark", "threads", "versions", "params", "results", "targets"} <= set(rec)
    impls = {"numba_aggregated", "numba_separate", "numpy", "numpy_draws_only"}
    assert impls <= set(rec["results"])
    for impl in impls:
        assert rec["results"][impl]["seconds"] > 0
        assert rec["results"][impl]["peak_rss_mb"] > 0
    for target in rec["targets"].values():
        assert {"value", "goal", "pass"} <= set(target)
    # the three simulations estimate the same expectation (exact value beside them)
    exact = rec["params"]["exact_final_grad_norm_sq"]
    for impl in ("numba_aggregated", "numba_separate", "numpy"):
        res = rec["results"][impl]
        assert abs(res["final_grad_norm_sq"] - exact) < 5 * res["final_grad_norm_sq_se"]
