"""Task presets of the collab paper: build a task family instance from a flat parameter dict.

Claims, figures and notebooks describe tasks by plain dicts (easy to sweep, hash and print);
:func:`make_task` turns one into an instance. Keys: ``family`` ("A".."E"), ``d``, ``n_aux``,
``mu``, ``L``, ``zeta``, ``sigma``, ``bias_directions``, ``delta``, ``rho``, ``task_seed`` and
the family's own extras; unknown keys that no family uses are ignored (they belong to the
claim, e.g. ``eta_L``).
"""

from __future__ import annotations

from simlab.engine.model import Task
from simlab.tasks.shared_hessian import SharedHessianQuadratics


def make_task(p: dict) -> Task:
    """Instantiate the task family ``p["family"]`` from a parameter dict."""
    fam = p.get("family", "A")
    seed = int(p.get("task_seed", 0))
    if fam == "A":
        return SharedHessianQuadratics(
            d=p["d"], n_aux=p["n_aux"], eig=(p.get("mu", 0.1), p.get("L", 1.0)),
            zeta=p.get("zeta", 0.0), sigma=p.get("sigma", 1.0),
            bias_directions=p.get("bias_directions", "random"),
            x0_dist=p.get("x0_dist", 1.0), seed=seed,
            aggregate_noise=p.get("aggregate_noise", True))
    builder = _EXTRA_FAMILIES.get(fam)
    if builder is None:
        raise ValueError(f"family must be one of {('A',) + tuple(_EXTRA_FAMILIES)}, got {fam!r}")
    return builder(p, seed)


#: Builders of families B..E, registered by their modules: ``family -> (params, seed) -> Task``.
_EXTRA_FAMILIES: dict = {}


def register_family(name: str, builder) -> None:
    """Register a builder ``(params, seed) -> Task`` for :func:`make_task`."""
    _EXTRA_FAMILIES[name] = builder
