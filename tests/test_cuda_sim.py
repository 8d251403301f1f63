"""The CUDA backend: its simulator tests (in their own process) and its error without CUDA."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simlab import simulate
from simlab.collab import WGA
from simlab.engine import cuda as adapter
from simlab.engine import simulate as simulate_module
from simlab.tasks import SharedHessianQuadratics

ROOT = Path(__file__).resolve().parents[1]


def test_cuda_kernels_pass_on_the_simulator():
    """``tests/cuda`` under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported), with the
    BLAS kernels the engine fingerprints were recorded with (``OPENBLAS_CORETYPE``, see
    ``tests/engine/fingerprint.py``)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", OPENBLAS_CORETYPE="Haswell")
    r = subprocess.run([sys.executable, "-m", "pytest", "tests/cuda", "-q",
                        "-p", "no:cacheprovider"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], tail


@pytest.mark.parametrize("missing", ["gpu", "numba-cuda"])
def test_cuda_backend_without_cuda_names_the_fix_before_any_work(monkeypatch, missing):
    monkeypatch.setattr(adapter, "is_available", lambda: False)
    if missing == "numba-cuda":
        monkeypatch.setattr(adapter, "_cuda_module", lambda: None)

    def no_work(*args, **kwargs):
        raise AssertionError("a kernel was built before the backend was checked")

    monkeypatch.setattr(simulate_module, "get_kernel", no_work)
    task = SharedHessianQuadratics(d=3, n_aux=1)
    with pytest.raises(RuntimeError, match=r"backend='cuda'.*NUMBA_ENABLE_CUDASIM=1") as e:
        simulate(task, WGA(step_size=0.1), steps=5, backend="cuda")
    assert "simlab[cuda]" in str(e.value)
    if missing == "numba-cuda":
        assert "not installed" in str(e.value)
