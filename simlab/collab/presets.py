"""Task presets of the collab paper: build a task family instance from a flat parameter dict.

Claims, figures and notebooks describe tasks by plain dicts (easy to sweep, hash and print);
:func:`make_task` turns one into an instance. Unknown keys that no family uses are ignored (they
belong to the claim, e.g. ``eta_L``). Keys:

``family``
    ``"A"`` (:class:`~simlab.tasks.SharedHessianQuadratics`), ``"B"``
    (:class:`~simlab.tasks.HessianPerturbedQuadratics`), ``"C"``
    (:class:`~simlab.tasks.BoundedNonconvex`), ``"D"``
    (:class:`~simlab.tasks.LinearRegressionTasks`) or ``"E"``
    (:class:`~simlab.tasks.CorrelatedNoiseQuadratics`); default ``"A"``.
``d``, ``n_aux``
    Dimension and number N of auxiliary tasks (required).
``mu``, ``L``
    Extreme eigenvalues of ``A_0`` (A, B, E) or ``Sigma_0`` (D); default 0.1 and 1.0. Family C
    has ``L = 1 + kappa``.
``zeta``
    Individual bias (A, B, E: at ``x_0*``; C: ``||v_i||``; D: concept shift); default 0.
``sigma``
    Noise level per task (A, B, C, E); default 1. Family D's noise comes from ``noise_s``.
``bias_directions``
    ``"random"`` (default), ``"aligned"`` or ``"cancelling"``.
``delta``, ``hess_delta``
    Hessian dissimilarity ``delta_i`` (B, C, E; covariate shift in D); default 0.
    ``hess_delta`` wins when both are given: claims use ``delta`` for their false-failure budget,
    so a claim's parameter dict should name the Hessian dissimilarity ``hess_delta``.
``hessian_signs``
    Sign pattern of the Hessian perturbations (B, D, E): ``"random"`` (default),
    ``"alternating"`` or ``"positive"``.
``rho``
    Noise correlation with task 0 (E), in ``[0, 1]``; default 0.5.
``kappa``, ``n_waves``
    Non-convexity and number of cosines per perturbation (C); default 2.0 and 4.
``noise_s``
    Label-noise standard deviation (D); default 1.0.
``x0_dist``
    Distance of the start from task 0's optimum; default 1.0.
``radius``
    Radius of the ball for the bias bounds (B, D, E); default ``2 x0_dist``.
``task_seed``
    Seed of the instance (all families); default 0.
``aggregate_noise``
    Draw the auxiliary noise as one Gaussian where exact (A, B, C, E); default True.
"""

from __future__ import annotations

from simlab.engine.model import Task
from simlab.tasks.hessian_perturbed import CorrelatedNoiseQuadratics, HessianPerturbedQuadratics
from simlab.tasks.nonconvex import BoundedNonconvex
from simlab.tasks.regression import LinearRegressionTasks
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


# --- families B..E -------------------------------------------------------------------------

def _required(p: dict, key: str):
    if key not in p:
        raise ValueError(f"make_task: parameter {key!r} is required for family "
                         f"{p.get('family', 'A')!r}")
    return p[key]


def _hess_delta(p: dict):
    return p.get("hess_delta", p.get("delta", 0.0))


def _common(p: dict, seed: int) -> dict:
    return dict(d=_required(p, "d"), n_aux=_required(p, "n_aux"), zeta=p.get("zeta", 0.0),
                delta=_hess_delta(p), bias_directions=p.get("bias_directions", "random"),
                x0_dist=p.get("x0_dist", 1.0), seed=seed)


def _quadratic_kwargs(p: dict, seed: int) -> dict:
    return dict(_common(p, seed), eig=(p.get("mu", 0.1), p.get("L", 1.0)),
                hessian_signs=p.get("hessian_signs", "random"), radius=p.get("radius"))


def _build_b(p: dict, seed: int) -> Task:
    return HessianPerturbedQuadratics(**_quadratic_kwargs(p, seed), sigma=p.get("sigma", 1.0),
                                      aggregate_noise=p.get("aggregate_noise", True))


def _build_c(p: dict, seed: int) -> Task:
    return BoundedNonconvex(**_common(p, seed), sigma=p.get("sigma", 1.0),
                            kappa=p.get("kappa", 2.0), n_waves=p.get("n_waves", 4),
                            aggregate_noise=p.get("aggregate_noise", True))


def _build_d(p: dict, seed: int) -> Task:
    return LinearRegressionTasks(**_quadratic_kwargs(p, seed), noise_s=p.get("noise_s", 1.0))


def _build_e(p: dict, seed: int) -> Task:
    return CorrelatedNoiseQuadratics(**_quadratic_kwargs(p, seed), sigma=p.get("sigma", 1.0),
                                     rho=p.get("rho", 0.5),
                                     aggregate_noise=p.get("aggregate_noise", True))


for _name, _builder in (("B", _build_b), ("C", _build_c), ("D", _build_d), ("E", _build_e)):
    register_family(_name, _builder)
