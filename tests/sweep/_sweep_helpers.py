"""Helpers of the sweep tests: a tiny spec, its TOML form, and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Four configurations x two blocks of 16 replicas: about a second of work in all.
SPEC = {
    "name": "tiny",
    "task": {"name": "SharedHessianQuadratics", "d": 4, "n_aux": 2},
    "method": [{"name": "WGA"}, {"name": "SGDAlone"}],
    "grid": {"zeta": [0.0, 0.5], "step_size": [0.1, 0.2]},
    "steps": 200,
    "replicas": 32,
    "blocks": 2,
    "checkpoints": 6,
    "metrics": ["grad_norm_sq", "subopt"],
}


def toml_text(spec: dict) -> str:
    """A TOML file of a spec dict (the few value types the tests use)."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines, tables = [], []
    for k, v in spec.items():
        if isinstance(v, dict):
            tables.append((f"[{k}]", v))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            tables += [(f"[[{k}]]", t) for t in v]
        else:
            lines.append(f"{k} = {val(v)}")
    for head, t in tables:
        lines += ["", head] + [f'"{k}" = {val(v)}' for k, v in t.items()]
    return "\n".join(lines) + "\n"


def write_spec(folder: Path, spec: dict = SPEC, name: str = "tiny.toml") -> Path:
    """Write a spec dict as a TOML file in ``folder``."""
    p = folder / name
    p.write_text(toml_text(spec))
    return p


def simlab_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m simlab.cli ARGS`` in a subprocess (one numba thread)."""
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "simlab.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, **kw)
