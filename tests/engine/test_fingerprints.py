"""The engine gives the numbers it gave before it was made paper-agnostic, bit for bit.

``fingerprints.json`` holds a hash of every metric array of a fixed run of each collab task
family x method x backend, recorded before the refactor (issue 8) by
``python tests/engine/fingerprint.py --write``. The random streams, their keys and the
arithmetic order did not change, so every hash must match. (The CUDA simulator's hashes are
checked in its own process, ``tests/cuda``.) They are computed in a fresh process with the
BLAS kernels pinned (``fingerprint.PINNED_ENV``): the hashes depend on which kernels OpenBLAS
picks for the CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fingerprint import FILE, PINNED_ENV


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(FILE.read_text())


@pytest.fixture(scope="module")
def now() -> dict:
    script = Path(__file__).with_name("fingerprint.py")
    r = subprocess.run([sys.executable, str(script)], env=dict(os.environ, **PINNED_ENV),
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_every_fingerprint_is_unchanged(recorded, now):
    assert len(now) == 120
    changed = {case: [m for m in fp if fp[m] != recorded[case][m]]
               for case, fp in now.items() if fp != recorded.get(case)}
    assert not changed, f"fingerprints changed: {changed}"


def test_backends_agree_with_each_other(now):
    numba = {k.rsplit("/", 1)[0]: v for k, v in now.items() if k.endswith("/numba")}
    numpy = {k.rsplit("/", 1)[0]: v for k, v in now.items() if k.endswith("/numpy")}
    assert numba == numpy
