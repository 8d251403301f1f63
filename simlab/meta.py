"""What simlab writes beside its results: strict JSON of numpy values, and the git commit.

One NaN policy for every file simlab writes (verify reports, figure sidecars, store metadata):
non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (strict JSON, and a
reader can still tell an unreached target, ``inf``, from a missing value); numpy scalars and
arrays become Python numbers and lists, tuples become lists, and other objects their ``repr``.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

#: The repository this package sits in (for the commit of what produced a result).
REPO_ROOT = Path(__file__).resolve().parent.parent


def jsonable(obj: Any) -> Any:
    """``obj`` made strict-JSON ready under the one NaN policy (see the module docstring)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else ("nan" if math.isnan(f) else ("inf" if f > 0
                                                                         else "-inf"))
    if obj is None or isinstance(obj, str):
        return obj
    return repr(obj)


def dumps(obj: Any, **kw) -> str:
    """``json.dumps`` of :func:`jsonable` (``allow_nan=False``: a stray NaN is an error)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kw)


def number(x: Any) -> float:
    """A number written by :func:`jsonable` read back (``"inf"`` -> ``inf``)."""
    return float(x) if isinstance(x, (int, float, str)) else float("nan")


def git_commit(short: bool = True) -> str:
    """The commit of the repository simlab runs from (``"unknown"`` outside a checkout)."""
    args = ["git", "rev-parse"] + (["--short"] if short else []) + ["HEAD"]
    try:
        out = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=5,
                             check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def tree_clean() -> bool:
    """Whether the checkout's tracked files (and the untracked ones git does not ignore)
    equal its HEAD commit; ``False`` outside a checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == ""


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process (since the last :func:`reset_peak_rss`), in MB;
    NaN where neither ``/proc`` nor ``resource`` is available."""
    import sys

    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
