"""Fingerprints of fixed runs of every collab task family x method x backend.

``python tests/engine/fingerprint.py`` prints one JSON object ``{case: {metric: sha256}}``;
``--write`` stores it in ``tests/engine/fingerprints.json``. The file was written before the
engine was made paper-agnostic (issue 8); ``tests/engine/test_fingerprints.py`` checks that the
engine still produces exactly these numbers: the random streams and the arithmetic order did not
change. Set ``NUMBA_ENABLE_CUDASIM=1`` (before numba loads) to fingerprint the CUDA backend on
the simulator as well (``--cuda``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FILE = HERE / "fingerprints.json"
METRIC_NAMES = ("grad_norm_sq", "subopt", "dist_sq", "avg_grad_norm_sq")


def tasks() -> dict:
    """One small instance of each collab family (A to E), both noise-drawing paths for A."""
    from simlab.tasks import (
        BoundedNonconvex,
        CorrelatedNoiseQuadratics,
        HessianPerturbedQuadratics,
        LinearRegressionTasks,
        SharedHessianQuadratics,
    )

    return {
        "A": SharedHessianQuadratics(d=4, n_aux=2, zeta=0.3, sigma=1.0, seed=1),
        "A-sep": SharedHessianQuadratics(d=4, n_aux=2, zeta=0.3, sigma=1.0, seed=1,
                                         aggregate_noise=False),
        "B": HessianPerturbedQuadratics(d=4, n_aux=2, zeta=0.3, delta=0.2, seed=2,
                                        hessian_signs="positive"),
        "C": BoundedNonconvex(d=4, n_aux=2, zeta=0.3, delta=0.1, seed=3),
        "D": LinearRegressionTasks(d=4, n_aux=2, zeta=0.3, delta=0.05, seed=4),
        "E": CorrelatedNoiseQuadratics(d=4, n_aux=2, zeta=0.3, delta=0.05, rho=0.6, seed=5),
    }


def methods() -> dict:
    """Every collab method, with the options that take other code paths."""
    from simlab.collab import BCEMA, BCMVR, BCSNAP, WGA, AuxMOM, AuxMVR, SGDAlone

    return {
        "Alone": SGDAlone(step_size=0.2),
        "WGA": WGA(step_size=0.2),
        "WGA-w": WGA(weights=(0.5, 0.3, 0.2), step_size=0.2),
        "BCEMA": BCEMA(step_size=0.2, momentum=0.3),
        "BCEMA-run-unc-init": BCEMA(step_size=0.2, momentum="running", coupled=False,
                                    init_batch=3),
        "BCMVR": BCMVR(step_size=0.2, momentum=0.3),
        "BCMVR-unc": BCMVR(step_size=0.2, momentum=0.3, coupled=False),
        "BCSNAP": BCSNAP(step_size=0.2, period=4, batch=3),
        "AuxMOM": AuxMOM(step_size=0.2, momentum=0.3),
        "AuxMVR": AuxMVR(step_size=0.2, momentum=0.3),
    }


#: The environment the fingerprints are computed in (set before numpy loads, so in a fresh
#: process): OpenBLAS picks its kernels by CPU, and its AVX-512 (SkylakeX) kernels round the
#: task families' matrix products differently from the AVX2 (Haswell) ones the fingerprints
#: were recorded with (measured: 40 of the 120 hashes differ on an AVX-512 machine, none with
#: the Haswell kernels). Pinning the kernels keeps the check bit for bit on any x86-64 CPU
#: with AVX2.
PINNED_ENV = {"OPENBLAS_CORETYPE": "Haswell"}


def fingerprint(values: np.ndarray, checkpoints: np.ndarray) -> dict:
    """``{metric: sha256}`` of the metric arrays (and of the checkpoints)."""
    out = {"checkpoints": hashlib.sha256(np.ascontiguousarray(checkpoints).tobytes()).hexdigest()}
    for m, name in enumerate(METRIC_NAMES):
        out[name] = hashlib.sha256(np.ascontiguousarray(values[:, :, m]).tobytes()).hexdigest()
    return out


def run_all(backends=("numpy", "numba")) -> dict:
    """Fingerprint every family x method x backend on a fixed run (40 steps, 6 replicas)."""
    from simlab import simulate

    out = {}
    for tname, task in tasks().items():
        for mname, method in methods().items():
            for backend in backends:
                tr = simulate(task, method, steps=40, replicas=6, seed=11, backend=backend,
                              checkpoints=[0, 1, 2, 5, 13, 40], derived=True)
                vals = np.stack([tr.metric(m) for m in METRIC_NAMES], axis=2)
                out[f"{tname}/{mname}/{backend}"] = fingerprint(vals, tr.checkpoints)
    return out


if __name__ == "__main__":
    backends = ("cuda",) if "--cuda" in sys.argv else ("numpy", "numba")
    result = run_all(backends)
    if "--write" in sys.argv:
        old = json.loads(FILE.read_text()) if FILE.exists() else {}
        old.update(result)
        FILE.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result, sort_keys=True))
