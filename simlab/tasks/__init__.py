"""Synthetic task families (collab spec 8.1).

* A: :class:`SharedHessianQuadratics` (delta = 0, exact zeta).
* B: :class:`HessianPerturbedQuadratics` (delta > 0, dense Hessians).
* C: :class:`BoundedNonconvex` (non-convex, independent zeta and delta knobs).
* D: :class:`LinearRegressionTasks` (multiplicative noise, covariate and concept shift).
* E: :class:`CorrelatedNoiseQuadratics` (family B with noise correlated with task 0's).
"""

from simlab.tasks.hessian_perturbed import CorrelatedNoiseQuadratics, HessianPerturbedQuadratics
from simlab.tasks.nonconvex import BoundedNonconvex
from simlab.tasks.regression import LinearRegressionTasks
from simlab.tasks.shared_hessian import SharedHessianQuadratics

__all__ = ["SharedHessianQuadratics", "HessianPerturbedQuadratics", "BoundedNonconvex",
           "LinearRegressionTasks", "CorrelatedNoiseQuadratics"]
